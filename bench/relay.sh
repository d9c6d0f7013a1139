#!/usr/bin/env bash
# bench/relay.sh: the relay against a direct connection, socat and nginx, in
# one run and under the same load. Not a test: it prints figures, ratios and
# the targets of issue 4 as PASS/FAIL lines, and exits 0 unless something
# could not be measured (a process died, bytes came back wrong).
#
#   iperf3 -c ──> direct ─────────────────────────────────> iperf3 -s
#             ──> socat (fork per connection) ────────────> iperf3 -s
#             ──> nginx stream (1 worker) ────────────────> iperf3 -s
#             ──> nginx2 stream ──> nginx stream ─────────> iperf3 -s
#             ──> burrowd proxy port ──work conn──> burrow ──> iperf3 -s
#   bench_rtt ping/connect/hold ──> the same five paths ──> bench_rtt serve
#   bench_rtt ping split ──> the same five paths ──> bench_rtt serve 0 64
#   wrk ──> nginx proxy_pass ─────────────────────────────> nginx backend
#       ──> nginx2 proxy_pass ──> nginx stream ───────────> nginx backend
#       ──> burrowd vhostHTTPPort ──work conn──> burrow ──> nginx backend
#
# A relayed byte crosses two forwarding processes (burrowd, then burrow);
# through nginx's stream proxy it crosses one. "nginx2" chains two nginx
# processes, each with one worker, the same two-hop topology as the relay:
# the targets of issue 4 are against one nginx, and the report also gives
# the ratio to the two chained ones.
#
# Everything listens on 127.0.0.1 with ports from the OS; every process is
# stopped by PID on exit. Usage:
#
#   bash bench/relay.sh [--quick] [--perf] [--no-build] [--only PHASES]
#
#   --quick     iperf3 -t 2, one run each, fewer round trips and connections
#               (about 35 s; the full run takes about 4 minutes)
#   --perf      one more single-stream run per path, counting each
#               forwarder's system calls per MB, and a perf profile of
#               burrowd and burrow (about 20 s more); in the http phase, one
#               more wrk run per proxy counting system calls per request,
#               and a profile of burrowd and burrow
#   --no-build  use the binaries as they are in the build directory
#   --only P    run only these phases, comma-separated: tput, lat, mem, http
#               (e.g. --only http)
#
# BW_BUILD names the build directory (default build-bench, configured as
# Release when absent). BW_BASE_BUILD names a second build directory (its
# burrowd and burrow must exist): the http phase then also measures that
# build's burrowd + burrow, as "relay_base", interleaved with the others,
# to compare two versions in one run. BW_REPS sets the number of
# interleaved runs of each measurement (3, or 1 with --quick). BW_KEEP=1
# keeps the run directory with every log.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BW_BUILD:-$ROOT/build-bench}
QUICK=0
PERF=0
DO_BUILD=1
ONLY=tput,lat,mem,http
usage() {
  echo "usage: bash bench/relay.sh [--quick] [--perf] [--no-build] [--only tput,lat,mem,http]" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1 ;;
    --perf) PERF=1 ;;
    --no-build) DO_BUILD=0 ;;
    --only) [ $# -ge 2 ] || usage; ONLY=$2; shift ;;
    --only=*) ONLY=${1#--only=} ;;
    *) usage ;;
  esac
  shift
done
for phase in ${ONLY//,/ }; do
  case $phase in tput | lat | mem | http) ;; *) usage ;; esac
done
want() { [[ ",$ONLY," == *",$1,"* ]]; }
BASE=${BW_BASE_BUILD:-}
if [ -n "$BASE" ]; then
  for b in "$BASE/cmd/burrowd" "$BASE/cmd/burrow"; do
    [ -x "$b" ] || { echo "relay.sh: BW_BASE_BUILD: $b missing" >&2; exit 1; }
  done
fi

if [ "$QUICK" = 1 ]; then
  T=2 REPS=1 PING_N=2000 SPLIT_N=300 CONNECT_N=300 HOLD_WANT=2000 WRK_D=2
else
  T=5 REPS=3 PING_N=7000 SPLIT_N=400 CONNECT_N=700 HOLD_WANT=10000 WRK_D=5
fi
REPS=${BW_REPS:-$REPS}
SIZE=64
TOKEN="bench-relay-$$"

# ---- tools -------------------------------------------------------------------
need() { # need CMD PACKAGE
  command -v "$1" >/dev/null || { echo "relay.sh: $1 not found: apt-get install $2" >&2; exit 1; }
}
need iperf3 iperf3
need socat socat
need python3 python3
need nginx nginx-light

# nginx's stream proxy: built in, or Debian's loadable module.
STREAM_SO=/usr/lib/nginx/modules/ngx_stream_module.so
NGINX_STREAM=""
if nginx -V 2>&1 | grep -q -- '--with-stream\( \|$\)'; then
  NGINX_STREAM=static
elif nginx -V 2>&1 | grep -q -- '--with-stream=dynamic' && [ -f "$STREAM_SO" ]; then
  NGINX_STREAM=module
fi

if [ "$DO_BUILD" = 1 ]; then
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  if ! cmake --build "$BUILD" --target burrowd burrow bench_rtt -j2 >"/tmp/bw-bench-build.$$.log" 2>&1; then
    grep -E 'error|Error' "/tmp/bw-bench-build.$$.log" | head -n 20 >&2
    echo "relay.sh: build failed (log: /tmp/bw-bench-build.$$.log)" >&2
    exit 1
  fi
  rm -f "/tmp/bw-bench-build.$$.log"
fi
BURROWD=$BUILD/cmd/burrowd
BURROW=$BUILD/cmd/burrow
RTT=$BUILD/bench/bench_rtt
for b in "$BURROWD" "$BURROW" "$RTT"; do
  [ -x "$b" ] || { echo "relay.sh: $b missing: build it or drop --no-build" >&2; exit 1; }
done
grep -q 'CMAKE_BUILD_TYPE:STRING=Release' "$BUILD/CMakeCache.txt" 2>/dev/null ||
  echo "relay.sh: warning: $BUILD is not a Release build" >&2

# 10,000 relayed connections need 20,000 descriptors in burrowd and in burrow
# (the user's and the work connection's, or the work and the local one).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)

# ---- processes ------------------------------------------------------------------
RUN=$(mktemp -d "${TMPDIR:-/tmp}/bw-bench-relay.XXXXXX")
declare -A PID=()
STARTED=$SECONDS

cleanup() {
  local name
  for name in "${!PID[@]}"; do
    kill -TERM "${PID[$name]}" 2>/dev/null || true
  done
  for name in "${!PID[@]}"; do
    wait "${PID[$name]}" 2>/dev/null || true
  done
  if [ "${BW_KEEP:-0}" = 1 ]; then
    echo "relay.sh: logs kept in $RUN"
  else
    rm -rf "$RUN"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
  echo "relay.sh: $*" >&2
  local f
  for f in "$RUN"/*.log; do
    [ -f "$f" ] || continue
    echo "---- $(basename "$f") (last lines)" >&2
    tail -n 8 "$f" >&2
  done
  exit 1
}

# start NAME CMD...: run CMD in the background, output in $RUN/NAME.log.
start() {
  local name=$1; shift
  "$@" >"$RUN/$name.log" 2>&1 &
  PID[$name]=$!
}

# wait_log NAME REGEX [SECONDS] [FILE]: until FILE (default NAME's log)
# matches REGEX; fails if NAME exits first.
wait_log() {
  local name=$1 re=$2 limit=${3:-20} file=${4:-$RUN/$1.log} i
  for ((i = 0; i < limit * 20; i++)); do
    grep -Eq -- "$re" "$file" 2>/dev/null && return 0
    if ! kill -0 "${PID[$name]}" 2>/dev/null; then
      grep -Eq -- "$re" "$file" 2>/dev/null && return 0
      die "$name exited before logging /$re/"
    fi
    sleep 0.05
  done
  die "$name did not log /$re/ within ${limit}s"
}

stop() { # stop NAME: SIGTERM and reap
  local name=$1
  [ -n "${PID[$name]:-}" ] || return 0
  kill -TERM "${PID[$name]}" 2>/dev/null || true
  wait "${PID[$name]}" 2>/dev/null || true
  unset "PID[$name]"
}

alive() { kill -0 "${PID[$1]}" 2>/dev/null || die "$1 died"; }

# perf_profile DATA TITLE N: where the samples of a perf record went, by
# process and library, then the N busiest functions.
perf_profile() {
  echo
  echo "$2 (% of samples):"
  perf report -i "$1" --no-children --sort comm,dso --stdio 2>/dev/null |
    grep -E '^ +[0-9.]+%' | head -n 8 || true
  echo
  perf report -i "$1" --no-children --sort comm,sym --stdio -g none 2>/dev/null |
    grep -E '^ +[0-9.]+%' | head -n "$3" || true
}

# free_ports N: N distinct ports the OS has just handed out.
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# cpu_s PID...: CPU seconds (user + system, with reaped children) so far.
CLK_TCK=$(getconf CLK_TCK)
cpu_s() {
  local p total=0 f
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    # Fields after the command name: 14-17 are utime stime cutime cstime.
    f=$(sed -E 's/^.*\) //' "/proc/$p/stat" | awk '{print $12 + $13 + $14 + $15}')
    total=$((total + f))
  done
  echo "$total $CLK_TCK" | awk '{printf "%.3f", $1 / $2}'
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
nfds() { ls "/proc/$1/fd" | wc -l; }

# Busy CPU of the whole machine, in ticks, from /proc/stat.
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }

# Our own CPU (daemons plus reaped children like iperf3 -c) against the whole
# machine's, to tell how busy the two cores were with other jobs in a phase.
ours() { cpu_s $$ "${PID[@]}" $NGINX_WORKER $NGINX2_WORKER; }
phase_begin() { busy0=$(busy_ticks); ours0=$(ours); t0=$(date +%s.%N); }
phase_end() { # phase_end NAME: records other_load_NAME in meta
  local other
  other=$(awk -v b0="$busy0" -v b1="$(busy_ticks)" -v o0="$ours0" -v o1="$(ours)" -v hz="$CLK_TCK" \
    -v t0="$t0" -v t1="$(date +%s.%N)" -v n="$(nproc)" \
    'BEGIN { o = (b1 - b0) / hz - (o1 - o0); if (o < 0) o = 0; printf "%.0f", 100 * o / ((t1 - t0) * n) }')
  printf 'other_load_%s\t%s\n' "$1" "$other" >>"$META"
  echo "  other jobs used about $other% of the machine's CPU meanwhile"
}

# ---- machine ---------------------------------------------------------------------
META=$RUN/meta
{
  printf 't\t%s\nreps\t%s\nsize\t%s\nping_n\t%s\nsplit_n\t%s\nconnect_n\t%s\n' "$T" "$REPS" "$SIZE" \
    "$PING_N" "$SPLIT_N" "$CONNECT_N"
} >"$META"
echo "Burrow relay benchmark ($([ "$QUICK" = 1 ] && echo quick || echo full) run)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), kernel $(uname -r)"
echo "burrow: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo ' (working tree has changes)'), $BUILD"
echo "tools: $(iperf3 --version | head -n1 | awk '{print $1, $2}'), socat $(socat -V | awk '/socat version/ {print $3}'), nginx $(nginx -v 2>&1 | sed 's/.*\///'), open files $NOFILE"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# ---- services ---------------------------------------------------------------------
# The servers that take a port from the OS listen before free_ports asks
# for the others: a port free_ports handed out and released could otherwise
# be theirs by the time nginx binds it.
start serve "$RTT" serve 0
# Message mode: answers whole $SIZE-byte requests, each in two writes.
start serve_msg "$RTT" serve 0 "$SIZE"
wait_log serve 'serve: listening on'
wait_log serve_msg 'serve: listening on'
P_SERVE=$(grep -Eo '127\.0\.0\.1:[0-9]+' "$RUN/serve.log" | head -n1 | cut -d: -f2)
P_SERVE_MSG=$(grep -Eo '127\.0\.0\.1:[0-9]+' "$RUN/serve_msg.log" | head -n1 | cut -d: -f2)
read -r P_IPERF P_SOCAT_IPERF P_SOCAT_RTT P_SOCAT_MSG P_NGINX_IPERF P_NGINX_RTT P_NGINX_MSG \
  P_NGINX_HTTP P_BACKEND P_VHOST P_NGINX2_IPERF P_NGINX2_RTT P_NGINX2_MSG P_NGINX2_HTTP \
  P_NGINX_BSTREAM P_VHOST_BASE <<<"$(free_ports 16)"

start iperf3s iperf3 -s -B 127.0.0.1 -p "$P_IPERF" --forceflush
wait_log iperf3s 'Server listening on'

start socat_iperf socat -d -d "TCP-LISTEN:$P_SOCAT_IPERF,bind=127.0.0.1,fork,reuseaddr,backlog=1024" "TCP:127.0.0.1:$P_IPERF"
start socat_rtt socat -d -d "TCP-LISTEN:$P_SOCAT_RTT,bind=127.0.0.1,fork,reuseaddr,backlog=1024" "TCP:127.0.0.1:$P_SERVE"
start socat_msg socat -d -d "TCP-LISTEN:$P_SOCAT_MSG,bind=127.0.0.1,fork,reuseaddr,backlog=1024" "TCP:127.0.0.1:$P_SERVE_MSG"
wait_log socat_iperf 'listening on'
wait_log socat_rtt 'listening on'
wait_log socat_msg 'listening on'

# nginx (stream proxy, http reverse proxy) and its http backend, each in its
# own prefix, in the foreground.
nginx_conf() { # nginx_conf TEMPLATE PREFIX
  local user="" load=""
  mkdir -p "$2"
  [ "$(id -u)" = 0 ] && user="user $(id -un) $(id -gn);"
  [ "$NGINX_STREAM" = module ] && load="load_module $STREAM_SO;"
  sed -e "s|@USER@|$user|" -e "s|@LOAD_STREAM@|$load|" -e "s|@PREFIX@|$2|g" \
    -e "s|@IPERF@|$P_IPERF|" -e "s|@SERVE@|$P_SERVE|" -e "s|@BACKEND@|$P_BACKEND|g" \
    -e "s|@SERVE_MSG@|$P_SERVE_MSG|" -e "s|@NGINX_MSG@|$P_NGINX_MSG|" \
    -e "s|@NGINX_IPERF@|$P_NGINX_IPERF|" -e "s|@NGINX_RTT@|$P_NGINX_RTT|" \
    -e "s|@NGINX_HTTP@|$P_NGINX_HTTP|" -e "s|@NGINX_BSTREAM@|$P_NGINX_BSTREAM|" \
    -e "s|@NGINX2_IPERF@|$P_NGINX2_IPERF|" -e "s|@NGINX2_RTT@|$P_NGINX2_RTT|" \
    -e "s|@NGINX2_MSG@|$P_NGINX2_MSG|" -e "s|@NGINX2_HTTP@|$P_NGINX2_HTTP|" \
    "$ROOT/bench/relay/$1" >"$2/nginx.conf"
}
NGINX_WORKER=""
NGINX2_WORKER=""
if [ -n "$NGINX_STREAM" ]; then
  nginx_conf nginx.conf.in "$RUN/nginx"
  start nginx nginx -p "$RUN/nginx/" -c "$RUN/nginx/nginx.conf" -e "$RUN/nginx/error.log"
  wait_log nginx 'start worker process [0-9]+' 20 "$RUN/nginx/error.log"
  NGINX_WORKER=$(grep -Eo 'start worker process [0-9]+' "$RUN/nginx/error.log" | head -n1 | awk '{print $4}')
  # The front hop of the two chained nginx, in front of the first.
  nginx_conf nginx2.conf.in "$RUN/nginx2"
  start nginx2 nginx -p "$RUN/nginx2/" -c "$RUN/nginx2/nginx.conf" -e "$RUN/nginx2/error.log"
  wait_log nginx2 'start worker process [0-9]+' 20 "$RUN/nginx2/error.log"
  NGINX2_WORKER=$(grep -Eo 'start worker process [0-9]+' "$RUN/nginx2/error.log" | head -n1 | awk '{print $4}')
else
  echo "nginx rows skipped: nginx has no stream module (apt-get install libnginx-mod-stream)"
fi

# burrowd, and two burrow clients: one with a warm pool of 5 work
# connections (every tcp figure), one without a pool (cold connects).
cat >"$RUN/burrowd.toml" <<CONF
bindAddr = "127.0.0.1"
bindPort = 0
vhostHTTPPort = $P_VHOST
auth.token = "$TOKEN"
transport.maxPoolCount = 16
CONF
start burrowd "$BURROWD" -c "$RUN/burrowd.toml"
wait_log burrowd 'control listening on 127\.0\.0\.1:[0-9]+'
P_CTL=$(grep -Eo 'control listening on 127\.0\.0\.1:[0-9]+' "$RUN/burrowd.log" | head -n1 | sed 's/.*://')

proxy() { # proxy NAME TYPE LOCALPORT [ENCRYPT]
  printf '\n[[proxies]]\nname = "%s"\ntype = "%s"\nlocalIP = "127.0.0.1"\nlocalPort = %s\n' "$1" "$2" "$3"
  if [ "$2" = http ]; then
    printf 'customDomains = ["bench.test"]\n'
  else
    printf 'remotePort = 0\n'
  fi
  [ "${4:-}" = enc ] && printf 'transport.useEncryption = true\n'
  return 0
}
client_conf() { # client_conf POOL
  printf 'serverAddr = "127.0.0.1"\nserverPort = %s\nauth.token = "%s"\ntransport.poolCount = %s\n' \
    "$P_CTL" "$TOKEN" "$1"
}
{
  client_conf 5
  proxy iperf tcp "$P_IPERF"
  proxy iperf_enc tcp "$P_IPERF" enc
  proxy rtt tcp "$P_SERVE"
  proxy rtt_enc tcp "$P_SERVE" enc
  proxy rtt_msg tcp "$P_SERVE_MSG"
  proxy web http "$P_BACKEND"
} >"$RUN/warm.toml"
{
  client_conf 0
  proxy rtt_cold tcp "$P_SERVE"
} >"$RUN/cold.toml"
start warm "$BURROW" -c "$RUN/warm.toml"
start cold "$BURROW" -c "$RUN/cold.toml"

# remote_port CLIENT PROXY: the port burrowd picked, from the client's log.
remote_port() {
  wait_log "$1" "proxy $2: (started|start error)"
  grep -E "proxy $2: started" "$RUN/$1.log" | head -n1 | grep -Eo -- '-> 127\.0\.0\.1:[0-9]+' | sed 's/.*://' ||
    die "proxy $2 was refused: $(grep -E "proxy $2: start error" "$RUN/$1.log")"
}
R_IPERF=$(remote_port warm iperf)
R_IPERF_ENC=$(remote_port warm iperf_enc)
R_RTT=$(remote_port warm rtt)
R_RTT_ENC=$(remote_port warm rtt_enc)
R_RTT_MSG=$(remote_port warm rtt_msg)
R_RTT_COLD=$(remote_port cold rtt_cold)
wait_log warm 'proxy web: (started|start error)'
HTTP_SKIP=""
if ! grep -Eq 'proxy web: started' "$RUN/warm.log"; then
  HTTP_SKIP="burrowd: $(grep -E 'proxy web: start error' "$RUN/warm.log" | sed 's/.*start error: //')"
fi

# BW_BASE_BUILD: the other build's burrowd and burrow, for the http phase.
HTTP_PATHS=(direct nginx nginx2 relay)
if [ -n "$BASE" ] && want http && [ -z "$HTTP_SKIP" ]; then
  sed -e "s/^vhostHTTPPort.*/vhostHTTPPort = $P_VHOST_BASE/" "$RUN/burrowd.toml" >"$RUN/burrowd_base.toml"
  start burrowd_base "$BASE/cmd/burrowd" -c "$RUN/burrowd_base.toml"
  wait_log burrowd_base 'control listening on 127\.0\.0\.1:[0-9]+'
  P_CTL_BASE=$(grep -Eo 'control listening on 127\.0\.0\.1:[0-9]+' "$RUN/burrowd_base.log" | head -n1 | sed 's/.*://')
  {
    client_conf 5 | sed "s/^serverPort = .*/serverPort = $P_CTL_BASE/"
    proxy web http "$P_BACKEND"
  } >"$RUN/warm_base.toml"
  start warm_base "$BASE/cmd/burrow" -c "$RUN/warm_base.toml"
  wait_log warm_base 'proxy web: started'
  HTTP_PATHS=(direct nginx nginx2 relay_base relay)
  printf 'http_base\t%s\n' "$BASE" >>"$META"
fi

port_of() { # port_of TEST PATH
  case $1/$2 in
    iperf/direct) echo "$P_IPERF" ;;      iperf/socat) echo "$P_SOCAT_IPERF" ;;
    iperf/nginx) echo "$P_NGINX_IPERF" ;; iperf/relay) echo "$R_IPERF" ;;
    iperf/nginx2) echo "$P_NGINX2_IPERF" ;;
    iperf/relay_enc) echo "$R_IPERF_ENC" ;;
    rtt/direct) echo "$P_SERVE" ;;        rtt/socat) echo "$P_SOCAT_RTT" ;;
    rtt/nginx) echo "$P_NGINX_RTT" ;;     rtt/relay | rtt/relay_warm) echo "$R_RTT" ;;
    rtt/nginx2) echo "$P_NGINX2_RTT" ;;   msg/nginx2) echo "$P_NGINX2_MSG" ;;
    rtt/relay_enc) echo "$R_RTT_ENC" ;;   rtt/relay_cold) echo "$R_RTT_COLD" ;;
    msg/direct) echo "$P_SERVE_MSG" ;;    msg/socat) echo "$P_SOCAT_MSG" ;;
    msg/nginx) echo "$P_NGINX_MSG" ;;     msg/relay) echo "$R_RTT_MSG" ;;
  esac
}
# The processes that forward for a path: "A B" (B only for the relay).
fwd_pids() {
  case $1 in
    socat) echo "${PID[socat_iperf]}" ;;
    nginx) echo "$NGINX_WORKER" ;;
    nginx2) echo "$NGINX2_WORKER $NGINX_WORKER" ;;
    relay | relay_enc) echo "${PID[burrowd]} ${PID[warm]}" ;;
  esac
}

PATHS=(direct socat)
[ -n "$NGINX_STREAM" ] && PATHS+=(nginx nginx2)
PATHS+=(relay relay_enc)

# ---- 1. throughput -----------------------------------------------------------------
if want tput; then
  echo "1/4 throughput: iperf3 -t $T, 1 and 8 streams, ${#PATHS[@]} paths, $REPS run(s) each, interleaved"
  TPUT=$RUN/tput.tsv
  : >"$TPUT"
  fds_before=$(nfds "${PID[burrowd]}")
  phase_begin
  for ((rep = 1; rep <= REPS; rep++)); do
    for streams in 1 8; do
      for path in "${PATHS[@]}"; do
        port=$(port_of iperf "$path")
        read -r pa pb <<<"$(fwd_pids "$path") "
        ca0=$( [ -n "$pa" ] && cpu_s "$pa" || echo 0 ); cb0=$( [ -n "$pb" ] && cpu_s "$pb" || echo 0 )
        out=$RUN/iperf-$path-$streams-$rep.json
        timeout $((T + 30)) iperf3 -c 127.0.0.1 -p "$port" -t "$T" -P "$streams" -J \
          --connect-timeout 5000 >"$out" 2>&1 || true
        ca1=$( [ -n "$pa" ] && cpu_s "$pa" || echo 0 ); cb1=$( [ -n "$pb" ] && cpu_s "$pb" || echo 0 )
        python3 - "$out" "$path" "$streams" "$rep" "$ca0" "$ca1" "$cb0" "$cb1" >>"$TPUT" <<'EOF'
import json, sys
out, path, streams, rep, ca0, ca1, cb0, cb1 = sys.argv[1:]
err = ""
try:
    d = json.load(open(out))
    err = d.get("error", "")
    s = d["end"]["sum_received"]
    gbit, nbytes = s["bits_per_second"] / 1e9, s["bytes"]
except Exception as e:
    gbit, nbytes = 0, 0
    err = err or f"no result ({type(e).__name__}: {open(out).read()[-200:]!r})"
print("\t".join([path, streams, rep, f"{gbit:.3f}", str(nbytes),
                 f"{float(ca1) - float(ca0):.3f}", f"{float(cb1) - float(cb0):.3f}",
                 err.replace("\t", " ").replace("\n", " ")]))
EOF
        printf '  run %d, %d stream(s), %-9s %s\n' "$rep" "$streams" "$path" \
          "$(tail -n1 "$TPUT" | awk -F'\t' '{ if ($8 != "") print "error: " $8; else print $4 " Gbit/s"}')"
        alive burrowd; alive warm
      done
    done
  done
  phase_end tput
  # Every relayed connection of these runs has ended by now: burrowd should be
  # back to its descriptors from before (give or take the pool's refill).
  for ((i = 0; i < 100; i++)); do
    [ "$(nfds "${PID[burrowd]}")" -le $((fds_before + 2)) ] && break
    sleep 0.05
  done
  left=$(( ($(nfds "${PID[burrowd]}") - fds_before) / 2 ))
  if [ "$left" -gt 1 ]; then
    printf 'tput_left_open\t%s\n' "$left" >>"$META"
    echo "  burrowd still relays about $left connections 5 s after the iperf3 runs ended (open pairs not closed)"
  fi

  if [ "$PERF" = 1 ]; then
    if command -v perf >/dev/null; then
      # One more single-stream run per path, counting each forwarder's system
      # calls, and a profile of burrowd and burrow on the plain relay.
      echo "  perf: system calls per MB and a profile, one more single-stream run per path"
      PERFOUT=$RUN/perf.txt
      : >"$PERFOUT"
      for path in "${PATHS[@]}"; do
        [ "$path" = direct ] && continue
        [ "$path" = socat ] && continue # a process per connection: not counted
        port=$(port_of iperf "$path")
        read -r pa pb <<<"$(fwd_pids "$path") "
        perfs=()
        for p in $pa $pb; do
          perf stat -x, -e raw_syscalls:sys_enter -p "$p" -o "$RUN/pstat-$path-$p.txt" -- sleep $((T + 1)) &
          perfs+=($!)
        done
        if [ "$path" = relay ]; then
          perf record -q -F 999 -g -o "$RUN/perf.data" -p "${PID[burrowd]},${PID[warm]}" -- sleep "$T" >/dev/null 2>&1 &
          perfs+=($!)
        fi
        out=$RUN/iperf-perf-$path.json
        timeout $((T + 30)) iperf3 -c 127.0.0.1 -p "$port" -t "$T" -J >"$out" 2>&1 || true
        wait "${perfs[@]}" || true
        nbytes=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["end"]["sum_received"]["bytes"])' "$out" 2>/dev/null || echo 0)
        hop=1
        for p in $pa $pb; do
          n=$(awk -F, '/raw_syscalls:sys_enter/ {print $1}' "$RUN/pstat-$path-$p.txt")
          name=$(cat "/proc/$p/comm")
          [ -n "$pb" ] && name="$name#$hop" # the hop, in the byte's order
          hop=$((hop + 1))
          printf '%-10s %-9s %12s system calls for %6.0f MB: %6.1f per MB\n' "$path" "$name" "$n" \
            "$(echo "$nbytes" | awk '{print $1 / 1e6}')" \
            "$(echo "$n $nbytes" | awk '{ if ($2 > 0) print $1 / ($2 / 1e6); else print 0 }')" >>"$PERFOUT"
        done
      done
      perf_profile "$RUN/perf.data" "profile of burrowd and burrow, plain relay, single stream" 16 \
        >>"$PERFOUT"
    else
      echo "  perf not found (apt-get install linux-perf): no profile"
    fi
  fi
  echo
fi

# ---- 2. latency ----------------------------------------------------------------
if want lat; then
  echo "2/4 latency, $REPS interleaved run(s) of: $PING_N round trips of $SIZE B on one connection; $SPLIT_N split ones; $CONNECT_N connect+round trip+close"
  LAT=$RUN/lat.tsv
  : >"$LAT"
  lat_run() { # lat_run ping|split|connect PATH COUNT REP
    local port out
    if [ "$1" = split ]; then
      port=$(port_of msg "$2")
      out=$("$RTT" ping 127.0.0.1 "$port" "$3" "$SIZE" split 2>&1) || true
    else
      port=$(port_of rtt "$2")
      out=$("$RTT" "$1" 127.0.0.1 "$port" "$3" "$SIZE" 2>&1) || true
    fi
    if [[ $out =~ p50_us=([0-9.]+)\ p99_us=([0-9.]+)\ min_us=[0-9.]+\ mean_us=([0-9.]+)\ max_us=([0-9.]+) ]]; then
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n' "$1" "$2" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" \
        "${BASH_REMATCH[3]}" "${BASH_REMATCH[4]}" "$3" >>"$LAT"
      printf '  run %d, %-8s %-11s p50 %8s µs  p99 %8s µs\n' "$4" "$1" "$2" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
    else
      printf '%s\t%s\t\t\t\t\t%s\t%s\n' "$1" "$2" "$3" "$(echo "$out" | tr '\t\n' '  ')" >>"$LAT"
      printf '  run %d, %-8s %-11s error: %s\n' "$4" "$1" "$2" "$out"
    fi
  }
  CPATHS=(direct socat)
  [ -n "$NGINX_STREAM" ] && CPATHS+=(nginx nginx2)
  CPATHS+=(relay_warm relay_cold)
  phase_begin
  for ((rep = 1; rep <= REPS; rep++)); do
    for path in "${PATHS[@]}"; do lat_run ping "$path" "$PING_N" "$rep"; done
    # Request and answer each in two writes, the answer only once the whole
    # request is in: where Nagle's algorithm meets delayed acknowledgements.
    for path in "${PATHS[@]}"; do
      [ "$path" = relay_enc ] || lat_run split "$path" "$SPLIT_N" "$rep"
    done
    for path in "${CPATHS[@]}"; do lat_run connect "$path" "$CONNECT_N" "$rep"; done
    alive burrowd; alive warm; alive cold
  done
  phase_end lat
  echo
fi

# ---- 3. memory --------------------------------------------------------------------
if want mem; then
  # A burrowd and a burrow of their own, so that nothing the other tests left in
  # the heap hides what the connections cost.
  HOLD_N=$(( (NOFILE - 100) / 2 ))
  LIMIT_NOTE=""
  if [ "$HOLD_N" -ge "$HOLD_WANT" ]; then
    HOLD_N=$HOLD_WANT
  else
    LIMIT_NOTE="the hard limit on open files is $NOFILE (ulimit -Hn) and burrowd and burrow each need 2 per relayed connection plus about 30"
  fi
  echo "3/4 memory: $HOLD_N idle relayed connections"
  [ -n "$LIMIT_NOTE" ] && echo "  note: $HOLD_WANT wanted, $HOLD_N possible: $LIMIT_NOTE"
  MEM=$RUN/mem.tsv
  printf 'want\t%s\nn\t%s\nlimit_note\t%s\n' "$HOLD_WANT" "$HOLD_N" "$LIMIT_NOTE" >"$MEM"
  sed -e 's/^vhostHTTPPort.*//' "$RUN/burrowd.toml" >"$RUN/burrowd_m.toml"
  start burrowd_m "$BURROWD" -c "$RUN/burrowd_m.toml"
  wait_log burrowd_m 'control listening on 127\.0\.0\.1:[0-9]+'
  P_CTL_M=$(grep -Eo 'control listening on 127\.0\.0\.1:[0-9]+' "$RUN/burrowd_m.log" | head -n1 | sed 's/.*://')
  {
    client_conf 5 | sed "s/^serverPort = .*/serverPort = $P_CTL_M/"
    proxy hold tcp "$P_SERVE"
  } >"$RUN/warm_m.toml"
  start warm_m "$BURROW" -c "$RUN/warm_m.toml"
  R_HOLD=$(remote_port warm_m hold)
  # One connection through first: what the first use allocates once is not a
  # per-connection cost.
  "$RTT" ping 127.0.0.1 "$R_HOLD" 10 "$SIZE" >/dev/null || die "warm-up through the relay failed"
  closed0=$(grep -c 'relay: proxy hold: .* closed' "$RUN/burrowd_m.log" || true)
  rss_d0=$(rss_kb "${PID[burrowd_m]}"); rss_c0=$(rss_kb "${PID[warm_m]}")
  phase_begin
  start hold "$RTT" hold 127.0.0.1 "$R_HOLD" "$HOLD_N" 256
  wait_log hold 'hold: open:' 150
  echo "  $(grep 'hold: open:' "$RUN/hold.log")"
  kill -USR1 "${PID[hold]}"
  wait_log hold 'hold: verify:' 150
  echo "  $(grep 'hold: verify:' "$RUN/hold.log")"
  held=$(grep -Eo 'open: [0-9]+' "$RUN/hold.log" | awk '{print $2}')
  open_ms=$(grep -Eo 'echoed in [0-9]+ ms' "$RUN/hold.log" | head -n1 | awk '{print $3}')
  verified=$(grep -Eo 'verify: [0-9]+' "$RUN/hold.log" | awk '{print $2}')
  rss_d1=$(rss_kb "${PID[burrowd_m]}"); rss_c1=$(rss_kb "${PID[warm_m]}")
  fds_d1=$(nfds "${PID[burrowd_m]}"); fds_c1=$(nfds "${PID[warm_m]}")
  phase_end mem
  stop hold
  # Every connection closed: burrowd logs one line per relayed connection.
  for ((i = 0; i < 600; i++)); do
    closed=$(( $(grep -c 'relay: proxy hold: .* closed' "$RUN/burrowd_m.log" || true) - closed0 ))
    [ "$closed" -ge "$held" ] && break
    sleep 0.05
  done
  rss_d2=$(rss_kb "${PID[burrowd_m]}"); rss_c2=$(rss_kb "${PID[warm_m]}")
  fds_d2=$(nfds "${PID[burrowd_m]}"); fds_c2=$(nfds "${PID[warm_m]}")
  # One more relayed connection after the crowd: burrowd still serves.
  "$RTT" ping 127.0.0.1 "$R_HOLD" 10 "$SIZE" >/dev/null || die "the relay no longer answers after the memory test"
  printf 'held\t%s\nverified\t%s\nopen_ms\t%s\nclosed_logged\t%s\n' "$held" "$verified" "$open_ms" "$closed" >>"$MEM"
  printf 'burrowd_rss_before\t%s\nburrowd_rss_held\t%s\nburrowd_rss_closed\t%s\nburrowd_fds_held\t%s\nburrowd_fds_closed\t%s\n' \
    "$rss_d0" "$rss_d1" "$rss_d2" "$fds_d1" "$fds_d2" >>"$MEM"
  printf 'burrow_rss_before\t%s\nburrow_rss_held\t%s\nburrow_rss_closed\t%s\nburrow_fds_held\t%s\nburrow_fds_closed\t%s\n' \
    "$rss_c0" "$rss_c1" "$rss_c2" "$fds_c1" "$fds_c2" >>"$MEM"
  stop warm_m
  stop burrowd_m
  echo
fi

# ---- 4. http vhost -------------------------------------------------------------
if want http; then
  echo "4/4 http vhost: wrk -t1 -c32 -d${WRK_D}s, ${#HTTP_PATHS[@]} paths, $REPS run(s) each, interleaved"
  if [ -z "$HTTP_SKIP" ] && [ -z "$NGINX_STREAM" ]; then
    HTTP_SKIP="nginx not usable here"
  fi
  if [ -z "$HTTP_SKIP" ] && ! command -v wrk >/dev/null; then
    HTTP_SKIP="wrk not found (apt-get install wrk)"
  fi
  if [ -n "$HTTP_SKIP" ]; then
    printf 'http_skip\t%s\n' "$HTTP_SKIP" >>"$META"
    echo "  skipped: http proxies not available yet ($HTTP_SKIP)"
  else
    nginx_conf backend.conf.in "$RUN/backend"
    start backend nginx -p "$RUN/backend/" -c "$RUN/backend/nginx.conf" -e "$RUN/backend/error.log"
    wait_log backend 'start worker process [0-9]+' 20 "$RUN/backend/error.log"
    http_port() {
      case $1 in
        direct) echo "$P_BACKEND" ;; nginx) echo "$P_NGINX_HTTP" ;; relay) echo "$P_VHOST" ;;
        nginx2) echo "$P_NGINX2_HTTP" ;; relay_base) echo "$P_VHOST_BASE" ;;
      esac
    }
    # http_fwd_pids PATH: the processes that forward its requests.
    http_fwd_pids() {
      case $1 in
        nginx) echo "$NGINX_WORKER" ;;
        nginx2) echo "$NGINX2_WORKER $NGINX_WORKER" ;;
        relay) echo "${PID[burrowd]} ${PID[warm]}" ;;
        relay_base) echo "${PID[burrowd_base]} ${PID[warm_base]}" ;;
      esac
    }
    wrk_run() { # wrk_run PATH SECONDS LOG: prints wrk's report
      timeout $(($2 + 30)) wrk -t1 -c32 -d"$2s" --latency -H 'Host: bench.test' \
        "http://127.0.0.1:$(http_port "$1")/" >"$3" 2>&1 || true
    }
    HTTP=$RUN/http.tsv
    : >"$HTTP"
    phase_begin
    for ((rep = 1; rep <= REPS; rep++)); do
      for path in "${HTTP_PATHS[@]}"; do
        wrk_run "$path" "$WRK_D" "$RUN/wrk-$path-$rep.log"
        out=$(cat "$RUN/wrk-$path-$rep.log")
        rps=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
        # wrk prints 812.00us, 1.97ms or 1.20s: milliseconds here.
        ms='{ v = $2; f = 1; if (v ~ /us$/) f = 0.001; else if (v ~ /ms$/) f = 1; else if (v ~ /s$/) f = 1000;
              sub(/[a-z]+$/, "", v); printf "%.3f", v * f }'
        p50=$(echo "$out" | awk '$1 == "50%"' | awk "$ms")
        p99=$(echo "$out" | awk '$1 == "99%"' | awk "$ms")
        errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
        printf '%s\t%s\t%s\t%s\t%s\n' "$path" "${rps:-}" "${p50:-}" "${p99:-}" "${errs:-0}" >>"$HTTP"
        printf '  run %d, %-10s %10s req/s  p50 %s ms  p99 %s ms  %s\n' "$rep" "$path" "${rps:-error}" \
          "${p50:-}" "${p99:-}" "$errs"
      done
    done
    phase_end http
    alive burrowd; alive warm
    if [ "$PERF" = 1 ] && command -v perf >/dev/null; then
      # One more run per proxy, counting each forwarder's system calls per
      # request, and a profile of burrowd and burrow.
      echo "  perf: system calls per request and a profile, one more wrk run per proxy"
      PERFHTTP=$RUN/perf-http.txt
      : >"$PERFHTTP"
      for path in "${HTTP_PATHS[@]}"; do
        [ "$path" = direct ] && continue
        perfs=()
        for p in $(http_fwd_pids "$path"); do
          perf stat -x, -e raw_syscalls:sys_enter -p "$p" -o "$RUN/pstat-http-$path-$p.txt" -- sleep $((WRK_D + 1)) &
          perfs+=($!)
        done
        if [ "$path" = relay ]; then
          perf record -q -F 999 -g -e cpu-clock -o "$RUN/perf-http.data" -p "${PID[burrowd]},${PID[warm]}" \
            -- sleep "$WRK_D" >/dev/null 2>&1 &
          perfs+=($!)
        fi
        wrk_run "$path" "$WRK_D" "$RUN/wrk-perf-$path.log"
        wait "${perfs[@]}" || true
        # Requests counted by wrk; perf counts for one second more, when
        # nothing is sent.
        nreq=$(awk '/requests in/ {print $1}' "$RUN/wrk-perf-$path.log")
        hop=1
        for p in $(http_fwd_pids "$path"); do
          n=$(awk -F, '/raw_syscalls:sys_enter/ {print $1}' "$RUN/pstat-http-$path-$p.txt")
          name="$(cat "/proc/$p/comm")#$hop"
          hop=$((hop + 1))
          printf '%-10s %-10s %10s system calls for %8s requests: %5.2f per request\n' "$path" "$name" \
            "$n" "${nreq:-0}" "$(echo "$n ${nreq:-0}" | awk '{ if ($2 > 0) print $1 / $2; else print 0 }')" \
            >>"$PERFHTTP"
        done
      done
      perf_profile "$RUN/perf-http.data" "profile of burrowd and burrow under wrk" 24 >>"$PERFHTTP"
    fi
  fi
  echo
fi

# ---- report -------------------------------------------------------------------
echo "==== results ===="
echo
report_rc=0
python3 "$ROOT/bench/relay/report.py" "$RUN" || report_rc=$?
if [ -f "$RUN/perf.txt" ]; then
  echo
  echo "perf: system calls of each forwarder, per MB carried (iperf3 -t $T, one stream)"
  cat "$RUN/perf.txt"
fi
if [ -f "$RUN/perf-http.txt" ]; then
  echo
  echo "perf: system calls of each http forwarder, per request (wrk -t1 -c32 -d${WRK_D}s)"
  cat "$RUN/perf-http.txt"
fi
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); took $((SECONDS - STARTED)) s"
[ "$report_rc" -eq 0 ] || echo "relay.sh: some figures could not be measured (errors above)" >&2
exit "$report_rc"
