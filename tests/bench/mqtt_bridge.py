#!/usr/bin/env python3
"""Throughput of the MQTT pull bridge (not a test). A Mosquitto (persistence
on) holds N queued QoS 1 messages of SIZE bytes for Eddy's persistent
session; Eddy starts and the clock runs until all N are in its log (end
offset). Compared with paho-mqtt publishing the same N straight into Eddy's
MQTT listener with a window of 64, and with the bridge's window at 1 (one
message per flush, what a client that acknowledges before storing must do
to wait for the disk). Prints messages/s and messages per fdatasync.
Usage: mqtt_bridge.py EDDY_BIN [N] [SIZE]
Run with the peers venv's python (tests/peers/install.sh)."""
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from confluent_kafka import Consumer, TopicPartition

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mqtt_paho  # noqa: E402

HOST = "127.0.0.1"


def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, proc, what):
    for _ in range(300):
        if proc.poll() is not None:
            sys.exit(f"{what} exited")
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not start")


def publish(port, n, size, window):
    return mqtt_paho.run(HOST, port, 1, n, size, window, topic="bench/x")[1]


class Eddy:
    def __init__(self, exe, d, extra):
        self.kport, self.mport, self.hport = free_port(), free_port(), free_port()
        self.cmd = [exe, "serve", "--set", f"log.dirs={d}/data", "--set", f"listeners=PLAINTEXT://{HOST}:{self.kport}",
                    "--set", f"mqtt.listeners=mqtt://{HOST}:{self.mport}", "--set", "coap.listeners=",
                    "--set", f"http.listeners=http://{HOST}:{self.hport}"]
        for k, v in extra.items():
            self.cmd += ["--set", f"{k}={v}"]
        self.log = open(f"{d}/eddy.log", "ab")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.kport, self.proc, "eddy")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)

    def flushes(self):
        page = urllib.request.urlopen(f"http://{HOST}:{self.hport}/metrics").read().decode()
        return int(re.search(r"^eddy_flushes_total (\d+)", page, re.M).group(1))

    def end_offset(self, topic):
        c = Consumer({"bootstrap.servers": f"{HOST}:{self.kport}", "group.id": "bench"})
        try:
            return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=5)[1]
        except Exception:
            return 0
        finally:
            c.close()


def bridge_run(exe, n, size, protocol, inflight):
    d = tempfile.mkdtemp(prefix="bridge-bench-")
    try:
        mport = free_port()
        with open(f"{d}/mosquitto.conf", "w") as f:
            f.write(f"listener {mport} {HOST}\nallow_anonymous true\nuser {pwd.getpwuid(os.getuid()).pw_name}\npersistence true\n"
                    f"persistence_location {d}/\nmax_inflight_messages 1000\nmax_queued_messages {n * 2}\n")
        mosq = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", f"{d}/mosquitto.conf"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(mport, mosq, "mosquitto")
        e = Eddy(exe, d, {"mqtt.bridge.b.address": f"{HOST}:{mport}", "mqtt.bridge.b.topics": "bench/#:1",
                          "mqtt.bridge.b.protocol": protocol, "mqtt.bridge.b.max.inflight": inflight,
                          "mqtt.routes": "bench/#=>bench"})
        e.start()  # makes the session at the source
        time.sleep(1)
        e.stop()
        publish(mport, n, size, 100)  # queued for the session
        e.start()
        f0 = e.flushes()
        t0 = time.perf_counter()
        while e.end_offset("bench") < n:
            time.sleep(0.05)
        dt = time.perf_counter() - t0
        fl = e.flushes() - f0
        e.stop()
        mosq.send_signal(signal.SIGTERM)
        mosq.wait(30)
        return n, dt, fl
    finally:
        shutil.rmtree(d, ignore_errors=True)


def direct_run(exe, n, size):
    d = tempfile.mkdtemp(prefix="bridge-bench-")
    try:
        e = Eddy(exe, d, {"mqtt.routes": "bench/#=>bench"})
        e.start()
        f0 = e.flushes()
        dt = publish(e.mport, n, size, 64)
        fl = e.flushes() - f0
        e.stop()
        return n, dt, fl
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    exe = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    runs = [("direct, paho MQTT 5, window 64", lambda: direct_run(exe, n, size))]
    for proto, w, m in (("5", "256", n), ("3.1.1", "256", n), ("5", "1", n // 10)):
        runs.append((f"bridge, MQTT {proto}, max.inflight {w}",
                     lambda p=proto, w=w, m=m: bridge_run(exe, m, size, p, w)))
    for name, fn in runs:
        m, dt, fl = fn()
        print(f"{name}: {m} msgs in {dt:.2f} s = {m / dt:,.0f} msg/s, {fl} flushes ({m / max(fl, 1):.1f} msgs/flush)")


if __name__ == "__main__":
    main()
