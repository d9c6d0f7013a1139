#!/usr/bin/env python3
"""Tables, ratios and target lines for bench/relay.sh.

Reads the tab-separated files the script wrote into its run directory and
prints the report. Only formatting lives here; every figure was measured by
the script.

  report.py DIR

DIR/meta      key<TAB>value (duration, reps, counts, machine)
DIR/tput.tsv  path streams rep gbit_s bytes cpu_a_s cpu_b_s error
DIR/lat.tsv   test path p50_us p99_us mean_us max_us n error
DIR/mem.tsv   key<TAB>value
DIR/http.tsv  path req_s p50_ms p99_ms errors   (absent: see meta http_skip;
              one row per run, interleaved)
"""
import os
import statistics
import sys

NGINX2 = "nginx stream x2 (chained)"
TPUT_PATHS = [
    ("direct", "direct (loopback)"),
    ("socat", "socat"),
    ("nginx", "nginx stream"),
    ("nginx2", NGINX2),
    ("relay", "burrowd+burrow"),
    ("relay_enc", "burrowd+burrow, useEncryption"),
]
PING_PATHS = [
    ("direct", "direct"),
    ("socat", "socat"),
    ("nginx", "nginx stream"),
    ("nginx2", NGINX2),
    ("relay", "burrowd+burrow"),
    ("relay_enc", "burrowd+burrow, useEncryption"),
]
SPLIT_PATHS = [
    ("direct", "direct"),
    ("socat", "socat"),
    ("nginx", "nginx stream"),
    ("nginx2", NGINX2),
    ("relay", "burrowd+burrow"),
]
CONNECT_PATHS = [
    ("direct", "direct"),
    ("socat", "socat (fork per connection)"),
    ("nginx", "nginx stream"),
    ("nginx2", NGINX2),
    ("relay_warm", "burrowd+burrow, poolCount 5"),
    ("relay_cold", "burrowd+burrow, poolCount 0"),
]


def rows(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def kv(path):
    return {r[0]: r[1] if len(r) > 1 else "" for r in rows(path)}


def fnum(x, digits=2):
    return "-" if x is None else f"{x:,.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


class Targets:
    def __init__(self):
        self.lines = []
        self.errors = 0  # figures that could not be measured

    def add(self, ok, text):
        if ok is None:
            self.lines.append(f"SKIP {text}")
        else:
            self.lines.append(f"{'PASS' if ok else 'FAIL'} {text}")


def throughput(d, meta, targets):
    data = {}
    errors = []
    for r in rows(os.path.join(d, "tput.tsv")):
        path, streams, rep, gbit, nbytes, cpu_a, cpu_b, err = (r + [""] * 8)[:8]
        key = (path, int(streams))
        if err:
            errors.append(f"{path} -P {streams} run {rep}: {err}")
            continue
        data.setdefault(key, []).append((float(gbit), float(nbytes), float(cpu_a or 0),
                                         float(cpu_b or 0)))
    if not data and not errors:
        return
    print(f"Throughput: iperf3 -t {meta.get('t')} through each path, median of "
          f"{meta.get('reps')} interleaved runs, Gbit/s (receiver side); other jobs used "
          f"about {meta.get('other_load_tput', '?')}% of the CPUs meanwhile")
    print()
    hdr = (f"{'path':32} {'streams':>7} {'Gbit/s':>8} {'×direct':>8} {'×socat':>7} "
           f"{'×nginx':>7} {'×nginx2':>8} {'fwd CPU s/GB':>14}")
    print(hdr)
    print("-" * len(hdr))
    med = {}
    for key, vals in data.items():
        med[key] = statistics.median(v[0] for v in vals)
    for streams in (1, 8):
        for path, label in TPUT_PATHS:
            vals = data.get((path, streams))
            if not vals:
                if any(e.startswith(f"{path} -P {streams} ") for e in errors):
                    print(f"{label:32} {streams:>7} {'error':>8}")
                continue
            m = med[(path, streams)]
            gb = sum(v[1] for v in vals) / 1e9
            cpu = ""
            if path != "direct" and gb > 0:
                a = sum(v[2] for v in vals) / gb
                b = sum(v[3] for v in vals) / gb
                cpu = f"{a:.2f}" if path in ("socat", "nginx") else f"{a:.2f}+{b:.2f}"
            print(f"{label:32} {streams:>7} {m:>8.2f} "
                  f"{fnum(ratio(m, med.get(('direct', streams)))):>8} "
                  f"{fnum(ratio(m, med.get(('socat', streams)))):>7} "
                  f"{fnum(ratio(m, med.get(('nginx', streams)))):>7} "
                  f"{fnum(ratio(m, med.get(('nginx2', streams)))):>8} {cpu:>14}")
        print()
    print("fwd CPU s/GB: CPU seconds the forwarding processes used per GB carried "
          "(relay: burrowd+burrow; nginx x2: front+back).")
    for e in errors:
        print(f"error: {e}")
    targets.errors += len(errors)
    if meta.get("tput_left_open"):
        print(f"warning: 5 s after the last iperf3 run, burrowd still held about "
              f"{meta['tput_left_open']} relayed connections that iperf3 had closed "
              f"(pairs not closed: a leak)")
    print()
    for streams in (1, 8):
        r = med.get(("relay", streams))
        n = med.get(("nginx", streams))
        n2 = med.get(("nginx2", streams))
        s = "s" if streams > 1 else ""
        targets.add(None if r is None or n is None else r >= n,
                    f"throughput, {streams} stream{s}: relay {fnum(r)} Gbit/s >= nginx "
                    f"{fnum(n)} Gbit/s")
        targets.add(None if r is None or n2 is None else r >= n2,
                    f"(same topology) throughput, {streams} stream{s}: relay {fnum(r)} Gbit/s "
                    f">= nginx x2 {fnum(n2)} Gbit/s")


def latency(d, meta, targets):
    runs = {}
    errors = []
    for r in rows(os.path.join(d, "lat.tsv")):
        test, path, p50, p99, mean, mx, n, err = (r + [""] * 8)[:8]
        if err:
            errors.append(f"{test} {path}: {err}")
            continue
        runs.setdefault((test, path), []).append((float(p50), float(p99), float(mean),
                                                  float(mx), int(n)))
    if not runs and not errors:
        return
    # Median over the interleaved runs of each percentile; the largest max.
    data = {k: (statistics.median(v[0] for v in vs), statistics.median(v[1] for v in vs),
                statistics.median(v[2] for v in vs), max(v[3] for v in vs),
                sum(v[4] for v in vs)) for k, vs in runs.items()}
    reps = meta.get("reps")
    print(f"Latency: median over {reps} interleaved runs of each figure (max: the largest); "
          f"other jobs used about {meta.get('other_load_lat', '?')}% of the CPUs meanwhile")
    print()
    for test, paths, title in (
            ("ping", PING_PATHS, f"Round trip of {meta.get('size')} bytes over one "
                                 f"connection ({meta.get('ping_n')} round trips a run), µs"),
            ("split", SPLIT_PATHS, f"The same with each {meta.get('size')}-byte request and "
                                   f"answer in two writes, answered only when whole "
                                   f"({meta.get('split_n')} round trips a run), µs"),
            ("connect", CONNECT_PATHS, f"connect + {meta.get('size')}-byte round trip + "
                                       f"close ({meta.get('connect_n')} connections a run, "
                                       f"one at a time), µs")):
        print(title)
        print()
        hdr = (f"{'path':32} {'p50':>8} {'p99':>8} {'mean':>8} {'max':>8} "
               f"{'+p50 vs direct':>15} {'+p99 vs direct':>15}")
        print(hdr)
        print("-" * len(hdr))
        base = data.get((test, "direct"))
        for path, label in paths:
            v = data.get((test, path))
            if not v:
                if any(e.startswith(f"{test} {path}:") for e in errors):
                    print(f"{label:32} {'error':>8}")
                continue
            add50 = f"{v[0] - base[0]:+.1f}" if base and path != "direct" else ""
            add99 = f"{v[1] - base[1]:+.1f}" if base and path != "direct" else ""
            print(f"{label:32} {v[0]:>8.1f} {v[1]:>8.1f} {v[2]:>8.1f} {v[3]:>8.0f} "
                  f"{add50:>15} {add99:>15}")
        print()
    for e in errors:
        print(f"error: {e}")
    targets.errors += len(errors)
    for test, path, label in (("ping", "relay", "round trip"),
                              ("split", "relay", "split round trip"),
                              ("connect", "relay_warm", "connect (warm pool)")):
        r = data.get((test, path))
        n = data.get((test, "nginx"))
        n2 = data.get((test, "nginx2"))
        for i, p in ((0, "p50"), (1, "p99")):
            targets.add(None if not r or not n else r[i] <= n[i],
                        f"latency, {label} {p}: relay {fnum(r and r[i], 1)} µs <= nginx "
                        f"{fnum(n and n[i], 1)} µs")
            targets.add(None if not r or not n2 else r[i] <= n2[i],
                        f"(same topology) latency, {label} {p}: relay {fnum(r and r[i], 1)} µs "
                        f"<= nginx x2 {fnum(n2 and n2[i], 1)} µs")


def memory(d, meta, targets):
    m = kv(os.path.join(d, "mem.tsv"))
    if not m:
        return
    want, n = int(m.get("want", 0)), int(m.get("n", 0))
    held, verified = int(m.get("held", 0)), int(m.get("verified", 0))
    print(f"Memory: {n:,} idle relayed connections, each echoed one byte when opened and "
          f"again before measuring")
    print()
    if n < want:
        print(f"note: {m.get('limit_note')}")
    print(f"opened and echoed: {held:,}/{n:,} in {m.get('open_ms')} ms; echoed again: "
          f"{verified:,}/{n:,}")
    hdr = f"{'process':10} {'VmRSS before':>13} {'with conns':>11} {'per conn':>10} " \
          f"{'after close':>12} {'fds with':>9} {'fds after':>10}"
    print(hdr)
    print("-" * len(hdr))
    if held < n or verified < n:
        print(f"error: {n - min(held, verified):,} connections were not relayed or did not "
              f"echo their byte")
        targets.errors += 1
    per = {}
    for p in ("burrowd", "burrow"):
        b, a, c = (int(m.get(f"{p}_rss_{k}", 0)) for k in ("before", "held", "closed"))
        per[p] = (a - b) * 1024 / verified if verified else None
        print(f"{p:10} {b:>10,} kB {a:>8,} kB {fnum(per[p] and per[p] / 1024, 2):>6} KiB "
              f"{c:>9,} kB {m.get(p + '_fds_held', '-'):>9} {m.get(p + '_fds_closed', '-'):>10}")
    print(f"After the client closed them, burrowd logged {int(m.get('closed_logged', 0)):,} "
          f"closes for the {held:,} connections; a new connection was relayed after that.")
    print()
    targets.add(None if per["burrowd"] is None else per["burrowd"] < 10 * 1024,
                f"memory: burrowd {fnum(per['burrowd'] and per['burrowd'] / 1024)} KiB per "
                f"idle relayed connection < 10 KiB")
    ok = verified >= 10000 and verified == n
    if n >= 10000:
        why = ""
    elif m.get("limit_note"):
        why = f" (only {n:,} could be opened: {m.get('limit_note')})"
    else:
        why = f" (only {n:,} tried in this run)"
    targets.add(ok, f"connections held: {verified:,} of 10,000 relayed and echoing{why}")


def http(d, meta, targets):
    skip = meta.get("http_skip")
    if skip is None and not os.path.exists(os.path.join(d, "http.tsv")):
        return    # the phase was not run (--only)
    print(f"http vhost: wrk through each reverse proxy, requests/s, median of "
          f"{meta.get('reps')} interleaved runs; other jobs used about "
          f"{meta.get('other_load_http', '?')}% of the CPUs meanwhile")
    print()
    if skip:
        print(f"skipped: http proxies not available yet ({skip})")
        print()
        targets.add(None, "http: skipped")
        return
    runs = {}
    for r in rows(os.path.join(d, "http.tsv")):
        runs.setdefault(r[0], []).append((r + [""] * 5)[:5])
    hdr = f"{'path':32} {'req/s':>10} {'×direct':>8} {'×nginx':>7} {'×nginx2':>8} " \
          f"{'p50 ms':>7} {'p99 ms':>7} {'errors':>7}"
    print(hdr)
    print("-" * len(hdr))

    def med(vals):
        vals = [float(v) for v in vals if v]
        return statistics.median(vals) if vals else None

    rps = {k: med(v[1] for v in vs) for k, vs in runs.items()}
    rps = {k: v for k, v in rps.items() if v is not None}
    base = meta.get("http_base")
    for path, label in (("direct", "direct to the backend"), ("nginx", "nginx proxy_pass"),
                        ("nginx2", "nginx proxy_pass -> nginx stream"),
                        ("relay_base", "burrowd + burrow, BW_BASE_BUILD"),
                        ("relay", "burrowd vhost + burrow")):
        vs = runs.get(path)
        if not vs:
            continue
        errs = [v[4] for v in vs if v[4] not in ("", "0")]
        print(f"{label:32} {fnum(rps.get(path), 0):>10} "
              f"{fnum(ratio(rps.get(path), rps.get('direct'))):>8} "
              f"{fnum(ratio(rps.get(path), rps.get('nginx'))):>7} "
              f"{fnum(ratio(rps.get(path), rps.get('nginx2'))):>8} "
              f"{fnum(med(v[2] for v in vs), 3):>7} {fnum(med(v[3] for v in vs), 3):>7} "
              f"{len(errs) and errs[0] or 0:>7}")
    if base:
        print(f"BW_BASE_BUILD: {base}; relay / relay_base: "
              f"{fnum(ratio(rps.get('relay'), rps.get('relay_base')))}")
    print()
    r, n, n2 = rps.get("relay"), rps.get("nginx"), rps.get("nginx2")
    targets.add(None if r is None or n is None else r >= n,
                f"http: burrowd {fnum(r, 0)} req/s >= nginx {fnum(n, 0)} req/s")
    targets.add(None if r is None or n2 is None else r >= n2,
                f"(same topology) http: burrowd {fnum(r, 0)} req/s >= nginx proxy_pass -> "
                f"nginx stream {fnum(n2, 0)} req/s")


def main():
    d = sys.argv[1]
    meta = kv(os.path.join(d, "meta"))
    targets = Targets()
    throughput(d, meta, targets)
    latency(d, meta, targets)
    memory(d, meta, targets)
    http(d, meta, targets)
    print("Targets (issue 4; the lines marked \"same topology\" compare with two chained "
          "nginx, for information):")
    for line in targets.lines:
        print(f"  {line}")
    return 1 if targets.errors else 0


if __name__ == "__main__":
    sys.exit(main())
