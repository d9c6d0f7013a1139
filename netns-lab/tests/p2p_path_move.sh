#!/usr/bin/env bash
# lab/p2p_path_move: a live xtcp stream survives its session's path moving
# under it. Owner behind one full-cone NAT, visitor behind another: the
# session goes direct. While a stream carries data both ways (an echo
# service), the test drops every UDP packet between the two sites' public
# addresses in the inet router: the visitor must log that the direct path
# went silent and move the session to burrowd's relay, without the stream
# noticing. Then the test lets UDP through again: the visitor's probes are
# answered and the session moves back to the direct path. Every byte must
# come back intact and in order, on the one TCP connection, and the NAT
# edge's counters must show the middle of the stream going through burrowd.
# Needs root: exit 77 without. Own lab: prefix bw-pm-.
#
#        pub 203.0.113.10  burrowd: control 7000, STUN 3478 (+ .11:3479)
#               |
#             inet   <- nft table bwpm: drop UDP fa <-> fb (the cut)
#            /    \
#          fa      fb        full-cone NATs
#          |        |
#         fa1      fb1
#   owner, echo 9000   visitor (xtcp 127.0.0.1:6000), mover.py
#
# Output: "ok - ..." / "not ok - ..." per check, then "N passed, M failed".
# Environment: BURROW, BURROWD (else build/cmd/ of the source tree).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
	echo "p2p_path_move: SKIP: needs root (network namespaces, nftables)" >&2
	exit 77
fi
export BW_LAB_PREFIX=${BW_LAB_PREFIX:-bw-pm-}
export BW_LAB_LOCK_WAIT=${BW_LAB_LOCK_WAIT:-300}
# shellcheck source=../lib.sh
. "$here/lib.sh"
lab_require_root
BURROW=${BURROW:-$here/../build/cmd/burrow}
BURROWD=${BURROWD:-$here/../build/cmd/burrowd}
for b in "$BURROW" "$BURROWD"; do
	[ -x "$b" ] || { echo "p2p_path_move: FAIL: no $b (set BURROW, BURROWD)" >&2; exit 1; }
done
PY=${BW_LAB_PYTHON:-python3}
SRV=$BW_LAB_SERVER1 CTL_PORT=7000 STUN_PORT=3478 TOKEN=pm-token SECRET=pm-secret
STREAM_S=24      # the stream's length: before, during and after the cut

lab_init
lab_trap_install
W=$BW_LAB_STATE/pm   # the lab's state directory goes with lab_down
mkdir -p "$W"

lab_up_core
lab_up_site fa full-cone
lab_up_site fb full-cone

printf '%s\n' "bindAddr = \"$SRV\"" "bindPort = $CTL_PORT" "bindUDPPort = $STUN_PORT" \
	"natProbeAltAddr = \"$BW_LAB_SERVER2\"" "auth.token = \"$TOKEN\"" >"$W/burrowd.toml"
lab_spawn pub burrowd "$BURROWD" -c "$W/burrowd.toml" >/dev/null
lab_wait_log burrowd "control listening on $SRV:$CTL_PORT" 10
lab_spawn fa1 echo "$PY" "$here/../tests/e2e/tools/service.py" --port 9000 echo >/dev/null
lab_wait_log echo 'service listening on' 10

client_conf() { # FILE LINES...: a client of burrowd, then LINES
	local f=$1; shift
	printf '%s\n' "serverAddr = \"$SRV\"" "serverPort = $CTL_PORT" "auth.token = \"$TOKEN\"" \
		"loginFailExit = true" "$@" >"$f"
}
client_conf "$W/owner.toml" '[[proxies]]' 'name = "ssh"' 'type = "xtcp"' \
	"secretKey = \"$SECRET\"" 'localIP = "127.0.0.1"' 'localPort = 9000'
client_conf "$W/visitor.toml" '[[visitors]]' 'name = "ssh-home"' 'type = "xtcp"' \
	'serverName = "ssh"' "secretKey = \"$SECRET\"" 'bindAddr = "127.0.0.1"' 'bindPort = 6000'
lab_spawn fa1 owner "$BURROW" -c "$W/owner.toml" >/dev/null
lab_wait_log owner 'proxy ssh: started' 10
lab_spawn fb1 visitor "$BURROW" -c "$W/visitor.toml" >/dev/null
lab_wait_log visitor 'visitor ssh-home: xtcp listening' 10
lab_wait_log visitor 'burrow: NAT ' 10

# mover.py PORT SECONDS: one connection; writes a known pattern in 32 KiB
# pieces every 10 ms (about 3 MB/s) while a thread reads the echo, then
# shuts its side and reads to EOF. "sent=N got=N ok=1" if every byte came
# back in order.
printf '%s\n' \
	'import socket, sys, threading, time' \
	'port, secs = int(sys.argv[1]), float(sys.argv[2])' \
	's = socket.create_connection(("127.0.0.1", port), timeout=90)' \
	'def pat(off, n):' \
	'    return bytes((i * 7 + (i >> 11)) & 255 for i in range(off, off + n))' \
	'got, err, block = bytearray(), [], 32768' \
	'def reader():' \
	'    try:' \
	'        while True:' \
	'            d = s.recv(65536)' \
	'            if not d:' \
	'                return' \
	'            got.extend(d)' \
	'    except OSError as e:' \
	'        err.append(str(e))' \
	't = threading.Thread(target=reader); t.start()' \
	'sent, end = 0, time.time() + secs' \
	'print("started", flush=True)' \
	'try:' \
	'    while time.time() < end:' \
	'        s.sendall(pat(sent, block)); sent += block' \
	'        time.sleep(0.01)' \
	'    s.shutdown(socket.SHUT_WR)' \
	'except OSError as e:' \
	'    err.append(str(e))' \
	't.join(90)' \
	'ok = not err and len(got) == sent and bytes(got) == pat(0, sent)' \
	'print("sent=%d got=%d ok=%d %s" % (sent, len(got), ok, ";".join(err)), flush=True)' \
	'sys.exit(0 if ok else 1)' >"$W/mover.py"

pass=0 fail=0
check() { # 0|1 TEXT
	if [ "$1" = 0 ]; then
		echo "ok - $2"; pass=$((pass + 1))
	else
		echo "not ok - $2"; fail=$((fail + 1))
	fi
}
pa=$(lab_public_addr fa) pb=$(lab_public_addr fb)
cut_udp() {
	printf '%s\n' 'table inet bwpm {' '  chain cut {' \
		'    type filter hook forward priority -10;' \
		"    ip saddr $pa ip daddr $pb ip protocol udp drop" \
		"    ip saddr $pb ip daddr $pa ip protocol udp drop" '  }' '}' | lab_exec inet nft -f -
}
lab_spawn fb1 mover "$PY" "$W/mover.py" 6000 "$STREAM_S" >/dev/null
lab_wait_log mover '^started' 10
rc=0; lab_wait_log visitor 'visitor ssh-home: direct [0-9.]+:[0-9]+ from ' 10 || rc=1
check $rc "the session went direct first"
sleep 3
lab_nat_counters_reset fa
cut_udp
t_cut=$SECONDS
rc=0
lab_wait_log visitor 'visitor ssh-home: direct path silent for [0-9.]+ s; moving to the relay' 12 ||
	rc=1
check $rc "the visitor saw the direct path go silent ($((SECONDS - t_cut)) s after the cut)"
rc=0; lab_wait_log visitor 'visitor ssh-home: relayed via burrowd \(direct path silent' 10 || rc=1
check $rc "the session moved to burrowd's relay ($((SECONDS - t_cut)) s after the cut)"
sleep 3
relayed=$(lab_nat_bytes fa out tcp "$SRV")
rc=1; [ "${relayed:-0}" -gt 1000000 ] && rc=0
check $rc "the stream went on through burrowd during the cut (${relayed:-0} bytes from fa to burrowd)"
lab_exec inet nft delete table inet bwpm
t_heal=$SECONDS
rc=0; lab_wait_log visitor 'visitor ssh-home: direct [0-9.]+:[0-9]+ again' 10 || rc=1
check $rc "the session came back to the direct path ($((SECONDS - t_heal)) s after UDP came back)"
lab_wait_log mover '^sent=' 60 || true
out=$(grep -E '^sent=' "$(lab_log_path mover)" || true)
rc=1; grep -q ' ok=1' <<<"$out" && rc=0
check $rc "every byte of the one stream came back in order ($out)"
rc=0
lab_wait_log visitor 'visitor ssh-home: connection 127\.0\.0\.1:[0-9]+ closed: .* done' 10 || rc=1
check $rc "the visitor's connection ended as done, not reset"
echo "$pass passed, $fail failed"
if [ "$fail" -ne 0 ]; then
	for l in visitor owner; do
		echo "--- $l"
		tail -n 40 "$(lab_log_path "$l")"
	done
	exit 1
fi
