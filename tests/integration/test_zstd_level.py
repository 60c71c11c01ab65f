"""compression.zstd.level (KIP-390) as a topic config: Kafka's admin clients
set, validate and describe it, it survives a restart, and the batches Eddy
builds for MQTT publishes are compressed at it (the same turbine lines take
fewer bytes at level 19 than at level 1)."""

import paho.mqtt.client as mqtt
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic
from paho.mqtt.enums import CallbackAPIVersion

from conftest import HOST, KAFKA_CLI_VERSIONS, kafka_tool, recording, wait_topic
from kafka_segments import stored_data_batches


def err_name(fs):
    try:
        list(fs.values())[0].result(timeout=60)
        return "OK"
    except KafkaException as e:
        return e.args[0].name()


def describe(admin, topic):
    cfg = list(admin.describe_configs([ConfigResource("topic", topic)]).values())[0].result(timeout=60)
    e = cfg["compression.zstd.level"]
    return e.value, int(e.source)


def incremental(admin, topic, value):
    res = ConfigResource("topic", topic, incremental_configs=[
        ConfigEntry("compression.zstd.level", value, incremental_operation=AlterConfigOpType.SET)])
    return err_name(admin.incremental_alter_configs([res]))


def publish_lines(broker, topics, lines):
    """Each line, QoS 1, to each MQTT topic in turn; waits for every PUBACK."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="zstd-level", protocol=mqtt.MQTTv311)
    c.max_inflight_messages_set(100)
    c.connect(HOST, broker.mqtt_port)
    c.loop_start()
    try:
        infos = [c.publish(t, line, qos=1) for line in lines for t in topics]
        for i in infos:
            i.wait_for_publish(timeout=60)
            assert i.is_published()
    finally:
        c.disconnect()
        c.loop_stop()


def stored_len(broker, topic):
    """Bytes of the topic's batches (a segment file may hold zeros written
    ahead past its last batch: docs/architecture.md)."""
    return sum(n for _, n in stored_data_batches(broker.log_dir, topic))


def test_zstd_level_topic_config(fresh_broker, topic_name):
    b = fresh_broker
    lo, hi = topic_name("lo"), topic_name("hi")
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    # CreateTopics: Kafka's range is -131072..22
    for bad in ("23", "-131073", "high"):
        assert err_name(admin.create_topics([NewTopic(lo, 1, 1, config={"compression.zstd.level": bad})])) \
            == "INVALID_CONFIG", bad
    assert err_name(admin.create_topics([NewTopic(lo, 1, 1, config={"compression.type": "zstd"})])) == "OK"
    assert err_name(admin.create_topics(
        [NewTopic(hi, 1, 1, config={"compression.type": "zstd", "compression.zstd.level": "19"})])) == "OK"
    wait_topic(b, lo, 1)
    wait_topic(b, hi, 1)
    assert describe(admin, lo) == ("3", 5)  # DEFAULT_CONFIG
    assert describe(admin, hi) == ("19", 1)  # DYNAMIC_TOPIC_CONFIG
    # IncrementalAlterConfigs: a bad value changes nothing
    assert incremental(admin, hi, "-131073") == "INVALID_CONFIG"
    assert describe(admin, hi) == ("19", 1)
    # kafka-configs (Apache Kafka's CLI) sets the other one
    kafka_tool(KAFKA_CLI_VERSIONS[0], "kafka-configs", "--bootstrap-server", b.bootstrap, "--entity-type", "topics",
               "--entity-name", lo, "--alter", "--add-config", "compression.zstd.level=1")
    assert describe(admin, lo) == ("1", 1)

    # kept across a restart, and applied after it
    b.restart()
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    assert describe(admin, lo) == ("1", 1)
    assert describe(admin, hi) == ("19", 1)
    with open(recording("wind-turbine-scada-T1.csv"), "rb") as f:
        lines = [line.rstrip(b"\r\n") for line in f.readlines()[1:801]]
    publish_lines(b, [lo, hi], lines)
    n_lo, n_hi = stored_len(b, lo), stored_len(b, hi)
    csv = sum(len(x) for x in lines)
    print(f"{len(lines)} turbine lines, {csv} bytes: stored {n_lo} at zstd level 1, {n_hi} at 19")
    assert n_lo < csv
    assert n_hi * 100 < n_lo * 95, (n_lo, n_hi)
