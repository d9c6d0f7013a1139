# Helpers for end-to-end tests: start the real programs on 127.0.0.1, wait for
# their ready lines (never a bare sleep), stop them by PID, and clean up in a
# trap. Sourced by tests/e2e/*.sh; ctest passes BURROW and BURROWD.
set -euo pipefail

: "${BURROW:?BURROW must name the burrow binary}"
: "${BURROWD:?BURROWD must name the burrowd binary}"

E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/bw-e2e.XXXXXX")
declare -A E2E_PID=()

e2e_cleanup() {
  local name
  for name in "${!E2E_PID[@]}"; do
    kill -TERM "${E2E_PID[$name]}" 2>/dev/null || true
  done
  for name in "${!E2E_PID[@]}"; do
    wait "${E2E_PID[$name]}" 2>/dev/null || true
  done
  if [ -n "${E2E_KEEP:-}" ]; then echo "e2e: kept $E2E_TMP" >&2; else rm -rf "$E2E_TMP"; fi
}
trap e2e_cleanup EXIT

e2e_fail() {
  echo "FAIL: $*" >&2
  local f
  for f in "$E2E_TMP"/*.log; do
    [ -f "$f" ] || continue
    echo "---- $(basename "$f")" >&2
    tail -n 30 "$f" >&2
  done
  exit 1
}

# e2e_start NAME CMD...: run CMD in the background, output in $E2E_TMP/NAME.log.
e2e_start() {
  local name=$1; shift
  # Empty the log here, not only in the child: a name started again must not
  # satisfy e2e_wait_log with its last run's lines before the child runs.
  : >"$E2E_TMP/$name.log"
  "$@" >"$E2E_TMP/$name.log" 2>&1 &
  E2E_PID[$name]=$!
}

# e2e_wait_log NAME REGEX [SECONDS]: wait until NAME's log matches REGEX.
e2e_wait_log() {
  local name=$1 re=$2 limit=${3:-20} i
  for ((i = 0; i < limit * 20; i++)); do
    if grep -Eq -- "$re" "$E2E_TMP/$name.log" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "${E2E_PID[$name]}" 2>/dev/null; then
      grep -Eq -- "$re" "$E2E_TMP/$name.log" 2>/dev/null && return 0
      e2e_fail "$name exited before logging /$re/"
    fi
    sleep 0.05
  done
  e2e_fail "$name did not log /$re/ within ${limit}s"
}

# e2e_wait_exit NAME [SECONDS]: wait for NAME to exit on its own; its exit
# code is left in E2E_RC (not printed: a subshell could not wait for it).
E2E_RC=0
e2e_wait_exit() {
  local name=$1 limit=${2:-20} i pid=${E2E_PID[$1]}
  E2E_RC=0
  for ((i = 0; i < limit * 20; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" || E2E_RC=$?
      unset "E2E_PID[$name]"
      return 0
    fi
    sleep 0.05
  done
  e2e_fail "$name still running after ${limit}s"
}

# e2e_stop NAME: SIGTERM, then require a clean exit (0): under the sanitizers a
# leak or a memory error at shutdown makes the exit code non-zero.
e2e_stop() {
  local name=$1 pid=${E2E_PID[$1]} rc=0
  kill -TERM "$pid"
  wait "$pid" || rc=$?
  unset "E2E_PID[$name]"
  [ "$rc" -eq 0 ] || e2e_fail "$name exited with $rc after SIGTERM"
}

# e2e_burrowd NAME TOKEN [LINE...]: write $E2E_TMP/NAME.toml (a burrowd on
# 127.0.0.1, control port from the OS, auth.token TOKEN, then each LINE of
# TOML as it is), start burrowd on it as NAME and wait until it listens;
# e2e_port NAME gives the control port.
e2e_burrowd() {
  local name=$1 token=$2; shift 2
  {
    printf 'bindAddr = "127.0.0.1"\nbindPort = 0\nauth.token = "%s"\n' "$token"
    [ "$#" -eq 0 ] || printf '%s\n' "$@"
  } >"$E2E_TMP/$name.toml"
  e2e_start "$name" "$BURROWD" -c "$E2E_TMP/$name.toml"
  e2e_wait_log "$name" 'control listening on 127\.0\.0\.1:[0-9]+'
}

# e2e_port NAME: the control port burrowd logged ("control listening on ADDR:PORT").
e2e_port() {
  grep -Eo 'control listening on [^ ]+' "$E2E_TMP/$1.log" | head -n1 | sed -E 's/.*:([0-9]+)$/\1/'
}

# --- relay scenarios (tests/e2e/relay_*.sh) ----------------------------------
# Python helpers in tools/: service.py (the local service behind a proxy),
# user.py (the user on the public side), wiretap.py (a recording forwarder
# that keeps half-closes), garbage.py (bad input for the control port).
E2E_TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/tools"

# e2e_free_port [N]: N (default 1) distinct ports the OS has just handed out
# and released, for the configurations that must name a port in advance
# (allowPorts, a remotePort that must survive a restart).
e2e_free_port() {
  python3 -c 'import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "${1:-1}"
}

# e2e_free_udp_port [N]: the same for UDP (burrowd's bindUDPPort, a UDP
# service's port, a visitor's bindPort).
e2e_free_udp_port() {
  python3 -c 'import socket, sys
socks = [socket.socket(type=socket.SOCK_DGRAM) for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "${1:-1}"
}

# e2e_service NAME [--port N] MODE [ARG]: start tools/service.py (a TCP
# service, or udpecho) as NAME and wait until it listens; e2e_listen_port NAME
# gives its port.
e2e_service() {
  local name=$1; shift
  e2e_start "$name" python3 "$E2E_TOOLS/service.py" "$@"
  e2e_wait_log "$name" 'service listening on'
}

# e2e_client_conf PORT TOKEN [LINE...]: the head of a client's configuration
# (burrowd's control port PORT on 127.0.0.1, auth.token TOKEN), then each LINE
# of TOML as it is.
e2e_client_conf() {
  printf 'serverAddr = "127.0.0.1"\nserverPort = %s\nauth.token = "%s"\n' "$1" "$2"
  shift 2
  [ "$#" -eq 0 ] || printf '%s\n' "$@"
}

# e2e_proxy NAME TYPE LOCALPORT [LINE...]: a client's [[proxies]] table for
# the service on 127.0.0.1:LOCALPORT, then each LINE (TOML) as it is.
e2e_proxy() {
  printf '\n[[proxies]]\nname = "%s"\ntype = "%s"\nlocalIP = "127.0.0.1"\nlocalPort = %s\n' \
    "$1" "$2" "$3"
  shift 3
  [ "$#" -eq 0 ] || printf '%s\n' "$@"
}

# e2e_listen_port NAME: the port in NAME's first "listening on 127.0.0.1:PORT".
e2e_listen_port() {
  grep -Eo 'listening on 127\.0\.0\.1:[0-9]+' "$E2E_TMP/$1.log" | head -n1 | sed -E 's/.*://'
}

# e2e_proxy_port NAME PROXY: the public port of PROXY from burrow NAME's last
# "proxy PROXY: started (tcp ... -> ADDR:PORT)" line.
e2e_proxy_port() {
  grep -E "proxy $2: started \(" "$E2E_TMP/$1.log" | tail -n1 | sed -E 's/.*:([0-9]+)\)$/\1/'
}

# e2e_count NAME REGEX: how many lines of NAME's log match REGEX.
e2e_count() {
  local n
  n=$(grep -Ec -- "$2" "$E2E_TMP/$1.log" 2>/dev/null) || true
  echo "${n:-0}"
}

# e2e_wait_count NAME REGEX N [SECONDS]: wait until N lines of NAME's log match.
e2e_wait_count() {
  local name=$1 re=$2 want=$3 limit=${4:-20} i
  for ((i = 0; i < limit * 10; i++)); do
    [ "$(e2e_count "$name" "$re")" -ge "$want" ] && return 0
    sleep 0.1
  done
  e2e_fail "$name logged $(e2e_count "$name" "$re") lines /$re/ within ${limit}s, want $want"
}

# e2e_refused PORT: succeed when nothing listens on 127.0.0.1:PORT.
e2e_refused() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# e2e_kill NAME: end a helper (not Burrow: use e2e_stop) whatever its exit code.
e2e_kill() {
  local pid=${E2E_PID[$1]}
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "E2E_PID[$1]"
}

# e2e_wait_size FILE BYTES [SECONDS]: wait until FILE holds at least BYTES.
e2e_wait_size() {
  local file=$1 want=$2 limit=${3:-20} i
  for ((i = 0; i < limit * 20; i++)); do
    [ "$(stat -c %s "$file" 2>/dev/null || echo 0)" -ge "$want" ] && return 0
    sleep 0.05
  done
  e2e_fail "$file holds $(stat -c %s "$file" 2>/dev/null || echo 0) bytes after ${limit}s, want $want"
}
