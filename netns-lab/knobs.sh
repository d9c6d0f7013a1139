# shellcheck shell=bash
# netns-lab/knobs.sh: fault injection on a site's uplink and NAT, sourced by
# lib.sh. Each knob acts on lab namespaces only:
#   loss P% [in|out|both]      inet: nft "numgen random mod 1000 < P*10 drop"
#   delay D [J] [in|out|both]  inet: iptables NFQUEUE -> bw_lab_delayer (one
#                              process per direction); J = uniform jitter +-J,
#                              which reorders packets; "delay off" removes it
#   rate R|off                 tbf on both ends of the uplink (edge wan egress,
#                              inet s-<site> egress)
#   flush                      conntrack -F and the learned mappings, every
#                              NAT layer of the site
#   rebind                     every live UDP mapping at the site's edge moves
#                              to a new public port
#   udp-timeout N|default      conntrack UDP timeouts and the learned mapping
#                              lifetime, every NAT layer of the site
#   clear                      loss 0, delay off, rate off, udp-timeout default
# "in" is towards the site, "out" away from it; both is the default, so a
# delay D adds 2*D to every round trip through the site's uplink and a loss P
# loses a round trip with probability 1-(1-P)^2.

lab__knob_record() { # SITE KEY VALUE
	local f=$BW_LAB_STATE/knobs/$1
	{
		grep -v "^$2=" "$f" 2>/dev/null || true
		echo "$2=$3"
	} >"$f.new"
	mv "$f.new" "$f"
}

lab__dirs() {
	case "${1:-both}" in
	both) echo "out in" ;;
	in | out) echo "$1" ;;
	*) lab__die "direction must be in, out or both, not '$1'" ;;
	esac
}

# "1%", "0.5%", "1" -> per mille (integer), bounded to 0..1000.
lab__permille() {
	local v=${1%\%}
	[[ $v =~ ^[0-9]+(\.[0-9])?$ ]] || lab__die "loss: '$1' is not a percentage like 1% or 0.5%"
	awk -v v="$v" 'BEGIN { p = int(v * 10 + 0.5); if (p > 1000) exit 1; print p }' ||
		lab__die "loss: $1 is above 100%"
}

# "10ms", "10", "0", "off" -> milliseconds.
lab__ms() {
	local v=$1
	[ "$v" = off ] && v=0
	v=${v%ms}
	if ! [[ $v =~ ^[0-9]{1,5}$ ]] || [ "$v" -gt 10000 ]; then
		lab__die "delay: '$1' is not a duration like 10ms (at most 10000ms)"
	fi
	echo "$((10#$v))"
}

lab_knob() {
	local site=$1 knob=${2:-}
	[ -n "$knob" ] || lab__die "usage: lab_knob SITE loss|delay|rate|flush|rebind|udp-timeout|clear ..."
	lab__site_field "$site" 2 >/dev/null
	shift 2
	case "$knob" in
	loss) lab__knob_loss "$site" "$@" ;;
	delay) lab__knob_delay "$site" "$@" ;;
	rate) lab__knob_rate "$site" "$@" ;;
	flush) lab__knob_flush "$site" ;;
	rebind) lab__knob_rebind "$site" ;;
	udp-timeout) lab__knob_udp_timeout "$site" "$@" ;;
	clear)
		lab__knob_loss "$site" 0
		lab__knob_delay "$site" off
		lab__knob_rate "$site" off
		lab__knob_udp_timeout "$site" default
		;;
	*) lab__die "unknown knob '$knob'" ;;
	esac
}

lab__knob_loss() {
	local site=$1 pm dir rules=""
	[ $# -ge 2 ] || lab__die "usage: loss PERCENT [in|out|both]"
	pm=$(lab__permille "$2")
	for dir in $(lab__dirs "${3:-both}"); do
		[ "$pm" -gt 0 ] || continue
		if [ "$dir" = out ]; then
			rules+="add rule ip bwinet site_$site iifname \"s-$site\" numgen random mod 1000 < $pm drop"$'\n'
		else
			rules+="add rule ip bwinet site_$site oifname \"s-$site\" numgen random mod 1000 < $pm drop"$'\n'
		fi
	done
	printf 'flush chain ip bwinet site_%s\n%s' "$site" "$rules" |
		ip netns exec "$(lab__ns inet)" nft -f -
	lab__knob_record "$site" loss "$2${3:+/$3}"
}

# The delay line's binary: $BW_LAB_DELAYER, then the build tree
# ($BW_BINARY_DIR, as ctest sets it), else compiled once into $BW_LAB_RUN.
lab__delayer_bin() {
	local b
	for b in "${BW_LAB_DELAYER:-}" "${BW_BINARY_DIR:+$BW_BINARY_DIR/netns-lab/bw_lab_delayer}"; do
		if [ -n "$b" ] && [ -x "$b" ]; then
			echo "$b"
			return 0
		fi
	done
	b=$BW_LAB_RUN/bw_lab_delayer
	if [ ! -x "$b" ] || [ "$BW_LAB_DIR/delayer.c" -nt "$b" ]; then
		lab__log "compiling bw_lab_delayer into $BW_LAB_RUN (set BW_LAB_DELAYER or BW_BINARY_DIR to use a build)"
		# shellcheck disable=SC2046 # pkg-config prints several words
		cc -std=c11 -O2 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
			-Wmissing-prototypes -Wformat=2 -o "$b.tmp" "$BW_LAB_DIR/delayer.c" \
			$(pkg-config --libs libnetfilter_queue 2>/dev/null || echo -lnetfilter_queue -lnfnetlink) ||
			lab__die "cannot build bw_lab_delayer (needs libnetfilter-queue-dev)"
		mv "$b.tmp" "$b"
	fi
	echo "$b"
}

lab__nfqueue_rule() { # -A|-D SITE DIR QUEUE
	local op=$1 site=$2 dir=$3 q=$4
	if [ "$dir" = out ]; then
		ip netns exec "$(lab__ns inet)" iptables -w -t mangle "$op" PREROUTING -i "s-$site" \
			-j NFQUEUE --queue-num "$q" --queue-bypass
	else
		ip netns exec "$(lab__ns inet)" iptables -w -t mangle "$op" POSTROUTING -o "s-$site" \
			-j NFQUEUE --queue-num "$q" --queue-bypass
	fi
}

# NFQUEUE numbers (per namespace: all in inet): 2i out of site i, 2i+1 into it.
lab__queue_num() {
	if [ "$2" = in ]; then echo $((2 * $1 + 1)); else echo $((2 * $1)); fi
}

lab__knob_delay() {
	local site=$1 d j=0 dirarg=both dir i q label bin
	[ $# -ge 2 ] || lab__die "usage: delay MS [JITTER_MS] [in|out|both] | delay off"
	d=$(lab__ms "$2")
	shift 2
	if [ $# -gt 0 ] && [[ $1 != in && $1 != out && $1 != both ]]; then
		j=$(lab__ms "$1")
		shift
	fi
	[ $# -gt 0 ] && dirarg=$1
	[ "$j" -le "$d" ] || lab__die "delay: jitter ${j}ms is larger than the delay ${d}ms"
	i=$(lab__site_field "$site" 2)
	# Remove what runs now, in every direction: rule first, so no packet is
	# queued to a process that is going away (--queue-bypass covers the gap).
	for dir in out in; do
		label=delay-$site-$dir
		if [ -e "$BW_LAB_STATE/pids/$label" ]; then
			q=$(lab__queue_num "$i" "$dir")
			lab__nfqueue_rule -D "$site" "$dir" "$q" 2>/dev/null || true
			lab_stop "$label"
		fi
	done
	if [ "$d" -gt 0 ]; then
		bin=$(lab__delayer_bin)
		for dir in $(lab__dirs "$dirarg"); do
			label=delay-$site-$dir
			q=$(lab__queue_num "$i" "$dir")
			lab_spawn inet "$label" "$bin" --queue "$q" --delay-ms "$d" --jitter-ms "$j" >/dev/null
			lab_wait_log "$label" 'ready' 10 || lab__die "delayer for $site/$dir did not start"
			lab__nfqueue_rule -A "$site" "$dir" "$q"
		done
		lab__knob_record "$site" delay "${d}ms/${j}ms/$dirarg"
	else
		lab__knob_record "$site" delay off
	fi
}

# tc rate ("10mbit", "512kbit", "1gbit") -> bits per second.
lab__rate_bps() {
	[[ $1 =~ ^([0-9]+)(bit|kbit|mbit|gbit)$ ]] || lab__die "rate: '$1' is not like 10mbit"
	local n=${BASH_REMATCH[1]} u=${BASH_REMATCH[2]}
	case "$u" in
	bit) echo "$n" ;;
	kbit) echo "$((n * 1000))" ;;
	mbit) echo "$((n * 1000000))" ;;
	gbit) echo "$((n * 1000000000))" ;;
	esac
}

lab__knob_rate() {
	local site=$1 edge inet bps burst
	[ $# -ge 2 ] || lab__die "usage: rate RATE|off"
	edge=$(lab__ns "$(lab__edge "$site")")
	inet=$(lab__ns inet)
	if [ "$2" = off ]; then
		tc -n "$edge" qdisc del dev wan root 2>/dev/null || true
		tc -n "$inet" qdisc del dev "s-$site" root 2>/dev/null || true
		lab__knob_record "$site" rate off
		return 0
	fi
	bps=$(lab__rate_bps "$2")
	# Bucket: 10 ms of traffic, at least a few full-size packets.
	burst=$((bps / 8 / 100))
	[ "$burst" -ge 6000 ] || burst=6000
	tc -n "$edge" qdisc replace dev wan root tbf rate "$2" burst "$burst" latency 100ms
	tc -n "$inet" qdisc replace dev "s-$site" root tbf rate "$2" burst "$burst" latency 100ms
	lab__knob_record "$site" rate "$2"
}

lab__knob_flush() {
	local site=$1 node ns
	for node in $(lab__nat_nodes "$site"); do
		ns=$(lab__ns "$node")
		ip netns exec "$ns" conntrack -F >/dev/null 2>&1 || true
		ip netns exec "$ns" nft -f - <<-EOF
			flush map ip bwlab ext2int
			flush map ip bwlab int2ext
			flush set ip bwlab contacted
			flush map ip bwlab rebind
		EOF
	done
	[ -n "$(lab__nat_nodes "$site")" ] || lab__log "site $site has no NAT: nothing to flush"
}

# Rebinding, as a NAT does when it reboots or reassigns ports under load: each
# live UDP mapping of the site's edge (inside endpoint -> public port P) gets a
# new public port, pinned in the rebind map, and its conntrack entries and
# learned mappings go, so the flow's next packet leaves from the new port.
lab__knob_rebind() {
	local site=$1 edge ns w line
	[ "$(lab_site_type "$site")" != none ] || lab__die "site $site has no NAT to rebind"
	edge=$(lab__edge "$site")
	ns=$(lab__ns "$edge")
	w=$(lab_public_addr "$site")
	local batch="" dels=() n=0
	# conntrack -L: "udp 17 29 src=I dst=R sport=i dport=r [UNREPLIED] src=R
	# dst=W sport=r dport=P ..."; first src/sport = inside endpoint, second
	# dport = public port. Keep those whose reply goes to our public address.
	while read -r line; do
		local ia ip pp np
		read -r ia ip pp <<<"$line"
		np=$((1024 + (pp - 1024 + 4099) % 64512))
		# A second rebind of the same endpoint replaces its entry.
		ip netns exec "$ns" nft delete element ip bwlab rebind "{ udp . $ia . $ip }" 2>/dev/null || true
		batch+="add element ip bwlab rebind { udp . $ia . $ip timeout ${BW_LAB_REBIND_TIMEOUT}s : $w . $np }"$'\n'
		dels+=("$ia $ip $pp")
		n=$((n + 1))
	done < <(ip netns exec "$ns" conntrack -L -p udp 2>/dev/null | awk -v w="$w" '
		{
			ns = 0; nd = 0; np = 0
			for (k = 1; k <= NF; k++) {
				split($k, kv, "=")
				if (kv[1] == "src") { ns++; if (ns == 1) ia = kv[2] }
				if (kv[1] == "sport" && ns == 1) ip = kv[2]
				if (kv[1] == "dst") { nd++; if (nd == 2) rd = kv[2] }
				if (kv[1] == "dport") { np++; if (np == 2) pp = kv[2] }
			}
			if (rd == w && ia != w) print ia, ip, pp
		}' | sort -u)
	if [ "$n" -eq 0 ]; then
		lab__log "rebind: site $site has no live UDP mapping"
		return 0
	fi
	printf '%s' "$batch" | ip netns exec "$ns" nft -f -
	local d ia ip pp
	for d in "${dels[@]}"; do
		read -r ia ip pp <<<"$d"
		ip netns exec "$ns" nft delete element ip bwlab int2ext "{ udp . $ia . $ip }" 2>/dev/null || true
		ip netns exec "$ns" nft delete element ip bwlab ext2int "{ udp . $pp }" 2>/dev/null || true
		ip netns exec "$ns" conntrack -D -p udp --orig-src "$ia" --sport "$ip" >/dev/null 2>&1 || true
		ip netns exec "$ns" conntrack -D -p udp --reply-src "$ia" --reply-port-src "$ip" >/dev/null 2>&1 || true
	done
	lab__log "rebind: site $site: $n UDP mapping(s) moved"
}

lab__knob_udp_timeout() {
	local site=$1 v unrep stream node ns
	[ $# -ge 2 ] || lab__die "usage: udp-timeout SECONDS|default"
	v=$2
	if [ "$v" = default ]; then
		unrep=$BW_LAB_UDP_TIMEOUT_DEFAULT stream=$BW_LAB_UDP_STREAM_DEFAULT
	else
		if ! [[ $v =~ ^[0-9]{1,5}$ ]] || [ "$v" -lt 1 ] || [ "$v" -gt 86400 ]; then
			lab__die "udp-timeout: seconds (1..86400) or default, not '$v'"
		fi
		unrep=$v stream=$v
	fi
	for node in $(lab__nat_nodes "$site"); do
		ns=$(lab__ns "$node")
		# Both are per-namespace sysctls: only this router changes.
		lab__sysctl "$ns" net.netfilter.nf_conntrack_udp_timeout="$unrep" \
			net.netfilter.nf_conntrack_udp_timeout_stream="$stream"
		{
			echo "flush chain ip bwlab learn"
			lab__learn_rules "$stream"
		} | ip netns exec "$ns" nft -f -
	done
	lab__knob_record "$site" udp-timeout "$v"
}
