#!/usr/bin/env python3
"""A recording TCP forwarder for end-to-end tests.

tap.py TARGET_PORT CAPTURE_FILE: listens on 127.0.0.1 (port chosen by the
system, printed as "tap listening on 127.0.0.1:PORT"), forwards every
connection to 127.0.0.1:TARGET_PORT, and appends every byte it forwards, both
ways, to CAPTURE_FILE, so a test can check what crossed the wire.
"""
import selectors
import socket
import sys


def main():
    target = ("127.0.0.1", int(sys.argv[1]))
    capture = open(sys.argv[2], "ab", buffering=0)
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    print("tap listening on 127.0.0.1:%d" % lsock.getsockname()[1], flush=True)
    sel = selectors.DefaultSelector()
    sel.register(lsock, selectors.EVENT_READ, None)
    peers = {}
    done = set()  # sockets whose peer sent EOF
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            if sock is lsock:
                client, _ = lsock.accept()
                upstream = socket.create_connection(target)
                peers[client], peers[upstream] = upstream, client
                sel.register(client, selectors.EVENT_READ, None)
                sel.register(upstream, selectors.EVENT_READ, None)
                continue
            other = peers.get(sock)
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if data:
                capture.write(data)
                other.sendall(data)
                continue
            # Half-close: pass the EOF on, keep the other direction open
            # until it ends too.
            sel.unregister(sock)
            done.add(sock)
            try:
                other.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            if other in done:
                for s in (sock, other):
                    s.close()
                    del peers[s]
                    done.discard(s)


if __name__ == "__main__":
    main()
