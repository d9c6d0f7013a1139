#!/usr/bin/env bash
# http proxies through burrowd's vhostHTTPPort, as frp routes them: by
# customDomains, subdomain + subDomainHost and locations (longest prefix),
# with hostHeaderRewrite, requestHeaders.set, X-Forwarded-For and basic
# auth; keep-alive and pipelined connections routed per request (also after
# burrowd's own 404 and a HEAD); 1 MiB POSTs (Content-Length and chunked)
# compared with cmp, plain and with useEncryption (no plaintext on the wire);
# an Upgrade relayed as a tunnel; burrowd's own 400, 401, 404, 431, 502
# (service down, no work connection: two different pages) and 504 pages; a
# slow reader of 64 MiB with burrowd's memory bounded; routes gone with the
# client. Work connections are kept for the proxy's next request (the
# service sees one connection), except after "Connection: close" and after
# vhostHTTPTimeout idle; a kept connection the service drops under a request
# is retried on a fresh one; START_WORK_CONN carries the user's address and
# the one it connected to.
#
#   curl / raw.py --> burrowd :HTTP (Host, path) ==work conn==> burrow --> backend.py bN
#                 <--                            <==           <==     <--
. "$(dirname "$0")/lib.sh"

# ASan's quarantine would make VmRSS grow with every byte relayed (see
# relay_tcp_slowreader.sh); a small one leaves the growth that matters.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8"

command -v curl >/dev/null || { echo "curl not installed: skipped"; exit 77; }

# backend.py NAME: an HTTP/1.1 service that describes each request it gets
# (method, path, headers, and peer=PORT: the port of the connection it came
# on), echoes POST bodies, answers /slow?s=N late, sends N bytes for
# /big?n=N, and echoes upper-cased bytes after an Upgrade. /close answers
# with "Connection: close" and closes; after /arm-drop, the next request on
# that connection is read and the connection closed without an answer.
cat >"$E2E_TMP/backend.py" <<'PY'
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

name = sys.argv[1]

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stdout.write("%s: %s\n" % (name, fmt % args))
        sys.stdout.flush()

    def reply(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        if getattr(self, "drop_next", False):
            self.close_connection = True
            return
        if self.path == "/arm-drop":
            self.drop_next = True
        if self.path == "/close":
            body = b"closing\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return
        if self.path.startswith("/big?n="):
            n = int(self.path.split("=")[1])
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            chunk = bytes(range(256)) * 256
            while n > 0:
                self.wfile.write(chunk[:n])
                n -= min(n, len(chunk))
            return
        if self.path.startswith("/slow?s="):
            time.sleep(float(self.path.split("=")[1]))
        if self.headers.get("Upgrade"):
            self.send_response(101)
            self.send_header("Upgrade", self.headers["Upgrade"])
            self.send_header("Connection", "Upgrade")
            self.end_headers()
            while True:
                data = self.rfile.read1(65536)
                if not data:
                    break
                self.wfile.write(data.upper())
            self.close_connection = True
            return
        lines = ["backend=%s" % name, "method=%s" % self.command, "path=%s" % self.path,
                 "peer=%d" % self.client_address[1]]
        lines += ["header %s: %s" % (k.lower(), v) for k, v in self.headers.items()]
        self.reply(("\n".join(lines) + "\n").encode())

    do_HEAD = do_GET

    def do_POST(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.reply(body)

srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
print("backend %s listening on 127.0.0.1:%d" % (name, srv.server_address[1]), flush=True)
srv.serve_forever()
PY

# raw.py pipeline|upgrade PORT: what curl does not do on one connection.
# raw.py send PORT TEXT: send TEXT (Python escapes such as \r\n allowed),
# print what comes back until EOF.
# raw.py slow PORT N SECS PID: GET /big?n=N from one.example.com, read at
# 1 MiB/s for SECS s while sampling PID's VmRSS, then at full speed; checks
# the bytes and prints "rss growth KIB".
cat >"$E2E_TMP/raw.py" <<'PY'
import socket, sys

def read_all(s):
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            return out
        out += d

mode, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port), timeout=20)
if mode == "send":
    s.sendall(sys.argv[3].encode().decode("unicode_escape").encode("latin-1"))
    sys.stdout.write(read_all(s).decode("latin-1"))
elif mode == "discard":
    # A 200 kB POST to an unknown host, then a GET in the same write: the
    # 404's body is dropped and the GET is routed.
    body = b"x" * 200000
    s.sendall(b"POST /drop HTTP/1.1\r\nHost: nobody.example.org\r\nContent-Length: %d\r\n\r\n"
              % len(body) + body +
              b"GET /after-drop HTTP/1.1\r\nHost: one.example.com\r\nConnection: close\r\n\r\n")
    sys.stdout.write(read_all(s).decode())
elif mode == "pipeline":
    # Two requests in one write, for two proxies; the second closes.
    s.sendall(b"GET /first HTTP/1.1\r\nHost: one.example.com\r\n\r\n"
              b"GET /api/second HTTP/1.1\r\nHost: three.example.com\r\nConnection: close\r\n\r\n")
    sys.stdout.write(read_all(s).decode())
elif mode == "upgrade":
    s.sendall(b"GET /chat HTTP/1.1\r\nHost: one.example.com\r\nUpgrade: shout\r\n"
              b"Connection: Upgrade\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        d = s.recv(1)
        if not d:
            sys.exit("no 101: " + head.decode())
        head += d
    if not head.startswith(b"HTTP/1.1 101"):
        sys.exit("no 101: " + head.decode())
    # The first word is answered before the next is sent: both ways live.
    s.sendall(b"hello ")
    got = b""
    while len(got) < 6:
        d = s.recv(65536)
        if not d:
            sys.exit("tunnel closed early: " + got.decode())
        got += d
    s.sendall(b"through the tunnel")
    s.shutdown(socket.SHUT_WR)
    sys.stdout.write((got + read_all(s)).decode() + "\n")
elif mode == "slow":
    import time
    n, secs, pid = int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
    def rss():
        for line in open("/proc/%s/status" % pid):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    s.close()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.settimeout(20)
    base = rss()
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /big?n=%d HTTP/1.1\r\nHost: one.example.com\r\nConnection: close\r\n\r\n" % n)
    data, peak, t0 = bytearray(), base, time.time()
    while time.time() - t0 < secs:
        d = s.recv(16384)
        if not d:
            break
        data += d
        peak = max(peak, rss())
        time.sleep(16384 / 1048576)
    slow = len(data)
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        data += d
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    chunk = bytes(range(256)) * 256
    want = (chunk * (n // len(chunk) + 1))[:n]
    if body != want:
        sys.exit("slow reader: %d body bytes, want %d (or they differ)" % (len(body), n))
    print("slow phase %d bytes; rss growth %d" % (slow, peak - base))
PY

http_port=$(e2e_free_port)
e2e_burrowd burrowd http "vhostHTTPPort = $http_port" 'vhostHTTPTimeout = 3' \
  'subDomainHost = "burrow.test"' 'log.level = "debug"'
e2e_wait_log burrowd "http vhost listening on 127\.0\.0\.1:$http_port"

for b in b1 b2 b3 b4 b5 b6; do
  e2e_start "$b" python3 "$E2E_TMP/backend.py" "$b"
  e2e_wait_log "$b" 'listening on'
done
bport() { e2e_listen_port "$1"; }

{
  e2e_client_conf "$(e2e_port burrowd)" http 'transport.poolCount = 2' 'log.level = "debug"'
  e2e_proxy web1 http "$(bport b1)" 'customDomains = ["one.example.com"]' \
    'hostHeaderRewrite = "rewritten.internal"' 'requestHeaders.set.x-from-burrow = "web1"'
  e2e_proxy web2 http "$(bport b2)" 'customDomains = ["two.example.com"]' \
    'httpUser = "alice"' 'httpPassword = "s3cret"'
  e2e_proxy api http "$(bport b3)" 'customDomains = ["three.example.com"]' 'locations = ["/api"]'
  e2e_proxy site http "$(bport b4)" 'customDomains = ["three.example.com"]' 'locations = ["/"]'
  e2e_proxy blog http "$(bport b5)" 'subdomain = "blog"'
  e2e_proxy sealed http "$(bport b6)" 'customDomains = ["sealed.example.com"]' \
    'transport.useEncryption = true'
  e2e_proxy clash http "$(bport b6)" 'customDomains = ["three.example.com"]' 'locations = ["/api"]'
} >"$E2E_TMP/burrow.toml"
e2e_start burrow "$BURROW" -c "$E2E_TMP/burrow.toml"
e2e_wait_count burrow 'proxy [a-z0-9]+: started \(http ' 6
e2e_wait_log burrow 'proxy clash: start error: domain three.example.com location /api already used by proxy "api"'
grep -q "proxy blog: started (http 127.0.0.1:[0-9]* -> blog.burrow.test:$http_port)" "$E2E_TMP/burrow.log" ||
  e2e_fail "the subdomain proxy's remote address is not blog.burrow.test:$http_port"

url="http://127.0.0.1:$http_port"
get() { # HOST PATH [curl options...]: the body, with the status on a last line
  local host=$1 path=$2; shift 2
  curl -sS --max-time 20 -H "Host: $host" -w '\nstatus=%{http_code}\n' "$@" "$url$path"
}
expect() { # TEXT REGEX WHAT
  grep -Eq -- "$2" <<<"$1" || e2e_fail "$3: no /$2/ in: $1"
}

# 1. Routing by customDomains, with the head rewritten for the service.
out=$(get one.example.com '/hello?x=1')
expect "$out" '^backend=b1$' "one.example.com"
expect "$out" '^path=/hello\?x=1$' "path and query"
expect "$out" '^header host: rewritten\.internal$' "hostHeaderRewrite"
expect "$out" '^header x-from-burrow: web1$' "requestHeaders.set"
expect "$out" '^header x-forwarded-for: 127\.0\.0\.1$' "X-Forwarded-For"
expect "$out" '^header x-forwarded-host: one\.example\.com$' "X-Forwarded-Host"
expect "$out" '^status=200$' "one.example.com status"
# The name as curl --resolve sends it (with the port) routes the same.
out=$(curl -sS --max-time 20 --resolve "one.example.com:$http_port:127.0.0.1" \
  "http://one.example.com:$http_port/resolved")
expect "$out" '^backend=b1$' "--resolve one.example.com"
echo "ok: customDomains, hostHeaderRewrite, requestHeaders.set, X-Forwarded-For"

# 2. Locations: the longest prefix wins; subdomain under subDomainHost.
expect "$(get three.example.com /api/users)" '^backend=b3$' "three.example.com/api/users"
expect "$(get three.example.com /index.html)" '^backend=b4$' "three.example.com/index.html"
expect "$(get three.example.com /)" '^backend=b4$' "three.example.com/"
out=$(get blog.burrow.test /post/1)
expect "$out" '^backend=b5$' "blog.burrow.test"
expect "$out" '^header host: blog\.burrow\.test$' "Host kept without hostHeaderRewrite"
echo "ok: locations, subdomain"

# 3. Keep-alive: one connection, two requests, two proxies.
curl -sv --max-time 20 -H "Host: one.example.com" "$url/first" \
  --next -H "Host: three.example.com" "$url/api/second" >"$E2E_TMP/ka.out" 2>"$E2E_TMP/ka.err" ||
  e2e_fail "keep-alive curl failed: $(cat "$E2E_TMP/ka.err")"
grep -q 'Re-using existing connection' "$E2E_TMP/ka.err" ||
  e2e_fail "curl did not reuse the connection: $(cat "$E2E_TMP/ka.err")"
[ "$(grep -c '^backend=' "$E2E_TMP/ka.out")" -eq 2 ] &&
  grep -q '^backend=b1$' "$E2E_TMP/ka.out" && grep -q '^backend=b3$' "$E2E_TMP/ka.out" ||
  e2e_fail "keep-alive: not one answer from b1 and one from b3: $(cat "$E2E_TMP/ka.out")"
# Pipelined: both requests in one write, answered in order.
python3 "$E2E_TMP/raw.py" pipeline "$http_port" >"$E2E_TMP/pipe.out" || e2e_fail "pipelined requests failed"
[ "$(grep -E '^backend=' "$E2E_TMP/pipe.out" | tr '\n' ' ')" = "backend=b1 backend=b3 " ] ||
  e2e_fail "pipelined: want b1 then b3, got: $(cat "$E2E_TMP/pipe.out")"
echo "ok: keep-alive and pipelined requests routed one by one"
# After burrowd's own 404 (its POST body dropped) and a HEAD, the same
# connection still carries the next request. (The body is small: curl gives
# up a connection whose answer comes before it sent everything.)
head -c 2000 /dev/urandom >"$E2E_TMP/small"
curl -sv --max-time 20 -H "Host: nobody.example.org" --data-binary @"$E2E_TMP/small" "$url/drop" \
  --next -I -H "Host: one.example.com" "$url/head" \
  --next -H "Host: one.example.com" "$url/after" >"$E2E_TMP/ka.out" 2>"$E2E_TMP/ka.err" ||
  e2e_fail "404, HEAD, GET on one connection: curl failed: $(cat "$E2E_TMP/ka.err")"
[ "$(grep -c 'Re-using existing connection' "$E2E_TMP/ka.err")" -eq 2 ] ||
  e2e_fail "404, HEAD, GET did not share one connection: $(cat "$E2E_TMP/ka.err")"
grep -q '404 Not Found' "$E2E_TMP/ka.out" && grep -q '^HTTP/1.1 200' "$E2E_TMP/ka.out" &&
  grep -q '^path=/after$' "$E2E_TMP/ka.out" ||
  e2e_fail "404, HEAD, GET: unexpected answers: $(cat "$E2E_TMP/ka.out")"
out=$(python3 "$E2E_TMP/raw.py" discard "$http_port") || e2e_fail "404 with a 200 kB body, then GET: failed"
expect "$out" '404 Not Found' "404 with a 200 kB body"
expect "$out" '^path=/after-drop$' "the GET after a dropped 200 kB body"
echo "ok: the connection goes on after a 404 with a body and a HEAD"

# 3b. Work connections are kept for the proxy's next request: two requests
# on one user connection, then one on another user connection, reach the
# service on one connection (the same peer port), and burrowd says so.
peer() { sed -nE 's/^peer=([0-9]+)$/\1/p' <<<"$1" | head -n1; }
out=$(curl -sS --max-time 20 -H "Host: one.example.com" "$url/k1" \
  --next -H "Host: one.example.com" "$url/k2") || e2e_fail "two kept-alive requests failed"
k1=$(grep -E '^peer=' <<<"$out" | sed -n '1s/peer=//p')
k2=$(grep -E '^peer=' <<<"$out" | sed -n '2s/peer=//p')
[ -n "$k1" ] && [ "$k1" = "$k2" ] ||
  e2e_fail "two requests on one user connection took two work connections: $out"
k3=$(peer "$(get one.example.com /k3)")
[ "$k3" = "$k1" ] || e2e_fail "a second user connection did not reuse the kept work connection ($k3, $k1)"
grep -Eq 'relay: http proxy web1: 127\.0\.0\.1:[0-9]+: request [0-9]+ on a kept work connection' \
  "$E2E_TMP/burrowd.log" || e2e_fail "burrowd did not log the reuse of a work connection"
# burrow was told where the users came from and where they connected to.
grep -Eq "burrow: proxy web1: work connection [0-9]+ starts for 127\.0\.0\.1:[0-9]+ \(to 127\.0\.0\.1:$http_port\)" \
  "$E2E_TMP/burrow.log" || e2e_fail "START_WORK_CONN did not carry the user's and the vhost's addresses"
# A response with "Connection: close" ends its work connection: the next
# request goes on another one.
out=$(get one.example.com /close -i)
expect "$out" '^Connection: close' "the service's Connection: close reaches the user"
k4=$(peer "$(get one.example.com /after-close)")
[ -n "$k4" ] && [ "$k4" != "$k1" ] || e2e_fail "a work connection was kept after Connection: close ($k4)"
# The service drops a kept connection just as a request comes: the request
# (a GET, no body) goes again on a fresh connection and is answered.
k5=$(peer "$(get one.example.com /arm-drop)")
[ "$k5" = "$k4" ] || e2e_fail "the work connection was not kept after /after-close ($k5, $k4)"
out=$(get one.example.com /dropped)
expect "$out" '^path=/dropped$' "a request the service dropped on a kept connection"
expect "$out" '^status=200$' "a request the service dropped on a kept connection: status"
[ "$(peer "$out")" != "$k5" ] || e2e_fail "the retried request went on the dropped connection"
grep -Eq 'relay: http proxy web1: 127\.0\.0\.1:[0-9]+: kept work connection failed .*: sending the request again on a fresh one' \
  "$E2E_TMP/burrowd.log" || e2e_fail "burrowd did not log the retry"
# A kept connection idle for vhostHTTPTimeout (3 s) is closed, and burrow's
# side of it ends cleanly.
k6=$(peer "$(get one.example.com /before-idle)")
idle_before=$(grep -c 'relay: http proxy web1: kept work connection closed after [0-9]* requests: idle for vhostHTTPTimeout' \
  "$E2E_TMP/burrowd.log" || true)
e2e_wait_count burrowd 'relay: http proxy web1: kept work connection closed after [0-9]+ requests: idle for vhostHTTPTimeout' \
  $((idle_before + 1))
k7=$(peer "$(get one.example.com /after-idle)")
[ -n "$k7" ] && [ "$k7" != "$k6" ] || e2e_fail "an idle work connection was used after vhostHTTPTimeout ($k7)"
echo "ok: work connections kept per proxy, not after Connection: close or idle, retried when dropped"

# 4. Basic auth: 401 with WWW-Authenticate, then 200 with the credentials.
out=$(get two.example.com /private -i)
expect "$out" '^HTTP/1.1 401' "no credentials"
expect "$out" '^WWW-Authenticate: Basic' "WWW-Authenticate"
expect "$(get two.example.com /private -u alice:wrong)" '^status=401$' "wrong password"
out=$(get two.example.com /private -u alice:s3cret)
expect "$out" '^backend=b2$' "right password"
expect "$out" '^status=200$' "right password status"
# Refused with Expect: 100-continue, the body may or may not follow: closed.
out=$(python3 "$E2E_TMP/raw.py" send "$http_port" 'POST /x HTTP/1.1\r\nHost: two.example.com\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n')
expect "$out" '^HTTP/1.1 401 ' "401 to a request with Expect"
expect "$out" '^Connection: close' "401 to a request with Expect closes"
echo "ok: httpUser/httpPassword"

# 5. Unknown host: 404 naming it.
out=$(get nobody.example.org /x)
expect "$out" '^status=404$' "unknown host"
expect "$out" 'nobody\.example\.org' "404 page names the host"
echo "ok: 404 for an unknown host"

# Bad requests get burrowd's 400 and 431 and a close; HTTP/1.0 works.
out=$(python3 "$E2E_TMP/raw.py" send "$http_port" 'GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n')
expect "$out" '^HTTP/1.1 400 Bad Request' "a malformed head"
big=$(head -c 20000 /dev/zero | tr '\0' 'a')
out=$(python3 "$E2E_TMP/raw.py" send "$http_port" "GET / HTTP/1.1\\r\\nHost: one.example.com\\r\\nX-Big: $big\\r\\n\\r\\n")
expect "$out" '^HTTP/1.1 431 ' "a head over 16 KiB"
out=$(python3 "$E2E_TMP/raw.py" send "$http_port" 'GET /old HTTP/1.0\r\nHost: one.example.com\r\n\r\n')
expect "$out" '^backend=b1$' "HTTP/1.0"
expect "$out" '^path=/old$' "HTTP/1.0 path"
echo "ok: 400, 431, HTTP/1.0"

# 6. 1 MiB POST bodies, Content-Length and chunked, plain and sealed.
head -c 1048576 /dev/urandom >"$E2E_TMP/body"
for host in one.example.com sealed.example.com; do
  for te in length chunked; do
    opts=()
    [ "$te" = chunked ] && opts=(-H "Transfer-Encoding: chunked")
    curl -sS --max-time 30 -H "Host: $host" "${opts[@]}" --data-binary @"$E2E_TMP/body" \
      -o "$E2E_TMP/post.out" "$url/echo" || e2e_fail "POST 1 MiB ($host, $te) failed"
    cmp "$E2E_TMP/body" "$E2E_TMP/post.out" || e2e_fail "POST 1 MiB ($host, $te): body differs"
  done
done
expect "$(get sealed.example.com /sealed)" '^backend=b6$' "useEncryption GET"
echo "ok: 1 MiB POST bodies (Content-Length, chunked; plain, useEncryption)"

# useEncryption seals requests and responses between burrow and burrowd:
# through a tap on a second client's side, a marker path crosses in
# plaintext without it (the check can fail), never with it.
e2e_start tap python3 "$E2E_TOOLS/wiretap.py" "$(e2e_port burrowd)" "$E2E_TMP/wire.bin"
e2e_wait_log tap 'wiretap listening on'
{
  e2e_client_conf "$(e2e_listen_port tap)" http
  e2e_proxy tap-plain http "$(bport b6)" 'customDomains = ["plain.tap.test"]'
  e2e_proxy tap-sealed http "$(bport b6)" 'customDomains = ["sealed.tap.test"]' \
    'transport.useEncryption = true'
} >"$E2E_TMP/tapped.toml"
e2e_start tapped "$BURROW" -c "$E2E_TMP/tapped.toml"
e2e_wait_count tapped 'proxy tap-[a-z]+: started \(http ' 2
for p in sealed plain; do
  : >"$E2E_TMP/wire.bin"
  expect "$(get "$p.tap.test" "/marker-$p-f00d")" '^backend=b6$' "through the tap ($p)"
  e2e_wait_count tapped "proxy tap-$p: .* closed: done" 1
  found=$(grep -ac "marker-$p-f00d" "$E2E_TMP/wire.bin" || true)
  case $p in
  sealed) [ "$found" -eq 0 ] || e2e_fail "useEncryption = true: the request crossed the wire in plaintext" ;;
  plain) [ "$found" -gt 0 ] || e2e_fail "useEncryption = false: the tap saw no plaintext (tap broken?)" ;;
  esac
done
e2e_stop tapped
e2e_kill tap
# Every sealed work connection ended with its end record, not a truncation.
bad=$(grep -E 'burrow: proxy sealed: .* closed: ' "$E2E_TMP/burrow.log" | grep -v 'closed: done' || true)
[ -z "$bad" ] || e2e_fail "sealed work connections did not end cleanly: $bad"
echo "ok: useEncryption hides requests on the wire"

# 7. Upgrade: after the 101, bytes both ways as a tunnel.
out=$(python3 "$E2E_TMP/raw.py" upgrade "$http_port") || e2e_fail "upgrade failed: $out"
[ "$out" = "HELLO THROUGH THE TUNNEL" ] || e2e_fail "upgrade: tunnel gave \"$out\""
echo "ok: Upgrade relayed as a tunnel"

# 8. A service slower than vhostHTTPTimeout (3 s): 504.
out=$(get one.example.com '/slow?s=6')
expect "$out" '^status=504$' "slow service"
echo "ok: 504 after vhostHTTPTimeout"

# 9. The service behind a proxy is down: 502.
e2e_kill b4
out=$(get three.example.com /gone)
expect "$out" '^status=502$' "service down"
expect "$out" 'its client is connected, but the service behind it refused' "the 502 page for a service down"
expect "$(get three.example.com /api/still-up)" '^backend=b3$' "the other location still works"
echo "ok: 502 when the service is down"

# 10. A client that sends no work connection (stopped, no pool): 502 after
# userConnTimeout (10 s).
{
  e2e_client_conf "$(e2e_port burrowd)" http 'transport.poolCount = 0'
  e2e_proxy frozen http "$(bport b1)" 'customDomains = ["frozen.example.com"]'
} >"$E2E_TMP/frozen.toml"
e2e_start frozen "$BURROW" -c "$E2E_TMP/frozen.toml"
e2e_wait_log frozen 'proxy frozen: started \(http '
kill -STOP "${E2E_PID[frozen]}"
t0=$(date +%s)
out=$(get frozen.example.com /cold)
kill -CONT "${E2E_PID[frozen]}"
expect "$out" '^status=502$' "a client that sends no work connection"
expect "$out" 'its client is not connected or did not answer' "the 502 page for a silent client"
[ $(($(date +%s) - t0)) -ge 9 ] || e2e_fail "the 502 came before userConnTimeout"
e2e_stop frozen
echo "ok: 502 when no work connection comes"

# 11. A slow reader of a 64 MiB response: backpressure holds the bytes at
# the service, burrowd's VmRSS grows by less than 20 MiB.
out=$(python3 "$E2E_TMP/raw.py" slow "$http_port" $((64 << 20)) 3 "${E2E_PID[burrowd]}") ||
  e2e_fail "slow reader failed: $out"
echo "$out"
growth=$(sed -nE 's/.*rss growth (-?[0-9]+)$/\1/p' <<<"$out")
slow=$(sed -nE 's/^slow phase ([0-9]+) bytes.*/\1/p' <<<"$out")
[ "$slow" -le $((6 << 20)) ] || e2e_fail "the reader was not slow ($slow B in 3 s)"
[ "$growth" -lt $((20 << 10)) ] || e2e_fail "burrowd grew by $growth KiB behind a slow reader"
echo "ok: a slow reader keeps burrowd's memory bounded"

# One line per request in burrowd's log: proxy, user, method, host and path,
# status, bytes each way, duration.
grep -Eq 'relay: http proxy web1: 127\.0\.0\.1:[0-9]+ "GET one\.example\.com/hello" 200 \([0-9]+ B in, [0-9]+ B out, [0-9.]+ s\)' \
  "$E2E_TMP/burrowd.log" || e2e_fail "no request line for GET one.example.com/hello"
grep -Eq 'relay: http proxy sealed: 127\.0\.0\.1:[0-9]+ "POST sealed\.example\.com/echo" 200 \(10[0-9]{5} B in, 10[0-9]{5} B out' \
  "$E2E_TMP/burrowd.log" || e2e_fail "no request line for the sealed POST"
grep -Eq 'relay: http proxy site: 127\.0\.0\.1:[0-9]+ "GET three\.example\.com/gone" 502' \
  "$E2E_TMP/burrowd.log" || e2e_fail "no request line for the 502"

# 12. The client goes: its routes go with it (404, as frp).
e2e_stop burrow
e2e_wait_log burrowd 'client 127\.0\.0\.1:[0-9]+ .*closed'
expect "$(get one.example.com /after)" '^status=404$' "after the client left"
echo "ok: routes gone with the client"

# 13. burrowd stops with requests in progress (a partial head, one waiting
# for its slow answer, one waiting for a work connection of a stopped
# client, a tunnel): everything is freed, the exit is clean.
sed -e 's/frozen/late/g' -e 's/poolCount = 0/poolCount = 1/' "$E2E_TMP/frozen.toml" >"$E2E_TMP/late.toml"
e2e_start late "$BURROW" -c "$E2E_TMP/late.toml"
e2e_wait_log late 'proxy late: started \(http '
e2e_start frozen "$BURROW" -c "$E2E_TMP/frozen.toml"
e2e_wait_log frozen 'proxy frozen: started \(http '
kill -STOP "${E2E_PID[frozen]}"
e2e_start hold1 python3 "$E2E_TOOLS/user.py" hold "$http_port" 'GET /partial HTTP/1.1\r\nHost: late.exa'
e2e_start hold2 python3 "$E2E_TOOLS/user.py" hold "$http_port" 'GET /slow?s=20 HTTP/1.1\r\nHost: late.example.com\r\n\r\n'
e2e_start hold3 python3 "$E2E_TOOLS/user.py" hold "$http_port" 'GET / HTTP/1.1\r\nHost: frozen.example.com\r\n\r\n'
e2e_start hold4 python3 "$E2E_TOOLS/user.py" hold "$http_port" 'GET /chat HTTP/1.1\r\nHost: late.example.com\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n'
for h in hold1 hold2 hold3 hold4; do e2e_wait_log "$h" '^held$'; done
e2e_wait_log burrowd 'relay: http proxy late: 127\.0\.0\.1:[0-9]+ "GET late\.example\.com/chat" 101'
e2e_stop burrowd
kill -CONT "${E2E_PID[frozen]}"
e2e_stop frozen
e2e_stop late
echo "relay_http: ok"
