#!/usr/bin/env python3
"""Flash wear at everyday loads, Eddy side by side with Mosquitto and Apache
Kafka (tests/bench/flash.sh runs it; not a test).

Brokers (--brokers), each on free loopback ports with a fresh data folder
under --base:

  eddy          build/eddy serve, defaults plus --set (acknowledged = on
                flash); run under strace, which counts fdatasync/fsync calls
                and stops the broker only on them.
  mosq          Mosquitto with persistence true and its default autosave
                (every 1800 s and at shutdown), also under strace. A publish
                nobody subscribes to is dropped, so it stores nothing.
  mosq-save     Mosquitto with persistence true, autosave_interval 1 and an
                offline persistent session (clean session 0, '#' at QoS 1,
                max_queued_messages 10^8) opened before the load, so that it
                keeps every publish as Eddy's log does; every second the whole
                in-memory database is written and synced.
  kafka         Apache Kafka (tests/peers/kafka-broker.sh, KRaft, its small
                test heap) at its defaults: the log in the page cache, written
                back by the kernel; an acks=all answer does not wait for disk.
  kafka-flush1  the same with log.flush.interval.messages=1: every append is
                fsynced before the answer, Eddy's promise.

Loads (--loads); the MQTT ones run against eddy and Mosquitto, the Kafka
ones against eddy and Kafka:

  sensors    16 MQTT 3.1.1 clients (paho-mqtt), each publishing a JSON reading
             of about 70 B (the rows of tests/data/wind-turbine-scada-T1.csv)
             100 times a second at QoS 1 to sensors/turbine-NN/reading; Eddy
             routes them to one topic (mqtt.routes sensors/#=>sensors).
  mqtt1k     4 MQTT clients, 250 publishes/s each, 1 KiB of random bytes
             (incompressible), QoS 1, to bench/c-N.
  ksensors   the sensors' readings through 16 librdkafka producers
             (confluent-kafka), key turbine-NN, acks=all, linger.ms=0.
  kafka1k    librdkafka producers (build/bench/rdkperf) sending 1 KiB records
             with acks=all, linger.ms=0, 1,000 records/s in total.
  turbines   the turbine recording's CSV lines (without line ends) as MQTT
             QoS 1 publishes, 16 clients x 100 lines/s, turbines/tNN/scada,
             routed to one topic (turbines/#=>turbines).
  kturbines  the same lines through 16 librdkafka producers, key tNN,
             acks=all, compression.type=zstd, linger.ms=0.

For each load: bytes the broker process caused to be written (/proc/PID/io
write_bytes: page-cache pages dirtied; for Kafka the whole JVM, its own logs
included) per payload byte acknowledged (MQTT payload, Kafka key + value;
a broker that falls behind is charged only for what it answered within 30 s
after the load, and the table says how many were left), the bytes
stored at the end per payload byte (segment .log files; Mosquitto: its
database file), fdatasync+fsync calls per second (not counted for Kafka),
and the acknowledgement latency (publish to PUBACK, produce to delivery
report) p50/p99, over the load plus --settle seconds. With --runs N each
figure is the median over N runs; the broker order rotates every run.

--sd (or EDDY_BENCH_SD=1; root) puts the brokers' data on the SD-card-like
device of tests/bench/sdcard.py, runs sensors, kafka1k and kturbines against
eddy, mosq-save and kafka-flush1 unless told otherwise, and adds two
columns: the loop device's own sectors written per payload byte, and
whether each broker kept up (its unanswered publishes grew by at most 5 %
of the second half's between half time and the end of the load).

--compact KEYS:LINES:PASSES,... measures compaction's writes instead (see
compaction()); FLASH_DEBUG=1 then keeps the broker's folder and prints the
segment files before and after.

Usage: flash.py [--seconds S] [--runs N] [--brokers ...] [--loads ...]
                [--set KEY=VALUE ...] [--label L] [--compact SPEC]
                [--sd [--sd-dio on|off]]
Output: Markdown tables on stdout; progress on stderr.
"""
import argparse
import json
import os
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CSV = os.path.join(REPO, "tests", "data", "wind-turbine-scada-T1.csv")
PEERS = os.path.join(REPO, "tests", "peers")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
CLIENTS = 16
RATE = 100  # per client, messages/s
SD = None  # the SD-card-like device (--sd), sdcard.SdCard


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


def csv_rows():
    """The recording's data lines (no header, no line end), as bytes."""
    with open(CSV, "rb") as f:
        next(f)
        return [line.rstrip(b"\r\n") for line in f if line.count(b",") >= 4]


def readings():
    """The CSV rows as JSON readings of about 70 bytes."""
    out = []
    for line in csv_rows():
        p = line.decode("ascii", "replace").split(",")
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


def wait_ports(ports, proc, log):
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("broker exited at start; see " + log)
        try:
            for p in ports:
                socket.create_connection(("127.0.0.1", p), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("broker did not start; see " + log)


def dir_bytes(d, match):
    return sum(os.path.getsize(os.path.join(r, f))
               for r, _, fs in os.walk(d) for f in fs if match(r, f))


class Traced:
    """A broker started under strace: counts its fdatasync/fsync calls."""

    def start_traced(self, args, ports):
        self.trace = os.path.join(self.dir, "fsync.trace")
        cmd = ["strace", "-f", "-qq", "-ttt", "--seccomp-bpf", "-e", "trace=fdatasync,fsync",
               "-e", "signal=none", "-o", self.trace] + args
        self.logf = open(os.path.join(self.dir, "broker.log"), "w")
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT)
        wait_ports(ports, self.proc, self.logf.name)
        # strace's child: the broker itself.
        kids = open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read().split()
        self.pid = int(kids[0])

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
        self.logf.close()


class Eddy(Traced):
    name, protos, per_load = "eddy", ("mqtt", "kafka"), True

    def __init__(self, base, sets):
        self.dir = tempfile.mkdtemp(prefix="flash-eddy-", dir=base)
        self.kport, self.mport = free_port(), free_port()
        args = [os.path.join(REPO, "build", "eddy"), "serve",
                "--set", f"log.dirs={self.dir}/data",
                "--set", f"listeners=PLAINTEXT://127.0.0.1:{self.kport}",
                "--set", f"mqtt.listeners=mqtt://127.0.0.1:{self.mport}",
                "--set", "mqtt.routes=sensors/#=>sensors;turbines/#=>turbines;bench/#=>bench"]
        for s in sets:
            args += ["--set", s]
        self.start_traced(args, [self.kport, self.mport])

    def stored(self, topic):
        return dir_bytes(os.path.join(self.dir, "data"),
                         lambda r, f: os.path.basename(r).startswith(topic + "-")
                         and f.endswith(".log"))


class Mosquitto(Traced):
    protos, per_load = ("mqtt",), True

    def __init__(self, base, save):
        self.name = "mosq-save" if save else "mosq"
        self.dir = tempfile.mkdtemp(prefix=f"flash-{self.name}-", dir=base)
        self.mport = free_port()
        os.makedirs(os.path.join(self.dir, "data"))
        conf = os.path.join(self.dir, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"listener {self.mport} 127.0.0.1\nallow_anonymous true\n"
                    f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
                    f"persistence true\npersistence_location {self.dir}/data/\n"
                    "log_dest stderr\nlog_type error\nlog_type warning\n")
            if save:
                # 0 ("no limit") makes 2.0.11 refuse QoS 2: a large limit instead.
                f.write("autosave_interval 1\nmax_queued_messages 100000000\n")
        self.start_traced([MOSQUITTO, "-c", conf], [self.mport])
        if save:
            self.keep_session()

    def keep_session(self):
        """An offline persistent session subscribed to everything at QoS 1."""
        done = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="flash-keep",
                        clean_session=False, protocol=mqtt.MQTTv311)
        c.on_subscribe = lambda *a: done.set()
        c.connect("127.0.0.1", self.mport)
        c.loop_start()
        c.subscribe("#", qos=1)
        if not done.wait(10):
            raise RuntimeError("mosquitto: no SUBACK")
        c.disconnect()
        c.loop_stop()

    def stored(self, topic):
        return dir_bytes(os.path.join(self.dir, "data"), lambda r, f: f.endswith(".db"))


class Kafka:
    protos, per_load = ("kafka",), False

    def __init__(self, base, flush1):
        self.name = "kafka-flush1" if flush1 else "kafka"
        self.dir = tempfile.mkdtemp(prefix=f"flash-{self.name}-", dir=base)
        extra = ["log.flush.interval.messages=1"] if flush1 else []
        subprocess.run([os.path.join(PEERS, "kafka-broker.sh"), "start", self.dir, "0", "3.9"]
                       + extra, check=True, stdout=sys.stderr)
        self.kport = int(open(os.path.join(self.dir, "kafka.port")).read())
        self.pid = self.java_pid(int(open(os.path.join(self.dir, "kafka.pid")).read()))

    @staticmethod
    def java_pid(pid):
        # kafka.sh may run the JVM as a child rather than exec it.
        for _ in range(10):
            if os.path.basename(os.readlink(f"/proc/{pid}/exe")) == "java":
                return pid
            kids = open(f"/proc/{pid}/task/{pid}/children").read().split()
            if not kids:
                break
            pid = int(kids[0])
        raise RuntimeError("no JVM under the Kafka broker's pid")

    def syncs(self, t0, t1):
        return None

    def stored(self, topic):
        return dir_bytes(os.path.join(self.dir, "data"),
                         lambda r, f: os.path.basename(r).startswith(topic + "-")
                         and f.endswith(".log"))

    def stop(self):
        subprocess.run([os.path.join(PEERS, "kafka-broker.sh"), "stop", self.dir],
                       check=False, stdout=sys.stderr)


def mqtt_load(b, seconds, topic_of, bodies, n_clients=CLIENTS, rate=RATE):
    clients, lat, lock, acked = [], [], threading.Lock(), [0]
    for i in range(n_clients):
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"flash-{i:02d}",
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
                    lat.append((now - t[0]) * 1000)
                    acked[0] += t[1]

        c.on_publish = on_publish
        c.connect("127.0.0.1", b.mport)
        c.loop_start()
        clients.append((c, pending))
    time.sleep(0.5)
    n = int(seconds * rate)
    payload = 0
    backlog = Backlog(n * n_clients, lambda: len(lat), lock)
    t0 = time.monotonic()
    for k in range(n):
        backlog.sample(k * n_clients)
        for i, (c, pending) in enumerate(clients):
            # The sensors are independent: their messages spread over the period.
            d = t0 + (k + i / n_clients) / rate - time.monotonic()
            if d > 0:
                time.sleep(d)
            body = bodies(k * n_clients + i)
            t = time.monotonic()
            info = c.publish(topic_of(i), body, qos=1)
            with lock:
                early = pending.pop(info.mid, None)
                if early is None:
                    pending[info.mid] = (t, len(body))
                else:
                    lat.append((-early - t) * 1000)
                    acked[0] += len(body)
            payload += len(body)
    backlog.sample(n * n_clients)
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
    if len(lat) != n * n_clients:
        say(f"{b.name}: {n * n_clients - len(lat)} publishes not acknowledged")
    return acked[0], lat, n * n_clients - len(lat), backlog.verdict()


class Backlog:
    """Sustained or not: publishes sent but not yet acknowledged, at the
    load's half time and at its end. A broker that keeps up answers the
    second half as fast as it was sent (the backlog grows by at most 5 % of
    that half); one that falls behind piles up the difference."""

    def __init__(self, total, acked, lock=None):
        self.total, self.acked, self.lock = total, acked, lock or threading.Lock()
        self.at = {}

    def sample(self, sent):
        at = "end" if sent >= self.total else "mid" if sent >= self.total // 2 else None
        if at and at not in self.at:
            with self.lock:
                self.at[at] = (sent, sent - self.acked())

    def verdict(self):
        (s_mid, mid), (s_end, end) = self.at["mid"], self.at["end"]
        ok = end - mid <= 0.05 * (s_end - s_mid)
        return ok, f"unanswered {mid} at half time, {end} at the end"


def create_topic(b, topic):
    perf = os.path.join(REPO, "build", "bench", "rdkperf")
    subprocess.run([perf, "create", "-b", f"127.0.0.1:{b.kport}", "-t", topic, "-n", "1"],
                   check=True, stdout=subprocess.DEVNULL)


def kafka_load(b, seconds, topic, key_of, bodies, conf=None, n_clients=CLIENTS, rate=RATE,
               create=True):
    from confluent_kafka import Producer
    if create:
        create_topic(b, topic)
    lat, errors, acked = [], [], [0]
    prods = [Producer({"bootstrap.servers": f"127.0.0.1:{b.kport}", "acks": "all",
                       "linger.ms": 0, **(conf or {})}) for _ in range(n_clients)]
    time.sleep(0.5)
    n = int(seconds * rate)
    payload = 0
    backlog = Backlog(n * n_clients, lambda: len(lat))
    waiting = [0] * n_clients  # records produced and not yet reported, per producer

    def wait_until(deadline):
        # A delivery report is timed when poll() serves it: keep polling
        # the producers that wait for one (every 2 ms) instead of sleeping.
        while True:
            for j, q in enumerate(prods):
                if waiting[j]:
                    q.poll(0)
            d = deadline - time.monotonic()
            if d <= 0:
                return
            time.sleep(min(d, 0.002))

    t0 = time.monotonic()
    for k in range(n):
        backlog.sample(k * n_clients)
        for i, p in enumerate(prods):
            wait_until(t0 + (k + i / n_clients) / rate)
            key, body = key_of(i), bodies(k * n_clients + i)
            t = time.monotonic()

            def done(err, msg, t=t, i=i, n=len(key) + len(body)):
                waiting[i] -= 1
                if err:
                    errors.append(err)
                else:
                    lat.append((time.monotonic() - t) * 1000)
                    acked[0] += n

            waiting[i] += 1
            p.produce(topic, body, key, on_delivery=done)
            p.poll(0)
    wait_until(time.monotonic())
    backlog.sample(n * n_clients)
    for p in prods:
        p.flush(30)
    if errors or len(lat) != n * n_clients:
        say(f"{b.name}: {n * n_clients - len(lat)} records not delivered ({errors[:1]})")
    return acked[0], lat, n * n_clients - len(lat), backlog.verdict()


def kafka1k_load(b, seconds):
    perf = os.path.join(REPO, "build", "bench", "rdkperf")
    n = int(seconds * 1000)
    create_topic(b, "k1k")
    out = subprocess.run([perf, "produce", "-b", f"127.0.0.1:{b.kport}", "-t", "k1k",
                          "-n", str(n), "-s", "1024", "-a", "all", "-p", "4", "-r", "1000",
                          "-X", "linger.ms=0"],
                         check=True, capture_output=True, text=True).stdout
    kv = dict(re.findall(r"(\w+)=([-\d.]+)", out))
    # rdkperf reports percentiles only: hand them back as a two-point list.
    # It paces itself at 1,000/s: a broker that keeps up lets it finish on
    # time, one that falls behind stretches the run.
    took = float(kv["seconds"])
    return (n * 1024, [float(kv["p50_ms"])] * 50 + [float(kv["p99_ms"])] * 49 + [float(kv["max_ms"])],
            0, (took <= seconds * 1.05 + 1, f"{took:.1f} s for {seconds:.0f} s of load"))


def loads_table():
    js, rows = readings(), csv_rows()
    rnd = [os.urandom(1024) for _ in range(997)]
    return {
        "sensors": ("mqtt", "sensors", "16 sensors x 100 msg/s, ~70 B JSON, MQTT QoS 1",
                    lambda b, s: mqtt_load(b, s, lambda i: f"sensors/turbine-{i:02d}/reading",
                                           lambda j: js[j % len(js)])),
        "mqtt1k": ("mqtt", "bench", "4 clients x 250 msg/s, 1 KiB random, MQTT QoS 1",
                   lambda b, s: mqtt_load(b, s, lambda i: f"bench/c-{i}",
                                          lambda j: rnd[j % len(rnd)], 4, 250)),
        "ksensors": ("kafka", "ksensors",
                     "16 producers x 100 rec/s, ~70 B JSON + key, acks=all",
                     lambda b, s: kafka_load(b, s, "ksensors",
                                             lambda i: f"turbine-{i:02d}".encode(),
                                             lambda j: js[j % len(js)])),
        "kafka1k": ("kafka", "k1k", "1 KiB records, acks=all, 1,000 rec/s, 4 librdkafka producers",
                    kafka1k_load),
        "turbines": ("mqtt", "turbines", "turbine CSV lines, 16 x 100 msg/s, MQTT QoS 1",
                     lambda b, s: mqtt_load(b, s, lambda i: f"turbines/t{i:02d}/scada",
                                            lambda j: rows[j % len(rows)])),
        "kturbines": ("kafka", "kturbines",
                      "turbine CSV lines, 16 producers x 100 rec/s, zstd, acks=all",
                      lambda b, s: kafka_load(b, s, "kturbines",
                                              lambda i: f"t{i:02d}".encode(),
                                              lambda j: rows[j % len(rows)],
                                              {"compression.type": "zstd"})),
    }


def make(name, base, sets):
    if name == "eddy":
        return Eddy(base, sets)
    if name in ("mosq", "mosq-save"):
        return Mosquitto(base, name == "mosq-save")
    if name in ("kafka", "kafka-flush1"):
        return Kafka(base, name == "kafka-flush1")
    raise SystemExit(f"flash.py: unknown broker {name}")


def measure(b, settle, seconds, load):
    proto, topic, _, fn = load
    d0 = SD.stat()["write_bytes"] if SD else 0
    w0, t0 = write_bytes(b.pid), time.time()
    payload, lat, missing, (sustained, why) = fn(b, seconds)
    time.sleep(settle)
    w1, t1 = write_bytes(b.pid), time.time()
    d1 = SD.stat()["write_bytes"] if SD else 0
    lat.sort()
    if not sustained:
        say(f"{b.name}: not sustained: {why}")
    return {"payload": payload, "written": w1 - w0, "t0": t0, "t1": t1, "missing": missing,
            "p50": pct(lat, 50), "p99": pct(lat, 99), "topic": topic,
            "device": d1 - d0, "sustained": sustained, "why": why}


def finish(b, r):
    """Figures read once the broker stopped (strace's output, final files)."""
    n = b.syncs(r["t0"], r["t1"])
    r["syncs_s"] = None if n is None else n / (r["t1"] - r["t0"])
    r["stored"] = b.stored(r["topic"])


def run_once(a, loads, brokers, out):
    for bname in brokers:
        mine = [ln for ln in loads if loads[ln][0] in make_protos(bname)]
        if not mine:
            continue
        if bname.startswith("kafka"):
            b = make(bname, a.base, a.set)
            got = []
            try:
                for ln in mine:
                    say(f"{ln} on {bname}: {a.seconds:.0f} s")
                    got.append((ln, measure(b, a.settle, a.seconds, loads[ln])))
            finally:
                b.stop()
            for ln, r in got:
                finish(b, r)
                out.setdefault((ln, bname), []).append(r)
            shutil.rmtree(b.dir, ignore_errors=True)
            continue
        for ln in mine:
            b = make(bname, a.base, a.set)
            try:
                say(f"{ln} on {bname}: {a.seconds:.0f} s")
                r = measure(b, a.settle, a.seconds, loads[ln])
            finally:
                b.stop()
            finish(b, r)
            out.setdefault((ln, bname), []).append(r)
            shutil.rmtree(b.dir, ignore_errors=True)


def make_protos(bname):
    return {"eddy": Eddy.protos, "mosq": Mosquitto.protos, "mosq-save": Mosquitto.protos,
            "kafka": Kafka.protos, "kafka-flush1": Kafka.protos}[bname]


PROMISE = {"eddy": "on flash before the ack",
           "mosq": "memory only (saved every 1800 s)",
           "mosq-save": "saved every 1 s, ack before the save",
           "kafka": "page cache only (kernel writeback)",
           "kafka-flush1": "fsync before the ack"}


def med(rs, f):
    vs = [f(r) for r in rs]
    vs = [v for v in vs if v is not None]
    return statistics.median(vs) if vs else None


def report(a, loads, out):
    n = a.runs
    print(f"Medians of {n} run(s), {a.seconds:.0f} s per load, Eddy settings: {a.label}.\n")
    print("| load | broker | promise | payload kB/s | written kB/s | stored / payload "
          "| **written / payload** (runs) | fdatasync/s | ack p50 / p99 ms |"
          + (" device written / payload | sustained |" if SD else ""))
    print("|---|---|---|---:|---:|---:|---:|---:|---:|" + ("---:|---|" if SD else ""))
    for ln in loads:
        for bname in a.brokers.split(","):
            rs = out.get((ln, bname))
            if not rs:
                continue
            wp = med(rs, lambda r: r["written"] / r["payload"])
            each = ", ".join(f"{r['written'] / r['payload']:.2f}" for r in rs)
            sy = med(rs, lambda r: r["syncs_s"])
            miss = sum(r["missing"] for r in rs)
            if miss:
                each += f"; {miss} not acknowledged within 30 s after the load"
            print(f"| {loads[ln][2]} | {bname} | {PROMISE[bname]} | "
                  f"{med(rs, lambda r: r['payload']) / 1e3 / a.seconds:.1f} | "
                  f"{med(rs, lambda r: r['written']) / 1e3 / a.seconds:.1f} | "
                  f"{med(rs, lambda r: r['stored'] / r['payload']):.2f} | "
                  f"**{wp:.2f}**" + (f" ({each})" if n > 1 or miss else "") + " | "
                  + ("—" if sy is None else f"{sy:.1f}") + " | "
                  f"{med(rs, lambda r: r['p50']):.1f} / {med(rs, lambda r: r['p99']):.1f} |"
                  + (f" {med(rs, lambda r: r['device'] / r['payload']):.2f} | "
                     f"{sum(r['sustained'] for r in rs)} of {len(rs)} ({rs[-1]['why']}) |"
                     if SD else ""), flush=True)
    print()
    print("| load | other broker | Eddy written / payload | other's | **Eddy / other** |")
    print("|---|---|---:|---:|---:|")
    for ln in loads:
        e = out.get((ln, "eddy"))
        if not e:
            continue
        ew = med(e, lambda r: r["written"] / r["payload"])
        for bname in a.brokers.split(","):
            rs = out.get((ln, bname))
            if bname == "eddy" or not rs:
                continue
            ow = med(rs, lambda r: r["written"] / r["payload"])
            ratio = f"{ew / ow:.2f}" if ow > 0.005 else "— (writes nothing)"
            print(f"| {loads[ln][2]} | {bname} | {ew:.2f} | {ow:.2f} | **{ratio}** |")


def seg_files(d):
    """{file name: size} of a partition folder's segment and index files."""
    return {f: os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)
            if f.endswith((".log", ".index", ".timeindex"))}


def compaction(a, keys, n_rows, passes):
    """Compaction's writes on a keyed topic: the turbine lines produced
    `passes` times (zstd, acks=1) into a topic with small segments and
    cleanup.policy=delete, then switched to compact; the broker's
    write_bytes from the switch until the folder is quiet, against the
    closed segments compaction took in. keys: 'row' (each line keyed by its
    time stamp: a later pass replaces the earlier) or 'N' (N keys in turn,
    as retained messages or device states); the first n_rows lines."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry,
                                      ConfigResource, NewTopic)
    rows = csv_rows()[:n_rows]
    b = Eddy(a.base, a.set)
    try:
        bs = f"127.0.0.1:{b.kport}"
        adm = AdminClient({"bootstrap.servers": bs})
        topic, seg = "kcompact", 262144
        adm.create_topics([NewTopic(topic, 1, 1, config={"segment.bytes": str(seg),
                                                          "cleanup.policy": "delete"})]
                          )[topic].result(30)
        pr = Producer({"bootstrap.servers": bs, "acks": "1", "linger.ms": 5,
                       "batch.size": 16384, "compression.type": "zstd"})
        payload, w0 = 0, write_bytes(b.pid)
        for k in range(passes):
            for j, line in enumerate(rows):
                date, rest = line.split(b",", 1)
                key = date if keys == "row" else f"dev-{j % int(keys):05d}".encode()
                while True:
                    try:
                        pr.produce(topic, rest, key)
                        break
                    except BufferError:
                        pr.poll(0.05)
                payload += len(key) + len(rest)
        pr.flush(60)
        time.sleep(a.settle)
        d = os.path.join(b.dir, "data", f"{topic}-0")
        before = seg_files(d)
        w1 = write_bytes(b.pid)
        logs = sorted(f for f in before if f.endswith(".log"))
        closed = sum(before[f] for f in logs[:-1])
        idx = sum(v for f, v in before.items() if not f.endswith(".log"))
        stored = sum(before[f] for f in logs)
        res = ConfigResource("topic", topic, incremental_configs=[
            ConfigEntry("cleanup.policy", "compact",
                        incremental_operation=AlterConfigOpType.SET)])
        adm.incremental_alter_configs([res])[res].result(30)
        # Done: the segments changed and nothing was written for QUIET s
        # (a pass reads its input in steps, a second apart, before writing).
        t0, last, quiet, t_end = time.time(), write_bytes(b.pid), 0, time.time()
        while time.time() - t0 < 120 and quiet < 8:
            time.sleep(1)
            now, files = write_bytes(b.pid), os.listdir(d)
            busy = any(f.endswith((".cleaned", ".swap")) for f in files)
            if now != last or busy or seg_files(d) == before:
                quiet, t_end = 0, time.time()
            else:
                quiet += 1
            last = now
        after = seg_files(d)
        w2 = write_bytes(b.pid)
        if os.environ.get("FLASH_DEBUG"):
            say(sorted(before.items()), sorted(after.items()))
    finally:
        b.stop()
    if not os.environ.get("FLASH_DEBUG"):
        shutil.rmtree(b.dir, ignore_errors=True)
    out_logs = sorted(f for f in after if f.endswith(".log"))
    out = sum(after[f] for f in out_logs[:-1]) + sum(
        v for f, v in after.items() if not f.endswith(".log") and f not in before)
    what = ("each line keyed by its time stamp" if keys == "row" else f"{keys} keys in turn")
    print(f"| {n_rows} lines, {what}, {passes} passes | {payload / 1e6:.2f} | {stored / 1e6:.2f} | "
          f"{(w1 - w0) / stored:.2f} | {len(logs)} | {idx / stored * 100:.2f} % | "
          f"{closed / 1e6:.2f} | {out / 1e6:.2f} | {(w2 - w1) / 1e6:.2f} | "
          f"**{(w2 - w1) / closed:.2f}** | {t_end - t0:.0f} |", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--settle", type=float, default=1.5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--loads", default="sensors,mqtt1k,ksensors,kafka1k")
    ap.add_argument("--brokers", default="eddy,mosq,mosq-save,kafka,kafka-flush1")
    ap.add_argument("--label", default="defaults")
    ap.add_argument("--base", default=os.path.join(REPO, "build"))
    ap.add_argument("--compact", default="",
                    help="instead of the loads: compaction runs KEYS:LINES:PASSES,... "
                    "(KEYS: row or a number), e.g. row:20000:3,1000:20000:3")
    ap.add_argument("--sd", action="store_true", default=bool(os.environ.get("EDDY_BENCH_SD")),
                    help="the brokers' data on an SD-card-like throttled device "
                    "(tests/bench/sdcard.py; needs root); loads sensors,kafka1k,kturbines and "
                    "brokers eddy,mosq-save,kafka-flush1 unless --loads/--brokers say otherwise")
    ap.add_argument("--sd-dio", default="off", choices=["on", "off"],
                    help="the SD device's loop direct IO to its backing file")
    a = ap.parse_args()
    os.makedirs(a.base, exist_ok=True)
    if a.sd:
        global SD
        import sdcard
        sdcard.sigterm_as_interrupt()
        if "--loads" not in " ".join(sys.argv):
            a.loads = "sensors,kafka1k,kturbines"
        if "--brokers" not in " ".join(sys.argv):
            a.brokers = "eddy,mosq-save,kafka-flush1"
        with sdcard.SdCard(a.base, dio=a.sd_dio == "on") as SD:
            a.base = SD.mnt
            say(f"flash.py: data on {SD.loop} at {SD.mnt}, throttled to "
                f"{sdcard.WRITE_BPS / 1e6:g} MB/s and {sdcard.WRITE_IOPS} IOPS written, "
                f"{sdcard.READ_BPS / 1e6:g} MB/s read")
            print(f"Data on an SD-card-like device: ext4 on a loop device (direct-io "
                  f"{a.sd_dio}) throttled to "
                  f"{sdcard.WRITE_BPS / 1e6:g} MB/s and {sdcard.WRITE_IOPS} IOPS written, "
                  f"{sdcard.READ_BPS / 1e6:g} MB/s and {sdcard.READ_IOPS} IOPS read "
                  "(tests/bench/sdcard.py).")
            return run_all(a)
    run_all(a)


def run_all(a):
    if a.compact:
        print("| keyed topic (turbine lines, zstd, 256 KiB segments) | payload MB | stored MB "
              "| written / stored while producing | segments | index / log "
              "| compaction input MB | output MB | compaction wrote MB "
              "| **compaction written / input** | s |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for spec in a.compact.split(","):
            keys, n_rows, passes = spec.split(":")
            compaction(a, keys, int(n_rows), int(passes))
        return
    table = loads_table()
    loads = {}
    for ln in a.loads.split(","):
        if ln not in table:
            raise SystemExit(f"flash.py: unknown load {ln}")
        loads[ln] = table[ln]
    brokers = a.brokers.split(",")
    out = {}
    t, load0 = time.time(), os.getloadavg()
    for run in range(a.runs):
        say(f"run {run + 1} of {a.runs}")
        run_once(a, loads, brokers[run % len(brokers):] + brokers[:run % len(brokers)], out)
    say(f"flash.py: {time.time() - t:.0f} s in all")
    print("Load average at start %.2f %.2f %.2f, at end %.2f %.2f %.2f; %.0f s in all."
          % (load0 + os.getloadavg() + (time.time() - t,)))
    report(a, loads, out)


if __name__ == "__main__":
    main()
