#!/usr/bin/env bash
# Half-close through a tcp proxy, both ways, plain and with useEncryption:
#  - the user shuts its write side down and still receives the service's
#    whole reply (the service reads to EOF, then answers and closes);
#  - the service shuts its write side down first: the user sees its bytes and
#    the EOF, and what the user sends afterwards still reaches the service;
#  - the service closes outright while the user still sends: the user gets
#    the service's bytes and then loses the connection instead of pouring
#    bytes into a void, and both relays log the close.
#
#   user.py --> burrowd :P ==work conn==> burrow --> service.py summary|halfclose|closefirst
. "$(dirname "$0")/lib.sh"

head -c 1048576 /dev/urandom >"$E2E_TMP/in.1m"
head -c 4194304 /dev/urandom >"$E2E_TMP/in.4m"
head -c 33554432 /dev/zero >"$E2E_TMP/in.32m"
: >"$E2E_TMP/in.0"
printf 'bye\n' >"$E2E_TMP/bye"
mkdir "$E2E_TMP/sink"

e2e_burrowd burrowd halfclose

e2e_service summary summary
e2e_service halfclose halfclose "$E2E_TMP/sink"
e2e_service closefirst closefirst
{
  e2e_client_conf "$(e2e_port burrowd)" halfclose
  for s in summary halfclose closefirst; do
    for enc in false true; do
      e2e_proxy "$s-$enc" tcp "$(e2e_listen_port $s)" 'remotePort = 0' \
        "transport.useEncryption = $enc"
    done
  done
} >"$E2E_TMP/burrow.toml"
e2e_start burrow "$BURROW" -c "$E2E_TMP/burrow.toml"
e2e_wait_count burrow 'proxy [a-z]+-(true|false): started \(tcp ' 6

user() { # xfer arguments...; output in $E2E_TMP/user.txt, exit code in $rc
  rc=0
  python3 "$E2E_TOOLS/user.py" xfer --timeout 10 "$@" >"$E2E_TMP/user.txt" || rc=$?
  cat "$E2E_TMP/user.txt"
}

halfclose_conns=0 closefirst_conns=0 conns=0
for enc in false true; do
  # 1. The user half-closes first; the reply comes after its EOF.
  for n in 0 1m; do
    user "$(e2e_proxy_port burrow "summary-$enc")" "$E2E_TMP/in.$n" "$E2E_TMP/out"
    [ "$rc" -eq 0 ] || e2e_fail "summary ($n, useEncryption = $enc): user.py exited $rc"
    { printf '%d %s\n' "$(stat -c %s "$E2E_TMP/in.$n")" "$(sha256sum <"$E2E_TMP/in.$n" | cut -d' ' -f1)"
      cat "$E2E_TMP/in.$n"; } >"$E2E_TMP/want"
    cmp "$E2E_TMP/want" "$E2E_TMP/out" ||
      e2e_fail "summary ($n, useEncryption = $enc): the reply after the user's EOF differs"
    conns=$((conns + 1))
  done

  # 2. The service half-closes first; the user sends 4 MiB after that EOF
  #    (--after-eof), then at the same time as it (no option).
  for opt in --after-eof ""; do
    user $opt "$(e2e_proxy_port burrow "halfclose-$enc")" "$E2E_TMP/in.4m" "$E2E_TMP/out"
    [ "$rc" -eq 0 ] || e2e_fail "halfclose ($opt, useEncryption = $enc): user.py exited $rc"
    cmp "$E2E_TMP/bye" "$E2E_TMP/out" ||
      e2e_fail "halfclose ($opt, useEncryption = $enc): the user did not get the service's bytes"
    grep -q 'send error none' "$E2E_TMP/user.txt" ||
      e2e_fail "halfclose ($opt, useEncryption = $enc): sending failed after the service's EOF"
    halfclose_conns=$((halfclose_conns + 1))
    e2e_wait_log halfclose "conn $halfclose_conns closed: in 4194304 out 4"
    cmp "$E2E_TMP/in.4m" "$E2E_TMP/sink/conn-$halfclose_conns.bin" ||
      e2e_fail "halfclose ($opt, useEncryption = $enc): the service did not get the user's bytes"
    conns=$((conns + 1))
  done

  # 3. The service closes outright; the user sends 32 MiB after the EOF:
  #    it got "bye", and the relay cuts its sending short.
  user --after-eof "$(e2e_proxy_port burrow "closefirst-$enc")" "$E2E_TMP/in.32m" "$E2E_TMP/out"
  [ "$rc" -eq 0 ] || e2e_fail "closefirst (useEncryption = $enc): user.py exited $rc"
  cmp "$E2E_TMP/bye" "$E2E_TMP/out" ||
    e2e_fail "closefirst (useEncryption = $enc): the user did not get the service's bytes"
  grep -Eq 'send error (EPIPE|ECONNRESET)' "$E2E_TMP/user.txt" ||
    e2e_fail "closefirst (useEncryption = $enc): 32 MiB went into a closed service unnoticed"
  closefirst_conns=$((closefirst_conns + 1))
  conns=$((conns + 1))

  # 4. The same while the user is already sending: the connection ends
  #    (EOF or reset) in bounded time, with at most the service's bytes.
  #    The outcome depends on which event each relay sees first, so it is
  #    tried several times.
  for try in $(seq 20); do
    user "$(e2e_proxy_port burrow "closefirst-$enc")" "$E2E_TMP/in.32m" "$E2E_TMP/out"
    [ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] ||
      e2e_fail "closefirst, sending (useEncryption = $enc, try $try): user.py exited $rc"
    [ "$(head -c "$(stat -c %s "$E2E_TMP/out")" "$E2E_TMP/bye")" = "$(cat "$E2E_TMP/out")" ] ||
      e2e_fail "closefirst, sending (useEncryption = $enc, try $try): unexpected bytes"
    closefirst_conns=$((closefirst_conns + 1))
    conns=$((conns + 1))
  done
  echo "ok: useEncryption = $enc"
done

# Each connection logged one close line on each side; the half-closed ones
# ended as "done" (both directions finished), not cut.
e2e_wait_count burrowd 'relay: proxy [a-z]+-(true|false): 127\.0\.0\.1:[0-9]+ closed: ' $conns
e2e_wait_count burrow 'burrow: proxy [a-z]+-(true|false): 127\.0\.0\.1:[0-9]+ closed: ' $conns
for f in burrowd burrow; do
  n=$(e2e_count $f 'proxy (summary|halfclose)-(true|false): 127\.0\.0\.1:[0-9]+ closed: done')
  [ "$n" -eq $((conns - closefirst_conns)) ] ||
    e2e_fail "$f: $n half-closed connections ended as done, want $((conns - closefirst_conns))"
done
[ "$(e2e_count burrowd 'relay: proxy closefirst-(true|false): .* closed: ')" -eq $closefirst_conns ] ||
  e2e_fail "burrowd did not log each closefirst connection once"

e2e_stop burrow
e2e_stop burrowd
echo "relay_tcp_halfclose: ok"
