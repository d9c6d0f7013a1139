#!/usr/bin/env bash
# lab/ice_srflx: peer/ice.h (libnice, through `test_peer_ice probe`) across
# the lab's NATs. Two agents, one per site, trickle their credentials and
# candidates to each other through two FIFOs (what burrowd's rendezvous
# carries), gather server-reflexive candidates from the STUN server on pub,
# and must select a direct pair wherever punching without port prediction
# works, then move 100 datagrams each way; where it cannot, both must end in
# `failed` within the check timeout. The selected pair must name the other
# site's public address, and the NAT routers' own counters must show the
# datagrams between the two public addresses. Needs root: exit 77 without.
# Own lab: prefix bw-ice-.
#
#   pub 203.0.113.10   Burrow's STUN server (nat/, what burrowd runs on
#                      bindUDPPort), port 3478, through `test_nat_probe serve`
#        |
#      inet -------------------------------------.
#        |        |        |        |       |     |
#       fa       fb       pa       pb      sa    sb
#      full-   full-    port-    port-   symm- symm-
#      cone    cone     restr.   restr.  etric etric
#        |        |        |        |       |     |
#       fa1      fb1      pa1      pb1     sa1   sb1
#
# Cases (controlling site, controlled site, expectation):
#   fa fb direct | pa pb direct | sa fb direct | sa pb failed | sa sb failed
#
# Not stund: it answers RFC 3489 style, and libnice (RFC 5389) reads its
# XOR-MAPPED-ADDRESS as garbage (srflx 63.32.31.60 for 198.51.100.49).
# TEST_PEER_ICE and TEST_NAT_PROBE override the binaries
# ($BW_BINARY_DIR/tests/test_peer_ice, .../test_nat_probe).
# Prints "ok - ..." / "not ok - ..." with the pair, its candidate types and
# the time to selection, then "N passed, M failed".
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
	echo "ice_srflx: SKIP: needs root (network namespaces, nftables)" >&2
	exit 77
fi
export BW_LAB_PREFIX=${BW_LAB_PREFIX:-bw-ice-}
export BW_LAB_LOCK_WAIT=${BW_LAB_LOCK_WAIT:-300}
# shellcheck source=../lib.sh
. "$here/lib.sh"
lab_require_root
bin=${BW_BINARY_DIR:-$here/../build}
probe=${TEST_PEER_ICE:-$bin/tests/test_peer_ice}
stun_server=${TEST_NAT_PROBE:-$bin/tests/test_nat_probe}
for b in "$probe" "$stun_server"; do
	if [ ! -x "$b" ]; then
		echo "ice_srflx: FAIL: no $b (build test_peer_ice and test_nat_probe, or set" \
			"TEST_PEER_ICE and TEST_NAT_PROBE)" >&2
		exit 1
	fi
done

CASES=(
	"fa fb direct"
	"pa pb direct"
	"sa fb direct"
	"sa pb failed"
	"sa sb failed"
)
COUNT=100
TIMEOUT_MS=5000

lab_init
lab_trap_install
lab_up_core
lab_up_site fa full-cone
lab_up_site fb full-cone
lab_up_site pa port-restricted
lab_up_site pb port-restricted
lab_up_site sa symmetric
lab_up_site sb symmetric
lab_spawn pub stun "$stun_server" serve "$BW_LAB_SERVER1" - "$BW_LAB_STUN_PORT1" >/dev/null
lab_wait_log stun '^ready' 10
stun="$BW_LAB_SERVER1:$BW_LAB_STUN_PORT1"

pass=0
fail=0
ok() {
	pass=$((pass + 1))
	echo "ok - $*"
}
notok() {
	fail=$((fail + 1))
	echo "not ok - $*"
}

# field N of the probe's "selected ..." line:
# selected LOCAL LTYPE REMOTE RTYPE MS
selected_field() {
	grep -m1 '^selected ' "$(lab_log_path "$1")" | awk -v n="$2" '{ print $(n + 1) }'
}

probe_status() {
	local st
	st=$(grep -m1 '^exit ' "$(lab_log_path "$1")" | awk '{ print $2 }')
	echo "${st:-9}"
}

run_case() {
	local a=$1 b=$2 want=$3 name="$1-$2"
	local ab="$BW_LAB_STATE/$name.ab" ba="$BW_LAB_STATE/$name.ba"
	local rc_a=0 rc_b=0 pid_a pid_b

	rm -f "$ab" "$ba"
	mkfifo "$ab" "$ba"
	lab_nat_counters_reset "$a"
	lab_nat_counters_reset "$b"
	pid_a=$(lab_spawn "${a}1" "$name-a" "$probe" probe --role controlling --in "$ba" --out "$ab" \
		--stun "$stun" --timeout "$TIMEOUT_MS" --count "$COUNT")
	pid_b=$(lab_spawn "${b}1" "$name-b" "$probe" probe --role controlled --in "$ab" --out "$ba" \
		--stun "$stun" --timeout "$TIMEOUT_MS" --count "$COUNT")
	# lab_spawn's processes are not this shell's children: poll, then read
	# the status each probe prints last ("exit N").
	local i
	for ((i = 0; i < (TIMEOUT_MS / 1000 + 25) * 10; i++)); do
		kill -0 "$pid_a" 2>/dev/null || kill -0 "$pid_b" 2>/dev/null || break
		sleep 0.1
	done
	lab_stop "$name-a"
	lab_stop "$name-b"
	rc_a=$(probe_status "$name-a")
	rc_b=$(probe_status "$name-b")

	local pub_a pub_b
	pub_a=$(lab_public_addr "$a")
	pub_b=$(lab_public_addr "$b")
	if [ "$want" = failed ]; then
		if [ "$rc_a" -eq 2 ] && [ "$rc_b" -eq 2 ]; then
			ok "$name: no direct pair, both failed ($(grep -m1 '^failed' "$(lab_log_path "$name-a")"))"
		else
			notok "$name: expected failed, exit $rc_a/$rc_b"
			sed 's/^/  a| /' "$(lab_log_path "$name-a")" | tail -20
			sed 's/^/  b| /' "$(lab_log_path "$name-b")" | tail -20
		fi
		return
	fi
	if [ "$rc_a" -ne 0 ] || [ "$rc_b" -ne 0 ]; then
		notok "$name: expected a direct pair, exit $rc_a/$rc_b"
		sed 's/^/  a| /' "$(lab_log_path "$name-a")" | tail -20
		sed 's/^/  b| /' "$(lab_log_path "$name-b")" | tail -20
		return
	fi
	local ra rb ta tb ms
	ra=$(selected_field "$name-a" 3)
	rb=$(selected_field "$name-b" 3)
	ta="$(selected_field "$name-a" 2)<->$(selected_field "$name-a" 4)"
	tb="$(selected_field "$name-b" 2)<->$(selected_field "$name-b" 4)"
	ms=$(selected_field "$name-a" 5)
	read -r a2b b2a < <(lab_udp_between "$a" "$b")
	local min=$((COUNT * 1200))
	if [ "${ra%:*}" != "$pub_b" ] || [ "${rb%:*}" != "$pub_a" ]; then
		notok "$name: selected $ra / $rb, not the public addresses $pub_b / $pub_a"
	elif [ "$a2b" -lt "$min" ] || [ "$b2a" -lt "$min" ]; then
		notok "$name: NAT counters show $a2b / $b2a UDP bytes between the sites, want >= $min each"
	else
		ok "$name: direct $ra ($ta) / $rb ($tb), selected after $ms ms, $a2b/$b2a UDP bytes"
	fi
}

for c in "${CASES[@]}"; do
	# shellcheck disable=SC2086
	run_case $c
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
