"""MQTT.js (the npm package mqtt, tests/peers/mqttjs/peer.js), the third
MQTT client library after paho-mqtt and mosquitto's clients, against Eddy
with MQTT 3.1.1 and 5: keyed routes read back with confluent-kafka (keys,
partitions, order per key), a retained message across a kill -9,
offline queueing of a clean:false session across a kill -9 (every
acknowledged QoS 1 publish delivered), a shared subscription of two MQTT.js
members (each message once, none lost), records Kafka producers write
reaching an MQTT.js subscriber, and MQTT 5 topic aliases MQTT.js assigns or
reuses by itself (seen on the wire) reaching paho and Kafka intact."""

import json
import os
import subprocess
import threading
import time

import pytest

from conftest import CACHE, PEERS_DIR, TARGET, Broker, kcat, murmur2, need, run

import test_mqtt as base

pytestmark = pytest.mark.skipif(TARGET != "eddy", reason="MQTT is Eddy's own listener")  # allowed: only when the suite is proven against real Kafka, which has no MQTT listener

MQTTJS_PEER = PEERS_DIR / "mqttjs" / "peer.js"
TURBINE_ROUTE = "windfarm/+site/turbine/+id/telemetry=>turbine-telemetry|{site}-{id}"
LEVELS = {"v311": 4, "v5": 5}


def js_env():
    return {"NODE_PATH": str(CACHE / "node" / "node_modules")}


def js_pub(broker, messages, level=4, client_id=None, **options):
    """Publishes messages (dicts: topic, payload, qos, retain, alias) with
    MQTT.js, each after the previous one's acknowledgement; options go to
    the peer (autoAssignTopicAlias, ...). The peer's summary: how many
    PUBLISHes set or used a Topic Alias."""
    opt = {"protocolVersion": level, "messages": messages, **options}
    if client_id:
        opt["clientId"] = client_id
    p = run([need("node"), need(MQTTJS_PEER), "pub", broker.mqtt_port, json.dumps(opt)], env=js_env())
    done = json.loads(p.stdout.decode().splitlines()[-1])
    assert done["acked"] == len(messages), p.stdout
    return done


class JsSub:
    """An MQTT.js subscriber in its own node process; the messages it
    received collect in .messages (dicts: topic, payload, qos, retain)."""

    def __init__(self, broker, client_id, subs, level=4, clean=True):
        opt = {"clientId": client_id, "clean": clean, "protocolVersion": level, "subs": subs}
        self.p = subprocess.Popen(
            [str(need("node")), str(need(MQTTJS_PEER)), "sub", str(broker.mqtt_port), json.dumps(opt)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(os.environ, **js_env()),
        )
        self.ready = None
        self.messages = []
        self.cond = threading.Condition()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        with self.cond:
            assert self.cond.wait_for(lambda: self.ready is not None or self.p.poll() is not None, 30), "not subscribed"
        assert self.ready is not None, self.p.stderr.read().decode()

    def _read(self):
        for line in self.p.stdout:
            o = json.loads(line)
            with self.cond:
                if o.get("ready"):
                    self.ready = o
                else:
                    self.messages.append(o)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_messages(self, n, timeout=30):
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.messages) >= n, timeout), f"got {len(self.messages)} of {n}"
            return list(self.messages)

    def close(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(30)
        self.t.join(30)


@pytest.mark.parametrize("version", ["v311", "v5"])
def test_keyed_routes(tmp_path_factory, version):
    b = Broker(tmp_path_factory.mktemp("mqttjs-keyed"), {"num.partitions": "4", "mqtt.routes": TURBINE_ROUTE}).start()
    try:
        msgs, sent = [], []
        for rnd in range(3):
            for site, tid in [("site7", "T03"), ("site7", "T04"), ("north", "T01"), ("s2", "T11")]:
                v = f"{site}-{tid}#{rnd}"
                msgs.append({"topic": f"windfarm/{site}/turbine/{tid}/telemetry", "payload": v, "qos": 1})
                sent.append((f"{site}-{tid}".encode(), v.encode()))
        js_pub(b, msgs, LEVELS[version])
        got = {}
        for r in base.consume(b, "turbine-telemetry", len(sent)):
            assert r.partition() == (murmur2(r.key()) & 0x7FFFFFFF) % 4, r.key()
            got.setdefault(r.key(), []).append(r.value())
        for key in {k for k, _ in sent}:  # one turbine's records in order
            assert got[key] == [v for k, v in sent if k == key]
    finally:
        b.stop()


def test_retained_message_across_kill9(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("mqttjs-retain")).start()
    try:
        js_pub(b, [{"topic": "site/gw1/status", "payload": "online", "qos": 1, "retain": True}], 5)
        b.kill9()
        b.start()
        for level in (4, 5):
            s = JsSub(b, f"retain-js-{level}", [["site/+/status", 1]], level)
            try:
                got = s.wait_messages(1)
                assert got == [{"topic": "site/gw1/status", "payload": "online", "qos": 1, "retain": True}]
            finally:
                s.close()
    finally:
        b.stop()


@pytest.mark.parametrize("version", ["v311", "v5"])
def test_offline_queue_across_kill9(tmp_path_factory, version):
    """clean:false: what was published (and acknowledged) while the
    subscriber was away reaches it after a kill -9 of Eddy, every message."""
    b = Broker(tmp_path_factory.mktemp("mqttjs-offline")).start()
    level = LEVELS[version]
    try:
        s = JsSub(b, f"field-{version}", [["field/+/temp", 1]], level, clean=False)
        assert not s.ready["sessionPresent"] and s.ready["granted"] == [1]
        s.close()
        sent = [f"t{i}" for i in range(50)]
        js_pub(b, [{"topic": f"field/s{i % 3}/temp", "payload": p, "qos": 1} for i, p in enumerate(sent)], level)
        b.kill9()
        b.start()
        s = JsSub(b, f"field-{version}", [], level, clean=False)
        try:
            assert s.ready["sessionPresent"]
            got = s.wait_messages(len(sent))
            assert sorted(m["payload"] for m in got) == sorted(sent)
            assert all(m["qos"] == 1 for m in got)
        finally:
            s.close()
    finally:
        b.stop()


def test_shared_subscription_two_members(broker):
    members = [JsSub(broker, f"js-share-{lv}", [["$share/js/jobs/#", 1]], lv) for lv in (5, 4)]
    try:
        sent = [f"j{i}" for i in range(40)]
        js_pub(broker, [{"topic": f"jobs/{i % 4}", "payload": p, "qos": 1} for i, p in enumerate(sent)], 5)
        deadline = time.time() + 30
        while sum(len(m.messages) for m in members) < len(sent) and time.time() < deadline:
            time.sleep(0.05)
        got = [m["payload"] for x in members for m in x.messages]
        assert sorted(got) == sorted(sent), got  # each once, none lost
        assert all(x.messages for x in members), [len(x.messages) for x in members]
    finally:
        for m in members:
            m.close()


@pytest.mark.parametrize("mode", ["autoAssignTopicAlias", "autoUseTopicAlias"])
def test_topic_aliases(tmp_path_factory, mode):
    """MQTT.js v5 publishing with topic aliases (assigned by MQTT.js, more
    topics than the 16 aliases Eddy allows so aliases get replaced; or set
    by the first publish to each topic and used after): a paho subscriber
    and a Kafka consumer see every message on its own topic, and the wire
    carried aliases with empty topics."""
    b = Broker(tmp_path_factory.mktemp("mqttjs-alias"), {"mqtt.routes": "jsa/#=>js-alias"}).start()
    sub = base.Paho(b, "js-alias-sub", "v5")
    try:
        sub.subscribe("jsa/#", 1)
        n_topics = 20 if mode == "autoAssignTopicAlias" else 4
        msgs = []
        for i in range(60):
            if mode == "autoAssignTopicAlias":  # 10 topics, then 10 more: aliases replaced
                t = i % 10 if i < 40 else 10 + i % 10
            else:  # runs of 3 on one topic
                t = (i // 3) % n_topics
            m = {"topic": f"jsa/dev{t}/m", "payload": f"v{i}", "qos": 1}
            if mode == "autoUseTopicAlias" and i < 3 * n_topics and i % 3 == 0:
                m["alias"] = t + 1  # registers it; later publishes use it
            msgs.append(m)
        done = js_pub(b, msgs, 5, "js-alias-pub", topicAliasMaximum=8, **{mode: True})
        # aliases were used on the wire: an empty topic with an alias
        assert done["aliasUsed"] >= 20 and done["aliasSet"] >= n_topics, done
        sent = [(m["topic"], m["payload"]) for m in msgs]
        assert [(m.topic, m.payload.decode()) for m in sub.wait_messages(len(msgs))] == sent
        recs = base.consume(b, "js-alias", len(msgs))
        assert sorted((r.key().decode(), r.value().decode()) for r in recs) == sorted(sent)
    finally:
        sub.close()
        b.stop()


def test_kafka_records_reach_mqttjs(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("mqttjs-k2m"), {"mqtt.publish.routes": "commands=>site/{key}/cmd"}).start()
    s = JsSub(b, "k2m-js", [["site/+/cmd", 1]], 5)
    try:
        kcat(b, "-P", "-t", "commands", "-K", ":", input=b"T01:start\nT02:stop\n")
        got = s.wait_messages(2)
        assert got == [
            {"topic": "site/T01/cmd", "payload": "start", "qos": 1, "retain": False},
            {"topic": "site/T02/cmd", "payload": "stop", "qos": 1, "retain": False},
        ]
    finally:
        s.close()
        b.stop()
