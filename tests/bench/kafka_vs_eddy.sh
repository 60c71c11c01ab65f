#!/usr/bin/env bash
# Kafka-protocol benchmark: Eddy against a real single-node Apache Kafka
# broker (KRaft, jars from Maven Central) on this machine, in one run, driven
# by the same load generators:
#
#   - kafka-producer-perf-test (Apache Kafka's Java tool, its defaults),
#   - build/bench/rdkperf produce (librdkafka, RDK_PROCS processes), at full
#     speed, and one process at a fixed rate with linger.ms=0 (latency
#     without queueing in the client),
#   - build/bench/rdkperf consume (librdkafka, partitions assigned, no group),
#   - kafka-consumer-perf-test (consumer group), when Eddy serves groups;
#     it reads 4/5 of the topic the Java producer filled, so that no
#     partition reaches its end: a fetch that names only partitions at their
#     end waits fetch.max.wait.ms (500 ms) on any broker, and the Java client
#     sends no other fetch to that broker meanwhile, a stall that lands in a
#     run or not by chance (docs/benchmarks.md, "kafka-consumer-perf-test:
#     the end of the partitions"); its fetch_wait_max_ms shows it,
#
# with 100 B and 1 KiB records, acks=1 and acks=all, RUNS runs of each
# (medians). Both brokers run side by side but only one is loaded at a time:
# each scenario runs against one broker, then the other (the order swaps
# every run), so that drift in the machine's other load spreads over both.
# Per broker it reports records/s, MB/s (10^6 bytes of record value per
# second), p50/p99 latency (send to acknowledgement, as the generators count
# it), the broker's CPU seconds per million records (utime + stime of all its
# threads, /proc/PID/stat around each run), its peak RSS (VmHWM) and its
# start-up time from exec to the first Metadata answer.
#
#   tests/bench/kafka_vs_eddy.sh          (or: make bench)
#
# Environment: RUNS=3, KAFKA_VERSION=3.9, PARTITIONS=3, RDK_PROCS=2,
# N_JAVA_100=500000 N_JAVA_1K=150000 N_RDK_100=2000000 N_RDK_1K=500000
# (records per run), RATE=5000 and N_RATE=25000 (the fixed-rate runs),
# BROKERS="eddy kafka" (one alone: for looking into one broker; the ratios
# need both), BENCH_DIR=build/bench-kafka (data of both brokers; must be on
# the disk under test), KEEP=1 keeps the data and logs, PIN=B:L pins each
# broker to CPU list B and every load generator to CPU list L (taskset; e.g.
# PIN=1:0 on two cores, so that the generator's CPU does not come out of the
# broker's).
# Prints Markdown tables (the ones in docs/benchmarks.md); progress and the
# raw results go to stderr.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PEERS="$REPO/tests/peers"
CACHE="${EDDY_PEERS:-$HOME/.cache/eddy-peers}"
RUNS="${RUNS:-3}"
KV="${KAFKA_VERSION:-3.9}"
PARTS="${PARTITIONS:-3}"
PROCS="${RDK_PROCS:-2}"
N_JAVA_100="${N_JAVA_100:-500000}"
N_JAVA_1K="${N_JAVA_1K:-150000}"
N_RDK_100="${N_RDK_100:-2000000}"
N_RDK_1K="${N_RDK_1K:-500000}"
RATE="${RATE:-5000}"
N_RATE="${N_RATE:-25000}"
BROKER_LIST="${BROKERS:-eddy kafka}"
BASE="${BENCH_DIR:-$REPO/build/bench-kafka}"
PIN_B=() PIN_L=()
if [ -n "${PIN:-}" ]; then
	PIN_B=(taskset -c "${PIN%%:*}")
	PIN_L=(taskset -c "${PIN#*:}")
fi

# Apache Kafka's own defaults (kafka-server-start.sh, kafka-run-class.sh).
KAFKA_PERF_OPTS="-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15"
BROKER_HEAP="-Xmx1G -Xms1G"
TOOL_HEAP="-Xmx256M"

say() { printf '%s\n' "$*" >&2; }
die() {
	say "kafka_vs_eddy.sh: $*"
	exit 1
}

# ---- build and peers -------------------------------------------------------
"$PEERS/install.sh" >&2
# The C load generator links librdkafka (Debian's -dev package).
if [ ! -f /usr/include/librdkafka/rdkafka.h ]; then
	[ "$(id -u)" = 0 ] || die "need root to apt-get install librdkafka-dev"
	say "installing librdkafka-dev"
	DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends librdkafka-dev >&2
fi
# EDDY_BIN=path runs another build of Eddy (e.g. an earlier commit's, to
# compare before and after a change in one session).
make -C "$REPO" -s build/eddy build/bench/rdkperf >&2
EDDY="${EDDY_BIN:-$REPO/build/eddy}"
RDK="$REPO/build/bench/rdkperf"
PY="$CACHE/venv/bin/python"
CTL="$HERE/brokerctl.py"

mkdir -p "$BASE"
WORK="$(mktemp -d "$BASE/run.XXXXXX")"
OUT="$WORK/results"
: >"$OUT"
KAFKA_DIR="$WORK/kafka"
declare -A PID_OF=() PORT_OF=()

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
stop_broker() { # BROKER: SIGTERM, SIGKILL after 60 s
	local pid="${PID_OF[$1]:-}" i
	PID_OF[$1]=
	alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 600); do
		alive "$pid" || return 0
		sleep 0.1
	done
	say "$1 (pid $pid) did not stop within 60 s: SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
	while alive "$pid"; do sleep 0.1; done
}
cleanup() {
	local rc=$? b
	trap - EXIT INT TERM
	for b in "${!PID_OF[@]}"; do stop_broker "$b"; done
	if [ -f "$KAFKA_DIR/kafka.pid" ]; then
		"$PEERS/kafka-broker.sh" kill "$KAFKA_DIR" >/dev/null 2>&1 || true
	fi
	if [ -n "${KEEP:-}" ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "" }'; }
field() { sed -n "s/\(^\|.* \)$1=\([^ ]*\).*/\2/p"; }
stat_of() { "$PY" "$CTL" stat "${PID_OF[$1]}"; }
ticks() { stat_of "$1" | field cpu_ticks; }
HZ="$(getconf CLK_TCK)"

# ---- the brokers -----------------------------------------------------------
# start_broker BROKER: starts it, sets PID_OF and STARTUP_MS (exec to the
# first Metadata answer listing a broker).
start_broker() {
	local b="$1" port="${PORT_OF[$1]}" line
	local -a cmd
	case "$b" in
	eddy)
		cmd=("${PIN_B[@]}" "$EDDY" serve --set "listeners=PLAINTEXT://127.0.0.1:$port"
			--set "log.dirs=$WORK/eddy/data" --set "num.partitions=$PARTS")
		;;
	kafka)
		cmd=("${PIN_B[@]}" env "KAFKA_LOG_DIR=$KAFKA_DIR" "KAFKA_HEAP_OPTS=$BROKER_HEAP"
			"KAFKA_JVM_OPTS=$KAFKA_PERF_OPTS"
			"$PEERS/kafka.sh" "$KV" kafka-server-start "$KAFKA_DIR/server.properties")
		;;
	esac
	line="$("$PY" "$CTL" start "$port" "$WORK/$b/pid" "$WORK/$b/broker.log" -- "${cmd[@]}")" || {
		PID_OF[$b]="$(cat "$WORK/$b/pid" 2>/dev/null || true)"
		tail -n 20 "$WORK/$b/broker.log" >&2 || true
		die "$b did not start"
	}
	PID_OF[$b]="$(echo "$line" | field pid)"
	STARTUP_MS="$(echo "$line" | field startup_ms)"
}
# init_broker BROKER: an initialised, empty data directory (Kafka: formatted
# by kafka-broker.sh, Eddy: started once), so that the start-up times
# compare restarts of an empty broker.
init_broker() {
	local b="$1"
	PORT_OF[$b]="$(free_port)"
	mkdir -p "$WORK/$b"
	case "$b" in
	eddy)
		start_broker eddy
		stop_broker eddy
		;;
	kafka)
		"$PEERS/kafka-broker.sh" start "$KAFKA_DIR" "${PORT_OF[kafka]}" "$KV" "num.partitions=$PARTS" >&2
		"$PEERS/kafka-broker.sh" stop "$KAFKA_DIR" >&2
		;;
	esac
}

# ---- the load --------------------------------------------------------------
java_tool() { # TOOL args...
	KAFKA_HEAP_OPTS="$TOOL_HEAP" KAFKA_JVM_OPTS="$KAFKA_PERF_OPTS" KAFKA_LOG_DIR="$WORK" \
		"${PIN_L[@]}" timeout 600 "$PEERS/kafka.sh" "$KV" "$@"
}
create_topic() { timeout 120 "$RDK" create -b "$BS" -t "$1" -n "$PARTS" >&2; }
TOPIC_SEQ=0
new_topic() { # PREFIX: creates a fresh topic on $BS, named in TOPIC
	TOPIC_SEQ=$((TOPIC_SEQ + 1))
	TOPIC="bench-$1-$TOPIC_SEQ"
	create_topic "$TOPIC"
}

# measure BROKER TOOL SIZE ACKS RUN RECORDS CMD...: runs CMD (which prints
# "rec_s=… [p50_ms=… p99_ms=…]") and records it with the broker's CPU time.
measure() {
	local b="$1" tool="$2" size="$3" acks="$4" run="$5" n="$6" t0 t1 res cpu
	shift 6
	say "== $b $tool ${size} B acks=$acks run $run: $n records"
	t0="$(ticks "$b")"
	res="$("$@")" || die "$b $tool ${size} B acks=$acks failed: $res"
	t1="$(ticks "$b")"
	cpu="$(awk -v a="$t0" -v b="$t1" -v hz="$HZ" -v n="$n" 'BEGIN { printf "%.3f", (b - a) / hz / n * 1e6 }')"
	echo "R broker=$b tool=$tool size=$size acks=$acks run=$run n=$n $res cpu_s_per_m=$cpu " | tee -a "$OUT" >&2
}
java_produce() { # TOPIC N SIZE ACKS
	local out line
	out="$(java_tool kafka-producer-perf-test --topic "$1" --num-records "$2" --record-size "$3" \
		--throughput -1 --producer-props "bootstrap.servers=$BS" "acks=$4" 2>&1)" || {
		echo "$out" | tail -n 5
		return 1
	}
	line="$(echo "$out" | grep ' ms 50th' | tail -n 1)"
	[ -n "$line" ] || {
		echo "$out" | tail -n 5
		return 1
	}
	echo "$line" | sed -n 's/^\([0-9]*\) records sent, \([0-9.]*\) records\/sec.*, \([0-9.]*\) ms 50th, .*, \([0-9.]*\) ms 99th,.*/sent=\1 rec_s=\2 p50_ms=\3 p99_ms=\4/p'
}
rdk_produce() { # TOPIC N SIZE ACKS
	"${PIN_L[@]}" timeout 600 "$RDK" produce -b "$BS" -t "$1" -n "$2" -s "$3" -a "$4" -p "$PROCS"
}
rdk_produce_rate() { # TOPIC N SIZE ACKS
	"${PIN_L[@]}" timeout 600 "$RDK" produce -b "$BS" -t "$1" -n "$2" -s "$3" -a "$4" -p 1 -r "$RATE" -X linger.ms=0
}
rdk_consume() { # TOPIC N
	"${PIN_L[@]}" timeout 300 "$RDK" consume -b "$BS" -t "$1" -n "$2"
}
java_consume() { # TOPIC N
	local out line
	out="$(java_tool kafka-consumer-perf-test --bootstrap-server "$BS" --topic "$1" --messages "$2" \
		--group "bench-$1-$RANDOM" --timeout 60000 --print-metrics 2>&1)" || {
		echo "$out" | tail -n 5
		return 1
	}
	# start.time, end.time, MB, MB.sec, nMsg, nMsg.sec, rebalance.time.ms,
	# fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec: the fetch rate leaves the
	# group's rebalance out.
	line="$(echo "$out" | grep -E '^[0-9]{4}-' | tail -n 1)"
	[ -n "$line" ] || {
		echo "$out" | tail -n 5
		return 1
	}
	# The client's longest wait for one fetch answer (fetch-latency-max).
	wait_ms="$(echo "$out" | sed -n 's/^consumer-fetch-manager-metrics:fetch-latency-max:{client-id=[^,}]*} *: *\([0-9.]*\)$/\1/p' | tail -n 1)"
	echo "$line" | awk -F', *' -v w="${wait_ms:-}" '{ printf "consumed=%d rec_s=%s rebalance_ms=%s fetch_wait_max_ms=%s\n", $5, $10, $7, w }'
}
use() { # BROKER: the load goes to it
	BS="127.0.0.1:${PORT_OF[$1]}"
}

# One run of every scenario against BROKER.
scenarios() {
	local b="$1" run="$2" size acks n
	use "$b"
	for size in 100 1024; do
		for acks in 1 all; do
			if [ "$size" = 100 ]; then n="$N_JAVA_100"; else n="$N_JAVA_1K"; fi
			new_topic java
			measure "$b" java-producer "$size" "$acks" "$run" "$n" java_produce "$TOPIC" "$n" "$size" "$acks"
			if [ "$acks" = 1 ] && [ "$EDDY_GROUPS" = 1 ]; then
				measure "$b" java-consumer "$size" - "$run" "$((n * 4 / 5))" \
					java_consume "$TOPIC" "$((n * 4 / 5))"
			fi
			if [ "$size" = 100 ]; then n="$N_RDK_100"; else n="$N_RDK_1K"; fi
			new_topic rdk
			measure "$b" rdk-producer "$size" "$acks" "$run" "$n" rdk_produce "$TOPIC" "$n" "$size" "$acks"
			if [ "$acks" = 1 ]; then
				measure "$b" rdk-consumer "$size" - "$run" "$n" rdk_consume "$TOPIC" "$n"
			fi
			if [ "$size" = 1024 ]; then
				new_topic rate
				measure "$b" rdk-producer-rate "$size" "$acks" "$run" "$N_RATE" \
					rdk_produce_rate "$TOPIC" "$N_RATE" "$size" "$acks"
			fi
		done
	done
}

# ---- the run ---------------------------------------------------------------
T_START=$(date +%s)
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
EDDY_GROUPS=1
for b in $BROKER_LIST; do
	say "==== $b: start-up"
	init_broker "$b"
	# RUNS restarts of the initialised, empty broker; the last one stays up.
	for i in $(seq "$RUNS"); do
		[ "$i" = 1 ] || stop_broker "$b"
		start_broker "$b"
		echo "S broker=$b run=$i startup_ms=$STARTUP_MS " | tee -a "$OUT" >&2
	done
	echo "I broker=$b $(stat_of "$b") " | tee -a "$OUT" >&2
	if [ "$b" = eddy ]; then
		# Consumer groups? (FindCoordinator 10, JoinGroup 11; the keys
		# come sorted, so " 10 11 " shares its middle blank)
		keys=" $("$PY" "$CTL" apis "${PORT_OF[eddy]}") "
		[[ "$keys" == *" 10 "* && "$keys" == *" 11 "* ]] || EDDY_GROUPS=0
	fi
done
for b in $BROKER_LIST; do
	# Warm-up (not measured): the JVMs compile their hot code.
	say "==== $b: warm-up"
	use "$b"
	new_topic warm
	rdk_produce "$TOPIC" "$N_RDK_100" 100 1 >&2
	java_produce "$TOPIC" "$N_JAVA_100" 100 1 >&2
	rdk_consume "$TOPIC" "$N_RDK_100" >&2
done
# Idle CPU of each broker over 10 s (while the other one idles too).
idle_t0=()
for b in $BROKER_LIST; do idle_t0+=("$(ticks "$b")"); done
sleep 10
i=0
for b in $BROKER_LIST; do
	echo "Z broker=$b idle_cpu_pct=$(awk -v a="${idle_t0[$i]}" -v b="$(ticks "$b")" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) / hz / 10 * 100 }') " | tee -a "$OUT" >&2
	i=$((i + 1))
done
for run in $(seq "$RUNS"); do
	order="$BROKER_LIST"
	if [ $((run % 2)) = 0 ]; then order="$(echo "$BROKER_LIST" | tr ' ' '\n' | tac | tr '\n' ' ')"; fi
	for b in $order; do
		say "==== run $run of $RUNS: $b"
		scenarios "$b" "$run"
	done
done
for b in $BROKER_LIST; do
	echo "P broker=$b $(stat_of "$b") " | tee -a "$OUT" >&2
	# Start-up again, with the benchmark's data in place (one run).
	stop_broker "$b"
	start_broker "$b"
	echo "D broker=$b startup_ms=$STARTUP_MS data_mb=$(du -sm "$WORK/$b/data" | cut -f1) " | tee -a "$OUT" >&2
	stop_broker "$b"
done
LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
T_TOTAL=$(($(date +%s) - T_START))
say "==== done in $T_TOTAL s"

# ---- report ----------------------------------------------------------------
# get TYPE FIELD [key=value ...]: the median of FIELD over the lines of TYPE
# that match every key=value.
get() {
	local typ="$1" f="$2" lines kv
	shift 2
	lines="$(grep "^$typ " "$OUT" || true)"
	for kv in "$@"; do lines="$(echo "$lines" | grep -F -- " $kv " || true)"; done
	echo "$lines" | field "$f" | median
}
ratio() { awk -v e="$1" -v k="$2" 'BEGIN { if (e == "" || k == "" || k + 0 == 0) print "—"; else printf "%.2f", e / k }'; }
fmt() { awk -v x="$2" -v d="$1" 'BEGIN { if (x == "") print "—"; else printf "%.*f", d, x }'; }
mbs() { awk -v r="$1" -v s="$2" 'BEGIN { if (r == "") print "—"; else printf "%.1f", r * s / 1e6 }'; }
lat() { # p50 p99
	if [ -z "$1" ]; then echo "—"; else echo "$(fmt 1 "$1") / $(fmt 1 "$2")"; fi
}

echo "Machine: $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n1)), Linux $(uname -r),"
echo "data on $(df -T "$BASE" | awk 'NR == 2 { print $2 }'); Apache Kafka $KV ($("$PEERS/kafka.sh" "$KV" kafka-topics --version 2>/dev/null | tail -n1 | cut -d' ' -f1)),"
echo "librdkafka $(kcat -V 2>&1 | sed -n 's/.*librdkafka \([^ ]*\).*/\1/p' | head -n1); load average at start $LOAD_START, at end $LOAD_END;"
echo "$RUNS runs per scenario (medians), $PARTS partitions per topic, whole run $T_TOTAL s${PIN:+, brokers pinned to CPU ${PIN%%:*} and load generators to CPU ${PIN#*:}}."
echo
echo "| tool | record | acks | Kafka rec/s | Eddy rec/s | **Eddy/Kafka** | Kafka MB/s | Eddy MB/s | Kafka p50 / p99 ms | Eddy p50 / p99 ms | Kafka CPU s per M rec | Eddy CPU s per M rec | **Eddy/Kafka CPU** |"
echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for tool in java-producer rdk-producer rdk-producer-rate java-consumer rdk-consumer; do
	sizes="100 1024"
	case $tool in
	java-producer) name="kafka-producer-perf-test" ;;
	rdk-producer) name="rdkperf produce ($PROCS proc.)" ;;
	rdk-producer-rate)
		name="rdkperf produce, 1 proc. at $RATE rec/s, linger.ms=0"
		sizes=1024
		;;
	java-consumer) name="kafka-consumer-perf-test, 4/5 of the topic" ;;
	rdk-consumer) name="rdkperf consume" ;;
	esac
	case $tool in *consumer) acks_list="-" ;; *) acks_list="1 all" ;; esac
	for size in $sizes; do
		for acks in $acks_list; do
			sel=(tool=$tool size=$size acks=$acks)
			kr="$(get R rec_s broker=kafka "${sel[@]}")"
			er="$(get R rec_s broker=eddy "${sel[@]}")"
			if [ -z "$kr" ] && [ -z "$er" ]; then
				echo "| $name | $size B | $acks | not run: Eddy answered no FindCoordinator and JoinGroup | | | | | | | | | |"
				continue
			fi
			kc="$(get R cpu_s_per_m broker=kafka "${sel[@]}")"
			ec="$(get R cpu_s_per_m broker=eddy "${sel[@]}")"
			kl="$(lat "$(get R p50_ms broker=kafka "${sel[@]}")" "$(get R p99_ms broker=kafka "${sel[@]}")")"
			el="$(lat "$(get R p50_ms broker=eddy "${sel[@]}")" "$(get R p99_ms broker=eddy "${sel[@]}")")"
			echo "| $name | $size B | $acks | $(fmt 0 "$kr") | $(fmt 0 "$er") | **$(ratio "$er" "$kr")** | $(mbs "$kr" "$size") | $(mbs "$er" "$size") | $kl | $el | $(fmt 2 "$kc") | $(fmt 2 "$ec") | **$(ratio "$ec" "$kc")** |"
		done
	done
done
echo
kib_mb() { awk -v x="$1" 'BEGIN { if (x == "") print "—"; else printf "%.1f", x / 1024 }'; }
row() { # LABEL KAFKA EDDY
	echo "| $1 | $2 | $3 | $(ratio "$3" "$2") |"
}
echo "| what | Kafka | Eddy | Eddy/Kafka |"
echo "|---|---:|---:|---:|"
row "start-up, exec to first Metadata answer, empty broker (ms, median of $RUNS)" \
	"$(fmt 0 "$(get S startup_ms broker=kafka)")" "$(fmt 1 "$(get S startup_ms broker=eddy)")"
row "start-up with the benchmark's data in place (ms, 1 run; Kafka $(get D data_mb broker=kafka) MB, Eddy $(get D data_mb broker=eddy) MB)" \
	"$(fmt 0 "$(get D startup_ms broker=kafka)")" "$(fmt 1 "$(get D startup_ms broker=eddy)")"
row "RSS after start-up (MiB)" "$(kib_mb "$(get I vmrss_kb broker=kafka)")" "$(kib_mb "$(get I vmrss_kb broker=eddy)")"
row "peak RSS over the whole run, VmHWM (MiB)" "$(kib_mb "$(get P vmhwm_kb broker=kafka)")" "$(kib_mb "$(get P vmhwm_kb broker=eddy)")"
row "CPU while idle (% of one core, 10 s)" "$(get Z idle_cpu_pct broker=kafka)" "$(get Z idle_cpu_pct broker=eddy)"
echo "| threads after the run | $(get P threads broker=kafka) | $(get P threads broker=eddy) | |"
echo
echo "raw results:" >&2
cat "$OUT" >&2
