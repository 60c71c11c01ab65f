#!/usr/bin/env bash
# Storage benchmark: durable append throughput with group commit against the
# disk's own durable write rates measured in the same run (dd), write
# amplification, and recovery time. Every figure is the median of RUNS runs.
#
#   tests/bench/storage.sh [DIR]      (DIR: where the data goes; default
#                                      build/bench-data, must be on the disk
#                                      under test; RUNS=3, SECONDS_PER_RUN=4,
#                                      RECOVERY_MIB=1024)
#
# Prints a Markdown table (the one in docs/benchmarks.md, section Storage).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
DIR="${1:-$REPO/build/bench-data}"
RUNS="${RUNS:-3}"
SECS="${SECONDS_PER_RUN:-4}"
MIB="${RECOVERY_MIB:-1024}"
WIND="${WIND_CSV:-$REPO/tests/data/wind-turbine-scada-T1.csv}"

make -C "$REPO" -s build/bench/log_bench >/dev/null
BENCH="$REPO/build/bench/log_bench"
mkdir -p "$DIR"
OUT="$(mktemp)"
trap 'rm -f "$OUT" "$DIR/dd.tmp"' EXIT

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
field() { # field KEY < lines
	sed -n "s/.* $1=\([^ ]*\).*/\1/p; s/^$1=\([^ ]*\).*/\1/p"
}
dd_rate() { # dd args...; prints MB/s (10^6 bytes per second)
	dd "$@" 2>&1 | awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "copied,") s = $(i + 1); print $1 / s / 1e6 }'
}

[ -f "$WIND" ] || { echo "storage.sh: no $WIND (set WIND_CSV)" >&2; exit 2; }
echo "== disk baselines in $DIR ($(df -T "$DIR" | awk 'NR == 2 { print $1, $2 }'))" >&2
# The configurations take turns within each run, so that drift in the
# disk's speed (other load, host caches) spreads over all of them.
run1() { # label mode args...
	local label="$1" mode="$2"
	shift 2
	echo "== $label run $r" >&2
	echo "$label $("$BENCH" "$mode" "$DIR/log" "$@")" >>"$OUT"
}
for r in $(seq "$RUNS"); do
	echo "bulk $(dd_rate if=/dev/zero of="$DIR/dd.tmp" bs=1M count=256 conv=fdatasync)" >>"$OUT"
	rm -f "$DIR/dd.tmp"
	echo "dsync1k $(dd_rate if=/dev/zero of="$DIR/dd.tmp" bs=1k count=2000 oflag=dsync)" >>"$OUT"
	rm -f "$DIR/dd.tmp"
	echo "dsync16k $(dd_rate if=/dev/zero of="$DIR/dd.tmp" bs=16k count=1000 oflag=dsync)" >>"$OUT"
	rm -f "$DIR/dd.tmp"
	echo "dsync64k $(dd_rate if=/dev/zero of="$DIR/dd.tmp" bs=64k count=500 oflag=dsync)" >>"$OUT"
	rm -f "$DIR/dd.tmp"
	run1 p1 append --seconds "$SECS" --producers 1
	run1 p8 append --seconds "$SECS" --producers 8
	run1 p64 append --seconds "$SECS" --producers 64
	run1 p64r16 append --seconds "$SECS" --producers 64 --records 16
	run1 windzstd wind --file "$WIND" --producers 8 --rows 100 --passes 4
	run1 windnone wind --file "$WIND" --producers 8 --rows 100 --passes 4 --compression none
done
echo "== recovery ($MIB MiB)" >&2
"$BENCH" recovery "$DIR/rec" --mib "$MIB" --runs "$RUNS" | sed 's/^/recwarm /' >>"$OUT"
"$BENCH" recovery "$DIR/rec" --mib "$MIB" --runs "$RUNS" --cold | sed 's/^/reccold /' >>"$OUT"

bulk=$(awk '$1 == "bulk" { print $2 }' "$OUT" | median)
d1=$(awk '$1 == "dsync1k" { print $2 }' "$OUT" | median)
d16=$(awk '$1 == "dsync16k" { print $2 }' "$OUT" | median)
d64=$(awk '$1 == "dsync64k" { print $2 }' "$OUT" | median)
m() { grep "^$1 " "$OUT" | field "$2" | median; }
mbs() { awk -v x="$(m "$1" mib_s)" 'BEGIN { printf "%.2f", x * 1.048576 }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f %%", 100 * a / b }'; }

echo
echo "| what | MB/s | vs dd bulk fdatasync | vs dd 1k dsync | vs dd 16k dsync | vs dd 64k dsync | fdatasyncs/s | batches per fdatasync | write amplification (write_bytes / payload) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
echo "| dd bs=1M count=256 conv=fdatasync | $bulk | | | | | | | |"
echo "| dd bs=1k oflag=dsync | $d1 | | | | | | | |"
echo "| dd bs=16k oflag=dsync | $d16 | | | | | | | |"
echo "| dd bs=64k oflag=dsync | $d64 | | | | | | | |"
for l in p1 p8 p64 p64r16; do
	case $l in
	p1) what="1 producer, 1 KiB records, 1 per batch" ;;
	p8) what="8 producers, 1 KiB records, 1 per batch" ;;
	p64) what="64 producers, 1 KiB records, 1 per batch" ;;
	p64r16) what="64 producers, 1 KiB records, 16 per batch" ;;
	esac
	rate=$(mbs $l)
	fl=$(awk -v f="$(m $l flushes)" -v s="$(m $l seconds)" 'BEGIN { printf "%.0f", f / s }')
	echo "| $what | $rate | $(pct "$rate" "$bulk") | $(pct "$rate" "$d1") | $(pct "$rate" "$d16") | $(pct "$rate" "$d64") | $fl | $(m $l batches_per_flush) | $(m $l wa_payload) |"
done
for l in windzstd windnone; do
	what="wind turbine CSV rows, 100 per batch, 8 producers, $([ $l = windzstd ] && echo zstd || echo uncompressed)"
	echo "| $what | $(mbs $l) | | | | | | $(m $l batches_per_flush) | $(m $l wa_payload) |"
done
echo
echo "| recovery of $MIB MiB over $(m recwarm partitions) partitions | page cache | open (ms) | active segments scanned (MiB) | ms per GiB stored | ms per GiB scanned |"
echo "|---|---|---:|---:|---:|---:|"
for l in recwarm reccold; do
	echo "| ed_storage_open | $([ $l = recwarm ] && echo warm || echo cold) | $(m $l open_ms) | $(m $l active_mib) | $(m $l ms_per_gib_total) | $(m $l ms_per_gib_scanned) |"
done
echo
echo "raw results:" >&2
cat "$OUT" >&2
