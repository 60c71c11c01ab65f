"""kcat (librdkafka, Debian's build) against the broker: keys, headers,
timestamps, the four codecs, three partitions, offsets by timestamp, Java's
murmur2 partitioning and the idempotent producer."""

import random
import time

import pytest

import kwire
from conftest import create_topic, java_partition, kcat

# kcat reads records split by these bytes, so payloads never contain them.
REC_DELIM = 0x1E
KEY_DELIM = 0x1F
FMT = "%p %o %T %K %S %h\\n%k%s\\n"


def rand_bytes(rng, lo, hi):
    n = rng.randint(lo, hi)
    return bytes(b for b in (rng.randrange(256) for _ in range(n * 2)) if b not in (REC_DELIM, KEY_DELIM))[:n] or b"x"


def produce(broker, topic, records, *args, timeout=60):
    """records: [(key, value)]; keys must be non-empty."""
    data = b"".join(k + bytes([KEY_DELIM]) + v + bytes([REC_DELIM]) for k, v in records)
    kcat(broker, "-P", "-t", topic, "-K", "\\x1f", "-D", "\\x1e", *args, input=data, timeout=timeout)


def consume(broker, topic, *args, offset="beginning", timeout=60):
    """Every record from offset to the current end (-e), parsed from a
    length-prefixed format so any byte survives."""
    out = kcat(broker, "-C", "-t", topic, "-o", offset, "-e", "-q", "-f", FMT, *args, timeout=timeout).stdout
    recs = []
    pos = 0
    while pos < len(out):
        nl = out.index(b"\n", pos)
        p, o, ts, klen, vlen, *hdr = out[pos:nl].decode().split(" ", 5)
        pos = nl + 1
        klen, vlen = int(klen), int(vlen)
        key = None if klen < 0 else out[pos : pos + klen]
        pos += max(klen, 0)
        value = None if vlen < 0 else out[pos : pos + vlen]
        pos += max(vlen, 0)
        assert out[pos : pos + 1] == b"\n", f"kcat output out of step at {pos}"
        pos += 1
        headers = []
        if hdr and hdr[0]:
            headers = [tuple(h.split("=", 1)) for h in hdr[0].split(",")]
        recs.append({"partition": int(p), "offset": int(o), "timestamp": int(ts), "key": key, "value": value, "headers": headers})
    return recs


def by_partition(recs):
    out = {}
    for r in recs:
        out.setdefault(r["partition"], []).append(r)
    return out


def test_keys_headers_binary_roundtrip(broker, topic_name):
    topic = create_topic(broker, topic_name(), 1)
    rng = random.Random(1)
    records = [(rand_bytes(rng, 1, 40), rand_bytes(rng, 0, 3000)) for _ in range(300)]
    t0 = int(time.time() * 1000)
    produce(broker, topic, records, "-H", "trace=abc-123", "-H", "site=paris")
    t1 = int(time.time() * 1000)
    got = consume(broker, topic)
    assert [(r["key"], r["value"]) for r in got] == records
    assert [r["offset"] for r in got] == list(range(len(records)))
    for r in got:
        assert r["headers"] == [("trace", "abc-123"), ("site", "paris")]
        # CreateTime from the producer, kept by the broker.
        assert t0 - 1000 <= r["timestamp"] <= t1 + 1000


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compression_codec(broker, topic_name, codec):
    topic = create_topic(broker, topic_name(), 1)
    rng = random.Random(codec)
    # Compressible values: repeated words with random bits.
    words = [b"turbine", b"power", b"wind", b"12.5", b"NATION", b"ARRIVED"]
    records = [
        (b"key-%d" % i, b"|".join(rng.choice(words) for _ in range(rng.randint(1, 60))) + rand_bytes(rng, 0, 8))
        for i in range(1000)
    ]
    produce(broker, topic, records, "-z", codec, "-X", "linger.ms=50", "-X", "batch.num.messages=200")
    got = consume(broker, topic)
    assert [(r["key"], r["value"]) for r in got] == records
    # Batches are served as the producer compressed them.
    batches = kwire.fetch_all(broker.host, broker.port, topic, 0)
    assert sum(b["record_count"] for b in batches) == len(records)
    assert all(b["crc_ok"] and b["magic"] == 2 for b in batches)
    assert {b["compression"] for b in batches} == {codec}
    assert len(batches) < len(records)  # really batched


def test_three_partitions(broker, topic_name):
    topic = create_topic(broker, topic_name(), 3)
    rng = random.Random(3)
    sent = {}
    for p in range(3):
        sent[p] = [(b"p%d-%d" % (p, i), rand_bytes(rng, 1, 200)) for i in range(100 + p * 10)]
        produce(broker, topic, sent[p], "-p", str(p))
    got = by_partition(consume(broker, topic))
    assert sorted(got) == [0, 1, 2]
    for p in range(3):
        assert [(r["key"], r["value"]) for r in got[p]] == sent[p]
        assert [r["offset"] for r in got[p]] == list(range(len(sent[p])))
    # Reading one partition from an absolute offset.
    tail = consume(broker, topic, "-p", "2", offset="50")
    assert [(r["key"], r["value"]) for r in tail] == sent[2][50:]


def test_offset_by_timestamp(broker, topic_name):
    topic = create_topic(broker, topic_name(), 1)
    wave_a = [(b"a%d" % i, b"early-%d" % i) for i in range(50)]
    produce(broker, topic, wave_a)
    got_a = consume(broker, topic)
    assert [(r["key"], r["value"]) for r in got_a] == wave_a
    split = max(r["timestamp"] for r in got_a) + 1
    # Wave B must carry later timestamps than the split point.
    while int(time.time() * 1000) <= split + 5:
        time.sleep(0.01)
    wave_b = [(b"b%d" % i, b"late-%d" % i) for i in range(30)]
    produce(broker, topic, wave_b)
    got = consume(broker, topic, offset=f"s@{split}")
    assert [(r["key"], r["value"]) for r in got] == wave_b
    assert got[0]["offset"] == len(wave_a)
    assert all(r["timestamp"] >= split for r in got)
    # ListOffsets by timestamp through kcat's query mode.
    q = kcat(broker, "-Q", "-t", f"{topic}:0:{split}").stdout.decode()
    assert f"offset {len(wave_a)}" in q, q


def test_murmur2_random_partitioner(broker, topic_name):
    topic = create_topic(broker, topic_name(), 3)
    rng = random.Random(5)
    records = [(b"sensor-%d-%s" % (i, rand_bytes(rng, 1, 12)), b"v%d" % i) for i in range(300)]
    produce(broker, topic, records, "-X", "partitioner=murmur2_random")
    got = consume(broker, topic)
    assert len(got) == len(records)
    for r in got:
        assert r["partition"] == java_partition(r["key"], 3), r["key"]
    assert {r["partition"] for r in got} == {0, 1, 2}
    # Per partition, keys keep the order they were sent in.
    sent_order = {k: i for i, (k, _) in enumerate(records)}
    for p, recs in by_partition(got).items():
        idx = [sent_order[r["key"]] for r in recs]
        assert idx == sorted(idx)


def test_idempotent_producer(broker, topic_name):
    topic = create_topic(broker, topic_name(), 3)
    records = [(b"id-%d" % i, b"payload-%d" % i) for i in range(1500)]
    produce(
        broker,
        topic,
        records,
        "-X",
        "enable.idempotence=true",
        "-X",
        "partitioner=murmur2_random",
        "-X",
        "linger.ms=20",
    )
    got = consume(broker, topic)
    assert sorted((r["key"], r["value"]) for r in got) == sorted(records)
    assert len(got) == len(records)  # no duplicates
    for p in range(3):
        batches = kwire.fetch_all(broker.host, broker.port, topic, p)
        assert batches, f"partition {p} empty"
        pids = {b["producer_id"] for b in batches}
        assert len(pids) == 1 and min(pids) >= 0, pids
        assert {b["producer_epoch"] for b in batches} == {0}
        # Sequences run without gaps from 0, batch after batch.
        seq = 0
        for b in batches:
            assert b["base_sequence"] == seq
            seq += b["record_count"]
