"""The data path (Produce, Fetch, ListOffsets, InitProducerId,
OffsetForLeaderEpoch) with real clients reading by partition, without
consumer groups: kafka-python 2.0.2 at its fixed old versions (Produce v7,
Fetch v4, ListOffsets v1), confluent-kafka (Produce v10, Fetch v16 with topic
ids, ListOffsets v7), Apache Kafka's Java console tools 3.9 and 4.x (Fetch
17, idempotent producer), kcat seeking by timestamp; long-poll and
idempotent-producer duplicates over the raw protocol."""

import random
import threading
import time

import pytest

import kwire
from conftest import create_topic, kafka_tool, kcat, venv_python


def records(seed, n):
    rng = random.Random(seed)
    return [
        (b"key-%d-" % i + bytes(rng.randrange(256) for _ in range(rng.randint(0, 8))),
         bytes(rng.randrange(256) for _ in range(rng.randint(0, 3000))))
        for i in range(n)
    ]


KAFKA_PYTHON = r"""
import json, sys, time
from kafka import KafkaProducer, KafkaConsumer, TopicPartition
bootstrap, topic, api, n_parts = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
api = None if api == "auto" else tuple(int(x) for x in api.split("."))
recs = [(bytes.fromhex(k), bytes.fromhex(v)) for k, v in (l.split() for l in sys.stdin.read().split("\n") if l)]
prod = KafkaProducer(bootstrap_servers=bootstrap, acks="all", api_version=api, retries=5,
                     max_in_flight_requests_per_connection=1, compression_type="gzip")
fs = [prod.send(topic, key=k, value=v) for k, v in recs]
prod.flush(60)
metas = [f.get(timeout=60) for f in fs]
prod.close(10)
cons = KafkaConsumer(bootstrap_servers=bootstrap, api_version=api, auto_offset_reset="earliest",
                     enable_auto_commit=False, group_id=None, fetch_max_wait_ms=200)
tps = [TopicPartition(topic, p) for p in range(n_parts)]
cons.assign(tps)
cons.seek_to_beginning()
got = []
deadline = time.time() + 60
while len(got) < len(recs) and time.time() < deadline:
    for tp, msgs in cons.poll(timeout_ms=500).items():
        got += [(tp.partition, m.offset, m.key.hex(), m.value.hex()) for m in msgs]
ends = cons.end_offsets(tps)
cons.close()
print(json.dumps({"produced": [(m.partition, m.offset) for m in metas], "consumed": got,
                  "ends": [ends[tp] for tp in tps]}))
"""


def check_roundtrip(recs, produced, consumed, n_parts):
    want = {tuple(po): (k.hex(), v.hex()) for po, (k, v) in zip(produced, recs)}
    assert len(want) == len(recs), "two records acknowledged at the same offset"
    got = {}
    for p, o, k, v in consumed:
        assert (p, o) not in got, f"{p}/{o} delivered twice"
        got[(p, o)] = (k, v)
    assert got == want
    for p in range(n_parts):
        offs = [o for (pp, o, _, _) in consumed if pp == p]
        assert offs == sorted(offs) == list(range(len(offs)))


@pytest.mark.parametrize("api_version", ["auto", "0.11.0", "1.0.0", "2.0.0"])
def test_kafka_python_by_partition(broker, topic_name, api_version):
    import json

    topic = create_topic(broker, topic_name(), 3)
    recs = records(api_version, 300)
    inp = "".join(f"{k.hex()} {v.hex()}\n" for k, v in recs).encode()
    out = venv_python("-c", KAFKA_PYTHON, broker.bootstrap, topic, api_version, "3", input=inp, timeout=150)
    res = json.loads(out.stdout)
    check_roundtrip(recs, res["produced"], res["consumed"], 3)
    counts = [sum(1 for p, _ in res["produced"] if p == i) for i in range(3)]
    assert res["ends"] == counts


def test_confluent_kafka_idempotent_zstd_by_partition(broker, topic_name):
    from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

    topic = create_topic(broker, topic_name(), 3)
    recs = records(7, 2000)
    produced = [None] * len(recs)
    errors = []

    def cb(i):
        def f(err, msg):
            if err is not None:
                errors.append(err)
            else:
                produced[i] = (msg.partition(), msg.offset())
        return f

    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "enable.idempotence": True,
                  "compression.type": "zstd", "linger.ms": 5, "partitioner": "murmur2_random"})
    for i, (k, v) in enumerate(recs):
        p.produce(topic, key=k, value=v, on_delivery=cb(i))
        p.poll(0)
    assert p.flush(60) == 0
    assert not errors, errors
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False,
                  "fetch.wait.max.ms": 200})
    c.assign([TopicPartition(topic, i, OFFSET_BEGINNING) for i in range(3)])
    consumed = []
    deadline = time.time() + 60
    try:
        while len(consumed) < len(recs) and time.time() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            assert m.error() is None, m.error()
            consumed.append((m.partition(), m.offset(), m.key().hex(), m.value().hex()))
        for i in range(3):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, i), timeout=10)
            assert lo == 0 and hi == sum(1 for pp, _ in produced if pp == i)
    finally:
        c.close()
    check_roundtrip(recs, produced, consumed, 3)


def test_offsets_for_times_exact_record(broker, topic_name):
    """ListOffsets by timestamp names the first record at or after it, inside
    compressed batches too; kcat -o s@ts starts there."""
    from confluent_kafka import Consumer, Producer, TopicPartition

    topic = create_topic(broker, topic_name(), 1)
    base = 1_700_000_000_000
    for codec in ("none", "lz4", "gzip"):
        p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 100, "compression.type": codec})
        for i in range(100):
            p.produce(topic, key=b"k", value=b"%s-%d" % (codec.encode(), i), timestamp=base + i * 10, partition=0)
        assert p.flush(30) == 0
        base += 10_000
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused"})
    try:
        first = 1_700_000_000_000
        for target, want in [(first + 505, 51), (first + 10_000 + 5, 101), (first + 20_990, 299), (first, 0)]:
            got = c.offsets_for_times([TopicPartition(topic, 0, target)], timeout=10)[0]
            assert got.error is None and got.offset == want, (target, got)
        late = c.offsets_for_times([TopicPartition(topic, 0, first + 10**9)], timeout=10)[0]
        assert late.offset == -1  # librdkafka's OFFSET_END: no record that late
    finally:
        c.close()
    out = kcat(broker, "-C", "-t", topic, "-p", "0", "-o", f"s@{first + 10_505}", "-e", "-q", "-f", "%o %T %s\n")
    lines = out.stdout.decode().splitlines()
    assert lines[0] == f"151 {first + 10_510} lz4-51"
    assert len(lines) == 149


@pytest.mark.parametrize("v", ["3.9", "4"])
def test_java_console_by_partition(broker, topic_name, v):
    topic = create_topic(broker, topic_name(), 1)
    lines = [f"key{i}:value-{i}-{v}" for i in range(50)]
    key_flag = "--property" if v == "3.9" else "--reader-property"
    kafka_tool(v, "kafka-console-producer", "--bootstrap-server", broker.bootstrap, "--topic", topic,
               key_flag, "parse.key=true", key_flag, "key.separator=:", "--producer-property", "acks=all",
               input=("\n".join(lines) + "\n").encode())
    fmt_flag = "--property" if v == "3.9" else "--formatter-property"
    out = kafka_tool(v, "kafka-console-consumer", "--bootstrap-server", broker.bootstrap, "--topic", topic,
                     "--partition", "0", "--offset", "earliest", "--max-messages", "50",
                     fmt_flag, "print.key=true", fmt_flag, "key.separator=:")
    assert out.stdout.decode().splitlines() == lines


# ---- raw protocol ---------------------------------------------------------


def test_long_poll_woken_by_produce(broker, topic_name):
    """A fetch with a long max_wait on an empty partition is answered with
    the records a producer appends meanwhile (the test checks that the data
    arrives in that very answer, not how fast)."""
    topic = create_topic(broker, topic_name(), 1)
    result = {}

    def fetcher():
        with broker.conn(timeout=120) as c:
            result["fetch"] = c.fetch({topic: {0: 0}}, max_wait_ms=60000, min_bytes=1)

    t = threading.Thread(target=fetcher)
    t.start()
    time.sleep(0.5)  # lets the fetch park first (not asserted)
    kcat(broker, "-P", "-t", topic, "-p", "0", input=b"woken\n")
    t.join(90)
    assert not t.is_alive()
    part = result["fetch"]["topics"][topic][0]
    assert part["error"] == 0 and part["high_watermark"] == 1
    batches = kwire.parse_batches(part["records"])
    assert [r["value"] for b in batches for r in b["records"]] == [b"woken"]


def test_idempotent_duplicate_and_gap(broker, topic_name):
    """The same idempotent batch sent twice is appended once and both answers
    name its offset; a sequence gap is OUT_OF_ORDER_SEQUENCE_NUMBER (45)."""
    topic = create_topic(broker, topic_name(), 1)
    with broker.conn() as c:
        pid, epoch = c.init_producer_id()
        assert pid >= 0 and epoch == 0

        def send(seq, values):
            batch = kwire.record_batch([(b"k", v) for v in values], producer_id=pid, producer_epoch=0,
                                       base_sequence=seq)
            return c.produce({topic: {0: batch}}, version=7, acks=-1)["topics"][topic][0]

        first = send(0, [b"a", b"b"])
        assert first["error"] == 0 and first["base_offset"] == 0
        again = send(0, [b"a", b"b"])
        assert again["error"] == 0 and again["base_offset"] == 0
        assert send(2, [b"c"])["base_offset"] == 2
        assert send(5, [b"gap"])["error"] == 45
        f = c.fetch({topic: {0: 0}}, max_wait_ms=0)["topics"][topic][0]
        assert f["high_watermark"] == 3
        values = [r["value"] for b in kwire.parse_batches(f["records"]) for r in b["records"]]
        assert values == [b"a", b"b", b"c"]
