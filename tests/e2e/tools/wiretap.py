#!/usr/bin/env python3
"""A recording TCP forwarder that keeps half-closes, for end-to-end tests.

wiretap.py TARGET_PORT CAPTURE_FILE: listens on 127.0.0.1 (port chosen by the
system, printed as "wiretap listening on 127.0.0.1:PORT"), forwards every
connection to 127.0.0.1:TARGET_PORT and appends every byte it forwards, both
ways, to CAPTURE_FILE. Unlike ../tap.py, an EOF from one side is passed on as
a shutdown of the other side's write direction, so relayed connections can end
with a half-close through it; non-blocking, so no direction waits on another.
"""
import selectors
import socket
import sys

BUF = 256 * 1024


class Side:
    def __init__(self, sock):
        self.sock = sock
        self.out = bytearray()  # bytes to write to this side
        self.eof = False        # this side sent FIN
        self.shut = False       # we shut this side's write direction
        self.other = None
        self.registered = False


def main():
    target = ("127.0.0.1", int(sys.argv[1]))
    capture = open(sys.argv[2], "ab", buffering=0)
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(256)
    lsock.setblocking(False)
    print("wiretap listening on 127.0.0.1:%d" % lsock.getsockname()[1], flush=True)
    sel = selectors.DefaultSelector()
    sel.register(lsock, selectors.EVENT_READ, None)

    def update(s):
        ev = 0
        if not s.eof and len(s.other.out) < 4 * BUF:
            ev |= selectors.EVENT_READ
        if s.out:
            ev |= selectors.EVENT_WRITE
        if ev and s.registered:
            sel.modify(s.sock, ev, s)
        elif ev:
            sel.register(s.sock, ev, s)
            s.registered = True
        elif s.registered:
            sel.unregister(s.sock)
            s.registered = False

    def close_pair(s):
        for x in (s, s.other):
            if x.registered:
                sel.unregister(x.sock)
                x.registered = False
            x.sock.close()

    while True:
        for key, ev in sel.select():
            s = key.data
            if s is None:
                try:
                    client, _ = lsock.accept()
                except BlockingIOError:
                    continue
                upstream = socket.create_connection(target)
                a, b = Side(client), Side(upstream)
                a.other, b.other = b, a
                for x in (a, b):
                    x.sock.setblocking(False)
                    update(x)
                continue
            if s.sock.fileno() < 0:
                continue  # closed earlier in this round
            try:
                if ev & selectors.EVENT_READ:
                    try:
                        data = s.sock.recv(BUF)
                    except BlockingIOError:
                        data = None
                    if data:
                        capture.write(data)
                        s.other.out += data
                    elif data is not None:
                        s.eof = True
                if s.out:
                    try:
                        n = s.sock.send(s.out)
                        del s.out[:n]
                    except BlockingIOError:
                        pass
                o = s.other
                if o.out:
                    try:
                        n = o.sock.send(o.out)
                        del o.out[:n]
                    except BlockingIOError:
                        pass
                for x in (s, o):
                    if x.other.eof and not x.out and not x.shut:
                        x.sock.shutdown(socket.SHUT_WR)
                        x.shut = True
            except OSError:
                close_pair(s)
                continue
            if s.shut and o.shut:
                close_pair(s)
                continue
            update(s)
            update(o)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
