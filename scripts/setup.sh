#!/usr/bin/env bash
# Installs what Burrow needs to build, test, benchmark and run its lab, from
# Debian 12's packages. Idempotent: when everything is present it only checks
# (one dpkg-query) and returns.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config clang libclang-rt-14-dev
  # libraries Burrow links
  libevent-dev libnice-dev libglib2.0-dev libsodium-dev libmsgpack-dev libcmocka-dev
  libngtcp2-dev libusrsctp-dev
  libhttp-parser-dev
  # end-to-end tests and demo
  socat curl netcat-openbsd procps psmisc python3 valgrind faketime
  # lab (netns-lab/): namespaces, NAT, fault injection, independent probes
  iproute2 nftables conntrack iptables libnetfilter-queue-dev stun-client stun-server
  # benchmarks (bench/)
  iperf3 nginx-light libnginx-mod-stream wrk iputils-ping
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# nginx-light must not start a server on port 80 during install.
$sudo env RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
