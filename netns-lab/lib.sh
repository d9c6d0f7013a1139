# shellcheck shell=bash
# netns-lab/lib.sh: Burrow's NAT lab, built from network namespaces on one
# Linux machine. Sourced by netns-lab/lab (the command line) and by the lab
# tests (netns-lab/tests/*.sh). Needs root, iproute2, nftables, conntrack,
# iptables (NFQUEUE target only), tc and python3. docs/NAT.md explains every
# NAT type and knob; the picture below is the whole network.
#
#                       +---------------------------------+
#                       | pub    203.0.113.10  (primary)  |  burrowd, probe.py server,
#                       |        203.0.113.11  (alternate)|  stund (RFC 3489/5780 pairs)
#                       +----------------+----------------+
#                                        | eth0
#                                        | 203.0.113.0/24
#                                        | pub
#                       +----------------+----------------+
#                       | inet   203.0.113.1 198.51.100.1 |  plain router, no conntrack;
#                       |   per-site link knobs: delay    |  delay/jitter (NFQUEUE ->
#                       |   (NFQUEUE), loss (numgen),     |  bw_lab_delayer), loss,
#                       |   rate (tbf, both ends)         |  rate
#                       +---+-------------------------+---+
#                  s-a      |  198.51.100.1 peer      |      s-b
#                           |  198.51.100.(16i+1)     |
#                      wan  |                         |  wan
#       +-------------------+---+               +-----+-----------------+
#       | a   NAT router (i=1)  |               | b   NAT router (i=2)  |
#       |     198.51.100.17     |               |     198.51.100.33     |
#       |     nft table bwlab   |               |     nft table bwlab   |
#       | lan 10.1.0.1/24 bridge|               | lan 10.2.0.1/24       |
#       +---+-------------+-----+               +-----+-----------------+
#           | l1          | l2                        | l1
#       +---+-----+   +---+-----+                 +---+-----+
#       | a1      |   | a2      |                 | b1      |
#       | 10.1.0.2|   | 10.1.0.3|                 | 10.2.0.2|
#       +---------+   +---------+                 +---------+
#
#   Site i (1..14) owns 198.51.100.(16i)/28; its edge router is .16i+1.
#   none:  no NAT; hosts get public addresses .16i+2, .16i+3, ... on the lan.
#   cgnat: a carrier NAT "<site>isp" is the edge (198.51.100.16i+1); between it
#          and the home router "<site>" lies 100.64.i.0/24 (100.64.0.0/10 is
#          the shared address space RFC 6598 reserves for carrier-grade NAT).
#          Home router wan 100.64.i.2, carrier 100.64.i.1, home lan 10.i.0.0/24.
#
# Every namespace is "$BW_LAB_PREFIX<name>" (default bw-inet, bw-pub, bw-a,
# bw-a1, ...). Links are veth pairs created inside the namespaces, so nothing
# ever appears in the host's namespace; deleting the namespaces removes
# everything. Interface names inside are short and fixed (wan, lan, l1, eth0,
# s-<site>), so the 15-character limit never bites.
#
# Functions for tests (see docs/NAT.md, "Using the lab from a test"):
#   lab_require_root                      exit 77 unless root
#   lab_init                              lock (waits BW_LAB_LOCK_WAIT s, 20),
#                                         clean a crashed lab, state dir
#   lab_trap_install                      tear down on EXIT/INT/TERM
#   lab_up_core                           inet + pub
#   lab_up_site NAME TYPE [hosts=N] [hairpin=on|off] [carrier=TYPE]
#   lab_servers_start [probe] [stund]     independent servers on pub
#   lab_exec HOST cmd...                  run in a lab namespace
#   lab_spawn HOST LABEL cmd...           background process, ended by PID
#   lab_wait_log LABEL REGEX [SECONDS]    wait for a line in its log
#   lab_wait_port HOST udp|tcp ADDR:PORT [SECONDS]
#   lab_stop LABEL | lab_log_path LABEL
#   lab_host_addr HOST | lab_public_addr SITE | lab_server_addr [1|2]
#   lab_hosts SITE | lab_sites | lab_site_type SITE
#   lab_nat_counters SITE                 "dir proto remote packets N bytes M"
#   lab_nat_bytes SITE in|out PROTO [REMOTE]
#   lab_udp_between SITE_A SITE_B         "A_TO_B B_TO_A" direct UDP bytes
#   lab_nat_counters_reset SITE
#   lab_knob SITE KNOB ARGS...            loss, delay, rate, flush, rebind,
#                                         udp-timeout, clear
#   lab_down                              kill by PID, delete namespaces

if [ -n "${BW_LAB_LIB_LOADED:-}" ]; then
	return 0
fi
BW_LAB_LIB_LOADED=1

BW_LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BW_LAB_PREFIX=${BW_LAB_PREFIX:-bw-}
BW_LAB_RUN=${BW_LAB_RUN:-/run/bw-lab}
BW_LAB_PYTHON=${BW_LAB_PYTHON:-python3}

# Addresses every test may rely on.
BW_LAB_SERVER1=203.0.113.10
BW_LAB_SERVER2=203.0.113.11
BW_LAB_INET_PUB=203.0.113.1
BW_LAB_INET_SITES=198.51.100.1
BW_LAB_PROBE_PORT1=3490 # probe.py server: primary and alternate port
BW_LAB_PROBE_PORT2=3491
BW_LAB_STUN_PORT1=3478 # stund (Debian stun-server): RFC 3489 port pair
BW_LAB_STUN_PORT2=3479
BW_LAB_MAX_SITES=14
BW_LAB_MAX_HOSTS=8
# UDP mapping lifetime by default: Linux's conntrack values (unreplied,
# stream) and the lifetime of the learned cone mappings.
BW_LAB_UDP_TIMEOUT_DEFAULT=30
BW_LAB_UDP_STREAM_DEFAULT=120
BW_LAB_TCP_MAP_TIMEOUT=7200
BW_LAB_REBIND_TIMEOUT=600
BW_LAB_SEQ_BASE=20000 # symmetric-seq: ports 20000, 20001, ... one per new flow
BW_LAB_SEQ_PORTS=4096
BW_LAB_TYPES="none full-cone restricted port-restricted symmetric symmetric-seq cgnat udp-blocked"

lab__die() {
	echo "lab: error: $*" >&2
	exit 1
}

lab__log() {
	[ "${BW_LAB_QUIET:-0}" = 1 ] || echo "lab: $*" >&2
}

lab__check_prefix() {
	# bw- or bw-<tag>- : a second lab (bw-x-) never matches the first one's
	# cleanup pattern (bw- followed by letters and digits only).
	[[ $BW_LAB_PREFIX =~ ^bw-([a-z0-9]{1,4}-)?$ ]] ||
		lab__die "BW_LAB_PREFIX must be 'bw-' or 'bw-<1-4 letters/digits>-', not '$BW_LAB_PREFIX'"
	BW_LAB_KEY=${BW_LAB_PREFIX%-}
	BW_LAB_STATE=$BW_LAB_RUN/$BW_LAB_KEY
}
lab__check_prefix

lab__ns() { printf '%s%s\n' "$BW_LAB_PREFIX" "$1"; }

lab_require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "lab: SKIP: needs root (network namespaces, nftables); run as root or in CI" >&2
		exit 77
	fi
}

lab__require_tools() {
	local t missing=()
	for t in ip nft conntrack iptables tc sysctl flock "$BW_LAB_PYTHON"; do
		command -v "$t" >/dev/null 2>&1 || missing+=("$t")
	done
	[ ${#missing[@]} -eq 0 ] ||
		lab__die "missing tools: ${missing[*]} (scripts/setup.sh installs them)"
}

# The lab's namespaces: the prefix followed by letters and digits only.
lab__namespaces() {
	local re
	re="^${BW_LAB_PREFIX}[a-z0-9]+\$"
	ip netns list 2>/dev/null | awk '{print $1}' | grep -E "$re" || true
}

# True while PID runs. A zombie counts as gone: a process whose parent (a
# killed run) is gone waits for a reaper we do not control.
lab__alive() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# Ends every process inside namespace $1, by PID: TERM, then KILL after a
# bounded wait. Never the caller itself.
lab__kill_ns_pids() {
	local ns=$1 pids=() p i
	mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null | grep -vx "$$" || true)
	[ ${#pids[@]} -gt 0 ] || return 0
	kill -TERM "${pids[@]}" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		local alive=0
		for p in "${pids[@]}"; do
			lab__alive "$p" && alive=1
		done
		[ $alive = 0 ] && return 0
		sleep 0.1
	done
	kill -KILL "${pids[@]}" 2>/dev/null || true
}

# Takes the lab's lock (fd 9, closed in every process the lab starts, so a
# killed run's leftovers never hold it), then removes whatever a previous run
# with the same prefix left behind.
lab_init() {
	lab__require_tools
	mkdir -p "$BW_LAB_RUN"
	exec 9>"$BW_LAB_RUN/$BW_LAB_KEY.lock"
	if ! flock -n 9; then
		lab__log "another run holds the lab '$BW_LAB_PREFIX'; waiting up to ${BW_LAB_LOCK_WAIT:-20} s for it"
		flock -w "${BW_LAB_LOCK_WAIT:-20}" 9 ||
			lab__die "another lab with prefix '$BW_LAB_PREFIX' is running (lock $BW_LAB_RUN/$BW_LAB_KEY.lock); set BW_LAB_PREFIX=bw-2- to run a second one"
	fi
	lab__cleanup
	mkdir -p "$BW_LAB_STATE/pids" "$BW_LAB_STATE/logs" "$BW_LAB_STATE/knobs"
	: >"$BW_LAB_STATE/nodes"
	: >"$BW_LAB_STATE/sites"
}

lab__cleanup() {
	local ns f stale
	stale=$(lab__namespaces)
	if [ -d "$BW_LAB_STATE/pids" ]; then
		for f in "$BW_LAB_STATE"/pids/*; do
			[ -e "$f" ] || continue
			lab__stop_pidfile "$f"
		done
	fi
	for ns in $stale; do
		lab__kill_ns_pids "$ns"
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$BW_LAB_STATE"
}

lab_down() {
	[ -n "${BW_LAB_STATE:-}" ] || return 0
	lab__cleanup
	local left
	left=$(lab__namespaces)
	if [ -n "$left" ]; then
		echo "lab: error: namespaces left after teardown: $left" >&2
		return 1
	fi
	return 0
}

lab_trap_install() {
	trap 'lab__on_exit' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

lab__on_exit() {
	local rc=$?
	trap - EXIT INT TERM
	if [ "${BW_LAB_KEEP:-0}" = 1 ]; then
		echo "lab: BW_LAB_KEEP=1: leaving the lab up ('netns-lab/lab down' removes it)" >&2
	else
		lab_down || rc=1
	fi
	exit "$rc"
}

# ------------------------------------------------------------------ nodes

lab__sysctl() {
	local ns=$1
	shift
	ip netns exec "$ns" sysctl -qw "$@" >/dev/null
}

# lab__node_add NAME ROLE SITE ADDR: creates the namespace and records it.
lab__node_add() {
	local name=$1 role=$2 site=$3 addr=$4 ns
	ns=$(lab__ns "$name")
	ip netns add "$ns"
	echo "$name $role $site $addr" >>"$BW_LAB_STATE/nodes"
	# No IPv6: the lab is an IPv4 internet; this also keeps DAD and router
	# solicitations out of the byte counters.
	lab__sysctl "$ns" net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	ip -n "$ns" link set lo up
	if [ "$role" = router ] || [ "$role" = carrier ] || [ "$role" = inet ]; then
		lab__sysctl "$ns" net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
			net.ipv4.conf.default.rp_filter=0
	fi
}

lab__node_field() { # NAME FIELD(2=role 3=site 4=addr)
	awk -v n="$1" -v f="$2" '$1 == n { print $f; exit }' "$BW_LAB_STATE/nodes"
}

lab_host_addr() {
	local a
	a=$(lab__node_field "$1" 4)
	[ -n "$a" ] || lab__die "no lab host '$1'"
	echo "$a"
}

lab_server_addr() {
	case "${1:-1}" in
	1) echo "$BW_LAB_SERVER1" ;;
	2) echo "$BW_LAB_SERVER2" ;;
	*) lab__die "lab_server_addr: 1 or 2" ;;
	esac
}

lab_exec() {
	local host=$1
	shift
	[ -n "$(lab__node_field "$host" 2)" ] || lab__die "no lab host '$host'"
	ip netns exec "$(lab__ns "$host")" "$@" 9>&-
}

# ------------------------------------------------------------------ processes

# lab_spawn HOST LABEL cmd...: starts cmd in HOST's namespace in the
# background, output to the label's log, PID recorded so that lab_stop and
# lab_down end it by PID. Prints the PID.
lab_spawn() {
	local host=$1 label=$2 pid
	shift 2
	[[ $label =~ ^[A-Za-z0-9._-]+$ ]] || lab__die "bad process label '$label'"
	[ -n "$(lab__node_field "$host" 2)" ] || lab__die "no lab host '$host'"
	ip netns exec "$(lab__ns "$host")" "$@" </dev/null >"$BW_LAB_STATE/logs/$label.log" 2>&1 9>&- &
	pid=$!
	echo "$pid" >"$BW_LAB_STATE/pids/$label"
	echo "$pid"
}

lab_log_path() { echo "$BW_LAB_STATE/logs/$1.log"; }

lab__stop_pidfile() {
	local f=$1 pid i
	pid=$(cat "$f" 2>/dev/null || true)
	rm -f "$f"
	[[ $pid =~ ^[0-9]+$ ]] || return 0
	# A crashed run's PID may have been reused since: only a process inside
	# one of this lab's namespaces is ours.
	local ns
	ns=$(ip netns identify "$pid" 2>/dev/null || true)
	[[ $ns =~ ^${BW_LAB_PREFIX}[a-z0-9]+$ ]] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do
		lab__alive "$pid" || break
		sleep 0.1
	done
	lab__alive "$pid" && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true
}

lab_stop() {
	[ -e "$BW_LAB_STATE/pids/$1" ] || return 0
	lab__stop_pidfile "$BW_LAB_STATE/pids/$1"
}

# lab_wait_log LABEL REGEX [SECONDS]: waits until the process's log has a line
# matching REGEX; fails early if the process died, or after SECONDS (10).
lab_wait_log() {
	local label=$1 re=$2 secs=${3:-10} log pid i
	log=$(lab_log_path "$label")
	pid=$(cat "$BW_LAB_STATE/pids/$label" 2>/dev/null || true)
	for ((i = 0; i < secs * 20; i++)); do
		grep -qE -- "$re" "$log" 2>/dev/null && return 0
		if [ -n "$pid" ] && ! lab__alive "$pid"; then
			grep -qE -- "$re" "$log" 2>/dev/null && return 0
			echo "lab: $label exited before '$re'; its log:" >&2
			sed 's/^/  | /' "$log" >&2 || true
			return 1
		fi
		sleep 0.05
	done
	echo "lab: no '$re' from $label within ${secs}s; its log:" >&2
	sed 's/^/  | /' "$log" >&2 || true
	return 1
}

# ------------------------------------------------------------------ core

lab_up_core() {
	local inet pub
	lab__node_add inet inet - "$BW_LAB_INET_PUB"
	lab__node_add pub server - "$BW_LAB_SERVER1"
	inet=$(lab__ns inet)
	pub=$(lab__ns pub)
	ip -n "$inet" link add pub type veth peer name eth0 netns "$pub"
	ip -n "$inet" addr add "$BW_LAB_INET_PUB/24" dev pub
	ip -n "$inet" link set pub up
	ip -n "$pub" addr add "$BW_LAB_SERVER1/24" dev eth0
	ip -n "$pub" addr add "$BW_LAB_SERVER2/24" dev eth0
	ip -n "$pub" link set eth0 up
	ip -n "$pub" route add default via "$BW_LAB_INET_PUB"
	# The internet router keeps no connection state: it only forwards, and
	# hosts the per-site link knobs. Each site's link gets a chain of its own
	# (site_<name>) that the loss knob fills.
	ip netns exec "$inet" nft -f - <<-EOF
		table ip bwinet {
			chain raw_pre { type filter hook prerouting priority raw; policy accept; notrack; }
			chain raw_out { type filter hook output priority raw; policy accept; notrack; }
			chain forward { type filter hook forward priority filter; policy accept; }
		}
	EOF
}

# ------------------------------------------------------------------ sites

lab_sites() { awk '{print $1}' "$BW_LAB_STATE/sites"; }

lab__site_field() { # NAME FIELD(2=index 3=type 4=hosts 5=hairpin 6=carrier)
	local v
	v=$(awk -v n="$1" -v f="$2" '$1 == n { print $f; exit }' "$BW_LAB_STATE/sites")
	[ -n "$v" ] || lab__die "no lab site '$1'"
	echo "$v"
}

lab_site_type() { lab__site_field "$1" 3; }

lab_hosts() {
	local n i
	n=$(lab__site_field "$1" 4)
	for ((i = 1; i <= n; i++)); do echo "$1$i"; done
}

# The namespace name holding the site's public address (the carrier for cgnat).
lab__edge() {
	if [ "$(lab__site_field "$1" 3)" = cgnat ]; then echo "${1}isp"; else echo "$1"; fi
}

# NAT layers of a site, edge first: "carrier home" for cgnat, else "router".
lab__nat_nodes() {
	case "$(lab__site_field "$1" 3)" in
	none) ;;
	cgnat) echo "${1}isp $1" ;;
	*) echo "$1" ;;
	esac
}

lab_public_addr() {
	local i
	i=$(lab__site_field "$1" 2)
	if [ "$(lab__site_field "$1" 3)" = none ]; then
		echo "198.51.100.$((16 * i + 2))" # its first host
	else
		echo "198.51.100.$((16 * i + 1))"
	fi
}

# lab_up_site NAME TYPE [hosts=N] [hairpin=on|off] [carrier=port-restricted|symmetric]
lab_up_site() {
	local name=$1 type=$2 hosts=1 hairpin=off carrier=- opt i wanaddr edge inet
	shift 2
	[[ $name =~ ^[a-z]{1,8}$ ]] || lab__die "site name '$name': 1-8 lowercase letters"
	case "$name" in inet | pub | *isp) lab__die "site name '$name' is reserved" ;; esac
	grep -q "^$name " "$BW_LAB_STATE/sites" && lab__die "site '$name' exists"
	[[ " $BW_LAB_TYPES " == *" $type "* ]] || lab__die "unknown NAT type '$type' (one of: $BW_LAB_TYPES)"
	for opt in "$@"; do
		case "$opt" in
		hosts=[1-9]) hosts=${opt#hosts=} ;;
		hairpin=on | hairpin=off) hairpin=${opt#hairpin=} ;;
		carrier=port-restricted | carrier=symmetric)
			[ "$type" = cgnat ] || lab__die "carrier= is for cgnat sites"
			carrier=${opt#carrier=}
			;;
		*) lab__die "site $name: unknown option '$opt' (hosts=N, hairpin=on|off, carrier=port-restricted|symmetric)" ;;
		esac
	done
	[ "$hosts" -le "$BW_LAB_MAX_HOSTS" ] || lab__die "at most $BW_LAB_MAX_HOSTS hosts per site"
	[ "$type" = cgnat ] && [ "$carrier" = - ] && carrier=port-restricted
	i=$(($(wc -l <"$BW_LAB_STATE/sites") + 1))
	[ "$i" -le "$BW_LAB_MAX_SITES" ] || lab__die "at most $BW_LAB_MAX_SITES sites"
	echo "$name $i $type $hosts $hairpin $carrier" >>"$BW_LAB_STATE/sites"

	wanaddr=198.51.100.$((16 * i + 1))
	edge=$(lab__edge "$name")
	inet=$(lab__ns inet)
	if [ "$type" = cgnat ]; then
		lab__node_add "$edge" carrier "$name" "$wanaddr"
	else
		lab__node_add "$edge" router "$name" "$wanaddr"
	fi
	# The uplink: a point-to-point /32 pair, so every site hangs off the same
	# 198.51.100.1 without sharing a segment with the others.
	ip -n "$inet" link add "s-$name" type veth peer name wan netns "$(lab__ns "$edge")"
	ip -n "$inet" addr add "$BW_LAB_INET_SITES/32" peer "$wanaddr/32" dev "s-$name"
	ip -n "$inet" link set "s-$name" up
	ip -n "$(lab__ns "$edge")" addr add "$wanaddr/32" peer "$BW_LAB_INET_SITES/32" dev wan
	ip -n "$(lab__ns "$edge")" link set wan up
	ip -n "$(lab__ns "$edge")" route add default via "$BW_LAB_INET_SITES" dev wan
	ip netns exec "$inet" nft -f - <<-EOF
		add chain ip bwinet site_$name
		add rule ip bwinet forward iifname "s-$name" jump site_$name
		add rule ip bwinet forward oifname "s-$name" jump site_$name
	EOF

	local lanaddr lanbits hostbase gw
	case "$type" in
	none)
		lanaddr=$wanaddr lanbits=28 hostbase=$((16 * i + 1)) gw=$wanaddr
		ip -n "$inet" route add "198.51.100.$((16 * i))/28" via "$wanaddr" dev "s-$name"
		lab__lan_create "$name" "$lanaddr/$lanbits"
		;;
	cgnat)
		local cgw=100.64.$i.1 cpe=100.64.$i.2
		lab__node_add "$name" router "$name" "$cpe"
		ip -n "$(lab__ns "$edge")" link add lan type veth peer name wan netns "$(lab__ns "$name")"
		ip -n "$(lab__ns "$edge")" addr add "$cgw/24" dev lan
		ip -n "$(lab__ns "$edge")" link set lan up
		ip -n "$(lab__ns "$name")" addr add "$cpe/24" dev wan
		ip -n "$(lab__ns "$name")" link set wan up
		ip -n "$(lab__ns "$name")" route add default via "$cgw" dev wan
		lanaddr=10.$i.0.1 lanbits=24 hostbase=1 gw=10.$i.0.1
		lab__lan_create "$name" "$lanaddr/$lanbits"
		;;
	*)
		lanaddr=10.$i.0.1 lanbits=24 hostbase=1 gw=10.$i.0.1
		lab__lan_create "$name" "$lanaddr/$lanbits"
		;;
	esac

	local n h haddr net3
	net3=${lanaddr%.*}
	for ((n = 1; n <= hosts; n++)); do
		h=$name$n
		haddr=$net3.$((hostbase + n))
		lab__node_add "$h" host "$name" "$haddr"
		ip -n "$(lab__ns "$name")" link add "l$n" type veth peer name eth0 netns "$(lab__ns "$h")"
		ip -n "$(lab__ns "$name")" link set "l$n" master lan up
		ip -n "$(lab__ns "$h")" addr add "$haddr/$lanbits" dev eth0
		ip -n "$(lab__ns "$h")" link set eth0 up
		ip -n "$(lab__ns "$h")" route add default via "$gw"
	done

	# NAT rules, edge first.
	case "$type" in
	cgnat)
		lab__nat_apply "$edge" "$carrier" "$wanaddr" "100.64.$i.0/24" off 1
		lab__nat_apply "$name" port-restricted "$cpe" "10.$i.0.0/24" "$hairpin" 0
		;;
	none) lab__nat_apply "$edge" none "$wanaddr" "198.51.100.$((16 * i))/28" off 1 ;;
	*) lab__nat_apply "$edge" "$type" "$wanaddr" "10.$i.0.0/24" "$hairpin" 1 ;;
	esac
	echo "udp-timeout=default" >"$BW_LAB_STATE/knobs/$name"
}

# The site's LAN: a bridge in the router's namespace, so hosts of one site
# reach each other directly, as on a home LAN. Bridged frames must not go
# through the router's netfilter hooks (no conntrack entries, no counters).
lab__lan_create() {
	local ns
	ns=$(lab__ns "$1")
	ip -n "$ns" link add lan type bridge
	ip -n "$ns" addr add "$2" dev lan
	ip -n "$ns" link set lan up
	lab__sysctl "$ns" net.bridge.bridge-nf-call-iptables=0 2>/dev/null || true
}

# ------------------------------------------------------------------ NAT rules

# shellcheck source=./nat.sh
. "$BW_LAB_DIR/nat.sh"

# ------------------------------------------------------------------ counters

# lab_nat_counters SITE: what crossed the site's public side since the lab came
# up (or the last reset), one line per protocol and remote address and way:
#   out udp 203.0.113.10 packets 4 bytes 312
#   in udp 198.51.100.33 packets 9 bytes 1404
#   hairpin - - packets 0 bytes 0
lab_nat_counters() {
	local ns dir
	ns=$(lab__ns "$(lab__edge "$1")")
	for dir in out in; do
		ip netns exec "$ns" nft list set ip bwlab "acct_$dir" |
			grep -oE '[a-z0-9-]+ \. [0-9.]+ counter packets [0-9]+ bytes [0-9]+' |
			awk -v d="$dir" '{ print d, $1, $3, "packets", $6, "bytes", $8 }'
	done
	ip netns exec "$ns" nft list counter ip bwlab hairpin |
		grep -oE 'packets [0-9]+ bytes [0-9]+' | awk '{ print "hairpin - -", $0 }'
}

# lab_nat_bytes SITE in|out PROTO [REMOTE]: bytes of PROTO (udp, tcp, icmp)
# between the site's public side and REMOTE (all remotes if omitted).
lab_nat_bytes() {
	local site=$1 dir=$2 proto=$3 remote=${4:-}
	lab_nat_counters "$site" |
		awk -v d="$dir" -v p="$proto" -v r="$remote" \
			'$1 == d && $2 == p && (r == "" || $3 == r) { s += $7 } END { print s + 0 }'
}

# lab_udp_between SITE_A SITE_B: "A_TO_B B_TO_A", the UDP bytes that left
# each site's edge addressed to the other's public address. Direct traffic
# shows here; relayed traffic goes to the server's address instead. ICE
# checks towards a peer count too, so a test compares with its payload size.
lab_udp_between() {
	echo "$(lab_nat_bytes "$1" out udp "$(lab_public_addr "$2")") $(lab_nat_bytes "$2" out udp "$(lab_public_addr "$1")")"
}

lab_nat_counters_reset() {
	local ns
	ns=$(lab__ns "$(lab__edge "$1")")
	ip netns exec "$ns" nft -f - >/dev/null <<-EOF
		flush set ip bwlab acct_out
		flush set ip bwlab acct_in
		reset counter ip bwlab hairpin
	EOF
}

# ------------------------------------------------------------------ servers

# lab_wait_port HOST udp|tcp ADDR:PORT [SECONDS]: waits until a socket in
# HOST's namespace is bound (UDP) or listening (TCP) there, for programs that
# print no ready line. Fails after SECONDS (10).
lab_wait_port() {
	local host=$1 proto=$2 ep=$3 secs=${4:-10} opt i
	case "$proto" in udp) opt=-Hlun ;; tcp) opt=-Hltn ;; *) lab__die "lab_wait_port: udp or tcp" ;; esac
	for ((i = 0; i < secs * 20; i++)); do
		lab_exec "$host" ss "$opt" "src $ep" 2>/dev/null | grep -q . && return 0
		sleep 0.05
	done
	return 1
}

# lab_servers_start [probe] [stund]: the independent servers on pub (both by
# default): probe.py on ports 3490/3491 and Debian's stund (if installed) on
# 3478/3479, each on both public addresses.
lab_servers_start() {
	local what=("$@")
	[ ${#what[@]} -gt 0 ] || what=(probe stund)
	local w
	for w in "${what[@]}"; do
		case "$w" in
		probe)
			lab_spawn pub probe-server "$BW_LAB_PYTHON" -u "$BW_LAB_DIR/probe.py" server \
				--addr "$BW_LAB_SERVER1" --addr "$BW_LAB_SERVER2" \
				--port "$BW_LAB_PROBE_PORT1" --port "$BW_LAB_PROBE_PORT2" >/dev/null
			lab_wait_log probe-server 'probe server ready' 10 || return 1
			;;
		stund)
			if ! command -v stund >/dev/null 2>&1; then
				lab__log "stund not installed (Debian stun-server); skipping it"
				continue
			fi
			lab_spawn pub stund stund -h "$BW_LAB_SERVER1" -a "$BW_LAB_SERVER2" \
				-p "$BW_LAB_STUN_PORT1" -o "$BW_LAB_STUN_PORT2" >/dev/null
			lab_wait_port pub udp "$BW_LAB_SERVER2:$BW_LAB_STUN_PORT2" 10 ||
				{ echo "lab: stund did not bind" >&2; return 1; }
			;;
		*) lab__die "lab_servers_start: probe or stund, not '$w'" ;;
		esac
	done
}

# ------------------------------------------------------------------ knobs

# shellcheck source=./knobs.sh
. "$BW_LAB_DIR/knobs.sh"

# ------------------------------------------------------------------ show

lab_show() {
	local s
	echo "lab $BW_LAB_PREFIX (state $BW_LAB_STATE)"
	echo "  pub   $BW_LAB_SERVER1 $BW_LAB_SERVER2 (ns $(lab__ns pub))"
	echo "  inet  $BW_LAB_INET_PUB $BW_LAB_INET_SITES (ns $(lab__ns inet))"
	for s in $(lab_sites); do
		local type hp car h
		type=$(lab__site_field "$s" 3)
		hp=$(lab__site_field "$s" 5)
		car=$(lab__site_field "$s" 6)
		printf '  site %-8s %-16s public %-15s' "$s" "$type" "$(lab_public_addr "$s")"
		[ "$type" = cgnat ] && printf ' carrier %s (ns %s, home router wan %s)' "$car" \
			"$(lab__ns "${s}isp")" "$(lab_host_addr "$s")"
		[ "$hp" = on ] && printf ' hairpin on'
		printf '\n'
		for h in $(lab_hosts "$s"); do
			printf '        %-8s %-15s (ns %s)\n' "$h" "$(lab_host_addr "$h")" "$(lab__ns "$h")"
		done
		printf '        knobs: %s\n' "$(tr '\n' ' ' <"$BW_LAB_STATE/knobs/$s")"
	done
}
