#!/usr/bin/env bash
# Two Eddy builds side by side under the same librdkafka load: broker CPU
# (utime + stime ticks of the broker process around each run) and records/s
# of build/bench/rdkperf produce, alternating the builds run by run so that
# drift in the machine's other load spreads over both. For checking that a
# change costs nothing on the produce path (docs/benchmarks.md).
#
#   tests/bench/ab_produce.sh OLD_EDDY NEW_EDDY
#
# Environment: RUNS=5, N=2000000 records, S=100 bytes, ACKS=1, XARGS (extra
# rdkperf arguments, e.g. "-X linger.ms=0 -X batch.num.messages=20" for many
# small requests), BENCH_DIR=build/bench-ab.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
[ $# -eq 2 ] || { echo "usage: ab_produce.sh OLD_EDDY NEW_EDDY" >&2; exit 2; }
RUNS=${RUNS:-5} N=${N:-2000000} S=${S:-100} ACKS=${ACKS:-1}
RDK="$REPO/build/bench/rdkperf"
BASE="${BENCH_DIR:-$REPO/build/bench-ab}"
[ -x "$RDK" ] || make -C "$REPO" build/bench/rdkperf >/dev/null

start() { # BIN DIR: starts a broker on a free loopback port
	rm -rf "$2"
	mkdir -p "$2"
	"$1" serve --set "log.dirs=$2/log" --set "listeners=PLAINTEXT://127.0.0.1:0" --set "mqtt.listeners=" --set "http.listeners=" \
		--port-file "$2/ports" >"$2/out.log" 2>&1 &
	echo $! >"$2/pid"
	for _ in $(seq 100); do [ -s "$2/ports" ] && return; sleep 0.1; done
	echo "ab_produce.sh: $1 did not start (see $2/out.log)" >&2
	exit 1
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

echo "build run cpu_ticks records_per_s"
for r in $(seq "$RUNS"); do
	for which in old new; do
		bin=$1
		[ $which = new ] && bin=$2
		d="$BASE/$which"
		start "$bin" "$d"
		pid=$(cat "$d/pid")
		port=$(sed -n 's/^PLAINTEXT=.*://p' "$d/ports")
		"$RDK" create -b "127.0.0.1:$port" -t ab -n 3 >/dev/null 2>&1 || true
		c0=$(ticks "$pid")
		# shellcheck disable=SC2086
		out=$("$RDK" produce -b "127.0.0.1:$port" -t ab -n "$N" -s "$S" -a "$ACKS" -p 2 ${XARGS:-} 2>&1 | tail -1)
		c1=$(ticks "$pid")
		echo "$which $r $((c1 - c0)) $(sed -n 's/.*rec_s=\([0-9]*\).*/\1/p' <<<"$out")"
		kill "$pid"
		wait "$pid" 2>/dev/null || true
	done
done
