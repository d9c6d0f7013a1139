#!/usr/bin/env python3
"""Bad input for burrowd's control port, for end-to-end tests.

garbage.py PORT CASE [ARG]; each case prints one line, "CASE: ..." with what
happened, and exits 1 when the server did not behave (did not close the
connection in time, or closed it too early):

  random N      N connections, each sending 4 KiB of random bytes; the server
                must close every one within 5 s.
  big           a frame header announcing 4 KiB (above the pre-login limit)
                and the 4 KiB; closed within 5 s.
  huge          a frame header announcing 1 GiB, then 64 KiB; closed within
                5 s, without the server waiting for (or buffering) the rest.
  hello FILE    FILE holds a HELLO frame recorded from a real client: send
                it, read the server's HELLO_REPLY frame, then send a small
                junk frame; closed within 5 s.
  hello-big FILE  the same, followed by a junk frame header announcing 1 GiB.
  half MIN MAX  half a frame (a header announcing 100 bytes and 10 of them),
                then silence: the server must close between MIN and MAX s.
"""
import os
import socket
import struct
import sys
import time


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s


def wait_closed(s, limit):
    """Read until the server closes; seconds it took, or None on timeout."""
    t0 = time.monotonic()
    s.settimeout(0.2)
    while time.monotonic() - t0 < limit:
        try:
            if not s.recv(65536):
                return time.monotonic() - t0
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - t0  # reset: closed as well
    return None


def send_quietly(s, data):
    """The server may close before it has read everything: that is fine."""
    try:
        s.sendall(data)
    except OSError:
        pass


def read_frame(s):
    hdr = b""
    while len(hdr) < 4:
        chunk = s.recv(4 - len(hdr))
        if not chunk:
            return None
        hdr += chunk
    (n,) = struct.unpack(">I", hdr)
    body = b""
    while len(body) < n:
        chunk = s.recv(n - len(body))
        if not chunk:
            return None
        body += chunk
    return body


def one(port, data, limit=5.0):
    s = connect(port)
    send_quietly(s, data)
    t = wait_closed(s, limit)
    s.close()
    return t


def main():
    port, case = int(sys.argv[1]), sys.argv[2]
    ok = True
    if case == "random":
        n = int(sys.argv[3])
        closed = sum(1 for _ in range(n) if one(port, os.urandom(4096)) is not None)
        ok = closed == n
        print("random: %d of %d connections closed by the server" % (closed, n))
    elif case in ("big", "huge"):
        size = 4096 if case == "big" else 1 << 30
        t = one(port, struct.pack(">I", size) + os.urandom(min(size, 65536)))
        ok = t is not None
        print("%s: %s" % (case, "closed after %.2f s" % t if ok else "still open after 5 s"))
    elif case in ("hello", "hello-big"):
        hello = open(sys.argv[3], "rb").read()
        s = connect(port)
        s.sendall(hello)
        reply = read_frame(s)
        if reply is None:
            print("%s: no HELLO_REPLY" % case)
            sys.exit(1)
        if case == "hello":
            junk = struct.pack(">I", 64) + os.urandom(64)
        else:
            junk = struct.pack(">I", 1 << 30) + os.urandom(65536)
        send_quietly(s, junk)
        t = wait_closed(s, 5.0)
        s.close()
        ok = t is not None
        print("%s: HELLO_REPLY of %d bytes, then %s" % (
            case, len(reply), "closed after %.2f s" % t if ok else "still open after 5 s"))
    elif case == "half":
        lo, hi = float(sys.argv[3]), float(sys.argv[4])
        s = connect(port)
        s.sendall(struct.pack(">I", 100) + os.urandom(10))
        t = wait_closed(s, hi + 1)
        s.close()
        ok = t is not None and lo <= t <= hi
        print("half: %s" % ("closed after %.1f s" % t if t is not None else
                            "still open after %.0f s" % (hi + 1)))
    else:
        sys.exit("garbage.py: unknown case %s" % case)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
