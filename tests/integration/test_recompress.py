"""A topic's compression.type applies to the batches Kafka producers send,
as in Apache Kafka: a codec other than the batch's re-encodes it before it
is stored (producer ids, sequences, timestamps, keys, values and headers
kept), `producer` stores it as sent. The stored codec is read from the
segment files; kcat reads the records back. Passes against Apache Kafka too
(EDDY_TEST_TARGET=kafka)."""

import gzip
import time

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

import kwire
from conftest import create_topic, kcat
from kafka_segments import stored_data_batches

CODEC = {"none": 0, "uncompressed": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def set_config(broker, topic, key, value):
    """Sets a topic config (IncrementalAlterConfigs, as kafka-configs does)
    and waits until the broker describes it."""
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    res = ConfigResource("topic", topic, incremental_configs=[
        ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)])
    list(admin.incremental_alter_configs([res]).values())[0].result(timeout=60)
    deadline = time.time() + 30
    while True:
        cfg = list(admin.describe_configs([ConfigResource("topic", topic)]).values())[0].result(timeout=60)
        if cfg[key].value == value:
            return
        assert time.time() < deadline, cfg[key]
        time.sleep(0.1)


def codec_topic(broker, topic, codec):
    """A topic whose compression.type is codec, set after creation (Kafka's
    own readiness check, a Fetch v4, fails on a topic created with zstd:
    older fetches may not see zstd)."""
    create_topic(broker, topic, 1)
    set_config(broker, topic, "compression.type", codec)
    return topic


def stored_headers(broker, topic):
    """Header fields of every data batch stored for topic (partition 0)."""
    out = []
    for seg in sorted((broker.log_dir / f"{topic}-0").glob("*.log")):
        out += [b for b in kwire.parse_batches(seg.read_bytes()) if not b["control"]]
    return out


def read_back(broker, topic, n):
    out = kcat(broker, "-C", "-t", topic, "-o", "beginning", "-c", str(n), "-e", "-f", "%o|%T|%k|%s|%h\n").stdout
    return [line.split("|") for line in out.decode().splitlines()]


@pytest.mark.parametrize(
    "sent,topic_codec",
    [("none", "zstd"), ("zstd", "uncompressed"), ("lz4", "gzip"), ("gzip", "snappy"), ("zstd", "producer")],
)
def test_producer_batches_take_the_topic_codec(broker, topic_name, sent, topic_codec):
    topic = codec_topic(broker, topic_name(), topic_codec)
    t0 = int(time.time() * 1000) - 10_000
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "enable.idempotence": True,
                  "compression.type": sent, "linger.ms": 100, "batch.num.messages": 50})
    n = 200
    for i in range(n):
        p.produce(topic, key=f"turbine-{i % 7}", value=f'{{"kW":{i * 3},"rpm":{i % 17}}}' * (1 + i % 3),
                  headers=[("site", f"s{i % 2}".encode())], timestamp=t0 + i)
        if i % 50 == 49:
            assert p.flush(60) == 0  # several batches, several sequences
    assert p.flush(60) == 0

    rows = read_back(broker, topic, n)
    assert len(rows) == n
    for i, (off, ts, key, value, headers) in enumerate(rows):
        assert int(off) == i and int(ts) == t0 + i
        assert key == f"turbine-{i % 7}"
        assert value == f'{{"kW":{i * 3},"rpm":{i % 17}}}' * (1 + i % 3)
        assert headers == f"site=s{i % 2}"

    want = CODEC[sent] if topic_codec == "producer" else CODEC[topic_codec]
    assert {codec for codec, _ in stored_data_batches(broker.log_dir, topic)} == {want}
    # the idempotent producer's fields stay: one producer id, each batch's
    # sequence continues where the previous one ended
    batches = stored_headers(broker, topic)
    assert len(batches) >= 4
    assert len({b["producer_id"] for b in batches}) == 1 and batches[0]["producer_id"] >= 0
    for b in batches:
        assert b["base_sequence"] == b["base_offset"] and b["crc_ok"]


def test_retried_batch_deduplicates_after_reencoding(broker, topic_name):
    """An idempotent batch sent again (a retry) is answered with its first
    offset and stored once, although what was stored is the zstd
    re-encoding of what was sent."""
    topic = codec_topic(broker, topic_name(), "zstd")
    with broker.conn() as c:
        pid, epoch = c.init_producer_id()

        def send(seq, values):
            batch = kwire.record_batch([(b"k", v) for v in values], producer_id=pid, producer_epoch=epoch,
                                       base_sequence=seq)
            return c.produce({topic: {0: batch}}, version=7, acks=-1)["topics"][topic][0]

        assert send(0, [b"a" * 100, b"b" * 100])["base_offset"] == 0
        again = send(0, [b"a" * 100, b"b" * 100])
        assert again["error"] == 0 and again["base_offset"] == 0
        assert send(2, [b"c" * 100])["base_offset"] == 2
        assert send(5, [b"gap"])["error"] == 45  # OUT_OF_ORDER_SEQUENCE_NUMBER
    batches = stored_headers(broker, topic)
    assert [(b["compression"], b["base_offset"], b["producer_id"], b["base_sequence"], b["record_count"])
            for b in batches] == [("zstd", 0, pid, 0, 2), ("zstd", 2, pid, 2, 1)]
    assert [row[3] for row in read_back(broker, topic, 3)] == ["a" * 100, "b" * 100, "c" * 100]


def test_max_message_bytes_as_sent_and_as_stored(broker, topic_name):
    """max.message.bytes bounds the batch as sent (even if re-encoding
    would shrink it below) and the batch as stored (a re-encoding that
    grows past it is refused too): MESSAGE_TOO_LARGE (10), nothing
    stored."""
    big, small = topic_name("zstd"), topic_name("plain")
    codec_topic(broker, big, "zstd")
    codec_topic(broker, small, "uncompressed")
    for t in (big, small):
        set_config(broker, t, "max.message.bytes", "2000")
    recs = [(b"k", b"reading %d " % i + b"0" * 200) for i in range(20)]  # ~4.5 KB, compresses well
    plain = kwire.record_batch(recs)
    section = b"".join(kwire.record(i, 0, k, v) for i, (k, v) in enumerate(recs))
    gz = kwire.crafted_batch(gzip.compress(section), len(recs), len(recs) - 1, attributes=1)
    assert len(plain) > 2000 > len(gz)
    with broker.conn() as c:
        r = c.produce({small: {0: gz}}, version=7)["topics"][small][0]
        assert r["error"] == 10, r  # gzip 0.3 KB, 4.5 KB uncompressed
        assert c.produce({big: {0: plain}}, version=7)["topics"][big][0]["error"] == 10
    assert stored_headers(broker, big) == [] and stored_headers(broker, small) == []
