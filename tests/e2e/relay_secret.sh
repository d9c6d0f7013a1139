#!/usr/bin/env bash
# Secret services through the relay: stcp and sudp visitors reach the
# owner's services; a wrong secret is refused by burrowd; everything the
# owner exchanges with burrowd is recorded and holds neither the payload nor
# the secret (burrowd relays ciphertext only). `burrow status --json` on the
# visitor shows the bytes each visitor moved, each way.
. "$(dirname "$0")/lib.sh"
here=$(dirname "$0")

e2e_burrowd burrowd tok
port=$(e2e_port burrowd)

# The owner reaches burrowd through a tap that records every byte.
e2e_start tap python3 "$here/tap.py" "$port" "$E2E_TMP/wire.bin"
e2e_wait_log tap 'tap listening on'
tap_port=$(grep -Eo '[0-9]+$' "$E2E_TMP/tap.log" | head -n1)

read -r v_tcp v_bad web < <(e2e_free_port 3)
v_udp=$(e2e_free_udp_port)
e2e_service tcp_echo echo
tcp_svc=$(e2e_listen_port tcp_echo)
e2e_service udp_echo udpecho
udp_svc=$(e2e_listen_port udp_echo)

# p2p.disableDirect: sudp takes its session through the relay here (the
# direct path is p2p_loopback.sh's), so the tap sees the relayed datagrams.
cat >"$E2E_TMP/owner.toml" <<CONF
serverAddr = "127.0.0.1"
serverPort = $tap_port
auth.token = "tok"
p2p.disableDirect = true
[[proxies]]
name = "secret-tcp"
type = "stcp"
secretKey = "correct-secret-value"
localIP = "127.0.0.1"
localPort = $tcp_svc
[[proxies]]
name = "secret-udp"
type = "sudp"
secretKey = "correct-secret-value"
localIP = "127.0.0.1"
localPort = $udp_svc
CONF
cat >"$E2E_TMP/visitor.toml" <<CONF
serverAddr = "127.0.0.1"
serverPort = $port
auth.token = "tok"
p2p.disableDirect = true
webServer.addr = "127.0.0.1"
webServer.port = $web
[[visitors]]
name = "v-tcp"
type = "stcp"
serverName = "secret-tcp"
secretKey = "correct-secret-value"
bindAddr = "127.0.0.1"
bindPort = $v_tcp
[[visitors]]
name = "v-bad"
type = "stcp"
serverName = "secret-tcp"
secretKey = "not-the-secret"
bindAddr = "127.0.0.1"
bindPort = $v_bad
[[visitors]]
name = "v-udp"
type = "sudp"
serverName = "secret-udp"
secretKey = "correct-secret-value"
bindAddr = "127.0.0.1"
bindPort = $v_udp
CONF
e2e_start owner "$BURROW" -c "$E2E_TMP/owner.toml"
e2e_wait_log owner 'proxy secret-tcp: started'
e2e_wait_log owner 'proxy secret-udp: started'
e2e_start visitor "$BURROW" -c "$E2E_TMP/visitor.toml"
e2e_wait_log visitor 'logged in to'

# stcp: 1 MiB of a recognisable pattern through the visitor, compared.
python3 -c 'import sys; sys.stdout.buffer.write(b"PLAINTEXT-MARKER-" * 61681)' >"$E2E_TMP/in.bin"
timeout 20 socat -t 5 - TCP:127.0.0.1:"$v_tcp" <"$E2E_TMP/in.bin" >"$E2E_TMP/out.bin" ||
  e2e_fail "stcp transfer failed"
cmp "$E2E_TMP/in.bin" "$E2E_TMP/out.bin" || e2e_fail "stcp bytes differ"

# sudp: 100 datagrams echoed intact.
timeout 20 python3 - "$v_udp" <<'PY' || e2e_fail "sudp datagrams lost or changed"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
for i in range(100):
    d = b"DGRAM-PLAINTEXT-MARKER-%04d" % i * 20
    s.sendto(d, ("127.0.0.1", int(sys.argv[1])))
    r, _ = s.recvfrom(65535)
    if r != d:
        sys.exit(1)
PY

# The visitor's status counts what each visitor moved: the stcp row every
# byte of the file each way (its connection has closed), the sudp row the
# 100 datagrams each way.
"$BURROW" status -c "$E2E_TMP/visitor.toml" --json >"$E2E_TMP/status.json" ||
  e2e_fail "burrow status failed"
python3 - "$E2E_TMP/status.json" "$(stat -c %s "$E2E_TMP/in.bin")" <<'PY' ||
import json, sys
rows = {e["name"]: e for e in json.load(open(sys.argv[1]))["entries"] if e["kind"] == "visitor"}
want = {"v-tcp": int(sys.argv[2]), "v-udp": 100 * 540}
for name, size in want.items():
    r = rows[name]
    assert r["state"] == "relayed", r
    assert r["tx_bytes"] >= size and r["rx_bytes"] >= size, (size, r)
    print(f"status: {name} {r['state']}, {r['tx_bytes']} B out, {r['rx_bytes']} B in")
PY
  e2e_fail "status does not show the bytes moved: $(cat "$E2E_TMP/status.json")"

# A wrong secret: burrowd refuses the visitor, the owner never sees it.
echo hello | timeout 10 socat -t 2 - TCP:127.0.0.1:"$v_bad" >/dev/null 2>&1 || true
e2e_wait_log burrowd 'visitor .* for proxy secret-tcp: wrong secret key'
e2e_wait_log visitor 'visitor v-bad: .* refused by burrowd: authentication failed: wrong secret key'

e2e_stop visitor
e2e_stop owner
[ -s "$E2E_TMP/wire.bin" ] || e2e_fail "the tap recorded nothing"
for needle in PLAINTEXT-MARKER DGRAM-PLAINTEXT-MARKER correct-secret-value; do
  if grep -aq -- "$needle" "$E2E_TMP/wire.bin"; then
    e2e_fail "\"$needle\" crossed burrowd in the clear"
  fi
done
e2e_stop burrowd
echo "relay_secret: ok"
