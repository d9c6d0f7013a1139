#!/usr/bin/env bash
# Burrow's NAT probe against kernel filtering and kernel NAT, on loopback in
# a private network namespace (unshare -n: only its own lo exists, nothing is
# named, nothing outlives the script). Not the lab (netns-lab/ builds real
# topologies); this checks the probe's negative paths and its timing.
#
#   probe sockets 127.0.0.10:*  --[nft snat to 127.0.0.3]-->  127.0.0.1:3478 127.0.0.1:3479
#                               <--[nft input filter]------   127.0.0.2:3478 127.0.0.2:3479
#                                                              (test_nat_probe serve)
#
#   filter only, address-dependent          -> symmetric-udp-firewall, address-dependent
#   filter only, address-and-port-dependent -> symmetric-udp-firewall, address-and-port-dependent
#   snat (port-preserving) + filter         -> port-restricted-cone
#   snat random + filter                    -> symmetric, random ports
#
# Each must finish in under 2 s (negative tests wait their 1.5 s timeout).
# Needs root, unshare and nft; exits 77 (skip) without them.
set -euo pipefail

tool=${BW_BINARY_DIR:-build}/tests/test_nat_probe
if [[ ${BW_NAT_INNER:-} != 1 ]]; then
	if [[ $(id -u) -ne 0 ]] || ! command -v unshare >/dev/null || ! command -v nft >/dev/null; then
		echo "SKIP: needs root, unshare and nft"
		exit 77
	fi
	[[ -x $tool ]] || { echo "SKIP: $tool not built"; exit 77; }
	exec env BW_NAT_INNER=1 unshare -n bash "$0" "$@"
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
	exit 1
}

ip link set lo up
"$tool" serve 127.0.0.1 127.0.0.2 3478 3479 >"$work/server.out" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
	grep -q '^ready' "$work/server.out" && break
	kill -0 "$server_pid" 2>/dev/null || fail "server exited: $(cat "$work/server.out")"
	sleep 0.05
done
grep -q '^ready' "$work/server.out" || fail "server not ready"

nft add table inet bwtest
nft add chain inet bwtest in '{ type filter hook input priority 0; }'
nft add table ip bwtestnat
nft add chain ip bwtestnat post '{ type nat hook postrouting priority 100; }'

# probe NAME EXPECTED...: run the probe, check each "key":value in the JSON.
probe() {
	local name=$1 start took
	shift
	start=$(date +%s%N)
	"$tool" probe 127.0.0.1 3478 --json --local 127.0.0.10 >"$work/out.json" ||
		fail "$name: probe failed: $(cat "$work/out.json")"
	took=$((($(date +%s%N) - start) / 1000000))
	for kv in "$@"; do
		grep -qF "$kv" "$work/out.json" || fail "$name: no $kv in $(cat "$work/out.json")"
	done
	((took < 2000)) || fail "$name: took $took ms"
	echo "$name: ok in $took ms"
	cat "$work/out.json"
}

# Unsolicited datagrams from the server's ports are dropped unless from a
# flow the client opened (conntrack), first by address, then by address+port.
nft add rule inet bwtest in ip saddr 127.0.0.2 udp sport '{3478,3479}' ct state new drop
probe "address-dependent filtering" '"nat_type":"symmetric-udp-firewall"' '"nat":false' \
	'"filtering":"address-dependent"' '"untested":[]'

nft flush chain inet bwtest in
nft add rule inet bwtest in udp sport '{3478,3479}' ct state new drop
probe "address-and-port-dependent filtering" '"nat_type":"symmetric-udp-firewall"' \
	'"filtering":"address-and-port-dependent"'

# Source NAT, as Linux masquerade does it: mappings keep the port.
nft add rule ip bwtestnat post ip saddr 127.0.0.10 udp dport '{3478,3479}' snat to 127.0.0.3
probe "snat" '"nat_type":"port-restricted-cone"' '"nat":true' \
	'"mapping":"endpoint-independent"' '"port_allocation":"preserving"' '"mapped":"127.0.0.3:'

nft flush chain ip bwtestnat post
nft add rule ip bwtestnat post ip saddr 127.0.0.10 udp dport '{3478,3479}' snat to 127.0.0.3 random
probe "snat random" '"nat_type":"symmetric"' '"mapping":"address-and-port-dependent"' \
	'"port_preserving":false'
echo "PASS"
