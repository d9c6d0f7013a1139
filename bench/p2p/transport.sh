#!/usr/bin/env bash
# bench/p2p/transport.sh: the stream transport engines (peer/tp.h) against
# kernel TCP over the same emulated path, in the netns lab
# (docs/decisions/stream-transport.md records the figures).
#
#    a1 198.51.100.18                                   b1 198.51.100.34
#    bench_tp --connect (sender) --+                +-- bench_tp --listen (receiver)
#                                  |                |
#                 site a (none) ---+--- inet ---+---+--- site b (none)
#                                  s-a          s-b
#                           knobs here, both directions:
#                           delay D (NFQUEUE delay line) adds 2D to the RTT,
#                           loss P drops P of the packets each way
#
# Two sites of type none (no NAT): a clean path. For each condition -- no
# knob at all, the delay line at 0 ms (its own ceiling), then 0 %, 1 % and
# 3 % loss at 20 ms and 80 ms RTT -- the RTT is checked with ping first, then
# kernel TCP and each engine move bytes on one stream for N seconds, R times.
# The table gives medians: the receiver's Mbit/s (bytes it read in the N
# seconds after the stream opened; then it resets the stream), the
# ratio to kernel TCP in the same condition, and the CPU seconds of both
# ends per Gbit moved. Needs root (exit 77 without), iproute2, nftables,
# iptables, python3 and libnetfilter-queue (the delay line).
#
#   bash bench/p2p/transport.sh                 10 s runs, 3 repetitions
#   bash bench/p2p/transport.sh --quick         3 s runs, 1 repetition
#   options: --seconds N --reps N --engines "tcp:cubic sctp" --conditions "20ms-1% 80ms-0%"
#            --extra "pseudotcp:1048576 sctp:reno" (more rows: ENGINE:WINDOW or
#            ENGINE:CC; tcp:cubic and tcp:bbr pick Linux's congestion control)
#            --build DIR (Release build, default build-tp-rel)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
secs=10
reps=3
engines="tcp:cubic tcp:bbr quic sctp pseudotcp"
conditions="none delayer0 20ms-0% 20ms-1% 20ms-3% 80ms-0% 80ms-1% 80ms-3%"
extra=""
build=${BW_TP_BUILD:-$root/build-tp-rel}

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) secs=3; reps=1 ;;
	--seconds) secs=$2; shift ;;
	--reps) reps=$2; shift ;;
	--engines) engines=$2; shift ;;
	--conditions) conditions=$2; shift ;;
	--extra) extra=$2; shift ;;
	--build) build=$2; shift ;;
	-h | --help) sed -n '2,30p' "$0"; exit 0 ;;
	*) echo "transport.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

export BW_LAB_PREFIX=bw-tp-
# shellcheck source=netns-lab/lib.sh
. "$root/netns-lab/lib.sh"
lab_require_root

echo "== build ($build, Release)" >&2
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target bench_tp bw_lab_delayer -j2 >/dev/null
bin=$build/bench/bench_tp
export BW_LAB_DELAYER=$build/netns-lab/bw_lab_delayer

out=$(mktemp -d /tmp/bw-tp-bench.XXXXXX)
results=$out/results.tsv
: >"$results"

lab_init
lab_trap_install
lab_up_core
lab_up_site a none
lab_up_site b none
A=$(lab_host_addr a1)
B=$(lab_host_addr b1)

# The delay line at 0 ms: the knob itself treats 0 as "off", so start it the
# way the knob does (same labels: "lab_knob a delay off" removes it).
delay_line_zero() {
	local i q dir label dbin
	i=$(lab__site_field a 2)
	dbin=$(lab__delayer_bin)
	for dir in out in; do
		label=delay-a-$dir
		q=$(lab__queue_num "$i" "$dir")
		lab_spawn inet "$label" "$dbin" --queue "$q" --delay-ms 0 --jitter-ms 0 >/dev/null
		lab_wait_log "$label" 'ready' 10
		lab__nfqueue_rule -A a "$dir" "$q"
	done
}

# condition -> knobs on site a (both directions)
apply() {
	lab_knob a loss 0
	lab_knob a delay off
	case "$1" in
	none) ;;
	delayer0) delay_line_zero ;;
	20ms-*) lab_knob a delay 10ms ;;
	80ms-*) lab_knob a delay 40ms ;;
	*) lab__die "unknown condition $1" ;;
	esac
	case "$1" in
	*-1%) lab_knob a loss 1% ;;
	*-3%) lab_knob a loss 3% ;;
	esac
}

rtt_of() { # ping a1 -> b1: "min/avg/max ms"
	lab_exec a1 ping -n -q -c 10 -i 0.2 -W 2 "$B" 2>/dev/null |
		sed -n 's|.*= \([0-9.]*\)/\([0-9.]*\)/\([0-9.]*\)/.*|\1/\2/\3|p'
}

run=0
measure() { # condition engine-spec rep
	local cond=$1 spec=$2 rep=$3 engine opt="" port label pid i s r
	engine=${spec%%:*}
	if [ "$spec" != "$engine" ]; then
		case "${spec#*:}" in
		[0-9]*) opt="--window ${spec#*:}" ;;
		*) opt="--cc ${spec#*:}" ;;
		esac
	fi
	run=$((run + 1))
	port=$((21000 + run))
	label=rx-$run
	# shellcheck disable=SC2086 # opt is words
	pid=$(lab_spawn b1 "$label" "$bin" --engine "$engine" --listen "$B:$port" --seconds "$secs" $opt)
	if ! lab_wait_log "$label" 'listening on' 10 2>/dev/null; then
		echo "  $spec: receiver did not start" >&2
		return 0
	fi
	# The sender ends when the receiver resets the stream, or on SIGTERM
	# once the receiver is done: either way it reports.
	# shellcheck disable=SC2086
	lab_spawn a1 "tx-$run" "$bin" --engine "$engine" --connect "$B:$port" \
		--seconds "$secs" $opt >/dev/null
	for ((i = 0; i < (secs + 30) * 10; i++)); do
		lab__alive "$pid" || break
		sleep 0.1
	done
	lab_stop "$label"
	lab_stop "tx-$run"
	s=$(grep '^{' "$(lab_log_path "tx-$run")" | tail -1 || true)
	grep -v '^{' "$(lab_log_path "tx-$run")" >"$out/tx-$run.err" || true
	r=$(grep '^{' "$(lab_log_path "$label")" | tail -1 || true)
	if [ -z "$s" ] || [ -z "$r" ]; then
		echo "  $spec rep $rep: failed ($(tr '\n' ' ' <"$out/tx-$run.err"))" >&2
		printf '%s\t%s\t%s\tFAIL\t\t\n' "$cond" "$spec" "$rep" >>"$results"
		return 0
	fi
	printf '%s\t%s\t%s\t%s\t%s\n' "$cond" "$spec" "$rep" "$s" "$r" >>"$results"
	python3 - "$s" "$r" "$spec" <<-'EOF' >&2
		import json, sys
		s, r = json.loads(sys.argv[1]), json.loads(sys.argv[2])
		gbit = r["bytes"] * 8 / 1e9
		print("  %-18s %8.1f Mbit/s  cpu %5.2f+%5.2f s  rtt %6.1f ms  lost %d" % (
		    sys.argv[3], r["mbit_s"], s["cpu_s"], r["cpu_s"], s["rtt_ms"], s["lost"]))
	EOF
}

machine="$(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), Linux $(uname -r)"
echo "machine: $machine" >&2
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
declare -A rtts
for cond in $conditions; do
	apply "$cond"
	rtts[$cond]=$(rtt_of)
	echo "== $cond: ping RTT min/avg/max ${rtts[$cond]} ms" >&2
	for ((rep = 1; rep <= reps; rep++)); do
		for spec in $engines $extra; do
			measure "$cond" "$spec" "$rep"
		done
	done
done
lab_knob a clear
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

for cond in $conditions; do
	printf '%s\t%s\n' "$cond" "${rtts[$cond]}"
done >"$out/rtts.tsv"

python3 "$root/bench/p2p/tp_table.py" "$results" "$out/rtts.tsv" "$secs" "$reps" "$machine" \
	"$load_after" "$conditions"
echo "raw results: $results" >&2
