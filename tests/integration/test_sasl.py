"""SASL over SASL_PLAINTEXT listeners and the user store: kcat,
confluent-kafka, kafka-python 2.0.2, KafkaJS, franz-go and Eddy's own
client produce and consume with
SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN; Apache Kafka's CLI tools
authenticate and manage users with kafka-configs; `eddy users` manages the
store offline; refusals (wrong password, unknown user, a request before
authentication, a session past connections.max.reauth.ms) change nothing;
MQTT clients are checked against the same users.

With EDDY_TEST_TARGET=kafka the same tests run against Apache Kafka
configured the same way (users made with Kafka's own API); only the tests
of `eddy users`, Eddy's store on disk and MQTT are Eddy's alone."""

import logging
import os
import re
import struct
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import kwire
from conftest import (
    CACHE,
    EDDY_BIN,
    FRANZ,
    HOST,
    KAFKA_TARGET_VERSION,
    KAFKAJS_PEER,
    TARGET,
    Broker,
    current_librdkafka_env,
    free_port,
    kafka_add_scram_users,
    kafka_tool,
    need,
    parse_hex_records,
    read_port_file,
    records_hex_lines,
    run,
)

USERS = {"alice": "alice-secret", "bob": "b0b,with=odd chars"}
MECHS = ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"]
SCRAM = MECHS[:2]
EDDY_ONLY = pytest.mark.skipif(TARGET != "eddy", reason="Eddy's own behaviour")  # allowed: only when the suite is proven against real Kafka
SASL_HANDSHAKE, SASL_AUTHENTICATE, METADATA = 17, 36, 3


def eddy_users(*args, check=True):
    return run([EDDY_BIN, "users", *args], check=check)


def jaas_quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class SaslBroker(Broker):
    """Users alice and bob, a SASL_PLAINTEXT listener (first: the address
    Metadata gives out) and a PLAINTEXT one (used only to look at the
    broker's state from outside), PLAIN and both SCRAM mechanisms. Eddy:
    users made offline with `eddy users add`. Kafka: SCRAM users made
    online (kafka-storage and kafka-configs cannot take bob's comma), PLAIN
    users in the listener's JAAS configuration (Kafka's PLAIN does not read
    SCRAM credentials)."""

    def __init__(self, workdir, extra=None):
        config = {"sasl.enabled.mechanisms": ",".join(MECHS)}
        if TARGET == "kafka":
            self.sasl_port, cport, port = free_port(), free_port(), free_port()
            plain = " ".join(f"user_{n}={jaas_quote(pw)}" for n, pw in USERS.items())
            config.update({
                "listeners": f"SASL_PLAINTEXT://{HOST}:{self.sasl_port},PLAINTEXT://{HOST}:{port},"
                             f"CONTROLLER://{HOST}:{cport}",
                "advertised.listeners": f"SASL_PLAINTEXT://{HOST}:{self.sasl_port},PLAINTEXT://{HOST}:{port}",
                "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,"
                                                  "CONTROLLER:PLAINTEXT",
                "listener.name.sasl_plaintext.plain.sasl.jaas.config":
                    f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain};",
                **{f"listener.name.sasl_plaintext.{m.lower()}.sasl.jaas.config":
                   "org.apache.kafka.common.security.scram.ScramLoginModule required;" for m in SCRAM},
            })
        else:
            config["listeners"] = f"SASL_PLAINTEXT://{HOST}:0,PLAINTEXT://{HOST}:0"
        config.update(extra or {})
        super().__init__(workdir, config)
        if TARGET == "kafka":
            self.port = port
            self.workdir.mkdir(parents=True, exist_ok=True)
            (self.workdir / "controller.port").write_text(f"{cport}\n")
        else:
            for name, pw in USERS.items():
                eddy_users("add", name, "--password", pw, "--data", self.log_dir)

    def start(self):
        super().start()
        if TARGET == "kafka":
            kafka_add_scram_users(self, USERS, SCRAM, lambda m, n, pw: kcat_sasl(
                self, m, n, pw, "-L", "-m", "5", check=False).returncode == 0)
        else:
            self.sasl_port = read_port_file(self.workdir / "ports", self.alive)["SASL_PLAINTEXT"]
        return self

    @property
    def sasl_bootstrap(self):
        return f"{HOST}:{self.sasl_port}"


def start_sasl_broker(workdir, extra=None):
    return SaslBroker(workdir, extra).start()


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    b = start_sasl_broker(tmp_path_factory.mktemp("sasl"))
    yield b
    b.stop()


def topic_exists(b, topic):
    with kwire.Conn(HOST, b.port) as c:
        md = c.metadata([topic], version=4, allow_auto_create=False)
    t = md["topics"].get(topic)
    return t is not None and t["error"] == 0


def kcat_sasl(b, mech, user, pw, *args, input=None, check=True, debian_librdkafka=False):
    """kcat with a SASL login, on a current librdkafka (Kafka 4.x refuses
    the SCRAM logins of Debian's 2.0.2: conftest.current_librdkafka_env)."""
    return run(
        [need("kcat"), "-b", b.sasl_bootstrap, "-X", "security.protocol=SASL_PLAINTEXT",
         "-X", f"sasl.mechanism={mech}", "-X", f"sasl.username={user}", "-X", f"sasl.password={pw}", *args],
        input=input, check=check, timeout=60, env=None if debian_librdkafka else current_librdkafka_env())


# ---------------------------------------------------------------------------
# The offline tool.


@EDDY_ONLY
def test_eddy_users_add_list_remove(tmp_path):
    data = tmp_path / "data"
    out = eddy_users("add", "alice", "--password", "pw1", "--data", data).stdout.decode()
    assert "SCRAM-SHA-256, SCRAM-SHA-512" in out
    (tmp_path / "pw").write_text("from-a-file\n")
    eddy_users("add", "carol", "--password-file", tmp_path / "pw", "--iterations", "8192", "--data", data)
    lines = eddy_users("list", "--data", data).stdout.decode().splitlines()
    assert lines == [
        "alice\tSCRAM-SHA-256\titerations=4096",
        "alice\tSCRAM-SHA-512\titerations=4096",
        "carol\tSCRAM-SHA-256\titerations=8192",
        "carol\tSCRAM-SHA-512\titerations=8192",
    ]
    # the store holds no password
    raw = (data / "users").read_bytes()
    assert b"pw1" not in raw and b"from-a-file" not in raw
    eddy_users("remove", "carol", "--mechanism", "SCRAM-SHA-256", "--data", data)
    assert eddy_users("list", "--data", data).stdout.decode().count("carol") == 1
    p = eddy_users("remove", "nobody", "--data", data, check=False)
    assert p.returncode == 1 and b"no user nobody" in p.stderr
    assert eddy_users("add", "x", "--password", "p", "--iterations", "100", "--data", data, check=False).returncode == 2
    # a torn store is refused whole and left as it is
    (data / "users").write_bytes(raw[: len(raw) - 5])
    p = eddy_users("list", "--data", data, check=False)
    assert p.returncode == 1 and b"corrupt" in p.stderr
    assert (data / "users").read_bytes() == raw[: len(raw) - 5]


@EDDY_ONLY
def test_broker_refuses_a_corrupt_store(tmp_path):
    data = tmp_path / "log"
    eddy_users("add", "alice", "--password", "pw", "--data", data)
    raw = bytearray((data / "users").read_bytes())
    raw[40] ^= 1
    (data / "users").write_bytes(bytes(raw))
    p = run([EDDY_BIN, "serve", "--set", f"log.dirs={data}", "--set", f"listeners=PLAINTEXT://{HOST}:0",
             "--set", f"mqtt.listeners=mqtt://{HOST}:0"], check=False, timeout=30)
    assert p.returncode != 0
    assert b"user store" in p.stderr + p.stdout


# ---------------------------------------------------------------------------
# Clients over SASL_PLAINTEXT.


@pytest.mark.parametrize("mech", MECHS)
def test_kcat(sb, mech):
    topic = f"kcat-{mech.lower()}"
    lines = [f"{mech}-{i}" for i in range(20)]
    kcat_sasl(sb, mech, "bob", USERS["bob"], "-P", "-t", topic, input="\n".join(lines).encode() + b"\n")
    out = kcat_sasl(sb, mech, "alice", USERS["alice"], "-C", "-t", topic, "-o", "beginning", "-e", "-q").stdout
    assert out.decode().splitlines() == lines


@pytest.mark.parametrize("mech", SCRAM)
def test_kcat_debian_librdkafka_scram(sb, mech):
    """Debian's kcat links librdkafka 2.0.2, whose SCRAM client-final
    message carries its client nonce twice (fixed in librdkafka 2.6.1).
    Kafka 3.9 accepts a nonce ending with the one it sent, and so does Eddy,
    so that the kcat a gateway's own Debian installs keeps working; Kafka
    4.x compares the nonce whole (RFC 5802) and refuses the login."""
    p = kcat_sasl(sb, mech, "alice", USERS["alice"], "-L", "-m", "10", check=False, debian_librdkafka=True)
    if TARGET == "kafka" and KAFKA_TARGET_VERSION.startswith("4"):
        assert p.returncode != 0 and b"invalid credentials" in p.stderr
    else:
        assert p.returncode == 0 and f"broker 1 at {sb.sasl_bootstrap}" in p.stdout.decode()
    # the wrong password stays refused with either nonce
    p = kcat_sasl(sb, mech, "alice", "wrong", "-L", "-m", "5", check=False, debian_librdkafka=True)
    assert p.returncode != 0 and b"invalid credentials" in p.stderr


@pytest.mark.parametrize("mech", MECHS)
def test_confluent_kafka(sb, mech):
    from confluent_kafka import Consumer, Producer

    conf = {"bootstrap.servers": sb.sasl_bootstrap, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": mech, "sasl.username": "alice", "sasl.password": USERS["alice"]}
    topic = f"ck-{mech.lower()}"
    prod = Producer(dict(conf, acks="all"))
    for i in range(50):
        prod.produce(topic, key=b"k%d" % i, value=b"v%d" % i)
    assert prod.flush(60) == 0
    cons = Consumer(dict(conf, **{"group.id": f"g-{topic}", "auto.offset.reset": "earliest"}))
    cons.subscribe([topic])
    got = []
    deadline = time.time() + 60
    try:
        while len(got) < 50 and time.time() < deadline:
            m = cons.poll(0.5)
            if m is None:
                continue
            assert m.error() is None, m.error()
            got.append((m.key(), m.value()))
    finally:
        cons.close()
    assert got == [(b"k%d" % i, b"v%d" % i) for i in range(50)]


@pytest.mark.timeout(150)
@pytest.mark.parametrize("mech", MECHS)
def test_kafka_python(sb, mech):
    # kafka-python 2.0.2 sends raw SASL tokens after SaslHandshake v0/v1
    from kafka import KafkaConsumer, KafkaProducer

    if not os.environ.get("EDDY_TEST_VERBOSE"):
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    conf = dict(bootstrap_servers=sb.sasl_bootstrap, security_protocol="SASL_PLAINTEXT", sasl_mechanism=mech,
                sasl_plain_username="bob", sasl_plain_password=USERS["bob"])
    topic = f"kp-{mech.lower()}"
    prod = KafkaProducer(acks="all", **conf)
    try:
        for f in [prod.send(topic, key=b"k%d" % i, value=b"v%d" % i) for i in range(20)]:
            f.get(timeout=60)
    finally:
        prod.close(10)
    cons = KafkaConsumer(topic, auto_offset_reset="earliest", consumer_timeout_ms=20000, **conf)
    try:
        got = [(m.key, m.value) for _, m in zip(range(20), cons)]
    finally:
        cons.close()
    assert got == [(b"k%d" % i, b"v%d" % i) for i in range(20)]


@pytest.mark.parametrize("mech", MECHS)
def test_eddy_client(sb, mech):
    x = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", f"sasl.mechanism={mech}",
         "-X", "sasl.username=bob", "-X", f"sasl.password={USERS['bob']}"]
    topic = f"eddy-{mech.lower()}"
    run([EDDY_BIN, "topics", "create", "-b", sb.sasl_bootstrap, "-t", topic, *x])
    run([EDDY_BIN, "produce", "-b", sb.sasl_bootstrap, "-t", topic, *x], input=b"one\ntwo\n")
    out = run([EDDY_BIN, "consume", "-b", sb.sasl_bootstrap, "-t", topic, "-o", "beginning", "-e", *x]).stdout
    assert out.decode().split() == ["one", "two"]
    bad = x[:-1] + ["sasl.password=wrong"]
    p = run([EDDY_BIN, "topics", "create", "-b", sb.sasl_bootstrap, "-t", topic + "-bad", *bad], check=False)
    assert p.returncode != 0 and b"SASL_AUTHENTICATION_FAILED" in p.stderr
    # without SASL the broker closes the connection at the first request after ApiVersions
    p = run([EDDY_BIN, "topics", "create", "-b", sb.sasl_bootstrap, "-t", topic + "-plain"], check=False)
    assert p.returncode != 0
    assert not topic_exists(sb, topic + "-bad") and not topic_exists(sb, topic + "-plain")


def peer_env(mech, user):
    return {"PEER_SASL_MECHANISM": mech, "PEER_SASL_USERNAME": user, "PEER_SASL_PASSWORD": USERS[user]}


RECORDS = [(b"k%d" % i, b"value-%d" % i) for i in range(10)]


@pytest.mark.parametrize("mech", MECHS)
def test_kafkajs(sb, mech):
    topic = f"kafkajs-{mech.lower()}"
    env = dict(peer_env(mech, "alice"), NODE_PATH=str(CACHE / "node" / "node_modules"),
               KAFKAJS_NO_PARTITIONER_WARNING="1")
    node = [need("node"), need(KAFKAJS_PEER)]
    run(node + ["produce", sb.sasl_bootstrap, topic], input=records_hex_lines(RECORDS), env=env, timeout=120)
    out = run(node + ["consume", sb.sasl_bootstrap, topic, str(len(RECORDS)), "60000"], env=env, timeout=120)
    assert [(k, v) for _, _, k, v in parse_hex_records(out.stdout)] == RECORDS


@pytest.mark.parametrize("mech", MECHS)
def test_franz_go(sb, mech):
    topic = f"franz-{mech.lower()}"
    env = peer_env(mech, "bob")
    # franz-go does not create topics by producing
    run([EDDY_BIN, "topics", "create", "-b", sb.sasl_bootstrap, "-t", topic, "-X", "security.protocol=SASL_PLAINTEXT",
         "-X", "sasl.mechanism=SCRAM-SHA-256", "-X", "sasl.username=alice", "-X", f"sasl.password={USERS['alice']}"])
    run([need(FRANZ), "produce", "-brokers", sb.sasl_bootstrap, "-topic", topic], input=records_hex_lines(RECORDS),
        env=env)
    out = run([need(FRANZ), "consume", "-brokers", sb.sasl_bootstrap, "-topic", topic, "-n", str(len(RECORDS)),
               "-timeout", "60s"], env=env)
    assert [(k, v) for _, _, k, v in parse_hex_records(out.stdout)] == RECORDS


def jaas_props(path, mech, user, pw):
    module = "plain.PlainLoginModule" if mech == "PLAIN" else "scram.ScramLoginModule"
    path.write_text(
        "security.protocol=SASL_PLAINTEXT\n"
        f"sasl.mechanism={mech}\n"
        f'sasl.jaas.config=org.apache.kafka.common.security.{module} required username="{user}" password="{pw}";\n'
    )
    return path


def scram_configs(out):
    """{user: {"SCRAM-SHA-256=iterations=4096", ...}} from `kafka-configs
    --describe --entity-type users` (Kafka lists the mechanisms in no fixed
    order)."""
    found = re.findall(r"^SCRAM credential configs for user-principal '(.*)' are (.*)$", out, re.M)
    return {name: set(configs.split(", ")) for name, configs in found}


@pytest.mark.parametrize("version", ["3.9", "4"])
def test_java_cli_and_kafka_configs(sb, tmp_path, version):
    admin = jaas_props(tmp_path / "admin.properties", "SCRAM-SHA-256", "alice", USERS["alice"])
    user = f"carol{version.replace('.', '')}"
    # one change per user and request: both mechanisms at once are refused whole
    p = kafka_tool(version, "kafka-configs", "--bootstrap-server", sb.sasl_bootstrap, "--command-config", admin,
                   "--alter", "--add-config", "SCRAM-SHA-256=[password=carol-pw],SCRAM-SHA-512=[password=carol-pw]",
                   "--entity-type", "users", "--entity-name", user, check=False)
    assert p.returncode != 0 and b"cannot be altered twice in the same request" in p.stderr
    out = kafka_tool(version, "kafka-configs", "--bootstrap-server", sb.sasl_bootstrap, "--command-config", admin,
                     "--describe", "--entity-type", "users").stdout.decode()
    assert user not in out
    for config in ["SCRAM-SHA-256=[password=carol-pw]", "SCRAM-SHA-512=[iterations=8192,password=carol-pw]"]:
        kafka_tool(version, "kafka-configs", "--bootstrap-server", sb.sasl_bootstrap, "--command-config", admin,
                   "--alter", "--add-config", config, "--entity-type", "users", "--entity-name", user)
    out = kafka_tool(version, "kafka-configs", "--bootstrap-server", sb.sasl_bootstrap, "--command-config", admin,
                     "--describe", "--entity-type", "users").stdout.decode()
    described = scram_configs(out)
    assert described[user] == {"SCRAM-SHA-256=iterations=4096", "SCRAM-SHA-512=iterations=8192"}
    assert described["alice"] == {"SCRAM-SHA-256=iterations=4096", "SCRAM-SHA-512=iterations=4096"}
    # the new user works at once; Eddy's PLAIN checks the same credentials
    # (Kafka's PLAIN reads only its JAAS configuration)
    topic = f"java-{user}"
    mechs = ["SCRAM-SHA-512", "PLAIN" if TARGET == "eddy" else "SCRAM-SHA-256"]
    for mech in mechs:
        props = jaas_props(tmp_path / f"{mech}.properties", mech, user, "carol-pw")
        kafka_tool(version, "kafka-console-producer", "--bootstrap-server", sb.sasl_bootstrap, "--topic", topic,
                   "--producer.config", props, input=f"line-{mech}\n".encode())
    out = kafka_tool(version, "kafka-console-consumer", "--bootstrap-server", sb.sasl_bootstrap, "--topic", topic,
                     "--from-beginning", "--max-messages", "2", "--consumer.config", props).stdout.decode()
    # (Kafka 4's tools print a deprecation note for --consumer.config)
    assert [w for w in out.split() if w.startswith("line-")] == [f"line-{m}" for m in mechs]
    if TARGET == "eddy":  # the change is durable: it is in Eddy's store on disk
        assert user in eddy_users("list", "--data", sb.log_dir).stdout.decode()
    # and deleting takes the credential away
    kafka_tool(version, "kafka-configs", "--bootstrap-server", sb.sasl_bootstrap, "--command-config", admin,
               "--alter", "--delete-config", "SCRAM-SHA-512", "--entity-type", "users", "--entity-name", user)
    out = kafka_tool(version, "kafka-configs", "--bootstrap-server", sb.sasl_bootstrap, "--command-config", admin,
                     "--describe", "--entity-type", "users", "--entity-name", user).stdout.decode()
    assert scram_configs(out) == {user: {"SCRAM-SHA-256=iterations=4096"}}
    if TARGET == "eddy":
        assert f"{user}\tSCRAM-SHA-512" not in eddy_users("list", "--data", sb.log_dir).stdout.decode()


# ---------------------------------------------------------------------------
# Refusals: Kafka's error, and nothing changes.


@pytest.mark.parametrize("mech", MECHS)
@pytest.mark.parametrize("who", ["wrong-password", "unknown-user"])
def test_bad_credentials_refused(sb, mech, who):
    user, pw = ("alice", "not-her-password") if who == "wrong-password" else ("mallory", "whatever")
    topic = f"refused-{who}-{mech.lower()}"
    p = kcat_sasl(sb, mech, user, pw, "-P", "-t", topic, input=b"x\n", check=False)
    assert p.returncode != 0
    assert b"Authentication failure" in p.stderr or b"Authentication failed" in p.stderr, p.stderr
    assert not topic_exists(sb, topic)


def sasl_frame(c, api_key, version, body):
    cid = c.send_request(api_key, version, body)
    return kwire.Reader(c.recv_response(cid))


def handshake(c, mech, version=1):
    r = sasl_frame(c, SASL_HANDSHAKE, version, struct.pack(">h", len(mech)) + mech.encode())
    err = r.i16()
    mechs = [r.string() for _ in range(r.i32())]
    return err, mechs


def authenticate(c, token, version=1):
    r = sasl_frame(c, SASL_AUTHENTICATE, version, struct.pack(">i", len(token)) + token)
    err = r.i16()
    msg = r.string()
    auth = r.kbytes()
    life = r.i64() if version >= 1 else None
    return err, msg, auth, life


def test_request_before_authentication_closes(sb):
    with kwire.Conn(HOST, sb.sasl_port) as c:
        assert c.api_versions(0)["error"] == 0  # allowed before authentication
        c.send_request(METADATA, 4, kwire.metadata_request(4, ["before-auth"], True))
        assert c.closed_by_peer()
    assert not topic_exists(sb, "before-auth")


def test_handshake_and_authenticate_errors(sb):
    with kwire.Conn(HOST, sb.sasl_port) as c:
        err, mechs = handshake(c, "GSSAPI")
        assert err == 33  # UNSUPPORTED_SASL_MECHANISM
        assert sorted(mechs) == sorted(MECHS)  # (Kafka's order is its own)
        assert c.closed_by_peer()
    with kwire.Conn(HOST, sb.sasl_port) as c:
        assert handshake(c, "PLAIN")[0] == 0
        err, msg, _, _ = authenticate(c, b"\0alice\0wrong")
        assert (err, msg) == (58, "Authentication failed: Invalid username or password")  # SASL_AUTHENTICATION_FAILED
        assert c.closed_by_peer()
    with kwire.Conn(HOST, sb.sasl_port) as c:
        assert handshake(c, "PLAIN")[0] == 0
        err, msg, _, life = authenticate(c, b"\0alice\0" + USERS["alice"].encode())
        assert (err, msg, life) == (0, "", 0)  # no session limit by default
        md = c.metadata([], version=4)
        assert md["brokers"]
        # without a session limit there is no re-authentication: both
        # refused in band with ILLEGAL_SASL_STATE, and the connection stays
        assert handshake(c, "PLAIN") == (34, [])
        assert authenticate(c, b"\0alice\0" + USERS["alice"].encode())[0] == 34
        assert c.metadata([], version=4)["brokers"]


def test_reauth_limit(tmp_path):
    b = start_sasl_broker(tmp_path, {"connections.max.reauth.ms": "3000"})
    bob = b"\0bob\0" + USERS["bob"].encode()
    try:
        with kwire.Conn(HOST, b.sasl_port) as c:
            assert handshake(c, "PLAIN")[0] == 0
            err, _, _, life = authenticate(c, bob)
            assert (err, life) == (0, 3000)
            assert c.metadata([], version=4)["brokers"]
            # re-authenticating renews the session
            assert handshake(c, "PLAIN")[0] == 0
            err, _, _, life = authenticate(c, bob)
            assert (err, life) == (0, 3000)
            # at most one re-authentication a second: a second one at once is
            # refused in band (ILLEGAL_SASL_STATE) and the session goes on
            assert handshake(c, "PLAIN") == (34, [])
            assert c.metadata([], version=4)["brokers"]
            time.sleep(1.2)
            # re-authenticating as someone else is refused
            assert handshake(c, "PLAIN")[0] == 0
            assert authenticate(c, b"\0alice\0" + USERS["alice"].encode())[0] == 58
            assert c.closed_by_peer()
        with kwire.Conn(HOST, b.sasl_port) as c:
            assert handshake(c, "PLAIN")[0] == 0
            assert authenticate(c, bob)[0] == 0
            time.sleep(3.5)  # past the session's end: the next request closes it
            c.send_request(METADATA, 4, kwire.metadata_request(4, ["after-expiry"], True))
            assert c.closed_by_peer()
        with kwire.Conn(HOST, b.sasl_port) as c:
            assert handshake(c, "PLAIN")[0] == 0
            assert authenticate(c, bob)[0] == 0
            time.sleep(3.5)  # past the end, a re-authentication still renews it
            assert handshake(c, "PLAIN")[0] == 0
            assert authenticate(c, bob)[0] == 0
            assert c.metadata([], version=4)["brokers"]
        assert not topic_exists(b, "after-expiry")
    finally:
        b.stop()


# ---------------------------------------------------------------------------
# MQTT against the same users.


def paho_connect(port, version, user=None, pw=None):
    proto = mqtt.MQTTv311 if version == "3.1.1" else mqtt.MQTTv5
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{version}-{user}", protocol=proto,
                    reconnect_on_failure=False)
    got = {}
    done = threading.Event()

    def on_connect(client, userdata, flags, reason, props):
        got["reason"] = reason
        done.set()

    c.on_connect = on_connect
    if user is not None:
        c.username_pw_set(user, pw)
    c.connect(HOST, port, keepalive=30)
    c.loop_start()
    try:
        assert done.wait(30), "no CONNACK"
    finally:
        c.disconnect()
        c.loop_stop()
    return got["reason"]


@EDDY_ONLY
@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_mqtt_passwords(sb, version):
    assert not paho_connect(sb.mqtt_port, version, "alice", USERS["alice"]).is_failure
    wrong = paho_connect(sb.mqtt_port, version, "alice", "nope")
    unknown = paho_connect(sb.mqtt_port, version, "mallory", "nope")
    anonymous = paho_connect(sb.mqtt_port, version)
    # MQTT 5: 0x86 bad user name or password, 0x87 not authorized; paho
    # reports a 3.1.1 return code 4 / 5 as the same reason codes
    assert wrong.value == 0x86 and unknown.value == 0x86
    assert anonymous.value == 0x87


@EDDY_ONLY
@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
def test_mosquitto_pub_wrong_password(sb, version):
    topic = f"mosq/{version}/bad"
    p = run([need("mosquitto_pub"), "-h", HOST, "-p", sb.mqtt_port, "-V", version, "-q", "1", "-t", topic,
             "-m", "x", "-u", "alice", "-P", "wrong"], check=False)
    assert p.returncode != 0
    assert b"bad user name or password" in p.stderr.lower()
    run([need("mosquitto_pub"), "-h", HOST, "-p", sb.mqtt_port, "-V", version, "-q", "1", "-t", f"mosq/{version}/ok",
         "-m", "x", "-u", "alice", "-P", USERS["alice"]])
    assert not topic_exists(sb, topic.replace("/", "."))
    assert topic_exists(sb, f"mosq.{version}.ok")
