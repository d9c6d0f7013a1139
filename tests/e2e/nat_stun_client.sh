#!/usr/bin/env bash
# Burrow's STUN server against a standard client, on loopback only.
#
#   stun (Debian's stun-client, RFC 3489)  --->  127.0.0.1:P1  A1:P1 \
#   test_nat_probe probe (Burrow's probe)  --->                       > test_nat_probe serve
#                                                127.0.0.1:P2  A1:P2 |   (nat_stun_server,
#                                                127.0.0.2:P1  A2:P1 |    ports from the OS)
#                                                127.0.0.2:P2  A2:P2 /
#
# 1. Two addresses: the RFC 3489 client runs its tests I, II (change IP),
#    III (change port) and I(2) (to CHANGED-ADDRESS) and finds "Open";
#    Burrow's probe runs every RFC 5780 test and reports open-internet.
# 2. One address: CHANGE-REQUEST gets 420 (RFC 5780 section 6), and the probe
#    says that filtering is untested.
# 3. Nothing listening: the probe gives up in about 1.5 s with the message.
#
# The server is the test-only mode of tests/test_nat_probe (built from
# tests/unit/test_nat_probe.c) until burrowd answers STUN itself.
# Exit 77 (skip) without the stun client.
set -euo pipefail

tool=${BW_BINARY_DIR:-build}/tests/test_nat_probe
if ! command -v stun >/dev/null 2>&1; then
	echo "SKIP: Debian's stun client (package stun-client) is not installed"
	exit 77
fi
if [[ ! -x $tool ]]; then
	echo "SKIP: $tool not built"
	exit 77
fi

work=$(mktemp -d)
server_pid=
cleanup() {
	if [[ -n $server_pid ]]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	for f in "$work"/*; do
		echo "--- $f"
		cat "$f"
	done
	exit 1
}

# start_server ARGS...: sets server_pid, p1, p2 once the "ready" line is out.
start_server() {
	: >"$work/server.out"
	"$tool" serve "$@" >"$work/server.out" 2>"$work/server.err" &
	server_pid=$!
	for _ in $(seq 100); do
		if grep -q '^ready' "$work/server.out"; then
			read -r _ a1 a2 <"$work/server.out"
			p1=${a1##*:}
			p2=${a2##*:}
			return 0
		fi
		kill -0 "$server_pid" 2>/dev/null || fail "server exited"
		sleep 0.05
	done
	fail "server not ready"
}

stop_server() {
	kill "$server_pid"
	wait "$server_pid" || fail "server exited with $?"
	server_pid=
}

echo "== two addresses: 127.0.0.1 and 127.0.0.2"
start_server 127.0.0.1 127.0.0.2
echo "server: 127.0.0.1:$p1 127.0.0.1:$p2 127.0.0.2:$p1 127.0.0.2:$p2"

rc=0
timeout 30 stun "127.0.0.1:$p1" -v >"$work/stun.out" 2>&1 || rc=$?
# The client's exit status is its verdict bits: 1 = open.
[[ $rc -eq 1 ]] || fail "stun exited $rc"
grep -q '^Primary: Open' "$work/stun.out" || fail "stun did not find Open"
for t in 'test I = 1' 'test II = 1' 'test III = 1' 'test I(2) = 1' 'hairpin = 1'; do
	grep -qF "$t" "$work/stun.out" || fail "stun: no '$t'"
done
# CHANGED-ADDRESS names A2:P2; test II (change IP) came from A2:P1 and test
# III (change port) from A1:P2.
grep -qF "ChangedAddress = 127.0.0.2:$p2" "$work/stun.out" || fail "CHANGED-ADDRESS"
grep -qF "SourceAddress = 127.0.0.2:$p1" "$work/stun.out" || fail "change IP source"
grep -qF "SourceAddress = 127.0.0.1:$p2" "$work/stun.out" || fail "change port source"
echo "stun client: Primary: Open (tests I, II, III, I(2) and hairpin answered)"

"$tool" probe 127.0.0.1 "$p1" --json >"$work/probe.json" || fail "probe failed"
grep -qF '"nat_type":"open-internet"' "$work/probe.json" || fail "probe verdict"
grep -qF '"mapping":"endpoint-independent","filtering":"endpoint-independent"' \
	"$work/probe.json" || fail "probe behaviour"
grep -qF '"hairpin":true' "$work/probe.json" || fail "probe hairpin"
grep -qF '"untested":[]' "$work/probe.json" || fail "probe left tests out"
grep -qF "\"other_address\":\"127.0.0.2:$p2\"" "$work/probe.json" || fail "OTHER-ADDRESS"
cat "$work/probe.json"
stop_server

echo "== one address: 127.0.0.1"
start_server 127.0.0.1
timeout 30 stun "127.0.0.1:$p1" -v >"$work/stun1.out" 2>&1 || true
# Debian's client always sends CHANGE-REQUEST: every answer is a 420.
grep -qF 'ErrorCode = 4 20 Unknown Attribute' "$work/stun1.out" || fail "no 420"
grep -qF 'ChangedAddress' "$work/stun1.out" && fail "CHANGED-ADDRESS from one address"
echo "stun client: 420 Unknown Attribute to CHANGE-REQUEST"

"$tool" probe 127.0.0.1 "$p1" --json >"$work/probe1.json" || fail "probe failed"
grep -qF '"untested":[{"test":"filtering","reason":"server has one address' \
	"$work/probe1.json" || fail "probe did not say what it could not test"
grep -qF '"other_address":null' "$work/probe1.json" || fail "OTHER-ADDRESS from one address"
cat "$work/probe1.json"
stop_server

echo "== nothing listening"
# A port that was free a moment ago; ICMP errors are not reported to the
# probe's unconnected sockets, so this is the "silent server" case.
free_port=$p1
start=$(date +%s%N)
rc=0
"$tool" probe 127.0.0.1 "$free_port" >"$work/probe0.out" 2>&1 || rc=$?
took=$((($(date +%s%N) - start) / 1000000))
[[ $rc -eq 1 ]] || fail "probe exited $rc"
grep -qF "no answer from 127.0.0.1:$free_port after 1.5 s: UDP blocked or server not answering STUN" \
	"$work/probe0.out" || fail "give-up message"
((took >= 1400 && took < 2500)) || fail "gave up after $took ms"
echo "probe gave up after $took ms: $(grep '^UDP' "$work/probe0.out")"
echo "PASS"
