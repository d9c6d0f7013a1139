#!/usr/bin/env bash
# burrowd keeps each client's NAT report and shows it: burrow probes
# burrowd's STUN server after login (two loopback addresses, so every RFC 5780
# test runs), and `burrowd status` lists the client with its NAT; the admin API
# wants its password.
. "$(dirname "$0")/lib.sh"

free_udp_pair() { # a UDP port p with p+1 free too
  python3 -c '
import socket
for _ in range(100):
    a = socket.socket(type=socket.SOCK_DGRAM); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]
    try:
        b = socket.socket(type=socket.SOCK_DGRAM); b.bind(("127.0.0.1", p + 1)); print(p); break
    except OSError:
        pass'
}
web=$(e2e_free_port); udp=$(free_udp_pair)
e2e_burrowd burrowd tok "bindUDPPort = $udp" 'natProbeAltAddr = "127.0.0.2"' \
  'webServer.addr = "127.0.0.1"' "webServer.port = $web" 'webServer.user = "admin"' \
  'webServer.password = "pw"'
e2e_wait_log burrowd 'admin API listening'
port=$(e2e_port burrowd)
e2e_client_conf "$port" tok >"$E2E_TMP/burrow.toml"
e2e_start burrow "$BURROW" -c "$E2E_TMP/burrow.toml"
e2e_wait_log burrow 'NAT open-internet'
e2e_wait_log burrowd 'rdv: client 127\.0\.0\.1:[0-9]+: NAT open-internet'

"$BURROWD" status -c "$E2E_TMP/burrowd.toml" >"$E2E_TMP/status.json" ||
  e2e_fail "burrowd status failed"
python3 - "$E2E_TMP/status.json" <<'PY' || e2e_fail "status: $(cat "$E2E_TMP/status.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["stats"]["clients"] == 1, s
c = s["clients"][0]
assert c["addr"].startswith("127.0.0.1:"), c
assert c["nat"]["nat_type"] == "open-internet", c
PY

# Without the password the admin API refuses.
sed 's/webServer.password = "pw"/webServer.password = "wrong"/' "$E2E_TMP/burrowd.toml" >"$E2E_TMP/wrong.toml"
if "$BURROWD" status -c "$E2E_TMP/wrong.toml" >"$E2E_TMP/out" 2>&1; then
  e2e_fail "status with a wrong password succeeded"
fi
grep -q 'answered 401' "$E2E_TMP/out" || e2e_fail "no 401: $(cat "$E2E_TMP/out")"

e2e_stop burrow
e2e_stop burrowd
echo "status: ok"
