#!/usr/bin/env bash
# What burrowd logs for the http vhost port at the default level (info), as
# frps does: nothing per request that was relayed, one line per user
# connection when it closes (its requests, bytes, duration and reason), and
# one rate-limited line per request that burrowd answered itself or that
# failed. At debug level the per-request lines come back. Three requests on
# one kept-alive connection still reach the service one by one, on one work
# connection; a connection left idle ends after vhostHTTPTimeout.
#
#   curl (3 requests, 1 connection) --> burrowd :HTTP ==work conn==> burrow --> backend.py
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || { echo "curl not installed: skipped"; exit 77; }

# backend.py: HTTP/1.1, answers "path=P peer=PORT" (PORT: the connection it
# came on), logs one line per request.
cat >"$E2E_TMP/backend.py" <<'PY'
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stdout.write("backend: %s\n" % (fmt % args))
        sys.stdout.flush()

    def do_GET(self):
        body = ("path=%s peer=%d\n" % (self.path, self.client_address[1])).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

s = ThreadingHTTPServer(("127.0.0.1", 0), H)
print("backend listening on 127.0.0.1:%d" % s.server_address[1], flush=True)
s.serve_forever()
PY
e2e_start backend python3 "$E2E_TMP/backend.py"
e2e_wait_log backend 'backend listening on'

run() { # run LEVEL: burrowd at LOG LEVEL and a client, as burrowd_LEVEL, burrow_LEVEL
  local level=$1
  http_port=$(e2e_free_port)
  e2e_burrowd "burrowd_$level" httplog "vhostHTTPPort = $http_port" "log.level = \"$level\"" \
    "vhostHTTPTimeout = 2"
  {
    printf 'serverAddr = "127.0.0.1"\nserverPort = %s\nauth.token = "httplog"\n' \
      "$(e2e_port "burrowd_$level")"
    e2e_proxy web http "$(e2e_listen_port backend)" 'customDomains = ["web.example.com"]'
  } >"$E2E_TMP/burrow_$level.toml"
  e2e_start "burrow_$level" "$BURROW" -c "$E2E_TMP/burrow_$level.toml"
  e2e_wait_log "burrow_$level" 'proxy web: started \(http '
  url="http://127.0.0.1:$http_port"
  out=$(curl -sS --max-time 20 -H 'Host: web.example.com' "$url/one" \
    --next -H 'Host: web.example.com' "$url/two" \
    --next -H 'Host: web.example.com' "$url/three") || e2e_fail "$level: three requests failed"
  [ "$(grep -c '^path=' <<<"$out")" -eq 3 ] || e2e_fail "$level: not three answers: $out"
  # One user connection, one work connection: the service saw one peer.
  [ "$(grep -Eo 'peer=[0-9]+' <<<"$out" | sort -u | wc -l)" -eq 1 ] ||
    e2e_fail "$level: the three requests took several work connections: $out"
  curl -sS --max-time 20 -H 'Host: nobody.example.com' "$url/x" >/dev/null ||
    e2e_fail "$level: the 404 request failed"
}

# --- info: one line per connection, none per relayed request -----------------
run info
e2e_wait_log burrowd_info \
  'relay: http 127\.0\.0\.1:[0-9]+ closed: the user closed \(3 requests, last proxy web, [0-9]+ B in, [0-9]+ B out, [0-9.]+ s\)'
e2e_wait_log burrowd_info 'relay: http 127\.0\.0\.1:[0-9]+ "GET nobody\.example\.com/x" 404: no proxy for this host'
e2e_wait_log burrowd_info \
  'relay: http 127\.0\.0\.1:[0-9]+ closed: the user closed \(1 request, last proxy -, 0 B in, 0 B out'
n=$(e2e_count burrowd_info '"GET web\.example\.com/')
[ "$n" -eq 0 ] || e2e_fail "burrowd logged $n relayed requests at info level"
[ "$(e2e_count burrowd_info 'relay: http 127\.0\.0\.1:[0-9]+ closed: ')" -eq 2 ] ||
  e2e_fail "not one close line per user connection: $(grep 'closed: ' "$E2E_TMP/burrowd_info.log")"
# The bytes of the connection line are those of the three requests' lines
# at debug level below: here, that they are not zero.
grep -Eq '\(3 requests, last proxy web, [1-9][0-9]* B in, [1-9][0-9]* B out' "$E2E_TMP/burrowd_info.log" ||
  e2e_fail "the connection line has no bytes"
# A kept-alive connection left idle ends after vhostHTTPTimeout, and says so.
python3 - "$http_port" <<'EOF' || e2e_fail "the idle connection was not answered or not closed"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"GET /idle HTTP/1.1\r\nHost: web.example.com\r\n\r\n")
got = b""
while b"path=/idle" not in got or not got.endswith(b"\n"):
    got += s.recv(4096)
t0 = time.time()
while s.recv(4096):
    pass
assert time.time() - t0 >= 1.5, "closed too early"
EOF
e2e_wait_log burrowd_info \
  'relay: http 127\.0\.0\.1:[0-9]+ closed: idle for vhostHTTPTimeout \(1 request, last proxy web'
e2e_stop burrow_info
e2e_stop burrowd_info
echo "ok: info level: one line per user connection, none per relayed request"

# --- debug: a line per request too ------------------------------------------------
run debug
for p in one two three; do
  e2e_wait_log burrowd_debug \
    "relay: http proxy web: 127\\.0\\.0\\.1:[0-9]+ \"GET web\\.example\\.com/$p\" 200 \\([0-9]+ B in, [0-9]+ B out, [0-9.]+ s\\)"
done
e2e_wait_log burrowd_debug 'relay: http 127\.0\.0\.1:[0-9]+ closed: the user closed \(3 requests, last proxy web'
# The connection's bytes are the sum of its requests'.
python3 - "$E2E_TMP/burrowd_debug.log" <<'EOF' || e2e_fail "the connection's bytes are not the sum of its requests'"
import re, sys
log = open(sys.argv[1]).read()
reqs = re.findall(r'relay: http proxy web: (\S+) "GET web\.example\.com/\w+" 200 \((\d+) B in, (\d+) B out', log)
conn = re.search(r'relay: http (\S+) closed: the user closed \(3 requests, last proxy web, (\d+) B in, (\d+) B out', log)
mine = [r for r in reqs if r[0] == conn.group(1)]
assert len(mine) == 3, mine
assert sum(int(r[1]) for r in mine) == int(conn.group(2)), (mine, conn.groups())
assert sum(int(r[2]) for r in mine) == int(conn.group(3)), (mine, conn.groups())
EOF
e2e_stop burrow_debug
e2e_stop burrowd_debug
echo "ok: debug level: a line per request, adding up to the connection's"
echo "relay_http_log: ok"
