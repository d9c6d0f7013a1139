#!/usr/bin/env bash
# The README's demo command: sets up a fresh Debian 12 machine, builds Burrow
# (optimised) and shows it working on loopback with the configs in examples/:
#   - burrowd (the public server) and burrow (the NATed machine) log in over
#     the token handshake;
#   - a local web app is reached through a tcp proxy on burrowd, and as an
#     http virtual host routed by its Host header;
#   - a second burrow visits the same app as a secret (stcp) service,
#     encrypted end to end, and peer to peer (xtcp) over a direct ICE path;
#   - `burrow status` shows the visitors and the path each one took;
# then stops everything it started.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

bash scripts/setup.sh
echo "== building (release)"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)" >/dev/null
bin=$top/build/release/cmd

work=$(mktemp -d "${TMPDIR:-/tmp}/burrow-demo.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_for() { # file regex
  for _ in $(seq 200); do grep -Eq "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "demo: timed out waiting for /$2/ in $1" >&2; tail -n 20 "$1" >&2; exit 1
}

# The examples use fixed ports (7000, 6000, 8080, 9000); the demo moves them
# to free ones so that it never clashes with something already running.
free_udp_port() {
  python3 -c 'import socket; s=socket.socket(type=socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
ctl=$(free_port); pub=$(free_port); app=$(free_port); vis=$(free_port); vhost=$(free_port)
p2p=$(free_port); stun=$(free_udp_port); web=$(free_port)
for f in burrowd burrow visitor; do
  sed -e "s/= 7000/= $ctl/; s/= 8080/= $app/; s/= 9000/= $vis/; s/= 8000/= $vhost/" \
      -e "s/= 9001/= $p2p/; s/= 7001/= $stun/; s/= 7400/= $web/" \
      -e "s/remotePort = 6000/remotePort = $pub/" \
      -e "s/start = 6000, end = 6100/start = $pub, end = $pub/" \
      "examples/$f.toml" >"$work/$f.toml"
done

mkdir -p "$work/site"
echo "Hello from the machine behind the NAT" >"$work/site/index.html"
python3 -m http.server "$app" --bind 127.0.0.1 --directory "$work/site" >"$work/app.log" 2>&1 &
pids+=($!)

echo "== burrowd -c burrowd.toml"
"$bin/burrowd" -c "$work/burrowd.toml" >"$work/burrowd.log" 2>&1 &
pids+=($!)
wait_for "$work/burrowd.log" "control listening"
echo "== burrow -c burrow.toml"
"$bin/burrow" -c "$work/burrow.toml" >"$work/burrow.log" 2>&1 &
pids+=($!)
wait_for "$work/burrow.log" "proxy web: started"
wait_for "$work/burrow.log" "proxy web-secret: started"
wait_for "$work/burrow.log" "proxy web-http: started"
wait_for "$work/burrow.log" "proxy web-p2p: started"
echo "== burrow -c visitor.toml"
"$bin/burrow" -c "$work/visitor.toml" >"$work/visitor.log" 2>&1 &
pids+=($!)
wait_for "$work/visitor.log" "logged in"

for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$app/" && break; sleep 0.05; done
echo
echo "\$ curl http://127.0.0.1:$pub/      # the tcp proxy on burrowd"
curl -sS --max-time 5 "http://127.0.0.1:$pub/"
echo "\$ curl -H 'Host: web.example.com' http://127.0.0.1:$vhost/   # the http vhost"
curl -sS --max-time 5 -H 'Host: web.example.com' "http://127.0.0.1:$vhost/"
echo "\$ curl http://127.0.0.1:$vis/      # the stcp visitor, end to end encrypted"
curl -sS --max-time 5 "http://127.0.0.1:$vis/"
echo "\$ curl http://127.0.0.1:$p2p/      # the xtcp visitor, peer to peer"
curl -sS --max-time 5 "http://127.0.0.1:$p2p/"
wait_for "$work/visitor.log" "visitor web-p2p: direct"
echo "\$ burrow status -c visitor.toml"
"$bin/burrow" status -c "$work/visitor.toml"
echo
echo "== what the programs logged"
for f in burrowd burrow visitor; do
  echo "-- $f"
  sed -E 's/^[0-9-]+ [0-9:.]+ //' "$work/$f.log"
done
echo
echo "demo: ok (everything it started is stopped on exit)"
