#!/usr/bin/env bash
# Secret services through the relay: stcp and sudp visitors reach the
# owner's services; a wrong secret is refused by burrowd; everything the
# owner exchanges with burrowd is recorded and holds neither the payload nor
# the secret (burrowd relays ciphertext only).
. "$(dirname "$0")/lib.sh"
tools=$(dirname "$0")/tools
here=$(dirname "$0")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
free_udp_port() { python3 -c 'import socket; s=socket.socket(type=socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cat >"$E2E_TMP/burrowd.toml" <<CONF
bindAddr = "127.0.0.1"
bindPort = 0
auth.token = "tok"
CONF
e2e_start burrowd "$BURROWD" -c "$E2E_TMP/burrowd.toml"
e2e_wait_log burrowd 'control listening on'
port=$(e2e_port burrowd)

# The owner reaches burrowd through a tap that records every byte.
e2e_start tap python3 "$here/tap.py" "$port" "$E2E_TMP/wire.bin"
e2e_wait_log tap 'tap listening on'
tap_port=$(grep -Eo '[0-9]+$' "$E2E_TMP/tap.log" | head -n1)

udp_svc=$(free_udp_port); v_tcp=$(free_port); v_bad=$(free_port); v_udp=$(free_udp_port)
e2e_start tcp_echo python3 "$tools/service.py" echo
e2e_wait_log tcp_echo 'service listening on'
tcp_svc=$(grep -Eo '[0-9]+$' "$E2E_TMP/tcp_echo.log" | head -n1)
e2e_start udp_echo python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1])))
print("udp echo ready", flush=True)
while True:
    d, a = s.recvfrom(65535); s.sendto(d, a)' "$udp_svc"
e2e_wait_log udp_echo 'udp echo ready'

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
