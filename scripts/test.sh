#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds twice (normal, and with the
# address + undefined-behaviour sanitizers), and runs every test in both builds with
# ctest. Real redis-servers and the stand-in rtp-server are started by the tests
# themselves, on free ports. Exit status 0 only if everything passed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh" test
jobs=$(nproc)
echo "== build (RelWithDebInfo)"
"$root/scripts/build.sh" "$root/build"
echo "== build (address + undefined sanitizers)"
"$root/scripts/build.sh" "$root/build-sanitize" -DRTP_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
status=0
echo "== tests"
(cd "$root/build" && ctest --output-on-failure -j"$jobs" --timeout 900) || status=1
echo "== tests under sanitizers"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd "$root/build-sanitize" && ctest --output-on-failure -j"$jobs" --timeout 900) || status=1
if [ $status -eq 0 ]; then echo "== all tests passed (both builds)"; else echo "== SOME TESTS FAILED"; fi
exit $status
