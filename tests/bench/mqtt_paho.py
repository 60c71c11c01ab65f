#!/usr/bin/env python3
"""MQTT publish throughput into Eddy's log, measured with paho-mqtt (not a
test): N publishes of SIZE bytes at QoS 0, 1 and 2 with up to INFLIGHT
unacknowledged, spread over TOPICS (env, default 16) MQTT topics; the time
until the last acknowledgement (QoS 0: until the last was written).
Usage: mqtt_paho.py HOST MQTT_PORT [N] [SIZE] [INFLIGHT]
Run with the peers venv's python (tests/peers/install.sh)."""
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


TOPICS = int(__import__("os").environ.get("TOPICS", "16"))


def run(host, port, qos, n, size, inflight, topic=None):
    """Publishes n messages (to topic, or spread over TOPICS topics) and
    returns (acknowledged, seconds)."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-q{qos}", protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(inflight)
    c.max_queued_messages_set(0)
    done = threading.Event()
    acked = [0]

    def on_publish(client, userdata, mid, reason, props):
        acked[0] += 1
        if acked[0] == n:
            done.set()

    c.on_publish = on_publish
    c.connect(host, port)
    c.loop_start()
    payload = b"x" * size
    t0 = time.perf_counter()
    for i in range(n):
        c.publish(topic or f"bench/q{qos}/sensor-{i % TOPICS}", payload, qos=qos)
    done.wait(300)
    dt = time.perf_counter() - t0
    c.disconnect()
    c.loop_stop()
    return acked[0], dt


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
    size = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    inflight = int(sys.argv[5]) if len(sys.argv) > 5 else 64
    for qos in (0, 1, 2):
        got, dt = run(host, port, qos, n, size, inflight)
        print(f"QoS {qos}: {got}/{n} publishes of {size} B in {dt:.2f} s = {got / dt:,.0f} msg/s (inflight {inflight})")


if __name__ == "__main__":
    main()
