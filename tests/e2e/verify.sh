#!/usr/bin/env bash
# `verify` as a user runs it: the examples and every seed snippet load, broken
# files are refused with file:line: key: why, and a refused file stops the
# programs before they open any socket.
. "$(dirname "$0")/lib.sh"
src=${BW_SOURCE_DIR:?}

expect_ok() { # prog file
  "$1" verify -c "$2" >"$E2E_TMP/out" 2>&1 || e2e_fail "$(basename "$1") verify $2 failed: $(cat "$E2E_TMP/out")"
  grep -q "configuration is valid" "$E2E_TMP/out" || e2e_fail "no verdict for $2"
}
expect_error() { # prog file regex
  if "$1" verify -c "$2" >"$E2E_TMP/out" 2>&1; then
    e2e_fail "$(basename "$1") verify accepted $2"
  fi
  grep -Eq -- "$3" "$E2E_TMP/out" || e2e_fail "$2: want /$3/, got: $(cat "$E2E_TMP/out")"
}

# The examples, and what verify prints for them: one line per proxy/visitor.
expect_ok "$BURROWD" "$src/examples/burrowd.toml"
expect_ok "$BURROW" "$src/examples/burrow.toml"
grep -q "proxy web: tcp 127.0.0.1:8080" "$E2E_TMP/out" || e2e_fail "verify did not list proxy web"
grep -q "proxy web-secret: stcp" "$E2E_TMP/out" || e2e_fail "verify did not list proxy web-secret"
expect_ok "$BURROW" "$src/examples/visitor.toml"
grep -q "visitor web-visitor: stcp" "$E2E_TMP/out" || e2e_fail "verify did not list the visitor"

# Every seed snippet without a placeholder loads with one program or the other.
for f in "$src"/tests/data/conf/seeds/*.ini "$src"/tests/data/conf/seeds/*.toml; do
  grep -Eq '<[^>]+>|= *(#|$)' "$f" && continue # placeholders: see test_conf_seeds
  "$BURROW" verify -c "$f" >/dev/null 2>&1 || "$BURROWD" verify -c "$f" >/dev/null 2>&1 ||
    e2e_fail "seed snippet $(basename "$f") loads with neither program"
done

# Broken files: the message names the file, the line and the key.
cat >"$E2E_TMP/range.toml" <<'CONF'
serverAddr = "127.0.0.1"

[[proxies]]
name = "ssh"
type = "tcp"
localPort = 70000
CONF
expect_error "$BURROW" "$E2E_TMP/range.toml" 'range\.toml:6: localPort: 70000 is above the maximum 65535'

cat >"$E2E_TMP/placeholder.ini" <<'CONF'
[common]
server_addr = 127.0.0.1
server_port = <port>
CONF
expect_error "$BURROW" "$E2E_TMP/placeholder.ini" 'placeholder\.ini:3: server_port: .*placeholder'

cat >"$E2E_TMP/typo.toml" <<'CONF'
bindPrt = 7000
CONF
"$BURROWD" verify -c "$E2E_TMP/typo.toml" >"$E2E_TMP/out" 2>&1 || true
grep -q 'typo\.toml:1: bindPrt: unknown key; did you mean "bindPort"' "$E2E_TMP/out" ||
  e2e_fail "no suggestion for a misspelt key: $(cat "$E2E_TMP/out")"

# A refused file stops burrowd before it listens: exit 1 at once.
cat >"$E2E_TMP/bad.toml" <<'CONF'
bindAddr = "127.0.0.1"
bindPort = 99999
CONF
rc=0
timeout 10 "$BURROWD" -c "$E2E_TMP/bad.toml" >"$E2E_TMP/out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || e2e_fail "burrowd with a bad file exited $rc, want 1"
grep -q 'bad\.toml:2: bindPort' "$E2E_TMP/out" || e2e_fail "burrowd did not name the bad key"
grep -q 'listening' "$E2E_TMP/out" && e2e_fail "burrowd listened with a bad file"
echo "verify: ok"
