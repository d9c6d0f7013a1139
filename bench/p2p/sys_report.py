#!/usr/bin/env python3
"""Tables, ratios and target lines for bench/p2p.sh.

Reads the tab-separated files the script wrote into its run directory and
prints the report; every figure was measured by the script.

  sys_report.py DIR

DIR/meta      key<TAB>value (mode, durations, machine)
DIR/conn.tsv  kind(cold|warm) pair run first_ms path direct_ms up_ms ice_pair failures
DIR/tput.tsv  cond path rep gbit bytes cpu_visitor cpu_owner cpu_burrowd
              cpu_iperf_client cpu_iperf_server retransmits via wall_s
              machine_busy_cpu_s udp_v2o tcp_v2burrowd error
              udp_rcvbuf_drops_owner_host udp_rcvbuf_drops_visitor_host note
DIR/crashes.tsv  crash K label when why last_closed_lines (a burrow process died)
DIR/rtt.tsv   rtt cond what avg_ms loss

Exit status 1 when a figure a target needs is missing.
"""
import os
import statistics
import sys


def rows(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec="{:,.0f}", dash="-"):
    return dash if x is None else spec.format(x)


def table(head, body, right=None):
    right = right or set()
    w = [max(len(str(r[i])) for r in [head] + body) for i in range(len(head))]
    def line(r):
        return "| " + " | ".join(
            str(c).rjust(w[i]) if i in right else str(c).ljust(w[i]) for i, c in enumerate(r)) + " |"
    out = [line(head), "|" + "|".join(("-" * (w[i] + 1) + ":") if i in right else ("-" * (w[i] + 2))
                                      for i in range(len(head))) + "|"]
    out += [line(r) for r in body]
    return "\n".join(out)


class Targets:
    def __init__(self):
        self.lines = []
        self.missing = False

    def check(self, ok, text):
        if ok is None:
            self.lines.append(f"FAIL {text} (not measured)")
            self.missing = True
        else:
            self.lines.append(f"{'PASS' if ok else 'FAIL'} {text}")


PAIRS = [("cone", "cone NAT pair (full-cone <-> full-cone)"),
         ("clean", "clean pair (no NAT)"),
         ("cone-relayed", "cone NAT pair, p2p.disableDirect (relayed)")]


def first_byte(conn, tg):
    print("1. First byte: connect to the first echoed byte of 64 B through an xtcp visitor (ms)")
    print("   cold = the visitor's first connection (opens the session); warm = later ones")
    print()
    body = []
    res = {}
    for key, name in PAIRS:
        cold = [r for r in conn if r[0] == "cold" and r[1] == key]
        warm = [r for r in conn if r[0] == "warm" and r[1] == key]
        if not cold:
            continue
        c = [num(r[3]) for r in cold]
        w = [num(r[3]) for r in warm]
        cv = sorted(x for x in c if x is not None)
        wv = sorted(x for x in w if x is not None)
        paths = {}
        for r in cold:
            paths[r[4]] = paths.get(r[4], 0) + 1
        dms = [num(r[5]) for r in cold]
        ums = [num(r[6]) for r in cold]
        ice = sorted({r[7] for r in cold if r[7] != "-"})
        dv = sorted(x for x in dms if x is not None)
        res[key] = dict(cold=med(c), warm=med(w), direct=med(dms), ndirect=len(dv), n=len(cold),
                        cold_ok=len(cv), direct_max=max(dv) if dv else None,
                        direct_in_2s=sum(1 for x in dv if x <= 2000))
        body.append([name, f"{len(cv)}/{len(cold)}", fmt(med(c), "{:,.1f}"),
                     f"{fmt(cv[0] if cv else None, '{:,.1f}')}-{fmt(cv[-1] if cv else None, '{:,.1f}')}",
                     fmt(med(w), "{:,.1f}"), fmt(wv[-1] if wv else None, "{:,.1f}"),
                     ", ".join(f"{k} {v}" for k, v in sorted(paths.items())),
                     fmt(med(dms), "{:,.0f}") + (f" (max {dv[-1]:,.0f})" if dv else ""),
                     fmt(med(ums), "{:,.0f}"), ", ".join(ice) or "-"])
    print(table(["pair", "cold ok", "cold median", "cold min-max", "warm median", "warm max",
                 "path (runs)", "to direct, median", "session up", "ICE pair"], body,
                right={1, 2, 3, 4, 5, 7, 8}))
    print()
    cone = res.get("cone")
    if cone:
        tg.check(None if cone["cold"] is None or cone["cold_ok"] < cone["n"] else cone["cold"] <= 1000,
                 f"cold first byte within 1 s on the cone NAT pair: median {fmt(cone['cold'], '{:,.0f}')} ms"
                 f" of {cone['n']} runs ({cone['cold_ok']} answered)")
        tg.check(None if cone["warm"] is None else cone["warm"] <= 1000,
                 f"warm first byte within 1 s on the cone NAT pair: median {fmt(cone['warm'], '{:,.1f}')} ms")
        tg.check(None if cone["direct"] is None else
                 cone["direct"] <= 2000 and cone["direct_in_2s"] == cone["n"],
                 f"direct path within 2 s on the cone NAT pair: median {fmt(cone['direct'], '{:,.0f}')} ms,"
                 f" {cone['direct_in_2s']} of {cone['n']} runs within 2 s")
    else:
        tg.check(None, "cold first byte within 1 s on the cone NAT pair")
        tg.check(None, "direct path within 2 s on the cone NAT pair")


TPUT_PATHS = [("plain", "plain TCP (kernel, no Burrow)"),
              ("plain-iperf3", "plain TCP, iperf3 (tool check)"),
              ("direct", "xtcp direct (QUIC over the ICE pair)"),
              ("relayed", "xtcp relayed (p2p.disableDirect, via burrowd)"),
              ("cone-direct", "xtcp direct, cone NAT pair")]


def tput_stats(tput, cond, path):
    rs = [r for r in tput if r[0] == cond and r[1] == path]
    if not rs:
        return None
    ok = [r for r in rs if r[16] == "" and num(r[3])]
    g = [num(r[3]) for r in ok]
    gbit_total = sum(num(r[4]) * 8 / 1e9 for r in ok)
    cpu = [sum(num(r[i]) for r in ok) for i in (5, 6, 7)]
    iperf_cpu = sum(num(r[8]) + num(r[9]) for r in ok)
    wall = sum(num(r[12]) for r in ok)
    busy = sum(num(r[13]) for r in ok)
    vias = {}
    for r in rs:
        vias[r[11] if r[16] == "" else "error"] = vias.get(r[11] if r[16] == "" else "error", 0) + 1
    return dict(n=len(rs), nok=len(ok), gbit=med(g), gmin=min(g) if g else None,
                gmax=max(g) if g else None,
                cpu_per_gbit=[c / gbit_total if gbit_total else None for c in cpu],
                burrow_per_gbit=sum(cpu) / gbit_total if gbit_total else None,
                burrow_cores=sum(cpu) / wall if wall else None,
                iperf_per_gbit=iperf_cpu / gbit_total if gbit_total else None,
                busy_cores=busy / wall if wall else None,
                retr=med([num(r[10]) for r in ok]), vias=vias,
                drops=sum(int(r[17]) + int(r[18]) for r in ok if len(r) > 18),
                errors=[r[16] for r in rs if r[16]])


def tput_table(tput, cond, paths, base_name):
    body = []
    stats = {}
    for key, name in paths:
        s = tput_stats(tput, cond, key)
        if not s:
            continue
        stats[key] = s
    base = stats.get("plain", {}).get("gbit")
    for key, name in paths:
        s = stats.get(key)
        if not s:
            continue
        cv, co, cs = s["cpu_per_gbit"]
        burrow = "-" if key.startswith("plain") else (
            f"{fmt(s['burrow_per_gbit'], '{:.2f}')} ({fmt(cv, '{:.2f}')} + {fmt(co, '{:.2f}')}"
            + (f" + {fmt(cs, '{:.2f}')}" if key == "relayed" else "") + ")")
        body.append([name, f"{s['nok']}/{s['n']}", fmt(s["gbit"] and s["gbit"] * 1000, "{:,.0f}"),
                     f"{fmt(s['gmin'] and s['gmin'] * 1000, '{:,.0f}')}-{fmt(s['gmax'] and s['gmax'] * 1000, '{:,.0f}')}",
                     fmt(s["gbit"] / base if s["gbit"] and base else None, "{:.2f}"),
                     ", ".join(f"{k} {v}" for k, v in sorted(s["vias"].items())),
                     fmt(s["retr"], "{:,.0f}"), burrow,
                     "-" if key.startswith("plain") else fmt(s["burrow_cores"], "{:.2f}"),
                     fmt(s["iperf_per_gbit"], "{:.2f}"), fmt(s["busy_cores"], "{:.2f}"),
                     "-" if key.startswith("plain") else fmt(s["drops"], "{:,}")])
    print(table(["path", "runs", "Mbit/s median", "min-max", f"x {base_name}", "path check (counters)",
                 "retransmits", "burrow CPU s/Gbit (visitor + owner [+ burrowd])", "burrow cores",
                 "endpoints CPU s/Gbit", "machine busy cores", "UDP rcvbuf drops"], body,
                right={1, 2, 3, 4, 6, 8, 9, 10, 11}))
    for key in stats:
        for e in stats[key]["errors"]:
            print(f"  error ({key}): {e}")
    return stats


def main():
    d = sys.argv[1]
    meta = {r[0]: r[1] if len(r) > 1 else "" for r in rows(os.path.join(d, "meta"))}
    conn = rows(os.path.join(d, "conn.tsv"))
    tput = rows(os.path.join(d, "tput.tsv"))
    rtt = rows(os.path.join(d, "rtt.tsv"))
    tg = Targets()

    print(f"machine: {meta.get('nproc')} CPUs, {meta.get('cpu')}, kernel {meta.get('kernel')}; "
          f"load average before {meta.get('loadavg_before')}, after {meta.get('loadavg_after')}")
    print(f"burrow {meta.get('burrow')} (git of the script's tree), built from {meta.get('source')} in "
          f"{meta.get('build')}; iperf3 {meta.get('iperf3')}; "
          f"{meta.get('mode')} run: iperf3 -t {meta.get('t')}, {meta.get('reps')} run(s) per row, "
          f"{meta.get('cold_n')} cold runs per pair, {meta.get('warm_n')} warm connections each; "
          f"{meta.get('elapsed_s')} s")
    print()
    first_byte(conn, tg)

    tool = "iperf3 -c through the visitor's bindPort to iperf3 -s behind the owner" \
        if meta.get("tool") == "iperf3" else \
        "sys_tput send through the visitor's bindPort to sys_tput sink behind the owner"
    print(f"2. Throughput of one xtcp stream ({tool}), no delay or loss;"
          f" ratio to plain TCP between the same two sites (same tool)")
    print("   CPU s/Gbit = CPU seconds (utime+stime) per Gbit carried = cores busy per Gbit/s;"
          " endpoints = the sending and receiving tool")
    print()
    clean = tput_table(tput, "clean", TPUT_PATHS, "plain")
    print()
    base = clean.get("plain", {}).get("gbit")
    dg = clean.get("direct", {}).get("gbit")
    tg.check(None if not base or dg is None else dg >= 0.5 * base,
             f"direct throughput at least half of the plain path without loss: "
             f"{fmt(dg and dg * 1000, '{:,.0f}')} of {fmt(base and base * 1000, '{:,.0f}')} Mbit/s "
             f"(x {fmt(dg / base if dg and base else None, '{:.2f}')})")

    dl = meta.get("delay_ms", "10")
    print(f"3. One stream at 20 ms RTT (delay {dl} ms each way on the owner site's uplink), "
          f"0% and {meta.get('loss')} loss each way; ratio to kernel TCP (plain) over the same path")
    print()
    for r in rtt:
        print(f"   ping {r[1]:<10} {r[2]:<16} avg {r[3]} ms, loss {r[4]}")
    print()
    p3 = [(k, n) for k, n in TPUT_PATHS if k != "cone-direct"]
    print("   20 ms RTT, 0% loss:")
    tput_table(tput, "20ms", p3, "kernel TCP")
    print()
    print(f"   20 ms RTT, {meta.get('loss')} loss:")
    lossy = tput_table(tput, "20ms-loss", p3, "kernel TCP")
    print()
    for r in rtt:
        a = num(r[3])
        if r[2] == "direct/plain" and (a is None or not 17 <= a <= 26):
            print(f"   warning: the measured RTT ({r[3]} ms, {r[1]}) is not about 20 ms")
    k = lossy.get("plain", {}).get("gbit")
    dgl = lossy.get("direct", {}).get("gbit")
    rl = lossy.get("relayed", {}).get("gbit")
    tg.check(None if not k or dgl is None else dgl >= 0.5 * k,
             f"at 20 ms RTT and {meta.get('loss')} loss, direct at least half of kernel TCP: "
             f"{fmt(dgl and dgl * 1000, '{:,.1f}')} of {fmt(k and k * 1000, '{:,.1f}')} Mbit/s "
             f"(x {fmt(dgl / k if dgl and k else None, '{:.2f}')})")
    tg.check(None if dgl is None or rl is None else dgl >= rl,
             f"at 20 ms RTT and {meta.get('loss')} loss, direct never below relayed: "
             f"{fmt(dgl and dgl * 1000, '{:,.1f}')} vs {fmt(rl and rl * 1000, '{:,.1f}')} Mbit/s")

    # The path each burrow row took must be the one its name says.
    wrong = []
    for cond in ("clean", "20ms", "20ms-loss"):
        for r in tput:
            if r[0] == cond and r[16] == "" and not r[1].startswith("plain"):
                want = "relayed" if r[1] == "relayed" else "direct"
                if r[11] != want:
                    wrong.append(f"{cond}/{r[1]} run {r[2]}: {r[11]}")
    tg.check(not wrong, "every burrow run took the path it is named after (NAT edge counters)"
             + (": " + "; ".join(wrong) if wrong else ""))

    notes = [r for r in tput if len(r) > 19 and r[19]]
    for r in notes:
        print(f"note: {r[0]}/{r[1]} run {r[2]}: {r[19]}")
    crashes = rows(os.path.join(d, "crashes.tsv"))
    if crashes:
        print(f"PROBLEM: burrow processes died {len(crashes)} time(s) (each restarted, its log kept as crash-K-LABEL.log):")
        for r in crashes:
            print(f"  {r[1]}. {r[2]} during {r[3]}: {r[4]}")
            if len(r) > 5 and r[5].strip():
                print(f"     last lines: {r[5].strip()[:400]}")
    stalls = [r for r in tput if r[16].startswith("stalled")]
    if stalls:
        print(f"PROBLEM: {len(stalls)} stream(s) stalled inside Burrow (session up, no data for 20 s):")
        for r in stalls:
            print(f"  {r[0]}/{r[1]} run {r[2]}: {r[16]}")
    if notes or crashes or stalls:
        print()
    print("Targets (issue 6):")
    for line in tg.lines:
        print("  " + line)
    return 1 if tg.missing else 0


if __name__ == "__main__":
    sys.exit(main())
