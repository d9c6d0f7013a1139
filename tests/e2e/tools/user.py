#!/usr/bin/env python3
"""The user side of end-to-end tests: connects to a proxy's public port.

user.py xfer PORT IN OUT [--keep-open | --after-eof] [--timeout S]
    Send the file IN while receiving into OUT, at the same time (so an echo of
    100 MiB cannot deadlock on full buffers). After IN is sent, shut the write
    side down (half-close), unless --keep-open: then it waits for the peer's
    EOF first. With --after-eof it sends nothing before the peer's EOF (the
    peer has closed its side while this one still sends). Ends when both
    directions are done. A send that fails because the peer is gone stops the
    sending, and the receiving goes on. Prints "xfer: sent N received M, ended
    by eof|reset, send error E|none, T s"; exits 0 when the receiving ended by
    EOF, 3 when by a reset, 1 on timeout.

user.py many PORT N [--timeout S]
    Open N connections at once, send distinct bytes on each, check that each
    gets exactly its own bytes back, and only then half-close them all and
    wait for every EOF. Exits 0 when all N succeed.

user.py slow PORT OUT --rate BYTES_PER_S --secs S [--watch NAME=PID ...]
    Read slowly (small receive buffer, small reads, sleeps) for S seconds,
    then as fast as possible until EOF, everything into OUT. While reading
    slowly, sample VmRSS of each watched process: print
    "rss NAME base B max M growth G" (KiB; base sampled before connecting).

user.py hold PORT [TEXT] [--tls NAME]
    Hold a connection open in some state for a server that stops: send TEXT
    (Python escapes such as \\r\\n or \\x16 allowed), or with --tls complete
    a TLS handshake naming the server NAME (SNI, certificate not checked);
    then print "held" and read until the peer closes (60 s at most).
"""
import argparse
import errno
import os
import random
import selectors
import socket
import ssl
import sys
import time

BUF = 256 * 1024


def connect(port, rcvbuf=0):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    return s


def xfer(a):
    t0 = time.monotonic()
    s = connect(a.port)
    s.setblocking(False)
    src = open(a.input, "rb")
    dst = open(a.output, "wb", buffering=0)
    pending = b""
    sending, receiving, shut = True, True, False
    sent = received = 0
    ended, send_error = "eof", "none"
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    deadline = t0 + a.timeout
    while receiving or sending or not shut:
        if time.monotonic() > deadline:
            print("xfer: timeout after %.1f s: sent %d received %d, sending=%s receiving=%s"
                  % (a.timeout, sent, received, sending, receiving), flush=True)
            return 1
        may_send = sending and not (a.after_eof and receiving)
        want = (selectors.EVENT_READ if receiving else 0) | \
               (selectors.EVENT_WRITE if may_send else 0)
        if want == 0:
            # Everything sent and received; only the shutdown is left.
            want = selectors.EVENT_WRITE
        sel.modify(s, want)
        for _, ev in sel.select(timeout=0.5):
            if ev & selectors.EVENT_READ:
                try:
                    data = s.recv(BUF)
                except BlockingIOError:
                    data = None
                except OSError:
                    receiving, ended = False, "reset"
                    sending, shut = False, True
                    data = None
                if data:
                    received += len(data)
                    dst.write(data)
                elif data is not None:
                    receiving = False
            if may_send and ev & selectors.EVENT_WRITE:
                if not pending:
                    pending = src.read(BUF)
                if pending:
                    try:
                        n = s.send(pending)
                        sent += n
                        pending = pending[n:]
                    except BlockingIOError:
                        pass
                    except OSError as e:
                        # The peer is gone; keep reading what it sent.
                        sending, send_error = False, errno.errorcode.get(e.errno, str(e))
                else:
                    sending = False
            if not sending and not shut and (not a.keep_open or not receiving):
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                shut = True
    s.close()
    dst.close()
    print("xfer: sent %d received %d, ended by %s, send error %s, %.1f s"
          % (sent, received, ended, send_error, time.monotonic() - t0), flush=True)
    return 0 if ended == "eof" else 3


def many(a):
    t0 = time.monotonic()
    rnd = random.Random(a.seed)
    sel = selectors.DefaultSelector()
    conns = []
    for i in range(a.n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", a.port))
        payload = b"conn %06d|" % i + rnd.randbytes(100 + (i * 37) % 1900)
        c = {"i": i, "sock": s, "payload": payload, "off": 0, "got": bytearray(),
             "state": "send"}
        conns.append(c)
        sel.register(s, selectors.EVENT_WRITE, c)
    left = {"send": a.n, "echo": a.n, "eof": a.n}
    deadline = t0 + a.timeout
    errors = []
    while left["eof"] and not errors:
        if time.monotonic() > deadline:
            print("many: timeout: %d not sent, %d not echoed, %d without EOF"
                  % (left["send"], left["echo"], left["eof"]), flush=True)
            return 1
        for key, ev in sel.select(timeout=0.5):
            c = key.data
            s = c["sock"]
            try:
                if c["state"] == "send" and ev & selectors.EVENT_WRITE:
                    n = s.send(c["payload"][c["off"]:])
                    c["off"] += n
                    if c["off"] == len(c["payload"]):
                        c["state"] = "echo"
                        left["send"] -= 1
                        sel.modify(s, selectors.EVENT_READ, c)
                elif ev & selectors.EVENT_READ:
                    data = s.recv(65536)
                    if not data and c["state"] == "wait-eof":
                        c["state"] = "done"
                        left["eof"] -= 1
                        sel.unregister(s)
                        s.close()
                    elif not data:
                        errors.append("conn %d: EOF after %d of %d bytes"
                                      % (c["i"], len(c["got"]), len(c["payload"])))
                    elif c["state"] != "echo":
                        errors.append("conn %d: %d unexpected bytes" % (c["i"], len(data)))
                    else:
                        c["got"] += data
                        if len(c["got"]) > len(c["payload"]) or \
                           c["payload"][:len(c["got"])] != c["got"]:
                            errors.append("conn %d: echo differs from what it sent" % c["i"])
                        elif len(c["got"]) == len(c["payload"]):
                            c["state"] = "held"
                            left["echo"] -= 1
                            sel.unregister(s)
                            if left["echo"] == 0:
                                print("many: %d echoed, all open at once, %.1f s"
                                      % (a.n, time.monotonic() - t0), flush=True)
                                # Every connection got its bytes back while
                                # all were open: now end them all.
                                for d in conns:
                                    d["state"] = "wait-eof"
                                    d["sock"].shutdown(socket.SHUT_WR)
                                    sel.register(d["sock"], selectors.EVENT_READ, d)
            except BlockingIOError:
                pass
            except OSError as e:
                errors.append("conn %d (%s): %s" % (c["i"], c["state"], e))
    if errors:
        print("many: %d errors, first: %s" % (len(errors), "; ".join(errors[:5])), flush=True)
        return 1
    print("many: %d ok, %.1f s" % (a.n, time.monotonic() - t0), flush=True)
    return 0


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def slow(a):
    watch = {}
    for w in a.watch:
        name, pid = w.split("=")
        watch[name] = {"pid": int(pid), "base": rss_kib(int(pid)), "max": 0}
    s = connect(a.port, rcvbuf=64 * 1024)
    dst = open(a.output, "wb", buffering=0)
    t0 = time.monotonic()
    received, chunk, next_sample = 0, 16 * 1024, 0.0
    eof = False
    # Slow phase: `rate` bytes per second in small reads.
    while not eof:
        now = time.monotonic() - t0
        if now >= a.secs:
            break
        if now >= next_sample:
            for w in watch.values():
                w["max"] = max(w["max"], rss_kib(w["pid"]))
            next_sample = now + 0.2
        ahead = received - a.rate * now
        if ahead > 0:
            time.sleep(min(ahead / a.rate, 0.05))
            continue
        data = s.recv(chunk)
        if not data:
            eof = True
        received += len(data)
        dst.write(data)
    slow_bytes = received
    for name, w in watch.items():
        w["max"] = max(w["max"], rss_kib(w["pid"]))
        print("rss %s base %d max %d growth %d" % (name, w["base"], w["max"],
                                                   w["max"] - w["base"]), flush=True)
    # Fast phase.
    while not eof:
        data = s.recv(BUF)
        if not data:
            break
        received += len(data)
        dst.write(data)
    s.close()
    dst.close()
    print("slow: %d bytes in the slow phase, %d in all, %.1f s"
          % (slow_bytes, received, time.monotonic() - t0), flush=True)
    return 0


def hold(a):
    s = socket.create_connection(("127.0.0.1", a.port), timeout=60)
    if a.tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s, server_hostname=a.tls)
    else:
        s.sendall(a.text.encode().decode("unicode_escape").encode("latin-1"))
    print("held", flush=True)
    try:
        while s.recv(65536):
            pass
    except OSError:
        pass
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    x = sub.add_parser("xfer")
    x.add_argument("port", type=int)
    x.add_argument("input")
    x.add_argument("output")
    x.add_argument("--keep-open", action="store_true")
    x.add_argument("--after-eof", action="store_true")
    x.add_argument("--timeout", type=float, default=50)
    m = sub.add_parser("many")
    m.add_argument("port", type=int)
    m.add_argument("n", type=int)
    m.add_argument("--timeout", type=float, default=45)
    m.add_argument("--seed", type=int, default=4)
    sl = sub.add_parser("slow")
    sl.add_argument("port", type=int)
    sl.add_argument("output")
    sl.add_argument("--rate", type=float, required=True)
    sl.add_argument("--secs", type=float, required=True)
    sl.add_argument("--watch", action="append", default=[])
    h = sub.add_parser("hold")
    h.add_argument("port", type=int)
    h.add_argument("text", nargs="?", default="")
    h.add_argument("--tls", metavar="NAME")
    a = p.parse_args()
    sys.exit({"xfer": xfer, "many": many, "slow": slow, "hold": hold}[a.cmd](a))


if __name__ == "__main__":
    main()
