#!/bin/bash
# kill -9 on the real file system: a writer appends with durable waits and
# prints what was acknowledged; it is SIGKILLed at a random moment, then a
# separate verifier recovers the directory and checks every acknowledged
# batch (of this and all earlier rounds) and that nothing corrupt is served.
# Usage: kill9.sh ITERATIONS [SEED]
set -euo pipefail
iterations=${1:-20}
RANDOM=${2:-1}
bin=build/san/crash
work=$(mktemp -d "${TMPDIR:-/tmp}/eddy-kill9.XXXXXX")
trap 'rm -rf "$work"' EXIT
acks=()
for i in $(seq 1 "$iterations"); do
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 "$bin/posix_writer" "$work/data" $((i * 10000000)) "$i" >"$work/acks.$i" 2>"$work/writer.$i.err" &
    pid=$!
    ms=$((50 + RANDOM % 700))
    sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
    kill -9 "$pid" 2>/dev/null || true
    rc=0
    wait "$pid" 2>/dev/null || rc=$?
    if [ "$rc" -ne 137 ]; then
        echo "kill9: FAIL: the writer ended by itself (status $rc) in round $i:"
        cat "$work/writer.$i.err"
        exit 1
    fi
    acks+=("$work/acks.$i")
    if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 "$bin/posix_verify" "$work/data" $((i * 10000000 + 9000000)) "${acks[@]}" \
        >"$work/verify.$i" 2>&1; then
        echo "kill9: FAIL in round $i (killed after ${ms} ms):"
        cat "$work/verify.$i"
        exit 1
    fi
done
n_acks=$(cat "${acks[@]}" | grep -c '^ack ' || true)
echo "kill9: $iterations SIGKILLs of the writer, $n_acks acknowledged batches all present after each recovery"
tail -1 "$work/verify.$iterations"
