#!/usr/bin/env python3
"""The table of bench/p2p/transport.sh from its raw results.

usage: tp_table.py RESULTS.tsv RTTS.tsv SECONDS REPS MACHINE LOAD "COND..."

RESULTS.tsv: condition, transport, repetition, the sender's JSON line, the
receiver's JSON line (or FAIL). Medians over the repetitions: Mbit/s at the
receiver, the ratio to kernel TCP (CUBIC and BBR) in the same condition, CPU
seconds of both ends per Gbit received, retransmissions counted by the sender.
"""
import json
import statistics
import sys


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    res, rttf, secs, reps, machine, load, conds = sys.argv[1:8]
    rtt = dict(l.rstrip("\n").split("\t", 1) for l in open(rttf) if "\t" in l)
    rows, order = {}, []
    for line in open(res):
        f = line.rstrip("\n").split("\t")
        key = (f[0], f[1])
        if key not in rows:
            rows[key] = []
            order.append(key)
        if f[3] == "FAIL":
            rows[key].append(None)
            continue
        s, r = json.loads(f[3]), json.loads(f[4])
        gbit = r["bytes"] * 8 / 1e9
        cpu = (s["cpu_s"] + r["cpu_s"]) / gbit if gbit else float("nan")
        rows[key].append((r["mbit_s"], cpu, s["lost"]))

    def base(cond, spec):
        ok = [x[0] for x in rows.get((cond, spec), []) if x]
        return med(ok) if ok else float("nan")

    print()
    print("bench/p2p/transport.sh: %s s per run, %s repetition(s), medians" % (secs, reps))
    print("machine: %s; load average at the end %s" % (machine, load))
    print()
    print("| condition | ping RTT min/avg/max ms | transport | Mbit/s | x TCP cubic | x TCP bbr "
          "| CPU s per Gbit | runs ok | retransmitted (sender) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for cond in conds.split():
        cubic, bbr = base(cond, "tcp:cubic"), base(cond, "tcp:bbr")
        for c, spec in order:
            if c != cond:
                continue
            ok = [x for x in rows[(c, spec)] if x]
            mb = med([x[0] for x in ok])
            print("| %s | %s | %s | %.1f | %.2f | %.2f | %.1f | %d/%d | %s |" % (
                cond, rtt.get(cond, "?"), spec, mb, mb / cubic, mb / bbr,
                med([x[1] for x in ok]), len(ok), len(rows[(c, spec)]),
                int(med([x[2] for x in ok])) if ok else "-"))
    print()
    for spec in ("tcp:cubic", "tcp:bbr"):
        none, d0 = base("none", spec), base("delayer0", spec)
        if none == none and d0 == d0:
            print("delay line ceiling (%s): %.0f Mbit/s with no knob, %.0f Mbit/s through the "
                  "delay line at 0 ms (%.0f %%)" % (spec, none, d0, 100 * d0 / none))


if __name__ == "__main__":
    main()
