#!/usr/bin/env bash
# Login over the handshake keyed by the token: the right token logs in; a
# wrong one fails on both sides with clear messages, exits with loginFailExit
# and retries with growing delays without it; the token never crosses the wire.
. "$(dirname "$0")/lib.sh"

e2e_burrowd burrowd 'correct horse battery staple'
port=$(e2e_port burrowd)

client_conf() { # $1 file, $2 token, $3 loginFailExit
  e2e_client_conf "$port" "$2" "loginFailExit = $3" >"$1"
}

# 1. The right token logs in, and the server sees the client.
client_conf "$E2E_TMP/good.toml" "correct horse battery staple" true
e2e_start good "$BURROW" -c "$E2E_TMP/good.toml"
e2e_wait_log good 'logged in to 127\.0\.0\.1:[0-9]+ \(run id [0-9a-f]+'
e2e_wait_log burrowd 'client 127\.0\.0\.1:[0-9]+ logged in'
e2e_stop good
e2e_wait_log burrowd 'closed: connection closed'

# 2. A wrong token with loginFailExit = true: a clear message and exit 1.
client_conf "$E2E_TMP/bad.toml" "wrong token" true
e2e_start bad "$BURROW" -c "$E2E_TMP/bad.toml"
e2e_wait_exit bad 20
[ "$E2E_RC" -eq 1 ] || e2e_fail "wrong token: burrow exited $E2E_RC, want 1"
grep -q 'authentication failed: wrong token; exiting (loginFailExit)' "$E2E_TMP/bad.log" ||
  e2e_fail "wrong token: burrow did not say why"
e2e_wait_log burrowd 'login from 127\.0\.0\.1:[0-9]+: authentication failed: wrong token'

# 3. loginFailExit = false: it retries with backoff (1 s, then 2 s), not in a loop.
client_conf "$E2E_TMP/retry.toml" "wrong token" false
e2e_start retry "$BURROW" -c "$E2E_TMP/retry.toml"
e2e_wait_log retry 'retrying in [0-9.]+ s' 10
e2e_wait_log retry 'retrying in (1\.[6-9]|2\.[0-4]) s' 10
attempts=$(grep -c 'authentication failed: wrong token; retrying' "$E2E_TMP/retry.log")
[ "$attempts" -le 3 ] || e2e_fail "retried $attempts times in ~2 s: no backoff"
e2e_stop retry

# 4. The server keeps serving: a good client still logs in.
e2e_start good2 "$BURROW" -c "$E2E_TMP/good.toml"
e2e_wait_log good2 'logged in to'
e2e_stop good2

# 5. The token never crosses the wire: record a login through a tap and look
#    for the token in everything that was sent either way.
e2e_start tap python3 "$(dirname "$0")/tap.py" "$port" "$E2E_TMP/wire.bin"
e2e_wait_log tap 'tap listening on'
tap_port=$(grep -Eo '[0-9]+$' "$E2E_TMP/tap.log" | head -n1)
sed "s/serverPort = $port/serverPort = $tap_port/" "$E2E_TMP/good.toml" >"$E2E_TMP/tapped.toml"
e2e_start tapped "$BURROW" -c "$E2E_TMP/tapped.toml"
e2e_wait_log tapped 'logged in to'
e2e_stop tapped
[ -s "$E2E_TMP/wire.bin" ] || e2e_fail "the tap recorded nothing"
if grep -aq "correct horse" "$E2E_TMP/wire.bin"; then
  e2e_fail "the token crossed the wire"
fi
e2e_stop burrowd
echo "login: ok"
