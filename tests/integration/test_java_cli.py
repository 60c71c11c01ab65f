"""Apache Kafka's own CLI tools and Java client (3.9 and 4.x, from Maven
Central) against the broker: kafka-topics, kafka-console-producer/-consumer,
kafka-configs, kafka-consumer-groups, kafka-producer-perf-test and
kafka-dump-log over the broker's data files."""

import re
import subprocess
import time

import pytest

import kwire
from conftest import KAFKA_CLI_VERSIONS, create_topic, java_partition, kafka_tool, kafka_tool_popen, kcat

pytestmark = pytest.mark.parametrize("v", KAFKA_CLI_VERSIONS)


def reader_prop(v):
    # 4.x renamed --property to --reader-property / --formatter-property.
    return "--property" if v.startswith("3.") else "--reader-property"


def formatter_prop(v):
    return "--property" if v.startswith("3.") else "--formatter-property"


def test_topics_create_list_describe(broker, topic_name, v):
    topic = topic_name()
    bs = ("--bootstrap-server", broker.bootstrap)
    out = kafka_tool(v, "kafka-topics", *bs, "--create", "--topic", topic, "--partitions", "3", "--replication-factor", "1")
    assert f"Created topic {topic}." in out.stdout.decode()

    listed = kafka_tool(v, "kafka-topics", *bs, "--list").stdout.decode().split()
    assert topic in listed

    desc = kafka_tool(v, "kafka-topics", *bs, "--describe", "--topic", topic).stdout.decode()
    assert re.search(rf"Topic: {re.escape(topic)}\s.*PartitionCount: 3\s.*ReplicationFactor: 1", desc), desc
    parts = re.findall(rf"Topic: {re.escape(topic)}\s+Partition: (\d+)\s+Leader: (\d+)\s+Replicas: (\d+)\s+Isr: (\d+)", desc)
    assert sorted(int(p[0]) for p in parts) == [0, 1, 2], desc
    assert all(p[1] == p[2] == p[3] for p in parts), desc

    # Creating it again is refused with TOPIC_ALREADY_EXISTS.
    again = kafka_tool(
        v, "kafka-topics", *bs, "--create", "--topic", topic, "--partitions", "3", "--replication-factor", "1", check=False
    )
    assert again.returncode != 0
    assert "already exists" in (again.stdout + again.stderr).decode()

    with broker.conn() as c:
        md = c.metadata([topic])
    assert len(md["topics"][topic]["partitions"]) == 3


def test_console_producer_consumer_keys(broker, topic_name, v):
    topic = create_topic(broker, topic_name(), 3)
    records = [(f"station-{i % 7}", f"train {i} arrived é {'x' * (i % 50)}") for i in range(200)]
    lines = "".join(f"{k}:{val}\n" for k, val in records).encode()
    kafka_tool(
        v,
        "kafka-console-producer",
        "--bootstrap-server",
        broker.bootstrap,
        "--topic",
        topic,
        reader_prop(v),
        "parse.key=true",
        reader_prop(v),
        "key.separator=:",
        input=lines,
    )
    out = kafka_tool(
        v,
        "kafka-console-consumer",
        "--bootstrap-server",
        broker.bootstrap,
        "--topic",
        topic,
        "--from-beginning",
        formatter_prop(v),
        "print.key=true",
        formatter_prop(v),
        "print.partition=true",
        formatter_prop(v),
        "key.separator=:",
        "--max-messages",
        str(len(records)),
        "--timeout-ms",
        "30000",
    ).stdout.decode("utf-8")
    got = {}
    for line in out.splitlines():
        part, key, val = line.split(":", 3)[1:]
        got.setdefault(int(part), []).append((key, val))
    assert sum(len(x) for x in got.values()) == len(records)
    # The Java producer's default partitioner: murmur2 of the key.
    want = {}
    for k, val in records:
        want.setdefault(java_partition(k.encode(), 3), []).append((k, val))
    assert got == want
    # The console producer runs the Java producer with its defaults:
    # idempotent (a producer id, sequences from 0) and acks=all.
    for p in want:
        batches = kwire.fetch_all(broker.host, broker.port, topic, p)
        assert all(b["producer_id"] >= 0 and b["crc_ok"] for b in batches), batches
        assert batches[0]["base_sequence"] == 0


def test_console_consumer_from_latest_and_groups(broker, topic_name, v):
    topic = create_topic(broker, topic_name(), 1)
    group = f"latest-{topic}"
    kcat(broker, "-P", "-t", topic, input=b"".join(b"old-%d\n" % i for i in range(20)))
    consumer = kafka_tool_popen(
        v,
        "kafka-console-consumer",
        "--bootstrap-server",
        broker.bootstrap,
        "--topic",
        topic,
        "--group",
        group,
        "--max-messages",
        "1",
        "--timeout-ms",
        "60000",
    )
    # Keep producing new records until the consumer, started at the end of
    # the log, has printed one.
    sent = 0
    deadline = time.time() + 90
    try:
        while consumer.poll() is None and time.time() < deadline:
            kcat(broker, "-P", "-t", topic, input=b"new-%d\n" % sent)
            sent += 1
            time.sleep(0.5)
        out, err = consumer.communicate(timeout=30)
    finally:
        if consumer.poll() is None:
            consumer.kill()
            consumer.wait()
    assert consumer.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("new-"), (lines, err.decode())
    assert int(lines[0][4:]) < sent

    bs = ("--bootstrap-server", broker.bootstrap)
    assert group in kafka_tool(v, "kafka-consumer-groups", *bs, "--list").stdout.decode().split()
    desc = kafka_tool(v, "kafka-consumer-groups", *bs, "--describe", "--group", group).stdout.decode()
    m = re.search(rf"^{re.escape(group)}\s+{re.escape(topic)}\s+0\s+(\d+)\s+(\d+)\s+(\d+)", desc, re.M)
    assert m, desc
    committed, end, lag = map(int, m.groups())
    # It committed past the old records and at most up to the end.
    assert 20 < committed <= end and lag == end - committed, desc
    assert end == 20 + sent


def test_configs_topic_retention(broker, topic_name, v):
    topic = create_topic(broker, topic_name(), 1)
    base = ("--bootstrap-server", broker.bootstrap, "--entity-type", "topics", "--entity-name", topic)
    out = kafka_tool(v, "kafka-configs", *base, "--alter", "--add-config", "retention.ms=3600000,retention.bytes=10485760")
    assert "Completed updating config" in out.stdout.decode(), out.stdout.decode()
    desc = kafka_tool(v, "kafka-configs", *base, "--describe").stdout.decode()
    assert "retention.ms=3600000" in desc and "retention.bytes=10485760" in desc, desc
    kafka_tool(v, "kafka-configs", *base, "--alter", "--delete-config", "retention.bytes")
    desc = kafka_tool(v, "kafka-configs", *base, "--describe").stdout.decode()
    assert "retention.ms=3600000" in desc and "retention.bytes=" not in desc, desc


def test_producer_perf_acks_all(broker, topic_name, v):
    topic = create_topic(broker, topic_name(), 1)
    n = 5000
    out = kafka_tool(
        v,
        "kafka-producer-perf-test",
        "--topic",
        topic,
        "--num-records",
        str(n),
        "--record-size",
        "100",
        "--throughput",
        "-1",
        "--producer-props",
        f"bootstrap.servers={broker.bootstrap}",
        "acks=all",
        "linger.ms=5",
    ).stdout.decode()
    assert re.search(rf"^{n} records sent", out, re.M), out
    batches = kwire.fetch_all(broker.host, broker.port, topic, 0)
    assert sum(b["record_count"] for b in batches) == n
    assert all(b["crc_ok"] and b["producer_id"] >= 0 for b in batches)
    # kafka-dump-log reads the broker's segment files (Kafka's layout).
    seg = broker.log_dir / f"{topic}-0" / ("0" * 20 + ".log")
    assert seg.exists(), sorted(p.name for p in seg.parent.glob("*")) if seg.parent.exists() else seg.parent
    dump = kafka_tool(v, "kafka-dump-log", "--files", str(seg)).stdout.decode()
    counts = [int(c) for c in re.findall(r"\bcount: (\d+)", dump)]
    assert sum(counts) == n, dump[-2000:]
    assert "isvalid: true" in dump and "isvalid: false" not in dump
