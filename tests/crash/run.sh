#!/bin/bash
# Runs the crash tests at smoke length (CRASH_ITERATIONS=n for longer runs).
set -euo pipefail
cd "$(dirname "$0")/../.."
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1
echo "== sim_selftest"
build/sim/tests/sim_selftest
