"""Eddy's own Kafka client through the `eddy` command: `eddy produce` and
`eddy consume` checked against kcat (librdkafka) on the broker under test,
and `eddy topics`, `eddy produce` and `eddy consume` against a real Apache
Kafka broker too, which proves Eddy's client against a server nobody here
wrote."""

import random
import time

import pytest

import conftest
from conftest import Broker, create_topic, java_partition, kcat, run, wait_topic
from test_admin import eddy, eddy_topics_roundtrip
from test_kcat import consume as kcat_consume
from test_kcat import produce as kcat_produce


@pytest.fixture(scope="module")
def real_kafka(tmp_path_factory):
    """A real Apache Kafka broker, whatever the broker under test is."""
    saved = conftest.TARGET
    conftest.TARGET = "kafka"
    try:
        b = Broker(tmp_path_factory.mktemp("realkafka"))
        b.start()
    finally:
        conftest.TARGET = saved
    yield b
    conftest.TARGET = "kafka"
    try:
        b.stop()
    finally:
        conftest.TARGET = saved


def eddy_produce(bootstrap, topic, lines, *args):
    return eddy("produce", "-b", bootstrap, "-t", topic, *args, input_=lines)


def _records(n, seed):
    rng = random.Random(seed)
    return [(f"sensor-{rng.randrange(40)}", f"reading {i} {'~' * rng.randrange(80)} é") for i in range(n)]


def _produce_then_kcat(broker, topic, codec):
    recs = _records(600, codec)
    lines = "".join(f"{k}|{v}\n" for k, v in recs).encode()
    eddy_produce(broker.bootstrap, topic, lines, "-k", "|", "--compression", codec, "-H", "origin=eddy")
    got = kcat_consume(broker, topic)
    assert len(got) == len(recs)
    # Keys land where Kafka's Java client would put them (murmur2), and
    # per-partition order is the input order.
    want = {}
    for k, v in recs:
        want.setdefault(java_partition(k.encode(), 3), []).append((k.encode(), v.encode()))
    have = {}
    for r in got:
        have.setdefault(r["partition"], []).append((r["key"], r["value"]))
        assert r["headers"] == [("origin", "eddy")], r
    assert have == want


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_eddy_produce_kcat_consume(broker, topic_name, codec):
    topic = create_topic(broker, topic_name(), 3)
    _produce_then_kcat(broker, topic, codec)


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_kcat_produce_eddy_consume(broker, topic_name, codec):
    topic = create_topic(broker, topic_name(), 3)
    recs = [(f"k{i % 9}".encode(), f"value-{i}".encode()) for i in range(500)]
    kcat_produce(broker, topic, recs, "-z", codec)
    out = eddy("consume", "-b", broker.bootstrap, "-t", topic, "-e", "-f", "%p %o %k %v\\n").stdout.decode()
    lines = [l.split(" ") for l in out.splitlines()]
    assert len(lines) == len(recs)
    ref = {(r["partition"], r["offset"]): (r["key"], r["value"]) for r in kcat_consume(broker, topic)}
    mine = {(int(p), int(o)): (k.encode(), v.encode()) for p, o, k, v in lines}
    assert mine == ref


def test_eddy_consume_positions(broker, topic_name):
    topic = create_topic(broker, topic_name(), 1)
    eddy_produce(broker.bootstrap, topic, b"".join(b"first-%d\n" % i for i in range(10)))
    time.sleep(0.05)
    mid = int(time.time() * 1000)
    time.sleep(0.05)
    eddy_produce(broker.bootstrap, topic, b"".join(b"second-%d\n" % i for i in range(10)))

    def consume(*args):
        return eddy("consume", "-b", broker.bootstrap, "-t", topic, "-e", "-f", "%o:%v\\n", *args).stdout.decode().split()

    assert consume("-o", "beginning")[0] == "0:first-0"
    assert len(consume()) == 20
    assert consume("-o", "15") == [f"{o}:second-{o - 10}" for o in range(15, 20)]
    assert consume("-o", "-3") == ["17:second-7", "18:second-8", "19:second-9"]
    assert consume("-o", f"@{mid}")[0] == "10:second-0"
    assert consume("-o", "end") == []
    assert consume("-c", "4") == ["0:first-0", "1:first-1", "2:first-2", "3:first-3"]
    # -p and a partition that does not exist.
    assert len(consume("-p", "0")) == 20
    bad = eddy("consume", "-b", broker.bootstrap, "-t", topic, "-p", "5", "-e", check=False)
    assert bad.returncode == 1 and "has no partition 5" in bad.stderr.decode()
    missing = eddy("consume", "-b", broker.bootstrap, "-t", topic + "-nope", "-e", check=False)
    assert missing.returncode == 1 and "UNKNOWN_TOPIC_OR_PARTITION" in missing.stderr.decode()


def test_eddy_produce_acks_and_errors(broker, topic_name):
    topic = create_topic(broker, topic_name(), 2)
    for acks in ("all", "1", "0"):
        eddy_produce(broker.bootstrap, topic, f"acks-{acks}\n".encode(), "--acks", acks, "-p", "1")
    # acks=0 is fire-and-forget: wait until the record shows up.
    deadline = time.time() + 20
    while True:
        got = [r["value"] for r in kcat_consume(broker, topic, "-p", "1")]
        if len(got) == 3 or time.time() > deadline:
            break
        time.sleep(0.2)
    assert got == [b"acks-all", b"acks-1", b"acks-0"]
    nosep = eddy("produce", "-b", broker.bootstrap, "-t", topic, "-k", ":", input_=b"novalue\n", check=False)
    assert nosep.returncode == 1 and "no key separator" in nosep.stderr.decode()
    assert eddy("produce", "-t", topic, "--acks", "2", check=False).returncode == 2
    assert eddy("produce", "-t", topic, "--compression", "brotli", check=False).returncode == 2
    big = eddy("produce", "-b", broker.bootstrap, "-t", topic, input_=b"x" * 2_000_000 + b"\n", check=False)
    assert big.returncode == 1, big


# ---------------------------------------------------------------------------
# Against Apache Kafka.


def test_eddy_topics_against_apache_kafka(real_kafka, topic_name):
    eddy_topics_roundtrip(real_kafka.bootstrap, topic_name())


def test_eddy_produce_consume_against_apache_kafka(real_kafka, topic_name):
    topic = topic_name()
    eddy("topics", "create", "-b", real_kafka.bootstrap, "-t", topic, "--partitions", "3")
    wait_topic(real_kafka, topic, 3)
    _produce_then_kcat(real_kafka, topic, "zstd")
    out = eddy("consume", "-b", real_kafka.bootstrap, "-t", topic, "-e", "-f", "%p %k\\n").stdout.decode()
    lines = [l.split(" ") for l in out.splitlines()]
    assert len(lines) == 600
    assert all(int(p) == java_partition(k.encode(), 3) for p, k in lines)
