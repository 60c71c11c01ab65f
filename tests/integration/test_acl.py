"""Kafka ACLs: kafka-acls.sh (3.9 and 4.x) adds, lists and removes ACLs on
Eddy; a SASL user without ACLs is refused produce, fetch, group join,
topic creation and deletion with Kafka's errors and nothing changes, and is
let through once the ACL exists; super.users bypass the ACLs; Metadata
hides topics the user may not describe; MQTT publish and subscribe are
refused without WRITE / READ on the routed Kafka topic (MQTT 5: 0x87,
3.1.1: SUBACK 0x80 and a closed connection for a QoS 1 publish); the
config APIs, DescribeGroups, ListGroups, DeleteGroups, OffsetDelete and
OffsetFetch refuse or filter as Kafka does until the ACL exists.
EDDY_TEST_TARGET=kafka runs the Kafka tests against Apache Kafka with the
same configuration (SASL_PLAINTEXT with SCRAM, StandardAuthorizer)."""

import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import kwire
from conftest import HOST, TARGET, Broker, free_port, kafka_tool, need, run
from test_sasl import eddy_users, jaas_props, kcat_sasl, start_sasl_broker

ADMIN, ALICE = ("admin", "admin-secret"), ("alice", "alice-secret")
STANDARD = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


def start_kafka_acl_broker(wd):
    """Apache Kafka configured as the Eddy broker of this file: SASL_PLAINTEXT
    (SCRAM) first, PLAINTEXT for the test's view, the StandardAuthorizer."""
    sport, port, cport = free_port(), free_port(), free_port()
    b = Broker(wd, {
        "listeners": f"SASL_PLAINTEXT://{HOST}:{sport},PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{cport}",
        "advertised.listeners": f"SASL_PLAINTEXT://{HOST}:{sport},PLAINTEXT://{HOST}:{port}",
        "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "sasl.enabled.mechanisms": "SCRAM-SHA-256",
        "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config":
            "org.apache.kafka.common.security.scram.ScramLoginModule required ;",
        "authorizer.class.name": STANDARD, "super.users": "User:admin;User:ANONYMOUS"})
    b.port = port
    wd.mkdir(parents=True, exist_ok=True)
    (wd / "controller.port").write_text(f"{cport}\n")
    b.start()
    b.port, b.sasl_port = port, sport
    b.sasl_bootstrap = f"{HOST}:{sport}"
    for user, pw in (ADMIN, ALICE):
        kafka_tool("3.9", "kafka-configs", "--bootstrap-server", b.bootstrap, "--alter", "--add-config",
                   f"SCRAM-SHA-256=[password={pw}]", "--entity-type", "users", "--entity-name", user)
    return b


@pytest.fixture(scope="module")
def ab(tmp_path_factory):
    wd = tmp_path_factory.mktemp("acl")
    if TARGET == "kafka":
        b = start_kafka_acl_broker(wd)
    else:
        eddy_users("add", ADMIN[0], "--password", ADMIN[1], "--data", wd / "log")
        # the PLAINTEXT listener (User:ANONYMOUS) is the test's view of the state
        b = start_sasl_broker(wd, {"authorizer.class.name": STANDARD,
                                   "super.users": "User:admin;User:ANONYMOUS"})
    b.admin = jaas_props(wd / "admin.properties", "SCRAM-SHA-256", *ADMIN)
    yield b
    b.stop()


def acls(b, version, *args, check=True):
    return kafka_tool(version, "kafka-acls", "--bootstrap-server", b.sasl_bootstrap,
                      "--command-config", b.admin, *args, check=check)


def alice(b, *args, input=None, check=False):
    return kcat_sasl(b, "SCRAM-SHA-256", *ALICE, *args, input=input, check=check)


def topic_state(b, topic):
    with kwire.Conn(HOST, b.port) as c:
        md = c.metadata([topic], version=4, allow_auto_create=False)
    t = md["topics"].get(topic)
    return None if t is None or t["error"] else t


def end_offset(b, topic):
    return len(kwire.fetch_all(HOST, b.port, topic, 0))


@pytest.mark.parametrize("version", ["3.9", "4"])
def test_kafka_acls_add_list_remove(ab, version, tmp_path):
    topic = f"acl-cli-{version.replace('.', '')}"
    acls(ab, version, "--add", "--allow-principal", "User:alice", "--operation", "Read",
         "--operation", "Write", "--topic", topic)
    acls(ab, version, "--add", "--deny-principal", "User:alice", "--operation", "Write",
         "--resource-pattern-type", "prefixed", "--topic", f"{topic}-ro")
    out = acls(ab, version, "--list", "--topic", topic).stdout.decode()
    assert "principal=User:alice" in out and "operation=READ" in out and "operation=WRITE" in out
    out = acls(ab, version, "--list").stdout.decode()
    assert "patternType=PREFIXED" in out and "permissionType=DENY" in out
    # durable (Eddy: the file is there); alice, not a super user, may not list or add
    assert TARGET == "kafka" or (ab.log_dir / "acls").exists()
    props = jaas_props(tmp_path / "alice.properties", "SCRAM-SHA-256", *ALICE)
    r = kafka_tool(version, "kafka-acls", "--bootstrap-server", ab.sasl_bootstrap, "--command-config",
                   props, "--add", "--allow-principal", "User:alice", "--operation", "All",
                   "--topic", "*", check=False)
    assert b"ClusterAuthorization" in r.stdout + r.stderr
    acls(ab, version, "--remove", "--force", "--topic", topic)
    acls(ab, version, "--remove", "--force", "--resource-pattern-type", "prefixed", "--topic", f"{topic}-ro")
    out = acls(ab, version, "--list", "--topic", topic).stdout.decode()
    assert "User:alice" not in out


def test_produce_fetch_denied_then_allowed(ab):
    topic = "acl-data"
    run([need("kcat"), "-b", f"{HOST}:{ab.port}", "-P", "-t", topic], input=b"first\n")
    before = end_offset(ab, topic)
    r = alice(ab, "-P", "-t", topic, input=b"denied\n")
    assert r.returncode != 0 and b"Topic authorization failed" in r.stderr
    assert end_offset(ab, topic) == before
    r = alice(ab, "-C", "-t", topic, "-o", "beginning", "-e")
    assert r.returncode != 0 and b"authorization failed" in r.stderr.lower()
    acls(ab, "3.9", "--add", "--allow-principal", "User:alice", "--operation", "Write", "--operation",
         "Read", "--topic", topic)
    alice(ab, "-P", "-t", topic, input=b"allowed\n", check=True)
    out = alice(ab, "-C", "-t", topic, "-o", "beginning", "-e", check=True).stdout
    assert out.split() == [b"first", b"allowed"]
    # a DENY wins over the ALLOW
    acls(ab, "3.9", "--add", "--deny-principal", "User:*", "--operation", "Write", "--topic", topic)
    r = alice(ab, "-P", "-t", topic, input=b"denied-again\n")
    assert r.returncode != 0 and b"Topic authorization failed" in r.stderr


def test_metadata_hides_topics(ab):
    run([need("kcat"), "-b", f"{HOST}:{ab.port}", "-P", "-t", "acl-hidden"], input=b"x\n")
    run([need("kcat"), "-b", f"{HOST}:{ab.port}", "-P", "-t", "acl-shown"], input=b"x\n")
    acls(ab, "3.9", "--add", "--allow-principal", "User:alice", "--operation", "Describe", "--topic", "acl-shown")
    out = alice(ab, "-L", check=True).stdout.decode()
    assert '"acl-shown"' in out and '"acl-hidden"' not in out
    # the super user sees both
    out = kcat_sasl(ab, "SCRAM-SHA-256", *ADMIN, "-L").stdout.decode()
    assert '"acl-shown"' in out and '"acl-hidden"' in out


def test_topic_create_delete_denied(ab, tmp_path):
    props = jaas_props(tmp_path / "alice.properties", "SCRAM-SHA-256", *ALICE)

    def topics(*args):
        return kafka_tool("3.9", "kafka-topics", "--bootstrap-server", ab.sasl_bootstrap,
                          "--command-config", props, *args, check=False)

    r = topics("--create", "--topic", "acl-made", "--partitions", "1")
    assert r.returncode != 0 and b"TopicAuthorizationException" in r.stdout + r.stderr
    assert topic_state(ab, "acl-made") is None
    run([need("kcat"), "-b", f"{HOST}:{ab.port}", "-P", "-t", "acl-kept"], input=b"x\n")
    acls(ab, "3.9", "--add", "--allow-principal", "User:alice", "--operation", "Describe", "--topic", "acl-kept")
    r = topics("--delete", "--topic", "acl-kept")
    assert r.returncode != 0 and b"TopicAuthorizationException" in r.stdout + r.stderr
    assert topic_state(ab, "acl-kept") is not None
    acls(ab, "3.9", "--add", "--allow-principal", "User:alice", "--operation", "Create",
         "--operation", "Delete", "--resource-pattern-type", "prefixed", "--topic", "acl-")
    topics("--create", "--topic", "acl-made", "--partitions", "1").check_returncode()
    assert topic_state(ab, "acl-made") is not None
    topics("--delete", "--topic", "acl-kept").check_returncode()


def test_group_join_denied(ab):
    from confluent_kafka import Consumer

    topic = "acl-group-topic"
    run([need("kcat"), "-b", f"{HOST}:{ab.port}", "-P", "-t", topic], input=b"x\n")
    acls(ab, "3.9", "--add", "--allow-principal", "User:alice", "--operation", "Read", "--topic", topic)
    conf = {"bootstrap.servers": ab.sasl_bootstrap, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": ALICE[0], "sasl.password": ALICE[1],
            "group.id": "acl-g", "auto.offset.reset": "earliest"}
    c = Consumer(conf)
    c.subscribe([topic])
    err = None
    for _ in range(30):
        m = c.poll(1.0)
        if m is not None and m.error():
            err = m.error()
            break
    c.close()
    assert err is not None and err.code() == 30  # GROUP_AUTHORIZATION_FAILED
    acls(ab, "3.9", "--add", "--allow-principal", "User:alice", "--operation", "Read", "--group", "acl-g")
    c = Consumer(conf)
    c.subscribe([topic])
    got = None
    for _ in range(30):
        m = c.poll(1.0)
        if m is not None and not m.error():
            got = m.value()
            break
    c.close()
    assert got == b"x"


def mqtt_client(b, version, user):
    proto = mqtt.MQTTv311 if version == "3.1.1" else mqtt.MQTTv5
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"acl-{version}-{user[0]}", protocol=proto)
    c.username_pw_set(*user)
    ev = {"connack": threading.Event(), "suback": threading.Event(), "puback": threading.Event(),
          "closed": threading.Event()}
    c.on_connect = lambda cl, ud, fl, rc, props: ev["connack"].set()
    c.on_subscribe = lambda cl, ud, mid, codes, props: (ev.__setitem__("codes", codes), ev["suback"].set())
    c.on_publish = lambda cl, ud, mid, rc, props: (ev.__setitem__("pubrc", rc), ev["puback"].set())
    c.on_disconnect = lambda cl, ud, fl, rc, props: ev["closed"].set()
    c.connect(HOST, b.mqtt_port)
    c.loop_start()
    assert ev["connack"].wait(10)
    return c, ev


@pytest.mark.skipif(TARGET != "eddy", reason="MQTT is Eddy's")  # allowed: only when the suite is proven against real Kafka
@pytest.mark.parametrize("version", ["5", "3.1.1"])
def test_mqtt_denied(ab, version):
    topic = f"aclm/v{version.replace('.', '')}"  # Kafka topic aclm.v5 / aclm.v311
    kt = topic.replace("/", ".")
    c, ev = mqtt_client(ab, version, ALICE)
    c.subscribe(topic, qos=1)
    assert ev["suback"].wait(10)
    code = ev["codes"][0]
    assert (code.value if hasattr(code, "value") else code) in ((0x87,) if version == "5" else (0x80, 128))
    c.publish(topic, b"no", qos=1)
    if version == "5":
        assert ev["puback"].wait(10)
        rc = ev["pubrc"]
        assert (rc.value if hasattr(rc, "value") else rc) == 0x87
    else:
        assert ev["closed"].wait(10)  # 3.1.1 has no negative PUBACK
    c.loop_stop()
    c.disconnect()
    assert topic_state(ab, kt) is None  # nothing was created or written
    acls(ab, "3.9", "--add", "--allow-principal", "User:alice", "--operation", "Read", "--operation",
         "Write", "--operation", "Create", "--topic", kt)
    c, ev = mqtt_client(ab, version, ALICE)
    c.subscribe(topic, qos=1)
    assert ev["suback"].wait(10)
    code = ev["codes"][0]
    assert (code.value if hasattr(code, "value") else code) == 1
    c.publish(topic, b"yes", qos=1).wait_for_publish(10)
    c.loop_stop()
    c.disconnect()
    assert topic_state(ab, kt) is not None


def admin_as(b, user):
    from confluent_kafka.admin import AdminClient

    if user is None:  # the PLAINTEXT listener: User:ANONYMOUS, a super user here
        return AdminClient({"bootstrap.servers": f"{HOST}:{b.port}"})
    return AdminClient({"bootstrap.servers": b.sasl_bootstrap, "security.protocol": "SASL_PLAINTEXT",
                        "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": user[0],
                        "sasl.password": user[1]})


def error_code(fut):
    from confluent_kafka import KafkaException

    try:
        fut.result(timeout=30)
    except KafkaException as e:
        return e.args[0].code()
    return 0


def test_configs_denied_then_allowed(ab):
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    topic = "cfgacl"  # outside the "acl-" prefix other tests grant
    run([need("kcat"), "-b", f"{HOST}:{ab.port}", "-P", "-t", topic], input=b"x\n")
    a, su = admin_as(ab, ALICE), admin_as(ab, None)

    def describe(client):
        res = ConfigResource("topic", topic)
        return client.describe_configs([res])[res]

    def alter(value):
        res = ConfigResource("topic", topic, incremental_configs=[
            ConfigEntry("retention.ms", value, incremental_operation=AlterConfigOpType.SET)])
        return a.incremental_alter_configs([res])[res]

    assert error_code(describe(a)) == 29  # TOPIC_AUTHORIZATION_FAILED
    broker = ConfigResource("broker", "1")
    assert error_code(a.describe_configs([broker])[broker]) == 31  # CLUSTER_AUTHORIZATION_FAILED
    assert error_code(alter("1234567")) == 29
    assert describe(su).result(timeout=30)["retention.ms"].value != "1234567"
    acls(ab, "3.9", "--add", "--allow-principal", "User:alice", "--operation", "AlterConfigs", "--topic", topic)
    assert error_code(alter("1234567")) == 0
    # ALTER_CONFIGS implies DESCRIBE_CONFIGS
    assert describe(a).result(timeout=30)["retention.ms"].value == "1234567"


def test_groups_denied_then_allowed(ab, tmp_path):
    from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition

    topic, group = "gdacl", "acl-gd-g"  # the topic outside the "acl-" prefix
    run([need("kcat"), "-b", f"{HOST}:{ab.port}", "-P", "-t", topic], input=b"x\ny\n")
    c = Consumer({"bootstrap.servers": f"{HOST}:{ab.port}", "group.id": group})
    c.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
    c.close()
    a, su = admin_as(ab, ALICE), admin_as(ab, None)
    props = jaas_props(tmp_path / "alice.properties", "SCRAM-SHA-256", *ALICE)

    def listed(client):
        return {g.group_id for g in client.list_consumer_groups().result(timeout=30).valid}

    def committed(client, *tps):
        req = ConsumerGroupTopicPartitions(group, list(tps) or None)
        return client.list_consumer_group_offsets([req])[group].result(timeout=30).topic_partitions

    def delete_offsets():
        return kafka_tool("3.9", "kafka-consumer-groups", "--bootstrap-server", ab.sasl_bootstrap,
                          "--command-config", props, "--delete-offsets", "--group", group, "--topic", f"{topic}:0",
                          check=False)

    # no ACL: not listed, not described, not deleted, offsets kept
    assert group in listed(su) and group not in listed(a)
    assert error_code(a.describe_consumer_groups([group])[group]) == 30  # GROUP_AUTHORIZATION_FAILED
    assert error_code(a.delete_consumer_groups([group])[group]) == 30
    r = delete_offsets()
    assert b"Access to 'acl-gd-g' is not authorized" in r.stdout + r.stderr
    assert [tp.offset for tp in committed(su)] == [1]
    # DESCRIBE and DELETE on the group, nothing on the topic
    acls(ab, "3.9", "--add", "--allow-principal", "User:alice", "--operation", "Describe", "--operation",
         "Delete", "--resource-pattern-type", "prefixed", "--group", "acl-gd-")
    assert group in listed(a)
    d = a.describe_consumer_groups([group])[group].result(timeout=30)
    assert d.group_id == group and d.state.name == "EMPTY"
    assert committed(a) == []  # topics it may not describe are left out
    tp = committed(a, TopicPartition(topic, 0))[0]
    assert tp.error is not None and tp.error.code() == 29
    r = delete_offsets()
    assert b"TopicAuthorizationException" in r.stdout + r.stderr
    assert [tp.offset for tp in committed(su)] == [1]
    # READ on the topic: the offset can go, then the group
    acls(ab, "3.9", "--add", "--allow-principal", "User:alice", "--operation", "Read", "--topic", topic)
    delete_offsets().check_returncode()
    # as Kafka: an empty group without offsets is gone
    assert group not in listed(su)
    other = "acl-gd-h"
    c = Consumer({"bootstrap.servers": f"{HOST}:{ab.port}", "group.id": other})
    c.commit(offsets=[TopicPartition(topic, 0, 2)], asynchronous=False)
    c.close()
    assert error_code(a.delete_consumer_groups([other])[other]) == 0
    assert other not in listed(su)


def test_delete_offsets_whole_topic_denied(ab, tmp_path):
    """--delete-offsets naming a topic without partitions: the tool first
    describes the cluster and the topic; a user without DESCRIBE on the
    topic gets Kafka's topic-level refusal and the offset stays."""
    from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition

    topic, group = "odacl", "acl-od-g"  # the topic outside the "acl-" prefix
    run([need("kcat"), "-b", f"{HOST}:{ab.port}", "-P", "-t", topic], input=b"x\ny\n")
    c = Consumer({"bootstrap.servers": f"{HOST}:{ab.port}", "group.id": group})
    c.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
    c.close()
    acls(ab, "3.9", "--add", "--allow-principal", "User:alice", "--operation", "Describe", "--operation",
         "Delete", "--group", group)
    # anyone may describe the cluster; its operations are none of alice's
    a, su = admin_as(ab, ALICE), admin_as(ab, None)
    cl = a.describe_cluster(include_authorized_operations=True).result(timeout=30)
    assert not cl.authorized_operations
    props = jaas_props(tmp_path / "alice.properties", "SCRAM-SHA-256", *ALICE)
    r = kafka_tool("3.9", "kafka-consumer-groups", "--bootstrap-server", ab.sasl_bootstrap,
                   "--command-config", props, "--delete-offsets", "--group", group, "--topic", topic,
                   check=False)
    out = r.stdout + r.stderr
    assert b"TopicAuthorizationException" in out and b"ClusterAuthorization" not in out
    req = ConsumerGroupTopicPartitions(group, None)
    left = su.list_consumer_group_offsets([req])[group].result(timeout=30)
    assert [tp.offset for tp in left.topic_partitions] == [1]
