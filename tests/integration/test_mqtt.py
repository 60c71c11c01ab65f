"""Eddy's MQTT listener with real MQTT clients: paho-mqtt (MQTT 3.1.1 and 5)
and mosquitto's mosquitto_pub / mosquitto_sub publish and subscribe; what
they publish is read back from the Kafka side with confluent-kafka and kcat
(values, keys = MQTT topic, headers = MQTT 5 user properties, partitions by
Kafka's default partitioner). Also: acknowledged QoS 1 publishes survive a
kill -9, routes from the config, refusals of bad input while other clients
go on, keep-alive expiry publishing the will, a subscriber with Receive
Maximum 1 getting every message, and a replay of a wind turbine's SCADA
recording."""

import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import EDDY_BIN, HOST, TARGET, Broker, kcat, murmur2, need, recording

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes

pytestmark = pytest.mark.skipif(TARGET != "eddy", reason="MQTT is Eddy's own listener")  # allowed: only when the suite is proven against real Kafka, which has no MQTT listener

VERSIONS = {"v311": mqtt.MQTTv311, "v5": mqtt.MQTTv5}


# ---------------------------------------------------------------------------
# Helpers.


class Paho:
    """A paho client connected to the broker's MQTT listener with its network
    loop in a thread; received messages collect in .messages."""

    def __init__(self, broker, client_id, version="v311", keepalive=60, will=None, connect_props=None):
        self.c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=VERSIONS[version],
            reconnect_on_failure=False,
        )
        self.version = version
        self.messages = []
        self.cond = threading.Condition()
        self.connected = threading.Event()
        self.reason = None
        self.c.on_message = self._on_message
        self.c.on_connect = self._on_connect
        if will:
            self.c.will_set(will[0], will[1], qos=1)
        self.c.connect(HOST, broker.mqtt_port, keepalive=keepalive, properties=connect_props)
        self.c.loop_start()
        assert self.connected.wait(30), "no CONNACK"
        assert not self.reason.is_failure, f"refused: {self.reason}"

    def _on_connect(self, client, userdata, flags, reason, props):
        self.reason = reason
        self.connected.set()

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.messages.append(msg)
            self.cond.notify_all()

    def wait_messages(self, n, timeout=30):
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.messages) >= n, timeout), (
                f"got {len(self.messages)} of {n} messages"
            )
            return list(self.messages)

    def subscribe(self, flt, qos, options=None):
        done = threading.Event()
        got = []

        def on_sub(client, userdata, mid, reasons, props):
            got.extend(reasons)
            done.set()

        self.c.on_subscribe = on_sub
        if options is not None:  # MQTT 5 subscription options instead of a QoS
            self.c.subscribe(flt, options=options)
        else:
            self.c.subscribe(flt, qos)
        assert done.wait(30), "no SUBACK"
        return got

    def publish(self, topic, payload, qos, props=None):
        info = self.c.publish(topic, payload, qos=qos, properties=props)
        return info

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def consume(broker, topic, n, timeout=60, partitions=None):
    """The first n records of topic (all partitions), via confluent-kafka."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": f"mqtt-test-{time.time_ns()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "topic.metadata.refresh.interval.ms": 500,
        }
    )
    try:
        if partitions is None:
            c.subscribe([topic])
        else:
            c.assign([TopicPartition(topic, p, 0) for p in partitions])
        out = []
        deadline = time.time() + timeout
        while len(out) < n and time.time() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            out.append(m)
        assert len(out) == n, f"read {len(out)} of {n} records from {topic}"
        return out
    finally:
        c.close()


def props_with_user(pairs):
    p = Properties(PacketTypes.PUBLISH)
    p.UserProperty = pairs
    return p


def raw_conn(broker):
    s = socket.create_connection((HOST, broker.mqtt_port), timeout=10)
    return s


def s16(x):
    x = x.encode() if isinstance(x, str) else x
    return struct.pack(">H", len(x)) + x


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def connect_pkt(level, cid, keepalive=30, will=None):
    flags = 0x02 | (0x0C if will else 0)
    body = s16("MQTT") + bytes([level, flags]) + struct.pack(">H", keepalive)
    if level == 5:
        body += b"\x00"
    body += s16(cid)
    if will:
        if level == 5:
            body += b"\x00"
        body += s16(will[0]) + s16(will[1])
    return b"\x10" + varint(len(body)) + body


def read_until_closed(s, timeout=15):
    """Everything the server sends until it closes the connection."""
    s.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = s.recv(4096)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


# ---------------------------------------------------------------------------
# PUBLISH into the log.


@pytest.mark.parametrize("version", ["v311", "v5"])
def test_paho_publish_qos012_read_back_from_kafka(broker, version):
    mtopic = f"site/{version}/turbine-7/rpm"
    ktopic = f"site.{version}.turbine-7.rpm"
    c = Paho(broker, f"pub-{version}", version)
    try:
        infos = []
        for i in range(30):
            qos = i % 3
            props = props_with_user([("seq", str(i)), ("unit", "rpm")]) if version == "v5" else None
            infos.append(c.publish(mtopic, f"{i}:{14.0 + i / 10:.1f}".encode(), qos, props))
        for info in infos:
            info.wait_for_publish(30)
            assert info.is_published()
    finally:
        c.close()
    recs = consume(broker, ktopic, 30)
    assert [r.value().decode() for r in recs] == [f"{i}:{14.0 + i / 10:.1f}" for i in range(30)]
    assert all(r.key() == mtopic.encode() for r in recs)
    if version == "v5":
        assert recs[4].headers() == [("seq", b"4"), ("unit", b"rpm"), ("mqtt.topic", b""), ("mqtt.qos", b"1")]
    else:
        # the origin mark: the MQTT topic, empty as it is the key, and the publish QoS
        assert [r.headers() for r in recs] == [[("mqtt.topic", b""), ("mqtt.qos", b"%d" % (i % 3))] for i in range(30)]


def test_partition_by_key_murmur2(tmp_path_factory):
    # One route for the whole fleet: a 3-partition topic keyed by MQTT topic.
    cfg = {"num.partitions": "3", "mqtt.routes": "fleet/#=>fleet"}
    b = Broker(tmp_path_factory.mktemp("mqtt-parts"), cfg).start()
    try:
        c = Paho(b, "parts", "v5")
        topics = [f"fleet/bus-{i}" for i in range(12)]
        try:
            for rnd in range(3):
                infos = [c.publish(t, f"{t}#{rnd}".encode(), 1) for t in topics]
                for info in infos:
                    info.wait_for_publish(30)
        finally:
            c.close()
        # Kafka's default partitioner: murmur2(key) % 3; one bus stays in
        # order in its partition.
        seen = 0
        for p in range(3):
            out = kcat(b, "-C", "-t", "fleet", "-p", str(p), "-o", "beginning", "-e", "-f", "%k=%s\n").stdout
            lines = out.decode().splitlines()
            seen += len(lines)
            for t in topics:
                mine = [l for l in lines if l.startswith(t + "=")]
                if (murmur2(t.encode()) & 0x7FFFFFFF) % 3 == p:
                    assert mine == [f"{t}={t}#{r}" for r in range(3)]
                else:
                    assert mine == []
        assert seen == 36
    finally:
        b.stop()


def test_routes_from_config(tmp_path_factory):
    cfg = {"mqtt.routes": "sensors/+/temp=>temperature; sensors/#=>sensors-other"}
    b = Broker(tmp_path_factory.mktemp("mqtt-routes"), cfg).start()
    try:
        c = Paho(b, "router", "v311")
        try:
            for t, v in [("sensors/a/temp", b"1"), ("sensors/b/temp", b"2"), ("sensors/a/hum", b"3"), ("plain/x", b"4")]:
                c.publish(t, v, 1).wait_for_publish(30)
        finally:
            c.close()
        assert [r.value() for r in consume(b, "temperature", 2)] == [b"1", b"2"]
        recs = consume(b, "sensors-other", 1)
        assert recs[0].value() == b"3" and recs[0].key() == b"sensors/a/hum"
        assert consume(b, "plain.x", 1)[0].value() == b"4"
        # SIGTERM with an MQTT 5 client connected: it is told (0x8B) and
        # eddy exits cleanly.
        stay = Paho(b, "stays", "v5")
        told = []
        bye = threading.Event()
        stay.c.on_disconnect = lambda client, userdata, flags, reason, props: (told.append(reason), bye.set())
        assert b.stop()
        assert bye.wait(30)
        stay.c.loop_stop()
        assert told[0].value == 0x8B
        assert "listening on" in b.log_tail(400) and "(MQTT)" in b.log_tail(400)
    finally:
        b.stop()


def serve_with_routes(tmp_path, routes, key="mqtt.routes"):
    """Runs eddy serve with key=routes (mqtt.routes by default): (exit code, stderr)."""
    p = subprocess.run(
        [
            str(EDDY_BIN),
            "serve",
            "--set",
            f"listeners=PLAINTEXT://{HOST}:0",
            "--set",
            f"mqtt.listeners=mqtt://{HOST}:0",
            "--set",
            f"log.dirs={tmp_path}",
            "--set",
            f"{key}={routes}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=30,
    )
    return p.returncode, p.stderr.decode()


def test_bad_route_stops_start_up(tmp_path):
    rc, err = serve_with_routes(tmp_path, "ok/#=>fine;bad/#/x=>t")
    assert rc != 0
    assert "bad/#/x=>t" in err


def test_mosquitto_pub_qos1_then_kcat(broker):
    lines = [f"reading-{i},{20 + i * 0.5}" for i in range(50)]
    p = subprocess.run(
        [need("mosquitto_pub"), "-h", HOST, "-p", str(broker.mqtt_port), "-q", "1", "-t", "gw/line/meter", "-l"],
        input="\n".join(lines).encode() + b"\n",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    out = kcat(broker, "-C", "-t", "gw.line.meter", "-o", "beginning", "-c", str(len(lines)), "-f", "%k|%s\n")
    assert out.stdout.decode().splitlines() == [f"gw/line/meter|{l}" for l in lines]


def test_mosquitto_sub_receives_wildcards(broker):
    sub = subprocess.Popen(
        [need("mosquitto_sub"), "-h", HOST, "-p", str(broker.mqtt_port), "-q", "1", "-t", "hall/+/temp", "-t", "yard/#", "-v", "-C", "3", "-W", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # mosquitto_sub has no "subscribed" signal: a retained-free broker
        # only delivers live, so keep publishing until it has all three.
        pub = Paho(broker, "hall-pub", "v5")
        try:
            deadline = time.time() + 45
            while sub.poll() is None and time.time() < deadline:
                for t, v in [("hall/1/temp", b"21"), ("hall/1/hum", b"40"), ("yard/a/b", b"x")]:
                    pub.publish(t, v, 1).wait_for_publish(30)
                time.sleep(0.2)
        finally:
            pub.close()
        out, err = sub.communicate(timeout=30)
    finally:
        if sub.poll() is None:
            sub.kill()
    lines = out.decode().splitlines()
    assert len(lines) == 3, (out, err)
    assert set(lines) <= {"hall/1/temp 21", "yard/a/b x"}
    assert "hall/1/temp 21" in lines and "yard/a/b x" in lines


@pytest.mark.parametrize("version", ["v311", "v5"])
def test_paho_subscribe_wildcards_qos(broker, version):
    sub = Paho(broker, f"screen-{version}", version)
    pub = Paho(broker, f"sensor-{version}", "v5")
    try:
        granted = sub.subscribe([(f"plant-{version}/+/temp", 1), (f"alarm-{version}/#", 2)], 0)
        assert [int(g.value) if hasattr(g, "value") else g for g in granted] == [1, 2]
        pub.publish(f"plant-{version}/p1/temp", b"30.5", 2).wait_for_publish(30)
        pub.publish(f"plant-{version}/p1/hum", b"50", 1).wait_for_publish(30)
        pub.publish(f"alarm-{version}/p1/fire", b"!", 2).wait_for_publish(30)
        pub.publish(f"alarm-{version}", b"parent", 0).wait_for_publish(30)
        msgs = sub.wait_messages(3)
        time.sleep(0.5)  # a wrong extra delivery would show up here
        got = sorted((m.topic, m.payload, m.qos) for m in sub.messages)
        assert got == sorted(
            [
                (f"plant-{version}/p1/temp", b"30.5", 1),  # min(2, 1)
                (f"alarm-{version}/p1/fire", b"!", 2),
                (f"alarm-{version}", b"parent", 0),
            ]
        ), msgs
    finally:
        sub.close()
        pub.close()


# ---------------------------------------------------------------------------
# Durability, sessions, bad input.


def test_receive_maximum_one_gets_every_qos1_message(broker):
    """An MQTT 5 subscriber announcing Receive Maximum 1 gets all 100 QoS 1
    messages, in order: deliveries beyond its window wait for its PUBACKs
    instead of being dropped."""
    cp = Properties(PacketTypes.CONNECT)
    cp.ReceiveMaximum = 1
    sub = Paho(broker, "slow-rm1", "v5", connect_props=cp)
    pub = Paho(broker, "fast-rm1", "v5")
    try:
        assert [r.value for r in sub.subscribe("slow/meter", 1)] == [1]
        infos = [pub.publish("slow/meter", str(i).encode(), 1) for i in range(100)]
        for info in infos:
            info.wait_for_publish(30)
        msgs = sub.wait_messages(100, timeout=60)
        assert [m.payload.decode() for m in msgs] == [str(i) for i in range(100)]
        assert {m.qos for m in msgs} == {1}
    finally:
        sub.close()
        pub.close()


def test_kill9_after_puback_keeps_every_acked_message(fresh_broker):
    c = Paho(fresh_broker, "durable", "v311")
    n = 300
    infos = [c.publish("crash/test", f"m{i}".encode(), 1) for i in range(n)]
    for info in infos:
        info.wait_for_publish(60)
        assert info.is_published()
    # Every PUBACK is in: kill at once, no clean shutdown.
    fresh_broker.kill9()
    c.c.loop_stop()
    fresh_broker.start()
    recs = consume(fresh_broker, "crash.test", n)
    assert [r.value() for r in recs] == [f"m{i}".encode() for i in range(n)]


def test_bad_input_closed_while_others_continue(broker):
    good = Paho(broker, "steady", "v5")
    try:
        # garbage
        s = raw_conn(broker)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_until_closed(s) == b""
        s.close()
        # protocol level 3 (MQTT 3.1): CONNACK "unacceptable protocol version", closed
        s = raw_conn(broker)
        s.sendall(connect_pkt(3, "old"))
        assert read_until_closed(s) == b"\x20\x02\x00\x01"
        s.close()
        # an oversized packet (2 MiB announced, limit 1 MiB)
        s = raw_conn(broker)
        s.sendall(connect_pkt(4, "big"))
        s.sendall(b"\x30" + varint(2 << 20) + b"\x00\x01a")
        data = read_until_closed(s)
        assert data == b"\x20\x02\x00\x00"  # the CONNACK, then closed
        s.close()
        # a malformed PUBLISH from an MQTT 5 client: DISCONNECT 0x81
        s = raw_conn(broker)
        s.sendall(connect_pkt(5, "mal"))
        s.sendall(b"\x30\x03\x00\x05a")  # topic length past the packet
        data = read_until_closed(s)
        assert data[0] == 0x20  # CONNACK
        rest = data[2 + data[1] :]
        assert rest[0] == 0xE0 and rest[2] == 0x81, data  # DISCONNECT, malformed packet
        s.close()
        # the steady client was never disturbed
        good.publish("steady/still", b"ok", 1).wait_for_publish(30)
    finally:
        good.close()
    assert consume(broker, "steady.still", 1)[0].value() == b"ok"
    log = broker.log_tail(200)
    assert "not CONNECT" in log and "unsupported protocol level" in log and "over mqtt.max.packet.bytes" in log


def test_keepalive_expiry_publishes_will(broker):
    watcher = Paho(broker, "watcher", "v311")
    try:
        watcher.subscribe("dev/+/status", 1)
        s = raw_conn(broker)
        s.sendall(connect_pkt(4, "sleepy", keepalive=1, will=("dev/sleepy/status", "offline")))
        assert s.recv(4) == b"\x20\x02\x00\x00"
        # Say nothing: after 1.5 x 1 s the broker closes and publishes the will.
        assert read_until_closed(s, timeout=30) == b""
        s.close()
        msgs = watcher.wait_messages(1)
        assert (msgs[0].topic, msgs[0].payload) == ("dev/sleepy/status", b"offline")
    finally:
        watcher.close()
    assert consume(broker, "dev.sleepy.status", 1)[0].value() == b"offline"
    assert "keep-alive" in broker.log_tail(200)


def test_session_takeover(broker):
    first = Paho(broker, "same-id", "v5")
    gone = threading.Event()
    first.c.on_disconnect = lambda *a: gone.set()
    second = Paho(broker, "same-id", "v5")
    try:
        assert gone.wait(30)
        second.publish("takeover/ok", b"2", 1).wait_for_publish(30)
    finally:
        first.c.loop_stop()
        second.close()
    assert consume(broker, "takeover.ok", 1)[0].value() == b"2"


# ---------------------------------------------------------------------------
# A recording.


def test_replay_wind_turbine_scada(broker):
    rows = recording("wind-turbine-scada-T1.csv").read_text(errors="replace").splitlines()[1:1001]
    assert len(rows) == 1000
    c = Paho(broker, "turbine-T1", "v5")
    try:
        props = props_with_user([("turbine", "T1"), ("format", "csv")])
        infos = [c.publish("windfarm/T1/scada", r.encode(), 1, props) for r in rows]
        for info in infos:
            info.wait_for_publish(60)
    finally:
        c.close()
    recs = consume(broker, "windfarm.T1.scada", len(rows))
    assert [r.value().decode() for r in recs] == rows
    assert recs[0].headers() == [("turbine", b"T1"), ("format", b"csv"), ("mqtt.topic", b""), ("mqtt.qos", b"1")]
    # Bridged batches are built by Eddy: fewer batches than records.
    part = broker.log_dir / "windfarm.T1.scada-0"
    out = subprocess.run([str(EDDY_BIN), "dump", str(part), "--no-records"], stdout=subprocess.PIPE, timeout=60)
    n_batches = sum(1 for l in out.stdout.decode().splitlines() if "baseOffset" in l)
    assert 1 <= n_batches < len(rows)


# ---------------------------------------------------------------------------
# Conformance and failure edges a real client meets.


def test_v5_disconnect_with_error_reason_publishes_will(broker):
    """MQTT 5: only a normal DISCONNECT (0x00) discards the will; a client
    leaving with an error reason has its will published."""
    from paho.mqtt.reasoncodes import ReasonCode

    watcher = Paho(broker, "will-watch", "v311")
    try:
        watcher.subscribe("plc/+/state", 1)
        calm = Paho(broker, "plc-calm", "v5", will=("plc/calm/state", b"lost"))
        calm.close()  # reason 0x00: no will
        failing = Paho(broker, "plc-fail", "v5", will=("plc/fail/state", b"lost"))
        failing.c.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=0x80))
        failing.c.loop_stop()
        msgs = watcher.wait_messages(1)
        assert (msgs[0].topic, msgs[0].payload) == ("plc/fail/state", b"lost")
        # A marker published after both: the calm client's will never came.
        marker = Paho(broker, "plc-marker", "v311")
        marker.publish("plc/marker/state", b"m", 1).wait_for_publish(30)
        marker.close()
        msgs = watcher.wait_messages(2)
        assert [m.topic for m in msgs] == ["plc/fail/state", "plc/marker/state"]
    finally:
        watcher.close()


def test_v5_session_expiry_granted(broker):
    """MQTT 5: a client asking for a session that outlives the connection
    (within mqtt.session.expiry.max) gets it as asked: CONNACK leaves the
    Session Expiry Interval out, and the session is new (present 0);
    test_mqtt_session.py covers what the session keeps."""
    got = {}
    done = threading.Event()

    def on_connect(client, userdata, flags, reason, props):
        got.update(flags=flags, reason=reason, props=props)
        done.set()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="wants-session", protocol=mqtt.MQTTv5)
    c.on_connect = on_connect
    p = Properties(PacketTypes.CONNECT)
    p.SessionExpiryInterval = 3600
    c.connect(HOST, broker.mqtt_port, clean_start=False, properties=p)
    c.loop_start()
    try:
        assert done.wait(30)
        assert not got["reason"].is_failure
        assert got["flags"].session_present is False
        assert not hasattr(got["props"], "SessionExpiryInterval")
    finally:
        c.disconnect()
        c.loop_stop()


def test_topic_deleted_while_publishes_gather(tmp_path_factory):
    """A Kafka admin deletes the topic MQTT publishes are gathering for
    (linger 1 s): they get PUBACK 0x80, Eddy and the client go on."""
    from confluent_kafka.admin import AdminClient

    b = Broker(tmp_path_factory.mktemp("mqtt-delete"), {"mqtt.linger.ms": "1000"}).start()
    try:
        c = Paho(b, "doomed-pub", "v5")
        acks = {}
        acked = threading.Condition()

        def on_publish(client, userdata, mid, reason, props):
            with acked:
                acks[mid] = reason
                acked.notify_all()

        c.c.on_publish = on_publish
        first = c.publish("doomed/t", b"first", 1)
        with acked:
            assert acked.wait_for(lambda: first.mid in acks, 30)
        assert not acks[first.mid].is_failure
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        admin.list_topics(timeout=30)
        # The next one gathers for a second (then waits for its flush); the
        # topic goes meanwhile. Should the deletion come only after the
        # PUBACK (a very slow machine), the next attempt recreates the topic.
        for attempt in range(5):
            second = c.publish("doomed/t", f"second{attempt}".encode(), 1)
            admin.delete_topics(["doomed.t"], operation_timeout=10)["doomed.t"].result(30)
            with acked:
                assert acked.wait_for(lambda: second.mid in acks, 30)
            if acks[second.mid].is_failure:
                break
        assert acks[second.mid].value == 0x80
        third = c.publish("doomed/t", b"third", 1)
        with acked:
            assert acked.wait_for(lambda: third.mid in acks, 30)
        assert not acks[third.mid].is_failure
        c.close()
        assert [r.value() for r in consume(b, "doomed.t", 1)] == [b"third"]
        assert "the topic is being deleted" in b.log_tail(200)
    finally:
        b.stop()


def test_bad_filters_get_failure_codes_connection_stays(broker):
    """SUBSCRIBE with invalid filters: a failure code per filter (3.1.1
    0x80, 5.0 0x8F), valid ones granted, the connection stays; an empty
    filter is malformed and closes (5.0: DISCONNECT 0x81)."""
    for level, fail in [(4, 0x80), (5, 0x8F)]:
        s = raw_conn(broker)
        try:
            s.sendall(connect_pkt(level, f"filters{level}"))
            ack = s.recv(2)
            assert ack[0] == 0x20
            s.recv(ack[1])
            body = struct.pack(">H", 5) + (b"\x00" if level == 5 else b"")
            for f in ["a/#/b", "a+", "ok/+/x", "sport/#"]:
                body += s16(f) + b"\x01"
            s.sendall(b"\x82" + varint(len(body)) + body)
            s.settimeout(15)
            suback = s.recv(64)
            codes = suback[4 + (1 if level == 5 else 0) :]
            assert suback[0] == 0x90 and list(codes) == [fail, fail, 1, 1], suback
            s.sendall(b"\xc0\x00")  # still there: PINGRESP
            assert s.recv(2) == b"\xd0\x00"
            body = struct.pack(">H", 6) + (b"\x00" if level == 5 else b"") + s16("") + b"\x00"
            s.sendall(b"\x82" + varint(len(body)) + body)
            data = read_until_closed(s)
            if level == 4:
                assert data == b""
            else:
                assert data[0] == 0xE0 and data[2] == 0x81, data
        finally:
            s.close()
