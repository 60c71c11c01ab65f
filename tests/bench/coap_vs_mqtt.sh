#!/usr/bin/env bash
# Durable CoAP POSTs against the same readings over MQTT QoS 1, one Eddy,
# one run (about a minute; not a test): 1 and 100 client endpoints, each
# with one request unanswered at a time, as sensors send. CoAP through
# build/bench/coapperf (confirmable POST, 2.04 after the flush), MQTT
# through build/bench/mqttperf (Paho C, QoS 1, window 1, PUBACK after the
# flush). Eddy's CPU time per request comes from /proc/PID/stat. Then
# coap:// against coaps:// (DTLS-PSK) through build/bench/coapsperf
# (libcoap's client on both): 500 sessions connecting (the DTLS handshakes,
# Eddy's CPU per handshake), then durable POSTs over 100 of them.
#   COAP_BENCH_N1 / COAP_BENCH_N100: requests per run (500 / 20000)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
make -C "$REPO" -s build/eddy build/bench/coapperf build/bench/coapsperf build/bench/mqttperf >&2
N1=${COAP_BENCH_N1:-500}
N100=${COAP_BENCH_N100:-20000}
SIZE=64
W=$(mktemp -d /tmp/eddy-coap-bench-XXXXXX)
printf 'bench-sensor:bench-key-0123456789\n' >"$W/psk"
chmod 600 "$W/psk"
"$REPO/build/eddy" serve --port-file "$W/ports" --set "log.dirs=$W/data" \
	--set listeners=PLAINTEXT://127.0.0.1:0 --set mqtt.listeners=mqtt://127.0.0.1:0 \
	--set coap.listeners=coap://127.0.0.1:0,coaps://127.0.0.1:0 --set "coap.psk.file=$W/psk" \
	--set coap.max.pending=100000 --set http.listeners= >"$W/eddy.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$W"' EXIT
for _ in $(seq 100); do [ -s "$W/ports" ] && break; sleep 0.1; done
CP=$(sed -n 's/^coap=.*://p' "$W/ports")
SP=$(sed -n 's/^coaps=.*://p' "$W/ports")
MP=$(sed -n 's/^mqtt=.*://p' "$W/ports")
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
HZ=$(getconf CLK_TCK)
run() { # name n command...
	local name=$1 n=$2
	shift 2
	local t0 out t1
	t0=$(ticks)
	out=$("$@")
	t1=$(ticks)
	echo "$name $out eddy_cpu_us_per_req=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="$n" 'BEGIN{printf "%.1f", d / hz * 1e6 / n}')"
}
run "coap-1" "$N1" "$REPO/build/bench/coapperf" -p "$CP" -n "$N1" -s $SIZE -c 1 -t bench1
run "mqtt-1" "$N1" "$REPO/build/bench/mqttperf" pub -p "$MP" -q 1 -n "$N1" -s $SIZE -c 1 -w 1 -t bench/m1
run "coap-100" "$N100" "$REPO/build/bench/coapperf" -p "$CP" -n "$N100" -s $SIZE -c 100 -t bench100
run "mqtt-100" "$N100" "$REPO/build/bench/mqttperf" pub -p "$MP" -q 1 -n "$N100" -s $SIZE -c 100 -w 1 -t bench/m100
PSK=(-u bench-sensor -k bench-key-0123456789)
run "coaps-handshakes-500" 500 "$REPO/build/bench/coapsperf" -p "$SP" -n 0 -c 500 -H "${PSK[@]}"
run "coap-lib-100" "$N100" "$REPO/build/bench/coapsperf" -p "$CP" -n "$N100" -s $SIZE -c 100 -t lib100
run "coaps-100" "$N100" "$REPO/build/bench/coapsperf" -p "$SP" -n "$N100" -s $SIZE -c 100 -t dtls100 "${PSK[@]}"
