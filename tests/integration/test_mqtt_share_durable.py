"""MQTT shared subscriptions that outlive their connections: a share group
with a persistent member (3.1.1 clean session 0, MQTT 5 Session Expiry)
keeps its position in the log while every member is away. With paho-mqtt
(3.1.1 and 5) and mosquitto_sub -c: messages published meanwhile at QoS 1
reach the first member back, each once, and a member back later gets none
of them again; the same across kill -9 of Eddy, with the group away or
with deliveries in flight (those come again with DUP, the acknowledged
ones not); the group ends with its last persistent member's session. The
single-member case runs against a real Mosquitto too."""

import struct
import subprocess
import time
import types

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from conftest import HOST, TARGET, Broker, need

from test_mqtt import raw_conn, s16, varint
from test_mqtt_bridge import Mosquitto
from test_mqtt_session import Sess, publish_all, settle

pytestmark = pytest.mark.skipif(TARGET != "eddy", reason="MQTT is Eddy's own listener")  # allowed: only when the suite is proven against real Kafka, which has no MQTT listener


def away_member(broker, cid, flt, version):
    """A persistent session subscribed to flt that then disconnects."""
    s = Sess(broker, cid, version)
    s.subscribe(flt, 1)
    s.close()


def single_member_offline(broker, version, tag):
    """One persistent member away while 20 QoS 1 messages are published:
    back, it gets each once; back again, none of them."""
    away_member(broker, f"{tag}-a", f"$share/g/{tag}/t", version)
    sent = publish_all(broker, f"{tag}/t", 20, prefix=tag)
    a = Sess(broker, f"{tag}-a", version)
    try:
        assert a.present
        a.wait_messages(len(sent))
        assert sorted(settle(a)) == sorted(sent)
    finally:
        a.close()
    a = Sess(broker, f"{tag}-a", version)
    try:
        assert settle(a) == []
    finally:
        a.close()


@pytest.mark.parametrize("version", ["v311", "v5"])
def test_single_member_offline(broker, version):
    single_member_offline(broker, version, f"one{version}")


def test_single_member_offline_mosquitto(tmp_path):
    """The same against a real Mosquitto: it queues a shared subscription's
    messages in the session of an offline persistent member too. With two
    offline members Mosquitto differs: it deals each message round-robin
    into one member's own session queue while both are away, so the first
    member back gets only its share and the rest waits for the other
    member (checked with Mosquitto 2.0.11); Eddy keeps them in the group, for
    whichever member comes back first."""
    m = Mosquitto(tmp_path / "mosquitto")
    try:
        single_member_offline(types.SimpleNamespace(mqtt_port=m.port), "v5", "mosq")
    finally:
        m.stop()


def two_members_offline(b, version, tag, kill=False):
    for x in "ab":
        away_member(b, f"{tag}-{x}", f"$share/g/{tag}/t", version)
    sent = publish_all(b, f"{tag}/t", 30, prefix=tag)
    if kill:
        b.kill9()
        b.start()
    a = Sess(b, f"{tag}-a", version)
    try:
        assert a.present
        a.wait_messages(len(sent))
        got = settle(a)
        assert sorted(got) == sorted(sent), got  # all, each once
    finally:
        a.close()
    m = Sess(b, f"{tag}-b", version)
    try:
        assert m.present
        assert settle(m) == []  # none of them again
        # still one group: what is published now reaches b, once
        publish_all(b, f"{tag}/t", 3, prefix=f"{tag}-live")
        m.wait_messages(3)
        assert sorted(settle(m)) == [f"{tag}-live{i}".encode() for i in range(3)]
    finally:
        m.close()


@pytest.mark.parametrize("version", ["v311", "v5"])
def test_two_members_offline(broker, version):
    two_members_offline(broker, version, f"two{version}")


@pytest.mark.parametrize("version", ["v311", "v5"])
def test_two_members_offline_across_kill9(tmp_path_factory, version):
    b = Broker(tmp_path_factory.mktemp("share-kill")).start()
    try:
        two_members_offline(b, version, f"k{version}", kill=True)
    finally:
        b.stop()


def test_mosquitto_sub_members_offline(broker):
    """mosquitto_sub -c -q 1 -i ID -t '$share/g/t' as both members."""
    sub = [need("mosquitto_sub"), "-h", HOST, "-p", str(broker.mqtt_port), "-c", "-q", "1", "-t", "$share/g/mq/t"]
    for cid in ("mq-a", "mq-b"):
        subprocess.run(sub + ["-i", cid, "-E"], check=True, timeout=30)  # subscribed, gone
    sent = publish_all(broker, "mq/t", 20, prefix="mq")
    # mosquitto_sub -C exits at once after its last message, maybe before
    # that one's PUBACK (then it is the group's again): one more message,
    # sent once the 20 came, is the last and takes that place
    a = subprocess.Popen(sub + ["-i", "mq-a", "-C", "21", "-W", "60"], stdout=subprocess.PIPE)
    try:
        got = [a.stdout.readline().strip() for _ in range(20)]
        publish_all(broker, "mq/t", 1, prefix="end")
        assert a.wait(60) == 0
    finally:
        a.kill()
        a.wait()
    assert sorted(got) == sorted(sent)
    # mq-b: none of the 20 again (-W ends it; exit code 27 is that timeout)
    out = subprocess.run(sub + ["-i", "mq-b", "-W", "2"], capture_output=True, timeout=30)
    assert set(out.stdout.split()) <= {b"end0"}, out.stdout


def raw_persistent(broker, cid, flt):
    """A 3.1.1 member with a persistent session (clean session 0) on a raw
    socket: it acknowledges only what the test says."""
    s = raw_conn(broker)
    body = s16("MQTT") + bytes([4, 0x00]) + struct.pack(">H", 60) + s16(cid)
    s.sendall(b"\x10" + varint(len(body)) + body)
    s.settimeout(15)
    ack = s.recv(4)
    assert ack[:2] == b"\x20\x02" and ack[3] == 0, ack
    if flt:
        body = struct.pack(">H", 1) + s16(flt) + b"\x01"
        s.sendall(b"\x82" + varint(len(body)) + body)
    return s


def read_publishes(s, n, buf=b""):
    """Reads packets until n PUBLISHes came: [(dup, packet id, payload)]."""
    got = []
    while len(got) < n:
        while True:  # one whole packet in buf?
            if len(buf) >= 2:
                i, mult, rl = 1, 1, 0
                while i < len(buf):
                    rl += (buf[i] & 0x7F) * mult
                    mult *= 128
                    i += 1
                    if not buf[i - 1] & 0x80:
                        break
                if len(buf) >= i + rl and not buf[i - 1] & 0x80:
                    break
            chunk = s.recv(65536)
            assert chunk, f"closed after {len(got)} publishes"
            buf += chunk
        first, pkt, buf = buf[0], buf[i:i + rl], buf[i + rl:]
        if first >> 4 == 3:
            tl = struct.unpack(">H", pkt[:2])[0]
            pid = struct.unpack(">H", pkt[2 + tl:4 + tl])[0]
            got.append((bool(first & 0x08), pid, pkt[4 + tl:]))
    return got


def puback(s, pid):
    s.sendall(b"\x40\x02" + struct.pack(">H", pid))


def group_record(b, flt):
    """The latest record of share group flt in __mqtt_sessions, read with
    confluent-kafka: {partition: (read, [offsets in flight])}, or None."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": f"peek-{time.time_ns()}",
                  "enable.auto.commit": False})
    try:
        lo, hi = c.get_watermark_offsets(TopicPartition("__mqtt_sessions", 0), timeout=10)
        c.assign([TopicPartition("__mqtt_sessions", 0, lo)])
        last, at = None, lo
        while at < hi:
            msg = c.poll(10)
            assert msg is not None and not msg.error(), msg and msg.error()
            at = msg.offset() + 1
            if msg.key() == b"\x00" + flt.encode():
                last = msg.value()
    finally:
        c.close()
    if last is None:
        return None
    # docs/format.md, Durable share groups
    n_members = struct.unpack_from(">H", last, 1)[0]
    i = 3
    for _ in range(n_members):
        i += 2 + struct.unpack_from(">H", last, i)[0]
    out = {}
    for _ in range(struct.unpack_from(">I", last, i)[0]):
        tl = struct.unpack_from(">H", last, i + 4)[0]
        i += 6 + tl
        part, read, n = struct.unpack_from(">iqH", last, i)
        i += 14
        out[part] = (read, list(struct.unpack_from(f">{n}q", last, i)))
        i += 8 * n
    return out


def wait_group_saved(b, flt, read, n_fly, timeout=30):
    """Waits until the group's saved record says read and n_fly in flight
    (its saves are batched, at most every 100 ms)."""
    deadline = time.time() + timeout
    while True:
        rec = group_record(b, flt)
        if rec and any(r == read and len(f) == n_fly for r, f in rec.values()):
            return
        assert time.time() < deadline, rec
        time.sleep(0.1)


def test_in_flight_across_kill9(tmp_path_factory):
    """Deliveries in flight when Eddy is killed come again, with DUP, to
    the member back first; acknowledged ones do not."""
    b = Broker(tmp_path_factory.mktemp("share-fly")).start()
    try:
        away_member(b, "fly-b", "$share/g/fly/t", "v311")
        a = raw_persistent(b, "fly-a", "$share/g/fly/t")
        assert a.recv(5) == b"\x90\x03\x00\x01\x01"
        sent = publish_all(b, "fly/t", 10, prefix="f")
        got = read_publishes(a, 10)
        assert sorted(p for _, _, p in got) == sorted(sent) and not any(d for d, _, _ in got)
        acked = [p for _, _, p in got[:4]]
        for _, pid, _ in got[:4]:
            puback(a, pid)
        wait_group_saved(b, "$share/g/fly/t", read=10, n_fly=6)
        b.kill9()
        a.close()
        b.start()
        m = Sess(b, "fly-b", "v311")
        try:
            assert m.present
            m.wait_messages(6)
            again = settle(m)
            assert sorted(again) == sorted(p for _, _, p in got[4:]), again
            assert not set(again) & set(acked)
            assert all(x.dup for x in m.messages), [x.dup for x in m.messages]
        finally:
            m.close()
    finally:
        b.stop()


def test_group_ends_with_last_session(broker):
    """Kept while the only persistent member is away; once its session has
    expired the group is gone: what was published meanwhile is not kept."""
    flt = "$share/g/end/t"
    a = Sess(broker, "end-a", "v5", expiry=600)
    a.subscribe(flt, 1)
    a.close()
    publish_all(broker, "end/t", 2, prefix="kept")
    a = Sess(broker, "end-a", "v5", expiry=600)
    assert a.present
    a.wait_messages(2)
    assert sorted(settle(a)) == [b"kept0", b"kept1"]
    p = Properties(PacketTypes.DISCONNECT)
    p.SessionExpiryInterval = 1
    a.c.disconnect(properties=p)
    a.c.loop_stop()
    time.sleep(2.5)  # the session expires
    publish_all(broker, "end/t", 2, prefix="late")
    a = Sess(broker, "end-a", "v5", expiry=600)
    try:
        assert not a.present  # expired: the group ended with it
        a.subscribe(flt, 1)
        publish_all(broker, "end/t", 1, prefix="new")
        a.wait_messages(1)
        assert settle(a) == [b"new0"]
    finally:
        a.close()
