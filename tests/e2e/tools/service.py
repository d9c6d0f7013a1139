#!/usr/bin/env python3
"""A local service for end-to-end tests: the program behind a proxy.

service.py [--port N] MODE [ARG]: listens on 127.0.0.1 (port N, or one
chosen by the system; printed as "service listening on 127.0.0.1:PORT") and
serves every connection in MODE until killed:

  echo            send back every byte; on EOF, finish sending, then shut the
                  write side down (half-close propagated) and close.
  send FILE       send FILE as fast as the peer takes it, then close; what the
                  peer sends is ignored.
  summary         read to EOF, then send "<bytes> <sha256>\\n" followed by
                  everything read, and close.
  halfclose DIR   send "bye\\n", shut the write side down at once, then read to
                  EOF into DIR/conn-N.bin (N counts connections from 1).
  closefirst      send "bye\\n" and close at once, whatever the peer sends.
  udpecho         UDP, not TCP: send every datagram back to where it came
                  from ("service listening on 127.0.0.1:PORT (udp)").

Each connection logs one line when it ends: "conn N closed: in X out Y" (or
"conn N error: ..."), so a test can wait for it.
"""
import hashlib
import os
import selectors
import socket
import sys
import threading

BUF = 256 * 1024
ECHO_PENDING_MAX = 4 * 1024 * 1024  # stop reading a connection past this


def log(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Echo:
    """Every echo connection in one selector loop, so thousands are cheap."""

    def __init__(self, lsock):
        self.sel = selectors.DefaultSelector()
        self.lsock = lsock
        lsock.setblocking(False)
        self.sel.register(lsock, selectors.EVENT_READ, None)
        self.n = 0

    def update(self, c):
        ev = 0
        if not c["eof"] and len(c["out"]) < ECHO_PENDING_MAX:
            ev |= selectors.EVENT_READ
        if c["out"]:
            ev |= selectors.EVENT_WRITE
        if ev == 0:
            self.sel.unregister(c["sock"])
            c["registered"] = False
        elif c["registered"]:
            self.sel.modify(c["sock"], ev, c)
        else:
            self.sel.register(c["sock"], ev, c)
            c["registered"] = True

    def finish(self, c, err=None):
        if c["registered"]:
            self.sel.unregister(c["sock"])
        c["sock"].close()
        if err:
            log("conn %d error: %s (in %d out %d)" % (c["id"], err, c["in"], c["sent"]))
        else:
            log("conn %d closed: in %d out %d" % (c["id"], c["in"], c["sent"]))

    def run(self):
        while True:
            for key, ev in self.sel.select():
                c = key.data
                if c is None:
                    self.accept()
                    continue
                try:
                    if ev & selectors.EVENT_READ:
                        try:
                            data = c["sock"].recv(BUF)
                        except BlockingIOError:
                            data = None
                        if data:
                            c["in"] += len(data)
                            c["out"] += data
                        elif data is not None:
                            c["eof"] = True
                    if c["out"]:
                        try:
                            n = c["sock"].send(c["out"])
                            c["sent"] += n
                            del c["out"][:n]
                        except BlockingIOError:
                            pass
                except OSError as e:
                    self.finish(c, e.strerror or str(e))
                    continue
                if c["eof"] and not c["out"]:
                    try:
                        c["sock"].shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    self.finish(c)
                    continue
                self.update(c)

    def accept(self):
        while True:
            try:
                sock, _ = self.lsock.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            self.n += 1
            c = {"id": self.n, "sock": sock, "out": bytearray(), "in": 0, "sent": 0,
                 "eof": False, "registered": False}
            self.update(c)


def recv_all(sock):
    n, h, chunks = 0, hashlib.sha256(), []
    while True:
        data = sock.recv(BUF)
        if not data:
            return n, h.hexdigest(), b"".join(chunks)
        n += len(data)
        h.update(data)
        chunks.append(data)


def serve_one(mode, arg, sock, n):
    sent = got = 0
    try:
        if mode == "send":
            with open(arg, "rb") as f:
                sent = sock.sendfile(f)
        elif mode == "summary":
            got, digest, data = recv_all(sock)
            reply = ("%d %s\n" % (got, digest)).encode() + data
            sock.sendall(reply)
            sent = len(reply)
        elif mode == "halfclose":
            sock.sendall(b"bye\n")
            sent = 4
            sock.shutdown(socket.SHUT_WR)
            with open(os.path.join(arg, "conn-%d.bin" % n), "wb") as f:
                while True:
                    data = sock.recv(BUF)
                    if not data:
                        break
                    got += len(data)
                    f.write(data)
        elif mode == "closefirst":
            sock.sendall(b"bye\n")
            sent = 4
        sock.close()
        log("conn %d closed: in %d out %d" % (n, got, sent))
    except OSError as e:
        sock.close()
        log("conn %d error: %s (in %d out %d)" % (n, e.strerror or str(e), got, sent))


def udp_echo(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    log("service listening on 127.0.0.1:%d (udp)" % s.getsockname()[1])
    while True:
        data, addr = s.recvfrom(65535)
        s.sendto(data, addr)


def main():
    args = sys.argv[1:]
    port = 0
    if args[:1] == ["--port"]:
        port = int(args[1])
        args = args[2:]
    mode = args[0]
    arg = args[1] if len(args) > 1 else None
    if mode not in ("echo", "send", "summary", "halfclose", "closefirst", "udpecho"):
        sys.exit("service.py: unknown mode %s" % mode)
    if mode == "udpecho":
        udp_echo(port)
        return
    lsock = socket.socket()
    if port:
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(4096)
    log("service listening on 127.0.0.1:%d" % lsock.getsockname()[1])
    if mode == "echo":
        Echo(lsock).run()
        return
    n = 0
    while True:
        sock, _ = lsock.accept()
        n += 1
        threading.Thread(target=serve_one, args=(mode, arg, sock, n), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
