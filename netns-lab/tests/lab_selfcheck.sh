#!/usr/bin/env bash
# lab/lab_selfcheck: builds the whole lab (one site per NAT type), checks each
# type with the independent probes, the knobs and the isolation from the host,
# and tears everything down (netns-lab/verify.sh). Needs root: exit 77 without.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
	echo "lab_selfcheck: SKIP: needs root (network namespaces, nftables)" >&2
	exit 77
fi
# Another build's ctest may be running the same self-check: wait for it
# (bounded, well inside ctest's 900 s) rather than fail.
export BW_LAB_LOCK_WAIT=${BW_LAB_LOCK_WAIT:-480}
exec "$here/lab" verify
