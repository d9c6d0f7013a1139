#!/usr/bin/env bash
# A client whose heartbeats stop is dropped by burrowd after
# transport.heartbeatTimeout, and its public port is freed at once (a new
# connection is refused, not left hanging). When the client runs again it
# notices, reconnects, registers its proxy on the same port, and bytes flow.
#
#   user.py --> burrowd :P ==> burrow (SIGSTOP ... SIGCONT) --> service.py echo
. "$(dirname "$0")/lib.sh"

head -c 65536 /dev/urandom >"$E2E_TMP/in"

e2e_burrowd burrowd heartbeat 'transport.heartbeatTimeout = 3'
e2e_service echo echo
public=$(e2e_free_port)
{
  e2e_client_conf "$(e2e_port burrowd)" heartbeat 'loginFailExit = false' \
    'transport.heartbeatInterval = 1' 'transport.heartbeatTimeout = 3'
  e2e_proxy echo tcp "$(e2e_listen_port echo)" "remotePort = $public"
} >"$E2E_TMP/burrow.toml"
e2e_start burrow "$BURROW" -c "$E2E_TMP/burrow.toml"
# A stopped process ignores the cleanup's SIGTERM: thaw it first.
trap 'if [ -n "${E2E_PID[burrow]:-}" ]; then kill -CONT "${E2E_PID[burrow]}" 2>/dev/null || true; fi; e2e_cleanup' EXIT
e2e_wait_log burrow "proxy echo: started \(tcp 127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:$public\)"
echo_ok() { # what
  python3 "$E2E_TOOLS/user.py" xfer "$public" "$E2E_TMP/in" "$E2E_TMP/out" || e2e_fail "$1: echo failed"
  cmp "$E2E_TMP/in" "$E2E_TMP/out" || e2e_fail "$1: echo differs"
}
echo_ok "before"

# Heartbeats every second keep the client in for longer than the timeout
# (an observation window, so a timed loop).
for ((i = 0; i < 10; i++)); do
  ! grep -q 'closed: heartbeat timeout' "$E2E_TMP/burrowd.log" || e2e_fail "dropped despite heartbeats"
  ! grep -q 'lost:' "$E2E_TMP/burrow.log" || e2e_fail "burrow lost its session despite heartbeats"
  sleep 0.5
done
echo_ok "after 5 s of heartbeats"

# 1. Freeze the client: dropped after 3 s of silence (+ scheduling slack).
kill -STOP "${E2E_PID[burrow]}"
stopped=$SECONDS
e2e_wait_log burrowd 'rdv: client 127\.0\.0\.1:[0-9]+ \(run id [0-9a-f]+\) closed: heartbeat timeout' 10
took=$((SECONDS - stopped))
[ $took -ge 2 ] || e2e_fail "dropped after ${took} s, before the 3 s timeout"
# 2. Its port is free at once (the log line comes just before the free):
#    refused, not accepted and left waiting.
for ((i = 0; i < 10; i++)); do
  e2e_refused "$public" && break
  sleep 0.1
done
e2e_refused "$public" || e2e_fail "port $public still accepts 1 s after the drop"

# 3. Thaw it: it sees the loss, logs in again, takes the same port back.
kill -CONT "${E2E_PID[burrow]}"
e2e_wait_log burrow 'connection to 127\.0\.0\.1:[0-9]+ lost: .*; reconnecting in [0-9.]+ s' 10
e2e_wait_count burrow 'logged in to 127\.0\.0\.1:' 2 15
e2e_wait_count burrow "proxy echo: started \(tcp 127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:$public\)" 2 5
echo_ok "after the reconnect"
[ "$(e2e_count burrowd 'rdv: client .* logged in')" -eq 2 ] || e2e_fail "want exactly 2 logins"

e2e_stop burrow
e2e_stop burrowd
echo "relay_tcp_heartbeat: ok"
