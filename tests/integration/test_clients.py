"""Client libraries against the broker, each a keyed produce and consume
round-trip compared byte for byte: confluent-kafka (recent librdkafka),
kafka-python 2.0.2 (negotiates nothing), KafkaJS 2.2.4 and franz-go."""

import logging
import os
import random
import time

import pytest

from conftest import create_topic, franz, java_partition, node_peer, parse_hex_records, records_hex_lines


def make_records(seed, n=200):
    rng = random.Random(seed)
    recs = []
    for i in range(n):
        key = b"key-%d-" % i + bytes(rng.randrange(256) for _ in range(rng.randint(0, 16)))
        value = bytes(rng.randrange(256) for _ in range(rng.randint(1, 2000)))
        recs.append((key, value))
    recs[7] = (recs[7][0], b"")  # an empty value
    recs[11] = (recs[11][0], bytes(rng.randrange(256) for _ in range(200_000)))  # a large one
    return recs


def check_roundtrip(records, produced, consumed, partitions=3):
    """produced: [(partition, offset)] in send order; consumed:
    [(partition, offset, key, value)] in arrival order."""
    assert len(produced) == len(records)
    # Keyed records land where Java's partitioner puts them.
    for (k, _), (p, _) in zip(records, produced):
        assert p == java_partition(k, partitions), k
    want = {(p, o): kv for (p, o), kv in zip(produced, records)}
    assert len(want) == len(records), "two records acknowledged at the same offset"
    got = {}
    for p, o, k, v in consumed:
        assert (p, o) not in got, f"offset {p}/{o} delivered twice"
        got[(p, o)] = (k, v)
    assert got.keys() == want.keys()
    for po in want:
        assert got[po] == want[po], f"record at {po} differs"
    # Per partition, offsets follow send order and arrive in order.
    for p in range(partitions):
        sent = [o for (pp, o) in produced if pp == p]
        assert sent == sorted(sent)
        arrived = [o for (pp, o, _, _) in consumed if pp == p]
        assert arrived == sorted(arrived)


def test_confluent_kafka(broker, topic_name):
    from confluent_kafka import Consumer, Producer

    topic = create_topic(broker, topic_name(), 3)
    records = make_records(1)
    produced = [None] * len(records)
    errors = []

    def on_delivery(i):
        def cb(err, msg):
            if err is not None:
                errors.append(err)
            else:
                produced[i] = (msg.partition(), msg.offset())

        return cb

    prod = Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "partitioner": "murmur2_random",
            "linger.ms": 5,
        }
    )
    for i, (k, v) in enumerate(records):
        prod.produce(topic, key=k, value=v, on_delivery=on_delivery(i))
        prod.poll(0)
    assert prod.flush(60) == 0
    assert not errors, errors

    cons = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": f"cg-{topic}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    cons.subscribe([topic])
    consumed = []
    deadline = time.time() + 60
    try:
        while len(consumed) < len(records) and time.time() < deadline:
            m = cons.poll(0.5)
            if m is None:
                continue
            assert m.error() is None, m.error()
            consumed.append((m.partition(), m.offset(), m.key(), m.value()))
        cons.commit(asynchronous=False)
    finally:
        cons.close()
    check_roundtrip(records, produced, consumed)


@pytest.mark.timeout(150)  # its coordinator lookup retries without end
@pytest.mark.parametrize("api_version", [None, (0, 11, 0)], ids=["auto", "0.11"])
def test_kafka_python(broker, topic_name, api_version):
    # kafka-python 2.0.2 does not negotiate: with api_version=None it probes
    # (ApiVersions v0 + Metadata v0), guesses a broker release from the
    # advertised ranges, then uses fixed request versions for that release.
    import kafka
    from kafka import KafkaConsumer, KafkaProducer

    assert kafka.__version__ == "2.0.2"
    # Its retry loops log an ERROR per attempt; EDDY_TEST_VERBOSE=1 keeps them.
    if not os.environ.get("EDDY_TEST_VERBOSE"):
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    topic = create_topic(broker, topic_name(), 3)
    records = make_records(2)
    prod = KafkaProducer(
        bootstrap_servers=broker.bootstrap,
        acks="all",
        api_version=api_version,
        retries=5,
        max_in_flight_requests_per_connection=1,
        max_request_size=1 << 20,
    )
    try:
        futures = [prod.send(topic, key=k, value=v) for k, v in records]
        prod.flush(60)
        metas = [f.get(timeout=60) for f in futures]
    finally:
        prod.close(10)
    produced = [(m.partition, m.offset) for m in metas]

    cons = KafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap,
        group_id=f"kp-{topic}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        api_version=api_version,
        max_partition_fetch_bytes=1 << 20,
    )
    consumed = []
    deadline = time.time() + 60
    try:
        while len(consumed) < len(records) and time.time() < deadline:
            for tp, msgs in cons.poll(timeout_ms=500).items():
                consumed += [(tp.partition, m.offset, m.key, m.value) for m in msgs]
        cons.commit()
    finally:
        cons.close()
    check_roundtrip(records, produced, consumed)


def test_kafkajs(broker, topic_name):
    topic = create_topic(broker, topic_name(), 3)
    records = make_records(3)
    out = node_peer("produce", broker.bootstrap, topic, input=records_hex_lines(records), timeout=120)
    produced = [tuple(map(int, line.split())) for line in out.stdout.decode().splitlines()]
    out = node_peer("consume", broker.bootstrap, topic, str(len(records)), "60000", timeout=120)
    consumed = parse_hex_records(out.stdout)
    check_roundtrip(records, produced, consumed)


@pytest.mark.parametrize("group", [False, True], ids=["direct", "group"])
def test_franz_go(broker, topic_name, group):
    topic = create_topic(broker, topic_name(), 3)
    records = make_records(4)
    out = franz("produce", "-brokers", broker.bootstrap, "-topic", topic, input=records_hex_lines(records))
    produced = [tuple(map(int, line.split())) for line in out.stdout.decode().splitlines()]
    args = ["consume", "-brokers", broker.bootstrap, "-topic", topic, "-n", str(len(records)), "-timeout", "60s"]
    if group:
        args += ["-group", f"franz-{topic}"]
    consumed = parse_hex_records(franz(*args).stdout)
    check_roundtrip(records, produced, consumed)
