# shellcheck shell=bash
# netns-lab/verify.sh: the lab's self-check, sourced by `lab verify` (and run
# by netns-lab/tests/lab_selfcheck.sh). It builds its own lab, one site per NAT
# type, measures every type with the independent probe (probe.py) and with
# Debian's classic STUN client against Debian's stund, checks the knobs and the
# isolation from the host, tears down and checks that nothing is left.
# Prints "ok - ..." / "not ok - ..." lines, a markdown table of what was
# measured (also written to $BW_LAB_VERIFY_TABLE if set) and "N passed,
# M failed". Exit status 0 only if every check passed.
#
# Burrow's own probe plugs in through netns-lab/verify-burrow.sh, sourced if
# present. It defines two functions:
#   lab_verify_extra_probe SITE OUTDIR
#       runs in the site's parallel job, right after probe.py and the stun
#       client (never at the same time as them), from host SITE1; writes
#       whatever it measured under OUTDIR (e.g. OUTDIR/SITE.burrow.json).
#   lab_verify_extra_check SITE TYPE OPTIONS OUTDIR
#       prints one short line for the table column "Burrow" and returns 0 if
#       Burrow's verdict agrees with what the site is (OUTDIR/SITE.json holds
#       probe.py's measurement, TYPE and OPTIONS the site's definition).

# site  type  options  | expected: mapping filtering preserved sequential hairpin class stun-regex
BW_LAB_VERIFY_SITES=(
	"open none - EIM EIF yes no - none ^Open"
	"fc full-cone - EIM EIF yes no no full-cone ^Independent.Mapping,.Independent.Filter"
	"rc restricted - EIM ADF yes no no restricted ^Independent.Mapping,.Address.Dependent.Filter"
	"prc port-restricted hosts=2 EIM APDF yes no no port-restricted ^Independent.Mapping,.Port.Dependent.Filter,.*no.hairpin"
	"hp port-restricted hosts=2,hairpin=on EIM APDF yes no yes port-restricted ^Independent.Mapping,.Port.Dependent.Filter,.*will.hairpin"
	"sym symmetric - APDM APDF no no no symmetric ^Dependent.Mapping"
	"seq symmetric-seq - APDM APDF no yes no symmetric-seq ^Dependent.Mapping"
	"cgp cgnat - EIM APDF yes no no port-restricted ^Independent.Mapping,.Port.Dependent.Filter"
	"cgs cgnat carrier=symmetric APDM APDF no no no symmetric ^Dependent.Mapping"
	"ub udp-blocked - - - - - - udp-blocked ^Blocked"
)

if [ -f "$BW_LAB_DIR/verify-burrow.sh" ]; then
	# shellcheck source=/dev/null
	. "$BW_LAB_DIR/verify-burrow.sh"
fi

lab__v_pass=0
lab__v_fail=0
lab__v_failed=()

lab__v_ok() {
	lab__v_pass=$((lab__v_pass + 1))
	echo "ok - $*"
}

lab__v_notok() {
	lab__v_fail=$((lab__v_fail + 1))
	lab__v_failed+=("$1")
	echo "not ok - $*"
}

# lab__v_check DESCRIPTION COMMAND...: a check is a command that succeeds.
lab__v_check() {
	local what=$1
	shift
	if "$@"; then lab__v_ok "$what"; else lab__v_notok "$what"; fi
}

# Host state that the lab must never change: interface names, routes, rules,
# the nftables ruleset and the conntrack UDP timeouts the knob sets in the
# lab's namespaces (per-namespace sysctls).
lab__v_host_snapshot() {
	echo "links: $(ip -o link show | awk -F': ' '{print $2}' | sort | tr '\n' ' ')"
	echo "routes: $(ip -4 route show table all | sort | sha256sum | cut -c1-16)"
	echo "rules: $(ip rule show | sha256sum | cut -c1-16)"
	echo "nft: $(nft list ruleset 2>/dev/null | sha256sum | cut -c1-16)"
	echo "sysctls: $(sysctl -n net.netfilter.nf_conntrack_udp_timeout net.netfilter.nf_conntrack_udp_timeout_stream \
		net.bridge.bridge-nf-call-iptables net.ipv4.ip_forward 2>/dev/null | tr '\n' ' ')"
	# Namespaces other than labs' (another prefix's lab may come and go).
	echo "netns: $(ip netns list | awk '{print $1}' | grep -v '^bw-' | sort | tr '\n' ' ')"
}

lab__v_py() { # HOST probe.py-args...
	local host=$1
	shift
	lab_exec "$host" "$BW_LAB_PYTHON" "$BW_LAB_DIR/probe.py" "$@"
}

lab__v_json() { # FILE KEY... -> values, one per line ("-" for null/missing)
	"$BW_LAB_PYTHON" - "$@" <<-'EOF'
		import json, sys
		try:
		    d = json.load(open(sys.argv[1]))
		except (OSError, ValueError):
		    d = {}
		for k in sys.argv[2:]:
		    v = d.get(k)
		    if v is None:
		        print("-")
		    elif isinstance(v, bool):
		        print("yes" if v else "no")
		    elif isinstance(v, list):
		        print(",".join(str(x) for x in v) or "-")
		    else:
		        print(v)
	EOF
}

# lab__v_reach RECV_HOST PORT SEND_HOST TO: starts a listener on RECV_HOST:PORT
# (no mapping of its own), sends five datagrams from SEND_HOST to TO, prints
# "yes FROM" if one arrived, "no" otherwise.
lab__v_reach() {
	local rh=$1 port=$2 sh=$3 to=$4 label i pid
	label=reach-$rh-$port
	pid=$(lab_spawn "$rh" "$label" "$BW_LAB_PYTHON" -u "$BW_LAB_DIR/probe.py" listen \
		--port "$port" --timeout 1.5)
	lab_wait_log "$label" 'listening on port' 5 >/dev/null 2>&1 || { echo "no (listener failed)"; return 0; }
	lab__v_py "$sh" send --to "$to" --count 5 --interval 0.1 || true
	for ((i = 0; i < 60; i++)); do
		lab__alive "$pid" || break
		sleep 0.05
	done
	lab_stop "$label"
	if grep -q '^received from' "$(lab_log_path "$label")"; then
		echo "yes $(sed -n 's/^received from \([^:]*:[0-9]*\):.*/\1/p' "$(lab_log_path "$label")")"
	else
		echo "no"
	fi
}

lab__v_classify() { # SITE OUTDIR: probe then stun client, from SITE's first host
	local s=$1 out=$2
	lab__v_py "${s}1" classify --server "$BW_LAB_SERVER1:$BW_LAB_PROBE_PORT1" \
		--alt "$BW_LAB_SERVER2:$BW_LAB_PROBE_PORT2" >"$out/$s.json" 2>"$out/$s.err" || true
	if command -v stun >/dev/null 2>&1 && command -v stund >/dev/null 2>&1; then
		lab_exec "${s}1" timeout 20 stun "$BW_LAB_SERVER1" >"$out/$s.stun" 2>&1 || true
	fi
	if declare -F lab_verify_extra_probe >/dev/null; then
		lab_verify_extra_probe "$s" "$out" >"$out/$s.extra.log" 2>&1 || true
	fi
}

lab_verify() {
	local t0=$SECONDS before during after out spec
	local -a f
	before=$(lab__v_host_snapshot)
	lab_init
	lab_trap_install
	[ $((SECONDS - t0)) -lt 2 ] || echo "# waited $((SECONDS - t0)) s for the lab (lock, leftovers of an earlier run)"
	t0=$SECONDS
	out=$BW_LAB_STATE/verify
	mkdir -p "$out"

	echo "# building the lab: inet, pub and ${#BW_LAB_VERIFY_SITES[@]} sites"
	lab_up_core
	for spec in "${BW_LAB_VERIFY_SITES[@]}"; do
		read -r -a f <<<"$spec"
		local opts=()
		[ "${f[2]}" = - ] || IFS=, read -r -a opts <<<"${f[2]}"
		lab_up_site "${f[0]}" "${f[1]}" "${opts[@]}"
	done
	lab_servers_start probe stund
	echo "# lab up in $((SECONDS - t0)) s"

	during=$(lab__v_host_snapshot)
	lab__v_check "host namespace unchanged while the lab is up" [ "$before" = "$during" ]
	if [ "$before" != "$during" ]; then diff <(echo "$before") <(echo "$during") || true; fi

	# ---- NAT types: every site's probe in parallel (sites are independent
	# NATs; within a site, probe then stun client, never both at once).
	local t1=$SECONDS pids=()
	for spec in "${BW_LAB_VERIFY_SITES[@]}"; do
		read -r -a f <<<"$spec"
		lab__v_classify "${f[0]}" "$out" &
		pids+=($!)
	done
	wait "${pids[@]}" || true
	echo "# probes of ${#BW_LAB_VERIFY_SITES[@]} sites took $((SECONDS - t1)) s"

	local table="$out/table.md" xhead="" xsep=""
	if declare -F lab_verify_extra_check >/dev/null; then xhead=" Burrow |" xsep="---|"; fi
	{
		echo "| Site | Type | Mapping | Filtering | Port preserved | Port deltas | Hairpin | UDP | TCP | probe.py class | Debian \`stun\` client |$xhead |"
		echo "|---|---|---|---|---|---|---|---|---|---|---|$xsep---|"
	} >"$table"
	for spec in "${BW_LAB_VERIFY_SITES[@]}"; do
		read -r -a f <<<"$spec"
		local s=${f[0]} type=${f[1]} o=${f[2]}
		local em=${f[3]} ef=${f[4]} ep=${f[5]} eseq=${f[6]} ehp=${f[7]} ecls=${f[8]} estun=${f[9]}
		local m fl pp sq hpn udp tcp cls deltas stunsays verdict=ok
		{ read -r m; read -r fl; read -r pp; read -r sq; read -r hpn; read -r udp; read -r tcp; read -r cls; read -r deltas; } \
			< <(lab__v_json "$out/$s.json" mapping filtering port_preserved sequential hairpin udp tcp class deltas)
		stunsays=$(sed -n 's/^Primary: *//p' "$out/$s.stun" 2>/dev/null | sed 's/[[:space:]]*$//')
		[ -n "$stunsays" ] || stunsays="(not run)"
		local label="$type"
		[ "$o" = - ] || label="$type ($o)"
		if [ "$type" = udp-blocked ]; then
			[ "$udp" = no ] && [ "$tcp" = yes ] || verdict="udp=$udp tcp=$tcp"
		else
			[ "$udp" = yes ] && [ "$tcp" = yes ] || verdict="udp=$udp tcp=$tcp"
			[ "$m" = "$em" ] || verdict="mapping $m, expected $em"
			[ "$fl" = "$ef" ] || verdict="filtering $fl, expected $ef"
			[ "$pp" = "$ep" ] || verdict="port preserved $pp, expected $ep"
			[ "$sq" = "$eseq" ] || verdict="sequential $sq, expected $eseq"
			[ "$ehp" = - ] || [ "$hpn" = "$ehp" ] || verdict="hairpin $hpn, expected $ehp"
		fi
		[ "$cls" = "$ecls" ] || verdict="class $cls, expected $ecls"
		if [ "$stunsays" != "(not run)" ] && ! [[ $stunsays =~ $estun ]]; then
			verdict="stun client says '$stunsays', expected /$estun/"
		fi
		local xcol=""
		if declare -F lab_verify_extra_check >/dev/null; then
			local xsays
			if xsays=$(lab_verify_extra_check "$s" "$type" "$o" "$out"); then :; else
				verdict="Burrow says '$xsays'"
			fi
			xcol=" $xsays |"
		fi
		if [ "$verdict" = ok ]; then
			lab__v_ok "site $s: $label behaves as $cls ($m/$fl, stun: $stunsays)"
		else
			lab__v_notok "site $s: $label: $verdict"
			sed 's/^/  | /' "$out/$s.json" "$out/$s.err" 2>/dev/null || true
		fi
		[ "$sq" = yes ] || [ "$m" = EIM ] || [ "$m" = - ] || deltas="random"
		[ "$m" = EIM ] && deltas="-"
		echo "| $s | $label | $m | $fl | $pp | $deltas | $hpn | $udp | $tcp | $cls | $stunsays |$xcol $([ "$verdict" = ok ] && echo ok || echo FAIL) |" >>"$table"
	done

	lab__v_two_hosts
	lab__v_counters
	lab__v_knobs

	echo "# measured (lab verify, $(date -u +%Y-%m-%d), $(uname -sr), $(nproc) cores):"
	cat "$table"
	[ -z "${BW_LAB_VERIFY_TABLE:-}" ] || cp "$table" "$BW_LAB_VERIFY_TABLE"

	# ---- teardown and isolation
	local t2=$SECONDS
	if lab_down; then lab__v_ok "teardown removed every lab namespace"; else lab__v_notok "teardown"; fi
	echo "# teardown took $((SECONDS - t2)) s"
	after=$(lab__v_host_snapshot)
	lab__v_check "host namespace as before the lab (links, routes, rules, nftables, sysctls, other netns)" \
		[ "$before" = "$after" ]
	if [ "$before" != "$after" ]; then diff <(echo "$before") <(echo "$after") || true; fi
	lab__v_check "no lab namespace left" [ -z "$(lab__namespaces)" ]

	echo "# self-check took $((SECONDS - t0)) s"
	echo "$lab__v_pass passed, $lab__v_fail failed"
	if [ "$lab__v_fail" -gt 0 ]; then
		printf '# failed: %s\n' "${lab__v_failed[@]}"
		return 1
	fi
	return 0
}

# Two hosts behind one NAT: the second reaches the first through the NAT's
# public address only when hairpinning is on, and then from the public side.
lab__v_two_hosts() {
	local s res want mapped label
	for s in prc hp; do
		label=hairpin-$s
		lab_spawn "${s}2" "$label" "$BW_LAB_PYTHON" -u "$BW_LAB_DIR/probe.py" listen \
			--server "$BW_LAB_SERVER1:$BW_LAB_PROBE_PORT1" --port 48000 --timeout 2 >/dev/null
		if ! lab_wait_log "$label" '^mapped ' 5; then
			lab__v_notok "two hosts behind $s: no mapping"
			continue
		fi
		mapped=$(sed -n 's/^mapped //p' "$(lab_log_path "$label")")
		lab__v_py "${s}1" send --to "$mapped" --port 48001 --count 5 --interval 0.1 || true
		lab_wait_log "$label" '^(received|nothing)' 5 >/dev/null 2>&1 || true
		lab_stop "$label"
		res=$(sed -n 's/^received from \([^:]*:[0-9]*\):.*/\1/p' "$(lab_log_path "$label")")
		if [ "$(lab__site_field "$s" 5)" = on ]; then
			want="$(lab_public_addr "$s"):48001"
			lab__v_check "hairpin on ($s): ${s}1 -> ${s}2 via $mapped arrives from $want (got ${res:-nothing})" \
				[ "$res" = "$want" ]
		else
			lab__v_check "hairpin off ($s): ${s}1 -> ${s}2 via $mapped does not arrive (got ${res:-nothing})" \
				[ -z "$res" ]
		fi
	done
	# Same LAN, private addresses: direct, never through the NAT.
	res=$(lab__v_reach prc2 48002 prc1 "$(lab_host_addr prc2):48002")
	lab__v_check "two hosts behind prc reach each other on the LAN ($res)" [ "${res%% *}" = yes ]
	lab__v_check "LAN traffic is not counted as hairpin" \
		[ "$(lab_nat_counters prc | awk '$1 == "hairpin" { print $5 }')" = 0 ]
}

# The byte counters tell a direct exchange between two sites from traffic
# through the server: what the P2P matrix test (issue 6) relies on.
lab__v_counters() {
	local fcpub prcpub mapped label res
	fcpub=$(lab_public_addr fc)
	prcpub=$(lab_public_addr prc)
	lab_nat_counters_reset fc
	lab_nat_counters_reset prc
	label=direct-fc
	lab_spawn fc1 "$label" "$BW_LAB_PYTHON" -u "$BW_LAB_DIR/probe.py" listen \
		--server "$BW_LAB_SERVER1:$BW_LAB_PROBE_PORT1" --port 45000 --timeout 3 >/dev/null
	lab_wait_log "$label" '^mapped ' 5 || { lab__v_notok "counters: no mapping at fc"; return 0; }
	mapped=$(sed -n 's/^mapped //p' "$(lab_log_path "$label")")
	lab__v_py prc1 send --to "$mapped" --port 45001 --count 5 --interval 0.1 --payload direct || true
	lab_wait_log "$label" '^(received|nothing)' 5 >/dev/null 2>&1 || true
	lab_stop "$label"
	res=$(sed -n 's/^received from \([^:]*:[0-9]*\):.*/\1/p' "$(lab_log_path "$label")")
	lab__v_check "full-cone fc accepts prc's datagram on its mapping $mapped (from ${res:-nothing})" \
		[ "$res" = "$prcpub:45001" ]
	local out_direct in_direct back to_srv
	out_direct=$(lab_nat_bytes prc out udp "$fcpub")
	in_direct=$(lab_nat_bytes fc in udp "$prcpub")
	back=$(lab_nat_bytes fc out udp "$prcpub")
	to_srv=$(lab_nat_bytes fc out udp "$BW_LAB_SERVER1")
	lab__v_check "counters: prc sent UDP straight to fc ($out_direct bytes out at prc, $in_direct in at fc)" \
		awk -v o="$out_direct" -v i="$in_direct" 'BEGIN { exit !(o > 0 && i > 0) }'
	lab__v_check "counters: fc sent nothing to prc ($back bytes) and its mapping request went to the server ($to_srv bytes)" \
		awk -v b="$back" -v t="$to_srv" 'BEGIN { exit !(b == 0 && t > 0) }'
	echo "# lab_nat_counters fc:"
	lab_nat_counters fc | sed 's/^/#   /'
}

lab__v_rebound() { # OLD NEW: same address, another port
	[ -n "$1" ] && [ -n "$2" ] && [ "${1%:*}" = "${2%:*}" ] && [ "$1" != "$2" ]
}

lab__v_knobs() {
	local r loss med mn mx reord secs mbit mapped m1 m2 res
	local srv="$BW_LAB_SERVER1:$BW_LAB_PROBE_PORT1"

	# delay: 10 ms each way on prc's uplink -> +20 ms round trip.
	lab_knob prc delay 10ms
	r=$(mktemp "$BW_LAB_STATE/ping.XXXXXX")
	lab__v_py prc1 ping --server "$srv" --count 20 --interval 0.05 >"$r" || true
	{ read -r med; read -r mn; read -r loss; } < <(lab__v_json "$r" rtt_median_ms rtt_min_ms loss)
	# The delay line never releases early, so the minimum is exact; a busy
	# machine can only add to the rest, hence the one-sided slack.
	lab__v_check "delay 10ms: median RTT ${med} ms (min $mn) within [20, 30]" \
		awk -v m="$med" -v n="$mn" 'BEGIN { exit !(n >= 19.5 && m >= 20 && m <= 30) }'
	# jitter: uniform 10 +- 5 ms each way, so packets overtake each other.
	lab_knob prc delay 10ms 5ms
	lab__v_py prc1 ping --server "$srv" --count 300 --interval 0.002 --timeout 2 >"$r" || true
	{ read -r med; read -r mn; read -r mx; read -r reord; read -r loss; } \
		< <(lab__v_json "$r" rtt_median_ms rtt_min_ms rtt_max_ms reordered loss)
	# Round trips spread over [10, 30] ms: the minimum is at least 10 and near
	# it, the maximum reaches near 30 (a busy machine may stretch it, so it
	# is bounded loosely), the median sits in the middle, and packets
	# overtake each other.
	lab__v_check "delay 10ms jitter 5ms: RTT $mn..$mx ms (median $med), $reord of 300 reordered, loss $loss" \
		awk -v m="$med" -v n="$mn" -v x="$mx" -v o="$reord" -v l="$loss" \
		'BEGIN { exit !(n >= 9.5 && n <= 14 && x >= 26 && x <= 250 && m >= 16 && m <= 30 && o > 0 && l == 0) }'
	lab_knob prc delay off
	lab__v_py prc1 ping --server "$srv" --count 20 --interval 0.02 >"$r" || true
	med=$(lab__v_json "$r" rtt_median_ms)
	lab__v_check "delay off: median RTT $med ms below 5" awk -v m="$med" 'BEGIN { exit !(m < 5) }'

	# loss: 10% each way -> a round trip is lost with 1-0.9^2 = 19%; 1000
	# round trips give a standard deviation of 1.2 points, so +-6 points is
	# about five of them.
	lab_knob prc loss 10%
	lab__v_py prc1 ping --server "$srv" --count 1000 --interval 0.001 --timeout 2 >"$r" || true
	loss=$(lab__v_json "$r" loss)
	lab__v_check "loss 10%: round-trip loss $loss within 0.19 +- 0.06" \
		awk -v l="$loss" 'BEGIN { exit !(l >= 0.13 && l <= 0.25) }'
	lab_knob prc loss 0
	lab__v_py prc1 ping --server "$srv" --count 300 --interval 0.001 --timeout 2 >"$r" || true
	loss=$(lab__v_json "$r" loss)
	lab__v_check "loss 0: round-trip loss $loss" [ "$loss" = 0.0 ]

	# rate: tbf at 8 Mbit/s; 1.5 MB over TCP takes about 1.5 s.
	lab_spawn pub sink "$BW_LAB_PYTHON" -u "$BW_LAB_DIR/probe.py" tcp-sink \
		--addr "$BW_LAB_SERVER1" --port 5001 >/dev/null
	lab_wait_log sink 'ready' 5 || true
	lab_knob prc rate 8mbit
	secs=$(lab__v_py prc1 tcp-send --to "$BW_LAB_SERVER1:5001" --bytes 1500000 | awk '{print $2}' || true)
	mbit=$(awk -v s="${secs:-0}" 'BEGIN { if (s > 0) printf "%.2f", 1500000 * 8 / s / 1e6; else print 0 }')
	lab__v_check "rate 8mbit: TCP goodput $mbit Mbit/s within [4.8, 8.8]" \
		awk -v m="$mbit" 'BEGIN { exit !(m >= 4.8 && m <= 8.8) }'
	lab_knob prc rate off
	secs=$(lab__v_py prc1 tcp-send --to "$BW_LAB_SERVER1:5001" --bytes 1500000 | awk '{print $2}' || true)
	mbit=$(awk -v s="${secs:-0}" 'BEGIN { if (s > 0) printf "%.0f", 1500000 * 8 / s / 1e6; else print 0 }')
	lab__v_check "rate off: TCP goodput $mbit Mbit/s above 50" [ "${mbit:-0}" -gt 50 ]
	lab_stop sink

	# rebind: the same inside endpoint gets a new public port.
	m1=$(lab__v_py prc1 mapping --server "$srv" --port 46000 || true)
	m2=$(lab__v_py prc1 mapping --server "$srv" --port 46000 || true)
	lab__v_check "rebind: mapping stable before ($m1, $m2)" [ "${m1:-none}" = "$m2" ]
	lab_knob prc rebind
	m2=$(lab__v_py prc1 mapping --server "$srv" --port 46000 || true)
	lab__v_check "rebind: $m1 became $m2" lab__v_rebound "$m1" "$m2"

	# flush: a full-cone mapping admits anyone until the NAT forgets it.
	mapped=$(lab__v_py fc1 mapping --server "$srv" --port 47000 || true)
	res=$(lab__v_reach fc1 47000 pub "$mapped")
	lab__v_check "full-cone: a fresh port on pub reaches mapping $mapped ($res)" [ "${res%% *}" = yes ]
	lab_knob fc flush
	res=$(lab__v_reach fc1 47000 pub "$mapped")
	lab__v_check "flush: mapping $mapped is gone ($res)" [ "$res" = no ]

	# udp-timeout: a mapping idle for longer than the timeout is gone.
	lab_knob fc udp-timeout 5
	mapped=$(lab__v_py fc1 mapping --server "$srv" --port 47001 || true)
	res=$(lab__v_reach fc1 47001 pub "$mapped")
	lab__v_check "udp-timeout 5: fresh mapping $mapped admits inbound ($res)" [ "${res%% *}" = yes ]
	sleep 7 # the timeout under test: no traffic for longer than 5 s
	res=$(lab__v_reach fc1 47001 pub "$mapped")
	lab__v_check "udp-timeout 5: after 7 s idle mapping $mapped is gone ($res)" [ "$res" = no ]
	lab__v_check "udp-timeout is per namespace (fc: $(lab_exec fc sysctl -n net.netfilter.nf_conntrack_udp_timeout) s, host: $(sysctl -n net.netfilter.nf_conntrack_udp_timeout) s)" \
		[ "$(lab_exec fc sysctl -n net.netfilter.nf_conntrack_udp_timeout)" = 5 ]
	lab_knob fc udp-timeout default
	rm -f "$r"
}
