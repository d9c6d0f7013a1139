#!/usr/bin/env bash
# The README's test command: sets up a fresh Debian 12 machine and runs every
# test. .ci/run runs exactly this script.
#
#   1. installs missing packages (scripts/setup.sh)
#   2. builds the optimised build (what the demo and benchmarks use) to prove
#      it compiles warning-free at -O2
#   3. builds with ASan + UBSan and runs every ctest test under them: unit
#      (cmocka), fuzz corpus replays, end-to-end and lab tests (lab tests need
#      root and skip without it)
#   4. builds the libFuzzer harnesses with clang and runs each for a bounded
#      time (BW_FUZZ_SECONDS, default 30)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc)
fuzz_seconds=${BW_FUZZ_SECONDS:-30}

bash scripts/setup.sh

echo "== release build"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$jobs"

echo "== sanitizer build (ASan + UBSan)"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DBW_SANITIZE=ON >/dev/null
cmake --build build/asan -j"$jobs"

echo "== fuzz build (clang libFuzzer + ASan + UBSan)"
CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=Debug -DBW_SANITIZE=ON -DBW_FUZZ=ON >/dev/null
cmake --build build/fuzz -j"$jobs"

fuzz_failed=0
fuzz_passed=0
echo "== fuzzing each harness for ${fuzz_seconds}s"
for harness in tests/fuzz/fuzz_*.c; do
  name=$(basename "$harness" .c)
  corpus=tests/fuzz/corpus/${name#fuzz_}
  work=$(mktemp -d)
  cp -r "$corpus"/. "$work"/
  if (cd build/fuzz/tests && ./"$name" -max_total_time="$fuzz_seconds" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=0 "$work" >"$work.log" 2>&1); then
    echo "fuzz $name: ok ($(grep -c . "$work.log" || true) log lines)"
    fuzz_passed=$((fuzz_passed + 1))
  else
    echo "fuzz $name: FAILED"; tail -n 40 "$work.log"
    fuzz_failed=$((fuzz_failed + 1))
  fi
  rm -rf "$work" "$work.log"
done

echo "== tests (ctest, under the sanitizers)"
ctest_rc=0
(cd build/asan && ctest --output-on-failure -j"$jobs" --timeout 900) | tee build/ctest.log || ctest_rc=$?

passed=$(grep -Eo '[0-9]+ tests? failed out of [0-9]+' build/ctest.log | awk '{print $6 - $1}' || echo 0)
failed=$(grep -Eo '[0-9]+ tests? failed out of' build/ctest.log | awk '{print $1}' || echo 0)
echo
echo "fuzz: ${fuzz_passed} passed, ${fuzz_failed} failed"
echo "total: $((passed + fuzz_passed)) passed, $((failed + fuzz_failed)) failed"
[ "$ctest_rc" -eq 0 ] && [ "$fuzz_failed" -eq 0 ]
