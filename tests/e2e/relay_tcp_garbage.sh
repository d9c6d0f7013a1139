#!/usr/bin/env bash
# Garbage and oversized frames on burrowd's control port while a normal
# client relays: random bytes, a frame above the pre-login limit, a header
# announcing 1 GiB, a genuine HELLO (recorded from a real client) followed by
# junk, and half a frame then silence until the login timeout. Each bad
# connection is closed, burrowd logs them rate-limited, does not buffer the
# 1 GiB, stays up, and the normal client keeps its session and its bytes flow.
#
#   garbage.py ----------> burrowd :C <== burrow (heartbeats every 1 s)
#   user.py --> burrowd :P ==========> burrow --> service.py echo
. "$(dirname "$0")/lib.sh"

head -c 1048576 /dev/urandom >"$E2E_TMP/in"

# A server too busy with garbage to read heartbeats would drop the client.
e2e_burrowd burrowd garbage 'transport.heartbeatTimeout = 5'
ctl=$(e2e_port burrowd)
e2e_service echo echo

client_conf() { # serverPort
  e2e_client_conf "$1" garbage 'transport.heartbeatInterval = 1' \
    'transport.heartbeatTimeout = 5'
  e2e_proxy echo tcp "$(e2e_listen_port echo)" 'remotePort = 0'
}
client_conf "$ctl" >"$E2E_TMP/burrow.toml"
e2e_start burrow "$BURROW" -c "$E2E_TMP/burrow.toml"
e2e_wait_log burrow 'proxy echo: started \(tcp '
public=$(e2e_proxy_port burrow echo)
echo_ok() { # what
  python3 "$E2E_TOOLS/user.py" xfer "$public" "$E2E_TMP/in" "$E2E_TMP/out" >/dev/null ||
    e2e_fail "$1: echo through the normal client failed"
  cmp "$E2E_TMP/in" "$E2E_TMP/out" || e2e_fail "$1: echo through the normal client differs"
}
echo_ok "before the garbage"

# A genuine HELLO, recorded from a client logging in through a tap (the
# client speaks first, so the capture starts with its HELLO frame).
e2e_start tap python3 "$E2E_TOOLS/wiretap.py" "$ctl" "$E2E_TMP/wire.bin"
e2e_wait_log tap 'wiretap listening on'
client_conf "$(e2e_listen_port tap)" | sed '/^\[\[proxies\]\]/,$d' >"$E2E_TMP/rec.toml"
e2e_start rec "$BURROW" -c "$E2E_TMP/rec.toml"
e2e_wait_log rec 'logged in to'
e2e_stop rec
e2e_kill tap
python3 -c 'import struct, sys
d = open(sys.argv[1], "rb").read()
n = struct.unpack(">I", d[:4])[0]
assert 0 < n <= 2048 and len(d) >= 4 + n
open(sys.argv[2], "wb").write(d[:4 + n])' "$E2E_TMP/wire.bin" "$E2E_TMP/hello.bin" ||
  e2e_fail "no HELLO frame in the recording"
rss_before=$(awk '/^VmRSS:/ { print $2 }' "/proc/${E2E_PID[burrowd]}/status")
clients_before=$(e2e_count burrowd 'rdv: client .* logged in')

# Half a frame then silence: closed by the login timeout (10 s), not before
# and not never. It runs beside everything else.
e2e_start half python3 "$E2E_TOOLS/garbage.py" "$ctl" half 9 14
g() {
  python3 "$E2E_TOOLS/garbage.py" "$ctl" "$@" || e2e_fail "garbage $1: the server did not close the connection in time"
}
g random 100
echo_ok "after 100 random connections"
g big
g huge
g hello "$E2E_TMP/hello.bin"
g hello-big "$E2E_TMP/hello.bin"
echo_ok "after oversized frames and junk after HELLO"
kill -0 "${E2E_PID[burrowd]}" 2>/dev/null || e2e_fail "burrowd died"
e2e_wait_exit half 20
[ "$E2E_RC" -eq 0 ] || e2e_fail "half a frame: $(cat "$E2E_TMP/half.log")"

# The 1 GiB frame was not buffered.
rss_after=$(awk '/^VmRSS:/ { print $2 }' "/proc/${E2E_PID[burrowd]}/status")
echo "burrowd VmRSS: $rss_before KiB before the garbage, $rss_after KiB after"
[ $((rss_after - rss_before)) -lt 65536 ] ||
  e2e_fail "burrowd grew by $((rss_after - rss_before)) KiB on garbage"

# Logged, but rate-limited: 100 random connections in a burst do not make
# 100 lines, and a later one reports how many were suppressed.
n=$(e2e_count burrowd '\[W\] rdv: 127\.0\.0\.1:[0-9]+: ')
echo "burrowd logged $n warnings about bad frames"
[ "$n" -ge 1 ] || e2e_fail "burrowd logged nothing about the garbage"
[ "$n" -le 40 ] || e2e_fail "burrowd logged $n lines for ~105 bad connections: not rate-limited"
g random 1
e2e_wait_log burrowd 'similar log lines suppressed' 5

# The normal client never lost its session, and no garbage logged in.
echo_ok "at the end"
! grep -q 'lost:' "$E2E_TMP/burrow.log" || e2e_fail "the normal client lost its session"
run_id=$(grep -Eo 'run id [0-9a-f]+' "$E2E_TMP/burrow.log" | head -n1)
! grep -q "($run_id) closed" "$E2E_TMP/burrowd.log" || e2e_fail "burrowd dropped the normal client"
[ "$(e2e_count burrowd 'rdv: client .* logged in')" -eq "$clients_before" ] ||
  e2e_fail "a garbage connection logged in"

e2e_stop burrow
kill -0 "${E2E_PID[burrowd]}" 2>/dev/null || e2e_fail "burrowd died"
e2e_stop burrowd
echo "relay_tcp_garbage: ok"
