"""The disk guard's policy with real clients: with free space below
log.dir.min.free.bytes (set larger than any disk, so the floor is never met)
the default policy, refuse, keeps every acknowledged record (kcat reads them
all back after the restart) and refuses new data with KAFKA_STORAGE_ERROR
(Kafka) and reason 0x97 Quota exceeded (paho-mqtt, MQTT 5); the operator's
choice log.dir.full.policy=delete-oldest deletes the oldest closed segments
and names each dropped range in the log."""

import re

import pytest

import kwire
from conftest import HOST, TARGET, Broker, PubAcks, kcat

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

pytestmark = pytest.mark.skipif(TARGET != "eddy", reason="Eddy's own disk guard keys")  # allowed: only when the suite is proven against real Kafka, which has no such keys

HUGE = str(1 << 62)  # more free space than any disk has
KAFKA_STORAGE_ERROR = 56
N = 300


def produce_acked(broker, topic):
    """N records, 10 per batch, acks=all through the Kafka wire; all must be acknowledged."""
    with broker.conn() as c:
        c.metadata([topic])
        for i in range(0, N, 10):
            batch = kwire.record_batch([(b"k", b"record-%05d-" % j + b"x" * 200) for j in range(i, i + 10)])
            r = c.produce({topic: {0: batch}}, acks=-1)
            assert r["topics"][topic][0]["error"] == kwire.NONE


def read_all(broker, topic):
    out = kcat(broker, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%s\n").stdout.decode()
    return [line[:12] for line in out.splitlines() if line]


def start_with_data(tmp_path, topic):
    """A broker with N acknowledged records of topic in several segments."""
    b = Broker(tmp_path, {"log.segment.bytes": "16384"}).start()
    produce_acked(b, topic)
    before = segments(b, topic)
    assert len(before) > 3
    return b, before


def restart_with(broker, **extra):
    broker.stop()
    broker.config.update(extra)
    return broker.start()


def segments(broker, topic):
    return sorted(p.name for p in (broker.log_dir / f"{topic}-0").glob("*.log"))


def mqtt5_publish_reason(broker, topic):
    """Publishes one QoS 1 message with paho-mqtt (MQTT 5); returns the PUBACK reason code."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="disk-full", protocol=mqtt.MQTTv5)
    acks = PubAcks(c)
    c.connect(HOST, broker.mqtt_port)
    c.loop_start()
    try:
        reason = acks.wait(c.publish(topic, b"21.5", qos=1).mid)
        assert reason is not None, "no PUBACK"
    finally:
        c.disconnect()
        c.loop_stop()
    return reason.value


def test_refuse_keeps_acked_data_and_refuses_new(tmp_path):
    b, before = start_with_data(tmp_path / "b", "kept")
    try:
        # The default policy, with the floor out of reach from the start.
        restart_with(b, **{"log.dir.min.free.bytes": HUGE})
        assert segments(b, "kept") == before
        values = read_all(b, "kept")
        assert values == [f"record-{i:05d}" for i in range(N)]
        with b.conn() as c:
            batch = kwire.record_batch([(b"k", b"one more")])
            r = c.produce({"kept": {0: batch}}, acks=-1)
            assert r["topics"]["kept"][0]["error"] == KAFKA_STORAGE_ERROR
        assert mqtt5_publish_reason(b, "kept/mqtt") == 0x97
        assert segments(b, "kept") == before
        log = (b.workdir / "eddy.log").read_text(errors="replace")
        assert "refusing new data (log.dir.full.policy=refuse)" in log
        assert "disk guard (log.dir.full.policy=delete-oldest)" not in log
        # Room again: the same producer's data is taken.
        restart_with(b, **{"log.dir.min.free.bytes": "0"})
        with b.conn() as c:
            r = c.produce({"kept": {0: kwire.record_batch([(b"k", b"record-99999")])}}, acks=-1)
            assert r["topics"]["kept"][0]["error"] == kwire.NONE
        assert len(read_all(b, "kept")) == N + 1
    finally:
        b.stop()


def test_delete_oldest_when_chosen(tmp_path):
    b, before = start_with_data(tmp_path / "b", "ring")
    try:
        restart_with(b, **{"log.dir.min.free.bytes": HUGE, "log.dir.full.policy": "delete-oldest"})
        log = (b.workdir / "eddy.log").read_text(errors="replace")
        dropped = re.findall(r"deleting ring-0 offsets (\d+)\.\.(\d+) \((\d+) bytes\)", log)
        # Every closed segment went, each named; only the active one is left.
        assert len(dropped) == len(before) - 1
        assert dropped[0][0] == "0"
        assert segments(b, "ring") == before[-1:]
        values = read_all(b, "ring")
        first_kept = int(dropped[-1][1]) + 1
        assert values == [f"record-{i:05d}" for i in range(first_kept, N)]
    finally:
        b.stop()
