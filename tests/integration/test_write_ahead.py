"""Blocks written ahead of the active segment (docs/architecture.md, "Blocks
written ahead"): a partition whose flushes carry a few hundred bytes each
gets zeros written past its last batch; after a kill -9 `eddy check` and
`eddy dump` stop at the last batch and say the zeros are not damage, the
restarted broker serves every acknowledged record and appends after them;
after SIGTERM the segment is exactly its batches and Apache Kafka's own
kafka-dump-log reads it without a complaint."""

import re

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from conftest import EDDY_BIN, TARGET, create_topic, kafka_tool, run

pytestmark = pytest.mark.skipif(TARGET != "eddy", reason="Eddy's own segment files")  # allowed: only when the suite is proven against real Kafka, whose files differ

BATCH = re.compile(r"^baseOffset: (\d+) lastOffset: (\d+) .*? position: (\d+) .*? size: (\d+) ")


def produce_one_by_one(broker, topic, values):
    """acks=all, each record answered before the next is sent: one flush
    per record."""
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 0})
    offsets = []
    for v in values:
        got = []
        p.produce(topic, value=v, on_delivery=lambda err, msg: got.append((err, msg.offset())))
        assert p.flush(30) == 0
        assert got and got[0][0] is None, got
        offsets.append(got[0][1])
    return offsets


def read_all(broker, topic):
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False})
    try:
        _, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        out = []
        while len(out) < hi:
            m = c.poll(10)
            assert m is not None, f"read {len(out)} of {hi}"
            assert m.error() is None, m.error()
            out.append((m.offset(), m.value()))
        return out
    finally:
        c.close()


def batches_end(dump_text):
    """The end of the last batch that kafka-dump-log (or eddy dump) lists."""
    end = 0
    for line in dump_text.splitlines():
        m = BATCH.match(line)
        if m:
            end = int(m.group(3)) + int(m.group(4))
    return end


def test_zeros_written_ahead_survive_kill9_and_go_at_clean_stop(fresh_broker, topic_name):
    b = fresh_broker
    topic = create_topic(b, topic_name(), 1)
    values = [b"reading-%04d" % i for i in range(40)]
    assert produce_one_by_one(b, topic, values) == list(range(40))
    seg = b.log_dir / f"{topic}-0" / "00000000000000000000.log"

    b.kill9()
    p = run([EDDY_BIN, "dump", seg])
    out = p.stdout.decode()
    end = batches_end(out)
    assert end > 0
    m = re.search(r"position (\d+): end of the batches; (\d+) bytes of zeros written ahead follow", out)
    assert m, out[-2000:]
    assert int(m.group(1)) == end and seg.stat().st_size == end + int(m.group(2))
    assert seg.read_bytes()[end:] == bytes(seg.stat().st_size - end)
    p = run([EDDY_BIN, "check", b.log_dir / f"{topic}-0"])
    assert "zeros written ahead" in p.stdout.decode()
    assert "0 problems" in p.stdout.decode().splitlines()[-1]

    b.start()
    assert read_all(b, topic) == list(enumerate(values))
    more = [b"after-%d" % i for i in range(5)]
    assert produce_one_by_one(b, topic, more) == list(range(40, 45))

    assert b.stop(), "broker did not exit on SIGTERM"
    p = kafka_tool("3.9", "kafka-dump-log", "--files", str(seg), timeout=240)
    text = p.stdout.decode() + p.stderr.decode()
    assert "invalid bytes" not in text and "Exception" not in text, text[-2000:]
    assert seg.stat().st_size == batches_end(text) > end
    b.start()
    assert read_all(b, topic) == list(enumerate(values + more))
