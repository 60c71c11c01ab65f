#!/usr/bin/env python3
"""A Raspberry Pi-sized budget (make bench-pi; not a test): Eddy, Apache
Kafka and Mosquitto, one at a time, each inside cgroup v1 groups that give it
40 % of one core (cpu.cfs_quota_us 40000 per cpu.cfs_period_us 100000,
cpuset one core) and 512 MiB of memory (memory.limit_in_bytes), with its data
on the SD-card-like device of tests/bench/sdcard.py (~20 MB/s, ~1,200 IOPS
written). The load generators run outside those groups.

Load: 100 turbines, each sending one line of the turbine recording
(tests/data/wind-turbine-scada-T1.csv) a second, plus one consumer reading
everything:

  eddy    100 MQTT 3.1.1 clients (paho-mqtt) publishing at QoS 1 to
          turbines/tNN/scada, routed to the Kafka topic turbines
          (turbines/#=>turbines); one Kafka consumer (confluent-kafka, a
          consumer group) reading the topic.
  kafka   Apache Kafka (tests/peers/kafka-broker.sh, KRaft) with
          log.flush.interval.messages=1 (an answer after fsync, Eddy's
          promise), the smallest heap it starts with (--kafka-heap; its
          log cleaner's 128 MiB dedupe buffer is cut to 8 MiB so that it
          does); 100 librdkafka producers, key tNN, acks=all, linger.ms=0, and
          one consumer.
  mosq    Mosquitto with persistence true and autosave_interval 1; 100 MQTT
          QoS 1 publishers and one subscriber to turbines/# at QoS 1.

Per broker, over the load plus --settle seconds: CPU as % of the one core
(cpuacct.usage), the broker process's peak RSS (VmHWM; for Kafka the JVM)
and the memory group's peak (memory.max_usage_in_bytes, page cache of its
files included), whether it kept up (the publishers' backlog at half time
and at the end, and the consumer's lag at the end), and the acknowledgement
latency (publish to PUBACK, produce() to the broker's answer) p50/p99.
With --runs N each figure is the median of N runs.

Every cgroup is named eddy-bench-pi-*, the device eddy-bench-sd-*; both are
removed at the end, on Ctrl-C and on SIGTERM (`pi.py --down` removes
leftovers of a killed run).

Usage: pi.py [--seconds 60] [--runs 1] [--brokers eddy,kafka,mosq]
Output: Markdown on stdout; progress on stderr.
"""
import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

import flash
import sdcard

CG = "/sys/fs/cgroup"
CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory")
QUOTA_US, PERIOD_US = 40000, 100000
MEM_LIMIT = 512 << 20
TURBINES = 100
TOPIC = "turbines"
say = flash.say


class Group:
    """eddy-bench-pi-NAME in each v1 controller: 40 % of the last core, 512 MiB."""

    def __init__(self, name):
        self.name = f"eddy-bench-pi-{name}"
        self.core = str(os.cpu_count() - 1)
        for c in CONTROLLERS:
            os.makedirs(self.path(c), exist_ok=True)
        self.put("cpuset", "cpuset.mems", open(f"{CG}/cpuset/cpuset.mems").read().strip())
        self.put("cpuset", "cpuset.cpus", self.core)
        self.put("cpu", "cpu.cfs_period_us", PERIOD_US)
        self.put("cpu", "cpu.cfs_quota_us", QUOTA_US)
        self.put("memory", "memory.limit_in_bytes", MEM_LIMIT)

    def path(self, c, f=""):
        return os.path.join(CG, c, self.name, f)

    def put(self, c, f, v):
        with open(self.path(c, f), "w") as fh:
            fh.write(f"{v}\n")

    def get(self, c, f):
        return open(self.path(c, f)).read()

    def join(self):
        """Put the calling process in every controller's group (preexec)."""
        for c in CONTROLLERS:
            with open(self.path(c, "cgroup.procs"), "w") as fh:
                fh.write(f"{os.getpid()}\n")

    def cpu_ns(self):
        return int(self.get("cpuacct", "cpuacct.usage"))

    def memory(self):
        oom = dict(ln.split() for ln in self.get("memory", "memory.oom_control").splitlines())
        return int(self.get("memory", "memory.max_usage_in_bytes")), int(oom.get("oom_kill", 0))

    def throttled(self):
        st = dict(ln.split() for ln in self.get("cpu", "cpu.stat").splitlines())
        return int(st["nr_periods"]), int(st["nr_throttled"])

    def remove(self):
        for c in CONTROLLERS:
            rmdir(os.path.join(CG, c, self.name))


def rmdir(path):
    for _ in range(50):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.2)  # the broker's last threads are exiting
    say(f"pi.py: could not remove {path} (tasks: "
        f"{open(os.path.join(path, 'tasks')).read().split()})")


def down_all():
    for c in CONTROLLERS:
        for d in os.listdir(os.path.join(CG, c)):
            if d.startswith("eddy-bench-pi-"):
                rmdir(os.path.join(CG, c, d))
    sdcard.down_all()


class Eddy(flash.Eddy):
    name = "eddy"

    def __init__(self, base, group):
        self.dir = tempfile.mkdtemp(prefix="pi-eddy-", dir=base)
        self.kport, self.mport = flash.free_port(), flash.free_port()
        args = [os.path.join(flash.REPO, "build", "eddy"), "serve",
                "--set", f"log.dirs={self.dir}/data",
                "--set", f"listeners=PLAINTEXT://127.0.0.1:{self.kport}",
                "--set", f"mqtt.listeners=mqtt://127.0.0.1:{self.mport}",
                "--set", f"mqtt.routes=turbines/#=>{TOPIC}"]
        self.logf = open(os.path.join(self.dir, "broker.log"), "w")
        self.proc = subprocess.Popen(args, stdout=self.logf, stderr=subprocess.STDOUT,
                                     preexec_fn=group.join)
        self.pid = self.proc.pid
        flash.wait_ports([self.kport, self.mport], self.proc, self.logf.name)
        flash.create_topic(self, TOPIC)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.logf.close()


class Mosquitto:
    name = "mosq"

    def __init__(self, base, group):
        self.dir = tempfile.mkdtemp(prefix="pi-mosq-", dir=base)
        self.mport = flash.free_port()
        os.makedirs(os.path.join(self.dir, "data"))
        conf = os.path.join(self.dir, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"listener {self.mport} 127.0.0.1\nallow_anonymous true\nuser root\n"
                    f"persistence true\npersistence_location {self.dir}/data/\n"
                    "autosave_interval 1\nmax_queued_messages 100000000\n"
                    "log_dest stderr\nlog_type error\nlog_type warning\n")
        self.logf = open(os.path.join(self.dir, "broker.log"), "w")
        self.proc = subprocess.Popen([flash.MOSQUITTO, "-c", conf], stdout=self.logf,
                                     stderr=subprocess.STDOUT, preexec_fn=group.join)
        self.pid = self.proc.pid
        flash.wait_ports([self.mport], self.proc, self.logf.name)

    stop = Eddy.stop


class Kafka(flash.Kafka):
    name = "kafka"

    def __init__(self, base, group, heap):
        self.dir = tempfile.mkdtemp(prefix="pi-kafka-", dir=base)
        env = dict(os.environ, KAFKA_HEAP_OPTS=f"-Xms{heap} -Xmx{heap}")
        # Started inside the groups: start-up runs on the same budget.
        subprocess.run([os.path.join(flash.PEERS, "kafka-broker.sh"), "start", self.dir, "0",
                        "3.9", "log.flush.interval.messages=1",
                        "log.cleaner.dedupe.buffer.size=8388608"],
                       check=True, stdout=sys.stderr, env=env, preexec_fn=group.join)
        self.kport = int(open(os.path.join(self.dir, "kafka.port")).read())
        self.pid = self.java_pid(int(open(os.path.join(self.dir, "kafka.pid")).read()))
        flash.create_topic(self, TOPIC)


class KafkaReader:
    """One consumer-group member reading the topic from the start."""

    def __init__(self, b):
        from confluent_kafka import Consumer
        self.n, self.stop_ = 0, threading.Event()
        self.c = Consumer({"bootstrap.servers": f"127.0.0.1:{b.kport}", "group.id": "pi",
                           "auto.offset.reset": "earliest", "enable.auto.commit": True,
                           "log_level": 2})
        self.c.subscribe([TOPIC])
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop_.is_set():
            for m in self.c.consume(500, 0.2):
                if not m.error():
                    self.n += 1

    def close(self):
        self.stop_.set()
        self.t.join()
        self.c.close()


class MqttReader:
    """One subscriber to turbines/# at QoS 1."""

    def __init__(self, b):
        self.n, done = 0, threading.Event()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="pi-reader",
                             protocol=mqtt.MQTTv311)
        self.c.on_subscribe = lambda *a: done.set()
        self.c.on_message = self.got
        self.c.connect("127.0.0.1", b.mport)
        self.c.loop_start()
        self.c.subscribe("turbines/#", qos=1)
        if not done.wait(10):
            raise RuntimeError("mosquitto: no SUBACK")

    def got(self, *a):
        self.n += 1

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def vm_hwm(pid):
    for ln in open(f"/proc/{pid}/status"):
        if ln.startswith("VmHWM:"):
            return int(ln.split()[1]) * 1024
    return 0


def one(a, bname, rows):
    g = Group(bname)
    b = None
    try:
        t_start = time.monotonic()
        if bname == "eddy":
            b = Eddy(a.base, g)
        elif bname == "mosq":
            b = Mosquitto(a.base, g)
        else:
            b = Kafka(a.base, g, a.kafka_heap)
        started = time.monotonic() - t_start
        reader = (MqttReader if bname == "mosq" else KafkaReader)(b)
        time.sleep(2)
        c0, p0, t0 = g.cpu_ns(), g.throttled(), time.monotonic()
        if bname == "kafka":
            got = flash.kafka_load(b, a.seconds, TOPIC, lambda i: f"t{i:02d}".encode(),
                                   lambda j: rows[j % len(rows)], n_clients=TURBINES, rate=1,
                                   create=False)
        else:
            got = flash.mqtt_load(b, a.seconds, lambda i: f"turbines/t{i:02d}/scada",
                                  lambda j: rows[j % len(rows)], n_clients=TURBINES, rate=1)
        time.sleep(a.settle)
        c1, p1, t1 = g.cpu_ns(), g.throttled(), time.monotonic()
        payload, lat, missing, (kept_up, why) = got
        acked = len(lat)
        lag = acked - reader.n
        reader.close()
        hwm = vm_hwm(b.pid)
        peak, ooms = g.memory()
    finally:
        if b is not None:
            b.stop()
            shutil.rmtree(b.dir, ignore_errors=True)
        g.remove()
    lat.sort()
    return {"cpu": (c1 - c0) / 1e9 / (t1 - t0) * 100, "hwm": hwm, "peak": peak, "ooms": ooms,
            "throttled": (p1[1] - p0[1]) / max(1, p1[0] - p0[0]) * 100,
            "sustained": kept_up and missing == 0 and lag <= TURBINES,
            "why": f"{why}; consumer lag {lag}; {missing} unanswered",
            "p50": flash.pct(lat, 50), "p99": flash.pct(lat, 99), "start_s": started,
            "acked": acked}


def machine():
    model = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                  if ln.startswith("model name")), platform.machine())
    mem = int(open("/proc/meminfo").readline().split()[1]) // 1024
    return (f"Machine: {os.cpu_count()} CPUs ({model}), Linux {platform.release()}, "
            f"{mem} MiB; load average {' '.join(open('/proc/loadavg').read().split()[:3])}.")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--settle", type=float, default=3)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--brokers", default="eddy,kafka,mosq")
    ap.add_argument("--kafka-heap", default="48m",
                    help="-Xms/-Xmx of Kafka's JVM (48m is the smallest it starts with "
                    "here once its log cleaner's buffer is 8 MiB)")
    ap.add_argument("--base", default=os.path.join(flash.REPO, "build"))
    ap.add_argument("--down", action="store_true", help="remove leftovers of a killed run")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("pi.py: needs root (cgroups, losetup, mount)")
    sdcard.sigterm_as_interrupt()
    if a.down:
        down_all()
        return
    print(machine(), flush=True)
    say(machine())
    rows = flash.csv_rows()
    out = {}
    t = time.time()
    with sdcard.SdCard(a.base) as sd:
        a.base = sd.mnt
        brokers = a.brokers.split(",")
        for run in range(a.runs):
            for bname in brokers[run % len(brokers):] + brokers[:run % len(brokers)]:
                say(f"run {run + 1} of {a.runs}: {bname}, {a.seconds:.0f} s")
                r = one(a, bname, rows)
                say(f"  {r}")
                out.setdefault(bname, []).append(r)
    print(f"{TURBINES} turbines x 1 line/s of the turbine recording plus one consumer; "
          f"each broker in cgroup v1 groups: {QUOTA_US / PERIOD_US:.0%} of core "
          f"{os.cpu_count() - 1}, {MEM_LIMIT >> 20} MiB; data on ext4 on a loop device "
          f"throttled to {sdcard.WRITE_BPS / 1e6:g} MB/s and {sdcard.WRITE_IOPS} IOPS written. "
          f"Medians of {a.runs} run(s) of {a.seconds:.0f} s (+{a.settle:.0f} s); "
          f"{time.time() - t:.0f} s in all; load average at the end "
          f"{' '.join(open('/proc/loadavg').read().split()[:3])}.\n")
    print("| broker | **CPU, % of the core** | throttled periods | RSS peak MiB "
          "| memory group peak MiB | sustained (runs) | ack p50 / p99 ms | start-up s |")
    print("|---|---:|---:|---:|---:|---|---:|---:|")
    for bname, rs in out.items():
        def m(f):
            return statistics.median(f(r) for r in rs)
        ooms = sum(r["ooms"] for r in rs)
        print(f"| {bname} | **{m(lambda r: r['cpu']):.1f}** | {m(lambda r: r['throttled']):.0f} % | "
              f"{m(lambda r: r['hwm']) / 1048576:.1f} | {m(lambda r: r['peak']) / 1048576:.1f}"
              + (f" ({ooms} OOM kills)" if ooms else "") + " | "
              f"{sum(r['sustained'] for r in rs)} of {len(rs)} ({rs[-1]['why']}) | "
              f"{m(lambda r: r['p50']):.1f} / {m(lambda r: r['p99']):.1f} | "
              f"{m(lambda r: r['start_s']):.0f} |", flush=True)


if __name__ == "__main__":
    main()
