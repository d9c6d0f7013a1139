#!/usr/bin/env bash
# Bytes through a tcp proxy arrive intact: 0 B, 1 B, 64 KiB and 100 MiB, plain
# and with useEncryption, both as an upload echoed back and as a download
# (the local service sends a file and closes); each compared with cmp.
#
#   user.py --> burrowd :P (public) ==work conn==> burrow --> service.py
#           <--                     <==          <==      <--
. "$(dirname "$0")/lib.sh"

sizes=(0 1 65536 104857600)
for n in "${sizes[@]}"; do
  head -c "$n" /dev/urandom >"$E2E_TMP/in.$n"
done

e2e_burrowd burrowd bytes

e2e_service echo echo
for n in "${sizes[@]}"; do
  e2e_service "send$n" send "$E2E_TMP/in.$n"
done

proxy() { # name localPort useEncryption
  e2e_proxy "$1" tcp "$2" 'remotePort = 0' "transport.useEncryption = $3"
}
{
  e2e_client_conf "$(e2e_port burrowd)" bytes
  for enc in false true; do
    proxy "echo-$enc" "$(e2e_listen_port echo)" $enc
    for n in "${sizes[@]}"; do
      proxy "send$n-$enc" "$(e2e_listen_port "send$n")" $enc
    done
  done
} >"$E2E_TMP/burrow.toml"
e2e_start burrow "$BURROW" -c "$E2E_TMP/burrow.toml"
e2e_wait_count burrow 'proxy [a-z0-9-]+: started \(tcp ' 10

conns=0
for enc in false true; do
  for n in "${sizes[@]}"; do
    # Upload: what goes up comes back, then EOF both ways.
    port=$(e2e_proxy_port burrow "echo-$enc")
    python3 "$E2E_TOOLS/user.py" xfer "$port" "$E2E_TMP/in.$n" "$E2E_TMP/echo.out" ||
      e2e_fail "echo of $n B (useEncryption = $enc) did not complete"
    cmp "$E2E_TMP/in.$n" "$E2E_TMP/echo.out" ||
      e2e_fail "echo of $n B (useEncryption = $enc) differs"
    # Download: the service sends the file and closes; the user sends nothing
    # and keeps its side open until the EOF.
    port=$(e2e_proxy_port burrow "send$n-$enc")
    python3 "$E2E_TOOLS/user.py" xfer --keep-open "$port" /dev/null "$E2E_TMP/dl.out" ||
      e2e_fail "download of $n B (useEncryption = $enc) did not complete"
    cmp "$E2E_TMP/in.$n" "$E2E_TMP/dl.out" ||
      e2e_fail "download of $n B (useEncryption = $enc) differs"
    conns=$((conns + 2))
    echo "ok: $n B, useEncryption = $enc"
  done
done
rm -f "$E2E_TMP"/*.out

# Every relayed connection ended cleanly on both sides, with the byte counts.
e2e_wait_count burrowd 'relay: proxy [a-z0-9-]+: 127\.0\.0\.1:[0-9]+ closed: ' $conns
e2e_wait_count burrow 'burrow: proxy [a-z0-9-]+: 127\.0\.0\.1:[0-9]+ closed: ' $conns
bad=$(grep -E 'proxy [a-z0-9-]+: 127\.0\.0\.1:[0-9]+ closed: ' "$E2E_TMP/burrowd.log" "$E2E_TMP/burrow.log" |
  grep -v 'closed: done' || true)
[ -z "$bad" ] || e2e_fail "connections did not end with 'done': $bad"
grep -q "relay: proxy echo-true: .* closed: done (104857600 B in, 104857600 B out" "$E2E_TMP/burrowd.log" ||
  e2e_fail "burrowd did not log the 100 MiB echo's byte counts"
grep -q "relay: proxy send104857600-false: .* closed: done (0 B in, 104857600 B out" "$E2E_TMP/burrowd.log" ||
  e2e_fail "burrowd did not log the 100 MiB download's byte counts"

e2e_stop burrow

# useEncryption seals the bytes between burrow and burrowd: through a tap on
# the client's side, a marker crosses in plaintext without it (the check can
# fail), and never with it.
e2e_start tap python3 "$E2E_TOOLS/wiretap.py" "$(e2e_port burrowd)" "$E2E_TMP/wire.bin"
e2e_wait_log tap 'wiretap listening on'
{
  e2e_client_conf "$(e2e_listen_port tap)" bytes
  proxy tap-plain "$(e2e_listen_port echo)" false
  proxy tap-sealed "$(e2e_listen_port echo)" true
} >"$E2E_TMP/tapped.toml"
e2e_start tapped "$BURROW" -c "$E2E_TMP/tapped.toml"
e2e_wait_count tapped 'proxy tap-[a-z]+: started \(tcp ' 2
for i in $(seq 2048); do echo "plaintext marker line $i of the useEncryption check"; done >"$E2E_TMP/marker"
for p in sealed plain; do
  : >"$E2E_TMP/wire.bin"
  python3 "$E2E_TOOLS/user.py" xfer "$(e2e_proxy_port tapped "tap-$p")" "$E2E_TMP/marker" "$E2E_TMP/marker.out" ||
    e2e_fail "echo through the tap (tap-$p) did not complete"
  cmp "$E2E_TMP/marker" "$E2E_TMP/marker.out" || e2e_fail "echo through the tap (tap-$p) differs"
  e2e_wait_count tapped "proxy tap-$p: .* closed: " 1
  found=$(grep -ac 'plaintext marker line' "$E2E_TMP/wire.bin" || true)
  case $p in
  sealed) [ "$found" -eq 0 ] || e2e_fail "useEncryption = true: $found plaintext lines crossed the wire" ;;
  plain) [ "$found" -gt 0 ] || e2e_fail "useEncryption = false: the tap saw no plaintext (tap broken?)" ;;
  esac
done
e2e_stop tapped
e2e_stop burrowd
echo "relay_tcp_bytes: ok"
