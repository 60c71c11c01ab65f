#!/usr/bin/env bash
# MQTT benchmark: Eddy's MQTT listener against Mosquitto (the Debian
# package) on this machine, in one run, driven by the same load generator,
# build/bench/mqttperf (Eclipse Paho C, asynchronous API, MQTT 3.1.1):
#
#   - publish throughput at QoS 0, 1 and 2, 1 and 16 publishing connections
#     (one topic each), 100 B and 1 KiB payloads, at most WINDOW publishes
#     unacknowledged per connection; time from the first publish to the last
#     acknowledgement (QoS 0: to the PUBACK of one QoS 1 publish sent after
#     the others on each connection, so the broker has taken them all in);
#   - publish-to-subscriber latency (p50/p99) at LAT_RATE messages/s, one
#     publisher and one live subscriber on the same broker, QoS 0 and 1;
#   - per scenario, the broker's CPU time per message (utime + stime of all
#     its threads, /proc/PID/stat) and the bytes it had written to storage
#     per payload byte (/proc/PID/io write_bytes: pages the broker dirtied,
#     counted by the kernel; journal writes of the file system are not in
#     it), both taken SETTLE seconds after the run so that a periodic save
#     that follows the run is counted;
#   - RSS after start-up, peak RSS (VmHWM) over the run, idle CPU.
#
# Three brokers run side by side; only one is loaded at a time, scenario by
# scenario, the order rotating every run, so that drift in the machine's
# other load spreads over all of them:
#
#   eddy       build/eddy serve (defaults; QoS 1/2 acknowledged after
#              fdatasync of the log holding the publish),
#   mosq       mosquitto with persistence on and its default autosave
#              (every 1800 s): publishes nobody subscribes to are dropped,
#              nothing is written while the benchmark runs,
#   mosq-save  mosquitto with persistence on, autosave_interval 1 (the whole
#              in-memory database written and fsynced every second) and an
#              offline persistent session (clean session 0, QoS 1
#              subscription to bench/#, a queue limit of 10^8 messages:
#              0, documented as no limit, makes Mosquitto 2.0.11 refuse
#              incoming QoS 2 with 0x97) opened before and
#              dropped after each scenario, so that Mosquitto keeps every
#              QoS 1/2 publish for a later reader, as Eddy's log does. A
#              crash still loses up to a second of acknowledged publishes.
#
#   tests/bench/mqtt_vs_mosquitto.sh          (or: make bench-mqtt)
#
# Environment: RUNS=5, WINDOW=64, N0=100000 N0_1K=50000 (QoS 0 publishes
# per scenario, 100 B / 1 KiB), N12=20000 N12_1K=10000 (QoS 1 and 2),
# LAT_RATE=1000 N_LAT=5000, SETTLE=1.5, BROKERS="eddy mosq mosq-save",
# BENCH_DIR=build/bench-mqtt (data of all brokers; must be on the disk
# under test), KEEP=1 keeps the data and logs, SCENARIOS="QOS:CONNS:SIZE ..."
# runs only those publish scenarios (e.g. "1:1:100 2:1:100"; default all
# twelve), N_LAT=0 leaves out the latency runs. Needs root for apt-get when
# mosquitto or libpaho-mqtt-dev are missing.
# Prints Markdown tables (the ones in docs/benchmarks.md); progress and the
# raw results go to stderr.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
RUNS="${RUNS:-5}"
WINDOW="${WINDOW:-64}"
N0="${N0:-100000}"
N0_1K="${N0_1K:-50000}"
N12="${N12:-20000}"
N12_1K="${N12_1K:-10000}"
LAT_RATE="${LAT_RATE:-1000}"
N_LAT="${N_LAT:-5000}"
SETTLE="${SETTLE:-1.5}"
BROKER_LIST="${BROKERS:-eddy mosq mosq-save}"
BASE="${BENCH_DIR:-$REPO/build/bench-mqtt}"

say() { printf '%s\n' "$*" >&2; }
die() {
	say "mqtt_vs_mosquitto.sh: $*"
	exit 1
}

# ---- build and peers -------------------------------------------------------
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
[ -f /usr/include/MQTTAsync.h ] || need+=(libpaho-mqtt-dev)
if [ "${#need[@]}" -gt 0 ]; then
	[ "$(id -u)" = 0 ] || die "need root to apt-get install ${need[*]}"
	say "installing ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2
fi
MOSQUITTO="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
# EDDY_BIN=path runs another build of Eddy (e.g. an earlier commit's, to
# compare before and after a change in one session).
make -C "$REPO" -s build/eddy build/bench/mqttperf >&2
EDDY="${EDDY_BIN:-$REPO/build/eddy}"
PERF="$REPO/build/bench/mqttperf"
CTL="$HERE/brokerctl.py"

mkdir -p "$BASE"
WORK="$(mktemp -d "$BASE/run.XXXXXX")"
OUT="$WORK/results"
: >"$OUT"
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
	if [ -n "${KEEP:-}" ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "" }'; }
field() { sed -n "s/\(^\|.* \)$1=\([^ ]*\).*/\2/p"; }
stat_of() { python3 "$CTL" stat "${PID_OF[$1]}"; }
ticks() { stat_of "$1" | field cpu_ticks; }
wbytes() { awk '$1 == "write_bytes:" { print $2 }' "/proc/${PID_OF[$1]}/io"; }
HZ="$(getconf CLK_TCK)"

# ---- the brokers -----------------------------------------------------------
wait_port() { # PORT PID LOG: until PORT accepts connections
	local i
	for i in $(seq 300); do
		alive "$2" || {
			tail -n 20 "$3" >&2
			return 1
		}
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	return 1
}
start_broker() { # BROKER
	local b="$1" port dir="$WORK/$1"
	port="$(free_port)"
	PORT_OF[$b]="$port"
	mkdir -p "$dir/data"
	case "$b" in
	eddy)
		"$EDDY" serve --set "mqtt.listeners=mqtt://127.0.0.1:$port" \
			--set "listeners=PLAINTEXT://127.0.0.1:$(free_port)" \
			--set "http.listeners=http://127.0.0.1:$(free_port)" \
			--set "coap.listeners=coap://127.0.0.1:$(free_port)" \
			--set "log.dirs=$dir/data" >"$dir/broker.log" 2>&1 &
		;;
	mosq | mosq-save)
		{
			echo "listener $port 127.0.0.1"
			echo "allow_anonymous true"
			echo "user $(id -un)"
			echo "persistence true"
			echo "persistence_location $dir/data/"
			echo "log_dest stderr"
			echo "log_type error"
			echo "log_type warning"
			if [ "$b" = mosq-save ]; then
				echo "autosave_interval 1"
				echo "max_queued_messages 100000000"
			fi
		} >"$dir/mosquitto.conf"
		"$MOSQUITTO" -c "$dir/mosquitto.conf" >"$dir/broker.log" 2>&1 &
		;;
	esac
	PID_OF[$b]=$!
	wait_port "$port" "${PID_OF[$b]}" "$dir/broker.log" || die "$b did not start"
}

# ---- the load --------------------------------------------------------------
# measure BROKER KIND KEYS N CMD...: runs CMD (which prints key=value ...)
# and records it with the broker's CPU time and bytes written.
measure() {
	local b="$1" kind="$2" keys="$3" n="$4" t0 t1 w0 w1 res cpu wb
	shift 4
	say "== $b $kind $keys: $n messages"
	if [ "$b" = mosq-save ]; then "$PERF" session -p "${PORT_OF[$b]}" -i bench-keep -f 'bench/#' open >/dev/null; fi
	t0="$(ticks "$b")"
	w0="$(wbytes "$b")"
	if ! res="$(timeout 600 "$@")"; then
		# Left out of the medians, counted in the report.
		echo "F broker=$b kind=$kind $keys " | tee -a "$OUT" >&2
		if [ "$b" = mosq-save ]; then "$PERF" session -p "${PORT_OF[$b]}" -i bench-keep -f 'bench/#' drop >/dev/null; fi
		return 0
	fi
	sleep "$SETTLE"
	t1="$(ticks "$b")"
	w1="$(wbytes "$b")"
	if [ "$b" = mosq-save ]; then "$PERF" session -p "${PORT_OF[$b]}" -i bench-keep -f 'bench/#' drop >/dev/null; fi
	cpu="$(awk -v a="$t0" -v b="$t1" -v hz="$HZ" -v n="$n" 'BEGIN { printf "%.2f", (b - a) / hz / n * 1e6 }')"
	wb="$(awk -v a="$w0" -v b="$w1" -v n="$n" -v s="$SIZE" 'BEGIN { printf "%.3f", (b - a) / (n * s) }')"
	echo "R broker=$b kind=$kind $keys n=$n $res cpu_us=$cpu wb_per_b=$wb " | tee -a "$OUT" >&2
}
n_for() { # QOS SIZE
	case "$1/$2" in
	0/100) echo "$N0" ;;
	0/*) echo "$N0_1K" ;;
	*/100) echo "$N12" ;;
	*) echo "$N12_1K" ;;
	esac
}
order_for() { # RUN: the broker list rotated by RUN
	local -a l=($BROKER_LIST)
	local k=$(($1 % ${#l[@]})) i
	for i in "${!l[@]}"; do printf '%s ' "${l[$(((i + k) % ${#l[@]}))]}"; done
}
SCEN_PUB=()
for qos in 0 1 2; do
	for clients in 1 16; do
		for size in 100 1024; do SCEN_PUB+=("$qos:$clients:$size"); done
	done
done
if [ -n "${SCENARIOS:-}" ]; then
	for s in $SCENARIOS; do
		[[ " ${SCEN_PUB[*]} " == *" $s "* ]] || die "SCENARIOS: no scenario $s (QOS:CONNS:SIZE, e.g. 1:1:100)"
	done
	read -r -a SCEN_PUB <<<"$SCENARIOS"
fi
LAT_QOS="0 1"
[ "$N_LAT" -gt 0 ] || LAT_QOS=

# ---- the run ---------------------------------------------------------------
T_START=$(date +%s)
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
for b in $BROKER_LIST; do
	say "==== $b: start"
	start_broker "$b"
	sleep 1
	echo "I broker=$b $(stat_of "$b") " | tee -a "$OUT" >&2
done
# Idle CPU of each broker over 10 s (all of them idle).
idle_t0=()
for b in $BROKER_LIST; do idle_t0+=("$(ticks "$b")"); done
sleep 10
i=0
for b in $BROKER_LIST; do
	echo "Z broker=$b idle_cpu_pct=$(awk -v a="${idle_t0[$i]}" -v b="$(ticks "$b")" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) / hz / 10 * 100 }') " | tee -a "$OUT" >&2
	i=$((i + 1))
done
# Warm-up (not measured): every topic the runs use exists (Eddy creates a
# Kafka topic on the first publish to it).
for b in $BROKER_LIST; do
	say "==== $b: warm-up"
	for s in "${SCEN_PUB[@]}"; do
		IFS=: read -r qos clients size <<<"$s"
		"$PERF" pub -p "${PORT_OF[$b]}" -q "$qos" -c "$clients" -s "$size" -n $((clients * 20)) \
			-w "$WINDOW" -t "bench/q$qos/s$size/c$clients" >/dev/null
	done
done
for run in $(seq "$RUNS"); do
	say "==== run $run of $RUNS"
	order="$(order_for "$run")"
	for s in "${SCEN_PUB[@]}"; do
		IFS=: read -r qos clients size <<<"$s"
		n="$(n_for "$qos" "$size")"
		SIZE="$size"
		for b in $order; do
			measure "$b" pub "qos=$qos clients=$clients size=$size run=$run" "$n" \
				"$PERF" pub -p "${PORT_OF[$b]}" -q "$qos" -c "$clients" -s "$size" -n "$n" \
				-w "$WINDOW" -t "bench/q$qos/s$size/c$clients"
		done
	done
	for qos in $LAT_QOS; do
		SIZE=100
		for b in $order; do
			measure "$b" lat "qos=$qos clients=1 size=100 run=$run" "$N_LAT" \
				"$PERF" lat -p "${PORT_OF[$b]}" -q "$qos" -s 100 -n "$N_LAT" -r "$LAT_RATE" \
				-w "$WINDOW" -t "bench/lat/q$qos"
		done
	done
done
for b in $BROKER_LIST; do
	echo "P broker=$b $(stat_of "$b") data_mb=$(du -sm "$WORK/$b/data" | cut -f1) " | tee -a "$OUT" >&2
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

echo "Machine: $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n1)), Linux $(uname -r),"
echo "data on $(df -T "$BASE" | awk 'NR == 2 { print $2 }'); Mosquitto $("$MOSQUITTO" -h 2>/dev/null | sed -n 's/^mosquitto version \([^ ]*\).*/\1/p' | head -n1),"
echo "Paho C $(dpkg-query -W -f='${Version}' libpaho-mqtt-dev 2>/dev/null || echo '?') (MQTT 3.1.1, window $WINDOW per connection);"
echo "load average at start $LOAD_START, at end $LOAD_END; $RUNS runs per scenario (medians), whole run $T_TOTAL s;"
echo "failed measurements (left out): $(grep -c '^F ' "$OUT" || true)."
echo
echo "Publish throughput (messages/s; MB/s = 10^6 payload bytes per second):"
echo
echo "| QoS | conns | payload | Eddy msg/s | mosq msg/s | mosq-save msg/s | **Eddy/mosq** | **Eddy/mosq-save** | Eddy MB/s | mosq MB/s | mosq-save MB/s |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for s in "${SCEN_PUB[@]}"; do
	IFS=: read -r qos clients size <<<"$s"
	sel=(kind=pub qos=$qos clients=$clients size=$size)
	e="$(get R rec_s broker=eddy "${sel[@]}")"
	m="$(get R rec_s broker=mosq "${sel[@]}")"
	d="$(get R rec_s broker=mosq-save "${sel[@]}")"
	echo "| $qos | $clients | $size B | $(fmt 0 "$e") | $(fmt 0 "$m") | $(fmt 0 "$d") | **$(ratio "$e" "$m")** | **$(ratio "$e" "$d")** | $(mbs "$e" "$size") | $(mbs "$m" "$size") | $(mbs "$d" "$size") |"
done
echo
echo "Broker CPU time per message (µs, utime + stime) and bytes written per payload byte (write_bytes):"
echo
echo "| QoS | conns | payload | Eddy CPU | mosq CPU | mosq-save CPU | **Eddy/mosq CPU** | Eddy written/B | mosq written/B | mosq-save written/B |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for s in "${SCEN_PUB[@]}"; do
	IFS=: read -r qos clients size <<<"$s"
	sel=(kind=pub qos=$qos clients=$clients size=$size)
	e="$(get R cpu_us broker=eddy "${sel[@]}")"
	m="$(get R cpu_us broker=mosq "${sel[@]}")"
	d="$(get R cpu_us broker=mosq-save "${sel[@]}")"
	echo "| $qos | $clients | $size B | $(fmt 1 "$e") | $(fmt 1 "$m") | $(fmt 1 "$d") | **$(ratio "$e" "$m")** | $(fmt 2 "$(get R wb_per_b broker=eddy "${sel[@]}")") | $(fmt 2 "$(get R wb_per_b broker=mosq "${sel[@]}")") | $(fmt 2 "$(get R wb_per_b broker=mosq-save "${sel[@]}")") |"
done
if [ -n "$LAT_QOS" ]; then
	echo
	echo "Publish to subscriber latency, 1 publisher and 1 subscriber, 100 B at $LAT_RATE msg/s ($N_LAT messages):"
	echo
	echo "| QoS | Eddy p50 / p99 ms | mosq p50 / p99 ms | mosq-save p50 / p99 ms | **Eddy/mosq p50** | **Eddy/mosq p99** | Eddy CPU µs/msg | mosq CPU µs/msg |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
fi
for qos in $LAT_QOS; do
	sel=(kind=lat qos=$qos)
	lat() { echo "$(fmt 2 "$(get R p50_ms broker="$1" "${sel[@]}")") / $(fmt 2 "$(get R p99_ms broker="$1" "${sel[@]}")")"; }
	echo "| $qos | $(lat eddy) | $(lat mosq) | $(lat mosq-save) | **$(ratio "$(get R p50_ms broker=eddy "${sel[@]}")" "$(get R p50_ms broker=mosq "${sel[@]}")")** | **$(ratio "$(get R p99_ms broker=eddy "${sel[@]}")" "$(get R p99_ms broker=mosq "${sel[@]}")")** | $(fmt 1 "$(get R cpu_us broker=eddy "${sel[@]}")") | $(fmt 1 "$(get R cpu_us broker=mosq "${sel[@]}")") |"
done
echo
kib_mb() { awk -v x="$1" 'BEGIN { if (x == "") print "—"; else printf "%.1f", x / 1024 }'; }
echo "| what | Eddy | mosq | mosq-save | Eddy/mosq |"
echo "|---|---:|---:|---:|---:|"
row() { # LABEL EDDY MOSQ MOSQ-SAVE
	echo "| $1 | $2 | $3 | $4 | $(ratio "$2" "$3") |"
}
row "RSS after start-up (MiB)" "$(kib_mb "$(get I vmrss_kb broker=eddy)")" "$(kib_mb "$(get I vmrss_kb broker=mosq)")" "$(kib_mb "$(get I vmrss_kb broker=mosq-save)")"
row "peak RSS over the whole run, VmHWM (MiB)" "$(kib_mb "$(get P vmhwm_kb broker=eddy)")" "$(kib_mb "$(get P vmhwm_kb broker=mosq)")" "$(kib_mb "$(get P vmhwm_kb broker=mosq-save)")"
row "RSS at the end (MiB)" "$(kib_mb "$(get P vmrss_kb broker=eddy)")" "$(kib_mb "$(get P vmrss_kb broker=mosq)")" "$(kib_mb "$(get P vmrss_kb broker=mosq-save)")"
row "CPU while idle (% of one core, 10 s)" "$(get Z idle_cpu_pct broker=eddy)" "$(get Z idle_cpu_pct broker=mosq)" "$(get Z idle_cpu_pct broker=mosq-save)"
echo "| data directory at the end (MB) | $(get P data_mb broker=eddy) | $(get P data_mb broker=mosq) | $(get P data_mb broker=mosq-save) | |"
echo "| threads at the end | $(get P threads broker=eddy) | $(get P threads broker=mosq) | $(get P threads broker=mosq-save) | |"
echo
echo "raw results:" >&2
cat "$OUT" >&2
