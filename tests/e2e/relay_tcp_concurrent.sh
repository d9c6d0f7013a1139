#!/usr/bin/env bash
# 1,000 connections at once through one tcp proxy: each sends its own bytes
# and gets exactly those back while all 1,000 are open; then each ends with a
# half-close both ways, and burrowd and burrow log one close line for each.
#
#   user.py many (1,000 sockets) --> burrowd :P ==1,000 work conns==> burrow --> service.py echo
. "$(dirname "$0")/lib.sh"

N=1000
# Each relayed connection holds two descriptors in burrowd and two in burrow.
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((3 * N)) ]; then
  ulimit -n $((3 * N)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((2 * N + 100)) ]; then
  echo "SKIP: open files limited to $(ulimit -n), need $((2 * N + 100))"
  exit 77
fi

e2e_burrowd burrowd concurrent
e2e_service echo echo

{
  e2e_client_conf "$(e2e_port burrowd)" concurrent
  e2e_proxy echo tcp "$(e2e_listen_port echo)" 'remotePort = 0'
} >"$E2E_TMP/burrow.toml"
e2e_start burrow "$BURROW" -c "$E2E_TMP/burrow.toml"
e2e_wait_log burrow 'proxy echo: started \(tcp '

python3 "$E2E_TOOLS/user.py" many --timeout 45 "$(e2e_proxy_port burrow echo)" $N ||
  e2e_fail "not all $N concurrent connections got their own bytes back"

# One close line per connection on each side, every one a clean end.
e2e_wait_count burrowd 'relay: proxy echo: 127\.0\.0\.1:[0-9]+ closed: ' $N 20
e2e_wait_count burrow 'burrow: proxy echo: 127\.0\.0\.1:[0-9]+ closed: ' $N 20
e2e_wait_count echo '^conn [0-9]+ closed: ' $N 20
for f in burrowd burrow; do
  n=$(e2e_count $f 'proxy echo: 127\.0\.0\.1:[0-9]+ closed: done')
  [ "$n" -eq $N ] || e2e_fail "$f: $n of $N connections closed as done"
done
# Each user connection is logged once, with its own address.
n=$(grep -Eo 'relay: proxy echo: 127\.0\.0\.1:[0-9]+ closed' "$E2E_TMP/burrowd.log" | sort -u | wc -l)
[ "$n" -eq $N ] || e2e_fail "burrowd logged $n distinct user connections, want $N"
# No connection waited in vain for a work connection.
! grep -q 'no work connection from the client' "$E2E_TMP/burrowd.log" ||
  e2e_fail "user connections timed out waiting for work connections"

e2e_stop burrow
e2e_stop burrowd
echo "relay_tcp_concurrent: ok"
