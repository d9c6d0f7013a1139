#!/usr/bin/env bash
# bench/p2p/profile.sh: where a bulk xtcp stream's CPU goes, on loopback.
# Starts burrowd, an owner and a visitor burrow on 127.0.0.1 (direct path,
# host candidates), pushes one sys_tput stream through the visitor for
# SECONDS, and prints the throughput, each burrow's CPU seconds per Gbit and,
# with --perf, the top of a `perf record -g` profile of each burrow.
#
# Usage: bash bench/p2p/profile.sh [--perf] [--relayed] [SECONDS]
# Environment: BW_BUILD (default build-pbench), the build whose cmd/burrow and
# cmd/burrowd run; BW_KEEP=1 keeps the run directory. Not a test.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BW_BUILD:-$ROOT/build-pbench}
PERF=0 DIRECT_OFF=false T=5
for arg in "$@"; do
  case $arg in
    --perf) PERF=1 ;;
    --relayed) DIRECT_OFF=true ;;
    [0-9]*) T=$arg ;;
    *) echo "usage: bash bench/p2p/profile.sh [--perf] [--relayed] [SECONDS]" >&2; exit 2 ;;
  esac
done
[ -x "$BUILD/cmd/burrow" ] || { echo "profile.sh: no $BUILD/cmd/burrow (set BW_BUILD)" >&2; exit 1; }
RUN=$(mktemp -d /tmp/bw-profile.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ "${BW_KEEP:-0}" = 1 ] && echo "kept $RUN" || rm -rf "$RUN"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket,sys; s=socket.socket(type=int(sys.argv[1])); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' "$1"; }
CTL=$(free_port 1) UDP=$(free_port 2) SINK=$(free_port 1) VPORT=$(free_port 1)
gcc -O2 -o "$RUN/sys_tput" "$ROOT/bench/p2p/sys_tput.c"

cat >"$RUN/burrowd.toml" <<C
bindAddr = "127.0.0.1"
bindPort = $CTL
bindUDPPort = $UDP
auth.token = "profile"
C
common="serverAddr = \"127.0.0.1\"
serverPort = $CTL
auth.token = \"profile\"
p2p.localAddresses = [\"127.0.0.1\"]"
cat >"$RUN/owner.toml" <<C
$common
[[proxies]]
name = "bulk"
type = "xtcp"
secretKey = "profile-secret"
localIP = "127.0.0.1"
localPort = $SINK
C
cat >"$RUN/visitor.toml" <<C
$common
p2p.disableDirect = $DIRECT_OFF
[[visitors]]
name = "bulk"
type = "xtcp"
serverName = "bulk"
secretKey = "profile-secret"
bindAddr = "127.0.0.1"
bindPort = $VPORT
C
wait_log() { for _ in $(seq 100); do grep -q "$2" "$RUN/$1.log" 2>/dev/null && return 0; sleep 0.05; done
             echo "profile.sh: $1 did not log '$2'" >&2; exit 1; }
"$BUILD/cmd/burrowd" -c "$RUN/burrowd.toml" >"$RUN/burrowd.log" 2>&1 & PIDS+=($!)
wait_log burrowd 'control listening'
"$RUN/sys_tput" sink "$SINK" >"$RUN/sink.log" 2>&1 & PIDS+=($!)
"$BUILD/cmd/burrow" -c "$RUN/owner.toml" >"$RUN/owner.log" 2>&1 & OWNER=$!; PIDS+=($OWNER)
wait_log owner 'proxy bulk: started'
"$BUILD/cmd/burrow" -c "$RUN/visitor.toml" >"$RUN/visitor.log" 2>&1 & VISITOR=$!; PIDS+=($VISITOR)
wait_log visitor 'listening on'
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
o0=$(cpu "$OWNER") v0=$(cpu "$VISITOR")
if [ "$PERF" = 1 ]; then
  perf record -F 2000 -g -o "$RUN/perf.owner" -p "$OWNER" -- sleep "$((T + 1))" >/dev/null 2>&1 &
  PIDS+=($!)
  perf record -F 2000 -g -o "$RUN/perf.visitor" -p "$VISITOR" -- sleep "$((T + 1))" >/dev/null 2>&1 &
  PIDS+=($!)
fi
out=$("$RUN/sys_tput" send 127.0.0.1 "$VPORT" "$T")
o1=$(cpu "$OWNER") v1=$(cpu "$VISITOR")
bytes=$(sed -nE 's/^bytes=([0-9]+).*/\1/p' <<<"$out")
echo "$out"
grep -hE 'visitor bulk: (direct|relayed via)' "$RUN/visitor.log" | head -n1
python3 - "$bytes" "$o0" "$o1" "$v0" "$v1" "$(getconf CLK_TCK)" <<'PY'
import sys
b, o0, o1, v0, v1, hz = (float(x) for x in sys.argv[1:])
gbit = b * 8 / 1e9
print("CPU s/Gbit: visitor %.2f, owner %.2f (ticks since the stream started)" %
      ((v1 - v0) / hz / gbit, (o1 - o0) / hz / gbit))
PY
if [ "$PERF" = 1 ]; then
  sleep 2
  for who in visitor owner; do
    echo "== $who: by library"
    perf report -i "$RUN/perf.$who" --no-children --sort dso -g none 2>/dev/null | grep -vE '^#|^$' | head -n 8
    echo "== $who: by function, with callees"
    perf report -i "$RUN/perf.$who" --children --sort symbol -g none 2>/dev/null |
      grep -vE '^#|^$|\] 0x0' | head -n 25
  done
fi
