#!/usr/bin/env bash
# frp's log.to and log.maxDays: burrowd writes to a file, rotates it at
# midnight to <file>.YYYYMMDD and deletes rotated files older than maxDays.
# The clock is libfaketime's (Debian: faketime), started a few seconds before
# midnight and running 20 times faster, so the day changes while it runs.
. "$(dirname "$0")/lib.sh"


logdir=$E2E_TMP/logs
mkdir -p "$logdir"
log=$logdir/burrowd.log
# Two rotated files from earlier runs: one past maxDays, one within it.
echo old >"$log.20261101"; touch -d "2026-11-01 12:00" "$log.20261101"
echo recent >"$log.20261124"; touch -d "2026-11-24 12:00" "$log.20261124"
# A file that only looks similar: never touched.
echo keep >"$log.notadate"; touch -d "2026-11-01 12:00" "$log.notadate"

cat >"$E2E_TMP/burrowd.toml" <<CONF
bindAddr = "127.0.0.1"
bindPort = 0
auth.token = "tok"
log.to = "$log"
log.maxDays = 3
CONF
# libfaketime preloaded straight into burrowd (the faketime wrapper would sit
# between the test and burrowd's PID); NO_FAKE_STAT: file times as they are
# on disk, only the clock is fake.
fakelib=$(dpkg -L libfaketime 2>/dev/null | grep -m1 '/libfaketime.so.1$' || true)
[ -n "$fakelib" ] || { echo "SKIP: libfaketime is not installed"; exit 77; }
e2e_start burrowd env LD_PRELOAD="$fakelib" FAKETIME="@2026-11-25 23:59:57 x20" \
  NO_FAKE_STAT=1 ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" "$BURROWD" -c "$E2E_TMP/burrowd.toml"
for _ in $(seq 100); do
  grep -q 'control listening on' "$log" 2>/dev/null && break
  sleep 0.1
done
grep -q 'control listening on' "$log" || e2e_fail "burrowd wrote no ready line to $log"
port=$(grep -Eo 'control listening on [0-9.]+:[0-9]+' "$log" | grep -Eo '[0-9]+$')

# Three fake seconds later it is 26 November: the next line rotates.
sleep 0.5
e2e_client_conf "$port" tok >"$E2E_TMP/client.toml"
e2e_start client "$BURROW" -c "$E2E_TMP/client.toml"
e2e_wait_log client 'logged in to'
for _ in $(seq 100); do
  [ -f "$log.20261125" ] && grep -q 'logged in' "$log" 2>/dev/null && break
  sleep 0.1
done

[ -f "$log.20261125" ] || e2e_fail "no rotated file $log.20261125: $(ls "$logdir")"
grep -q 'control listening on' "$log.20261125" ||
  e2e_fail "the rotated file does not hold the first day's lines"
grep -q 'logged in' "$log" || e2e_fail "the new day's line is not in $log"
if grep -q 'control listening on' "$log"; then
  e2e_fail "the first day's lines are still in $log"
fi
[ ! -e "$log.20261101" ] || e2e_fail "a rotated file older than maxDays was kept"
[ -e "$log.20261124" ] || e2e_fail "a rotated file within maxDays was deleted"
[ -e "$log.notadate" ] || e2e_fail "a file that is not a rotated log was deleted"
e2e_stop client
e2e_stop burrowd
echo "log_rotate: ok"
