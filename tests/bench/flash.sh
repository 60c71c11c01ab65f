#!/usr/bin/env bash
# Flash wear at everyday loads (make bench-flash; not a test): bytes written
# per payload byte, fdatasyncs per second and durable-acknowledgement latency
# for 16 MQTT sensors at 100 msg/s each and for 1 KiB acks=all Kafka
# producers at 1,000 records/s (tests/bench/flash.py describes the loads).
#
#   tests/bench/flash.sh [--seconds 30] [--set KEY=VALUE ...] [--label L]
#
# Prints Markdown table rows (docs/benchmarks.md, "Flash wear"); progress to
# stderr. The data folders go under build/ (the disk under test) and are
# removed after each load. Needs strace (fdatasync count) and the peers'
# paho-mqtt (tests/peers/install.sh).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PY="${EDDY_PEERS:-$HOME/.cache/eddy-peers}/venv/bin/python"
command -v strace >/dev/null || { echo "flash.sh: strace is needed" >&2; exit 1; }
[ -x "$PY" ] || "$REPO/tests/peers/install.sh" >&2
make -C "$REPO" -s build/eddy build/bench/rdkperf >&2
echo "| load | settings | payload kB/s | written kB/s | stored / payload | written / payload | fdatasync/s | ack p50 / p99 ms |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
exec "$PY" "$HERE/flash.py" "$@"
