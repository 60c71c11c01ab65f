#!/usr/bin/env python3
"""Flash wear at everyday loads (tests/bench/flash.sh runs it; not a test).

Starts build/eddy on free loopback ports with a fresh data folder (under
strace, which counts the broker's fdatasync calls and stops only on them),
then runs, one after the other:

  sensors   16 MQTT clients (paho-mqtt, 3.1.1) each publishing one JSON
            reading of about 70 B 100 times a second at QoS 1 to
            sensors/turbine-NN/reading, routed to one Kafka topic
            (mqtt.routes sensors/#=>sensors); the readings are the rows of
            tests/data/wind-turbine-scada-T1.csv.
  kafka1k   librdkafka producers (build/bench/rdkperf) sending 1 KiB records
            with acks=all, linger.ms=0, 1,000 records/s in total.

For each load: bytes the broker caused to be written (/proc/PID/io
write_bytes: page-cache pages dirtied) per payload byte, the segment bytes
stored per payload byte (the rest of what was written is pages written
again by later syncs, indexes and checkpoints), fdatasync calls per
second, and the durable-acknowledgement latency (publish to PUBACK, produce
to delivery report) p50/p99, over the whole load plus SETTLE seconds.

Usage: flash.py [--seconds S] [--set KEY=VALUE ...] [--loads sensors,kafka1k]
Output: one Markdown table row per load on stdout; progress on stderr.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CSV = os.path.join(REPO, "tests", "data", "wind-turbine-scada-T1.csv")
SENSORS = 16
RATE = 100  # per sensor, messages/s


def say(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_bytes(pid):
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    raise RuntimeError("no write_bytes")


def readings():
    """The CSV rows as JSON readings of about 70 bytes."""
    out = []
    with open(CSV, "rb") as f:
        next(f)
        for line in f:
            p = line.decode("ascii", "replace").strip().split(",")
            if len(p) < 5:
                continue
            out.append(json.dumps({"t": p[0], "kW": round(float(p[1]), 2),
                                   "ws": round(float(p[2]), 2),
                                   "tp": round(float(p[3]), 1),
                                   "dir": round(float(p[4]), 1)},
                                  separators=(",", ":")).encode())
    return out


def pct(sorted_ms, p):
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * p / 100))]


class Broker:
    def __init__(self, sets, base):
        self.dir = tempfile.mkdtemp(prefix="flash-", dir=base)
        self.kport = free_port()
        self.mport = free_port()
        self.trace = os.path.join(self.dir, "fsync.trace")
        args = [os.path.join(REPO, "build", "eddy"), "serve",
                "--set", f"log.dirs={self.dir}/data",
                "--set", f"listeners=PLAINTEXT://127.0.0.1:{self.kport}",
                "--set", f"mqtt.listeners=mqtt://127.0.0.1:{self.mport}",
                "--set", "mqtt.routes=sensors/#=>sensors"]
        for s in sets:
            args += ["--set", s]
        cmd = ["strace", "-f", "-qq", "-ttt", "--seccomp-bpf", "-e", "trace=fdatasync,fsync",
               "-e", "signal=none", "-o", self.trace] + args
        self.log = open(os.path.join(self.dir, "eddy.log"), "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.mport), 0.2).close()
                socket.create_connection(("127.0.0.1", self.kport), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("eddy did not start; see " + self.log.name)
        self.pid = self.eddy_pid()

    def eddy_pid(self):
        # strace's child: the broker itself.
        kids = open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read().split()
        return int(kids[0])

    def syncs(self, t0, t1):
        """fdatasync/fsync calls begun between wall times t0 and t1 (read
        once the broker stopped: strace buffers its output)."""
        n = 0
        with open(self.trace) as f:
            for line in f:
                m = re.match(r"\d+\s+(\d+\.\d+) (fdatasync|fsync)\(", line)
                if m and t0 <= float(m.group(1)) <= t1:
                    n += 1
        return n

    def stop(self):
        # The broker itself: strace would detach and leave it running.
        os.kill(self.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def measure(b, settle, fn):
    w0, t0 = write_bytes(b.pid), time.time()
    payload, lat = fn()
    time.sleep(settle)
    w1, t1 = write_bytes(b.pid), time.time()
    lat.sort()
    return {"payload": payload, "written": w1 - w0, "t0": t0, "t1": t1,
            "p50": pct(lat, 50), "p99": pct(lat, 99), "n": len(lat)}


def sensors_load(b, seconds):
    rows = readings()
    clients, sent, lat, lock = [], [], [], threading.Lock()
    for i in range(SENSORS):
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"turbine-{i:02d}",
                        protocol=mqtt.MQTTv311)
        c.max_inflight_messages_set(1000)
        c.max_queued_messages_set(0)
        pending = {}

        def on_publish(client, userdata, mid, reason, props, pending=pending):
            now = time.monotonic()
            with lock:
                t = pending.pop(mid, None)
                if t is None:
                    pending[mid] = -now  # acknowledged before it was listed
                else:
                    lat.append((now - t) * 1000)

        c.on_publish = on_publish
        c.connect("127.0.0.1", b.mport)
        c.loop_start()
        clients.append((c, pending))
    time.sleep(0.5)
    n = int(seconds * RATE)
    payload = 0
    t0 = time.monotonic()
    for k in range(n):
        for i, (c, pending) in enumerate(clients):
            # The sensors are independent: their readings spread over the period.
            d = t0 + (k + i / SENSORS) / RATE - time.monotonic()
            if d > 0:
                time.sleep(d)
            body = rows[(k * SENSORS + i) % len(rows)]
            t = time.monotonic()
            info = c.publish(f"sensors/turbine-{i:02d}/reading", body, qos=1)
            with lock:
                acked = pending.pop(info.mid, None)
                if acked is None:
                    pending[info.mid] = t
                else:
                    lat.append((-acked - t) * 1000)
            payload += len(body)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        with lock:
            if all(not p for _, p in clients):
                break
        time.sleep(0.05)
    for c, _ in clients:
        c.disconnect()
    for c, _ in clients:
        c.loop_stop()
    if len(lat) != n * SENSORS:
        say(f"sensors: {n * SENSORS - len(lat)} publishes not acknowledged")
    return payload, lat


def kafka1k_load(b, seconds):
    perf = os.path.join(REPO, "build", "bench", "rdkperf")
    n = int(seconds * 1000)
    bs = f"127.0.0.1:{b.kport}"
    subprocess.run([perf, "create", "-b", bs, "-t", "k1k", "-n", "1"], check=True,
                   stdout=subprocess.DEVNULL)
    out = subprocess.run([perf, "produce", "-b", bs, "-t", "k1k", "-n", str(n), "-s", "1024",
                          "-a", "all", "-p", "4", "-r", "1000", "-X", "linger.ms=0"],
                         check=True, capture_output=True, text=True).stdout
    kv = dict(re.findall(r"(\w+)=([-\d.]+)", out))
    # rdkperf reports percentiles only: hand them back as a two-point list.
    return n * 1024, [float(kv["p50_ms"])] * 50 + [float(kv["p99_ms"])] * 49 + [float(kv["max_ms"])]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--settle", type=float, default=1.5)
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--loads", default="sensors,kafka1k")
    ap.add_argument("--label", default="defaults")
    ap.add_argument("--base", default=os.path.join(REPO, "build"))
    a = ap.parse_args()
    os.makedirs(a.base, exist_ok=True)
    loads = {"sensors": ("16 sensors x 100 msg/s, ~70 B JSON, MQTT QoS 1", sensors_load),
             "kafka1k": ("1 KiB records, acks=all, 1,000 rec/s, 4 librdkafka producers",
                         kafka1k_load)}
    for name in a.loads.split(","):
        what, fn = loads[name]
        b = Broker(a.set, a.base)
        try:
            say(f"{name} ({a.label}): {a.seconds:.0f} s")
            r = measure(b, a.settle, lambda: fn(b, a.seconds))
        finally:
            b.stop()
        r["syncs_s"] = b.syncs(r["t0"], r["t1"]) / (r["t1"] - r["t0"])
        r["stored"] = sum(os.path.getsize(os.path.join(d, f))
                          for d, _, fs in os.walk(os.path.join(b.dir, "data"))
                          for f in fs if f.endswith(".log"))
        shutil.rmtree(b.dir, ignore_errors=True)
        print(f"| {what} | {a.label} | {r['payload'] / 1e3 / a.seconds:.1f} | "
              f"{r['written'] / 1e3 / a.seconds:.1f} | {r['stored'] / r['payload']:.2f} | "
              f"**{r['written'] / r['payload']:.2f}** | "
              f"{r['syncs_s']:.1f} | {r['p50']:.1f} / {r['p99']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
