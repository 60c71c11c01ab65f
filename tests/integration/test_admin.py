"""Topic administration against the broker under test with real clients:
Apache Kafka's kafka-topics and kafka-configs (3.9 and 4.x), confluent-kafka's
AdminClient (librdkafka), and Eddy's own `eddy topics` command. The same
`eddy topics` checks also run against a real Apache Kafka broker, which
proves Eddy's Kafka client against a server Eddy did not write."""

import json
import re
import time

import pytest

from conftest import (
    EDDY_BIN,
    KAFKA_CLI_VERSIONS,
    TARGET,
    Broker,
    create_topic,
    kafka_tool,
    run,
    venv_python,
    wait_topic,
)


def eddy(*args, check=True, timeout=60, input_=None):
    if not EDDY_BIN.exists():
        pytest.fail(f"eddy binary missing: {EDDY_BIN}", pytrace=False)
    return run([EDDY_BIN, *args], check=check, timeout=timeout, input=input_)


def eventually(fn, timeout=20):
    """Apache Kafka applies metadata changes asynchronously: retry a check
    until it holds (Eddy applies them before answering)."""
    deadline = time.time() + timeout
    while True:
        try:
            return fn()
        except AssertionError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def describe_configs_java(v, broker, topic):
    out = kafka_tool(
        v, "kafka-configs", "--bootstrap-server", broker.bootstrap, "--entity-type", "topics", "--entity-name", topic,
        "--describe",
    ).stdout.decode()
    return out


# ---------------------------------------------------------------------------
# Apache Kafka's CLI tools.


@pytest.mark.parametrize("v", KAFKA_CLI_VERSIONS)
def test_kafka_topics_alter_and_delete(broker, topic_name, v):
    topic = topic_name()
    bs = ("--bootstrap-server", broker.bootstrap)
    kafka_tool(v, "kafka-topics", *bs, "--create", "--topic", topic, "--partitions", "3", "--replication-factor", "1",
               "--config", "retention.ms=3600000")
    wait_topic(broker, topic, 3)

    kafka_tool(v, "kafka-topics", *bs, "--alter", "--topic", topic, "--partitions", "6")
    wait_topic(broker, topic, 6)
    desc = kafka_tool(v, "kafka-topics", *bs, "--describe", "--topic", topic).stdout.decode()
    assert "PartitionCount: 6" in desc, desc
    assert "retention.ms=3600000" in desc, desc

    # Shrinking is refused.
    shrink = kafka_tool(v, "kafka-topics", *bs, "--alter", "--topic", topic, "--partitions", "2", check=False)
    assert shrink.returncode != 0
    assert "InvalidPartitionsException" in (shrink.stdout + shrink.stderr).decode()

    # Replication factor 3 on a single node is refused with a message.
    rf = kafka_tool(v, "kafka-topics", *bs, "--create", "--topic", topic + "-rf3", "--partitions", "1",
                    "--replication-factor", "3", check=False)
    assert rf.returncode != 0
    assert "InvalidReplicationFactorException" in (rf.stdout + rf.stderr).decode()

    kafka_tool(v, "kafka-topics", *bs, "--delete", "--topic", topic)

    def gone():
        listed = kafka_tool(v, "kafka-topics", *bs, "--list").stdout.decode().split()
        assert topic not in listed

    eventually(gone)


@pytest.mark.parametrize("v", KAFKA_CLI_VERSIONS)
def test_kafka_configs_topic_retention(broker, topic_name, v):
    topic = create_topic(broker, topic_name(), 1)
    base = ("--bootstrap-server", broker.bootstrap, "--entity-type", "topics", "--entity-name", topic)
    kafka_tool(v, "kafka-configs", *base, "--alter", "--add-config", "retention.ms=7200000,retention.bytes=1048576")

    def has_both():
        out = describe_configs_java(v, broker, topic)
        assert "retention.ms=7200000" in out, out
        assert "retention.bytes=1048576" in out, out

    eventually(has_both)

    # A list-valued config in Kafka's bracket syntax.
    kafka_tool(v, "kafka-configs", *base, "--alter", "--add-config", "cleanup.policy=[compact,delete]")
    eventually(lambda: _assert_in("cleanup.policy=compact,delete", describe_configs_java(v, broker, topic)))

    kafka_tool(v, "kafka-configs", *base, "--alter", "--delete-config", "retention.ms")

    def ms_gone():
        out = describe_configs_java(v, broker, topic)
        assert "retention.ms=" not in out, out
        assert "retention.bytes=1048576" in out, out

    eventually(ms_gone)

    # --describe --all lists the defaults too, with their sources.
    out = kafka_tool(v, "kafka-configs", *base, "--describe", "--all").stdout.decode()
    assert re.search(r"segment\.bytes=\d+", out), out
    assert "retention.bytes=1048576" in out, out

    # An unknown key and a bad value are refused.
    bad = kafka_tool(v, "kafka-configs", *base, "--alter", "--add-config", "no.such.config=1", check=False)
    assert bad.returncode != 0
    bad = kafka_tool(v, "kafka-configs", *base, "--alter", "--add-config", "retention.ms=soon", check=False)
    assert bad.returncode != 0


def _assert_in(needle, hay):
    assert needle in hay, hay


# ---------------------------------------------------------------------------
# confluent-kafka (librdkafka) AdminClient.

ADMIN_SCRIPT = r"""
import json, sys
from confluent_kafka.admin import (AdminClient, NewTopic, NewPartitions, ConfigResource,
                                   ConfigEntry, AlterConfigOpType)
from confluent_kafka import KafkaException

bs, topic = sys.argv[1], sys.argv[2]
a = AdminClient({"bootstrap.servers": bs})
out = {}

def err_name(f):
    try:
        f.result(timeout=60)
        return "OK"
    except KafkaException as e:
        return e.args[0].name()

def one(fs):
    return err_name(list(fs.values())[0])

out["validate"] = one(a.create_topics([NewTopic(topic, 2, 1)], validate_only=True))
out["create"] = one(a.create_topics([NewTopic(topic, 2, 1, config={"retention.ms": "600000"})]))
out["exists"] = one(a.create_topics([NewTopic(topic, 2, 1)]))
out["rf3"] = one(a.create_topics([NewTopic(topic + "-x", 1, 3)]))
out["badname"] = one(a.create_topics([NewTopic("bad/name", 1, 1)]))
out["badconfig"] = one(a.create_topics([NewTopic(topic + "-y", 1, 1, config={"retention.ms": "abc"})]))
out["parts"] = one(a.create_partitions([NewPartitions(topic, 4)]))
out["shrink"] = one(a.create_partitions([NewPartitions(topic, 1)]))

res = ConfigResource("topic", topic, incremental_configs=[
    ConfigEntry("retention.bytes", "2097152", incremental_operation=AlterConfigOpType.SET),
    ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND),
    ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE)])
out["incremental"] = one(a.incremental_alter_configs([res]))
bad = ConfigResource("topic", topic, incremental_configs=[
    ConfigEntry("retention.ms", "1", incremental_operation=AlterConfigOpType.APPEND)])
out["append_scalar"] = one(a.incremental_alter_configs([bad]))
out["missing_topic"] = one(a.incremental_alter_configs([ConfigResource("topic", topic + "-missing",
    incremental_configs=[ConfigEntry("retention.ms", "1", incremental_operation=AlterConfigOpType.SET)])]))
# DescribeCluster: one broker, which is also the controller.
cl = a.describe_cluster(request_timeout=30).result(timeout=60)
out["cluster"] = [len(cl.nodes), cl.controller.id == cl.nodes[0].id, bool(cl.cluster_id)]
# AlterConfigs (non-incremental) replaces every override of the resource.
t2 = topic + "-alter"
one(a.create_topics([NewTopic(t2, 1, 1, config={"retention.ms": "1000", "retention.bytes": "5000"})]))
out["alter"] = one(a.alter_configs([ConfigResource("topic", t2, set_config={"segment.bytes": "1048576"})]))
cfg = list(a.describe_configs([ConfigResource("topic", t2)]).values())[0].result(timeout=60)
out["after_alter"] = sorted(k for k, e in cfg.items() if int(e.source) == 1)
print(json.dumps(out))
"""

DESCRIBE_SCRIPT = r"""
import json, sys
from confluent_kafka.admin import AdminClient, ConfigResource
bs, topic = sys.argv[1], sys.argv[2]
a = AdminClient({"bootstrap.servers": bs})
fs = a.describe_configs([ConfigResource("topic", topic)])
cfg = list(fs.values())[0].result(timeout=60)
print(json.dumps({k: {"value": e.value, "default": e.is_default, "source": int(e.source),
                      "ro": e.is_read_only} for k, e in cfg.items()}))
"""

DELETE_SCRIPT = r"""
import json, sys
from confluent_kafka.admin import AdminClient
from confluent_kafka import KafkaException
bs = sys.argv[1]
a = AdminClient({"bootstrap.servers": bs})
out = {}
for t in sys.argv[2:]:
    try:
        a.delete_topics([t], operation_timeout=30)[t].result(timeout=60)
        out[t] = "OK"
    except KafkaException as e:
        out[t] = e.args[0].name()
print(json.dumps(out))
"""


def test_confluent_admin_client(broker, topic_name):
    topic = topic_name()
    out = json.loads(venv_python("-c", ADMIN_SCRIPT, broker.bootstrap, topic).stdout)
    assert out == {
        "validate": "OK",
        "create": "OK",
        "exists": "TOPIC_ALREADY_EXISTS",
        "rf3": "INVALID_REPLICATION_FACTOR",
        "badname": "TOPIC_EXCEPTION",  # librdkafka's name for INVALID_TOPIC_EXCEPTION
        "badconfig": "INVALID_CONFIG",
        "parts": "OK",
        "shrink": "INVALID_PARTITIONS",
        "incremental": "OK",
        "append_scalar": "INVALID_CONFIG",
        "missing_topic": "UNKNOWN_TOPIC_OR_PART",
        "cluster": [1, True, True],
        "alter": "OK",
        "after_alter": ["segment.bytes"],
    }, out
    wait_topic(broker, topic, 4)

    def configs_ok():
        cfg = json.loads(venv_python("-c", DESCRIBE_SCRIPT, broker.bootstrap, topic).stdout)
        assert cfg["retention.bytes"]["value"] == "2097152", cfg
        assert cfg["retention.bytes"]["source"] == 1, cfg  # DYNAMIC_TOPIC_CONFIG
        assert cfg["retention.bytes"]["default"] is False, cfg
        assert set(cfg["cleanup.policy"]["value"].split(",")) == {"delete", "compact"}, cfg
        assert cfg["retention.ms"]["source"] != 1, cfg  # back to the default
        assert cfg["segment.bytes"]["source"] in (4, 5), cfg  # broker or default
        assert cfg["max.message.bytes"]["ro"] is False, cfg

    eventually(configs_ok)

    out = json.loads(venv_python("-c", DELETE_SCRIPT, broker.bootstrap, topic, topic + "-nope").stdout)
    assert out == {topic: "OK", topic + "-nope": "UNKNOWN_TOPIC_OR_PART"}, out


# ---------------------------------------------------------------------------
# Eddy's own CLI: against the broker under test, and always against a real
# Apache Kafka broker too.


def eddy_topics_roundtrip(bootstrap, topic):
    b = ("-b", bootstrap)
    out = eddy("topics", "create", *b, "-t", topic, "--partitions", "3", "--config", "retention.ms=3600000",
               "--config", "cleanup.policy=compact,delete").stdout.decode()
    assert f"Created topic {topic}." in out

    again = eddy("topics", "create", *b, "-t", topic, check=False)
    assert again.returncode == 1
    assert "TOPIC_ALREADY_EXISTS" in again.stderr.decode()
    assert eddy("topics", "create", *b, "-t", topic, "--if-not-exists").returncode == 0

    rf = eddy("topics", "create", *b, "-t", topic + "-rf", "--replication-factor", "2", check=False)
    assert rf.returncode == 1 and "INVALID_REPLICATION_FACTOR" in rf.stderr.decode()
    bad = eddy("topics", "create", *b, "-t", topic + "-cfg", "--config", "retention.ms=later", check=False)
    assert bad.returncode == 1 and "INVALID_CONFIG" in bad.stderr.decode()

    def listed():
        names = eddy("topics", "list", *b).stdout.decode().split()
        assert topic in names, names

    eventually(listed)

    def described(parts, configs):
        d = eddy("topics", "describe", *b, "-t", topic).stdout.decode()
        assert f"PartitionCount: {parts}" in d, d
        assert "ReplicationFactor: 1" in d, d
        for c in configs:
            assert c in d, d
        assert len(re.findall(rf"\tTopic: {re.escape(topic)}\tPartition: \d+\tLeader: \d+", d)) == parts, d
        return d

    eventually(lambda: described(3, ["retention.ms=3600000", "cleanup.policy=compact,delete"]))

    eddy("topics", "alter", *b, "-t", topic, "--partitions", "5", "--add-config",
         "retention.bytes=1000000,cleanup.policy=[delete]", "--delete-config", "retention.ms")

    def altered():
        d = described(5, ["retention.bytes=1000000", "cleanup.policy=delete"])
        assert "retention.ms=" not in d, d

    eventually(altered)

    shrink = eddy("topics", "alter", *b, "-t", topic, "--partitions", "2", check=False)
    assert shrink.returncode == 1 and "INVALID_PARTITIONS" in shrink.stderr.decode()
    unknown = eddy("topics", "alter", *b, "-t", topic, "--add-config", "no.such.key=1", check=False)
    assert unknown.returncode == 1 and "INVALID_CONFIG" in unknown.stderr.decode()

    assert f"Deleted topic {topic}." in eddy("topics", "delete", *b, "-t", topic).stdout.decode()
    missing = eddy("topics", "delete", *b, "-t", topic, check=False)
    assert missing.returncode == 1 and "UNKNOWN_TOPIC_OR_PARTITION" in missing.stderr.decode()
    assert eddy("topics", "delete", *b, "-t", topic, "--if-exists").returncode == 0


def test_eddy_topics(broker, topic_name):
    eddy_topics_roundtrip(broker.bootstrap, topic_name())


def test_eddy_cli_errors(tmp_path):
    # Nothing listens on a fresh port: a clear one-line error and exit 1.
    from conftest import free_port

    p = eddy("topics", "list", "-b", f"127.0.0.1:{free_port()}", "--timeout", "2000", check=False)
    assert p.returncode == 1
    err = p.stderr.decode().strip()
    assert err.startswith("eddy topics: cannot connect to 127.0.0.1:") and "\n" not in err, err
    assert eddy("topics", "frobnicate", check=False).returncode == 2
    assert eddy("topics", "create", "--partitions", "x", "-t", "a", check=False).returncode == 2
    assert "usage: eddy topics" in eddy("topics", "--help").stdout.decode()
