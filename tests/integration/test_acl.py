"""Kafka ACLs: kafka-acls.sh (3.9 and 4.x) adds, lists and removes ACLs on
Eddy; a SASL user without ACLs is refused produce, fetch, group join,
topic creation and deletion with Kafka's errors and nothing changes, and is
let through once the ACL exists; super.users bypass the ACLs; Metadata
hides topics the user may not describe; MQTT publish and subscribe are
refused without WRITE / READ on the routed Kafka topic (MQTT 5: 0x87,
3.1.1: SUBACK 0x80 and a closed connection for a QoS 1 publish)."""

import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import kwire
from conftest import HOST, kafka_tool, need, run
from test_sasl import eddy_users, jaas_props, kcat_sasl, start_sasl_broker

ADMIN, ALICE = ("admin", "admin-secret"), ("alice", "alice-secret")
STANDARD = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


@pytest.fixture(scope="module")
def ab(tmp_path_factory):
    wd = tmp_path_factory.mktemp("acl")
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
    # durable: the file is there; alice, not a super user, may not list or add
    assert (ab.log_dir / "acls").exists()
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
