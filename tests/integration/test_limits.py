"""Eddy's caps on topics and partitions (eddy.max.topics,
eddy.max.partitions, eddy.max.partitions.per.request) as real clients see
them: confluent-kafka's AdminClient gets Kafka's error codes with Eddy's
message, Metadata auto-creation and MQTT publishes to new topics are refused
without creating anything on disk, and deleting a topic makes room again."""

import json

import paho.mqtt.client as mqtt
import pytest

from conftest import HOST, TARGET, venv_python

if TARGET == "kafka":
    pytest.skip("Eddy's own limits", allow_module_level=True)  # allowed: only when the suite is proven against real Kafka, which has no such settings

BROKER_CONFIG = {
    "eddy.max.topics": "3",
    "eddy.max.partitions": "8",
    "eddy.max.partitions.per.request": "6",
    "num.partitions": "1",
}

ADMIN_SCRIPT = r"""
import glob, json, sys, time
from confluent_kafka.admin import AdminClient, NewTopic, NewPartitions
from confluent_kafka import KafkaException

bs, base, log_dir = sys.argv[1], sys.argv[2], sys.argv[3]
a = AdminClient({"bootstrap.servers": bs})
out = {}

def one(fs):
    try:
        list(fs.values())[0].result(timeout=60)
        return ["OK", ""]
    except KafkaException as e:
        return [e.args[0].name(), e.args[0].str()]

out["first"] = one(a.create_topics([NewTopic(base + "-a", 5, 1)]))
out["per_request"] = one(a.create_topics([NewTopic(base + "-big", 7, 1)]))
out["over_total"] = one(a.create_topics([NewTopic(base + "-b", 4, 1)]))
out["validate_over"] = one(a.create_topics([NewTopic(base + "-b", 4, 1)], validate_only=True))
out["grow_over"] = one(a.create_partitions([NewPartitions(base + "-a", 9)]))
out["second"] = one(a.create_topics([NewTopic(base + "-c", 2, 1)]))
out["third"] = one(a.create_topics([NewTopic(base + "-d", 1, 1)]))
out["over_topics"] = one(a.create_topics([NewTopic(base + "-e", 1, 1)]))
out["delete"] = one(a.delete_topics([base + "-c"]))
# Its files go in steps after the answer; they count until then.
deadline = time.time() + 30
while glob.glob(f"{log_dir}/{base}-c-*") and time.time() < deadline:
    time.sleep(0.05)
out["after_delete"] = one(a.create_topics([NewTopic(base + "-e", 1, 1)]))
print(json.dumps(out))
"""


def test_caps_reach_admin_clients_and_auto_create(broker, topic_name):
    base = topic_name()
    out = json.loads(venv_python("-c", ADMIN_SCRIPT, broker.bootstrap, base, str(broker.log_dir)).stdout)
    names = {k: v[0] for k, v in out.items()}
    assert names == {
        "first": "OK",
        "per_request": "INVALID_PARTITIONS",
        "over_total": "POLICY_VIOLATION",
        "validate_over": "POLICY_VIOLATION",
        "grow_over": "POLICY_VIOLATION",
        "second": "OK",
        "third": "OK",
        "over_topics": "POLICY_VIOLATION",
        "delete": "OK",
        "after_delete": "OK",
    }, out
    # Eddy's message reaches the client and names the setting.
    assert "eddy.max.partitions.per.request" in out["per_request"][1], out
    assert "eddy.max.partitions" in out["over_total"][1], out
    assert "limit of 8 partitions" in out["grow_over"][1], out
    assert "eddy.max.topics" in out["over_topics"][1], out
    assert not list(broker.log_dir.glob(f"{base}-b-*")), "a refused topic left files"
    assert not list(broker.log_dir.glob(f"{base}-big-*")), "a refused topic left files"

    # Three topics exist: Metadata auto-creation answers
    # UNKNOWN_TOPIC_OR_PARTITION and creates nothing.
    auto = f"{base}-auto"
    with broker.conn() as c:
        md = c.metadata([auto], version=4, allow_auto_create=True)
    assert md["topics"][auto]["error"] == 3, md
    assert not list(broker.log_dir.glob(f"{auto}-*"))

    # An MQTT 5 QoS 1 publish to a new topic is refused with Quota exceeded.
    acks = []
    cl = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{base}-m", protocol=mqtt.MQTTv5)
    cl.on_publish = lambda client, userdata, mid, rc, props: acks.append(rc)
    cl.connect(HOST, broker.mqtt_port)
    cl.loop_start()
    try:
        info = cl.publish(f"{base}/mqtt/new", b"21.5", qos=1)
        info.wait_for_publish(timeout=30)
    finally:
        cl.loop_stop()
        cl.disconnect()
    assert len(acks) == 1 and acks[0].value == 0x97, acks
    assert not list(broker.log_dir.glob(f"{base}.mqtt.new-*"))
    assert "not auto-creating topic" in broker.log_tail(200)


def _low_file_limit_broker(tmp_path, monkeypatch, nofile, config):
    """A started broker whose process runs under `ulimit -n nofile`."""
    import conftest

    wrapper = tmp_path / "eddy-ulimit"
    wrapper.write_text(f'#!/bin/sh\nulimit -n {nofile}\nexec "{conftest.EDDY_BIN}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setattr(conftest, "EDDY_BIN", wrapper)
    return conftest.Broker(tmp_path / "b", config).start()


def test_low_file_limit_caps_keep_the_broker_working(tmp_path, monkeypatch):
    """Under `ulimit -n 200`, with eddy.max.partitions sized for it, a second
    big topic and a stream of MQTT topics are refused at the cap instead of
    running the broker out of file handles: the partitions that exist take
    records and serve them, and new connections are accepted."""
    b = _low_file_limit_broker(
        tmp_path,
        monkeypatch,
        200,
        {"eddy.max.partitions": "60", "eddy.max.partitions.per.request": "1000", "num.partitions": "1"},
    )
    try:
        script = r"""
import json, sys
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka import KafkaException
a = AdminClient({"bootstrap.servers": sys.argv[1]})
def one(fs):
    try:
        list(fs.values())[0].result(timeout=120)
        return "OK"
    except KafkaException as e:
        return e.args[0].name()
print(json.dumps([one(a.create_topics([NewTopic("big1", 40, 1)])),
                  one(a.create_topics([NewTopic("big2", 150, 1)]))]))
"""
        assert json.loads(venv_python("-c", script, b.bootstrap).stdout) == ["OK", "POLICY_VIOLATION"]
        # MQTT topics until the cap: 20 fit, the rest get Quota exceeded.
        acks = {}
        cl = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="many", protocol=mqtt.MQTTv5)
        cl.on_publish = lambda client, userdata, mid, rc, props: acks.__setitem__(mid, rc.value)
        cl.connect(HOST, b.mqtt_port)
        cl.loop_start()
        try:
            infos = [cl.publish(f"site/s{i}/t", b"1", qos=1) for i in range(30)]
            for info in infos:
                info.wait_for_publish(timeout=60)
        finally:
            cl.loop_stop()
            cl.disconnect()
        codes = [acks[i.mid] for i in infos]
        assert codes.count(0) == 20 and codes.count(0x97) == 10, codes
        # Every partition of big1 takes a record and serves it back.
        from conftest import kcat

        for p in range(40):
            kcat(b, "-P", "-t", "big1", "-p", str(p), input=f"v{p}\n".encode())
        out = kcat(b, "-C", "-t", "big1", "-o", "beginning", "-e", "-q", "-f", "%s\n").stdout.decode()
        assert sorted(out.split()) == sorted(f"v{p}" for p in range(40))
        with b.conn() as c:
            assert c.metadata(["big1"])["topics"]["big1"]["error"] == 0
        assert "Too many open files" not in b.log_tail(2000)
        assert not list(b.log_dir.glob("big2-*"))
    finally:
        b.stop()


SEGMENTS_SCRIPT = r"""
import json, sys
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
bs, topic, n_parts, n_per = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
admin = AdminClient({"bootstrap.servers": bs})
admin.create_topics([NewTopic(topic, n_parts, 1)])[topic].result(60)
errors = []
p = Producer({"bootstrap.servers": bs, "acks": "all", "batch.size": 1000, "linger.ms": 2})
for i in range(n_per):
    for part in range(n_parts):
        p.produce(topic, value=f"p{part}-m{i:05d}-".encode() + b"x" * 150, partition=part,
                  on_delivery=lambda err, msg: err and errors.append(str(err)))
    p.poll(0)
print(json.dumps({"left": p.flush(120), "errors": errors[:5], "n_errors": len(errors)}))
"""


def test_low_file_limit_many_segments(tmp_path, monkeypatch):
    """Under `ulimit -n 256`, 16 partitions of about 20 small segments each
    (over 300 segment files, more than the process may open) take every
    record and serve them all back, before and after a restart: the cache of
    open segment files (eddy.max.open.segments) closes idle closed segments
    and reopens them when they are read."""
    import conftest

    n_parts, n_per = 16, 400
    b = _low_file_limit_broker(
        tmp_path,
        monkeypatch,
        256,
        {"log.segment.bytes": "4096", "eddy.max.open.segments": "40"},
    )
    try:
        out = json.loads(venv_python("-c", SEGMENTS_SCRIPT, b.bootstrap, "many", str(n_parts), str(n_per)).stdout)
        assert out == {"left": 0, "errors": [], "n_errors": 0}, out
        assert len(list(b.log_dir.glob("many-*/*.log"))) > 250
        want = sorted(f"p{p}-m{i:05d}-" + "x" * 150 for p in range(n_parts) for i in range(n_per))
        for round_ in ("before", "after"):
            got = conftest.kcat(b, "-C", "-t", "many", "-o", "beginning", "-e", "-q", "-f", "%s\n", timeout=120)
            assert sorted(got.stdout.decode().split()) == want, round_
            if round_ == "before":
                b.restart()
        assert "Too many open files" not in b.log_tail(5000)
    finally:
        b.stop()
