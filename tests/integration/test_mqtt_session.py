"""Persistent MQTT sessions delivered from the log, with real clients:
paho-mqtt (MQTT 3.1.1 clean session 0, MQTT 5 Session Expiry Interval) and
mosquitto_sub -c. Messages published while a subscriber is away (by MQTT
clients and by Kafka producers) reach it when it comes back, across a
kill -9 of Eddy: QoS 1 at least once with every acknowledged publish
delivered, QoS 2 exactly once. Also: session takeover (session present),
clean start discarding a session, expiry, mqtt.session.expiry.max granted
in CONNACK, the backlog bound, a flood of 10,000 persistent client ids
with Eddy's RSS bounded, and an inbound QoS 2 resend after kill -9 stored
once."""

import socket
import subprocess
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from conftest import HOST, TARGET, Broker, need

import test_mqtt as base

pytestmark = pytest.mark.skipif(TARGET != "eddy", reason="MQTT is Eddy's own listener")  # allowed: only when the suite is proven against real Kafka, which has no MQTT listener


class Sess:
    """A paho client asking for a persistent session (3.1.1: clean session
    0; 5: Clean Start 0 and a Session Expiry Interval), or a clean one."""

    def __init__(self, broker, client_id, version="v311", clean=False, expiry=3600):
        kw = {}
        if version == "v311":
            kw["clean_session"] = clean
        self.c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=base.VERSIONS[version],
            reconnect_on_failure=False,
            **kw,
        )
        self.messages = []
        self.cond = threading.Condition()
        self.connected = threading.Event()
        self.flags = None
        self.reason = None
        self.props = None
        self.c.on_message = self._on_message
        self.c.on_connect = self._on_connect
        ckw = {}
        if version == "v5":
            p = Properties(PacketTypes.CONNECT)
            if expiry:
                p.SessionExpiryInterval = expiry
            ckw = {"clean_start": clean, "properties": p}
        self.c.connect(HOST, broker.mqtt_port, keepalive=60, **ckw)
        self.c.loop_start()
        assert self.connected.wait(30), "no CONNACK"

    def _on_connect(self, client, userdata, flags, reason, props):
        self.flags, self.reason, self.props = flags, reason, props
        self.connected.set()

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.messages.append(msg)
            self.cond.notify_all()

    @property
    def present(self):
        return self.flags.session_present

    def wait_messages(self, n, timeout=60):
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.messages) >= n, timeout), (
                f"got {len(self.messages)} of {n} messages"
            )
            return list(self.messages)

    def wait_delivered(self, n, stall=120):
        """Waits for n messages however slowly they come; fails only when
        none at all came for `stall` seconds (delivery stopped)."""
        with self.cond:
            while len(self.messages) < n:
                had = len(self.messages)
                self.cond.wait_for(lambda: len(self.messages) != had, stall)
                assert len(self.messages) != had, f"got {had} of {n} messages, none for {stall} s"
            return list(self.messages)

    def payloads(self):
        with self.cond:
            return [m.payload for m in self.messages]

    def subscribe(self, flt, qos):
        done = threading.Event()
        self.c.on_subscribe = lambda *a: done.set()
        self.c.subscribe(flt, qos)
        assert done.wait(30), "no SUBACK"

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()

    def drop(self):
        """Goes away without DISCONNECT (the socket closes)."""
        self.c.loop_stop()
        sock = self.c.socket()
        if sock:
            sock.close()

    def resume(self):
        """Connects the same client again after drop(), keeping the client's
        side of the session as MQTT asks: a QoS 2 message it took with
        PUBREC is its own until the PUBREL (paho hands it on then), and after
        a restart the server may send just that PUBREL."""
        self.connected.clear()
        self.c.reconnect()
        self.c.loop_start()
        assert self.connected.wait(30), "no CONNACK"


def leave_subscribed(broker, cid, flt, qos=1, version="v311"):
    """Starts a persistent session subscribed to flt, then disconnects."""
    s = Sess(broker, cid, version)
    assert not s.present
    s.subscribe(flt, qos)
    s.close()


def comes_back(broker, cid, version="v311"):
    """Connects asking for the session of cid, leaves: session present?"""
    s = Sess(broker, cid, version)
    s.close()
    return s.present


def publish_all(broker, topic, n, qos=1, prefix="m"):
    """Publishes n messages and waits for every acknowledgement."""
    p = base.Paho(broker, f"pub-{time.time_ns()}", "v311")
    try:
        infos = [p.publish(topic, f"{prefix}{i}".encode(), qos) for i in range(n)]
        for info in infos:
            info.wait_for_publish(60)
            assert info.is_published()
    finally:
        p.close()
    return [f"{prefix}{i}".encode() for i in range(n)]


def settle(s, seconds=1.5):
    """Lets deliveries still on their way arrive (used only before asserting
    that nothing more arrives)."""
    time.sleep(seconds)
    return s.payloads()


@pytest.mark.parametrize("version", ["v311", "v5"])
def test_offline_qos1_survives_kill9(tmp_path_factory, version):
    b = Broker(tmp_path_factory.mktemp("sess-q1")).start()
    try:
        leave_subscribed(b, f"field-{version}", "site/+/rpm", 1, version)
        sent = publish_all(b, "site/T1/rpm", 200)
        b.kill9()
        b.start()
        s = Sess(b, f"field-{version}", version)
        try:
            assert s.present
            got = s.wait_messages(200)
            assert set(sent) <= {m.payload for m in got}
            assert all(m.topic == "site/T1/rpm" and m.qos == 1 for m in got)
            # the live switch: what is published now arrives too, once
            publish_all(b, "site/T2/rpm", 3, prefix="live")
            s.wait_messages(203)
            assert sorted(p for p in settle(s) if p.startswith(b"live")) == [b"live0", b"live1", b"live2"]
        finally:
            s.close()
        # acknowledged positions were saved: coming back again gets nothing old
        time.sleep(0.5)
        s = Sess(b, f"field-{version}", version)
        try:
            assert s.present
            assert settle(s) == []
        finally:
            s.close()
    finally:
        b.stop()


def test_offline_qos2_exactly_once_across_kill9(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("sess-q2")).start()
    try:
        leave_subscribed(b, "q2-sub", "plant/#", 2, "v5")
        sent = publish_all(b, "plant/line4/state", 300, qos=2)
        s = Sess(b, "q2-sub", "v5")
        try:
            assert s.present
            s.wait_delivered(40)
            b.kill9()  # in the middle of delivering, some QoS 2 flows unfinished
            s.drop()
            b.start()
            # One client all along, so every message it handed on counts,
            # also one read from the socket after the kill, and one whose
            # PUBREL alone comes after the restart is handed on too.
            s.resume()
            assert s.present
            s.wait_delivered(len(sent))
            got = settle(s)
        finally:
            s.close()
        assert sorted(got) == sorted(sent), (len(got), len(set(got)))
    finally:
        b.stop()


def test_kafka_records_reach_offline_subscriber(tmp_path_factory):
    from confluent_kafka import Producer

    b = Broker(tmp_path_factory.mktemp("sess-kafka")).start()
    try:
        leave_subscribed(b, "cmd-sub", "commands/#", 1, "v311")
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all"})
        for i in range(5):
            p.produce("commands.T7", value=f"stop{i}".encode(), key=b"T7")
        assert p.flush(30) == 0
        s = Sess(b, "cmd-sub", "v311")
        try:
            assert s.present
            got = s.wait_messages(5)
            assert [m.payload for m in got] == [f"stop{i}".encode() for i in range(5)]
            assert {m.topic for m in got} == {"commands/T7"}
        finally:
            s.close()
    finally:
        b.stop()


def test_mosquitto_sub_persistent_session(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("sess-mosq")).start()
    try:
        sub = [need("mosquitto_sub"), "-h", HOST, "-p", str(b.mqtt_port), "-c", "-i", "mosq-sub", "-q", "1"]
        # subscribe once and leave (-E: exit once subscribed)
        subprocess.run(sub + ["-t", "yard/#", "-E"], check=True, timeout=30)
        sent = publish_all(b, "yard/crane/load", 20)
        out = subprocess.run(sub + ["-t", "yard/#", "-C", "20", "-W", "60"], capture_output=True, timeout=90)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == [x for x in sent]
    finally:
        b.stop()


def test_takeover_keeps_session(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("sess-take")).start()
    try:
        old = Sess(b, "gw-1", "v311")
        old.subscribe("alarm/#", 1)
        gone = threading.Event()
        old.c.on_disconnect = lambda *a: gone.set()
        new = Sess(b, "gw-1", "v311")
        try:
            assert new.present
            assert gone.wait(30), "the old connection was not closed"
            publish_all(b, "alarm/fire", 2)
            assert [m.payload for m in new.wait_messages(2)] == [b"m0", b"m1"]
            assert old.payloads() == []
        finally:
            new.close()
            old.c.loop_stop()
    finally:
        b.stop()


@pytest.mark.parametrize("version", ["v311", "v5"])
def test_clean_start_discards_session(tmp_path_factory, version):
    b = Broker(tmp_path_factory.mktemp("sess-clean")).start()
    try:
        leave_subscribed(b, "cleaner", "a/#", 1, version)
        assert comes_back(b, "cleaner", version)  # kept until a clean start
        publish_all(b, "a/b", 3)
        s = Sess(b, "cleaner", version, clean=True, expiry=0)
        try:
            assert not s.present
            assert settle(s) == []
        finally:
            s.close()
        assert not comes_back(b, "cleaner", version)
    finally:
        b.stop()


def test_session_expiry(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("sess-exp"), {"mqtt.session.expiry.max": "2"}).start()
    try:
        s = Sess(b, "short", "v5", expiry=3600)
        # asked for an hour, granted mqtt.session.expiry.max
        assert s.props.SessionExpiryInterval == 2
        s.subscribe("x/#", 1)
        s.close()
        time.sleep(3)
        assert not comes_back(b, "short", "v5")
        # a 3.1.1 session expires the same way, across a kill -9 too (a
        # session last saved while connected counts from the restart)
        leave_subscribed(b, "short311", "x/#", 1, "v311")
        b.kill9()
        b.start()
        time.sleep(3)
        assert not comes_back(b, "short311", "v311")
    finally:
        b.stop()


def test_disconnect_with_expiry_zero_ends_session(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("sess-dis0")).start()
    try:
        leave_subscribed(b, "bye", "z/#", 1, "v5")
        s = Sess(b, "bye", "v5")
        assert s.present
        p = Properties(PacketTypes.DISCONNECT)
        p.SessionExpiryInterval = 0
        s.c.disconnect(properties=p)
        s.c.loop_stop()
        assert not comes_back(b, "bye", "v5")
    finally:
        b.stop()


def test_backlog_bound_skips_oldest(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("sess-backlog"), {"mqtt.session.max.backlog.records": "5"}).start()
    try:
        leave_subscribed(b, "slow", "b/#", 1, "v311")
        sent = publish_all(b, "b/c", 20)
        s = Sess(b, "slow", "v311")
        try:
            assert s.present
            s.wait_messages(5)
            assert settle(s) == sent[-5:]
        finally:
            s.close()
        assert "15 records skipped while it was away" in b.log_tail(100)
    finally:
        b.stop()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def connect_311(cid):
    """A 3.1.1 CONNECT with clean session 0."""
    body = base.s16("MQTT") + bytes([4, 0x00]) + b"\x00\x3c" + base.s16(cid)
    return b"\x10" + base.varint(len(body)) + body


def persistent_connect(port, cid):
    """A raw MQTT 3.1.1 CONNECT with clean session 0, a SUBSCRIBE and a
    DISCONNECT: one more stored session."""
    s = socket.create_connection((HOST, port), timeout=10)
    try:
        s.sendall(connect_311(cid))
        assert s.recv(4)[:2] == b"\x20\x02"
        flt = base.s16(b"flood/" + cid.encode() + b"/#")
        body = b"\x00\x01" + flt + b"\x01"
        s.sendall(bytes([0x82, len(body)]) + body)
        s.recv(5)
        s.sendall(b"\xe0\x00")
    finally:
        s.close()


def test_session_flood_memory_bounded(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("sess-flood")).start()
    try:
        persistent_connect(b.mqtt_port, "warm-up")
        before = rss_kib(b.pid)
        for i in range(10000):
            persistent_connect(b.mqtt_port, f"flood-client-{i:05d}")
        time.sleep(1)
        after = rss_kib(b.pid)
        per_session = (after - before) * 1024 / 10000
        print(f"RSS {before} KiB -> {after} KiB for 10,000 offline sessions ({per_session:.0f} bytes each)")
        assert after - before < 16 * 1024, (before, after)
        # they are all there, and one of them resumes after a restart
        b.stop()
        b.start()
        assert "loaded 10001 persistent MQTT sessions" in b.log_tail(200)
        assert comes_back(b, "flood-client-04242", "v311")
    finally:
        b.stop()


def test_session_count_limit(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("sess-max"), {"mqtt.session.max.count": "3"}).start()
    try:
        for i in range(3):
            persistent_connect(b.mqtt_port, f"c{i}")
        s = socket.create_connection((HOST, b.mqtt_port), timeout=10)
        s.sendall(connect_311("c3"))
        assert s.recv(4) == b"\x20\x02\x00\x03"  # server unavailable
        s.close()
        # an existing session still resumes, a clean one still connects
        assert comes_back(b, "c1")
        s = Sess(b, "c9", "v311", clean=True)
        assert not s.present
        s.close()
    finally:
        b.stop()


def test_inbound_qos2_resend_after_kill9_stored_once(tmp_path_factory):
    """A persistent client's QoS 2 publish got its PUBREC, Eddy is killed
    before the PUBREL: the client's resend (DUP, same packet id) after the
    restart is recognised, not stored a second time."""
    b = Broker(tmp_path_factory.mktemp("sess-in-q2")).start()
    try:
        s = socket.create_connection((HOST, b.mqtt_port), timeout=10)
        s.sendall(connect_311("q2-pub"))
        assert s.recv(4)[:2] == b"\x20\x02"
        body = base.s16(b"meter/7/kwh") + b"\x00\x05" + b"41.5"
        s.sendall(bytes([0x34, len(body)]) + body)
        assert s.recv(4) == b"\x50\x02\x00\x05"  # PUBREC once stored and saved
        s.close()
        b.kill9()
        b.start()
        s = socket.create_connection((HOST, b.mqtt_port), timeout=10)
        s.sendall(connect_311("q2-pub"))
        assert s.recv(4) == b"\x20\x02\x01\x00"  # session present
        s.sendall(bytes([0x3C, len(body)]) + body)  # the resend: DUP, same id
        assert s.recv(4) == b"\x50\x02\x00\x05"
        s.sendall(b"\x62\x02\x00\x05")  # PUBREL
        assert s.recv(4) == b"\x70\x02\x00\x05"  # PUBCOMP
        s.close()
        publish_all(b, "meter/7/kwh", 1, prefix="fence")
        recs = base.consume(b, "meter.7.kwh", 2)
        assert [r.value() for r in recs] == [b"41.5", b"fence0"]
    finally:
        b.stop()
