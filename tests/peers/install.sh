#!/usr/bin/env bash
# Installs the real, unmodified peers the integration tests and benchmarks
# drive (kcat, Apache Kafka 3.9 and 4.x jars, a Python venv with the Python
# clients, KafkaJS, MQTT.js, a franz-go program) into a cache outside the clone.
# Idempotent and quiet: a second run only checks and prints the versions.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${EDDY_PEERS:-$HOME/.cache/eddy-peers}"
mkdir -p "$CACHE/bin"
# One install at a time per cache.
exec 9>"$CACHE/.install.lock"
flock 9
LOG="$CACHE/install.log"
: >"$LOG"

say() { printf '%s\n' "$*"; }
die() {
	printf 'install.sh: %s (see %s)\n' "$*" "$LOG" >&2
	tail -n 20 "$LOG" >&2 || true
	exit 1
}
# run CMD...: run quietly, output to the log, fail loudly.
run() { "$@" >>"$LOG" 2>&1 || die "failed: $*"; }
have() { command -v "$1" >/dev/null 2>&1; }
# stamp_of FILE...: a hash of the inputs, to tell whether a step is done.
stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

# ---- Debian packages -------------------------------------------------------
APT_UPDATED=0
apt_install() {
	[ "$(id -u)" = 0 ] || die "need root to apt-get install $*"
	if [ "$APT_UPDATED" = 0 ]; then
		run env DEBIAN_FRONTEND=noninteractive apt-get update -q
		APT_UPDATED=1
	fi
	run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}
java_major() {
	java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1
}

pkgs=()
have kcat || pkgs+=(kcat)
# mosquitto_pub / mosquitto_sub: MQTT clients for the MQTT listener's tests.
have mosquitto_pub && have mosquitto_sub || pkgs+=(mosquitto-clients)
# mosquitto: the source broker of the MQTT pull bridge's tests.
[ -x /usr/sbin/mosquitto ] || have mosquitto || pkgs+=(mosquitto)
# coap-client-notls: a CoAP client for the CoAP listener's tests (Debian
# names coap-client after its DTLS library).
have coap-client-notls || pkgs+=(libcoap3-bin)
# autoreconf and libtoolize: DTLSSocket (requirements-dtls.txt) builds from source.
have autoreconf && have libtoolize || pkgs+=(autoconf automake libtool)
# promtool (Debian's prometheus package): checks the HTTP listener's /metrics.
have promtool || pkgs+=(prometheus)
if ! have java || [ "$(java_major)" -lt 17 ]; then pkgs+=(default-jdk-headless); fi
have mvn || pkgs+=(maven)
go version >/dev/null 2>&1 || pkgs+=(golang-go)
node --version >/dev/null 2>&1 || pkgs+=(nodejs)
npm --version >/dev/null 2>&1 || pkgs+=(npm)
# chromium: the headless browser of the dashboard test (driven by playwright-core).
have chromium || pkgs+=(chromium)
have unzip || pkgs+=(unzip)
# nft: the mirror's network tests drop packets (a black hole, random loss)
# inside a network namespace of their own (test_mirror_net.py).
have nft || pkgs+=(nftables)
# Debian's own python3 needs python3-venv for `python3 -m venv`.
python3 -c 'import ensurepip' >/dev/null 2>&1 || pkgs+=(python3-venv)
if [ "${#pkgs[@]}" -gt 0 ]; then apt_install "${pkgs[@]}"; fi
have kcat || die "kcat missing after install"
have mosquitto_pub || die "mosquitto_pub missing after install"
[ -x /usr/sbin/mosquitto ] || have mosquitto || die "mosquitto missing after install"
have coap-client-notls || die "coap-client-notls missing after install"
have promtool || die "promtool missing after install"
have nft || die "nft missing after install"
[ "$(java_major)" -ge 17 ] || die "java 17 or later needed"

# ---- Python venv -----------------------------------------------------------
VENV="$CACHE/venv"
REQ="$HERE/requirements.txt"
want="$(stamp_of "$REQ")-$(python3 -c 'import sys; print(sys.version.split()[0])')"
if [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$want" ]; then
	rm -rf "$VENV"
	run python3 -m venv "$VENV"
	run "$VENV/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all: -r "$REQ"
	echo "$want" >"$VENV/.stamp"
fi
# The HTTP API's OpenAPI checker, added to the venv without rebuilding it.
REQ_HTTP="$HERE/requirements-http.txt"
want_http="$(stamp_of "$REQ_HTTP")"
if [ "$(cat "$VENV/.stamp-http" 2>/dev/null)" != "$want_http" ]; then
	run "$VENV/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all: -r "$REQ_HTTP"
	echo "$want_http" >"$VENV/.stamp-http"
fi
# aiocoap's DTLS client (tinydtls), built from source, added in place.
REQ_DTLS="$HERE/requirements-dtls.txt"
want_dtls="$(stamp_of "$REQ_DTLS")"
if [ "$(cat "$VENV/.stamp-dtls" 2>/dev/null)" != "$want_dtls" ]; then
	run "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ_DTLS"
	echo "$want_dtls" >"$VENV/.stamp-dtls"
fi

# ---- Apache Kafka jars from Maven Central ----------------------------------
# The version lives in each pom; the jars land in $CACHE/kafka/<version>/libs
# and kafka/<version>/mains lists each CLI tool's main class.
# Bump when the layout of $CACHE/kafka/<version> changes.
LIBS_LAYOUT=1
kafka_version_of() { sed -n 's#.*<kafka.version>\(.*\)</kafka.version>.*#\1#p' "$1"; }
TOOLS="kafka-topics kafka-console-producer kafka-console-consumer kafka-configs
kafka-consumer-groups kafka-dump-log kafka-producer-perf-test
kafka-consumer-perf-test kafka-storage kafka-server-start kafka-acls"
# Candidate main classes, newest location first (tools moved between
# packages from 3.x to 4.x).
candidates() {
	case "$1" in
	kafka-topics) echo org.apache.kafka.tools.TopicCommand kafka.admin.TopicCommand ;;
	kafka-console-producer) echo org.apache.kafka.tools.ConsoleProducer kafka.tools.ConsoleProducer ;;
	kafka-console-consumer) echo org.apache.kafka.tools.consumer.ConsoleConsumer kafka.tools.ConsoleConsumer ;;
	kafka-configs) echo org.apache.kafka.tools.ConfigCommand kafka.admin.ConfigCommand ;;
	kafka-consumer-groups) echo org.apache.kafka.tools.consumer.group.ConsumerGroupCommand kafka.admin.ConsumerGroupCommand ;;
	kafka-dump-log) echo org.apache.kafka.tools.DumpLogSegments kafka.tools.DumpLogSegments ;;
	kafka-producer-perf-test) echo org.apache.kafka.tools.ProducerPerformance ;;
	kafka-consumer-perf-test) echo org.apache.kafka.tools.ConsumerPerformance kafka.tools.ConsumerPerformance ;;
	kafka-storage) echo org.apache.kafka.tools.StorageTool kafka.tools.StorageTool ;;
	kafka-server-start) echo kafka.Kafka ;;
	kafka-acls) echo org.apache.kafka.tools.AclCommand kafka.admin.AclCommand ;;
	esac
}
install_kafka() {
	local pom="$1" v dir want
	v="$(kafka_version_of "$pom")"
	[ -n "$v" ] || die "no kafka.version in $pom"
	dir="$CACHE/kafka/$v"
	# the tool list is part of the stamp: a new tool rebuilds the mains list
	want="$(stamp_of "$pom")-$LIBS_LAYOUT-$(printf '%s' "$TOOLS" | sha256sum | cut -c1-8)"
	if [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$want" ]; then return; fi
	# Built beside, then swapped in.
	local final="$dir"
	dir="$final.new.$$"
	rm -rf "$dir"
	mkdir -p "$dir"
	run mvn -B -q -f "$pom" dependency:copy-dependencies -DincludeScope=runtime \
		-DoutputDirectory="$dir/libs"
	local classes
	classes="$(for j in "$dir"/libs/kafka*.jar; do unzip -Z1 "$j"; done | sed -n 's#\.class$##p' | tr / .)"
	: >"$dir/mains"
	local t c found
	for t in $TOOLS; do
		found=
		for c in $(candidates "$t"); do
			if grep -qxF "$c" <<<"$classes"; then found="$c"; break; fi
		done
		[ -n "$found" ] || die "no main class for $t in Kafka $v"
		echo "$t $found" >>"$dir/mains"
	done
	echo "$want" >"$dir/.stamp"
	rm -rf "$final"
	mv "$dir" "$final"
}
KAFKA_VERSIONS=()
for pom in "$HERE"/kafka-*/pom.xml; do
	install_kafka "$pom"
	KAFKA_VERSIONS+=("$(kafka_version_of "$pom")")
done

# Train class-data-sharing archives for each tool by running it once
# against a throw-away broker of its version (speeds every later start-up).
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
train_cds() {
	local v="$1" dir="$CACHE/kafka/$1" tmp port bs k prop fprop
	# An archive fits one class path and one JVM build.
	want="$(cat "$dir/.stamp")-$(java -Xshare:off -version 2>&1 | tr -d '\n' | sha256sum | cut -c1-16)"
	if [ "$(cat "$dir/cds/.stamp" 2>/dev/null)" = "$want" ]; then return; fi
	rm -rf "$dir/cds"
	tmp="$(mktemp -d)"
	port="$(free_port)"
	bs="127.0.0.1:$port"
	prop=--property fprop=--property
	case "$v" in 3.*) ;; *) prop=--reader-property fprop=--formatter-property ;; esac
	k() { KAFKA_CDS_DUMP=1 run "$HERE/kafka.sh" "$v" "$@"; }
	# The broker must not hold the install lock, and must not outlive us.
	TRAIN_DIR="$tmp"
	trap '"$HERE/kafka-broker.sh" kill "$TRAIN_DIR" >/dev/null 2>&1 || true' EXIT
	KAFKA_CDS_DUMP=1 run "$HERE/kafka-broker.sh" start "$tmp" "$port" "$v" 9>&-
	k kafka-topics --bootstrap-server "$bs" --create --topic cds --partitions 1 --replication-factor 1
	printf 'a:1\nb:2\n' >"$tmp/in"
	KAFKA_CDS_DUMP=1 "$HERE/kafka.sh" "$v" kafka-console-producer --bootstrap-server "$bs" --topic cds \
		$prop parse.key=true $prop key.separator=: <"$tmp/in" >>"$LOG" 2>&1 || die "cds: console producer $v"
	k kafka-console-consumer --bootstrap-server "$bs" --topic cds --group cds --from-beginning \
		$fprop print.key=true --max-messages 2 --timeout-ms 30000
	k kafka-configs --bootstrap-server "$bs" --entity-type topics --entity-name cds --describe
	k kafka-consumer-groups --bootstrap-server "$bs" --describe --group cds
	k kafka-producer-perf-test --topic cds --num-records 2000 --record-size 100 --throughput -1 \
		--producer-props "bootstrap.servers=$bs" acks=all
	k kafka-consumer-perf-test --bootstrap-server "$bs" --topic cds --messages 2000 --timeout 30000
	k kafka-dump-log --files "$tmp/data/cds-0/00000000000000000000.log"
	KAFKA_CDS_DUMP=1 run "$HERE/kafka-broker.sh" stop "$tmp"
	trap - EXIT
	rm -rf "$tmp"
	echo "$want" >"$dir/cds/.stamp"
}
for v in "${KAFKA_VERSIONS[@]}"; do train_cds "$v"; done

# ---- KafkaJS, playwright-core (drives Debian's chromium for the dashboard),
# MQTT.js (the npm package mqtt) -------------------------------------------
# One npm command for all node peers: npm removes what a --no-save install
# does not name.
KAFKAJS_VERSION=2.2.4
PLAYWRIGHT_VERSION=1.65.2
MQTTJS_VERSION=5.16.0
node_version() {
	sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$CACHE/node/node_modules/$1/package.json" 2>/dev/null
}
if [ "$(node_version kafkajs)" != "$KAFKAJS_VERSION" ] ||
	[ "$(node_version playwright-core)" != "$PLAYWRIGHT_VERSION" ] ||
	[ "$(node_version mqtt)" != "$MQTTJS_VERSION" ]; then
	mkdir -p "$CACHE/node"
	run npm install --prefix "$CACHE/node" --no-audit --no-fund --no-save \
		"kafkajs@$KAFKAJS_VERSION" "playwright-core@$PLAYWRIGHT_VERSION" "mqtt@$MQTTJS_VERSION"
fi

# ---- franz-go peer ---------------------------------------------------------
want="$(stamp_of "$HERE"/franz/go.mod "$HERE"/franz/go.sum "$HERE"/franz/*.go)"
if [ ! -x "$CACHE/bin/franz-peer" ] || [ "$(cat "$CACHE/bin/.franz-stamp" 2>/dev/null)" != "$want" ]; then
	(cd "$HERE/franz" && run go build -mod=readonly -o "$CACHE/bin/franz-peer" .)
	echo "$want" >"$CACHE/bin/.franz-stamp"
fi

# ---- Report ----------------------------------------------------------------
# One line per peer; a peer that cannot tell its version fails the install.
report() {
	local name="$1" out
	shift
	out="$("$@" 2>>"$LOG")" || die "$name: version check failed"
	[ -n "$out" ] || die "$name: no version"
	say "$name $out"
}
kcat_version() { kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\).*librdkafka \([^ ]*\).*/\1 (librdkafka \2)/p'; }
java_version() { java -version 2>&1 | head -n1 | sed 's/.*version "\([^"]*\)".*/\1/'; }
kafka_version() { "$HERE/kafka.sh" "$1" kafka-topics --version | tail -n1; }
py() { "$VENV/bin/python" -c "$1"; }
report kcat kcat_version
report java java_version
mosquitto_version() { { mosquitto_pub --help 2>&1 || true; } | sed -n 's/^mosquitto_pub version \([^ ]*\).*/\1/p' | head -n1; }
report mosquitto-clients mosquitto_version
coap_client_version() { { coap-client-notls 2>&1 || true; } | sed -n 's/^coap-client-notls v\([^ ]*\).*/\1/p' | head -n1; }
report coap-client coap_client_version
for v in "${KAFKA_VERSIONS[@]}"; do
	report apache-kafka kafka_version "$v"
done
report python py 'import sys; print(sys.version.split()[0])'
report pytest py 'import pytest; print(pytest.__version__)'
report confluent-kafka py 'import confluent_kafka as c; v = c.version(); v = v[0] if isinstance(v, tuple) else v; print(v, "(librdkafka " + c.libversion()[0] + ")")'
report kafka-python py 'import kafka; print(kafka.__version__)'
report paho-mqtt py 'import paho.mqtt; print(paho.mqtt.__version__)'
report aiocoap py 'import aiocoap.meta; print(aiocoap.meta.version)'
report node node --version
report kafkajs env NODE_PATH="$CACHE/node/node_modules" node "$HERE/kafkajs/peer.js" version
report playwright-core node_version playwright-core
report mqtt.js node_version mqtt
report chromium chromium --version
report franz-go "$CACHE/bin/franz-peer" version
say "peers cache: $CACHE"
