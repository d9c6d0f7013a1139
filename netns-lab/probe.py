#!/usr/bin/env python3
"""Independent NAT probe for the Burrow netns lab (python3 standard library only).

It shares no code with Burrow: the lab uses it to check that every NAT type
behaves as it claims, before Burrow's own detection is judged against it.

Subcommands
  server  --addr A1 --addr A2 --port P1 --port P2
          A small STUN-like echo: one UDP socket per (address, port) pair, and
          TCP on every (address, port) pair. A UDP request is JSON
          {"id": ..., "from": "pp"|"pa"|"ap"|"aa"}; the answer
          {"id": ..., "src": "ip:port", "via": "ip:port"} reports the source the
          server saw and leaves from the socket that got the request, or from
          the one named by "from" (primary or alternate address, primary or
          alternate port), like RFC 5780's CHANGE-REQUEST. On TCP the server
          writes the same answer, without "id", on connect and closes.
  classify --server A1:P1 --alt A2:P2 [--local-port N]
          RFC 5780-style tests: mapping (EIM / ADM / APDM), filtering
          (EIF / ADF / APDF), port preservation, the port deltas between
          successive new mappings (sequential allocation), hairpinning, whether
          UDP works at all and whether TCP does. Prints one JSON object.
  mapping --server A1:P1 [--port N]
          Prints the mapped address ("ip:port") of local port N.
  listen  [--server A1:P1] --port N [--timeout S]
          With --server, creates a mapping for local port N and prints
          "mapped ip:port" (else "listening on port N"), then waits for one
          datagram and prints "received from ip:port: payload".
          Exit 1 if nothing arrives in time.
  ping    --server A1:P1 [--count N] [--interval S] [--timeout S]
          UDP echo: prints JSON with sent, received, loss, reordered and the
          round-trip times (min, avg, median, max in ms).
  send    --to IP:PORT [--port N] [--count C] [--interval S] [--payload TEXT]
          Sends C datagrams (lost ones are expected: the receiver decides).
  tcp-sink --addr A --port P      counts bytes of each TCP connection, replies "bytes N"
  tcp-send --to IP:PORT --bytes N prints "seconds S bytes N" once the sink confirmed

Every wait is bounded; retransmissions make the UDP tests robust to an
occasional loss while keeping a filtered answer distinguishable from a lost one
(the positive control is repeated right before each filtering test).
"""
import argparse
import json
import os
import select
import socket
import sys
import time

MAX_DGRAM = 512
TRIES = 4          # transmissions per UDP test
WAIT = 0.3         # seconds to wait for each answer
SEQ_MAX_STEP = 16  # |delta| up to this between new mappings counts as sequential


def parse_ep(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


def fmt_ep(ep):
    return "%s:%d" % (ep[0], ep[1])


# ---------------------------------------------------------------- server

def serve(args):
    addrs, ports = args.addr, args.port
    if len(addrs) != 2 or len(ports) != 2:
        sys.exit("server: needs exactly two --addr and two --port")
    udp = {}
    tcp = []
    for ai, a in enumerate(addrs):
        for pi, p in enumerate(ports):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((a, p))
            udp["pa"[ai] + "pa"[pi]] = s  # "pp", "pa", "ap", "aa"
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            t.bind((a, p))
            t.listen(64)
            tcp.append(t)
    print("probe server ready on %s ports %d %d" % (" ".join(addrs), ports[0], ports[1]),
          flush=True)
    socks = list(udp.values()) + tcp
    while True:
        readable, _, _ = select.select(socks, [], [])
        for s in readable:
            if s.type == socket.SOCK_STREAM:
                tcp_answer(s)
                continue
            try:
                data, peer = s.recvfrom(MAX_DGRAM + 1)
            except OSError:
                continue
            if len(data) > MAX_DGRAM:
                continue
            try:
                req = json.loads(data)
                rid = str(req["id"])[:64]
                frm = req.get("from")
                out = udp[frm] if frm is not None else s
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # not a request of ours: never answered
            ans = {"id": rid, "src": fmt_ep(peer), "via": fmt_ep(out.getsockname())}
            try:
                out.sendto(json.dumps(ans).encode(), peer)
            except OSError:
                pass


def tcp_answer(listener):
    try:
        c, peer = listener.accept()
    except OSError:
        return
    try:
        c.settimeout(1.0)
        c.sendall(json.dumps({"src": fmt_ep(peer),
                              "via": fmt_ep(c.getsockname())}).encode() + b"\n")
    except OSError:
        pass
    finally:
        c.close()


# ---------------------------------------------------------------- client helpers

class Prober:
    def __init__(self, server, alt):
        self.a1, self.p1 = server
        self.a2, self.p2 = alt
        self.n = 0

    def endpoint(self, which):
        """'pp' primary address and port ... 'aa' alternate address and port."""
        return ((self.a1 if which[0] == "p" else self.a2),
                (self.p1 if which[1] == "p" else self.p2))

    def ask(self, sock, to, frm=None, tries=TRIES, wait=WAIT):
        """Sends a request to server endpoint `to` asking for an answer from
        socket `frm` (default: the endpoint asked); returns the mapped
        (ip, port) or None after all tries."""
        self.n += 1
        rid = "%d-%d-%d" % (os.getpid(), self.n, time.monotonic_ns())
        req = {"id": rid}
        if frm is not None:
            req["from"] = frm
        msg = json.dumps(req).encode()
        dest = self.endpoint(to)
        for _ in range(tries):
            sock.sendto(msg, dest)
            deadline = time.monotonic() + wait
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                r, _, _ = select.select([sock], [], [], left)
                if not r:
                    break
                try:
                    data, _peer = sock.recvfrom(MAX_DGRAM + 1)
                    ans = json.loads(data)
                except (OSError, ValueError):
                    continue
                if isinstance(ans, dict) and ans.get("id") == rid:
                    return parse_ep(ans["src"])
        return None


def udp_socket(port=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    return s


def local_ip_towards(dest):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(dest)
        return s.getsockname()[0]
    finally:
        s.close()


def tcp_probe(dest, timeout=2.0):
    try:
        with socket.create_connection(dest, timeout=timeout) as c:
            c.settimeout(timeout)
            buf = b""
            while not buf.endswith(b"\n") and len(buf) < MAX_DGRAM:
                chunk = c.recv(MAX_DGRAM)
                if not chunk:
                    break
                buf += chunk
            return parse_ep(json.loads(buf)["src"])
    except (OSError, ValueError, KeyError):
        return None


def hairpin_test(mapped, receiver, tries=TRIES, wait=WAIT):
    """Sends from a fresh socket to `mapped` (receiver's public mapping) and
    reports whether `receiver` gets it."""
    token = ("hairpin-%d-%d" % (os.getpid(), time.monotonic_ns())).encode()
    sender = udp_socket()
    try:
        for _ in range(tries):
            sender.sendto(token, mapped)
            deadline = time.monotonic() + wait
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                r, _, _ = select.select([receiver], [], [], left)
                if not r:
                    break
                data, _ = receiver.recvfrom(MAX_DGRAM + 1)
                if data == token:
                    return True
    finally:
        sender.close()
    return False


def classic_name(res):
    if not res["udp"]:
        return "udp-blocked"
    if not res["nat"]:
        return "none" if res["filtering"] == "EIF" else "firewall"
    if res["mapping"] == "EIM":
        return {"EIF": "full-cone", "ADF": "restricted",
                "APDF": "port-restricted"}[res["filtering"]]
    return "symmetric-seq" if res["sequential"] else "symmetric"


def classify(args):
    t0 = time.monotonic()
    pr = Prober(parse_ep(args.server), parse_ep(args.alt))
    res = {"server": args.server, "alt": args.alt}
    s1 = udp_socket(args.local_port or 0)
    lport = s1.getsockname()[1]
    res["local"] = fmt_ep((local_ip_towards(pr.endpoint("pp")), lport))

    tcp = tcp_probe(pr.endpoint("pp"))
    res["tcp"] = tcp is not None
    res["tcp_mapped"] = fmt_ep(tcp) if tcp else None

    # Mapping: the same local socket towards the four server endpoints. The
    # order pp, ap, aa, pa gives ADM (same port per address) and APDM apart,
    # and consecutive new mappings give the allocation deltas.
    m = {}
    for to in ("pp", "ap", "aa", "pa"):
        m[to] = pr.ask(s1, to)
        if m[to] is None:
            break
    res["udp"] = m["pp"] is not None
    if not res["udp"] or None in m.values():
        res.update(mapping=None, filtering=None, nat=None, mapped=None,
                   port_preserved=None, ports=[], deltas=[], sequential=False,
                   hairpin=None)
        if res["udp"]:
            res["error"] = "some server endpoints did not answer"
        res["class"] = classic_name(res) if not res["udp"] else "unknown"
        res["elapsed_ms"] = int((time.monotonic() - t0) * 1000)
        return res
    mp = m["pp"]
    res["mapped"] = fmt_ep(mp)
    res["nat"] = mp[0] != res["local"].rpartition(":")[0]
    res["port_preserved"] = mp[1] == lport
    if m["pp"] == m["ap"] == m["aa"] == m["pa"]:
        res["mapping"] = "EIM"
    elif m["pp"] == m["pa"] and m["ap"] == m["aa"]:
        res["mapping"] = "ADM"
    else:
        res["mapping"] = "APDM"

    # More fresh sockets, each towards one endpoint: for a sequential NAT each
    # new flow gets the next port.
    ports = [m[k][1] for k in ("pp", "ap", "aa", "pa")]
    extra = []
    for _ in range(3):
        s = udp_socket()
        extra.append(s)
        r = pr.ask(s, "pp")
        if r is not None:
            ports.append(r[1])
    deltas = [b - a for a, b in zip(ports, ports[1:])]
    res["ports"] = ports
    res["deltas"] = deltas
    res["sequential"] = (res["mapping"] != "EIM" and len(deltas) >= 4
                         and all(d == deltas[0] for d in deltas)
                         and 0 < abs(deltas[0]) <= SEQ_MAX_STEP)

    # Filtering, from a socket that has talked to the primary endpoint only.
    sf = udp_socket()
    extra.append(sf)
    filt = None
    if pr.ask(sf, "pp") is None:
        res["error"] = "filtering: positive control lost"
    elif pr.ask(sf, "pp", frm="aa") is not None:
        filt = "EIF"
    elif pr.ask(sf, "pp") is None:
        res["error"] = "filtering: positive control lost"
    elif pr.ask(sf, "pp", frm="pa") is not None:
        filt = "ADF"
    else:
        filt = "APDF"
    res["filtering"] = filt

    # Hairpinning: a second local socket sends to the first one's public
    # mapping. Meaningless without NAT (it is plain local delivery).
    res["hairpin"] = hairpin_test(mp, s1) if res["nat"] else None
    for s in extra:
        s.close()
    s1.close()
    res["class"] = classic_name(res) if filt else "unknown"
    res["elapsed_ms"] = int((time.monotonic() - t0) * 1000)
    return res


# ---------------------------------------------------------------- small tools

def cmd_mapping(args):
    pr = Prober(parse_ep(args.server), parse_ep(args.server))
    s = udp_socket(args.port)
    r = pr.ask(s, "pp")
    s.close()
    if r is None:
        print("no answer from %s" % args.server, file=sys.stderr)
        return 1
    print(fmt_ep(r))
    return 0


def cmd_listen(args):
    s = udp_socket(args.port)
    if args.server:
        pr = Prober(parse_ep(args.server), parse_ep(args.server))
        r = pr.ask(s, "pp")
        if r is None:
            print("no answer from %s" % args.server, file=sys.stderr)
            return 1
        print("mapped %s" % fmt_ep(r), flush=True)
    else:
        print("listening on port %d" % s.getsockname()[1], flush=True)
    deadline = time.monotonic() + args.timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            print("nothing received", flush=True)
            return 1
        rd, _, _ = select.select([s], [], [], left)
        if not rd:
            continue
        data, peer = s.recvfrom(MAX_DGRAM + 1)
        try:
            json.loads(data)
            continue  # a late server answer, not the datagram we wait for
        except ValueError:
            pass
        print("received from %s: %s" % (fmt_ep(peer), data.decode(errors="replace")),
              flush=True)
        return 0


def cmd_ping(args):
    """UDP echo against the probe server: round-trip times, loss and
    reordering (an answer arriving after one to a later request)."""
    dest = parse_ep(args.server)
    s = udp_socket()
    tag = "%d-%d" % (os.getpid(), time.monotonic_ns())
    sent_at = {}
    rtts = []
    got = set()
    reordered = 0
    highest = -1
    t0 = time.monotonic()
    seq = 0
    last_send = None
    while True:
        now = time.monotonic()
        if seq < args.count and now >= t0 + seq * args.interval:
            sent_at[seq] = now
            s.sendto(json.dumps({"id": "%s-%d" % (tag, seq)}).encode(), dest)
            seq += 1
            last_send = now
            continue
        if seq >= args.count and (len(got) == args.count or now > last_send + args.timeout):
            break
        if seq < args.count:
            wait = max(0.0, t0 + seq * args.interval - now)
        else:
            wait = last_send + args.timeout - now
        r, _, _ = select.select([s], [], [], wait)
        if not r:
            continue
        data, _ = s.recvfrom(MAX_DGRAM + 1)
        t = time.monotonic()
        try:
            rid = json.loads(data)["id"]
            rtag, _, rseq = rid.rpartition("-")
            rseq = int(rseq)
        except (ValueError, KeyError, TypeError):
            continue
        if rtag != tag or rseq in got or rseq not in sent_at:
            continue
        got.add(rseq)
        rtts.append((t - sent_at[rseq]) * 1000.0)
        if rseq < highest:
            reordered += 1
        highest = max(highest, rseq)
    s.close()
    out = {"sent": args.count, "received": len(got),
           "loss": round(1.0 - len(got) / args.count, 4) if args.count else 0.0,
           "reordered": reordered}
    if rtts:
        rtts.sort()
        out.update(rtt_min_ms=round(rtts[0], 2), rtt_avg_ms=round(sum(rtts) / len(rtts), 2),
                   rtt_median_ms=round(rtts[len(rtts) // 2], 2), rtt_max_ms=round(rtts[-1], 2))
    print(json.dumps(out, sort_keys=True))
    return 0


def cmd_send(args):
    s = udp_socket(args.port)
    dest = parse_ep(args.to)
    for i in range(args.count):
        s.sendto(args.payload.encode(), dest)
        if i + 1 < args.count:
            time.sleep(args.interval)
    s.close()
    return 0


def cmd_tcp_sink(args):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.addr, args.port))
    ls.listen(8)
    print("tcp sink ready on %s:%d" % (args.addr, args.port), flush=True)
    while True:
        c, _ = ls.accept()
        with c:
            c.settimeout(30)
            n = 0
            try:
                while True:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    n += len(chunk)
                c.sendall(b"bytes %d\n" % n)
            except OSError:
                pass


def cmd_tcp_send(args):
    dest = parse_ep(args.to)
    block = b"\0" * 65536
    t0 = time.monotonic()
    with socket.create_connection(dest, timeout=args.timeout) as c:
        c.settimeout(args.timeout)
        left = args.bytes
        while left > 0:
            n = c.send(block[:min(left, len(block))])
            left -= n
        c.shutdown(socket.SHUT_WR)
        reply = c.recv(64)
    secs = time.monotonic() - t0
    if reply.strip() != b"bytes %d" % args.bytes:
        print("sink answered %r" % reply, file=sys.stderr)
        return 1
    print("seconds %.3f bytes %d" % (secs, args.bytes))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("server")
    p.add_argument("--addr", action="append", default=[])
    p.add_argument("--port", action="append", type=int, default=[])
    p = sub.add_parser("classify")
    p.add_argument("--server", required=True)
    p.add_argument("--alt", required=True)
    p.add_argument("--local-port", type=int, default=0)
    p = sub.add_parser("mapping")
    p.add_argument("--server", required=True)
    p.add_argument("--port", type=int, default=0)
    p = sub.add_parser("listen")
    p.add_argument("--server")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--timeout", type=float, default=3.0)
    p = sub.add_parser("ping")
    p.add_argument("--server", required=True)
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--interval", type=float, default=0.1)
    p.add_argument("--timeout", type=float, default=1.0)
    p = sub.add_parser("send")
    p.add_argument("--to", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--count", type=int, default=5)
    p.add_argument("--interval", type=float, default=0.1)
    p.add_argument("--payload", default="hello")
    p = sub.add_parser("tcp-sink")
    p.add_argument("--addr", required=True)
    p.add_argument("--port", type=int, required=True)
    p = sub.add_parser("tcp-send")
    p.add_argument("--to", required=True)
    p.add_argument("--bytes", type=int, required=True)
    p.add_argument("--timeout", type=float, default=20.0)
    args = ap.parse_args()
    if args.cmd == "server":
        serve(args)
        return 0
    if args.cmd == "classify":
        print(json.dumps(classify(args), sort_keys=True))
        return 0
    return {"mapping": cmd_mapping, "listen": cmd_listen, "send": cmd_send, "ping": cmd_ping,
            "tcp-sink": cmd_tcp_sink, "tcp-send": cmd_tcp_send}[args.cmd](args)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
