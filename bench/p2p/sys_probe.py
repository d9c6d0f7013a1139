#!/usr/bin/env python3
"""Traffic for bench/p2p.sh: an echo service behind the owner and a client
that times a new connection's first byte back through the visitor.

  sys_probe.py echo PORT
      TCP echo on 127.0.0.1:PORT, one thread per connection; prints
      "echo ready PORT" once listening.
  sys_probe.py first-byte PORT COUNT TIMEOUT_S [GAP_S]
      COUNT connections to 127.0.0.1:PORT, one after the other (GAP_S apart,
      default 0.1): each connects, sends 64 random bytes and times the first
      byte back from the moment connect() was called, then reads the rest
      and compares it. One line per connection:
        first_ms=12.345 ok=1
      or, when it failed, first_ms=- ok=0 error=WHY. Exit status 0 when
      every connection came back whole.

The first connection through a fresh visitor is the cold case: it opens the
peer session (rendezvous, ICE, handshake, transport), so its first byte
waits for all of that. The ones after it find the session up (warm).
Standard library only: it runs inside the lab's namespaces.
"""
import os
import socket
import sys
import threading
import time

MSG_SIZE = 64


def echo(port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(128)

    def serve(c):
        with c:
            try:
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    c.sendall(d)
                c.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    print("echo ready %d" % port, flush=True)
    while True:
        c, _ = ls.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def first_byte(port, timeout):
    msg = os.urandom(MSG_SIZE)
    t0 = time.monotonic()
    first = None
    got = bytearray()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        with s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(msg)
            while len(got) < len(msg):
                left = timeout - (time.monotonic() - t0)
                if left <= 0:
                    raise socket.timeout("no echo within %.0f s" % timeout)
                s.settimeout(left)
                d = s.recv(len(msg) - len(got))
                if not d:
                    break
                if first is None:
                    first = time.monotonic()
                got += d
    except OSError as e:
        why = str(e) or type(e).__name__
        return "first_ms=- ok=0 error=%s" % why.replace(" ", "_"), False
    if first is None or bytes(got) != msg:
        return "first_ms=- ok=0 error=echo_%d_of_%d_bytes" % (len(got), len(msg)), False
    return "first_ms=%.3f ok=1" % ((first - t0) * 1000), True


def main(argv):
    if len(argv) >= 2 and argv[0] == "echo":
        echo(int(argv[1]))
        return 0
    if len(argv) >= 4 and argv[0] == "first-byte":
        port, count, timeout = int(argv[1]), int(argv[2]), float(argv[3])
        gap = float(argv[4]) if len(argv) > 4 else 0.1
        ok_all = True
        for i in range(count):
            if i:
                time.sleep(gap)
            line, ok = first_byte(port, timeout)
            print(line, flush=True)
            ok_all = ok_all and ok
        return 0 if ok_all else 1
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
