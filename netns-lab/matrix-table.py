#!/usr/bin/env python3
"""Turn a saved run of netns-lab/tests/p2p_matrix.sh into docs/NAT.md's table.

    matrix-table.py LOG [--doc docs/NAT.md] [--print]

Reads the run's "MATRIX key=value ..." lines (one per pair) and its
"MATRIX-RUN ..." line, and rewrites the "## P2P matrix" section of the doc
(from that heading to the next "## " heading) with: the command, the machine,
a table of paths and times to direct (rows: the owner's NAT, columns: the
visitor's), a table of cold connect times, and what the run counted. The rest
of the doc is left as it is. --print writes the section to stdout instead.
Exits 1 if the log has no MATRIX line or the doc has no such heading.
"""
import argparse
import os
import re
import sys

TYPES = ["none", "full-cone", "restricted", "port-restricted", "symmetric", "cgnat", "udp-blocked"]
HEADING = "## P2P matrix"


def parse(path):
    pairs, run = {}, {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            # "53: MATRIX ..." when saved from `ctest -V`
            m = re.match(r"^(?:\d+: )?(MATRIX|MATRIX-RUN) (.*)$", line)
            if not m:
                continue
            kv = dict(w.split("=", 1) for w in m.group(2).split() if "=" in w)
            if m.group(1) == "MATRIX-RUN":
                run = kv
            elif "owner" in kv and "visitor" in kv:
                pairs[(kv["owner"], kv["visitor"])] = kv
    return pairs, run


def secs(ms):
    try:
        return "%.2f s" % (int(ms) / 1000.0)
    except (TypeError, ValueError):
        return None


def path_cell(p):
    if p is None:
        return "·"
    got, exp = p.get("got", "?"), p.get("expect", "?")
    sudp = p.get("sudp", "?")
    if p.get("result") != "pass":
        why = []
        if got != exp:
            why.append("xtcp %s" % got)
        if sudp != exp:
            why.append("sudp %s" % sudp)
        if p.get("xtcp") != "ok":
            why.append("xtcp bytes differ")
        if p.get("sudp_data") != "ok":
            why.append("sudp datagrams lost")
        return "**FAIL** (expected %s: %s)" % (exp, ", ".join(why) or "not ready")
    if got == "direct":
        t = secs(p.get("direct_ms"))
        cell = "direct" + (" %s" % t if t else "")
        if p.get("log") == "relayed->direct":
            cell += " (relay first)"
        return cell
    return got


def connect_cell(p):
    if p is None:
        return "·"
    x, u = secs(p.get("connect_ms")), secs(p.get("sudp_connect_ms"))
    return "%s / %s" % (x or "-", u or "-")


def table(pairs, cell):
    out = ["| owner \\ visitor | " + " | ".join(TYPES) + " |",
           "|---|" + "---|" * len(TYPES)]
    for o in TYPES:
        if not any((o, v) in pairs for v in TYPES):
            continue
        out.append("| **%s** | " % o + " | ".join(cell(pairs.get((o, v))) for v in TYPES) + " |")
    return out


def median(xs):
    xs = sorted(xs)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def section(pairs, run):
    n = len(pairs)
    passed = sum(1 for p in pairs.values() if p.get("result") == "pass")
    direct = [p for p in pairs.values() if p.get("got") == "direct"]
    relayed = [p for p in pairs.values() if p.get("got") == "relayed"]
    first = [p for p in direct if p.get("log") == "relayed->direct"]
    dms = [int(p["direct_ms"]) for p in direct if p.get("direct_ms", "-").isdigit()]
    cms = [int(p["connect_ms"]) for p in pairs.values() if p.get("connect_ms", "-").isdigit()]
    cpu = run.get("cpu", "?").replace("_", " ")
    L = [HEADING, "",
         "Issue 6's lab matrix, `netns-lab/tests/p2p_matrix.sh` (ctest `lab/p2p_matrix`).",
         "For each ordered pair an owner `burrow` behind NAT A exposes an xtcp proxy (a",
         "TCP echo service) and an sudp proxy (a UDP echo service), a visitor `burrow`",
         "behind NAT B opens both, and `burrowd` runs on `pub` (control, STUN on",
         "`bindUDPPort` with `natProbeAltAddr`, admin API). Sites come up once (14, the",
         "lab's limit); every pair gets a fresh owner and visitor. The test sends a cold",
         "first connection and datagram, waits for the visitor's decision, then, with",
         "both NATs' counters reset, 1 MiB each way through the xtcp visitor (`cmp`) and",
         "256 datagrams of 1000 bytes through the sudp visitor (each compared), and",
         "asserts the path three times: from the visitor's log (`visitor ssh-home:",
         "direct A from B (...)` / `relayed via burrowd (why)`), from the routers'",
         "counters (direct: UDP between the two sites' public addresses above the",
         "payload both ways; relayed: below an eighth of it, and more than the payload",
         "over TCP to 203.0.113.10 from each site), and from `burrowd status` (its",
         "`p2p` list shows both sessions with that path as each side last reported",
         "it). Expected: direct except symmetric against",
         "port-restricted or symmetric (cgnat's default carrier is port-restricted) and",
         "anything with udp-blocked.",
         "",
         "```sh",
         "sudo BURROW=build/cmd/burrow BURROWD=build/cmd/burrowd \\",
         "    bash netns-lab/tests/p2p_matrix.sh | tee /tmp/m.log",
         "python3 netns-lab/matrix-table.py /tmp/m.log     # rewrites this section",
         "# BW_P2P_MATRIX_PAIRS=symmetric:full-cone,... runs some pairs only;",
         "# BW_P2P_MATRIX_LOGS=/tmp/mx keeps every pair's logs and configs;",
         "# from a build tree: ctest -R lab/p2p_matrix -V | tee /tmp/m.log (same parser)",
         "```",
         "",
         "Measured %s on this project's machine (Linux %s, %s cores, %s), build `%s`"
         " (sanitizers: %s):"
         % (run.get("date", "?"), run.get("kernel", "?"), run.get("cores", "?"), cpu,
            run.get("build", "?"), run.get("sanitizers", "?")),
         "%d of %d pairs passed; the pairs took %s s, the whole test %s s."
         % (passed, n, run.get("pairs_s", "?"), run.get("total_s", "?")),
         "",
         "Path and time to direct (ICE's own figure in the visitor's `direct` line: from",
         "the session's opening to the selected pair; `·`: pair not run)."
         + (" \"relay first\": the 1 s fallback put the session on the relay, and it"
            " moved to direct when ICE finished, before the measured transfer." if first else ""),
         "",
         ]
    L += table(pairs, path_cell)
    L += ["",
          "Cold first byte: xtcp (connect to the first echoed byte, session not up) /",
          "sudp (first datagram to its echo), in seconds.",
          ""]
    L += table(pairs, connect_cell)
    L += [""]
    notes = ["%d pairs direct, %d relayed; %d of %d as expected." % (len(direct), len(relayed),
                                                                     passed, n)]
    if dms:
        notes.append("Time to direct: %.2f-%.2f s, median %.2f s." % (
            min(dms) / 1000, max(dms) / 1000, median(dms) / 1000))
    if first:
        notes.append("%d of the direct pairs went through the relay first." % len(first))
    slow = [p for p in direct if p.get("connect_ms", "-").isdigit() and
            p.get("direct_ms", "-").isdigit() and
            int(p["connect_ms"]) > int(p["direct_ms"]) + 500]
    if slow:
        notes.append("In %d direct pairs the cold xtcp first byte came more than 0.5 s after "
                     "ICE had selected the pair." % len(slow))
    if cms:
        notes.append("Cold xtcp first byte: %.2f-%.2f s, median %.2f s." % (
            min(cms) / 1000, max(cms) / 1000, median(cms) / 1000))
    L += [" ".join(notes), ""]
    return L


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log")
    ap.add_argument("--doc", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "..", "docs", "NAT.md"))
    ap.add_argument("--print", action="store_true", dest="print_only")
    a = ap.parse_args()
    a.doc = os.path.normpath(a.doc)
    pairs, run = parse(a.log)
    if not pairs:
        sys.exit("matrix-table: no MATRIX lines in %s" % a.log)
    sec = section(pairs, run)
    if a.print_only:
        print("\n".join(sec))
        return
    with open(a.doc, encoding="utf-8") as f:
        lines = f.read().split("\n")
    try:
        start = lines.index(HEADING)
    except ValueError:
        sys.exit("matrix-table: no '%s' heading in %s" % (HEADING, a.doc))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    new = lines[:start] + sec + lines[end:]
    with open(a.doc, "w", encoding="utf-8") as f:
        f.write("\n".join(new))
    print("matrix-table: %d pairs written to %s" % (len(pairs), a.doc))


if __name__ == "__main__":
    main()
