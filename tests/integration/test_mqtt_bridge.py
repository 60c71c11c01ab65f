"""The MQTT pull bridge (mqtt.bridge.<name>.*): Eddy subscribes to a real
Mosquitto (persistence on) with a persistent session and stores what it
receives, acknowledging QoS 1/2 only once durable. Read back with
confluent-kafka. A scripted source checks QoS 2 redelivery handling byte by
byte."""

import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import HOST, TARGET, Broker, free_port, need
from test_tls import make_ca, make_cert

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

pytestmark = pytest.mark.skipif(TARGET != "eddy", reason="MQTT is Eddy's own listener")  # allowed: only when the suite is proven against real Kafka, which has no MQTT listener


def mosquitto_bin():
    return need("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else "mosquitto")


class Mosquitto:
    """A Mosquitto on 127.0.0.1 with persistence in its own folder; restart
    keeps the port and the data."""

    def __init__(self, workdir, passwords=None, tls=None):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc = None
        lines = [
            f"listener {self.port} {HOST}",
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
            "persistence true",
            f"persistence_location {self.dir}/",
            "max_inflight_messages 0",
            "max_queued_messages 100000",
            "log_dest stderr",
        ]
        if tls:  # a folder with ca.pem, server.crt, server.key
            lines += [f"cafile {tls}/ca.pem", f"certfile {tls}/server.crt", f"keyfile {tls}/server.key"]
        if passwords:
            pw = self.dir / "passwords"
            pw.write_text("".join(f"{u}:{p}\n" for u, p in passwords.items()))
            run_pw = subprocess.run([shutil.which("mosquitto_passwd") or "mosquitto_passwd", "-U", str(pw)],
                                    capture_output=True)
            assert run_pw.returncode == 0, run_pw.stderr
            lines += ["allow_anonymous false", f"password_file {pw}"]
        else:
            lines.append("allow_anonymous true")
        (self.dir / "mosquitto.conf").write_text("\n".join(lines) + "\n")
        self.start()

    def start(self):
        self.log = open(self.dir / "mosquitto.log", "ab")
        self.proc = subprocess.Popen([mosquitto_bin(), "-c", str(self.dir / "mosquitto.conf")],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while time.time() < deadline:
            assert self.proc.poll() is None, (self.dir / "mosquitto.log").read_text()
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("mosquitto did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # saves its database
            self.proc.wait(30)
        self.proc = None
        self.log.close()

    def restart(self):
        self.stop()
        self.start()


@pytest.fixture
def source(tmp_path):
    m = Mosquitto(tmp_path / "mosquitto")
    yield m
    m.stop()


def bridge_config(port, topics, **extra):
    """Settings of bridge "site" to port (or a whole address)."""
    cfg = {
        "mqtt.bridge.site.address": port if isinstance(port, str) else f"{HOST}:{port}",
        "mqtt.bridge.site.topics": topics,
        "mqtt.routes": "plant/+line/+machine/#=>machines|{line}-{machine}",
    }
    cfg.update({f"mqtt.bridge.site.{k.replace('_', '.')}": v for k, v in extra.items()})
    return cfg


@pytest.fixture
def eddy(tmp_path):
    made = []

    def make(config):
        b = Broker(tmp_path / f"eddy{len(made)}", config)
        made.append(b)
        return b.start()

    yield make
    for b in made:
        b.stop()


def wait_log(broker, text, timeout=30, count=1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        log = (broker.workdir / "eddy.log").read_text(errors="replace")
        if log.count(text) >= count:
            return log
        time.sleep(0.1)
    raise AssertionError(f"no {count}x '{text}' in the log:\n{broker.log_tail()}")


def read_all(broker, topic, n, timeout=60, settle=1.0):
    """Every record of topic once n have arrived (and settle seconds more
    found nothing new), via confluent-kafka."""
    from confluent_kafka import Consumer

    c = Consumer({
        "bootstrap.servers": broker.bootstrap,
        "group.id": f"bridge-test-{time.time_ns()}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "topic.metadata.refresh.interval.ms": 500,
    })
    try:
        c.subscribe([topic])
        out = []
        deadline = time.time() + timeout
        quiet_since = None
        while time.time() < deadline:
            m = c.poll(0.2)
            if m is not None and not m.error():
                out.append(m)
                quiet_since = None
                continue
            if len(out) >= n:
                quiet_since = quiet_since or time.time()
                if time.time() - quiet_since >= settle:
                    break
        assert len(out) >= n, f"read {len(out)} of {n} records from {topic}"
        return out
    finally:
        c.close()


def metrics(broker):
    page = urllib.request.urlopen(f"http://{HOST}:{broker.http_port}/metrics", timeout=10).read().decode()
    return {k: float(v) for k, v in (line.rsplit(" ", 1) for line in page.splitlines()
                                     if line.startswith("eddy_mqtt_bridge_"))}


def wait_acked(acked, n, publisher, timeout=120):
    deadline = time.time() + timeout
    while len(acked) < n:
        assert publisher.is_alive() and time.time() < deadline, f"only {len(acked)} of {n} acknowledged"
        time.sleep(0.01)


def paho_publisher(port, cid, version=mqtt.MQTTv311, user=None, password=None):
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=version)
    c.max_inflight_messages_set(200)
    c.max_queued_messages_set(0)
    if user:
        c.username_pw_set(user, password)
    c.connect(HOST, port)
    c.loop_start()
    return c


def publish_all(c, topic_of, n, qos):
    infos = [c.publish(topic_of(i), f"m{i}".encode(), qos) for i in range(n)]
    for info in infos:
        info.wait_for_publish(60)
        assert info.is_published()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_qos1_and_qos2_arrive_once_with_route_keys(source, eddy, protocol):
    b = eddy(bridge_config(source.port, "plant/#:2,other/+:1", protocol=protocol))
    wait_log(b, "bridge site: connected")
    c = paho_publisher(source.port, "plc")
    publish_all(c, lambda i: f"plant/L{i % 3}/M{i % 5}/temp", 400, 1)
    publish_all(c, lambda i: f"other/q2-{i % 2}", 100, 2)
    c.disconnect()
    c.loop_stop()
    recs = read_all(b, "machines", 400)
    assert len(recs) == 400
    assert sorted(r.value() for r in recs) == sorted(f"m{i}".encode() for i in range(400))
    for r in recs:
        i = int(r.value()[1:])
        assert r.key() == f"L{i % 3}-M{i % 5}".encode()  # the route's KEY template
        assert dict(r.headers())["mqtt.topic"] == f"plant/L{i % 3}/M{i % 5}/temp".encode()
    for part in ("0", "1"):
        got = read_all(b, f"other.q2-{part}", 50)
        assert len(got) == 50, "a QoS 2 message stored twice"
    m = metrics(b)
    assert m['eddy_mqtt_bridge_connected{bridge="site"}'] == 1
    assert m['eddy_mqtt_bridge_messages_total{bridge="site"}'] == 500
    assert m['eddy_mqtt_bridge_in_flight{bridge="site"}'] == 0


def test_kill9_of_eddy_and_restart_of_mosquitto_lose_nothing(source, eddy):
    b = eddy(bridge_config(source.port, "plant/#:1"))
    wait_log(b, "bridge site: connected")
    c = paho_publisher(source.port, "plc")
    n = 3000
    acked = []
    stop = threading.Event()

    def publisher():
        for i in range(n):
            if stop.is_set():
                return
            try:
                info = c.publish("plant/L1/M1/x", f"m{i}".encode(), 1)
                info.wait_for_publish(60)
                if info.is_published():
                    acked.append(i)
            except (RuntimeError, ValueError):
                time.sleep(0.05)

    t = threading.Thread(target=publisher)
    t.start()
    try:
        wait_acked(acked, n // 4, t)
        b.kill9()  # messages Eddy stored but had not acknowledged come again
        wait_acked(acked, n // 2, t)
        b.start()
        wait_acked(acked, 3 * n // 4, t)
        source.restart()  # the publisher reconnects itself (paho)
        c.reconnect()
        t.join(120)
    finally:
        stop.set()
        t.join(30)
        c.loop_stop()
    recs = read_all(b, "machines", len(set(acked)), timeout=90, settle=2.0)
    got = {int(r.value()[1:]) for r in recs}
    missing = sorted(set(acked) - got)
    assert not missing, f"{len(missing)} messages Mosquitto acknowledged are missing: {missing[:10]}"
    # At least once: a copy per interruption at most (the kill and the
    # restart on the bridge's side, a resend by the publisher).
    copies = {}
    for r in recs:
        copies[r.value()] = copies.get(r.value(), 0) + 1
    assert max(copies.values()) <= 4, "a message stored more often than the interruptions explain"


def test_messages_published_while_eddy_is_down_arrive(source, eddy):
    b = eddy(bridge_config(source.port, "plant/#"))
    wait_log(b, "bridge site: connected")
    b.stop()
    c = paho_publisher(source.port, "plc")
    publish_all(c, lambda i: "plant/L2/M7/v", 200, 1)
    c.disconnect()
    c.loop_stop()
    b.start()
    wait_log(b, "(resumed session)")
    recs = read_all(b, "machines", 200)
    assert sorted(int(r.value()[1:]) for r in recs) == list(range(200))


def test_wrong_password_is_logged_and_retried(tmp_path, eddy):
    m = Mosquitto(tmp_path / "mosq-auth", passwords={"eddy": "right"})
    try:
        b = eddy(bridge_config(m.port, "plant/#", username="eddy", password="Zq7-nope"))
        log = wait_log(b, "the source refused the connection: not authorized", count=2)
        assert "Zq7-nope" not in log, "the password must never be logged"
        assert b.alive()
        met = metrics(b)
        assert met['eddy_mqtt_bridge_connected{bridge="site"}'] == 0
        assert met['eddy_mqtt_bridge_connects_total{bridge="site"}'] == 0
    finally:
        m.stop()


def test_tls_to_mosquitto_and_an_untrusted_certificate(tmp_path, eddy):
    pki = tmp_path / "pki"
    pki.mkdir()
    make_ca(pki, "ca", "Site CA")
    make_ca(pki, "other", "Another CA")
    make_cert(pki, "server", "localhost", san="DNS:localhost,IP:127.0.0.1")
    m = Mosquitto(tmp_path / "mosq-tls", tls=pki)
    try:
        good = eddy(dict(bridge_config(f"mqtts://{HOST}:{m.port}", "plant/#"),
                         **{"mqtt.bridge.site.ca.location": str(pki / "ca.pem")}))
        wait_log(good, "(TLS) as eddy-site")
        wait_log(good, "bridge site: connected")
        bad = eddy(dict(bridge_config(m.port, "plant/#"),
                        **{"mqtt.bridge.site.tls": "true", "mqtt.bridge.site.client.id": "other",
                           "mqtt.bridge.site.ca.location": str(pki / "other.pem")}))
        wait_log(bad, "bridge site: 127.0.0.1:%d: TLS:" % m.port)
        assert "bridge site: connected" not in (bad.workdir / "eddy.log").read_text()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="plc-tls", protocol=mqtt.MQTTv311)
        c.tls_set(ca_certs=str(pki / "ca.pem"))
        c.connect(HOST, m.port)
        c.loop_start()
        publish_all(c, lambda i: "plant/L3/M1/t", 50, 1)
        c.disconnect()
        c.loop_stop()
        recs = read_all(good, "machines", 50)
        assert sorted(int(r.value()[1:]) for r in recs) == list(range(50))
    finally:
        m.stop()


def test_bad_bridge_settings_stop_start_up(tmp_path):
    from conftest import EDDY_BIN

    base = [str(EDDY_BIN), "serve", "--set", f"log.dirs={tmp_path}/d", "--set", "listeners=PLAINTEXT://127.0.0.1:0",
            "--set", "mqtt.listeners=", "--set", "coap.listeners=", "--set", "http.listeners="]
    cases = [
        ({"mqtt.bridge.x.topics": "a/#"}, "mqtt.bridge.x.address: not set"),
        ({"mqtt.bridge.x.address": "127.0.0.1:1"}, "mqtt.bridge.x.topics: no topic filter given"),
        ({"mqtt.bridge.x.address": "127.0.0.1:1", "mqtt.bridge.x.topics": "a/#/b"}, "is not an MQTT topic filter"),
        ({"mqtt.bridge.x.colour": "red"}, "unknown bridge key"),
        ({"mqtt.bridge.x.keepalive": "1"}, "out of range"),
    ]
    for sets, text in cases:
        cmd = list(base)
        for k, v in sets.items():
            cmd += ["--set", f"{k}={v}"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        assert p.returncode != 0, p.stdout + p.stderr
        assert text in p.stdout + p.stderr, p.stdout + p.stderr


# ---- a scripted source: QoS 2 redelivery before PUBREL ----

def pkt(first, body):
    n, enc = len(body), b""
    while True:
        d, n = n % 128, n // 128
        enc += bytes([d | (0x80 if n else 0)])
        if not n:
            break
    return bytes([first]) + enc + body


def read_pkt(s):
    hdr = s.recv(1)
    assert hdr, "closed"
    mult, n = 1, 0
    while True:
        d = s.recv(1)[0]
        n += (d & 127) * mult
        mult *= 128
        if not d & 128:
            break
    body = b""
    while len(body) < n:
        chunk = s.recv(n - len(body))
        assert chunk, "closed"
        body += chunk
    return hdr[0], body


def test_qos2_redelivered_before_pubrel_is_stored_once(eddy):
    srv = socket.socket()
    srv.bind((HOST, 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    b = eddy(bridge_config(port, "plant/#:2"))
    srv.settimeout(30)
    s, _ = srv.accept()
    s.settimeout(30)
    first, body = read_pkt(s)
    assert first == 0x10 and body[7] & 0x02 == 0, "CONNECT with Clean Session 0"
    s.sendall(pkt(0x20, b"\x00\x00"))
    first, body = read_pkt(s)
    assert first == 0x82
    pid = body[:2]
    s.sendall(pkt(0x90, pid + b"\x02"))
    topic = b"plant/L1/M2/q2"
    publish = struct.pack(">H", len(topic)) + topic + b"\x00\x07" + b"once"
    s.sendall(pkt(0x34, publish))  # QoS 2, id 7
    s.sendall(pkt(0x3C, publish))  # the same again, DUP set, before PUBREL
    assert read_pkt(s) == (0x50, b"\x00\x07")  # PUBREC, once durable
    s.sendall(pkt(0x3C, publish))  # again after the PUBREC (as after a reconnect)
    assert read_pkt(s) == (0x50, b"\x00\x07")  # answered again, not stored again
    s.sendall(pkt(0x62, b"\x00\x07"))  # PUBREL
    assert read_pkt(s) == (0x70, b"\x00\x07")  # PUBCOMP
    recs = read_all(b, "machines", 1, settle=1.5)
    assert [r.value() for r in recs] == [b"once"]
    s.close()
    srv.close()


def test_unanswered_pingreq_closes_a_half_open_connection(eddy):
    srv = socket.socket()
    srv.bind((HOST, 0))
    srv.listen(2)
    port = srv.getsockname()[1]
    b = eddy(bridge_config(port, "plant/#", keepalive="5"))
    srv.settimeout(30)
    s, _ = srv.accept()
    s.settimeout(30)
    first, body = read_pkt(s)
    assert first == 0x10 and body[8:10] == b"\x00\x05", "CONNECT with keep-alive 5 s"
    s.sendall(pkt(0x20, b"\x00\x00"))
    first, body = read_pkt(s)
    s.sendall(pkt(0x90, body[:2] + b"\x01"))
    assert read_pkt(s) == (0xC0, b"")  # PINGREQ once idle; never answered
    s2, _ = srv.accept()  # the bridge gave up on this link and dialled again
    log = wait_log(b, "no answer to PINGREQ")
    assert "reconnecting" in log
    s.close()
    s2.close()
    srv.close()
