#!/usr/bin/env bash
# Flash wear at everyday loads (make bench-flash; not a test): bytes written
# per payload byte, fdatasyncs per second and acknowledgement latency for
# 16 MQTT sensors at 100 msg/s each and for 1 KiB producers at 1,000
# records/s, over MQTT and over Kafka, Eddy side by side with Mosquitto
# (persistence on) and Apache Kafka (at its defaults and fsyncing every
# append); --compact measures compaction's writes instead
# (tests/bench/flash.py describes the brokers and loads).
#
#   tests/bench/flash.sh [--seconds 15] [--runs 3] [--brokers ...] [--loads ...]
#                        [--set KEY=VALUE ...] [--label L] [--compact SPEC]
#                        [--sd [--sd-dio on|off]]   (SD-card-like device, root)
#
# Prints Markdown tables (docs/benchmarks.md, "Flash wear"); progress to
# stderr. The data folders go under build/ (the disk under test) and are
# removed after each load. Needs strace (fdatasync count), mosquitto, and
# the peers (paho-mqtt, confluent-kafka, Apache Kafka; tests/peers/install.sh).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PY="${EDDY_PEERS:-$HOME/.cache/eddy-peers}/venv/bin/python"
command -v strace >/dev/null || { echo "flash.sh: strace is needed" >&2; exit 1; }
[ -x "$PY" ] || "$REPO/tests/peers/install.sh" >&2
make -C "$REPO" -s build/eddy build/bench/rdkperf >&2
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || { echo "flash.sh: mosquitto is needed" >&2; exit 1; }
exec "$PY" "$HERE/flash.py" "$@"
