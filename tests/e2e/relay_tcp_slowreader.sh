#!/usr/bin/env bash
# A slow reader does not grow memory: the local service sends 200 MiB as fast
# as it can while the user reads 1 MiB/s for 4 s; backpressure must hold the
# bytes back at the service, so burrowd's and burrow's VmRSS grow by less
# than 20 MiB meanwhile. Then the user reads at full speed and every byte
# arrives intact. Plain and with useEncryption.
#
#   user.py slow (1 MiB/s) <-- burrowd :P <== burrow <-- service.py send (200 MiB)
. "$(dirname "$0")/lib.sh"

# ASan keeps freed memory in a quarantine (256 MiB by default), so under the
# sanitizers VmRSS grows with every byte relayed, buffered or not. A small
# quarantine keeps use-after-free detection for recent frees and leaves the
# growth that matters here: bytes held in buffers.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8"

size=$((200 << 20))
head -c $size /dev/urandom >"$E2E_TMP/in"

e2e_burrowd burrowd slowreader
e2e_service send send "$E2E_TMP/in"
{
  e2e_client_conf "$(e2e_port burrowd)" slowreader
  for enc in false true; do
    e2e_proxy "send-$enc" tcp "$(e2e_listen_port send)" 'remotePort = 0' \
      "transport.useEncryption = $enc"
  done
} >"$E2E_TMP/burrow.toml"
e2e_start burrow "$BURROW" -c "$E2E_TMP/burrow.toml"
e2e_wait_count burrow 'proxy send-(true|false): started \(tcp ' 2

limit_kib=$((20 << 10))
for enc in false true; do
  python3 "$E2E_TOOLS/user.py" slow "$(e2e_proxy_port burrow "send-$enc")" "$E2E_TMP/out" \
    --rate 1048576 --secs 4 --watch "burrowd=${E2E_PID[burrowd]}" --watch "burrow=${E2E_PID[burrow]}" \
    >"$E2E_TMP/slow.txt" || e2e_fail "slow reader (useEncryption = $enc) failed"
  sed "s/^/useEncryption = $enc: /" "$E2E_TMP/slow.txt"
  cmp "$E2E_TMP/in" "$E2E_TMP/out" || e2e_fail "slow reader (useEncryption = $enc): bytes differ"
  # It was slow: about 4 MiB in the slow phase, not the whole stream.
  slow_bytes=$(sed -nE 's/^slow: ([0-9]+) bytes in the slow phase.*/\1/p' "$E2E_TMP/slow.txt")
  [ "$slow_bytes" -le $((6 << 20)) ] || e2e_fail "the reader was not slow ($slow_bytes B in 4 s)"
  for p in burrowd burrow; do
    growth=$(sed -nE "s/^rss $p base [0-9]+ max [0-9]+ growth (-?[0-9]+)$/\1/p" "$E2E_TMP/slow.txt")
    [ -n "$growth" ] || e2e_fail "no VmRSS samples of $p"
    [ "$growth" -lt $limit_kib ] ||
      e2e_fail "$p grew by $growth KiB behind a slow reader (useEncryption = $enc), limit $limit_kib"
  done
  rm -f "$E2E_TMP/out"
done
e2e_wait_count burrowd "relay: proxy send-(true|false): .* closed: done \(0 B in, $size B out" 2

e2e_stop burrow
e2e_stop burrowd
echo "relay_tcp_slowreader: ok"
