"""MQTT delivery from the log keeps what the publish said: a persistent
session gets each message at the lower of its publish QoS and the
subscription's, RETAIN for Retain As Published, never its own publishes on
a No Local subscription, and after a dropped connection the unacknowledged
QoS 1 deliveries again with DUP and the same packet id (raw sockets). The
records carry the mqtt.qos header Kafka consumers see. And messages the
pull bridge takes from a real Mosquitto reach Eddy's own clean-session
subscribers, once, on their MQTT topic."""

import socket
import struct
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from conftest import HOST, TARGET, Broker

import test_mqtt as base
from test_mqtt_bridge import Mosquitto, bridge_config, wait_log
from test_mqtt_session import Sess, connect_311, settle

pytestmark = pytest.mark.skipif(TARGET != "eddy", reason="MQTT is Eddy's own listener")  # allowed: only when the suite is proven against real Kafka, which has no MQTT listener


def publish(b, topic, payload, qos, retain=False, fence=True):
    """One publish from a fresh client, acknowledged; a QoS 0 one followed
    by a QoS 1 fence (on topic/fence) so that it is in the log too."""
    p = base.Paho(b, f"pub-{time.time_ns()}", "v311")
    try:
        infos = [p.c.publish(topic, payload, qos=qos, retain=retain)]
        if fence:
            infos.append(p.c.publish(topic + "/fence", b"fence", qos=1))
        for i in infos:
            i.wait_for_publish(30)
            assert i.is_published()
    finally:
        p.close()


def subscribe(s, flt, options):
    """An MQTT 5 SUBSCRIBE with options, SUBACK awaited."""
    done = threading.Event()
    s.c.on_subscribe = lambda *a: done.set()
    s.c.subscribe(flt, options=options)
    assert done.wait(30), "no SUBACK"


def test_offline_delivery_keeps_publish_qos_and_retain(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("log-qos")).start()
    try:
        s = Sess(b, "qos-sub", "v5")
        subscribe(s, "gauge/+", SubscribeOptions(qos=1, retainAsPublished=True))
        s.close()
        publish(b, "gauge/a", b"q0", 0)
        publish(b, "gauge/b", b"q1", 1)
        publish(b, "gauge/c", b"q2", 2)
        publish(b, "gauge/d", b"kept", 1, retain=True)
        s = Sess(b, "qos-sub", "v5")
        try:
            assert s.present
            got = {m.payload: m for m in s.wait_messages(4)}
            assert got[b"q0"].qos == 0  # min(0, 1)
            assert got[b"q1"].qos == 1
            assert got[b"q2"].qos == 1  # min(2, 1)
            assert got[b"kept"].qos == 1 and got[b"kept"].retain  # Retain As Published
            assert not any(got[p].retain for p in (b"q0", b"q1", b"q2"))
        finally:
            s.close()
        recs = base.consume(b, "gauge.a", 1)
        assert dict(recs[0].headers())["mqtt.qos"] == b"0"
    finally:
        b.stop()


def test_no_local_persistent_session_across_reconnect(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("log-nolocal")).start()
    try:
        s = Sess(b, "chatter", "v5")
        subscribe(s, "chat/#", SubscribeOptions(qos=1, noLocal=True))
        s.c.publish("chat/room", b"mine-1", qos=1).wait_for_publish(30)
        publish(b, "chat/room", b"other-1", 1, fence=False)
        s.wait_messages(1)
        first = settle(s)
        s.close()
        publish(b, "chat/room", b"other-2", 1, fence=False)
        s = Sess(b, "chatter", "v5")
        try:
            assert s.present
            s.c.publish("chat/room", b"mine-2", qos=1).wait_for_publish(30)
            publish(b, "chat/room", b"other-3", 1, fence=False)
            s.wait_messages(2)
            got = first + settle(s)
        finally:
            s.close()
        assert set(got) == {b"other-1", b"other-2", b"other-3"}
    finally:
        b.stop()


def read_packet(sock):
    """One MQTT packet: (first byte, body)."""
    def exactly(n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            assert chunk, "connection closed"
            data += chunk
        return data

    first = exactly(1)[0]
    mult, length = 1, 0
    while True:
        d = exactly(1)[0]
        length += (d & 0x7F) * mult
        mult *= 128
        if not d & 0x80:
            break
    return first, exactly(length)


def test_qos1_redelivery_after_drop_has_dup_and_same_packet_id(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("log-dup")).start()
    try:
        s = socket.create_connection((HOST, b.mqtt_port), timeout=10)
        s.sendall(connect_311("dup-sub"))
        assert read_packet(s) == (0x20, b"\x00\x00")
        body = b"\x00\x01" + base.s16("dial/#") + b"\x01"
        s.sendall(bytes([0x82, len(body)]) + body)
        assert read_packet(s) == (0x90, b"\x00\x01\x01")
        publish(b, "dial/7", b"reading", 1, fence=False)
        first, pub = read_packet(s)
        assert first == 0x32  # QoS 1, no DUP
        assert pub[:8] == base.s16("dial/7")
        pid = struct.unpack(">H", pub[8:10])[0]
        assert pub[10:] == b"reading"
        s.close()  # dropped without PUBACK
        time.sleep(0.3)
        s = socket.create_connection((HOST, b.mqtt_port), timeout=10)
        s.sendall(connect_311("dup-sub"))
        assert read_packet(s) == (0x20, b"\x01\x00")  # session present
        first, again = read_packet(s)
        assert first == 0x3A  # QoS 1 with DUP
        assert struct.unpack(">H", again[8:10])[0] == pid
        assert again[10:] == b"reading"
        s.sendall(b"\x40\x02" + again[8:10])  # PUBACK
        s.sendall(b"\xe0\x00")
        s.close()
    finally:
        b.stop()


def test_bridged_messages_reach_clean_session_subscribers(tmp_path):
    source = Mosquitto(tmp_path / "mosquitto")
    b = None
    try:
        b = Broker(tmp_path / "eddy", bridge_config(source.port, "plant/#:1")).start()
        wait_log(b, "bridge site: connected")
        sub = base.Paho(b, "dashboard", "v311")
        try:
            sub.subscribe("plant/+/+/temp", 1)
            pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="plc", protocol=mqtt.MQTTv311)
            pub.connect(HOST, source.port)
            pub.loop_start()
            for i in range(5):
                pub.publish(f"plant/L1/M{i}/temp", f"t{i}".encode(), qos=1).wait_for_publish(30)
            pub.disconnect()
            pub.loop_stop()
            sub.wait_messages(5)
            time.sleep(1.0)  # nothing comes twice
            with sub.cond:
                got = [(m.topic, m.payload, m.qos) for m in sub.messages]
            assert sorted(got) == [(f"plant/L1/M{i}/temp", f"t{i}".encode(), 1) for i in range(5)]
        finally:
            sub.close()
    finally:
        if b:
            b.stop()
        source.stop()
