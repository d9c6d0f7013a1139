# shellcheck shell=bash
# netns-lab/verify-burrow.sh: Burrow's own NAT probe in the lab. Sourced by
# verify.sh (the self-check), where it adds the "Burrow" column: every site's
# first host runs `burrow nat -c ... --json` against a burrowd on pub, and the
# self-check fails if Burrow's verdict disagrees with what the site is. Also
# sourced by tests/nat_detect.sh for the one table of expected verdicts.
#
#   lab_burrow_find                     sets BURROW and BURROWD (env, else
#                                       build/cmd/ of the source tree)
#   lab_burrow_expect TYPE [OPTIONS]    what `burrow nat --json` must say
#                                       behind a site of TYPE (OPTIONS as in
#                                       lab_up_site, comma-separated)
#   lab_burrow_json FILE KEY...         values of the report, one per line
#   lab_burrow_json_check FILE K=V...   prints what differs; 0 if nothing
#   lab_burrow_summary FILE             "full-cone EIM/EIF 1001 ms"
#   lab_verify_extra_probe SITE OUTDIR  (the self-check's hooks, see
#   lab_verify_extra_check SITE TYPE OPTIONS OUTDIR     verify.sh)
#
# burrowd for the self-check: control port 7000, STUN on 3480 (and 3481) of
# both public addresses, beside probe.py (3490/3491) and stund (3478/3479).

BW_LAB_BURROW_PORT=7000
BW_LAB_BURROW_UDP1=3480
BW_LAB_BURROW_UDP2=3481
BW_LAB_BURROW_TOKEN="netns-lab"

lab_burrow_find() {
	local d
	if [ -x "${BURROW:-}" ] && [ -x "${BURROWD:-}" ]; then
		return 0
	fi
	d=$BW_LAB_DIR/../build/cmd
	if [ -x "$d/burrow" ] && [ -x "$d/burrowd" ]; then
		BURROW=$d/burrow
		BURROWD=$d/burrowd
		return 0
	fi
	return 1
}

# The verdicts, one line per NAT type: what every key of the JSON report
# must be. A public host's "hairpin" is not asserted: its request to its own
# address is delivered locally, which says nothing about a NAT.
lab_burrow_expect() {
	local type=$1 opts=",${2:-},"
	local hp=false cone sym udpok
	[[ $opts == *,hairpin=on,* ]] && hp=true
	udpok="udp=ok nat=true untested="
	cone="$udpok port_preserving=true port_allocation=preserving port_delta=null hairpin=$hp mapping=endpoint-independent"
	sym="$udpok nat_type=symmetric mapping=address-and-port-dependent filtering=address-and-port-dependent port_preserving=false hairpin=$hp"
	case "$type" in
	none)
		echo "nat_type=open-internet udp=ok nat=false untested= mapping=endpoint-independent" \
			"filtering=endpoint-independent port_preserving=true port_allocation=preserving port_delta=null"
		;;
	full-cone) echo "nat_type=full-cone $cone filtering=endpoint-independent" ;;
	restricted) echo "nat_type=restricted-cone $cone filtering=address-dependent" ;;
	port-restricted) echo "nat_type=port-restricted-cone $cone filtering=address-and-port-dependent" ;;
	symmetric) echo "$sym port_allocation=random port_delta=null" ;;
	symmetric-seq) echo "$sym port_allocation=sequential port_delta=1" ;;
	cgnat)
		if [[ $opts == *,carrier=symmetric,* ]]; then
			echo "$sym port_allocation=random port_delta=null"
		else
			echo "nat_type=port-restricted-cone $cone filtering=address-and-port-dependent"
		fi
		;;
	udp-blocked)
		echo "nat_type=udp-blocked udp=no-response nat=null mapping=unknown filtering=unknown" \
			"port_preserving=null port_allocation=unknown hairpin=null mapped=null" \
			"untested=mapping,filtering,hairpin,port-allocation"
		;;
	*) return 1 ;;
	esac
}

# JSON values as words: true/false/null, numbers, strings; "untested" is the
# comma-separated list of its tests.
lab__vb_py='
import json, sys
def word(k, v):
    if k == "untested" and isinstance(v, list):
        return ",".join(str(t.get("test")) for t in v if isinstance(t, dict))
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
try:
    with open(sys.argv[2]) as f:
        d = json.loads(f.read())
    if not isinstance(d, dict):
        raise ValueError("not an object")
except (OSError, ValueError) as e:
    print("no JSON report (%s)" % e)
    sys.exit(2)
bad = 0
for a in sys.argv[3:]:
    if sys.argv[1] == "get":
        print(word(a, d.get(a)) if a in d else "-")
        continue
    k, _, want = a.partition("=")
    got = word(k, d.get(k)) if k in d else "(missing)"
    if got != want:
        print("%s=%s (want %s)" % (k, got, want))
        bad = 1
sys.exit(bad)
'

lab_burrow_json() { # FILE KEY...
	"$BW_LAB_PYTHON" -c "$lab__vb_py" get "$@"
}

lab_burrow_json_check() { # FILE KEY=VALUE...
	"$BW_LAB_PYTHON" -c "$lab__vb_py" check "$@"
}

lab__vb_abbrev() { # mapping|filtering WORD -> EIM, ADF, APDM, ...
	local suffix=M
	[ "$1" = filtering ] && suffix=F
	case "$2" in
	endpoint-independent) echo "EI$suffix" ;;
	address-dependent) echo "AD$suffix" ;;
	address-and-port-dependent) echo "APD$suffix" ;;
	dependent) echo "D$suffix" ;;
	*) echo "?" ;;
	esac
}

# One short line: nat_type, mapping/filtering, ports, hairpin, probe time.
lab_burrow_summary() { # FILE
	local t m f alloc delta hp el nat vals
	if ! vals=$(lab_burrow_json "$1" nat_type mapping filtering port_allocation port_delta \
		hairpin elapsed_ms nat 2>/dev/null); then
		echo "no report"
		return 0
	fi
	{ read -r t; read -r m; read -r f; read -r alloc; read -r delta; read -r hp; read -r el; read -r nat; } <<<"$vals"
	if [ "$t" = udp-blocked ]; then
		echo "$t ($el ms)"
		return 0
	fi
	local ports=$alloc
	[ "$alloc" = sequential ] && ports="seq $( ((delta > 0)) && echo +)$delta"
	# A public host's own address always "hairpins": only a NAT's counts.
	[ "$hp" = true ] && [ "$nat" = true ] && ports="$ports, hairpin"
	echo "$t $(lab__vb_abbrev mapping "$m")/$(lab__vb_abbrev filtering "$f") $ports ($el ms)"
}

# ------------------------------------------------------------ self-check hooks

# Starts the self-check's burrowd once, whichever site's job comes first (the
# jobs run in parallel); the others wait for its ready line. lab_down ends it
# by PID like every spawned process.
lab__vb_burrowd() { # OUTDIR
	local out=$1 i
	if mkdir "$out/burrowd.once" 2>/dev/null; then
		cat >"$out/burrowd.toml" <<-EOF
			bindAddr = "$BW_LAB_SERVER1"
			bindPort = $BW_LAB_BURROW_PORT
			bindUDPPort = $BW_LAB_BURROW_UDP1
			natProbeAltAddr = "$BW_LAB_SERVER2"
			natProbeAltPort = $BW_LAB_BURROW_UDP2
			auth.token = "$BW_LAB_BURROW_TOKEN"
		EOF
		cat >"$out/burrow.toml" <<-EOF
			serverAddr = "$BW_LAB_SERVER1"
			serverPort = $BW_LAB_BURROW_PORT
			auth.token = "$BW_LAB_BURROW_TOKEN"
			loginFailExit = true
		EOF
		if lab_spawn pub burrowd-verify "$BURROWD" -c "$out/burrowd.toml" >/dev/null &&
			lab_wait_log burrowd-verify "STUN listening on udp $BW_LAB_SERVER2:$BW_LAB_BURROW_UDP2" 10 &&
			lab_wait_log burrowd-verify "control listening on $BW_LAB_SERVER1:$BW_LAB_BURROW_PORT" 5; then
			touch "$out/burrowd.ready"
		else
			touch "$out/burrowd.failed"
		fi
	fi
	for ((i = 0; i < 300; i++)); do
		[ -e "$out/burrowd.ready" ] && return 0
		[ -e "$out/burrowd.failed" ] && return 1
		sleep 0.05
	done
	return 1
}

# lab_verify_extra_probe SITE OUTDIR: `burrow nat -c --json` from SITE1;
# writes SITE.burrow.json, SITE.burrow.err and SITE.burrow.rc ("EXIT WALL_MS").
lab_verify_extra_probe() {
	local s=$1 out=$2 t0 t1 rc=0
	if ! lab_burrow_find; then
		: >"$out/$s.burrow.skip"
		return 0
	fi
	if ! lab__vb_burrowd "$out"; then
		echo "burrowd did not start; its log:" >"$out/$s.burrow.err"
		cat "$(lab_log_path burrowd-verify)" >>"$out/$s.burrow.err" 2>/dev/null || true
		return 1
	fi
	t0=$(date +%s%N)
	lab_exec "${s}1" timeout 20 "$BURROW" nat -c "$out/burrow.toml" --json \
		>"$out/$s.burrow.json" 2>"$out/$s.burrow.err" || rc=$?
	t1=$(date +%s%N)
	echo "$rc $(((t1 - t0) / 1000000))" >"$out/$s.burrow.rc"
}

# lab_verify_extra_check SITE TYPE OPTIONS OUTDIR: one line for the table;
# 0 if Burrow's verdict is the site's type (and the exit status is 0 when UDP
# works, 1 when it does not).
lab_verify_extra_check() {
	local s=$1 type=$2 opts=$3 out=$4 want diff rc=- wantrc=0
	if [ -e "$out/$s.burrow.skip" ]; then
		echo "not run (no burrow binary: set BURROW and BURROWD)"
		return 0
	fi
	[ "$opts" = - ] && opts=
	[ -e "$out/$s.burrow.rc" ] && read -r rc _ <"$out/$s.burrow.rc"
	if [ "$rc" = - ]; then
		echo "burrow nat did not run: $(head -c 200 "$out/$s.burrow.err" 2>/dev/null | tr '\n' ' ')"
		return 1
	fi
	want=$(lab_burrow_expect "$type" "$opts") || { echo "no expectation for $type"; return 1; }
	[ "$type" = udp-blocked ] && wantrc=1
	# shellcheck disable=SC2086 # want is a list of KEY=VALUE words
	if ! diff=$(lab_burrow_json_check "$out/$s.burrow.json" $want); then
		echo "$(lab_burrow_summary "$out/$s.burrow.json"): $(echo "$diff" | paste -sd ' ')"
		return 1
	fi
	if [ "$rc" != "$wantrc" ]; then
		echo "$(lab_burrow_summary "$out/$s.burrow.json"): exit $rc, want $wantrc"
		return 1
	fi
	lab_burrow_summary "$out/$s.burrow.json"
}
