#!/usr/bin/env bash
# `burrow nat -c FILE` logs in, probes burrowd's STUN server, prints the
# verdict and sends it to burrowd in NAT_REPORT before it exits: burrowd must
# log the report (the client is gone by the time anyone could ask `burrowd
# status`, so its log is what shows it). Three runs, because an exit that
# does not wait for the control connection's output loses the report most of
# the time, not every time. Then against a burrowd without a STUN port:
# exit 1 with the reason, and a clean close.
. "$(dirname "$0")/lib.sh"

udp=$(e2e_free_udp_port)
e2e_burrowd burrowd tok "bindUDPPort = $udp"
port=$(e2e_port burrowd)
e2e_client_conf "$port" tok >"$E2E_TMP/burrow.toml"

for run in 1 2 3; do
  rc=0
  timeout 20 "$BURROW" nat -c "$E2E_TMP/burrow.toml" --json >"$E2E_TMP/nat$run.json" \
    2>"$E2E_TMP/nat$run.log" || rc=$?
  [ "$rc" -eq 0 ] || e2e_fail "burrow nat exited $rc: $(cat "$E2E_TMP/nat$run.json")"
  type=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["nat_type"])' \
    "$E2E_TMP/nat$run.json") || e2e_fail "burrow nat --json: $(cat "$E2E_TMP/nat$run.json")"
  # burrowd logs the report when it reads it, before it sees the connection end.
  e2e_wait_count burrowd "rdv: client 127\.0\.0\.1:[0-9]+: NAT $type" "$run" 5
  echo "run $run: burrow nat printed $type; burrowd recorded it"
done

# A burrowd without a STUN port: the verdict comes while the login answer is
# being read; burrow nat must still close cleanly, exit 1 and say why.
e2e_burrowd noudp tok
sed "s/^serverPort = .*/serverPort = $(e2e_port noudp)/" "$E2E_TMP/burrow.toml" >"$E2E_TMP/b-noudp.toml"
rc=0
timeout 20 "$BURROW" nat -c "$E2E_TMP/b-noudp.toml" >"$E2E_TMP/noudp.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || e2e_fail "burrow nat without a STUN port exited $rc: $(cat "$E2E_TMP/noudp.out")"
grep -q 'bindUDPPort is 0' "$E2E_TMP/noudp.out" || e2e_fail "no reason: $(cat "$E2E_TMP/noudp.out")"
e2e_wait_log noudp 'closed: connection closed' 5

e2e_stop noudp
e2e_stop burrowd
echo "nat_report: ok"
