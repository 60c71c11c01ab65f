"""Restarts: everything acknowledged with acks=all before a SIGKILL is there
afterwards, at the same offsets, in order per partition; committed group
offsets survive; an idempotent producer rides through the restart without
duplicates; SIGTERM stops the broker cleanly."""

import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from conftest import create_topic, java_partition

PARTS = 3


def produce_acked(broker, topic, records, **conf):
    """Produce with acks=all; returns {index: (partition, offset)} of the
    acknowledged records."""
    acked = {}
    errors = []

    def cb(i):
        def f(err, msg):
            if err is None:
                acked[i] = (msg.partition(), msg.offset())
            else:
                errors.append(err)

        return f

    p = Producer(
        dict(
            {
                "bootstrap.servers": broker.bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "partitioner": "murmur2_random",
                "linger.ms": 2,
            },
            **conf,
        )
    )
    for i, (k, v) in enumerate(records):
        p.produce(topic, key=k, value=v, on_delivery=cb(i))
        p.poll(0)
    assert p.flush(60) == 0
    assert not errors, errors
    return acked


def read_partitions(broker, topic, parts=PARTS, timeout=60):
    """Every record of every partition from the start to the high watermark
    (no group): {partition: [(offset, key, value)]}."""
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False})
    out = {p: [] for p in range(parts)}
    try:
        ends = {}
        for p in range(parts):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            ends[p] = hi
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(parts)])
        deadline = time.time() + timeout
        while any((out[p][-1][0] + 1 if out[p] else 0) < ends[p] for p in range(parts)):
            assert time.time() < deadline, f"read timed out: have {[len(out[p]) for p in range(parts)]}, ends {ends}"
            m = c.poll(0.5)
            if m is None:
                continue
            assert m.error() is None, m.error()
            out[m.partition()].append((m.offset(), m.key(), m.value()))
    finally:
        c.close()
    return out


def test_sigkill_keeps_acked_records_and_group_offsets(fresh_broker, topic_name):
    b = fresh_broker
    topic = create_topic(b, topic_name(), PARTS)
    records = [(b"k%d" % (i % 97), b"value-%06d" % i) for i in range(3000)]
    acked = produce_acked(b, topic, records)
    assert len(acked) == len(records)

    # A group consumes part of it and commits.
    group = f"g-{topic}"
    c = Consumer(
        {"bootstrap.servers": b.bootstrap, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}
    )
    c.subscribe([topic])
    seen = 0
    deadline = time.time() + 60
    while seen < 1000 and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None:
            assert m.error() is None, m.error()
            seen += 1
    assert seen == 1000
    committed = {tp.partition: tp.offset for tp in c.commit(asynchronous=False)}
    c.close()

    b.kill9()
    b.start()

    got = read_partitions(b, topic)
    for p in range(PARTS):
        want = sorted((off, records[i]) for i, (pp, off) in acked.items() if pp == p)
        assert [(o, (k, v)) for o, k, v in got[p]] == want, f"partition {p} differs after restart"
        assert [o for o, _, _ in got[p]] == list(range(len(want)))

    # The group resumes exactly where it committed.
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "enable.auto.commit": False})
    after = c.committed([TopicPartition(topic, p) for p in range(PARTS)], timeout=30)
    c.close()
    assert {tp.partition: tp.offset for tp in after} == committed

    # New records continue the log after the old end.
    more = [(b"k%d" % i, b"after-%d" % i) for i in range(30)]
    acked2 = produce_acked(b, topic, more)
    for i, (p, off) in acked2.items():
        assert off >= len(got[p])
        assert p == java_partition(more[i][0], PARTS)


def test_idempotent_producer_rides_through_sigkill(fresh_broker, topic_name):
    b = fresh_broker
    topic = create_topic(b, topic_name(), PARTS)
    n = 6000
    records = [(b"s%d" % (i % 31), b"seq-%06d" % i) for i in range(n)]
    acked = {}
    errors = []
    first_acks = threading.Event()

    def cb(i):
        def f(err, msg):
            if err is None:
                acked[i] = (msg.partition(), msg.offset())
                if len(acked) >= 1500:
                    first_acks.set()
            else:
                errors.append((i, err))

        return f

    prod = Producer(
        {
            "bootstrap.servers": b.bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "partitioner": "murmur2_random",
            "linger.ms": 5,
            "message.timeout.ms": 120000,
            "reconnect.backoff.ms": 100,
            "reconnect.backoff.max.ms": 500,
        }
    )
    stop = threading.Event()

    def pump():
        # Keep the delivery callbacks flowing while the broker restarts.
        while not stop.is_set():
            prod.poll(0.1)

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    try:
        for i, (k, v) in enumerate(records):
            while True:
                try:
                    prod.produce(topic, key=k, value=v, on_delivery=cb(i))
                    break
                except BufferError:
                    time.sleep(0.01)
            if i == 2000:
                assert first_acks.wait(60), "no acks before the kill"
                before_kill = dict(acked)
                b.kill9()
                b.start()
        assert prod.flush(120) == 0
    finally:
        stop.set()
        t.join()
    assert not errors, errors[:5]
    assert len(acked) == n

    got = read_partitions(b, topic)
    for p in range(PARTS):
        values = [v for _, _, v in got[p]]
        # No duplicates, send order kept per partition.
        assert len(values) == len(set(values)), f"duplicates in partition {p}"
        sent = [records[i][1] for i in sorted(i for i, (pp, _) in acked.items() if pp == p)]
        assert values == sent, f"partition {p}: order or content differs"
        offs = {v: o for o, _, v in got[p]}
        for i, (pp, off) in acked.items():
            if pp == p:
                assert offs[records[i][1]] == off
    # What was acknowledged before the kill kept its offsets.
    for i, po in before_kill.items():
        assert acked[i] == po

    # SIGTERM: a clean stop, and the data is still there afterwards.
    assert b.stop(), "broker did not exit on SIGTERM"
    b.start()
    again = read_partitions(b, topic)
    assert again == got
