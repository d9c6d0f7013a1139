#!/usr/bin/env bash
# https proxies through burrowd's vhostHTTPSPort, routed by the TLS
# ClientHello's server name without terminating TLS: two openssl s_server
# with different certificates behind a customDomains proxy and a subdomain
# proxy (and one with useEncryption); curl reaches each by name and sees
# that server's certificate and page. A name already taken is refused;
# connections without a server name, with an unknown one, or not TLS at all
# are closed; the routes go with the client.
#
#   curl --resolve NAME --> burrowd :HTTPS (SNI) ==work conn==> burrow --> s_server (alpha|beta)
#                       <--    TLS bytes as they are    <==            <--
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || { echo "curl not installed: skipped"; exit 77; }
command -v openssl >/dev/null || { echo "openssl not installed: skipped"; exit 77; }

# One certificate and one page per server, served by s_server -WWW from its
# own directory.
for name in alpha beta; do
  mkdir -p "$E2E_TMP/$name"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -keyout "$E2E_TMP/$name/key.pem" -out "$E2E_TMP/$name/cert.pem" \
    -subj "/CN=$name.server.test" 2>/dev/null || e2e_fail "openssl cannot make a certificate"
  echo "this is $name" >"$E2E_TMP/$name/who.txt"
  (cd "$E2E_TMP/$name" && exec openssl s_server -accept 127.0.0.1:0 -cert cert.pem -key key.pem \
    -WWW) >"$E2E_TMP/$name.log" 2>&1 &
  E2E_PID[$name]=$!
  e2e_wait_log "$name" '^ACCEPT 127\.0\.0\.1:[0-9]+'
done
sport() { sed -nE 's/^ACCEPT 127\.0\.0\.1:([0-9]+).*/\1/p' "$E2E_TMP/$1.log" | head -n1; }

https_port=$(e2e_free_port)
e2e_burrowd burrowd https "vhostHTTPSPort = $https_port" 'subDomainHost = "burrow.test"'
e2e_wait_log burrowd "https vhost listening on 127\.0\.0\.1:$https_port"

{
  e2e_client_conf "$(e2e_port burrowd)" https
  e2e_proxy tls-a https "$(sport alpha)" 'customDomains = ["alpha.example.com"]'
  e2e_proxy tls-b https "$(sport beta)" 'subdomain = "beta"'
  e2e_proxy tls-sealed https "$(sport beta)" 'customDomains = ["sealed.example.com"]' \
    'transport.useEncryption = true'
  e2e_proxy tls-clash https "$(sport beta)" 'customDomains = ["ALPHA.example.com"]'
} >"$E2E_TMP/burrow.toml"
e2e_start burrow "$BURROW" -c "$E2E_TMP/burrow.toml"
e2e_wait_count burrow 'proxy tls-[a-z]+: started \(https ' 3
e2e_wait_log burrow 'proxy tls-clash: start error: domain alpha.example.com already used by proxy "tls-a"'
grep -q "proxy tls-b: started (https 127.0.0.1:[0-9]* -> beta.burrow.test:$https_port)" "$E2E_TMP/burrow.log" ||
  e2e_fail "the subdomain proxy's remote address is not beta.burrow.test:$https_port"

fetch() { # NAME: GET /who.txt from NAME through the https port (verbose on stderr)
  curl -sS -k -v --max-time 20 --resolve "$1:$https_port:127.0.0.1" "https://$1:$https_port/who.txt" \
    2>"$E2E_TMP/curl.err"
}

# 1. Each name reaches its own server: its certificate, its page.
for case in "alpha.example.com alpha" "beta.burrow.test beta" "sealed.example.com beta"; do
  set -- $case
  out=$(fetch "$1") || e2e_fail "$1: curl failed: $(cat "$E2E_TMP/curl.err")"
  [ "$out" = "this is $2" ] || e2e_fail "$1: got \"$out\", want the page of $2"
  grep -q "subject: CN=$2.server.test" "$E2E_TMP/curl.err" ||
    e2e_fail "$1: not $2's certificate: $(grep -i subject "$E2E_TMP/curl.err")"
  echo "ok: $1 -> $2"
done
# Twice more, so that pooled and freshly asked work connections both serve.
for i in 1 2; do
  [ "$(fetch alpha.example.com)" = "this is alpha" ] || e2e_fail "alpha.example.com, round $i"
done
e2e_wait_count burrowd 'relay: proxy tls-a: 127\.0\.0\.1:[0-9]+ closed: done' 3
e2e_wait_count burrowd 'relay: proxy tls-sealed: 127\.0\.0\.1:[0-9]+ closed: done' 1

# 2. No server name (an IP address in the URL), an unknown name, and bytes
# that are not TLS: closed without an answer, each logged with why.
if curl -sS -k --max-time 20 "https://127.0.0.1:$https_port/" >/dev/null 2>&1; then
  e2e_fail "a ClientHello without server name was answered"
fi
e2e_wait_log burrowd 'relay: https 127\.0\.0\.1:[0-9]+ closed: TLS ClientHello names no server'
if fetch unknown.example.com >/dev/null; then
  e2e_fail "an unknown server name was answered"
fi
e2e_wait_log burrowd 'relay: https 127\.0\.0\.1:[0-9]+ closed: no proxy for server name unknown\.example\.com'
out=$(curl -sS --max-time 20 "http://127.0.0.1:$https_port/" 2>&1) &&
  e2e_fail "plain http on the https port was answered: $out"
e2e_wait_log burrowd 'relay: https 127\.0\.0\.1:[0-9]+ closed: not a TLS handshake'
echo "ok: no server name, unknown name, not TLS: closed"

# 3. The client goes: its names go with it.
e2e_stop burrow
e2e_wait_log burrowd 'client 127\.0\.0\.1:[0-9]+ .*closed'
if fetch alpha.example.com >/dev/null; then
  e2e_fail "alpha.example.com still answered after its client left"
fi
e2e_wait_log burrowd 'closed: no proxy for server name alpha\.example\.com'
echo "ok: names gone with the client"

# 4. burrowd stops with a TLS session relayed and a ClientHello half read:
# everything is freed, the exit is clean.
e2e_start burrow "$BURROW" -c "$E2E_TMP/burrow.toml"
e2e_wait_count burrow 'proxy tls-[a-z]+: started \(https ' 3
e2e_start hold1 python3 "$E2E_TOOLS/user.py" hold "$https_port" --tls alpha.example.com
# The start of a ClientHello.
e2e_start hold2 python3 "$E2E_TOOLS/user.py" hold "$https_port" '\x16\x03\x01\x02\x00\x01'
e2e_wait_log hold1 '^held$'
e2e_wait_log hold2 '^held$'
e2e_stop burrowd
e2e_wait_log burrowd 'relay: proxy tls-a: 127\.0\.0\.1:[0-9]+ closed: server shutting down'
e2e_stop burrow
echo "relay_https: ok"
