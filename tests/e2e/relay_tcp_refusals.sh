#!/usr/bin/env bash
# tcp proxies burrowd refuses, each with a clear reason on both sides, logged
# once, without stopping the client's other proxies:
#  - a remotePort outside allowPorts;
#  - more ports than maxPortsPerClient;
#  - remotePort = 0 gets a port from allowPorts (as frps does), not a refusal;
#  - a proxy name another client already uses (frps: names are unique per
#    server, "user." prefix included; another user may use the same name).
# (A wrong token is login.sh's.)
#
#   client a: ok1 (P1), bad (Q: not allowed), ok2 (P2), extra (P3: 3rd port)
#   client c (user carol): ok1 (P4)
#   client b: ok1 (P5: allowed and free, but the name is client a's)
#   client d: auto (0: P3 or P5, the free allowed ports)
#   burrowd: allowPorts = P1..P5; maxPortsPerClient = 2
# The last two checks are independent: both are made, then all failures
# reported.
. "$(dirname "$0")/lib.sh"

read -r p1 p2 p3 p4 p5 q <<<"$(e2e_free_port 6)"
head -c 65536 /dev/urandom >"$E2E_TMP/in"

e2e_burrowd burrowd refusals \
  "allowPorts = [{ single = $p1 }, { single = $p2 }, { start = $p3, end = $p3 }, { single = $p4 }, { single = $p5 }]" \
  'maxPortsPerClient = 2'
e2e_service echo echo

client_conf() { # file user "name remotePort"...
  local file=$1 user=$2 p
  shift 2
  {
    e2e_client_conf "$(e2e_port burrowd)" refusals "user = \"$user\""
    for p in "$@"; do
      set -- $p
      e2e_proxy "$1" tcp "$(e2e_listen_port echo)" "remotePort = $2"
    done
  } >"$file"
}
echo_through() { # port what
  python3 "$E2E_TOOLS/user.py" xfer "$1" "$E2E_TMP/in" "$E2E_TMP/out" || e2e_fail "$2: echo failed"
  cmp "$E2E_TMP/in" "$E2E_TMP/out" || e2e_fail "$2: echo differs"
}

# Client a: one refusal of each kind between proxies that work.
client_conf "$E2E_TMP/a.toml" "" "ok1 $p1" "bad $q" "ok2 $p2" "extra $p3"
e2e_start a "$BURROW" -c "$E2E_TMP/a.toml"
e2e_wait_log a "proxy bad: start error: port $q not allowed by server"
e2e_wait_log a 'proxy extra: start error: .*maxPortsPerClient'
e2e_wait_log a "proxy ok1: started \(tcp 127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:$p1\)"
e2e_wait_log a "proxy ok2: started \(tcp 127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:$p2\)"
e2e_refused "$q" || e2e_fail "the refused port $q is listening"
e2e_refused "$p3" || e2e_fail "port $p3, refused by maxPortsPerClient, is listening"
# burrowd logs each refusal once, with the client and the reason.
[ "$(e2e_count burrowd "proxy bad \(tcp\) refused: port $q not allowed by server")" -eq 1 ] ||
  e2e_fail "burrowd did not log the allowPorts refusal exactly once"
[ "$(e2e_count burrowd 'proxy extra \(tcp\) refused: .*maxPortsPerClient')" -eq 1 ] ||
  e2e_fail "burrowd did not log the maxPortsPerClient refusal exactly once"
# The refusals stopped nothing: the client is logged in and relays.
echo_through "$p1" "a/ok1"
echo_through "$p2" "a/ok2"
! grep -q 'lost:\|exiting' "$E2E_TMP/a.log" || e2e_fail "a refused proxy cost client a its session"

# Client c, user carol: the same proxy name is fine under another user.
client_conf "$E2E_TMP/c.toml" carol "ok1 $p4"
e2e_start c "$BURROW" -c "$E2E_TMP/c.toml"
e2e_wait_log c "proxy ok1: started \(tcp 127\.0\.0\.1:[0-9]+ -> 127\.0\.0\.1:$p4\)"
e2e_wait_log burrowd 'proxy carol\.ok1 \(tcp\) started'
echo_through "$p4" "carol/ok1"

failures=()
# Client b: a proxy name client a already uses is refused, even on a free
# allowed port, and that port stays closed.
client_conf "$E2E_TMP/b.toml" "" "ok1 $p5"
e2e_start b "$BURROW" -c "$E2E_TMP/b.toml"
e2e_wait_log b 'proxy ok1: start'
if ! grep -q 'proxy ok1: start error: .*already in use' "$E2E_TMP/b.log"; then
  failures+=("a second client took the proxy name ok1: $(grep 'proxy ok1:' "$E2E_TMP/b.log")")
elif [ "$(e2e_count burrowd 'proxy ok1 \(tcp\) refused: .*already in use')" -ne 1 ]; then
  failures+=("burrowd did not log the duplicate name once")
fi
e2e_refused "$p5" || failures+=("port $p5 of the duplicate proxy is listening")
# Client a's ok1 still reaches its own service.
echo_through "$p1" "a/ok1 after b"

# Client d: remotePort = 0 is served from allowPorts.
client_conf "$E2E_TMP/d.toml" "" "auto 0"
e2e_start d "$BURROW" -c "$E2E_TMP/d.toml"
e2e_wait_log d 'proxy auto: start'
auto=$(e2e_proxy_port d auto || true)
if [ "$auto" = "$p3" ] || [ "$auto" = "$p5" ]; then
  echo_through "$auto" "d/auto"
else
  failures+=("remotePort = 0 did not get a free allowed port ($p3 or $p5): $(grep 'proxy auto:' "$E2E_TMP/d.log")")
fi
[ ${#failures[@]} -eq 0 ] || e2e_fail "$(printf '%s; ' "${failures[@]}")"

for c in a b c d; do
  e2e_stop $c
done
e2e_stop burrowd
echo "relay_tcp_refusals: ok"
