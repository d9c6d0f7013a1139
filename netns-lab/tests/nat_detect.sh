#!/usr/bin/env bash
# lab/nat_detect: `burrow nat` behind every NAT type of the lab, against a
# burrowd with two public addresses, must say what the NAT is; and the
# negative cases: a burrowd without a STUN port, a STUN address where nothing
# answers, a one-address server, UDP blocked. A normal `burrow -c` run must
# log its NAT, and burrowd must log the NAT_REPORT it got. Needs root: exit
# 77 without. Runs in its own lab (prefix bw-nd-), so it never waits for a
# self-check holding the default one.
#
#   pub 203.0.113.10 + .11   burrowd main: control 7000, STUN 3478 and 3479 on
#                            both addresses (RFC 5780: natProbeAltAddr .11)
#                            burrowd noudp: control 7100, no bindUDPPort
#                            burrowd one: control 7200, STUN 3578 on .10 only
#        |
#      inet ------------------------------------------------------------.
#        |      |      |      |      |      |      |      |      |      |
#      open    fc     rc     prc    sym    seq    cgp    cgs     ub     hp
#      none   full-  restr- port-  symm-  symm-  cgnat  cgnat   udp-   port-restricted
#             cone   icted  restr. etric  seq           carrier blocked hosts=2
#                                                       =symm.         hairpin=on
#        |      |      |      |      |      |      |      |      |      |
#      open1  fc1    rc1    prc1   sym1   seq1   cgp1   cgs1   ub1    hp1 (hp2)
#
# Every site's host 1 runs `burrow nat -c c-main.toml --json` ($BW_NAT_DETECT_ROUNDS
# times, default 2) and the report must match lab_burrow_expect (verify-
# burrow.sh): mapping, filtering, port preservation, sequential allocation
# and its delta, hairpinning, the classic name; exit 0 when UDP works, 1
# when not. Timing: a cone's probe (elapsed_ms) under 2 s; UDP blocked gives
# up at 1.5 s and the whole command ends within 3 s.
# Prints "ok - ..." / "not ok - ...", a markdown table of the verdicts (also
# copied to $BW_NAT_DETECT_TABLE if set), and "N passed, M failed".
#
# Compound checks are `check DESC eval '...'`, expanded when the check runs.
# shellcheck disable=SC2016,SC2317
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
	echo "nat_detect: SKIP: needs root (network namespaces, nftables)" >&2
	exit 77
fi
export BW_LAB_PREFIX=${BW_LAB_PREFIX:-bw-nd-}
export BW_LAB_LOCK_WAIT=${BW_LAB_LOCK_WAIT:-300}
# shellcheck source=../lib.sh
. "$here/lib.sh"
# shellcheck source=../verify-burrow.sh
. "$here/verify-burrow.sh"
lab_require_root
if ! lab_burrow_find; then
	echo "nat_detect: FAIL: no burrow/burrowd binaries (set BURROW and BURROWD)" >&2
	exit 1
fi
rounds=${BW_NAT_DETECT_ROUNDS:-2}
[[ $rounds =~ ^[1-9]$ ]] || { echo "nat_detect: BW_NAT_DETECT_ROUNDS: 1-9" >&2; exit 2; }

# site  type  options (comma-separated, - for none)
SITES=(
	"open none -"
	"fc full-cone -"
	"rc restricted -"
	"prc port-restricted -"
	"sym symmetric -"
	"seq symmetric-seq -"
	"cgp cgnat -"
	"cgs cgnat carrier=symmetric"
	"ub udp-blocked -"
	"hp port-restricted hosts=2,hairpin=on"
)
CONE_TYPES=" full-cone restricted-cone port-restricted-cone "

pass=0
fail=0
failed=()
ok() {
	pass=$((pass + 1))
	echo "ok - $*"
}
notok() {
	fail=$((fail + 1))
	failed+=("$1")
	echo "not ok - $*"
}
# check [--dump NAME] DESCRIPTION COMMAND...: a check is a command that
# succeeds; on failure, NAME's outputs are shown.
check() {
	local dumpname=
	if [ "$1" = --dump ]; then
		dumpname=$2
		shift 2
	fi
	local desc=$1
	shift
	if "$@"; then
		ok "$desc"
	else
		notok "$desc"
		[ -z "$dumpname" ] || dump "$dumpname"
	fi
}
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0 && a != "" && a != "-") }'; }
between() { awk -v a="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(a != "" && a != "-" && a + 0 >= lo && a + 0 < hi) }'; }

t_start=$SECONDS
lab_init
lab_trap_install
W=$BW_LAB_STATE/nat_detect
mkdir -p "$W"

dump() { # NAME: a run's outputs, on failure
	local f
	for f in "$W/$1".out "$W/$1".err; do
		[ -s "$f" ] && sed "s#^#  | $(basename "$f"): #" "$f"
	done
	return 0
}

# nd_run NAME HOST ARGS...: `burrow ARGS` in HOST's namespace (bounded by
# timeout), stdout in NAME.out, stderr in NAME.err; sets RC and WALL (ms).
RC=0
WALL=0
nd_run() {
	local name=$1 host=$2 t0 t1
	shift 2
	RC=0
	t0=$(date +%s%N)
	lab_exec "$host" timeout 20 "$BURROW" "$@" >"$W/$name.out" 2>"$W/$name.err" || RC=$?
	t1=$(date +%s%N)
	WALL=$(((t1 - t0) / 1000000))
}

# ---- the lab and the servers
echo "# building the lab: inet, pub and ${#SITES[@]} sites"
lab_up_core
for spec in "${SITES[@]}"; do
	read -r name type opts <<<"$spec"
	o=()
	[ "$opts" = - ] || IFS=, read -r -a o <<<"$opts"
	lab_up_site "$name" "$type" "${o[@]}"
done

srv1=$(lab_server_addr 1)
srv2=$(lab_server_addr 2)
token="nat-detect"
server_conf() { # FILE CONTROL_PORT [UDP_PORT [ALT_ADDR]]
	{
		echo "bindAddr = \"$srv1\""
		echo "bindPort = $2"
		[ -z "${3:-}" ] || echo "bindUDPPort = $3"
		[ -z "${4:-}" ] || echo "natProbeAltAddr = \"$4\""
		echo "auth.token = \"$token\""
	} >"$1"
}
client_conf() { # FILE CONTROL_PORT
	cat >"$1" <<-EOF
		serverAddr = "$srv1"
		serverPort = $2
		auth.token = "$token"
		loginFailExit = true
	EOF
}
server_conf "$W/main.toml" 7000 3478 "$srv2"
server_conf "$W/noudp.toml" 7100
server_conf "$W/one.toml" 7200 3578
client_conf "$W/c-main.toml" 7000
client_conf "$W/c-noudp.toml" 7100
client_conf "$W/c-one.toml" 7200
lab_spawn pub burrowd-main "$BURROWD" -c "$W/main.toml" >/dev/null
lab_spawn pub burrowd-noudp "$BURROWD" -c "$W/noudp.toml" >/dev/null
lab_spawn pub burrowd-one "$BURROWD" -c "$W/one.toml" >/dev/null
lab_wait_log burrowd-main "STUN listening on udp $srv2:3479" 10
lab_wait_log burrowd-main "control listening on $srv1:7000" 5
lab_wait_log burrowd-noudp "control listening on $srv1:7100" 10
lab_wait_log burrowd-one "STUN listening on udp $srv1:3578" 10
lab_wait_log burrowd-one "control listening on $srv1:7200" 5
check "burrowd main: four STUN sockets (RFC 5780)" \
	[ "$(grep -c 'STUN listening on udp' "$(lab_log_path burrowd-main)")" = 4 ]
check "burrowd noudp: no STUN socket" \
	[ "$(grep -c 'STUN listening' "$(lab_log_path burrowd-noudp)")" = 0 ]
check "burrowd one: one STUN socket" \
	[ "$(grep -c 'STUN listening on udp' "$(lab_log_path burrowd-one)")" = 1 ]
echo "# lab and servers up in $((SECONDS - t_start)) s"

# ---- every NAT type
declare -A elapsed=() walls=() summary=()
t_types=$SECONDS
for ((r = 1; r <= rounds; r++)); do
	for spec in "${SITES[@]}"; do
		read -r s type opts <<<"$spec"
		[ "$opts" = - ] && opts=
		label="$type${opts:+ ($opts)}"
		name=$s.r$r
		nd_run "$name" "${s}1" nat -c "$W/c-main.toml" --json
		want=$(lab_burrow_expect "$type" "$opts")
		wantrc=0
		[ "$type" = udp-blocked ] && wantrc=1
		# shellcheck disable=SC2086 # want is a list of KEY=VALUE words
		if diff=$(lab_burrow_json_check "$W/$name.out" $want) && [ "$RC" = "$wantrc" ]; then
			ok "round $r: $s ($label): $(lab_burrow_summary "$W/$name.out"), exit $RC, $WALL ms"
		else
			notok "round $r: $s ($label): exit $RC (want $wantrc): $(echo "$diff" | paste -sd ' ')"
			dump "$name"
		fi
		{ read -r nt; read -r el; } < <(lab_burrow_json "$W/$name.out" nat_type elapsed_ms)
		elapsed[$s]="${elapsed[$s]:+${elapsed[$s]} / }$el"
		walls[$s]="${walls[$s]:+${walls[$s]} / }$WALL"
		[ "$r" = 1 ] && summary[$s]=$name
		if [[ $CONE_TYPES == *" $nt "* ]] || [ "$nt" = open-internet ]; then
			check "round $r: $s: $nt probe took $el ms, under 2 s" lt "$el" 2000
		fi
		if [ "$type" = udp-blocked ]; then
			msg=$(lab_burrow_json "$W/$name.out" error)
			check "round $r: $s: gives up at 1.5 s ($el ms) with \"$msg\"" \
				eval 'between "$el" 1500 1700 && [[ $msg == "no answer from $srv1:3478 after 1.5 s: UDP blocked or server not answering STUN" ]]'
			check "round $r: $s: the command ends within 3 s ($WALL ms, login included)" lt "$WALL" 3000
			check "round $r: $s: the give-up is also on stderr" \
				grep -q "NAT probe: no answer from $srv1:3478 after 1.5 s" "$W/$name.err"
		fi
	done
done
echo "# ${#SITES[@]} types x $rounds rounds took $((SECONDS - t_types)) s"

# The same verdict in words, for people.
nd_run ub.text ub1 nat -c "$W/c-main.toml"
check --dump ub.text "udp-blocked, text: exit 1, says UDP blocked and why ($WALL ms)" \
	eval '[ "$RC" = 1 ] && grep -q "^NAT type: *UDP blocked$" "$W/ub.text.out" &&
		grep -q "^UDP: *no answer from $srv1:3478 after 1.5 s: UDP blocked or server not answering STUN$" "$W/ub.text.out"'
nd_run seq.text seq1 nat -c "$W/c-main.toml"
check --dump seq.text "symmetric-seq, text: sequential ports with their delta" \
	eval '[ "$RC" = 0 ] && grep -q "^NAT type: *symmetric$" "$W/seq.text.out" &&
		grep -q "^Ports: *sequential, delta +1 (predictable)$" "$W/seq.text.out"'

# ---- negative cases
# burrowd without bindUDPPort: nothing to probe, said at once.
nd_run noudp prc1 nat -c "$W/c-noudp.toml" --json
msg=$(lab_burrow_json "$W/noudp.out" error)
check --dump noudp "no STUN server (burrowd without bindUDPPort): exit $RC, \"$msg\", $WALL ms" \
	eval '[ "$RC" = 1 ] && [ "$msg" = "burrowd has no UDP port for NAT probing (its bindUDPPort is 0)" ] && lt "$WALL" 2000'
# --server where nothing answers: a closed port on pub (the host answers
# with ICMP port unreachable) and an address nobody has; in parallel.
jobs_=()
for target in "$srv1:9" "203.0.113.99:3478"; do
	n=nowhere-${target//[.:]/-}
	(
		nd_run "$n" prc1 nat --server "$target" --json
		echo "$RC $WALL" >"$W/$n.rc"
	) &
	jobs_+=($!)
done
wait "${jobs_[@]}" # by PID: the spawned servers are this shell's children too
for target in "$srv1:9" "203.0.113.99:3478"; do
	n=nowhere-${target//[.:]/-}
	read -r RC WALL <"$W/$n.rc"
	{ read -r nt; read -r msg; } < <(lab_burrow_json "$W/$n.out" nat_type error)
	check --dump "$n" "--server $target (nothing answers): exit $RC, $nt, \"$msg\", $WALL ms" \
		eval '[ "$RC" = 1 ] && [ "$nt" = udp-blocked ] && [[ $msg == "no answer from $target after 1.5 s: "* ]] && lt "$WALL" 3000'
done
# A one-address server: what it could not test, and why; the rest measured.
nd_run one-prc prc1 nat -c "$W/c-one.toml" --json
diff=$(lab_burrow_json_check "$W/one-prc.out" udp=ok nat=true other_address=null \
	untested=mapping,filtering mapping=unknown filtering=unknown port_allocation=preserving hairpin=false) || true
check --dump one-prc "one-address server behind port-restricted: exit $RC, mapping and filtering untested, ports and hairpin measured${diff:+: $diff}" \
	eval '[ -z "$diff" ] && [ "$RC" = 0 ]'
check "one-address server: the reasons name the missing second address" \
	eval 'grep -q "\"test\":\"mapping\",\"reason\":\"[^\"]*server has one address" "$W/one-prc.out" &&
		grep -q "\"test\":\"filtering\",\"reason\":\"server has one address" "$W/one-prc.out"'
nd_run one-prc.text prc1 nat -c "$W/c-one.toml"
check --dump one-prc.text "one-address server, text: lists what was not tested" \
	eval 'grep -q "^Not tested: *mapping: .*server has one address" "$W/one-prc.text.out" &&
		grep -q "^Not tested: *filtering: server has one address" "$W/one-prc.text.out" &&
		grep -q "(one address: no RFC 5780 tests)" "$W/one-prc.text.out"'
nd_run one-open open1 nat -c "$W/c-one.toml" --json
diff=$(lab_burrow_json_check "$W/one-open.out" nat_type=open-internet nat=false untested=filtering) || true
check --dump one-open "one-address server from a public host: open-internet, only filtering untested${diff:+: $diff}" \
	eval '[ -z "$diff" ] && [ "$RC" = 0 ]'

# ---- a normal run: the client logs its NAT, the rendezvous gets the report.
lab_spawn seq1 client "$BURROW" -c "$W/c-main.toml" >/dev/null
if lab_wait_log client 'burrow: NAT ' 15; then
	cline=$(grep -m1 'burrow: NAT ' "$(lab_log_path client)" | sed 's/.*burrow: NAT //')
	check "burrow -c behind symmetric-seq logs its NAT: $cline" \
		eval '[[ $cline == "symmetric (udp ok, mapping address-and-port-dependent, filtering address-and-port-dependent, ports sequential +1"* ]]'
	pubseq=$(lab_public_addr seq)
	re="rdv: client ${pubseq//./\\.}:[0-9]+: NAT "
	if lab_wait_log burrowd-main "$re" 5; then
		sline=$(grep -m1 -E "$re" "$(lab_log_path burrowd-main)" | sed 's/.*: NAT //')
		check "burrowd logs the report of client $pubseq: $sline" [ "$sline" = "$cline" ]
	else
		notok "burrowd did not log the NAT report of $pubseq"
	fi
else
	notok "burrow -c behind symmetric-seq logged no NAT line"
fi
lab_stop client

# ---- the servers end cleanly (ASan/UBSan builds report here)
for d in burrowd-main burrowd-noudp burrowd-one client; do
	[ "$d" = client ] || lab_stop "$d"
	check "$d: no sanitizer report in its log" \
		eval '! grep -qE "AddressSanitizer|LeakSanitizer|runtime error:" "$(lab_log_path "$d")"'
done
if grep -lE "AddressSanitizer|LeakSanitizer|runtime error:" "$W"/*.err 2>/dev/null; then
	notok "sanitizer reports from burrow runs (files above)"
else
	ok "no sanitizer report from any burrow run"
fi

# ---- the table
table=$W/table.md
{
	echo "| Site | Type | \`nat_type\` | Mapping | Filtering | Ports | Delta | Hairpin | Untested | Exit | Probe \`elapsed_ms\` (rounds) | Command wall ms (rounds) |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
	for spec in "${SITES[@]}"; do
		read -r s type opts <<<"$spec"
		[ "$opts" = - ] && opts=
		f=$W/${summary[$s]}.out
		{ read -r nt; read -r m; read -r fl; read -r pa; read -r pd; read -r hp; read -r un; read -r udp; } \
			< <(lab_burrow_json "$f" nat_type mapping filtering port_allocation port_delta hairpin untested udp)
		[ -n "$un" ] || un="-"
		ex=0
		[ "$udp" = ok ] || ex=1
		[ "$pd" = null ] && pd="-"
		echo "| $s | $type${opts:+ ($opts)} | $nt | $m | $fl | $pa | $pd | $hp | $un | $ex | ${elapsed[$s]} | ${walls[$s]} |"
	done
} >"$table"
echo "# measured ($(date -u +%Y-%m-%d), $(uname -sr), $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)):"
cat "$table"
[ -z "${BW_NAT_DETECT_TABLE:-}" ] || cp "$table" "$BW_NAT_DETECT_TABLE"

echo "# nat_detect took $((SECONDS - t_start)) s (before teardown)"
echo "$pass passed, $fail failed"
if [ "$fail" -gt 0 ]; then
	printf '# failed: %s\n' "${failed[@]}"
	exit 1
fi
exit 0
