#!/usr/bin/env bash
# udp proxies: datagrams of 1 B to 60,000 B both ways, plain and sealed, for
# several users at once (each gets its own answers: per-source sessions).
. "$(dirname "$0")/lib.sh"

e2e_service udp_echo udpecho
svc=$(e2e_listen_port udp_echo)

e2e_burrowd burrowd tok
port=$(e2e_port burrowd)
read -r plain sealed < <(e2e_free_udp_port 2)
{
  e2e_client_conf "$port" tok
  e2e_proxy dns udp "$svc" "remotePort = $plain"
  e2e_proxy dns-sealed udp "$svc" "remotePort = $sealed" 'transport.useEncryption = true'
} >"$E2E_TMP/burrow.toml"
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
