#!/usr/bin/env bash
# burrowd restarts and burrow recovers on its own: after a SIGTERM to burrowd,
# burrow logs the loss and its reconnect delay, and when a new burrowd comes
# up on the same control port it logs in again, registers its proxy again on
# the same remotePort, and a new connection through it works. The relayed
# connection open during the restart ends; the client does not exit.
#
#   user.py --> burrowd #1, then #2 (same control port) ==> burrow --> service.py echo
. "$(dirname "$0")/lib.sh"

head -c 1048576 /dev/urandom >"$E2E_TMP/in"

server_conf() { # bindPort
  cat >"$E2E_TMP/burrowd.toml" <<CONF
bindAddr = "127.0.0.1"
bindPort = $1
auth.token = "restart"
CONF
}
server_conf 0
e2e_start burrowd1 "$BURROWD" -c "$E2E_TMP/burrowd.toml"
e2e_wait_log burrowd1 'control listening on 127\.0\.0\.1:[0-9]+'
ctl_port=$(e2e_port burrowd1)

e2e_service echo echo
# The public port must be the same after the restart, so it is named.
public=$(e2e_free_port)
{
  e2e_client_conf "$ctl_port" restart 'loginFailExit = false' 'transport.heartbeatInterval = 1' \
    'transport.heartbeatTimeout = 5'
  e2e_proxy echo tcp "$(e2e_listen_port echo)" "remotePort = $public"
} >"$E2E_TMP/burrow.toml"
e2e_start burrow "$BURROW" -c "$E2E_TMP/burrow.toml"
e2e_wait_log burrow "proxy echo: started \(tcp 127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:$public\)"
python3 "$E2E_TOOLS/user.py" xfer "$public" "$E2E_TMP/in" "$E2E_TMP/out" || e2e_fail "echo before the restart"
cmp "$E2E_TMP/in" "$E2E_TMP/out" || e2e_fail "echo before the restart differs"

# A connection held open across the restart (its first KiB echoed).
head -c 1024 "$E2E_TMP/in" >"$E2E_TMP/held.in"
e2e_start held python3 "$E2E_TOOLS/user.py" xfer --keep-open --timeout 30 "$public" "$E2E_TMP/held.in" "$E2E_TMP/held.out"
e2e_wait_size "$E2E_TMP/held.out" 1024

# 1. Stop burrowd: a clean exit; burrow says what happened and when it retries.
e2e_stop burrowd1
e2e_wait_log burrow 'connection to 127\.0\.0\.1:[0-9]+ lost: .*; reconnecting in [0-9.]+ s' 10
# The held connection ends (EOF or reset), both sides log it.
e2e_wait_exit held 15
[ "$E2E_RC" -eq 0 ] || [ "$E2E_RC" -eq 3 ] || e2e_fail "the held connection: user.py exited $E2E_RC"
e2e_wait_log burrowd1 'relay: proxy echo: 127\.0\.0\.1:[0-9]+ closed: server shutting down'
e2e_wait_count burrow 'burrow: proxy echo: 127\.0\.0\.1:[0-9]+ closed: ' 2 10
e2e_refused "$public" || e2e_fail "port $public still answers with burrowd stopped"

# 2. A new burrowd on the same control port: burrow is back within bounded
#    time (the first delay is 1 s +-20%, the next 2 s), its proxy too.
server_conf "$ctl_port"
e2e_start burrowd2 "$BURROWD" -c "$E2E_TMP/burrowd.toml"
e2e_wait_log burrowd2 "control listening on 127\.0\.0\.1:$ctl_port"
e2e_wait_count burrow 'logged in to 127\.0\.0\.1:' 2 15
e2e_wait_count burrow "proxy echo: started \(tcp 127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:$public\)" 2 5
e2e_wait_log burrowd2 'rdv: client 127\.0\.0\.1:[0-9]+ logged in'
# The same client: it kept its run id.
run1=$(grep -Eo 'run id [0-9a-f]+' "$E2E_TMP/burrow.log" | sed -n 1p)
run2=$(grep -Eo 'run id [0-9a-f]+' "$E2E_TMP/burrow.log" | sed -n 2p)
[ "$run1" = "$run2" ] || e2e_fail "burrow came back with another identity ($run1, then $run2)"

# 3. Bytes flow through the same public port again.
python3 "$E2E_TOOLS/user.py" xfer "$public" "$E2E_TMP/in" "$E2E_TMP/out" || e2e_fail "echo after the restart"
cmp "$E2E_TMP/in" "$E2E_TMP/out" || e2e_fail "echo after the restart differs"
e2e_wait_log burrowd2 'relay: proxy echo: 127\.0\.0\.1:[0-9]+ closed: done'

# 4. Once is not luck: a second restart, with burrowd down until burrow's
#    first retry has failed, so that it backs off further and still recovers.
e2e_stop burrowd2
e2e_wait_count burrow 'lost: .*; reconnecting in' 2 10
e2e_wait_log burrow 'login to 127\.0\.0\.1:[0-9]+ failed: .*; retrying in [0-9.]+ s' 10
e2e_start burrowd3 "$BURROWD" -c "$E2E_TMP/burrowd.toml"
e2e_wait_log burrowd3 "control listening on 127\.0\.0\.1:$ctl_port"
e2e_wait_count burrow 'logged in to 127\.0\.0\.1:' 3 15
e2e_wait_count burrow "proxy echo: started \(tcp 127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:$public\)" 3 5
python3 "$E2E_TOOLS/user.py" xfer "$public" "$E2E_TMP/in" "$E2E_TMP/out" || e2e_fail "echo after the second restart"
cmp "$E2E_TMP/in" "$E2E_TMP/out" || e2e_fail "echo after the second restart differs"

e2e_stop burrow
e2e_stop burrowd3
echo "relay_tcp_restart: ok"
