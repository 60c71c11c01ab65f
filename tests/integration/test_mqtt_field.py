"""MQTT for the field, with real clients: keyed routes (captures in the
filter, topic and key templates) checked with paho-mqtt (MQTT 3.1.1 and 5)
publishing and confluent-kafka reading keys and partitions back; retained
messages set and deleted with mosquitto_pub -r and read with mosquitto_sub
and paho (3.1.1 and 5, Retain Handling) across a kill -9 of Eddy; Kafka to
MQTT: records confluent-kafka and kcat produce reach paho (3.1.1 and 5) and
mosquitto_sub subscribers through mqtt.publish.routes, MQTT publishes are
not delivered twice."""

import subprocess
import time

import paho.mqtt.client as mqtt
import pytest

from conftest import HOST, TARGET, Broker, PubAcks, kcat, murmur2, need

import test_mqtt as base

pytestmark = pytest.mark.skipif(TARGET != "eddy", reason="MQTT is Eddy's own listener")  # allowed: only when the suite is proven against real Kafka, which has no MQTT listener

TURBINE_ROUTE = "windfarm/+site/turbine/+id/telemetry=>turbine-telemetry|{site}-{id}"


@pytest.mark.parametrize("version", ["v311", "v5"])
def test_keyed_route_key_and_partition(tmp_path_factory, version):
    cfg = {
        "num.partitions": "4",
        "mqtt.routes": TURBINE_ROUTE + "; plant/+area/#rest=>plant-{area}",
    }
    b = Broker(tmp_path_factory.mktemp("mqtt-keyed"), cfg).start()
    try:
        c = base.Paho(b, f"farm-{version}", version)
        sent = []
        try:
            for rnd in range(3):
                for site, tid in [("site7", "T03"), ("site7", "T04"), ("north", "T01"), ("s2", "T11")]:
                    t = f"windfarm/{site}/turbine/{tid}/telemetry"
                    v = f"{site}-{tid}#{rnd}".encode()
                    c.publish(t, v, 1).wait_for_publish(30)
                    sent.append((f"{site}-{tid}".encode(), v))
            c.publish("plant/hall2/line/4", b"p", 1).wait_for_publish(30)
        finally:
            c.close()
        recs = base.consume(b, "turbine-telemetry", len(sent))
        got = {}
        for r in recs:
            assert r.partition() == (murmur2(r.key()) & 0x7FFFFFFF) % 4, r.key()
            got.setdefault(r.key(), []).append(r.value())
        # one turbine's records keep their order in its partition
        for key in {k for k, _ in sent}:
            assert got[key] == [v for k, v in sent if k == key]
        # without KEY the key stays the MQTT topic
        rec = base.consume(b, "plant-hall2", 1)[0]
        assert rec.key() == b"plant/hall2/line/4" and rec.value() == b"p"
    finally:
        b.stop()


def test_template_giving_invalid_topic_is_refused(tmp_path_factory):
    cfg = {"mqtt.routes": "cap/+x=>c-{x}"}
    b = Broker(tmp_path_factory.mktemp("mqtt-badcap"), cfg).start()
    try:
        c5 = base.Paho(b, "bad-capture-5", "v5")
        acks = PubAcks(c5.c)
        try:
            bad = c5.publish("cap/a b", b"x", 1)
            assert acks.wait(bad.mid).value == 0x90
            good = c5.publish("cap/ok", b"y", 1)
            assert not acks.wait(good.mid).is_failure
        finally:
            c5.close()
        assert base.consume(b, "c-ok", 1)[0].value() == b"y"
        assert "'cap/a b' refused: the route's TOPIC template" in b.log_tail(200)
        # MQTT 3.1.1 has no negative acknowledgement: the connection closes
        s = base.raw_conn(b)
        s.sendall(base.connect_pkt(4, "bad-capture-4"))
        s.settimeout(15)
        assert s.recv(4) == b"\x20\x02\x00\x00"  # CONNACK
        topic = b"cap/a b"
        body = base.s16(topic) + b"\x00\x07" + b"x"
        s.sendall(bytes([0x32, len(body)]) + body)
        assert base.read_until_closed(s) == b""  # closed, no PUBACK
    finally:
        b.stop()


@pytest.mark.parametrize(
    "route,what",
    [
        ("a/+x=>t|{y}", "{y}"),
        ("a/+x=>t-{x", "'{' without '}'"),
        ("a/+x/+x=>t", "capture name used twice"),
        ("a/+topic=>t", "reserved"),
        ("a/+x=>t {x}", "[a-zA-Z0-9._-]"),
    ],
)
def test_bad_template_stops_start_up(tmp_path, route, what):
    rc, err = base.serve_with_routes(tmp_path, f"ok/#=>fine;{route}")
    assert rc != 0
    head = f"mqtt.routes: route '{route}': "
    assert head in err, err
    assert what in err.split(head, 1)[1], err


def test_keyed_route_record_names_its_mqtt_topic(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("mqtt-origin"), {"mqtt.routes": TURBINE_ROUTE}).start()
    try:
        c = base.Paho(b, "origin", "v5")
        try:
            c.publish("windfarm/s1/turbine/T9/telemetry", b"v", 1).wait_for_publish(30)
        finally:
            c.close()
        rec = base.consume(b, "turbine-telemetry", 1)[0]
        assert rec.key() == b"s1-T9"
        assert rec.headers() == [("mqtt.topic", b"windfarm/s1/turbine/T9/telemetry"), ("mqtt.qos", b"1")]
    finally:
        b.stop()


# ---------------------------------------------------------------------------
# Kafka to MQTT.


def test_kafka_produced_records_reach_mqtt_subscribers(tmp_path_factory):
    from confluent_kafka import Producer

    cfg = {"mqtt.publish.routes": "commands=>site/{key}/cmd; alarms.+area=>alarm/{area}"}
    b = Broker(tmp_path_factory.mktemp("mqtt-k2m"), cfg).start()
    s3 = base.Paho(b, "k2m-311", "v311")
    s5 = base.Paho(b, "k2m-5", "v5")
    mosq_sub = subprocess.Popen(
        [need("mosquitto_sub"), "-h", HOST, "-p", str(b.mqtt_port), "-q", "1", "-t", "site/T03/cmd", "-v", "-C", "1", "-W", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert s3.subscribe("site/+/cmd", 1)[0].value == 1
        s5.subscribe("#", 2)
        prod = Producer({"bootstrap.servers": b.bootstrap, "acks": "all"})
        prod.produce("commands", b"start", key=b"T01", headers=[("unit", b"rpm"), ("by", b"scada")])
        prod.produce("alarms.hall2", b"hot", key=b"x")
        prod.produce("plant.line4.state", b"run")  # no route: '.' back to '/'
        assert prod.flush(30) == 0
        kcat(b, "-P", "-t", "commands", "-k", "T02", input=b"stop\n")
        got3 = s3.wait_messages(2)
        assert [(m.topic, m.payload, m.qos) for m in got3] == [("site/T01/cmd", b"start", 1), ("site/T02/cmd", b"stop", 1)]
        got5 = {m.topic: m for m in s5.wait_messages(4)}
        assert set(got5) == {"site/T01/cmd", "site/T02/cmd", "alarm/hall2", "plant/line4/state"}
        # at the subscription's QoS, headers as user properties, in order
        assert got5["site/T01/cmd"].qos == 2
        assert got5["site/T01/cmd"].properties.UserProperty == [("unit", "rpm"), ("by", "scada")]
        assert got5["plant/line4/state"].payload == b"run"
        # mosquitto_sub has no "subscribed" signal: produce until it has one
        deadline = time.time() + 45
        while mosq_sub.poll() is None and time.time() < deadline:
            kcat(b, "-P", "-t", "commands", "-k", "T03", input=b"go\n")
            time.sleep(0.3)
        out, err = mosq_sub.communicate(timeout=30)
        assert out.decode().splitlines() == ["site/T03/cmd go"], err
    finally:
        if mosq_sub.poll() is None:
            mosq_sub.kill()
        s3.close()
        s5.close()
        b.stop()


@pytest.mark.parametrize("version", ["v311", "v5"])
def test_mqtt_publishes_are_not_delivered_twice(tmp_path_factory, version):
    b = Broker(tmp_path_factory.mktemp("mqtt-once"), {"mqtt.publish.routes": "commands=>site/{key}/cmd"}).start()
    sub = base.Paho(b, f"once-sub-{version}", version)
    pub = base.Paho(b, f"once-pub-{version}", version)
    try:
        sub.subscribe("site/#", 1)
        for i in range(5):
            pub.publish("site/T9/cmd", f"m{i}".encode(), 1).wait_for_publish(30)
        # a Kafka record after them: once it is in, any second delivery of
        # the MQTT publishes (appended before it) would be too
        kcat(b, "-P", "-t", "commands", "-k", "T9", input=b"from-kafka\n")
        sub.wait_messages(6)
        assert [m.payload for m in sub.messages] == [b"m0", b"m1", b"m2", b"m3", b"m4", b"from-kafka"]
    finally:
        sub.close()
        pub.close()
        b.stop()


@pytest.mark.parametrize(
    "route,what",
    [
        ("a.+x=>m/{y}", "{y}"),
        ("a.+x=>m/+/{x}", "no '+' or '#'"),
        ("a.#x.b=>m", "bad"),
    ],
)
def test_bad_publish_route_stops_start_up(tmp_path, route, what):
    rc, err = base.serve_with_routes(tmp_path, f"ok=>fine;{route}", key="mqtt.publish.routes")
    assert rc != 0
    head = f"mqtt.publish.routes: route '{route}': "
    assert head in err, err
    assert what in err.split(head, 1)[1], err


# ---------------------------------------------------------------------------
# Retained messages.


def mosq(tool, broker, *args, timeout=60):
    p = subprocess.run(
        [need(tool), "-h", HOST, "-p", str(broker.mqtt_port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=timeout,
    )
    assert p.returncode == 0, p.stderr
    return p.stdout.decode().splitlines()


def paho_retained(broker, version, flt, n):
    """What a new paho subscriber to flt receives right after subscribing:
    n messages as (topic, payload, retain)."""
    c = base.Paho(broker, f"ret-{version}-{time.time_ns()}", version)
    try:
        c.subscribe(flt, 1)
        msgs = c.wait_messages(n)
        return sorted((m.topic, m.payload, m.retain) for m in msgs)
    finally:
        c.close()


def test_retained_mosquitto_and_paho_across_kill9(tmp_path_factory):
    cfg = {"mqtt.retained.max.bytes": "1024"}
    b = Broker(tmp_path_factory.mktemp("mqtt-retained"), cfg).start()
    try:
        mosq("mosquitto_pub", b, "-q", "1", "-r", "-t", "field/t1/state", "-m", "on")
        mosq("mosquitto_pub", b, "-q", "1", "-r", "-t", "field/t2/state", "-m", "off")
        mosq("mosquitto_pub", b, "-q", "1", "-r", "-t", "field/t3/state", "-m", "gone")
        mosq("mosquitto_pub", b, "-q", "1", "-r", "-t", "field/t3/state", "-n")  # deletes
        # every one acknowledged, so on flash: kill -9 keeps them
        b.kill9()
        b.start()
        lines = mosq("mosquitto_sub", b, "-q", "1", "-t", "field/#", "-C", "2", "-W", "30", "-F", "%r %t %p")
        assert sorted(lines) == ["1 field/t1/state on", "1 field/t2/state off"]
        assert paho_retained(b, "v311", "field/+/state", 2) == [
            ("field/t1/state", b"on", True),
            ("field/t2/state", b"off", True),
        ]
        assert paho_retained(b, "v5", "field/t1/#", 1) == [("field/t1/state", b"on", True)]
        # MQTT 5 Retain Handling 2: none sent; the live publish still arrives
        c = base.Paho(b, "rh2", "v5")
        try:
            c.subscribe("field/#", 0, mqtt.SubscribeOptions(qos=1, retainHandling=2))
            pub = base.Paho(b, "rh2-pub", "v5")
            pub.publish("field/t9/state", b"live", 1).wait_for_publish(30)
            pub.close()
            msgs = c.wait_messages(1)
            assert [(m.topic, m.payload, m.retain) for m in msgs] == [("field/t9/state", b"live", False)]
        finally:
            c.close()
        # bounded payload: refused (0x97), nothing kept
        c5 = base.Paho(b, "big-retained", "v5")
        acks = PubAcks(c5.c)
        try:
            info = c5.c.publish("field/big", b"x" * 2000, qos=1, retain=True)
            assert acks.wait(info.mid).value == 0x97
        finally:
            c5.close()
        assert "retained payload larger than mqtt.retained.max.bytes" in b.log_tail(200)
        # the retained topic is internal: Kafka clients cannot write it
        assert "__mqtt_retained" in kcat(b, "-L").stdout.decode()
    finally:
        b.stop()
