"""MQTT shared subscriptions ($share/{ShareName}/{filter}) with real
clients: paho-mqtt 5 and 3.1.1 members and mosquitto_sub -t '$share/g/x'
share the messages (each delivered once, none lost), Kafka-produced records
too; retained messages are not sent on a shared subscription; CONNACK
leaves Shared Subscription Available out (= 1); UNSUBSCRIBE removes a
member; QoS 1 deliveries a member had not acknowledged when it went away go
to another member; a persistent member away leaves the group's messages to
the connected ones; bad share names get SUBACK 0x8F (3.1.1: 0x80) and No
Local on a shared subscription is a protocol error (DISCONNECT 0x82)."""

import json
import struct
import subprocess
import threading
import time
import urllib.request

import pytest
from paho.mqtt.subscribeoptions import SubscribeOptions

from conftest import HOST, TARGET, Broker, kcat, need

import test_mqtt as base
from test_mqtt_session import Sess
from test_mqtt import connect_pkt, raw_conn, read_until_closed, s16, varint

pytestmark = pytest.mark.skipif(TARGET != "eddy", reason="MQTT is Eddy's own listener")  # allowed: only when the suite is proven against real Kafka, which has no MQTT listener


def wait_subscribed(broker, ids, timeout=30):
    """Waits until the broker lists clients ids, each with a subscription."""
    deadline = time.time() + timeout
    while True:
        with urllib.request.urlopen(f"http://{HOST}:{broker.http_port}/api/v1/clients", timeout=10) as r:
            answer = json.loads(r.read())
        found = {}

        def walk(x):
            if isinstance(x, dict):
                if x.get("client_id") in ids:
                    found[x["client_id"]] = x.get("subscriptions", 0)
                for v in x.values():
                    walk(v)
            elif isinstance(x, list):
                for v in x:
                    walk(v)

        walk(answer)
        if all(found.get(i, 0) >= 1 for i in ids):
            return
        assert time.time() < deadline, f"not subscribed in time: {found}"
        time.sleep(0.1)


def payloads(msgs):
    return [m.payload.decode() for m in msgs]


def wait_union(members, n, timeout=30):
    """Waits until the members got n messages between them."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if sum(len(m.messages) for m in members) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"got {[len(m.messages) for m in members]} of {n} messages")


def assert_shared_once(members, sent):
    got = [p for m in members for p in payloads(m.messages)]
    assert sorted(got) == sorted(sent), got  # none lost, none twice
    assert all(m.messages for m in members), [len(m.messages) for m in members]


@pytest.mark.parametrize("version", ["v311", "v5"])
def test_members_share_messages_each_once(broker, version):
    pub = base.Paho(broker, f"sh-pub-{version}", "v5")
    plain = base.Paho(broker, f"sh-plain-{version}", version)
    pub.c.publish(f"sh{version}/cfg", b"retained", qos=1, retain=True).wait_for_publish(30)
    a = base.Paho(broker, f"sh-a-{version}", version)
    b = base.Paho(broker, f"sh-b-{version}", version)
    try:
        for m in (a, b):
            codes = m.subscribe(f"$share/grp/sh{version}/#", 1)
            assert [c.value for c in codes] == [1]
        assert [c.value for c in plain.subscribe(f"sh{version}/#", 1)] == [1]
        sent = [f"m{i}" for i in range(40)]
        for p in sent:
            pub.publish(f"sh{version}/t/{p}", p.encode(), 1).wait_for_publish(30)
        wait_union([a, b], len(sent))
        # an ordinary subscription still gets everything, and the retained message
        plain.wait_messages(len(sent) + 1)
        assert "retained" in payloads(plain.messages)
        # one more publish flushes anything still on its way: then count
        pub.publish(f"sh{version}/t/end", b"end", 1).wait_for_publish(30)
        wait_union([a, b], len(sent) + 1)
        assert_shared_once([a, b], sent + ["end"])  # and no retained message
    finally:
        for m in (pub, plain, a, b):
            m.close()


def test_connack_shared_subscription_available(broker):
    """CONNACK (5.0) no longer says Shared Subscription Available 0."""
    s = raw_conn(broker)
    try:
        s.sendall(connect_pkt(5, "sh-connack"))
        s.settimeout(15)
        head = s.recv(2)
        body = s.recv(head[1])
        assert head[0] == 0x20 and body[1] == 0
        props = body[3:]  # after flags, reason, property length (one byte)
        i = 0
        ids = []
        while i < len(props):  # walk the properties: ids only
            pid = props[i]
            ids.append(pid)
            i += 1
            if pid in (0x21, 0x13, 0x22):
                i += 2
            elif pid in (0x27, 0x11):
                i += 4
            elif pid in (0x24, 0x25, 0x28, 0x29, 0x2A):
                i += 1
            elif pid in (0x12, 0x1F, 0x1A, 0x1C, 0x15):
                i += 2 + struct.unpack(">H", props[i : i + 2])[0]
            elif pid == 0x26:
                k = struct.unpack(">H", props[i : i + 2])[0]
                i += 2 + k
                i += 2 + struct.unpack(">H", props[i : i + 2])[0]
            else:
                raise AssertionError(f"unexpected property {pid:#x} in {props!r}")
        assert 0x2A not in ids, props
    finally:
        s.close()


def test_mosquitto_sub_members_share(broker):
    """Two mosquitto_sub -t '$share/g/x' (MQTT 3.1.1) share the messages."""
    subs = [
        subprocess.Popen(
            [need("mosquitto_sub"), "-h", HOST, "-p", str(broker.mqtt_port), "-q", "1", "-i", f"mosq-sh-{i}",
             "-t", "$share/g/mosqsh/x", "-W", "60"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    pub = base.Paho(broker, "mosq-sh-pub", "v311")
    try:
        # mosquitto_sub has no "subscribed" signal: the broker's client list says
        wait_subscribed(broker, ["mosq-sh-0", "mosq-sh-1"])
        sent = [f"v{i}" for i in range(30)]
        for p in sent:
            pub.publish("mosqsh/x", p.encode(), 1).wait_for_publish(30)
        outs = [[], []]

        def read(i):
            for line in subs[i].stdout:
                outs[i].append(line.decode().rstrip("\n"))

        readers = [threading.Thread(target=read, args=(i,), daemon=True) for i in range(2)]
        for t in readers:
            t.start()
        deadline = time.time() + 30
        while len(outs[0]) + len(outs[1]) < len(sent) and time.time() < deadline:
            time.sleep(0.05)
        for s in subs:
            s.terminate()
            s.wait(30)
        for t in readers:
            t.join(30)
        assert sorted(outs[0] + outs[1]) == sorted(sent), outs
        assert outs[0] and outs[1], outs
    finally:
        for s in subs:
            if s.poll() is None:
                s.kill()
        pub.close()


def test_kafka_records_reach_one_member(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("mqtt-share-k"), {"mqtt.publish.routes": "orders=>shop/{key}"}).start()
    members = [base.Paho(b, f"k-sh-{i}", v) for i, v in enumerate(["v5", "v311"])]
    try:
        for m in members:
            m.subscribe("$share/workers/shop/+", 1)
        sent = [f"o{i}" for i in range(20)]
        kcat(b, "-P", "-t", "orders", "-K", ":", input="".join(f"k{i}:{p}\n" for i, p in enumerate(sent)).encode())
        wait_union(members, len(sent))
        assert_shared_once(members, sent)
        assert all(m.topic.startswith("shop/k") for x in members for m in x.messages)
    finally:
        for m in members:
            m.close()
        b.stop()


def test_unsubscribe_removes_member(broker):
    pub = base.Paho(broker, "unsh-pub", "v5")
    a = base.Paho(broker, "unsh-a", "v5")
    b = base.Paho(broker, "unsh-b", "v5")
    try:
        a.subscribe("$share/g/unsh/t", 1)
        b.subscribe("$share/g/unsh/t", 1)
        done = []
        a.c.on_unsubscribe = lambda *args: done.append(args[3])
        a.c.unsubscribe("$share/g/unsh/t")
        deadline = time.time() + 30
        while not done and time.time() < deadline:
            time.sleep(0.05)
        assert done and [r.value for r in done[0]] == [0], done
        sent = [f"u{i}" for i in range(10)]
        for p in sent:
            pub.publish("unsh/t", p.encode(), 1).wait_for_publish(30)
        b.wait_messages(len(sent))
        assert payloads(b.messages) == sent and a.messages == []
    finally:
        for m in (pub, a, b):
            m.close()


def raw_member(broker, cid, flt):
    """A 3.1.1 member on a raw socket that never acknowledges."""
    s = raw_conn(broker)
    s.sendall(connect_pkt(4, cid))
    s.settimeout(15)
    assert s.recv(4)[:2] == b"\x20\x02"
    body = struct.pack(">H", 1) + s16(flt) + b"\x01"
    s.sendall(b"\x82" + varint(len(body)) + body)
    assert s.recv(5) == b"\x90\x03\x00\x01\x01"
    return s


def test_unacknowledged_go_to_another_member(broker):
    """QoS 1 deliveries a member did not acknowledge before its connection
    ended go to a remaining member: nothing the publisher got a PUBACK for
    is lost."""
    pub = base.Paho(broker, "redel-pub", "v5")
    raw = raw_member(broker, "redel-raw", "$share/g/redel/t")
    b = base.Paho(broker, "redel-b", "v5")
    try:
        b.subscribe("$share/g/redel/t", 1)
        sent = [f"r{i}" for i in range(10)]
        for p in sent:
            pub.publish("redel/t", p.encode(), 1).wait_for_publish(30)
        # the raw member took some (round-robin) and acknowledged none
        data = b""
        deadline = time.time() + 30
        while data.count(b"redel/t") < 1 and time.time() < deadline:
            data += raw.recv(4096)
        assert data.count(b"redel/t") >= 1
        raw.close()
        b.wait_messages(len(sent))
        assert sorted(payloads(b.messages)) == sorted(sent)
    finally:
        raw.close()
        pub.close()
        b.close()


def test_persistent_member_away_leaves_messages_to_connected(broker):
    a = Sess(broker, "away-a", "v5")
    b = base.Paho(broker, "away-b", "v5")
    pub = base.Paho(broker, "away-pub", "v5")
    try:
        a.subscribe("$share/g/away/t", 1)
        b.subscribe("$share/g/away/t", 1)
        a.close()
        sent = [f"w{i}" for i in range(10)]
        for p in sent:
            pub.publish("away/t", p.encode(), 1).wait_for_publish(30)
        b.wait_messages(len(sent))
        assert payloads(b.messages) == sent
        # back: the session with its shared subscription, nothing twice
        a = Sess(broker, "away-a", "v5")
        assert a.present
        pub.publish("away/t", b"after", 1).wait_for_publish(30)
        pub.publish("away/t", b"after2", 1).wait_for_publish(30)
        wait_union([a, b], len(sent) + 2)
        assert_shared_once([a, b], sent + ["after", "after2"])
    finally:
        for m in (pub, a, b):
            m.close()


def test_bad_share_names_and_no_local(broker):
    """SUBACK 0x8F (3.1.1: 0x80) for a share name that is empty, holds a
    wildcard or has no filter after it; valid ones granted; No Local on a
    shared subscription closes with DISCONNECT 0x82."""
    bad = ["$share//x", "$share/+/x", "$share/g", "$share/g/", "$share/#"]
    for level, fail in [(4, 0x80), (5, 0x8F)]:
        s = raw_conn(broker)
        try:
            s.sendall(connect_pkt(level, f"shbad{level}"))
            s.settimeout(15)
            ack = s.recv(2)
            s.recv(ack[1])
            body = struct.pack(">H", 5) + (b"\x00" if level == 5 else b"")
            for f in bad + ["$share/g/ok/+"]:
                body += s16(f) + b"\x01"
            s.sendall(b"\x82" + varint(len(body)) + body)
            suback = s.recv(64)
            codes = suback[4 + (1 if level == 5 else 0) :]
            assert suback[0] == 0x90 and list(codes) == [fail] * len(bad) + [1], suback
            s.sendall(b"\xc0\x00")  # still there: PINGRESP
            assert s.recv(2) == b"\xd0\x00"
            if level == 5:
                body = struct.pack(">H", 6) + b"\x00" + s16("$share/g/nl") + b"\x05"  # QoS 1 + No Local
                s.sendall(b"\x82" + varint(len(body)) + body)
                data = read_until_closed(s)
                assert data[0] == 0xE0 and data[2] == 0x82, data
        finally:
            s.close()
    # paho says the same
    c = base.Paho(broker, "shbad-paho", "v5")
    try:
        codes = c.subscribe("$share/+/x", 1)
        assert [x.value for x in codes] == [0x8F]
        codes = c.subscribe("$share/g/ok/paho", 2)
        assert [x.value for x in codes] == [2]
        gone = []
        c.c.on_disconnect = lambda client, userdata, flags, reason, props: gone.append(reason)
        c.c.subscribe("$share/g/nl/paho", options=SubscribeOptions(qos=1, noLocal=True))
        deadline = time.time() + 30
        while not gone and time.time() < deadline:
            time.sleep(0.05)
        assert gone and gone[0].value == 0x82, gone
    finally:
        c.close()
