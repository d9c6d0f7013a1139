#!/usr/bin/env bash
# udp proxies: datagrams of 1 B to 60,000 B both ways, plain and sealed, for
# several users at once (each gets its own answers: per-source sessions).
. "$(dirname "$0")/lib.sh"

free_udp_port() { python3 -c 'import socket; s=socket.socket(type=socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

svc=$(free_udp_port)
e2e_start udp_echo python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1])))
print("udp echo ready", flush=True)
while True:
    d, a = s.recvfrom(65535); s.sendto(d, a)' "$svc"
e2e_wait_log udp_echo 'udp echo ready'

cat >"$E2E_TMP/burrowd.toml" <<CONF
bindAddr = "127.0.0.1"
bindPort = 0
auth.token = "tok"
CONF
e2e_start burrowd "$BURROWD" -c "$E2E_TMP/burrowd.toml"
e2e_wait_log burrowd 'control listening on'
port=$(e2e_port burrowd)
plain=$(free_udp_port); sealed=$(free_udp_port)
cat >"$E2E_TMP/burrow.toml" <<CONF
serverAddr = "127.0.0.1"
serverPort = $port
auth.token = "tok"
[[proxies]]
name = "dns"
type = "udp"
localIP = "127.0.0.1"
localPort = $svc
remotePort = $plain
[[proxies]]
name = "dns-sealed"
type = "udp"
localIP = "127.0.0.1"
localPort = $svc
remotePort = $sealed
transport.useEncryption = true
CONF
e2e_start burrow "$BURROW" -c "$E2E_TMP/burrow.toml"
e2e_wait_log burrow 'proxy dns: started'
e2e_wait_log burrow 'proxy dns-sealed: started'

for p in "$plain" "$sealed"; do
  timeout 60 python3 - "$p" <<'PY' || e2e_fail "udp proxy on port $p lost or changed datagrams"
import os, socket, sys
port = int(sys.argv[1])
users = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
for u in users:
    u.settimeout(5)
sizes = [1, 2, 512, 1400, 8192, 60000]
for i in range(30):
    for n, u in enumerate(users):
        d = os.urandom(sizes[(i + n) % len(sizes)])
        u.sendto(d, ("127.0.0.1", port))
        r, _ = u.recvfrom(65535)
        if r != d:
            print("user %d datagram %d: got %d bytes, want %d" % (n, i, len(r), len(d)))
            sys.exit(1)
PY
done
e2e_stop burrow
e2e_stop burrowd
echo "relay_udp: ok"
