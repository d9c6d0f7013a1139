#!/usr/bin/env bash
# P2P sessions on loopback: an owner exposes an xtcp and an sudp service; one
# visitor reaches them over a direct ICE path (host candidates on 127.0.0.1),
# another with p2p.disableDirect through burrowd's relay. Bytes are compared
# both ways (0 B, 1 B, 64 KiB, 16 MiB, 8 connections at once), each visitor's
# log must name the path it took, and burrowd's status must show both pairs.
# The lab (netns-lab/tests/p2p_matrix.sh) covers real NATs.
. "$(dirname "$0")/lib.sh"

udp_port=$(e2e_free_udp_port)
admin_port=$(e2e_free_port)
e2e_burrowd burrowd tok "bindUDPPort = $udp_port" 'webServer.addr = "127.0.0.1"' \
  "webServer.port = $admin_port"
port=$(e2e_port burrowd)

e2e_service tcp_echo echo
tcp_svc=$(e2e_listen_port tcp_echo)
e2e_service udp_echo udpecho
udp_svc=$(e2e_listen_port udp_echo)

# A service that resets every connection (SO_LINGER 0) after its first bytes:
# the owner must end that stream alone and keep serving the others.
e2e_start rst_svc python3 -c '
import socket, struct
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print("rst service on", s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    c.recv(1)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()'
e2e_wait_log rst_svc 'rst service on'
rst_svc=$(grep -Eo '[0-9]+$' "$E2E_TMP/rst_svc.log" | head -n1)

cat >"$E2E_TMP/owner.toml" <<CONF
serverAddr = "127.0.0.1"
serverPort = $port
auth.token = "tok"
p2p.localAddresses = ["127.0.0.1"]
[[proxies]]
name = "ssh-home"
type = "xtcp"
secretKey = "p2p-secret-value"
localIP = "127.0.0.1"
localPort = $tcp_svc
[[proxies]]
name = "resetter"
type = "xtcp"
secretKey = "p2p-secret-value"
localIP = "127.0.0.1"
localPort = $rst_svc
[[proxies]]
name = "game"
type = "sudp"
secretKey = "p2p-secret-value"
localIP = "127.0.0.1"
localPort = $udp_svc
CONF
e2e_start owner "$BURROW" -c "$E2E_TMP/owner.toml"
e2e_wait_log owner 'proxy ssh-home: started'
e2e_wait_log owner 'proxy game: started'

# visitor NAME EXTRA-KEY: a visitor client with an xtcp and an sudp visitor,
# listening on V_TCP and V_UDP.
visitor() {
  local name=$1 extra=$2 tcp udp web
  tcp=$(e2e_free_port); udp=$(e2e_free_udp_port); web=$(e2e_free_port)
  V_TCP=$tcp V_UDP=$udp V_RST=$(e2e_free_port)
  cat >"$E2E_TMP/$name.toml" <<CONF
serverAddr = "127.0.0.1"
serverPort = $port
auth.token = "tok"
p2p.localAddresses = ["127.0.0.1"]
webServer.addr = "127.0.0.1"
webServer.port = $web
$extra
[[visitors]]
name = "ssh-home"
type = "xtcp"
serverName = "ssh-home"
secretKey = "p2p-secret-value"
bindAddr = "127.0.0.1"
bindPort = $tcp
[[visitors]]
name = "resetter"
type = "xtcp"
serverName = "resetter"
secretKey = "p2p-secret-value"
bindAddr = "127.0.0.1"
bindPort = $V_RST
[[visitors]]
name = "game"
type = "sudp"
serverName = "game"
secretKey = "p2p-secret-value"
bindAddr = "127.0.0.1"
bindPort = $udp
CONF
  e2e_start "$name" "$BURROW" -c "$E2E_TMP/$name.toml"
  e2e_wait_log "$name" 'logged in to'
}

# transfer PORT SIZE: SIZE random bytes there and back, compared.
transfer() {
  head -c "$2" /dev/urandom >"$E2E_TMP/in.$2"
  timeout 60 socat -t 10 - TCP:127.0.0.1:"$1" <"$E2E_TMP/in.$2" >"$E2E_TMP/out.$2" ||
    e2e_fail "xtcp transfer of $2 bytes failed"
  cmp "$E2E_TMP/in.$2" "$E2E_TMP/out.$2" || e2e_fail "xtcp: $2 bytes came back different"
}

datagrams() {
  timeout 30 python3 - "$1" <<'PY' || e2e_fail "sudp datagrams lost or changed"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
ok = 0
for i in range(200):
    d = b"sudp-%04d-" % i * 40
    s.sendto(d, ("127.0.0.1", int(sys.argv[1])))
    try:
        r, _ = s.recvfrom(65535)
    except socket.timeout:
        continue  # the first ones may wait for the path; a few may go
    if r != d:
        sys.exit("datagram %d changed" % i)
    ok += 1
print("sudp: %d of 200 echoed" % ok)
sys.exit(0 if ok >= 190 else 1)
PY
}

check_visitor() { # NAME PATH-REGEX
  visitor "$1" "$3"
  local tcp=$V_TCP udp=$V_UDP
  for size in 0 1 65536 16777216; do transfer "$tcp" "$size"; done
  # 8 connections at once over the one session.
  head -c 1048576 /dev/urandom >"$E2E_TMP/par.in"
  local pids=()
  for i in 1 2 3 4 5 6 7 8; do
    timeout 60 socat -t 10 - TCP:127.0.0.1:"$tcp" <"$E2E_TMP/par.in" >"$E2E_TMP/par.$i" &
    pids+=($!)
  done
  wait "${pids[@]}"
  for i in 1 2 3 4 5 6 7 8; do
    cmp "$E2E_TMP/par.in" "$E2E_TMP/par.$i" || e2e_fail "parallel connection $i differs"
  done
  # A local service that resets: that connection ends, the rest go on.
  for i in 1 2 3; do
    head -c 200000 /dev/urandom | timeout 20 socat -t 2 - TCP:127.0.0.1:"$V_RST" >/dev/null 2>&1 || true
  done
  transfer "$tcp" 65536
  datagrams "$udp"
  e2e_wait_log "$1" "visitor ssh-home: $2"
  e2e_wait_log "$1" "visitor game: $2"
  # burrow status: both visitors on the expected path, with their bytes.
  "$BURROW" status -c "$E2E_TMP/$1.toml" >"$E2E_TMP/$1.status" || e2e_fail "burrow status failed"
  grep -Eq "^visitor +ssh-home +xtcp +$1 " "$E2E_TMP/$1.status" ||
    e2e_fail "burrow status does not show ssh-home $1: $(cat "$E2E_TMP/$1.status")"
  "$BURROW" status -c "$E2E_TMP/$1.toml" --json >"$E2E_TMP/$1.json" ||
    e2e_fail "burrow status --json failed"
  python3 - "$E2E_TMP/$1.json" "$1" <<'PY' || e2e_fail "burrow status --json: $(cat "$E2E_TMP/$1.json")"
import json, sys
st = json.load(open(sys.argv[1]))
rows = {(e["kind"], e["name"]): e for e in st["entries"]}
for name in ("ssh-home", "game"):
    e = rows[("visitor", name)]
    assert e["state"] == sys.argv[2], e
    assert e["remote"], e
    assert e["up_ms"] >= 0, e
ssh = rows[("visitor", "ssh-home")]
assert ssh["tx_bytes"] >= 16 * 2**20 and ssh["rx_bytes"] >= 16 * 2**20, ssh
assert ssh["rtt_us"] > 0, ssh
PY
}

check_visitor direct 'direct 127\.0\.0\.1:[0-9]+ from 127\.0\.0\.1:[0-9]+ \(host<->host' ''
check_visitor relayed 'relayed via burrowd \(p2p\.disableDirect is set\)' 'p2p.disableDirect = true'
e2e_wait_log owner 'path .* -> direct \(the visitor sent direct\)'
e2e_wait_log owner 'path .* -> relayed \(the visitor sent through burrowd\)'

# burrowd saw both pairs; each side reported its path.
"$BURROWD" status -c "$E2E_TMP/burrowd.toml" >"$E2E_TMP/status.json" ||
  e2e_fail "burrowd status failed"
python3 - "$E2E_TMP/status.json" <<'PY' || e2e_fail "burrowd status does not show the P2P pairs"
import json, sys
st = json.load(open(sys.argv[1]))
paths = sorted(p["visitor"].get("path", "?") for p in st["p2p"])
print("p2p pairs:", paths)
assert "direct" in paths and "relayed" in paths, paths
PY

e2e_stop relayed
e2e_wait_log owner 'session [0-9a-f]+ closed'
# The owner goes: the direct visitor's sessions close, and what they carried
# stays in its totals.
e2e_stop owner
e2e_wait_log direct 'visitor ssh-home: session [0-9a-f]+ closed'
"$BURROW" status -c "$E2E_TMP/direct.toml" --json >"$E2E_TMP/after.json" ||
  e2e_fail "burrow status --json failed"
python3 - "$E2E_TMP/after.json" <<'PY' || e2e_fail "bytes lost with the session: $(cat "$E2E_TMP/after.json")"
import json, sys
st = json.load(open(sys.argv[1]))
ssh = {(e["kind"], e["name"]): e for e in st["entries"]}[("visitor", "ssh-home")]
assert ssh["state"] != "direct", ssh
assert ssh["tx_bytes"] >= 16 * 2**20 and ssh["rx_bytes"] >= 16 * 2**20, ssh
PY
e2e_stop direct
e2e_stop burrowd
echo "p2p_loopback: ok"
