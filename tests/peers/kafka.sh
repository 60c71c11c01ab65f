#!/usr/bin/env bash
# Runs one of Apache Kafka's CLI tools by its usual name with the jars that
# install.sh fetched: kafka.sh VERSION TOOL args...
# VERSION is a full version (3.9.2) or a prefix (3.9, 4) meaning the newest
# installed match. TOOL: kafka-topics, kafka-console-producer,
# kafka-console-consumer, kafka-configs, kafka-consumer-groups, kafka-dump-log,
# kafka-producer-perf-test, kafka-consumer-perf-test, kafka-storage, kafka-acls,
# kafka-server-start. JVM options: KAFKA_HEAP_OPTS, KAFKA_JVM_OPTS; logging:
# KAFKA_LOG4J_OPTS (the -D options naming the log4j configuration).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${EDDY_PEERS:-$HOME/.cache/eddy-peers}"
if [ $# -lt 2 ]; then
	echo "usage: kafka.sh VERSION TOOL [args...]" >&2
	exit 2
fi
want="$1" tool="${2%.sh}"
shift 2
dir=
if [ -f "$CACHE/kafka/$want/mains" ]; then
	dir="$CACHE/kafka/$want"
else
	for d in "$CACHE/kafka/$want".*/; do
		case "$d" in *.new.*) continue ;; esac
		[ -f "$d/mains" ] && dir="${d%/}"
	done
fi
if [ -z "$dir" ]; then
	echo "kafka.sh: Apache Kafka $want not installed in $CACHE (run tests/peers/install.sh)" >&2
	exit 2
fi
main="$(awk -v t="$tool" '$1 == t { print $2 }' "$dir/mains")"
if [ -z "$main" ]; then
	echo "kafka.sh: unknown tool '$tool' (known: $(cut -d' ' -f1 "$dir/mains" | tr '\n' ' '))" >&2
	exit 2
fi
# Small, fast-starting JVMs: the machine has two cores.
heap="${KAFKA_HEAP_OPTS:--Xms32m -Xmx256m}"
jvm="${KAFKA_JVM_OPTS:--Xshare:auto -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:CICompilerCount=1 -Xss512k}"
# Kafka 3.9 logs through reload4j (log4j 1), 4.x through log4j 2.
kind=tools
if [ "$tool" = kafka-server-start ]; then kind=broker; fi
log="${KAFKA_LOG4J_OPTS:--Dlog4j.configuration=file:$HERE/log4j-$kind.properties -Dlog4j2.configurationFile=$HERE/log4j2-$kind.properties} -Dkafka.logs.dir=${KAFKA_LOG_DIR:-.}"
# JVM messages go to stderr, never into a tool's output. Class-data
# sharing: install.sh trains one archive per tool (KAFKA_CDS_DUMP=1 writes
# it at exit); with it a tool starts about twice as fast.
xlog="-Xlog:disable -Xlog:all=warning:stderr"
cds="$dir/cds/$tool.jsa"
if [ -n "${KAFKA_CDS_DUMP:-}" ]; then
	mkdir -p "$dir/cds"
	rm -f "$cds"
	xlog="$xlog -Xlog:cds=off,cds+dynamic=off:stderr -XX:ArchiveClassesAtExit=$cds"
elif [ -f "$cds" ]; then
	xlog="$xlog -XX:SharedArchiveFile=$cds"
fi
# shellcheck disable=SC2086
exec java $heap $jvm $xlog -Djava.awt.headless=true $log -cp "$dir/libs/*" "$main" "$@"
