#!/usr/bin/env bash
# Smoke run of bench_tp (ctest bench/tp-smoke): every engine compiled in and
# kernel TCP move bytes for half a second over 127.0.0.1. Not a measurement.
set -euo pipefail
bin=${1:?usage: tp_smoke.sh path/to/bench_tp}
dir=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap cleanup EXIT

for engine in tcp quic sctp pseudotcp; do
	"$bin" --engine "$engine" --listen 127.0.0.1:0 --seconds 0.5 >"$dir/$engine.recv" \
		2>"$dir/$engine.err" &
	pid=$!
	pids+=("$pid")
	port=
	for _ in $(seq 100); do
		port=$(sed -n 's/^listening on \([0-9]*\)$/\1/p' "$dir/$engine.err" 2>/dev/null || true)
		[ -n "$port" ] && break
		if ! kill -0 "$pid" 2>/dev/null; then
			break
		fi
		sleep 0.05
	done
	if [ -z "$port" ]; then
		if grep -q "not compiled in" "$dir/$engine.err"; then
			echo "$engine: not compiled in, skipped"
			continue
		fi
		echo "$engine: the listener did not start:" >&2
		cat "$dir/$engine.err" >&2
		exit 1
	fi
	"$bin" --engine "$engine" --connect "127.0.0.1:$port" --seconds 0.5 >"$dir/$engine.send"
	wait "$pid"
	cat "$dir/$engine.send" "$dir/$engine.recv"
	grep -q '"role":"recv","bytes":[1-9]' "$dir/$engine.recv"
done
