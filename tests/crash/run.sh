#!/bin/bash
# Runs the crash tests at smoke length; CRASH_ITERATIONS=n (power cuts on the
# simulated platform, default 1000) scales every part up.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${CRASH_ITERATIONS:-1000}
kills=$((n / 50 > 20 ? n / 50 : 20))
tears=$((n / 10 > 100 ? n / 10 : 100))
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1
echo "== sim_selftest"
if ! out=$(build/sim/tests/sim_selftest 2>&1); then echo "$out"; exit 1; fi
echo "sim_selftest: ok"
echo "== sim_topics"
build/sim/tests/sim_topics
echo "== sim_flush_gather"
build/sim/tests/sim_flush_gather
echo "== sim_compact"
build/sim/tests/sim_compact
echo "== sim_crash ($n power cuts)"
build/sim/tests/sim_crash --crashes "$n"
echo "== kill -9 ($kills rounds)"
bash tests/crash/kill9.sh "$kills" 1
echo "== torn tails and bit flips ($tears iterations)"
work=$(mktemp -d "${TMPDIR:-/tmp}/eddy-tear.XXXXXX")
trap 'rm -rf "$work"' EXIT
build/san/crash/posix_tear "$work" "$tears" 1 2>"$work/stderr" || { cat "$work/stderr"; exit 1; }
echo "crash: all passed"
