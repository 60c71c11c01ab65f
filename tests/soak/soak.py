"""Soak: fuzzed real-client traffic against a sanitizer build of eddy while
legitimate clients produce and consume, for SOAK_SECONDS (default 600).

1. Capture: real clients (confluent-kafka producer with acks=all and a
   consumer group, kcat metadata; paho-mqtt 3.1.1 and 5 at QoS 0/1/2,
   mosquitto_pub) talk to a capture broker through a recording proxy on
   loopback; what each client sent is kept, cut into frames (Kafka size
   prefix, MQTT fixed header).
2. Soak: the broker under test (ASan/UBSan eddy) gets mutated captures
   (bit flips, truncation, lying lengths, splices of two clients' frames,
   repeated frames, other API versions) over many short connections, while
   a confluent-kafka producer (acks=all, idempotent) and consumer and a
   paho-mqtt QoS 1 publisher (MQTT 5) do legitimate work.
3. Report: crashes and sanitizer reports (must be 0), RSS at start, peak and
   end, legitimate requests refused, acknowledged records lost (every
   acknowledged record is read back at the end). Exits 1 on a crash, a
   sanitizer report or a lost acknowledged record.

Loopback only; every loop is bounded by the deadline."""

import os
import random
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
os.environ.setdefault("EDDY_BIN", str(REPO / "build" / "san" / "eddy"))
# a small quarantine so that RSS reflects what the broker holds
os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=1:halt_on_error=1:quarantine_size_mb=16")
os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
sys.path.insert(0, str(REPO / "tests" / "integration"))

from conftest import HOST, Broker, PubAcks, free_port, need, run  # noqa: E402

import paho.mqtt.client as mqtt  # noqa: E402
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

SECONDS = int(os.environ.get("SOAK_SECONDS", "600"))
FUZZ_WORKERS = int(os.environ.get("SOAK_FUZZ_WORKERS", "6"))
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer")
CAPTURE_MAX = 1 << 20  # bytes kept per captured connection
STOP = threading.Event()  # set when the broker died: every loop ends
QUIET = {"log_level": 2}  # librdkafka: critical lines only


def log(msg):
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------
# 1. Capture through a recording proxy.


class Recorder:
    """Listens on a loopback port and forwards each connection to the port
    target() names (known once the broker has started), keeping the bytes
    the client sent."""

    def __init__(self, target):
        self.target = target
        self.port = free_port()
        self.streams = []
        self.lock = threading.Lock()
        self.srv = socket.create_server((HOST, self.port))
        self.srv.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                cli, _ = self.srv.accept()
            except socket.timeout:
                continue
            srv = socket.create_connection((HOST, self.target()))
            rec = bytearray()
            with self.lock:
                self.streams.append(rec)
            threading.Thread(target=self._pump, args=(cli, srv, rec), daemon=True).start()
            threading.Thread(target=self._pump, args=(srv, cli, None), daemon=True).start()

    @staticmethod
    def _pump(src, dst, rec):
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                if rec is not None and len(rec) < CAPTURE_MAX:
                    rec.extend(b)
                dst.sendall(b)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.stop.set()
        self.thread.join()
        self.srv.close()
        with self.lock:
            return [bytes(s) for s in self.streams if s]


def kafka_frames(data):
    out, pos = [], 0
    while pos + 4 <= len(data):
        n = struct.unpack_from(">i", data, pos)[0]
        if n < 0 or pos + 4 + n > len(data):
            break
        out.append(data[pos : pos + 4 + n])
        pos += 4 + n
    return out


def mqtt_frames(data):
    out, pos = [], 0
    while pos + 2 <= len(data):
        mult, n, i = 1, 0, pos + 1
        while i < len(data) and i < pos + 5:
            n += (data[i] & 0x7F) * mult
            mult *= 128
            i += 1
            if data[i - 1] & 0x80 == 0:
                break
        if i + n > len(data):
            break
        out.append(data[pos : i + n])
        pos = i + n
    return out


def capture(workdir):
    """Real clients through recording proxies; returns (kafka, mqtt) lists of
    frame lists, one per captured connection."""
    b = Broker(workdir / "capture", {})
    kproxy = Recorder(lambda: b.port)
    b.config["advertised.listeners"] = f"PLAINTEXT://{HOST}:{kproxy.port}"
    b.start()
    mproxy = Recorder(lambda: b.mqtt_port)
    try:
        boot = f"{HOST}:{kproxy.port}"
        for codec in ("none", "gzip", "lz4", "zstd"):
            p = Producer({"bootstrap.servers": boot, "acks": "all", "enable.idempotence": True,
                          "compression.type": codec, "linger.ms": 5, **QUIET})
            for i in range(200):
                p.produce("cap", key=b"k%d" % (i % 7), value=b"v-%s-%d" % (codec.encode(), i),
                          headers=[("h", b"x")])
            assert p.flush(30) == 0, "capture producer did not finish"
        c = Consumer({"bootstrap.servers": boot, "group.id": "capg", "auto.offset.reset": "earliest",
                      "enable.auto.commit": False, **QUIET})
        c.subscribe(["cap"])
        got, deadline = 0, time.time() + 30
        while got < 800 and time.time() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got += 1
                if got % 100 == 0:
                    c.commit(m, asynchronous=False)
        c.close()
        run([need("kcat"), "-b", boot, "-L"])
        run([need("kcat"), "-b", boot, "-C", "-t", "cap", "-o", "beginning", "-e", "-q"])
        for ver in (mqtt.MQTTv311, mqtt.MQTTv5):
            cl = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"cap-{ver}", protocol=ver)
            cl.will_set("cap/will", b"gone", qos=1)
            cl.connect(HOST, mproxy.port, keepalive=30)
            cl.loop_start()
            cl.subscribe("cap/#", qos=1)
            for q in (0, 1, 2):
                for i in range(20):
                    cl.publish(f"cap/q{q}", b"%d" % i, qos=q).wait_for_publish(10)
            cl.unsubscribe("cap/#")
            cl.disconnect()
            cl.loop_stop()
        run([need("mosquitto_pub"), "-h", HOST, "-p", mproxy.port, "-t", "cap/m", "-m", "1", "-q", "1", "-V", "mqttv5"])
    finally:
        time.sleep(0.5)
        kstreams, mstreams = kproxy.close(), mproxy.close()
        b.stop()
    kafka = [f for f in map(kafka_frames, kstreams) if f]
    mq = [f for f in map(mqtt_frames, mstreams) if f]
    log(f"captured {sum(map(len, kafka))} Kafka frames on {len(kafka)} connections, "
        f"{sum(map(len, mq))} MQTT packets on {len(mq)} connections")
    return kafka, mq


# ---------------------------------------------------------------------------
# 2. Mutations.


def mutate(rng, conns, kind):
    """One connection's bytes: a captured connection's frames, mutated."""
    frames = [bytearray(f) for f in rng.choice(conns)]
    op = rng.randrange(7)
    if op == 0:  # bit flips in a few frames
        for _ in range(rng.randint(1, 4)):
            f = rng.choice(frames)
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(f))
                f[i] ^= 1 << rng.randrange(8)
    elif op == 1:  # a lying length prefix or field
        f = rng.choice(frames)
        lie = rng.choice([0, 1, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, rng.randrange(1 << 32)])
        at = 0 if kind == "kafka" or rng.random() < 0.5 else rng.randrange(len(f))
        if kind == "kafka" or at > 0:
            width = rng.choice([2, 4]) if at else 4
            at = min(at, max(0, len(f) - width))
            f[at : at + width] = (lie & ((1 << (8 * width)) - 1)).to_bytes(width, "big")
        else:
            f[1:2] = bytes([0xFF, 0xFF, 0xFF, 0x7F])
    elif op == 2:  # splice with another connection's frames
        other = [bytearray(f) for f in rng.choice(conns)]
        cut = rng.randrange(len(frames) + 1)
        frames = frames[:cut] + other[rng.randrange(len(other)) :]
    elif op == 3:  # repeat a frame many times
        f = rng.choice(frames)
        frames.insert(rng.randrange(len(frames) + 1), f)
        frames += [f] * rng.randint(2, 50)
    elif op == 4 and kind == "kafka":  # another API version or key
        f = rng.choice(frames)
        if len(f) >= 8:
            f[4 + rng.choice([0, 2])] = 0
            f[5 + rng.choice([0, 2])] = rng.randrange(80)
    elif op == 5:  # random bytes written over a frame's body
        f = rng.choice(frames)
        i = rng.randrange(len(f))
        f[i:] = os.urandom(len(f) - i)
    data = b"".join(frames)
    if op == 6 or rng.random() < 0.2:  # truncation
        data = data[: rng.randrange(len(data) + 1)]
    return data


def running(deadline):
    return time.time() < deadline and not STOP.is_set()


def fuzz_worker(seed, port_of, conns, deadline, stats):
    rng = random.Random(seed)
    while running(deadline):
        kind = rng.choice(["kafka", "mqtt"])
        data = mutate(rng, conns[kind], kind)
        try:
            with socket.create_connection((HOST, port_of[kind]), timeout=1) as s:
                s.settimeout(0.3)
                for i in range(0, len(data), 4096):
                    s.sendall(data[i : i + 4096])
                t_end = time.time() + 0.3
                while time.time() < t_end:
                    if not s.recv(65536):
                        break
        except OSError:
            pass
        stats["fuzz_conns"] += 1
        stats["fuzz_bytes"] += len(data)


# ---------------------------------------------------------------------------
# 3. Legitimate clients.


def kafka_producer(boot, deadline, acked, stats):
    p = Producer({"bootstrap.servers": boot, "acks": "all", "enable.idempotence": True, "linger.ms": 5,
                  "message.timeout.ms": 60000, **QUIET})

    def done(err, msg):
        if err is None:
            acked.add(msg.value())
        else:
            stats["kafka_refused"] += 1

    seq = 0
    while running(deadline):
        p.produce("legit-k", value=b"k-%08d" % seq, on_delivery=done)
        seq += 1
        p.poll(0.005)
    stats["kafka_sent"] = seq
    left = p.flush(5 if STOP.is_set() else 90)
    stats["kafka_refused"] += left


def kafka_consumer(boot, deadline, stats):
    c = Consumer({"bootstrap.servers": boot, "group.id": "legit", "auto.offset.reset": "earliest", **QUIET})
    c.subscribe(["legit-k"])
    while running(deadline):
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() != KafkaError._PARTITION_EOF:
                stats["consumer_errors"] += 1
        else:
            stats["consumed"] += 1
    c.close()


def mqtt_publisher(port, deadline, acked, stats):
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="legit-m", protocol=mqtt.MQTTv5)
    acks = PubAcks(c)
    c.connect(HOST, port, keepalive=30)
    c.loop_start()
    seq = 0
    while running(deadline):
        payload = b"m-%08d" % seq
        seq += 1
        rc = acks.wait(c.publish("legit/m", payload, qos=1).mid, 5 if STOP.is_set() else 30)
        if rc is not None and not rc.is_failure:
            acked.add(payload)
        else:
            stats["mqtt_refused"] += 1
        time.sleep(0.01)
    stats["mqtt_sent"] = seq
    c.disconnect()
    c.loop_stop()


def read_back(boot, topic):
    c = Consumer({"bootstrap.servers": boot, "group.id": f"verify-{topic}", "enable.auto.commit": False, **QUIET})
    md = c.list_topics(topic, timeout=30)
    seen = set()
    for pid in md.topics[topic].partitions:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, pid), timeout=30)
        if hi <= lo:
            continue
        c.assign([TopicPartition(topic, pid, lo)])
        deadline = time.time() + 120
        while time.time() < deadline:
            m = c.poll(1.0)
            if m is None or m.error():
                continue
            seen.add(m.value())
            if m.offset() >= hi - 1:
                break
    c.close()
    return seen


def top_lines(text, n=5):
    """The most frequent kinds of broker log line: level, module and the
    first words, numbers and quoted names left out."""
    counts = {}
    for line in text.splitlines():
        parts = line.split(" ", 3)
        if len(parts) < 4 or not parts[0][:4].isdigit():
            continue
        words = [w for w in parts[3].split()[:5] if not any(ch.isdigit() for ch in w) and "'" not in w]
        key = f"{parts[1]} {parts[2]} {' '.join(words)}"
        counts[key] = counts.get(key, 0) + 1
    return sorted(((v, k) for k, v in counts.items()), reverse=True)[:n]


def rss_kb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# ---------------------------------------------------------------------------


def main():
    work = Path(tempfile.mkdtemp(prefix="eddy-soak-"))
    log(f"broker {os.environ['EDDY_BIN']}, {SECONDS} s, data under {work}")
    kafka_conns, mqtt_conns = capture(work)
    b = Broker(work / "soak", {"num.partitions": "3"}).start()
    boot = b.bootstrap
    stats = {k: 0 for k in ("fuzz_conns", "fuzz_bytes", "kafka_refused", "kafka_sent", "mqtt_refused",
                            "mqtt_sent", "consumed", "consumer_errors")}
    k_acked, m_acked = set(), set()
    time.sleep(1)
    rss = [rss_kb(b.pid)]
    t0 = time.time()
    deadline = t0 + SECONDS
    conns = {"kafka": kafka_conns, "mqtt": mqtt_conns}
    ports = {"kafka": b.port, "mqtt": b.mqtt_port}
    threads = [threading.Thread(target=fuzz_worker, args=(i, ports, conns, deadline, stats), daemon=True)
               for i in range(FUZZ_WORKERS)]
    threads += [
        threading.Thread(target=kafka_producer, args=(boot, deadline, k_acked, stats), daemon=True),
        threading.Thread(target=kafka_consumer, args=(boot, deadline, stats), daemon=True),
        threading.Thread(target=mqtt_publisher, args=(b.mqtt_port, deadline, m_acked, stats), daemon=True),
    ]
    for t in threads:
        t.start()
    crashed = False
    while time.time() < deadline:
        time.sleep(1)
        if not b.alive():
            crashed = True
            STOP.set()
            log("broker died")
            break
        rss.append(rss_kb(b.pid))
        if int(time.time() - t0) % 60 == 0:
            log(f"{int(time.time() - t0)} s: RSS {rss[-1]} kB, {stats['fuzz_conns']} fuzz connections, "
                f"{len(k_acked)} Kafka and {len(m_acked)} MQTT records acknowledged")
    for t in threads:
        t.join(timeout=150)
    lost_k = lost_m = None
    if not crashed and b.alive():
        rss.append(rss_kb(b.pid))
        seen_k = read_back(boot, "legit-k")
        seen_m = read_back(boot, "legit.m")
        lost_k, lost_m = len(k_acked - seen_k), len(m_acked - seen_m)
    else:
        crashed = True
    clean = b.stop() if not crashed else False
    text = (b.workdir / "eddy.log").read_text(errors="replace")
    reports = sum(text.count(mark) for mark in SANITIZER_MARKS)
    log_lines = text.count("\n")
    suppressed = text.count("similar suppressed")
    elapsed = time.time() - t0
    print()
    print(f"soak report ({elapsed:.0f} s, {FUZZ_WORKERS} fuzz workers, sanitizer build {os.environ['EDDY_BIN']})")
    print(f"  fuzzed connections:           {stats['fuzz_conns']} ({stats['fuzz_bytes'] / 1e6:.1f} MB)")
    print(f"  crashes:                      {1 if crashed else 0} (clean SIGTERM exit: {clean})")
    print(f"  sanitizer reports:            {reports}")
    print(f"  RSS kB start/peak/end:        {rss[0]} / {max(rss)} / {rss[-1]}")
    print(f"  Kafka acks=all: sent {stats['kafka_sent']}, acknowledged {len(k_acked)}, "
          f"refused {stats['kafka_refused']}, lost {lost_k}")
    print(f"  MQTT 5 QoS 1:   sent {stats['mqtt_sent']}, acknowledged {len(m_acked)}, "
          f"refused {stats['mqtt_refused']}, lost {lost_m}")
    print(f"  consumer group: {stats['consumed']} records read, {stats['consumer_errors']} errors")
    print(f"  broker log:     {log_lines} lines ({suppressed} with a suppressed count)")
    for n, what in top_lines(text):
        print(f"    {n:6d} x {what}")
    bad = crashed or reports or lost_k or lost_m
    if bad:
        print(f"FAILED: broker log kept in {b.workdir}")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
