"""Rebalance time of a consumer group, Eddy and Apache Kafka side by side in
one run, with the same clients (confluent-kafka, eager range assignor):
  join  - three members subscribe at once to a 6-partition topic: time until
          every partition is owned by exactly one member and each has some;
  leave - one member closes (LeaveGroup): time until the two others own all
          six partitions again.
Each scenario runs with tight client intervals (heartbeat 100 ms, initial
rebalance delay 0: the coordinator's own cost) and with the defaults
(heartbeat 3 s, group.initial.rebalance.delay.ms 3000). Prints a markdown
table and the brokers' resident memory afterwards.

usage: rebalance.py EDDY_BIN PEERS_DIR [ROUNDS]"""

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

EDDY, PEERS = sys.argv[1], sys.argv[2]
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


class Broker:
    def __init__(self, kind, delay_ms):
        self.kind = kind
        self.dir = tempfile.mkdtemp(prefix=f"bench-rebalance-{kind}-")
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        if kind == "eddy":
            self.proc = subprocess.Popen(
                [EDDY, "serve", "--set", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
                 "--set", f"log.dirs={self.dir}/data", "--set",
                 f"group.initial.rebalance.delay.ms={delay_ms}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.pid = self.proc.pid
        else:
            env = dict(os.environ, KAFKA_HEAP_OPTS="-Xms1G -Xmx1G",
                       KAFKA_JVM_OPTS="-XX:+UseG1GC -XX:MaxGCPauseMillis=20 "
                                      "-XX:InitiatingHeapOccupancyPercent=35")
            subprocess.run([f"{PEERS}/kafka-broker.sh", "start", self.dir, str(self.port), "3.9",
                            f"group.initial.rebalance.delay.ms={delay_ms}"], check=True, env=env,
                           stdout=subprocess.DEVNULL)
            self.pid = int(open(f"{self.dir}/kafka.pid").read())
        self.wait_ready()

    def wait_ready(self):
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                a = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
                a.list_topics(timeout=2)
                return
            except Exception:
                time.sleep(0.2)
        raise SystemExit(f"{self.kind} did not start")

    def stop(self):
        if self.kind == "eddy":
            self.proc.terminate()
            self.proc.wait(30)
        else:
            subprocess.run([f"{PEERS}/kafka-broker.sh", "stop", self.dir], check=False,
                           stdout=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", self.dir], check=False)


def exact(holdings, n=6):
    parts = [p for h in holdings for p in h]
    return len(parts) == n and set(parts) == set(range(n)) and all(holdings)


class Member:
    def __init__(self, bootstrap, group, topic, conf, on_change):
        c = {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
             "partition.assignment.strategy": "range"}
        c.update(conf)
        self.c = Consumer(c)
        self.held = set()
        self.stop_ev = threading.Event()
        self.on_change = on_change

        def assign(consumer, parts):
            self.held = {p.partition for p in parts}
            self.on_change()

        def revoke(consumer, parts):
            self.held = set()
            self.on_change()

        self.c.subscribe([topic], on_assign=assign, on_revoke=revoke)
        self.t = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        while not self.stop_ev.is_set():
            self.c.poll(0.01)

    def start(self):
        self.t.start()

    def close(self):
        self.stop_ev.set()
        self.t.join(30)
        self.c.close()


def one_round(broker, topic, group, conf):
    lock = threading.Lock()
    marks = {}
    members = []

    def changed():
        with lock:
            phase = marks.get("phase")
            live = members if phase == "join" else members[:2]
            if phase and phase + "_done" not in marks and exact([m.held for m in live]):
                marks[phase + "_done"] = time.monotonic()

    members.extend(Member(broker.bootstrap, group, topic, conf, changed) for _ in range(3))
    marks["phase"] = "join"
    t0 = time.monotonic()
    for m in members:
        m.start()
    deadline = time.time() + 60
    while "join_done" not in marks and time.time() < deadline:
        time.sleep(0.005)
    time.sleep(0.5)  # settled: no later rebalance pending
    with lock:
        marks["phase"] = "leave"
    t1 = time.monotonic()
    members[2].close()
    deadline = time.time() + 60
    while "leave_done" not in marks and time.time() < deadline:
        time.sleep(0.005)
    members[0].close()
    members[1].close()
    join = marks.get("join_done", float("nan")) - t0
    leave = marks.get("leave_done", float("nan")) - t1
    return join * 1000, leave * 1000


def scenario(kind, delay_ms, conf, rounds):
    b = Broker(kind, delay_ms)
    try:
        topic = "rebalance"
        admin = AdminClient({"bootstrap.servers": b.bootstrap, "log_level": 0})
        admin.create_topics([NewTopic(topic, 6, 1)])[topic].result(60)
        joins, leaves = [], []
        for r in range(rounds):
            j, l = one_round(b, topic, f"g-{r}", conf)
            joins.append(j)
            leaves.append(l)
        return joins, leaves, rss_kb(b.pid)
    finally:
        b.stop()


def fmt(xs):
    return f"{statistics.median(xs):.0f} ms (min {min(xs):.0f}, max {max(xs):.0f})"


def main():
    tight = {"heartbeat.interval.ms": 100, "session.timeout.ms": 6000}
    rows = []
    for name, delay, conf, rounds in (("tight (hb 100 ms, delay 0)", 0, tight, ROUNDS),
                                      ("defaults (hb 3 s, delay 3 s)", 3000, {}, max(2, ROUNDS // 2))):
        res = {}
        for kind in ("eddy", "kafka"):
            res[kind] = scenario(kind, delay, conf, rounds)
            print(f"{kind:6} {name}: join {fmt(res[kind][0])}, leave {fmt(res[kind][1])}, "
                  f"RSS {res[kind][2] // 1024} MiB", flush=True)
        rows.append((name, res))
    print()
    print("| scenario | step | Eddy | Apache Kafka 3.9 | Kafka / Eddy |")
    print("|---|---|---:|---:|---:|")
    for name, res in rows:
        for i, step in ((0, "3 members join"), (1, "1 member leaves")):
            e, k = statistics.median(res["eddy"][i]), statistics.median(res["kafka"][i])
            print(f"| {name} | {step} | {e:.0f} ms | {k:.0f} ms | {k / e:.1f}x |")
    print()
    print("| broker RSS after the runs | Eddy | Apache Kafka 3.9 |")
    print("|---|---:|---:|")
    for name, res in rows:
        print(f"| {name} | {res['eddy'][2] / 1024:.1f} MiB | {res['kafka'][2] / 1024:.0f} MiB |")


if __name__ == "__main__":
    main()
