#!/usr/bin/env bash
# bench/p2p.sh: P2P (xtcp) in the netns lab, against plain TCP between the
# same two sites, in one run: the targets of issue 6 ("Benchmarks") as
# PASS/FAIL lines. Not a test: it exits 0 unless a figure a target needs
# could not be measured (the lab or burrowd failed, bytes came back short).
# A burrow that dies is reported (PROBLEM lines, its log kept) and started
# again with its visitors, so that one crash does not cost the whole run.
#
#                     pub 203.0.113.10   burrowd: control 7000, STUN 3478
#                      |                 (+ .11:3479), admin API 7500
#                    inet   (per-site knobs: delay, loss)
#        .-----------.-----+------.-----------.
#       na          nb            fa          fb
#      none        none       full-cone   full-cone
#       |           |             |           |
#      na1         nb1           fa1         fb1
#    owner-n     visitors       owner-f     visitors
#    sink 5301   sys_tput send  sink 5301   sys_tput send
#    iperf3 -s   iperf3 -c      iperf3 -s   iperf3 -c
#    echo 9000   first-byte     echo 9000   first-byte
#
#   clean pair (no NAT): nb1 --TCP--> na1 (plain, kernel TCP), and
#     nb1 sys_tput send 127.0.0.1:6100 -> visitor -> direct QUIC/UDP -> owner-n
#       -> sink on na1 (direct), or the same through burrowd's relay with
#     p2p.disableDirect (relayed, port 6200)
#   cone pair (full-cone NATs): fb1 visitors -> owner-f on fa1
#
# The bulk stream is bench/p2p/sys_tput.c (compiled into the run directory),
# not iperf3: iperf3's server ends each test by closing a data socket that
# still has data queued, a reset, and a reset of the owner's local connection
# makes burrow free the stream twice and abort (stream_free ->
# stream_reset -> stream_closed -> stream_free; docs/BENCHMARKS.md, "P2P").
# sys_tput ends with FIN only. A plain iperf3 row in each condition checks
# the tool against iperf3; --iperf3 uses iperf3 everywhere, as issue 6 asks,
# once that is fixed.
#
# 1. first byte: a fresh visitor `burrow` per run; its first connection opens
#    the session (cold: connect to first echoed byte), then W more on the
#    session that is up (warm). Cone pair (the target), clean pair, and cone
#    pair relayed (p2p.disableDirect). Time to direct: the visitor's own
#    "direct ... (N ms)" line, from the session's opening.
# 2. throughput: T seconds, one stream, plain / direct / relayed on the
#    clean pair and direct on the cone pair, REPS interleaved runs; the path
#    is checked from the NAT edges' byte counters; CPU of the burrow processes
#    (owner, visitor, burrowd when relayed) from /proc/PID/stat.
# 3. the same stream at 20 ms RTT (delay 10 ms each way on na's uplink), with
#    0% and 1% loss each way (loss on na's uplink): plain, direct, relayed.
#    ping checks the RTT first.
#
# Usage: bash bench/p2p.sh [--quick] [--no-build] [--iperf3]
#   --quick     3 s per stream, one run each, 3 cold runs per pair (about
#               2 min; the full run takes about 8)
#   --no-build  use the binaries in the build directory as they are
#   --iperf3    iperf3 -c/-s for every stream instead of sys_tput
# Environment: BW_BUILD (default build-pbench, Release; its source tree is
# recorded, BW_BENCH_NOTE adds a note to it), BW_KEEP=1 keeps the
# run directory with every log, BW_LOG_LEVEL (info; debug for evidence),
# BW_LAB_PREFIX (bw-pb-). Needs root, iperf3, python3, ping (iputils-ping).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BW_BUILD:-$ROOT/build-pbench}
QUICK=0
DO_BUILD=1
TOOL=sys
for arg in "$@"; do
  case $arg in
    --quick) QUICK=1 ;;
    --no-build) DO_BUILD=0 ;;
    --iperf3) TOOL=iperf3 ;;
    *) echo "usage: bash bench/p2p.sh [--quick] [--no-build] [--iperf3]" >&2; exit 2 ;;
  esac
done
if [ "$QUICK" = 1 ]; then
  T=3 REPS=1 COLD_N=3 WARM_N=3
else
  T=8 REPS=3 COLD_N=7 WARM_N=5
fi
LOGLEVEL=${BW_LOG_LEVEL:-info}
DELAY_MS=10   # each way on na's uplink: 20 ms added to every round trip
LOSS=1%       # each way on na's uplink

need() { # need CMD PACKAGE
  command -v "$1" >/dev/null || { echo "p2p.sh: $1 not found: apt-get install $2" >&2; exit 1; }
}
need iperf3 iperf3
need python3 python3
need ping iputils-ping
need cc gcc

export BW_LAB_PREFIX=${BW_LAB_PREFIX:-bw-pb-}
export BW_LAB_LOCK_WAIT=${BW_LAB_LOCK_WAIT:-120}
# shellcheck source=../netns-lab/lib.sh
. "$ROOT/netns-lab/lib.sh"
lab_require_root

if [ "$DO_BUILD" = 1 ]; then
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  if ! cmake --build "$BUILD" --target burrowd burrow -j2 >"/tmp/bw-pbench-build.$$.log" 2>&1; then
    grep -E 'error|Error' "/tmp/bw-pbench-build.$$.log" | head -n 20 >&2
    echo "p2p.sh: build failed (log: /tmp/bw-pbench-build.$$.log)" >&2
    exit 1
  fi
  rm -f "/tmp/bw-pbench-build.$$.log"
fi
BURROWD=$BUILD/cmd/burrowd
BURROW=$BUILD/cmd/burrow
for b in "$BURROWD" "$BURROW"; do
  [ -x "$b" ] || { echo "p2p.sh: $b missing: build it or drop --no-build" >&2; exit 1; }
done
grep -q 'CMAKE_BUILD_TYPE:STRING=Release' "$BUILD/CMakeCache.txt" 2>/dev/null ||
  echo "p2p.sh: warning: $BUILD is not a Release build" >&2
PROBE=$ROOT/bench/p2p/sys_probe.py
REPORT=$ROOT/bench/p2p/sys_report.py

# ---- run directory, teardown ------------------------------------------------
RUN=$(mktemp -d "${TMPDIR:-/tmp}/bw-bench-p2p.XXXXXX")
STARTED=$SECONDS
KEEP_LOGS=${BW_KEEP:-0}
trap 'rm -rf "$RUN"' EXIT # until the lab is ours (lab_init below)
SYS_TPUT=$RUN/sys_tput
cc -std=c11 -O2 -D_GNU_SOURCE -Wall -Wextra -Werror -o "$SYS_TPUT" "$ROOT/bench/p2p/sys_tput.c" ||
  { echo "p2p.sh: cannot build bench/p2p/sys_tput.c" >&2; exit 1; }

# shellcheck disable=SC2317 # reached through the trap
on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  # The lab's logs (every process) go into the run directory before the lab
  # goes, when they are wanted.
  if [ "$KEEP_LOGS" = 1 ] && [ -d "${BW_LAB_STATE:-/nonexistent}/logs" ]; then
    cp -r "$BW_LAB_STATE/logs" "$RUN/lab-logs" 2>/dev/null || true
  fi
  lab_down || rc=1 # ends every process it started, by PID; deletes the namespaces
  if [ "$KEEP_LOGS" = 1 ]; then
    echo "p2p.sh: logs kept in $RUN" >&2
  else
    rm -rf "$RUN"
  fi
  exit "$rc"
}

die() {
  echo "p2p.sh: $*" >&2
  KEEP_LOGS=1
  exit 1
}

# ---- helpers ----------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
pid_of() { cat "$BW_LAB_STATE/pids/$1"; }
# cpu_ticks LABEL...: utime + stime of those processes, in clock ticks.
cpu_ticks() {
  local l p total=0 f
  for l in "$@"; do
    p=$(pid_of "$l")
    [ -r "/proc/$p/stat" ] || continue
    # After the command name: fields 14 and 15 (utime, stime) are 12 and 13.
    f=$(sed -E 's/^.*\) //' "/proc/$p/stat" | awk '{print $12 + $13}' || echo 0)
    total=$((total + f))
  done
  echo "$total"
}
alive() { lab__alive "$(pid_of "$1")" || die "$1 died; its log: $(tail -n 20 "$(lab_log_path "$1")")"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ping_rtt FROM TO: "avg_ms loss%" of 20 pings.
ping_rtt() {
  local out
  out=$(lab_exec "$1" ping -n -q -c 20 -i 0.05 -W 2 "$2" 2>&1) || true
  awk -F'[ /]+' '/packet loss/ { for (i = 1; i <= NF; i++) if ($i ~ /%$/) loss = $i }
    /^rtt|^round-trip/ { avg = $8 } END { print (avg == "" ? "-" : avg), (loss == "" ? "-" : loss) }' <<<"$out"
}

busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }

# udp_drops HOST: datagrams HOST's kernel dropped for a full socket receive
# buffer (RcvbufErrors, /proc/net/snmp of its namespace).
udp_drops() {
  lab_exec "$1" cat /proc/net/snmp | awk '$1 == "Udp:" { if (h) { for (i = 2; i <= NF; i++) if (n[i] == "RcvbufErrors") print $i; exit } for (i = 2; i <= NF; i++) n[i] = $i; h = 1 }'
}

# keep_log LABEL: copies LABEL's log aside (as LABEL.K.log) before the label
# is started again, which starts a new log.
keep_log() {
  local k=1
  while [ -e "$RUN/old-logs/$1.$k.log" ]; do k=$((k + 1)); done
  mkdir -p "$RUN/old-logs"
  cp "$(lab_log_path "$1")" "$RUN/old-logs/$1.$k.log" 2>/dev/null || true
}

# ---- the lab ------------------------------------------------------------------
META=$RUN/meta
CONN=$RUN/conn.tsv
TPUT=$RUN/tput.tsv
RTTS=$RUN/rtt.tsv
: >"$CONN"; : >"$TPUT"; : >"$RTTS"
{
  printf 'mode\t%s\nt\t%s\nreps\t%s\ncold_n\t%s\nwarm_n\t%s\n' \
    "$([ "$QUICK" = 1 ] && echo quick || echo full)" "$T" "$REPS" "$COLD_N" "$WARM_N"
  printf 'delay_ms\t%s\nloss\t%s\nloglevel\t%s\ntool\t%s\n' "$DELAY_MS" "$LOSS" "$LOGLEVEL" "$TOOL"
  printf 'nproc\t%s\ncpu\t%s\nkernel\t%s\nloadavg_before\t%s\n' "$(nproc)" \
    "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')" "$(uname -r)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
  printf 'source\t%s%s\n' "$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$BUILD/CMakeCache.txt")" \
    "${BW_BENCH_NOTE:+ ($BW_BENCH_NOTE)}"
  printf 'burrow\t%s%s\nbuild\t%s\niperf3\t%s\n' \
    "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" \
    "$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo ' (working tree has changes)')" \
    "$BUILD" "$(iperf3 --version | head -n1 | awk '{print $2}')"
} >"$META"
echo "Burrow P2P benchmark ($([ "$QUICK" = 1 ] && echo quick || echo full) run: $T s per stream ($([ $TOOL = sys ] && echo sys_tput || echo iperf3)), $REPS run(s), $COLD_N cold runs per pair)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), kernel $(uname -r)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared with other jobs)"
echo

lab_init
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
lab_up_core
lab_up_site na none
lab_up_site nb none
lab_up_site fa full-cone
lab_up_site fb full-cone
NA1=$(lab_host_addr na1)
SRV=$BW_LAB_SERVER1
TOKEN=p2p-bench-$$
SECRET=p2p-bench-secret
CTL_PORT=7000 STUN_PORT=3478 ADMIN_PORT=7500 OWNER_ADMIN=7400
S_IPERF=5201 S_SINK=5301 S_ECHO=9000
S_BULK=$([ "$TOOL" = sys ] && echo "$S_SINK" || echo "$S_IPERF")

cat >"$RUN/burrowd.toml" <<EOF
bindAddr = "$SRV"
bindPort = $CTL_PORT
bindUDPPort = $STUN_PORT
natProbeAltAddr = "$BW_LAB_SERVER2"
auth.token = "$TOKEN"
webServer.addr = "$SRV"
webServer.port = $ADMIN_PORT
log.level = "$LOGLEVEL"
EOF
lab_spawn pub burrowd "$BURROWD" -c "$RUN/burrowd.toml" >/dev/null
lab_wait_log burrowd "control listening on $SRV:$CTL_PORT" 10 || die "burrowd did not start"

client_head() { # client_head ADMIN_PORT [EXTRA]
  printf 'serverAddr = "%s"\nserverPort = %s\nauth.token = "%s"\nloginFailExit = true\n' \
    "$SRV" "$CTL_PORT" "$TOKEN"
  printf 'log.level = "%s"\nwebServer.addr = "127.0.0.1"\nwebServer.port = %s\n' "$LOGLEVEL" "$1"
  [ -z "${2:-}" ] || printf '%s\n' "$2"
}
xtcp_proxy() { # xtcp_proxy NAME PORT
  printf '[[proxies]]\nname = "%s"\ntype = "xtcp"\nsecretKey = "%s"\nlocalIP = "127.0.0.1"\nlocalPort = %s\n' \
    "$1" "$SECRET" "$2"
}
xtcp_visitor() { # xtcp_visitor NAME SERVERNAME BINDPORT
  printf '[[visitors]]\nname = "%s"\ntype = "xtcp"\nserverName = "%s"\nsecretKey = "%s"\nbindAddr = "127.0.0.1"\nbindPort = %s\n' \
    "$1" "$2" "$SECRET" "$3"
}

# Owners: the sink, iperf3 -s and the echo service beside each; the xtcp
# proxy bulk-N leads to the sink (or to iperf3 -s with --iperf3).
for s in n f; do
  h=$([ $s = n ] && echo na1 || echo fa1)
  lab_spawn "$h" "iperf3-$s" iperf3 -s -p "$S_IPERF" --forceflush >/dev/null
  lab_spawn "$h" "sink-$s" "$SYS_TPUT" sink "$S_SINK" >/dev/null
  lab_spawn "$h" "echo-$s" python3 -u "$PROBE" echo "$S_ECHO" >/dev/null
  { client_head "$OWNER_ADMIN"; xtcp_proxy "bulk-$s" "$S_BULK"; xtcp_proxy "echo-$s" "$S_ECHO"; } >"$RUN/owner-$s.toml"
  lab_spawn "$h" "owner-$s" "$BURROW" -c "$RUN/owner-$s.toml" >/dev/null
done
owner_ready() { # owner_ready n|f
  lab_wait_log "owner-$1" "proxy echo-$1: started" 10 || die "owner-$1 did not register"
  lab_wait_log "owner-$1" "proxy bulk-$1: started" 5 || die "owner-$1 did not register"
  lab_wait_log "owner-$1" 'burrow: NAT ' 15 || die "owner-$1 made no NAT report"
}
for s in n f; do
  lab_wait_log "iperf3-$s" 'Server listening' 10 || die "iperf3 -s did not start"
  lab_wait_log "sink-$s" 'sink ready' 10 || die "sys_tput sink did not start"
  lab_wait_log "echo-$s" 'echo ready' 10 || die "echo service did not start"
  owner_ready "$s"
done
echo "lab up in $((SECONDS - STARTED)) s: sites na, nb (none), fa, fb (full-cone); burrowd on $SRV"
echo "owner NAT reports: $(grep -h -m1 'burrow: NAT ' "$(lab_log_path owner-n)" | sed 's/.*burrow: NAT //') |" \
  "$(grep -h -m1 'burrow: NAT ' "$(lab_log_path owner-f)" | sed 's/.*burrow: NAT //')"
echo

# ---- 1. first byte, cold and warm; time to direct ----------------------------
# visitor_start LABEL HOST CONF: starts a visitor burrow and waits until it is
# ready: logged in, listening, its NAT reported (as a visitor that has been
# running for a while is).
visitor_start() {
  lab_spawn "$2" "$1" "$BURROW" -c "$3" >/dev/null
  lab_wait_log "$1" 'logged in to' 10 &&
    lab_wait_log "$1" 'visitor [a-z0-9-]+: xtcp listening' 10 &&
    lab_wait_log "$1" 'burrow: NAT ' 15 || die "visitor $1 did not come up"
}

# decision LOG NAME: waits up to 12 s for the visitor's path line (direct,
# or relayed), then prints "path direct_ms up_ms" (- when absent).
decision() {
  local f=$1 name=$2 deadline path dms ums
  deadline=$(($(now_ms) + 12000))
  while [ "$(now_ms)" -lt "$deadline" ]; do
    grep -qE "visitor $name: (direct [0-9.]+:[0-9]+ from |relayed via burrowd \()" "$f" && break
    sleep 0.05
  done
  # On a pair that may go direct, the direct line can follow the fallback.
  if grep -qE "visitor $name: relayed via burrowd \(" "$f" &&
    ! grep -q 'disableDirect' "$f" 2>/dev/null; then
    while [ "$(now_ms)" -lt "$deadline" ]; do
      grep -qE "visitor $name: (direct [0-9.]+:[0-9]+ from |no direct path)" "$f" && break
      sleep 0.05
    done
  fi
  if grep -qE "visitor $name: direct [0-9.]+:[0-9]+ from " "$f"; then
    path=direct
    grep -qE "visitor $name: relayed via burrowd \(" "$f" && path=relayed-then-direct
  elif grep -qE "visitor $name: relayed via burrowd \(" "$f"; then
    path=relayed
  else
    path=none
  fi
  dms=$(grep -m1 -E "visitor $name: direct [0-9.]+:[0-9]+ from " "$f" | sed -nE 's/.* ([0-9]+) ms\)$/\1/p' || true)
  ums=$(grep -m1 -E "visitor $name: session up over the [a-z]+ path" "$f" | sed -nE 's/.*\(([0-9]+) ms\)$/\1/p' || true)
  echo "$path ${dms:--} ${ums:--}"
}

# cold_run PAIR RUN: one fresh visitor; a cold connection, the path, then
# WARM_N connections on the session that is up.
cold_run() {
  local pair=$1 n=$2 host server port extra="" label conf out warm first path dms ums pairinfo
  case $pair in
    cone) host=fb1 server=echo-f port=6000 ;;
    clean) host=nb1 server=echo-n port=6002 ;;
    cone-relayed) host=fb1 server=echo-f port=6001 extra='p2p.disableDirect = true' ;;
  esac
  label=cold-$pair-$n
  conf=$RUN/$label.toml
  { client_head 7410 "$extra"; xtcp_visitor echo "$server" "$port"; } >"$conf"
  visitor_start "$label" "$host" "$conf"
  out=$(lab_exec "$host" timeout 30 python3 "$PROBE" first-byte "$port" 1 20 2>&1) || true
  first=$(sed -nE 's/^first_ms=([0-9.]+) ok=1.*/\1/p' <<<"$out")
  read -r path dms ums <<<"$(decision "$(lab_log_path "$label")" echo)"
  warm=$(lab_exec "$host" timeout 60 python3 "$PROBE" first-byte "$port" "$WARM_N" 10 0.1 2>&1) || true
  pairinfo=$(grep -m1 -E "visitor echo: direct [0-9.]+:[0-9]+ from " "$(lab_log_path "$label")" |
    sed -nE 's/.*\(([a-z]+<->[a-z]+),.*/\1/p' || true)
  printf 'cold\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$pair" "$n" "${first:--}" "$path" "$dms" "$ums" \
    "${pairinfo:--}" "$(grep -c 'ok=0' <<<"$out" || true)" >>"$CONN"
  while read -r line; do
    [ -n "$line" ] || continue
    printf 'warm\t%s\t%s\t%s\t%s\t-\t-\t-\t%s\n' "$pair" "$n" \
      "$(sed -nE 's/^first_ms=([0-9.]+) ok=1.*/\1/p' <<<"$line" | grep . || echo -)" "$path" \
      "$(grep -c 'ok=0' <<<"$line" || true)" >>"$CONN"
  done <<<"$warm"
  printf '  %-12s run %d: cold first byte %8s ms, path %-19s direct after %5s ms (%s), session up %5s ms; warm %s ms\n' \
    "$pair" "$n" "${first:-FAILED}" "$path" "$dms" "${pairinfo:--}" "$ums" \
    "$(sed -nE 's/^first_ms=([0-9.]+) ok=1.*/\1/p; s/^first_ms=- .*/failed/p' <<<"$warm" | tr '\n' ' ')"
  if [ -z "$first" ]; then
    echo "    cold connection failed: $out"
    cp "$(lab_log_path "$label")" "$RUN/failed-$label.log"
    lab_exec "$host" timeout 5 "$BURROW" status -c "$conf" >"$RUN/failed-$label.status" 2>&1 || true
    KEEP_LOGS=1
  fi
  lab_stop "$label"
}

echo "1/3 first byte: $COLD_N fresh visitors per pair, each: 1 cold connection (64 B echoed), then $WARM_N warm"
for ((n = 1; n <= COLD_N; n++)); do
  for pair in cone clean cone-relayed; do
    cold_run "$pair" "$n"
  done
  alive burrowd; alive owner-n; alive owner-f
done
echo

# ---- 2. throughput ----------------------------------------------------------
# Long-lived visitors: direct and relayed on the clean pair, direct on the
# cone pair; each gets one warm-up run (not counted) that opens its session.
{ client_head 7401; xtcp_visitor bulk bulk-n 6100; } >"$RUN/vis-direct.toml"
{ client_head 7402 'p2p.disableDirect = true'; xtcp_visitor bulk bulk-n 6200; } >"$RUN/vis-relayed.toml"
{ client_head 7401; xtcp_visitor bulk bulk-f 6100; } >"$RUN/vis-cone.toml"
visitor_start vis-direct nb1 "$RUN/vis-direct.toml"
visitor_start vis-relayed nb1 "$RUN/vis-relayed.toml"
visitor_start vis-cone fb1 "$RUN/vis-cone.toml"

# recover WHEN: a burrow process that died during WHEN (an abort, see the
# header) is noted in crashes.tsv with the last lines of its log, kept as
# crash-K-LABEL.log; its owner and the visitors of that owner are started
# again and warmed up, so that the remaining rows are still measured.
declare -A VHOST=([vis-direct]=nb1 [vis-relayed]=nb1 [vis-cone]=fb1)
declare -A VOWNER=([vis-direct]=n [vis-relayed]=n [vis-cone]=f)
declare -A VPATH=([vis-direct]=direct [vis-relayed]=relayed [vis-cone]=cone-direct)
NCRASH=0
recover() {
  local l k s v why restart_o=() restart_v=() IN_RECOVER=1
  lab__alive "$(pid_of burrowd)" || die "burrowd died during $1"
  for l in owner-n owner-f vis-direct vis-relayed vis-cone; do
    [ -e "$BW_LAB_STATE/pids/$l" ] || continue
    lab__alive "$(pid_of "$l")" && continue
    NCRASH=$((NCRASH + 1))
    k=$NCRASH
    cp "$(lab_log_path "$l")" "$RUN/crash-$k-$l.log"
    why=$(grep -aE 'double free|Assertion|corruption|Segmentation|Aborted|free\(\)' "$(lab_log_path "$l")" | tail -n1 || true)
    # Its exit status, from the shell that started it (lab_spawn's child).
    local st=0
    wait "$(pid_of "$l")" 2>/dev/null || st=$?
    [ "$st" -le 128 ] || [ "$st" = 255 ] || why="${why:+$why; }killed by signal $((st - 128)) ($(kill -l $((st - 128)) 2>/dev/null || echo ?))"
    printf 'crash\t%s\t%s\t%s\t%s\t%s\n' "$k" "$l" "$1" "${why:-exited}" \
      "$(grep -a 'closed:' "$(lab_log_path "$l")" | tail -n2 | sed 's/^[0-9-]* //' | tr '\n\t' '  ')" >>"$RUN/crashes.tsv"
    echo "  ! $l died during $1: ${why:-exited}; log kept, restarting it"
    KEEP_LOGS=1
    case $l in
      owner-*) restart_o+=("${l#owner-}") ;;
      *) restart_v+=("$l") ;;
    esac
  done
  for s in "${restart_o[@]}"; do
    lab_stop "owner-$s"
    keep_log "owner-$s"
    lab_spawn "$([ "$s" = n ] && echo na1 || echo fa1)" "owner-$s" "$BURROW" -c "$RUN/owner-$s.toml" >/dev/null
    owner_ready "$s"
    for v in vis-direct vis-relayed vis-cone; do
      [ "${VOWNER[$v]}" = "$s" ] && [ -e "$BW_LAB_STATE/pids/$v" ] && restart_v+=("$v")
    done
  done
  for v in $(printf '%s\n' "${restart_v[@]}" | sort -u); do
    lab_stop "$v"
    keep_log "$v"
    visitor_start "$v" "${VHOST[$v]}" "$RUN/$v.toml"
    warmup "${VPATH[$v]}" "$v"
  done
  return 0
}

# stream TOOL HOST TARGET PORT SECONDS OUT: one bulk stream, its output in OUT.
stream() {
  if [ "$1" = iperf3 ]; then
    lab_exec "$2" timeout $(($5 + 30)) iperf3 -c "$3" -p "$4" -t "$5" -J --connect-timeout 5000 \
      >"$6" 2>&1 || true
  else
    lab_exec "$2" timeout $(($5 + 40)) "$SYS_TPUT" send "$3" "$4" "$5" >"$6" 2>&1 || true
  fi
}

# tput_run COND PATH REP: one stream; appends a row to tput.tsv.
#   plain         kernel TCP nb1 -> na1, no Burrow (the baseline)
#   plain-iperf3  the same with iperf3 (checks the tool; with --iperf3 the
#                 baseline is iperf3 already and this row is not run)
#   direct        nb1 -> visitor -> direct path -> owner-n -> na1's sink
#   relayed       the same through burrowd (p2p.disableDirect)
#   cone-direct   fb1 -> visitor -> direct path through both NATs -> fa1
tput_run() {
  local cond=$1 path=$2 rep=$3 host target port vsite osite labels=() out tool=$TOOL sinkl
  local t0 t1 b0 b1 cv0 cv1 co0 co1 cs0 cs1 k0 k1 ohost dv0 do0 dv1 do1
  case $path in
    plain) host=nb1 target=$NA1 port=$S_BULK vsite=nb osite=na sinkl=sink-n ;;
    plain-iperf3) host=nb1 target=$NA1 port=$S_IPERF vsite=nb osite=na tool=iperf3 ;;
    direct) host=nb1 target=127.0.0.1 port=6100 vsite=nb osite=na sinkl=sink-n labels=(vis-direct owner-n) ;;
    relayed) host=nb1 target=127.0.0.1 port=6200 vsite=nb osite=na sinkl=sink-n labels=(vis-relayed owner-n burrowd) ;;
    cone-direct) host=fb1 target=127.0.0.1 port=6100 vsite=fb osite=fa sinkl=sink-f labels=(vis-cone owner-f) ;;
  esac
  [ "$tool" = sys ] || sinkl=""
  ohost=${osite}1
  local sinklines=0 sinkline=""
  [ -z "$sinkl" ] || sinklines=$(wc -l <"$(lab_log_path "$sinkl")")
  dv0=$(udp_drops "$host") do0=$(udp_drops "$ohost")
  lab_nat_counters_reset "$vsite"
  lab_nat_counters_reset "$osite"
  out=$RUN/stream-$cond-$path-$rep.out
  cv0=0 co0=0 cs0=0 k0=0
  if [ ${#labels[@]} -gt 0 ]; then cv0=$(cpu_ticks "${labels[0]}"); co0=$(cpu_ticks "${labels[1]}"); fi
  if [ ${#labels[@]} -gt 2 ]; then cs0=$(cpu_ticks "${labels[2]}"); fi
  if [ -n "$sinkl" ]; then k0=$(cpu_ticks "$sinkl"); fi
  b0=$(busy_ticks)
  t0=$(date +%s.%N)
  stream "$tool" "$host" "$target" "$port" "$T" "$out"
  t1=$(date +%s.%N)
  b1=$(busy_ticks)
  cv1=0 co1=0 cs1=0 k1=0
  if [ ${#labels[@]} -gt 0 ]; then cv1=$(cpu_ticks "${labels[0]}"); co1=$(cpu_ticks "${labels[1]}"); fi
  if [ ${#labels[@]} -gt 2 ]; then cs1=$(cpu_ticks "${labels[2]}"); fi
  if [ -n "$sinkl" ]; then
    k1=$(cpu_ticks "$sinkl")
    # The sink's own line for this connection (the last one it logged).
    sinkline=$(tail -n +$((sinklines + 1)) "$(lab_log_path "$sinkl")" | grep '^conn ' | tail -n1 || true)
  fi
  dv1=$(udp_drops "$host") do1=$(udp_drops "$ohost")
  local udp_vo udp_ov tcp_vo srv_v srv_o
  read -r udp_vo udp_ov < <(lab_udp_between "$vsite" "$osite")
  tcp_vo=$(lab_nat_bytes "$vsite" out tcp "$(lab_public_addr "$osite")")
  srv_v=$(lab_nat_bytes "$vsite" out tcp "$SRV")
  srv_o=$(lab_nat_bytes "$osite" in tcp "$SRV")
  python3 - "$out" "$cond" "$path" "$rep" "$((cv1 - cv0))" "$((co1 - co0))" "$((cs1 - cs0))" "$CLK_TCK" \
    "$t0" "$t1" "$udp_vo" "$udp_ov" "$tcp_vo" "$srv_v" "$srv_o" "$((b1 - b0))" "$((k1 - k0))" \
    "$((do1 - do0))" "$((dv1 - dv0))" "$sinkline" >>"$TPUT" <<'PY'
import json, re, sys
(out, cond, path, rep, cv, co, cs, hz, t0, t1, udp_vo, udp_ov, tcp_vo, srv_v, srv_o, busy,
 sink, drops_o, drops_v, sinkline) = sys.argv[1:]
note = ""
hz = float(hz)
err = ""
gbit = nbytes = retr = hcpu = rcpu = 0
text = open(out).read()
try:
    if text.lstrip().startswith("{"):  # iperf3 -J
        d = json.loads(text)
        err = d.get("error", "")
        s = d["end"]["sum_received"]
        gbit, nbytes = s["bits_per_second"] / 1e9, s["bytes"]
        retr = d["end"].get("sum_sent", {}).get("retransmits", 0)
        cu = d["end"].get("cpu_utilization_percent", {})
        dur = s.get("seconds", 0)
        hcpu = cu.get("host_total", 0) / 100 * dur
        rcpu = cu.get("remote_total", 0) / 100 * dur
    elif "failed after" in sinkline:
        # The sink got part of the stream, then nothing for 20 s (its read
        # timeout): the stream stalled inside Burrow.
        got = re.search(r"failed after (\d+) bytes", sinkline).group(1)
        sent = re.search(r"after (\d+) bytes sent", text)
        err = "stalled: the sink got %s bytes of %s sent, then nothing for 20 s" % (
            got, sent.group(1) if sent else "?")
    elif "no answer from the sink after" in text and "bytes=" in sinkline:
        # Every byte reached the sink, which logged its figure, and the
        # answer was lost on the way back (a forwarder died at the close).
        sent = int(re.search(r"after (\d+) bytes sent", text).group(1))
        m = dict(re.findall(r"(\w+)=([0-9]+)", sinkline))
        nbytes, ns = int(m["bytes"]), int(m["ns"])
        if nbytes != sent or ns == 0:
            raise ValueError("the sink read %d of %d bytes" % (nbytes, sent))
        gbit, retr, rcpu = nbytes * 8 / ns, 0, int(sink) / hz
        note = "answer lost; figure from the sink's log"
    else:  # sys_tput send
        m = dict(re.findall(r"(\w+)=([0-9.]+)", text.strip().splitlines()[-1]))
        gbit, nbytes, retr = float(m["gbit"]), int(m["bytes"]), int(m["retrans"])
        hcpu, rcpu = float(m["cpu_s"]), int(sink) / hz
        if int(m["sent"]) != nbytes:
            err = "sent %s bytes, the sink read %s" % (m["sent"], m["bytes"])
except Exception as e:
    err = err or "no result (%s: %r)" % (type(e).__name__, text[-300:])
# lab_nat_bytes may print large sums in exponent form.
udp_vo, udp_ov, tcp_vo, srv_v, srv_o = (int(float(x)) for x in (udp_vo, udp_ov, tcp_vo, srv_v, srv_o))
# The path the bytes took, from the NAT edges' counters: the payload crossed
# as UDP between the sites (direct), as TCP to burrowd from the visitor's
# site and from burrowd into the owner's (relayed) or as TCP between the
# sites (plain).
via = "unclear"
if nbytes > 0:
    if udp_vo >= 0.9 * nbytes and srv_v < 0.1 * nbytes:
        via = "direct"
    elif srv_v >= 0.9 * nbytes and srv_o >= 0.9 * nbytes and udp_vo < 0.1 * nbytes:
        via = "relayed"
    elif tcp_vo >= 0.9 * nbytes:
        via = "plain"
print("\t".join([cond, path, rep, "%.4f" % gbit, str(nbytes), "%.3f" % (int(cv) / hz),
                 "%.3f" % (int(co) / hz), "%.3f" % (int(cs) / hz), "%.3f" % hcpu, "%.3f" % rcpu,
                 str(retr), via, "%.3f" % (float(t1) - float(t0)), "%.3f" % (int(busy) / hz),
                 str(udp_vo), str(srv_v), err.replace("\t", " ").replace("\n", " "), drops_o, drops_v,
                 note]))
PY
  local row
  row=$(tail -n1 "$TPUT")
  awk -F'\t' -v t="$T" '{
    if ($17 != "") { printf "  %-9s %-12s run %s: error: %s\n", $1, $2, $3, $17; exit }
    cpu = $6 + $7 + $8
    printf "  %-9s %-12s run %s: %8.1f Mbit/s  path %-7s retransmits %-6s burrow CPU %5.2f s (%3.0f%% of a core)  UDP rcvbuf drops %s/%s\n",
      $1, $2, $3, $4 * 1000, $12, $11, cpu, 100 * cpu / t, $18, $19
  }' <<<"$row"
  [ -z "$(cut -f20 <<<"$row")" ] || echo "    note: $(cut -f20 <<<"$row")"
  if [[ $(cut -f17 <<<"$row") == stalled* ]] && [ ${#labels[@]} -gt 0 ]; then
    # Evidence while the session is still up: both ends' status.
    local st=$RUN/stall-$cond-$path-$rep.status
    { echo "== ${labels[0]}"; lab_exec "$host" timeout 5 "$BURROW" status -c "$RUN/${labels[0]}.toml" --json
      echo; echo "== ${labels[1]}"; lab_exec "$ohost" timeout 5 "$BURROW" status -c "$RUN/${labels[1]}.toml" --json
      echo; } >"$st" 2>&1 || true
    echo "    status of both ends kept in $(basename "$st")"
    KEEP_LOGS=1
  fi
  recover "$cond/$path/$rep"
  # A failed run can leave iperf3 -s waiting on a dead test: restart it.
  if [ -n "$(cut -f17 <<<"$row")" ] && [ "$tool" = iperf3 ]; then
    local s=n h=na1
    [ "$osite" = fa ] && s=f h=fa1
    lab_stop "iperf3-$s"
    lab_spawn "$h" "iperf3-$s" iperf3 -s -p "$S_IPERF" --forceflush >/dev/null
    lab_wait_log "iperf3-$s" 'Server listening' 10 || die "iperf3 -s did not restart"
  fi
}

# The warm-up streams (1 s, not counted): each opens its visitor's session.
warmup() { # warmup PATH VISITOR
  local host=nb1 port=6100 path dms ums
  case $1 in relayed) port=6200 ;; cone-direct) host=fb1 ;; esac
  stream "$TOOL" "$host" 127.0.0.1 "$port" 1 "$RUN/warmup-$1.out"
  grep -qE '^bytes=|"sum_received"' "$RUN/warmup-$1.out" ||
    echo "  warm-up through $1 failed: $(tail -c 300 "$RUN/warmup-$1.out")"
  read -r path dms ums <<<"$(decision "$(lab_log_path "$2")" bulk)"
  echo "  warm-up $1: session path $path (direct after $dms ms, up after $ums ms)"
  [ "${IN_RECOVER:-0}" = 1 ] || recover "warm-up $1"
  printf 'session\t%s\t%s\t%s\t%s\n' "$1" "$path" "$dms" "$ums" >>"$META.sessions"
}

echo "2/3 throughput, no delay or loss: $T s per stream, one stream, $REPS interleaved run(s)"
warmup direct vis-direct
warmup relayed vis-relayed
warmup cone-direct vis-cone
if [ "$TOOL" = sys ]; then
  CLEAN_PATHS=(plain plain-iperf3 direct relayed cone-direct)
  LOSSY_PATHS=(plain plain-iperf3 direct relayed)
else
  CLEAN_PATHS=(plain direct relayed cone-direct)
  LOSSY_PATHS=(plain direct relayed)
fi
for ((rep = 1; rep <= REPS; rep++)); do
  for path in "${CLEAN_PATHS[@]}"; do
    tput_run clean "$path" "$rep"
  done
  alive burrowd
done
echo

# ---- 3. 20 ms RTT, 0% and 1% loss --------------------------------------------
echo "3/3 one stream at 20 ms RTT (delay ${DELAY_MS} ms each way on na's uplink), loss 0% and $LOSS each way"
lab_knob na delay "${DELAY_MS}ms"
rtt_check() { # rtt_check COND
  local a l
  for pr in "nb1 $NA1 direct/plain" "nb1 $SRV visitor-burrowd" "na1 $SRV owner-burrowd"; do
    read -r from to what <<<"$pr"
    read -r a l < <(ping_rtt "$from" "$to")
    printf 'rtt\t%s\t%s\t%s\t%s\n' "$1" "$what" "$a" "$l" >>"$RTTS"
    printf '  ping %-16s (%s -> %s): avg %s ms, loss %s\n' "$what" "$from" "$to" "$a" "$l"
  done
}
rtt_check 20ms
# Fresh sessions on the 20 ms path: a session that learnt a 0.1 ms minimum
# RTT keeps it (BBR's filter) and sends far below the path's rate for a while
# after the RTT steps up, which is the lab's doing, not a path's.
fresh_visitors() {
  local v
  for v in vis-direct vis-relayed; do
    lab_stop "$v"
    keep_log "$v"
    visitor_start "$v" "${VHOST[$v]}" "$RUN/$v.toml"
    warmup "${VPATH[$v]}" "$v"
  done
}
fresh_visitors
for ((rep = 1; rep <= REPS; rep++)); do
  for path in "${LOSSY_PATHS[@]}"; do
    tput_run 20ms "$path" "$rep"
  done
  alive burrowd
done
lab_knob na loss "$LOSS"
rtt_check 20ms-loss
fresh_visitors
for ((rep = 1; rep <= REPS; rep++)); do
  for path in "${LOSSY_PATHS[@]}"; do
    tput_run 20ms-loss "$path" "$rep"
  done
  alive burrowd
done
lab_knob na clear
echo

# Each visitor's final word on its session (evidence when a path changed).
for v in vis-direct vis-relayed vis-cone; do
  grep -E 'visitor bulk: (direct|relayed|no direct|session up|.*closed)|-> (direct|relayed|probing)' \
    "$(lab_log_path "$v")" | tail -n 6 | sed "s/^/  $v| /" >"$RUN/$v.path" || true
  lab_exec "$([ $v = vis-cone ] && echo fb1 || echo nb1)" timeout 5 "$BURROW" status -c "$RUN/$v.toml" \
    >"$RUN/$v.status" 2>&1 || true
done
printf 'loadavg_after\t%s\nelapsed_s\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" "$((SECONDS - STARTED))" >>"$META"

echo "==== results ===="
echo
report_rc=0
python3 "$REPORT" "$RUN" || report_rc=$?
echo
echo "visitor path lines (last ones):"
cat "$RUN"/vis-*.path
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); took $((SECONDS - STARTED)) s"
[ "$report_rc" -eq 0 ] || { echo "p2p.sh: some figures could not be measured (errors above)" >&2; KEEP_LOGS=1; }
exit "$report_rc"
