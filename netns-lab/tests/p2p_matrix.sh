#!/usr/bin/env bash
# lab/p2p_matrix: the P2P matrix of issue 6. For every ordered pair (owner
# behind NAT A, visitor behind NAT B) of the basic NAT types, plus cgnat and
# udp-blocked on one side, an owner `burrow` exposes an xtcp proxy (a TCP
# echo service) and an sudp proxy (a UDP echo service), a visitor `burrow`
# opens both, and the test pushes 1 MiB through the xtcp visitor and 256
# datagrams of 1000 bytes through the sudp visitor, compares what comes back,
# and asserts the path three times: from the visitor's log, from the NAT
# routers' own byte counters, and from burrowd's status (its "p2p" list must
# show both sessions with that path reported by both sides). Needs root: exit
# 77 without. Runs in its own lab
# (prefix bw-mx-), like nat_detect, so it never waits for a self-check.
#
#                 pub 203.0.113.10 (+ .11)  burrowd: control 7000, STUN 3478/3479
#                        |                  on both addresses, admin API 7500
#                      inet (router, no NAT; counts nothing)
#      .---------.-------+--.---------.---------.---------.---------.
#   owners:   onone     ofc      orc      oprc      osym      ocg       oub
#             none   full-cone restr.  port-restr symmetric  cgnat  udp-blocked
#               |        |        |        |         |         |         |
#             onone1   ofc1     orc1     oprc1     osym1     ocg1      oub1
#   visitors: vnone ... vub, the same seven types (14 sites, the lab's limit)
#
#   owner host:   tests/e2e/tools/service.py echo (TCP 127.0.0.1:9000) and
#                 udpecho (UDP 127.0.0.1:9001),
#                 burrow: [[proxies]] ssh-pN (xtcp -> 9000), game-pN (sudp -> 9001)
#   visitor host: burrow: [[visitors]] ssh-home (xtcp, 127.0.0.1:6000),
#                 game (sudp, 127.0.0.1:6001); mx.py drives both
#
# Sites come up once; each pair gets a fresh owner and a fresh visitor. Per
# pair: a cold TCP connection through the visitor (connect time: connect to
# first byte back), a cold sudp datagram, then the path decision in the
# visitor's log (`visitor ssh-home: direct A from B (..., N ms)` or
# `visitor ssh-home: relayed via burrowd (why)`), then, with both sites'
# counters reset, 1 MiB each way (cmp) and the datagrams. Direct: the UDP
# bytes between the two sites' public addresses exceed the payload both ways.
# Relayed: they stay below an eighth of it, and each site sent more than the
# payload over TCP to 203.0.113.10 (burrowd's relay). Then burrowd's status:
# the pairs for ssh-pN and game-pN, each side's last P2P_STATUS path.
#
# Expected: direct, except symmetric against port-restricted or symmetric
# (either order; cgnat counts as port-restricted, which its default carrier
# is) and anything with udp-blocked: relayed.
#
# Output: one line per pair (got/sudp: the xtcp/sudp path both witnesses
# agree on, else "log:X/counters:Y"; log: "relayed->direct" when the fallback
# came first and ICE won later; the *_ms: cold first byte and ICE's time to
# the selected pair; xtcp/sudp_data: bytes compared; status/sudp_status:
# burrowd's view of the xtcp/sudp pair as VISITOR_PATH/OWNER_PATH),
#   MATRIX owner=full-cone visitor=symmetric expect=direct got=direct log=direct
#     counters=direct sudp=direct ... o2v=N v2o=N srv_o=N srv_v=N connect_ms=N
#     direct_ms=N sudp_connect_ms=N sudp_direct_ms=N ... xtcp=ok sudp_data=ok
#     ... status=direct/direct sudp_status=direct/direct ... result=pass
# then "MATRIX-RUN ..." (date, machine, total time), "N passed, M failed".
# netns-lab/matrix-table.py turns a saved run into docs/NAT.md's table.
#
# Environment: BURROW, BURROWD (else build/cmd/ of the source tree);
# BW_P2P_MATRIX_PAIRS="owner:visitor,..." runs only those pairs;
# BW_P2P_MATRIX_LOGS=DIR keeps every pair's logs there (failing pairs' logs
# are kept anyway, in DIR or $BW_BINARY_DIR/p2p_matrix-logs or
# /tmp/p2p_matrix-logs); BW_P2P_MATRIX_BUDGET (600 s): no pair starts after
# it (ctest's limit is 900 s); BW_LAB_KEEP=1 keeps the lab. To see the test
# fail: BW_P2P_MATRIX_VISITOR_EXTRA='p2p.disableDirect = true' (TOML lines
# for the visitor's client section) fails every pair that expects direct, on
# every witness (checked: got=relayed log=relayed counters=relayed
# status=relayed/relayed).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
	echo "p2p_matrix: SKIP: needs root (network namespaces, nftables)" >&2
	exit 77
fi
export BW_LAB_PREFIX=${BW_LAB_PREFIX:-bw-mx-}
export BW_LAB_LOCK_WAIT=${BW_LAB_LOCK_WAIT:-300}
# shellcheck source=../lib.sh
. "$here/lib.sh"
# shellcheck source=../verify-burrow.sh
. "$here/verify-burrow.sh"
lab_require_root
if ! lab_burrow_find; then
	echo "p2p_matrix: FAIL: no burrow/burrowd binaries (set BURROW and BURROWD)" >&2
	exit 1
fi

# Matrix order (rows and columns of the table) and site names.
TYPES=(none full-cone restricted port-restricted symmetric cgnat udp-blocked)
declare -A SHORT=([none]=none [full-cone]=fc [restricted]=rc [port-restricted]=prc
	[symmetric]=sym [cgnat]=cg [udp-blocked]=ub)
BASIC=(none full-cone restricted port-restricted symmetric)
PAIRS=()
for a in "${BASIC[@]}"; do
	for b in "${BASIC[@]}"; do PAIRS+=("$a:$b"); done
done
PAIRS+=(cgnat:full-cone full-cone:cgnat udp-blocked:full-cone full-cone:udp-blocked cgnat:cgnat)
if [ -n "${BW_P2P_MATRIX_PAIRS:-}" ]; then
	IFS=, read -r -a PAIRS <<<"$BW_P2P_MATRIX_PAIRS"
fi
for p in "${PAIRS[@]}"; do
	[ -n "${SHORT[${p%%:*}]:-}" ] && [ -n "${SHORT[${p#*:}]:-}" ] ||
		{ echo "p2p_matrix: bad pair '$p' (owner:visitor, types: ${TYPES[*]})" >&2; exit 2; }
done

PAYLOAD=$((1024 * 1024))     # xtcp bytes each way
DGRAMS=256 DGRAM_SIZE=1000   # sudp datagrams each way
SUDP_PAYLOAD=$((DGRAMS * DGRAM_SIZE))
SRV=$BW_LAB_SERVER1
CTL_PORT=7000 STUN_PORT=3478 ADMIN_PORT=7500
TOKEN=p2p-matrix
SECRET=p2p-matrix-secret
V_TCP=6000 V_UDP=6001 S_TCP=9000 S_UDP=9001
PY=$BW_LAB_PYTHON

# Expected path for owner type $1, visitor type $2.
expect_path() {
	local a=$1 b=$2
	if [ "$a" = udp-blocked ] || [ "$b" = udp-blocked ]; then
		echo relayed
		return
	fi
	[ "$a" = cgnat ] && a=port-restricted
	[ "$b" = cgnat ] && b=port-restricted
	if { [ "$a" = symmetric ] && [[ $b == port-restricted || $b == symmetric ]]; } ||
		{ [ "$b" = symmetric ] && [ "$a" = port-restricted ]; }; then
		echo relayed
	else
		echo direct
	fi
}

t_start=$SECONDS
lab_init
lab_trap_install
W=$BW_LAB_STATE/p2p_matrix
mkdir -p "$W"
KEEP=${BW_P2P_MATRIX_LOGS:-}
FAILDIR=${KEEP:-${BW_BINARY_DIR:+$BW_BINARY_DIR/p2p_matrix-logs}}
FAILDIR=${FAILDIR:-/tmp/p2p_matrix-logs}

# ---- the helper: echo services on the owner's host, clients on the visitor's
cat >"$W/mx.py" <<'PY'
"""p2p_matrix's measuring clients and burrowd status reader (stdlib only)."""
import json, os, select, socket, struct, sys, threading, time

def recv_exact(s, n, first=None):
    buf = bytearray()
    while len(buf) < n:
        d = s.recv(min(262144, n - len(buf)))
        if not d:
            break
        if first is not None and not first:
            first.append(time.monotonic())
        buf += d
    return bytes(buf)

def tcp_probe(port, timeout):
    """Cold connection: connect to first byte back."""
    msg = os.urandom(64)
    t0 = time.monotonic(); first = []
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s.sendall(msg)
        got = recv_exact(s, len(msg), first)
        s.close()
    except OSError as e:
        print("connect_ms=- ok=0 error=%s" % str(e).replace(" ", "_")); return 1
    ms = "%d" % ((first[0] - t0) * 1000) if first else "-"
    print("connect_ms=%s ok=%d got=%d" % (ms, got == msg, len(got)))
    return 0 if got == msg else 1

def tcp_xfer(port, infile, outfile, timeout):
    data = open(infile, "rb").read()
    t0 = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        def writer():
            try:
                s.sendall(data)
            except OSError:
                pass
        w = threading.Thread(target=writer, daemon=True); w.start()
        got = recv_exact(s, len(data))
        s.close()
    except OSError as e:
        got = b""; print("error=%s" % str(e).replace(" ", "_"))
    open(outfile, "wb").write(got)
    print("xfer_ms=%d bytes=%d" % ((time.monotonic() - t0) * 1000, len(got)))
    return 0

def udp_probe(port, timeout):
    """Cold datagram: one every 50 ms until the first echo."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(("127.0.0.1", port))
    msg = b"probe-" + os.urandom(26)
    t0 = time.monotonic(); nxt = 0
    while time.monotonic() - t0 < timeout:
        now = time.monotonic()
        if now >= nxt:
            s.send(msg); nxt = now + 0.05
        r, _, _ = select.select([s], [], [], max(0, nxt - time.monotonic()))
        if r and s.recv(65535) == msg:
            print("sudp_connect_ms=%d ok=1" % ((time.monotonic() - t0) * 1000)); return 0
    print("sudp_connect_ms=- ok=0"); return 1

def udp_xfer(port, count, size, timeout, window=16):
    """count datagrams, at most window outstanding; each echo compared."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(("127.0.0.1", port))
    sent = {}; nxt = 0; ok = changed = lost = 0
    t0 = time.monotonic()
    while (nxt < count or sent) and time.monotonic() - t0 < timeout:
        while nxt < count and len(sent) < window:
            d = struct.pack("!I", nxt) + os.urandom(size - 4)
            s.send(d); sent[nxt] = (d, time.monotonic()); nxt += 1
        r, _, _ = select.select([s], [], [], 0.2)
        if r:
            d = s.recv(65535)
            i = struct.unpack("!I", d[:4])[0] if len(d) >= 4 else -1
            if i in sent:
                if sent.pop(i)[0] == d:
                    ok += 1
                else:
                    changed += 1
        now = time.monotonic()
        for i in [i for i, (_, t) in sent.items() if now - t > 1.0]:
            del sent[i]; lost += 1
    lost += len(sent)
    print("sent=%d echoed=%d changed=%d lost=%d ms=%d" % (nxt, ok, changed, lost,
          (time.monotonic() - t0) * 1000))
    return 0 if changed == 0 and ok >= count * 0.97 else 1

def p2p_status(names):
    """`burrowd status` JSON on stdin: for each proxy name, its newest pair in
    "p2p" as VISITOR_PATH/OWNER_PATH (- for a side that has not reported),
    or - when burrowd lists no pair for it."""
    try:
        pairs = json.load(sys.stdin).get("p2p", [])
    except ValueError:
        pairs = []
    out = []
    for name in names:
        p = [x for x in pairs if x.get("proxy", "") in (name, ) or x.get("proxy", "").endswith("." + name)]
        out.append("%s/%s" % (p[0]["visitor"].get("path", "-"), p[0]["owner"].get("path", "-"))
                   if p else "-")  # burrowd lists the newest pair first
    print(" ".join(out))
    return 0

cmd = sys.argv[1]; a = sys.argv[2:]
try:
    if cmd == "p2p-status":
        sys.exit(p2p_status(a))
    elif cmd == "tcp-probe":
        sys.exit(tcp_probe(int(a[0]), float(a[1])))
    elif cmd == "tcp-xfer":
        sys.exit(tcp_xfer(int(a[0]), a[1], a[2], float(a[3])))
    elif cmd == "udp-probe":
        sys.exit(udp_probe(int(a[0]), float(a[1])))
    elif cmd == "udp-xfer":
        sys.exit(udp_xfer(int(a[0]), int(a[1]), int(a[2]), float(a[3])))
except OSError as e:  # e.g. the visitor died: its port refuses
    print("ok=0 error=%s" % str(e).replace(" ", "_")); sys.exit(1)
sys.exit("unknown command " + cmd)
PY
head -c "$PAYLOAD" /dev/urandom >"$W/payload.in"

# ---- the lab: only the sites the pairs need
declare -A want_site=()
for p in "${PAIRS[@]}"; do
	want_site["o${SHORT[${p%%:*}]}"]=${p%%:*}
	want_site["v${SHORT[${p#*:}]}"]=${p#*:}
done
echo "# building the lab: inet, pub and ${#want_site[@]} sites for ${#PAIRS[@]} pairs"
lab_up_core
for side in o v; do
	for t in "${TYPES[@]}"; do
		s=$side${SHORT[$t]}
		if [ -n "${want_site[$s]:-}" ]; then
			lab_up_site "$s" "$t"
		fi
	done
done

cat >"$W/burrowd.toml" <<-EOF
	bindAddr = "$SRV"
	bindPort = $CTL_PORT
	bindUDPPort = $STUN_PORT
	natProbeAltAddr = "$BW_LAB_SERVER2"
	auth.token = "$TOKEN"
	webServer.addr = "$SRV"
	webServer.port = $ADMIN_PORT
	log.level = "debug"
EOF
lab_spawn pub burrowd "$BURROWD" -c "$W/burrowd.toml" >/dev/null
lab_wait_log burrowd "STUN listening on udp $BW_LAB_SERVER2:$((STUN_PORT + 1))" 10
lab_wait_log burrowd "control listening on $SRV:$CTL_PORT" 5
SERVICE=$here/../tests/e2e/tools/service.py
for s in "${!want_site[@]}"; do
	[ "${s:0:1}" = o ] || continue
	lab_spawn "${s}1" "echo-$s" "$PY" "$SERVICE" --port "$S_TCP" echo >/dev/null
	lab_spawn "${s}1" "uecho-$s" "$PY" "$SERVICE" --port "$S_UDP" udpecho >/dev/null
done
for s in "${!want_site[@]}"; do
	[ "${s:0:1}" = o ] || continue
	lab_wait_log "echo-$s" 'service listening on' 10
	lab_wait_log "uecho-$s" 'service listening on' 10
done
echo "# lab, burrowd and echo services up in $((SECONDS - t_start)) s"

# ---- one pair
client_head() { # FILE
	cat >"$1" <<-EOF
		serverAddr = "$SRV"
		serverPort = $CTL_PORT
		auth.token = "$TOKEN"
		loginFailExit = true
		log.level = "debug"
	EOF
}

# kv KEY TEXT: the value of KEY=value in TEXT (- if absent).
kv() {
	local v
	v=$(grep -oE "(^| )$1=[^ ]*" <<<"$2" | head -n1 | sed 's/.*=//')
	echo "${v:--}"
}

# log_path LOG LABEL: what the visitor's log says about LABEL's session:
# "direct", "relayed", "relayed->direct" (fell back, then ICE won), "none".
log_path() {
	local f=$1 label=$2 d r
	d=$(grep -n "burrow: visitor $label: direct [0-9.]*:[0-9]* from " "$f" | tail -n1 | cut -d: -f1)
	r=$(grep -n "burrow: visitor $label: relayed via burrowd (" "$f" | tail -n1 | cut -d: -f1)
	if [ -n "$d" ] && grep -n "burrow: visitor $label: no direct path" "$f" |
		awk -F: -v d="$d" '$1 > d { f = 1 } END { exit !f }'; then
		d= # the direct pair was lost afterwards
	fi
	if [ -n "$d" ] && [ -n "$r" ]; then
		if [ "$r" -lt "$d" ]; then echo "relayed->direct"; else echo relayed; fi
	elif [ -n "$d" ]; then
		echo direct
	elif [ -n "$r" ]; then
		echo relayed
	else
		echo none
	fi
}

# direct_ms LOG LABEL: ICE's own time to the selected pair, from the session's
# opening ("(host<->srflx, 2+3 candidates, 212 ms)").
direct_ms() {
	local v
	v=$(grep -m1 "burrow: visitor $2: direct [0-9.]*:[0-9]* from " "$1" |
		sed -nE 's/.* ([0-9]+) ms\)$/\1/p')
	echo "${v:--}"
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# alive PID: the process runs (a zombie does not count).
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

# wait_decision LOG LABEL EXPECT DEADLINE_MS PID: waits until the log decides the
# path (the relayed line, or the direct line); when it said relayed and direct
# is expected, waits for ICE too (it goes on after the fallback, and the
# session moves to direct if it wins) unless the session has no ICE. Gives up
# at DEADLINE_MS (ICE itself gives up 10 s after the session opened) or
# when the visitor (PID) is gone.
wait_decision() {
	local f=$1 label=$2 exp=$3 deadline=$4 pid=$5
	while [ "$(now_ms)" -lt "$deadline" ] && alive "$pid"; do
		grep -qE "burrow: visitor $label: (direct [0-9.]+:[0-9]+ from |relayed via burrowd \()" "$f" && break
		sleep 0.05
	done
	[ "$exp" = direct ] || return 0
	grep -q "burrow: visitor $label: opening a session .*(relayed only: no ICE)" "$f" && return 0
	while [ "$(now_ms)" -lt "$deadline" ] && alive "$pid"; do
		grep -qE "burrow: visitor $label: (direct [0-9.]+:[0-9]+ from |no direct path)" "$f" && break
		sleep 0.05
	done
	return 0
}

# The counters' readers fail (pipefail: grep finds nothing) when a site's
# sets are empty, e.g. after a burrow crashed: that is 0 bytes, not an error.
nat_bytes() { lab_nat_bytes "$@" || true; }

# classify O2V V2O SRV_O SRV_V PAYLOAD: what the counters say.
classify() {
	awk -v a="$1" -v b="$2" -v so="$3" -v sv="$4" -v p="$5" 'BEGIN {
		if (a > p && b > p) print "direct"
		else if (a < p / 8 && b < p / 8 && so > p && sv > p) print "relayed"
		else print "unclear"
	}'
}

# The verdict from both witnesses: the log's path (relayed->direct counts as
# direct: the session moved before the measured transfer) and the counters'.
verdict() {
	local l=$1 c=$2
	[ "$l" = "relayed->direct" ] && l=direct
	if [ "$l" = "$c" ]; then echo "$l"; else echo "log:$l/counters:$c"; fi
}

pass=0
fail=0
failed=()
npair=0
run_pair() {
	local o=$1 v=$2 n=$3 os ov oh vh exp own vis olog vlog out res=pass
	os=o${SHORT[$o]} ov=v${SHORT[$v]}
	oh=${os}1 vh=${ov}1
	exp=$(expect_path "$o" "$v")
	own=own-p$n vis=vis-p$n
	client_head "$W/$own.toml"
	cat >>"$W/$own.toml" <<-EOF
		[[proxies]]
		name = "ssh-p$n"
		type = "xtcp"
		secretKey = "$SECRET"
		localIP = "127.0.0.1"
		localPort = $S_TCP
		[[proxies]]
		name = "game-p$n"
		type = "sudp"
		secretKey = "$SECRET"
		localIP = "127.0.0.1"
		localPort = $S_UDP
	EOF
	client_head "$W/$vis.toml"
	[ -z "${BW_P2P_MATRIX_VISITOR_EXTRA:-}" ] || printf '%s\n' "$BW_P2P_MATRIX_VISITOR_EXTRA" >>"$W/$vis.toml"
	cat >>"$W/$vis.toml" <<-EOF
		[[visitors]]
		name = "ssh-home"
		type = "xtcp"
		serverName = "ssh-p$n"
		secretKey = "$SECRET"
		bindAddr = "127.0.0.1"
		bindPort = $V_TCP
		[[visitors]]
		name = "game"
		type = "sudp"
		serverName = "game-p$n"
		secretKey = "$SECRET"
		bindAddr = "127.0.0.1"
		bindPort = $V_UDP
	EOF
	local t0=$SECONDS
	lab_spawn "$oh" "$own" "$BURROW" -c "$W/$own.toml" >/dev/null
	lab_spawn "$vh" "$vis" "$BURROW" -c "$W/$vis.toml" >/dev/null
	local vpid
	vpid=$(cat "$BW_LAB_STATE/pids/$vis")
	olog=$(lab_log_path "$own") vlog=$(lab_log_path "$vis")
	# Both logged in, proxies registered, visitors listening, NAT reported
	# (the rendezvous tells each side the other's NAT).
	local ready=1
	lab_wait_log "$own" "proxy game-p$n: started" 10 >/dev/null 2>&1 || ready=0
	lab_wait_log "$own" "proxy ssh-p$n: started" 1 >/dev/null 2>&1 || ready=0
	lab_wait_log "$vis" "visitor ssh-home: xtcp listening" 10 >/dev/null 2>&1 || ready=0
	lab_wait_log "$vis" "visitor game: sudp listening" 1 >/dev/null 2>&1 || ready=0
	lab_wait_log "$vis" "logged in to" 10 >/dev/null 2>&1 || ready=0
	lab_wait_log "$own" "burrow: NAT " 10 >/dev/null 2>&1 || ready=0
	lab_wait_log "$vis" "burrow: NAT " 5 >/dev/null 2>&1 || ready=0

	# Cold: the first connection and the first datagram open the sessions.
	local probe uprobe connect_ms sudp_ms xok=ok sok=ok
	probe=$(lab_exec "$vh" timeout 20 "$PY" "$W/mx.py" tcp-probe "$V_TCP" 15 2>&1) || xok=fail
	uprobe=$(lab_exec "$vh" timeout 20 "$PY" "$W/mx.py" udp-probe "$V_UDP" 15 2>&1) || sok=fail
	connect_ms=$(kv connect_ms "$probe")
	sudp_ms=$(kv sudp_connect_ms "$uprobe")
	local deadline=$(($(now_ms) + 12000))
	wait_decision "$vlog" ssh-home "$exp" "$deadline" "$vpid"
	wait_decision "$vlog" game "$exp" "$deadline" "$vpid"

	# xtcp: 1 MiB each way, counted at both NATs.
	lab_nat_counters_reset "$os"
	lab_nat_counters_reset "$ov"
	out=$(lab_exec "$vh" timeout 40 "$PY" "$W/mx.py" tcp-xfer "$V_TCP" "$W/payload.in" \
		"$W/payload.out.$n" 20 2>&1) || true
	cmp -s "$W/payload.in" "$W/payload.out.$n" || xok=fail
	local xfer_ms o2v v2o srv_o srv_v
	xfer_ms=$(kv xfer_ms "$out")
	read -r o2v v2o < <(lab_udp_between "$os" "$ov")
	srv_o=$(nat_bytes "$os" out tcp "$SRV")
	srv_v=$(nat_bytes "$ov" out tcp "$SRV")
	local counters lpath got
	counters=$(classify "$o2v" "$v2o" "$srv_o" "$srv_v" "$PAYLOAD")
	lpath=$(log_path "$vlog" ssh-home)
	got=$(verdict "$lpath" "$counters")

	# sudp: the datagrams, counted the same way.
	lab_nat_counters_reset "$os"
	lab_nat_counters_reset "$ov"
	local uout uo2v uv2o usrv_o usrv_v ucounters ulpath ugot
	uout=$(lab_exec "$vh" timeout 30 "$PY" "$W/mx.py" udp-xfer "$V_UDP" "$DGRAMS" "$DGRAM_SIZE" 20 2>&1) || sok=fail
	read -r uo2v uv2o < <(lab_udp_between "$os" "$ov")
	usrv_o=$(nat_bytes "$os" out tcp "$SRV")
	usrv_v=$(nat_bytes "$ov" out tcp "$SRV")
	ucounters=$(classify "$uo2v" "$uv2o" "$usrv_o" "$usrv_v" "$SUDP_PAYLOAD")
	ulpath=$(log_path "$vlog" game)
	ugot=$(verdict "$ulpath" "$ucounters")

	# burrowd's view: both sessions listed, each side having reported the
	# expected path (P2P_STATUS goes out on every path change and on a timer,
	# so a report may trail the transfer by a moment: 5 s to agree).
	local status=- ustatus=- want=$exp/$exp sdeadline=$(($(now_ms) + 5000))
	while :; do
		read -r status ustatus < <(lab_exec pub timeout 10 "$BURROWD" status \
			-c "$W/burrowd.toml" 2>/dev/null | "$PY" "$W/mx.py" p2p-status "ssh-p$n" \
			"game-p$n" 2>/dev/null || echo "- -") || true
		if { [ "$status" = "$want" ] && [ "$ustatus" = "$want" ]; } ||
			[ "$(now_ms)" -ge "$sdeadline" ]; then
			break
		fi
		sleep 0.2
	done

	[ "$ready" = 1 ] || res=fail
	local san=0
	if grep -qE "AddressSanitizer|LeakSanitizer|runtime error:" "$olog" "$vlog"; then
		san=1 res=fail
	fi
	[ "$xok" = ok ] && [ "$sok" = ok ] || res=fail
	[ "$got" = "$exp" ] && [ "$ugot" = "$exp" ] || res=fail
	[ "$status" = "$want" ] && [ "$ustatus" = "$want" ] || res=fail
	local dms udms
	dms=$(direct_ms "$vlog" ssh-home)
	udms=$(direct_ms "$vlog" game)
	lab_stop "$vis"
	lab_stop "$own"
	echo "MATRIX owner=$o visitor=$v expect=$exp got=$got log=$lpath counters=$counters" \
		"sudp=$ugot sudp_log=$ulpath sudp_counters=$ucounters o2v=$o2v v2o=$v2o srv_o=$srv_o" \
		"srv_v=$srv_v connect_ms=$connect_ms direct_ms=$dms sudp_connect_ms=$sudp_ms" \
		"sudp_direct_ms=$udms xfer_ms=$xfer_ms xtcp=$xok sudp_data=$sok" \
		"sudp_o2v=$uo2v sudp_v2o=$uv2o status=$status sudp_status=$ustatus ready=$ready" \
		"sanitizer=$san pair_s=$((SECONDS - t0)) result=$res"
	if [ "$res" = pass ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		failed+=("$o:$v")
		echo "# pair $o:$v failed; tcp-probe: $probe; udp-probe: $uprobe; xfer: $out; udp-xfer: $uout"
		echo "# visitor log ($vlog), session lines:"
		grep -E 'visitor (ssh-home|game)|session|ICE|ice|error|\[W\]|\[E\]' "$vlog" | tail -n 40 | sed 's/^/#   v| /' || true
		echo "# owner log, session lines:"
		grep -E 'ssh-p|game-p|session|ICE|ice|error|\[W\]|\[E\]' "$olog" | tail -n 40 | sed 's/^/#   o| /' || true
		echo "# counters after the sudp phase: owner site $os:"
		{ lab_nat_counters "$os" || true; } | sed 's/^/#   /'
		echo "# visitor site $ov:"
		{ lab_nat_counters "$ov" || true; } | sed 's/^/#   /'
	fi
	if [ "$res" != pass ] || [ -n "$KEEP" ]; then
		local d=$FAILDIR/p$n-$o-$v
		mkdir -p "$d"
		cp "$olog" "$d/owner.log"
		cp "$vlog" "$d/visitor.log"
		cp "$W/$own.toml" "$d/owner.toml"
		cp "$W/$vis.toml" "$d/visitor.toml"
	fi
	rm -f "$W/payload.out.$n"
}

# ctest ends the test at 900 s: a run that breaks down (every pair waiting
# for its timeouts) stops starting pairs at BW_P2P_MATRIX_BUDGET seconds and
# counts the rest as failed, so that the summary is still printed.
budget=${BW_P2P_MATRIX_BUDGET:-600}
t_pairs=$SECONDS
for p in "${PAIRS[@]}"; do
	npair=$((npair + 1))
	if [ $((SECONDS - t_start)) -ge "$budget" ]; then
		echo "MATRIX owner=${p%%:*} visitor=${p#*:} expect=$(expect_path "${p%%:*}" "${p#*:}") got=skipped result=fail"
		fail=$((fail + 1))
		failed+=("${p}: not run (the ${budget} s budget was spent)")
		continue
	fi
	run_pair "${p%%:*}" "${p#*:}" "$npair"
done
pairs_s=$((SECONDS - t_pairs))

# burrowd's log: kept when something failed (the rendezvous side of a pair).
if [ "$fail" -gt 0 ] || [ -n "$KEEP" ]; then
	mkdir -p "$FAILDIR"
	cp "$(lab_log_path burrowd)" "$FAILDIR/burrowd.log"
	echo "# logs kept in $FAILDIR"
fi
lab_stop burrowd
san=0
for f in "$BW_LAB_STATE"/logs/*.log; do
	if grep -qE "AddressSanitizer|LeakSanitizer|runtime error:" "$f"; then
		echo "# sanitizer report in $(basename "$f")"
		san=1
	fi
done
if [ "$san" = 1 ]; then
	fail=$((fail + 1))
	failed+=("sanitizer")
fi

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
sanitizers=none
if ldd "$BURROW" 2>/dev/null | grep -q libasan; then sanitizers=asan+ubsan; fi
echo "MATRIX-RUN date=$(date -u +%Y-%m-%d) kernel=$(uname -r) cores=$(nproc)" \
	"pairs=${#PAIRS[@]} pairs_s=$pairs_s total_s=$((SECONDS - t_start))" \
	"payload=$PAYLOAD dgrams=${DGRAMS}x$DGRAM_SIZE build=$(basename "$(dirname "$(dirname "$BURROW")")") sanitizers=$sanitizers" \
	"cpu=${cpu// /_}"
echo "# p2p_matrix took $((SECONDS - t_start)) s (before teardown)"
echo "$pass passed, $fail failed"
if [ "$fail" -gt 0 ]; then
	printf '# failed: %s\n' "${failed[@]}"
	exit 1
fi
exit 0
