# shellcheck shell=bash
# netns-lab/nat.sh: the nftables rules of every NAT type, sourced by lib.sh.
# docs/NAT.md explains each type with these rules.

# lab__nat_rules TYPE WANADDR INNER_SUBNET HAIRPIN EDGE: the nft script of one
# NAT layer. "wan" faces the internet (or the carrier), "lan" the inside.
# docs/NAT.md walks through it; the essentials:
#  - mappings are learned AFTER source NAT (learn chain, srcnat + 10), where
#    "ct reply proto-dst" is the public port: ext2int (public port -> inside
#    endpoint), int2ext (its inverse), contacted (public port, remote address);
#  - full-cone DNATs any inbound packet whose port is in ext2int; restricted
#    only if (port, remote address) is in contacted; port-restricted relies on
#    conntrack alone (replies only);
#  - unsolicited packets to the router itself are dropped in input before
#    conntrack confirms them, so they never occupy a tuple a host needs.
lab__nat_rules() {
	local type=$1 w=$2 inner=$3 hairpin=$4 edge=$5
	cat <<-EOF
		table ip bwlab {
			map ext2int { type inet_proto . inet_service : ipv4_addr . inet_service; flags dynamic,timeout; timeout ${BW_LAB_UDP_STREAM_DEFAULT}s; size 65536; }
			map int2ext { type inet_proto . ipv4_addr . inet_service : ipv4_addr . inet_service; flags dynamic,timeout; timeout ${BW_LAB_UDP_STREAM_DEFAULT}s; size 65536; }
			set contacted { type inet_proto . inet_service . ipv4_addr; flags dynamic,timeout; timeout ${BW_LAB_UDP_STREAM_DEFAULT}s; size 65536; }
			map rebind { type inet_proto . ipv4_addr . inet_service : ipv4_addr . inet_service; flags timeout; timeout ${BW_LAB_REBIND_TIMEOUT}s; size 4096; }
			set acct_out { type inet_proto . ipv4_addr; flags dynamic; counter; size 65536; }
			set acct_in { type inet_proto . ipv4_addr; flags dynamic; counter; size 65536; }
			counter hairpin { }
			chain dstnat { type nat hook prerouting priority dstnat; policy accept; }
			chain srcnat { type nat hook postrouting priority srcnat; policy accept; }
			chain learn { type filter hook postrouting priority srcnat + 10; policy accept; }
			chain input { type filter hook input priority filter; policy accept;
				ct state established,related accept
				iifname "lo" accept
				meta l4proto { udp, tcp } drop
			}
			chain forward { type filter hook forward priority filter; policy accept; }
			chain acct { type filter hook forward priority filter + 10; policy accept; }
		}
	EOF
	local L4='meta l4proto { udp, tcp }'
	local PUB='dnat ip to meta l4proto . th dport map @ext2int'
	case "$type" in
	none) ;;
	full-cone)
		echo "add rule ip bwlab dstnat iifname \"wan\" $L4 meta l4proto . th dport @ext2int $PUB"
		;;
	restricted)
		echo "add rule ip bwlab dstnat iifname \"wan\" $L4 meta l4proto . th dport . ip saddr @contacted $PUB"
		;;
	esac
	if [ "$hairpin" = on ]; then
		echo "add rule ip bwlab dstnat iifname \"lan\" ip daddr $w $L4 meta l4proto . th dport @ext2int $PUB"
	fi

	# Source NAT. The rebind knob's entries come first, for every type.
	local OUT="oifname \"wan\" ip saddr $inner"
	local HP='iifname "lan" oifname "lan" ct status dnat'
	if [ "$type" != none ]; then
		echo "add rule ip bwlab srcnat $OUT $L4 meta l4proto . ip saddr . th sport @rebind snat ip to meta l4proto . ip saddr . th sport map @rebind"
	fi
	case "$type" in
	full-cone | restricted)
		# Endpoint-independent mapping made explicit: an inside endpoint
		# keeps its public port for every destination (int2ext), a port
		# owned by another endpoint is never handed out twice, and a new
		# endpoint keeps its own port when free.
		local src
		for src in "$OUT" "$HP"; do
			echo "add rule ip bwlab srcnat $src $L4 meta l4proto . ip saddr . th sport @int2ext snat ip to meta l4proto . ip saddr . th sport map @int2ext"
			echo "add rule ip bwlab srcnat $src $L4 meta l4proto . th sport @ext2int snat ip to $w:1024-65535 random"
			echo "add rule ip bwlab srcnat $src snat ip to $w"
		done
		;;
	port-restricted | udp-blocked)
		# What a Linux home router does: masquerade keeps the source port
		# when it is free, conntrack lets only replies in.
		echo "add rule ip bwlab srcnat $OUT masquerade"
		echo "add rule ip bwlab srcnat $HP snat ip to $w"
		;;
	symmetric)
		echo "add rule ip bwlab srcnat $OUT masquerade random"
		echo "add rule ip bwlab srcnat $HP snat ip to $w random"
		;;
	symmetric-seq)
		# One new port per new flow (5-tuple), taken from a counter: the
		# next flow gets the next port, which is what port prediction
		# guesses. The counter goes through a map because numgen yields a
		# host-order integer and NAT wants a network-order port (without
		# the map, "offset 20000" gives ports 256 apart, some below 1024).
		echo "add map ip bwlab seqports { typeof numgen inc mod $BW_LAB_SEQ_PORTS : udp sport; }"
		seq 0 $((BW_LAB_SEQ_PORTS - 1)) | awk -v b="$BW_LAB_SEQ_BASE" \
			'BEGIN { printf "add element ip bwlab seqports { " }
			 { printf "%s%d : %d", (NR > 1 ? ", " : ""), $1, b + $1 }
			 END { print " }" }'
		local SEQ="snat ip to $w : numgen inc mod $BW_LAB_SEQ_PORTS map @seqports"
		echo "add rule ip bwlab srcnat $OUT $L4 $SEQ"
		echo "add rule ip bwlab srcnat $OUT masquerade"
		echo "add rule ip bwlab srcnat $HP $L4 $SEQ"
		;;
	esac

	# Filtering of what comes in from outside.
	if [ "$type" != none ]; then
		echo "add rule ip bwlab forward iifname \"wan\" ct state new ct status ! dnat drop"
	fi
	if [ "$type" = udp-blocked ]; then
		echo "add rule ip bwlab forward oifname \"wan\" meta l4proto udp drop"
		echo "add rule ip bwlab forward iifname \"wan\" meta l4proto udp drop"
	fi

	# Byte counters at the site's edge: per (protocol, remote address), each
	# way, and hairpinned traffic.
	if [ "$edge" = 1 ]; then
		echo "add rule ip bwlab acct oifname \"wan\" update @acct_out { meta l4proto . ip daddr }"
		echo "add rule ip bwlab acct iifname \"wan\" update @acct_in { meta l4proto . ip saddr }"
		echo "add rule ip bwlab acct iifname \"lan\" oifname \"lan\" counter name hairpin"
	fi
	[ "$type" = none ] || lab__learn_rules "$BW_LAB_UDP_STREAM_DEFAULT"
}

# The learning rules, with the UDP mapping lifetime in seconds ($1); the
# udp-timeout knob replaces them. Outbound packets of a flow refresh its
# mapping, as on most NATs.
lab__learn_rules() {
	local udp=$1 proto t
	for proto in udp tcp; do
		if [ $proto = udp ]; then t=$udp; else t=$BW_LAB_TCP_MAP_TIMEOUT; fi
		local O="add rule ip bwlab learn oifname \"wan\" meta l4proto $proto ct direction original ct status snat"
		local R="add rule ip bwlab learn oifname \"wan\" meta l4proto $proto ct direction reply ct status dnat"
		echo "$O update @ext2int { meta l4proto . ct reply proto-dst timeout ${t}s : ct original ip saddr . ct original proto-src }"
		echo "$O update @int2ext { meta l4proto . ct original ip saddr . ct original proto-src timeout ${t}s : ct reply ip daddr . ct reply proto-dst }"
		echo "$O update @contacted { meta l4proto . ct reply proto-dst . ip daddr timeout ${t}s }"
		echo "$R update @ext2int { meta l4proto . ct original proto-dst timeout ${t}s : ct reply ip saddr . ct reply proto-src }"
		echo "$R update @int2ext { meta l4proto . ct reply ip saddr . ct reply proto-src timeout ${t}s : ct original ip daddr . ct original proto-dst }"
		echo "$R update @contacted { meta l4proto . ct original proto-dst . ip daddr timeout ${t}s }"
	done
}

lab__nat_apply() { # NODE TYPE WANADDR INNER HAIRPIN EDGE
	local ns
	ns=$(lab__ns "$1")
	lab__nat_rules "$2" "$3" "$4" "$5" "$6" | ip netns exec "$ns" nft -f - ||
		lab__die "nft rejected the rules of $1 ($2)"
	lab__sysctl "$ns" net.netfilter.nf_conntrack_udp_timeout="$BW_LAB_UDP_TIMEOUT_DEFAULT" \
		net.netfilter.nf_conntrack_udp_timeout_stream="$BW_LAB_UDP_STREAM_DEFAULT"
}
