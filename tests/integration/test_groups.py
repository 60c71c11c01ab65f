"""Consumer groups with real clients: Apache Kafka's kafka-console-consumer
and kafka-consumer-groups (list, describe with lag, reset-offsets, delete),
confluent-kafka members sharing a 6-partition topic (leave, SIGKILL, eager
and cooperative-sticky), two groups reading one topic independently, the
Java consumer and kafka-python in one group, committed offsets across a
broker SIGKILL, compaction of a keyed topic seen from offset 0, and the
group error codes over a raw socket. Run against Eddy and, with
EDDY_TEST_TARGET=kafka, against Apache Kafka."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

import kwire
from conftest import HOST, TARGET, VENV_PY, create_topic, kafka_tool, need

# Compaction runs often on both brokers (Kafka's cleaner backs off 15 s by
# default); Eddy ignores Kafka's log.cleaner.* settings.
BROKER_CONFIG = {"log.cleaner.backoff.ms": "500"}

HERE = Path(__file__).resolve().parent


def produce(broker, topic, records, partition=None):
    """Produces (key, value) pairs (value None = tombstone); returns
    [(partition, offset)] in order."""
    from confluent_kafka import Producer

    prod = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5,
                     "partitioner": "murmur2_random"})
    out = [None] * len(records)
    errors = []

    def cb(i):
        def f(err, msg):
            if err:
                errors.append(err)
            else:
                out[i] = (msg.partition(), msg.offset())

        return f

    for i, (k, v) in enumerate(records):
        kw = {} if partition is None else {"partition": partition}
        prod.produce(topic, key=k, value=v, on_delivery=cb(i), **kw)
        prod.poll(0)
    assert prod.flush(60) == 0
    assert not errors, errors
    return out


def read_from_start(broker, topic, partitions, timeout=30):
    """Every record of the topic from offset 0 up to the end: {(p, o): (k, v)}."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "reader-unused",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got = {}
    eof = set()
    deadline = time.time() + timeout
    try:
        while len(eof) < partitions and time.time() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == -191:  # _PARTITION_EOF
                    eof.add(m.partition())
                    continue
                raise AssertionError(m.error())
            got[(m.partition(), m.offset())] = (m.key(), m.value())
    finally:
        c.close()
    assert len(eof) == partitions, "did not reach the end of every partition"
    return got


class Member:
    """A group_member.py process and the events it printed."""

    def __init__(self, broker, group, topic, conf=None, commit_every=1):
        arg = json.dumps({"bootstrap": broker.bootstrap, "group": group, "topic": topic,
                          "conf": conf or {}, "commit_every": commit_every})
        self.proc = subprocess.Popen([need(VENV_PY), str(HERE / "group_member.py"), arg],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.events = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.events.append(ev)

    def evs(self, kind=None):
        with self.lock:
            return [e for e in self.events if kind is None or e["ev"] == kind]

    def assigned(self):
        """Partitions held now (eager: the last assignment; cooperative:
        additions minus revocations)."""
        held = set()
        for e in self.evs():
            if e["ev"] == "assign":
                held |= set(e["parts"])
            elif e["ev"] == "revoke":
                held -= set(e["parts"])
        return held

    def records(self):
        return [(e["p"], e["o"]) for e in self.evs("rec")]

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("stop\n")
                self.proc.stdin.flush()
            except BrokenPipeError:
                pass
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(5)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.reader.join(5)


def wait_for(what, pred, timeout=90, step=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def partitioned_exactly(members, n):
    held = [m.assigned() for m in members]
    union = set().union(*held)
    return union == set(range(n)) and sum(len(h) for h in held) == n


def check_all_consumed(members, produced):
    seen = set()
    for m in members:
        seen |= set(m.records())
    missing = set(produced) - seen
    assert not missing, f"{len(missing)} records never consumed, e.g. {sorted(missing)[:5]}"


# ---------------------------------------------------------------------------
# Apache Kafka's tools.


def describe_rows(broker, v, group):
    out = kafka_tool(v, "kafka-consumer-groups", "--bootstrap-server", broker.bootstrap,
                     "--describe", "--group", group).stdout.decode()
    rows = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 6 and f[0] == group and f[2].isdigit():
            rows[(f[1], int(f[2]))] = (f[3], f[4], f[5])  # current, log end, lag
    return rows, out


@pytest.mark.parametrize("v", ["3.9", "4"])
def test_console_consumer_and_consumer_groups_tool(broker, topic_name, v):
    topic = create_topic(broker, topic_name(), 2)
    group = f"cli-{topic}"
    bs = ["--bootstrap-server", broker.bootstrap]
    t0 = int(time.time() * 1000)
    produced = produce(broker, topic, [(b"k%d" % i, b"v%d" % i) for i in range(40)])
    out = kafka_tool(v, "kafka-console-consumer", *bs, "--topic", topic, "--group", group,
                     "--from-beginning", "--max-messages", "40", timeout=120).stdout.decode()
    assert sorted(out.split()) == sorted("v%d" % i for i in range(40))
    assert group in kafka_tool(v, "kafka-consumer-groups", *bs, "--list").stdout.decode().split()
    ends = {p: 0 for p in range(2)}
    for p, o in produced:
        ends[p] = max(ends[p], o + 1)
    rows, text = describe_rows(broker, v, group)
    for p in range(2):
        assert rows[(topic, p)] == (str(ends[p]), str(ends[p]), "0"), text
    # lag follows new records
    more = produce(broker, topic, [(b"m%d" % i, b"m%d" % i) for i in range(10)])
    rows, text = describe_rows(broker, v, group)
    for p in range(2):
        extra = sum(1 for pp, _ in more if pp == p)
        assert rows[(topic, p)] == (str(ends[p]), str(ends[p] + extra), str(extra)), text
    # reset to the earliest offsets
    kafka_tool(v, "kafka-consumer-groups", *bs, "--group", group, "--topic", topic,
               "--reset-offsets", "--to-earliest", "--execute")
    rows, text = describe_rows(broker, v, group)
    for p in range(2):
        assert rows[(topic, p)][0] == "0", text
    # reset to a time: the first record at or after it
    t_mid = int(time.time() * 1000)
    time.sleep(0.05)
    late = produce(broker, topic, [(b"late", b"late")])
    iso = datetime.fromtimestamp(t_mid / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    kafka_tool(v, "kafka-consumer-groups", *bs, "--group", group, "--topic", topic,
               "--reset-offsets", "--to-datetime", iso, "--execute")
    rows, text = describe_rows(broker, v, group)
    lp, lo = late[0]
    assert rows[(topic, lp)][0] == str(lo), text
    assert t0 < t_mid
    # delete the group
    out = kafka_tool(v, "kafka-consumer-groups", *bs, "--delete", "--group", group).stdout.decode()
    assert "was successful" in out, out
    assert group not in kafka_tool(v, "kafka-consumer-groups", *bs, "--list").stdout.decode().split()


# ---------------------------------------------------------------------------
# confluent-kafka members.


@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_three_members_share_six_partitions(broker, topic_name, strategy):
    topic = create_topic(broker, topic_name(), 6)
    group = f"three-{strategy}-{topic}"
    conf = {"partition.assignment.strategy": strategy}
    produced = produce(broker, topic, [(b"a%d" % i, b"x") for i in range(300)])
    members = [Member(broker, group, topic, conf) for _ in range(3)]
    try:
        wait_for("6 partitions over 3 members", lambda: partitioned_exactly(members, 6)
                 and all(m.assigned() for m in members))
        wait_for("the first records", lambda: len(set().union(*[set(m.records()) for m in members]))
                 >= len(produced))
        check_all_consumed(members, produced)
        stable = [m.assigned() for m in members]
        n_revokes = [len(m.evs("revoke")) for m in members]
        # one member leaves cleanly: its partitions move to the others
        members[2].stop()
        wait_for("partitions moved after a leave", lambda: partitioned_exactly(members[:2], 6))
        if strategy == "cooperative-sticky":
            # the others keep what they had: nothing of theirs is revoked
            for i in range(2):
                assert stable[i] <= members[i].assigned()
                assert all(not e["parts"] for e in members[i].evs("revoke")[n_revokes[i]:]), \
                    members[i].evs("revoke")
        more = produce(broker, topic, [(b"b%d" % i, b"y") for i in range(120)])
        wait_for("records after the leave", lambda: set(more) <= set(members[0].records())
                 | set(members[1].records()))
        # a member dies (SIGKILL): the session timeout hands its partitions on
        members.append(Member(broker, group, topic, conf))
        wait_for("6 partitions over 3 members again",
                 lambda: partitioned_exactly([members[0], members[1], members[3]], 6)
                 and members[3].assigned())
        victim = members[3]
        victim_parts = victim.assigned()
        victim.kill9()
        wait_for("the dead member's partitions moved",
                 lambda: partitioned_exactly(members[:2], 6), timeout=120)
        last = produce(broker, topic, [(b"c%d" % i, b"z") for i in range(120)])
        wait_for("records after the kill", lambda: set(last) <= set(members[0].records())
                 | set(members[1].records()))
        check_all_consumed(members, produced + more + last)
        assert victim_parts
    finally:
        for m in members:
            if m.proc.poll() is None:
                m.stop()


def test_two_groups_read_independently(broker, topic_name):
    topic = create_topic(broker, topic_name(), 3)
    produced = produce(broker, topic, [(b"k%d" % i, b"v%d" % i) for i in range(150)])
    a = Member(broker, f"ga-{topic}", topic)
    b = Member(broker, f"gb-{topic}", topic)
    try:
        wait_for("both groups read everything",
                 lambda: set(produced) <= set(a.records()) and set(produced) <= set(b.records()))
        # each group has its own committed offsets
        for g in (f"ga-{topic}", f"gb-{topic}"):
            committed = committed_offsets(broker, g, topic, 3)
            for p in range(3):
                assert committed[p] == 1 + max(o for pp, o in produced if pp == p)
    finally:
        a.stop()
        b.stop()


def committed_offsets(broker, group, topic, partitions):
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=30)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        c.close()


# ---------------------------------------------------------------------------
# The Java consumer and kafka-python in one group.


def group_members(broker, group):
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    d = admin.describe_consumer_groups([group])[group].result(timeout=30)
    return str(d.state), d.members


def test_java_and_kafka_python_in_one_group(broker, topic_name):
    from kafka import KafkaConsumer

    topic = create_topic(broker, topic_name(), 2)
    group = f"mixed-{topic}"
    bs = ["--bootstrap-server", broker.bootstrap]
    java = subprocess.Popen(
        [str(need(HERE.parent / "peers" / "kafka.sh")), "3.9", "kafka-console-consumer", *bs,
         "--topic", topic, "--group", group, "--property", "print.partition=true",
         "--timeout-ms", "30000"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    got_py = []
    stop = threading.Event()
    py_ready = threading.Event()

    def kp():
        c = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=group,
                          auto_offset_reset="latest", enable_auto_commit=True,
                          session_timeout_ms=10000, heartbeat_interval_ms=500)
        try:
            while not stop.is_set():
                for tp, msgs in c.poll(timeout_ms=300).items():
                    for m in msgs:
                        got_py.append((tp.partition, m.value.decode()))
                if c.assignment():
                    py_ready.set()
        finally:
            c.close()

    t = threading.Thread(target=kp, daemon=True)
    t.start()
    try:
        def both_in():
            state, members = group_members(broker, group)
            return (state.endswith("STABLE") and len(members) == 2
                    and all(m.assignment.topic_partitions for m in members))

        wait_for("a stable group of the Java and the Python consumer", both_in, timeout=120)
        state, members = group_members(broker, group)
        clients = sorted(m.client_id for m in members)
        assert any(c.startswith("console-consumer") for c in clients), clients
        assert any(c.startswith("kafka-python") for c in clients), clients
        owned = {}
        for m in members:
            for tp in m.assignment.topic_partitions:
                owned[tp.partition] = m.client_id
        assert sorted(owned) == [0, 1]
        time.sleep(1)  # both positioned at the end (latest)
        produced = produce(broker, topic, [(b"j%d" % i, b"val-%d" % i) for i in range(60)])
        wait_for("Python's share", lambda: len(got_py) >= sum(1 for p, _ in produced
                                                             if owned[p].startswith("kafka-python")))
    finally:
        stop.set()
        t.join(30)
        java.send_signal(signal.SIGTERM)
        try:
            out, _ = java.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            java.kill()
            out, _ = java.communicate()
    java_vals = [line.split("\t")[-1] for line in out.splitlines() if "val-" in line]
    py_vals = [v for _, v in got_py]
    want = sorted("val-%d" % i for i in range(60))
    # each record went to exactly one member of the group
    assert sorted(java_vals + py_vals) == want
    assert java_vals and py_vals


# ---------------------------------------------------------------------------
# Committed offsets survive a SIGKILL of the broker.


def test_committed_offsets_survive_broker_sigkill(fresh_broker, topic_name):
    from confluent_kafka import Consumer

    broker = fresh_broker
    topic = create_topic(broker, topic_name(), 1)
    produced = produce(broker, topic, [(b"k%d" % i, b"v%d" % i) for i in range(100)])
    group = f"survive-{topic}"
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    n = 0
    deadline = time.time() + 60
    try:
        while n < 60 and time.time() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            n += 1
            if n == 60:
                c.commit(message=m, asynchronous=False)  # answered once on flash
    finally:
        c.close()
    assert n == 60
    broker.kill9()
    broker.start()
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    try:
        first = None
        deadline = time.time() + 60
        while first is None and time.time() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                first = m.offset()
    finally:
        c.close()
    assert first == produced[60][1]


# ---------------------------------------------------------------------------
# Compaction of a keyed user topic.


def test_compacted_topic_from_offset_zero(broker, topic_name):
    topic = create_topic(broker, topic_name(), 1, config={
        "cleanup.policy": "compact", "segment.bytes": "2048", "min.cleanable.dirty.ratio": "0.01",
        "delete.retention.ms": "3000", "segment.ms": "600000"})
    # Small produce calls, so that records spread over many batches and
    # segments (one batch would sit in the active segment, never compacted).
    chunks = []
    for r in range(30):
        chunks.append([(b"key-%02d" % k, b"round-%02d-of-key-%02d" % (r, k)) for k in range(12)])
    chunks.append([(b"key-%02d" % k, None) for k in range(3)])  # tombstones
    n_fillers = 150
    for i in range(0, n_fillers, 10):  # unique keys: never compacted away
        chunks.append([(b"filler-%04d" % j, b"f" * 60) for j in range(i, i + 10)])
    written = {}
    latest = {}
    for chunk in chunks:
        for (_, o), kv in zip(produce(broker, topic, chunk, partition=0), chunk):
            written[o] = kv
            latest[kv[0]] = o
    keep = set(latest.values())
    after_horizon = {o for o in keep if written[o][1] is not None}

    state = {}

    def offsets_now():
        state["got"] = read_from_start(broker, topic, 1)
        return {o for (_, o) in state["got"]}

    # first the latest record per key, tombstones included (or already
    # past their horizon) ...
    wait_for("compaction to the latest record per key",
             lambda: offsets_now() in (keep, after_horizon), timeout=120, step=1)
    for (_, o), kv in state["got"].items():
        assert kv == written[o], f"offset {o} holds another record than was written"
    # ... then, once delete.retention.ms has passed and more records made
    # the log dirty again (Kafka's cleaner needs that), without them
    time.sleep(3.5)
    more = [(b"late-filler-%04d" % j, b"g" * 60) for j in range(40)]
    for i in range(0, len(more), 10):
        for (_, o), kv in zip(produce(broker, topic, more[i:i + 10], partition=0), more[i:i + 10]):
            written[o] = kv
            after_horizon.add(o)
    wait_for("tombstones to go after delete.retention.ms", lambda: offsets_now() == after_horizon,
             timeout=120, step=1)
    for (_, o), kv in state["got"].items():
        assert kv == written[o]
    assert len(state["got"]) == 9 + n_fillers + len(more)
    # the Java consumer reads the compacted partition the same way
    out = kafka_tool("3.9", "kafka-console-consumer", "--bootstrap-server", broker.bootstrap,
                     "--topic", topic, "--from-beginning", "--timeout-ms", "10000",
                     "--property", "print.key=true", "--property", "print.offset=true",
                     check=False, timeout=120).stdout.decode()
    java = set()
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) == 3 and f[0].startswith("Offset:"):
            java.add((int(f[0][len("Offset:"):]), f[1].encode(), f[2].encode()))
    want = {(o, kv[0], kv[1]) for (_, o), kv in state["got"].items()}
    assert java == want


# ---------------------------------------------------------------------------
# Error codes over a raw socket.

JOIN, HEARTBEAT, SYNC, LEAVE = 11, 12, 14, 13


# ConsumerProtocolSubscription v0: no topics, null user data.
EMPTY_SUBSCRIPTION = kwire.i16(0) + kwire.i32(0) + kwire.i32(-1)


def join_req(group, member, protocols=(("range", EMPTY_SUBSCRIPTION),), session=10000, rebalance=20000):
    return (kwire.string(group) + kwire.i32(session) + kwire.i32(rebalance) + kwire.string(member)
            + kwire.string(None) + kwire.string("consumer")
            + kwire.array([kwire.string(n) + kwire.kbytes(m) for n, m in protocols]))


def parse_join(body):
    r = kwire.Reader(body)
    r.i32()  # throttle
    err = r.i16()
    gen = r.i32()
    proto = r.string()
    leader = r.string()
    member = r.string()
    members = r.array(lambda rr: (rr.string(), rr.string(), rr.kbytes()))
    return {"error": err, "generation": gen, "protocol": proto, "leader": leader,
            "member": member, "members": members}


def heartbeat(c, group, gen, member):
    body = c.call(HEARTBEAT, 3, kwire.string(group) + kwire.i32(gen) + kwire.string(member)
                  + kwire.string(None))
    r = kwire.Reader(body)
    r.i32()
    return r.i16()


def sync(c, group, gen, member, assignments):
    body = c.call(SYNC, 3, kwire.string(group) + kwire.i32(gen) + kwire.string(member)
                  + kwire.string(None)
                  + kwire.array([kwire.string(m) + kwire.kbytes(a) for m, a in assignments]))
    r = kwire.Reader(body)
    r.i32()
    return r.i16(), r.kbytes()


def test_group_error_codes_raw(broker, topic_name):
    group = f"raw-{topic_name()}"
    with broker.conn() as a, broker.conn() as b:
        j = parse_join(a.call(JOIN, 5, join_req(group, "")))
        assert j["error"] == 79  # MEMBER_ID_REQUIRED
        mid = j["member"]
        assert mid
        j = parse_join(a.call(JOIN, 5, join_req(group, mid)))
        assert j["error"] == 0 and j["generation"] == 1 and j["leader"] == mid
        assert [m[0] for m in j["members"]] == [mid]
        err, assignment = sync(a, group, 1, mid, [(mid, b"my-assignment")])
        assert (err, assignment) == (0, b"my-assignment")
        assert heartbeat(a, group, 1, mid) == 0
        assert heartbeat(a, group, 0, mid) == 22  # ILLEGAL_GENERATION
        assert heartbeat(a, group, 1, "no-such-member") == 25  # UNKNOWN_MEMBER_ID
        assert heartbeat(a, "no-such-group", 1, mid) == 25
        err, _ = sync(a, group, 7, mid, [])
        assert err == 22
        # a second member arrives: the first learns of the rebalance by heartbeat
        j2 = parse_join(b.call(JOIN, 5, join_req(group, "")))
        assert j2["error"] == 79
        cid = b.send_request(JOIN, 5, join_req(group, j2["member"]))  # waits for the rebalance
        assert heartbeat(a, group, 1, mid) == 27  # REBALANCE_IN_PROGRESS
        j = parse_join(a.call(JOIN, 5, join_req(group, mid)))
        jb = parse_join(b.recv_response(cid))
        assert j["error"] == 0 and jb["error"] == 0
        assert j["generation"] == jb["generation"] == 2
        assert sorted(m[0] for m in j["members"]) == sorted([mid, j2["member"]])
        assert jb["members"] == []
        # the old generation is stale now
        assert heartbeat(a, group, 1, mid) == 22
        # an unsupported protocol type is refused
        bad = (kwire.string(group) + kwire.i32(10000) + kwire.i32(20000) + kwire.string("")
               + kwire.string(None) + kwire.string("connect")
               + kwire.array([kwire.string("x") + kwire.kbytes(b"")]))
        assert parse_join(a.call(JOIN, 5, bad))["error"] == 23  # INCONSISTENT_GROUP_PROTOCOL
        # session timeout out of range
        j = parse_join(a.call(JOIN, 5, join_req("other-" + group, "", session=10)))
        assert j["error"] == 26  # INVALID_SESSION_TIMEOUT


# ---------------------------------------------------------------------------
# eddy groups (works against any Kafka broker).


def eddy_groups(broker, *args, check=True):
    from conftest import EDDY_BIN, run

    return run([EDDY_BIN, "groups", *args, "-b", broker.bootstrap], check=check, timeout=60)


def test_eddy_groups_cli(broker, topic_name):
    topic = create_topic(broker, topic_name(), 2)
    group = f"eddycli-{topic}"
    produced = produce(broker, topic, [(b"k%d" % i, b"v%d" % i) for i in range(50)])
    m = Member(broker, group, topic)
    try:
        wait_for("everything consumed", lambda: set(produced) <= set(m.records()))
        wait_for("the commits", lambda: len(m.evs("committed")) >= len(produced))
        out = eddy_groups(broker, "describe", "-g", group).stdout.decode()
        assert "Stable" in out, out
        assert "rdkafka" in out, out  # the member's client id in the table
    finally:
        m.stop()
    assert group in eddy_groups(broker, "list").stdout.decode().split()
    out = eddy_groups(broker, "list", "--state").stdout.decode()
    assert any(line.split() == [group, "Empty"] for line in out.splitlines()), out
    ends = {p: 1 + max(o for pp, o in produced if pp == p) for p in range(2)}
    out = eddy_groups(broker, "describe", "-g", group).stdout.decode()
    for p in range(2):
        assert any(line.split()[:6] == [group, topic, str(p), str(ends[p]), str(ends[p]), "0"]
                   for line in out.splitlines()), out
    # a dry run changes nothing; --execute does
    eddy_groups(broker, "reset-offsets", "-g", group, "-t", topic, "--to-earliest")
    assert committed_offsets(broker, group, topic, 2) == ends
    eddy_groups(broker, "reset-offsets", "-g", group, "-t", f"{topic}:1", "--shift-by", "-2",
                "--execute")
    assert committed_offsets(broker, group, topic, 2) == {0: ends[0], 1: ends[1] - 2}
    eddy_groups(broker, "reset-offsets", "-g", group, "--all-topics", "--to-earliest", "--execute")
    assert committed_offsets(broker, group, topic, 2) == {0: 0, 1: 0}
    out = eddy_groups(broker, "describe", "-g", group).stdout.decode()
    for p in range(2):
        assert any(line.split()[:6] == [group, topic, str(p), "0", str(ends[p]), str(ends[p])]
                   for line in out.splitlines()), out
    assert "Deleted group" in eddy_groups(broker, "delete", "-g", group).stdout.decode()
    assert group not in eddy_groups(broker, "list").stdout.decode().split()
    r = eddy_groups(broker, "delete", "-g", group, check=False)
    assert r.returncode == 1 and b"GROUP_ID_NOT_FOUND" in r.stderr


def test_consumer_groups_delete_offsets(broker, topic_name):
    # kafka-consumer-groups --delete-offsets is Kafka's OffsetDelete client
    topic = create_topic(broker, topic_name(), 2)
    group = f"odel-{topic}"
    bs = ["--bootstrap-server", broker.bootstrap]
    produced = produce(broker, topic, [(b"k%d" % i, b"v") for i in range(20)])
    m = Member(broker, group, topic)
    try:
        wait_for("everything consumed and committed", lambda: set(produced) <= set(m.records())
                 and len(m.evs("committed")) >= len(produced))
        # the group is subscribed to the topic: its offsets stay
        r = kafka_tool("3.9", "kafka-consumer-groups", *bs, "--delete-offsets", "--group", group,
                       "--topic", f"{topic}:0", check=False)
        assert b"GROUP_SUBSCRIBED_TO_TOPIC" in r.stdout + r.stderr or \
            b"subscribed" in (r.stdout + r.stderr).lower(), r
    finally:
        m.stop()
    before = committed_offsets(broker, group, topic, 2)
    assert before[0] >= 0 and before[1] >= 0
    out = kafka_tool("3.9", "kafka-consumer-groups", *bs, "--delete-offsets", "--group", group,
                     "--topic", f"{topic}:0").stdout.decode()
    assert "Successful" in out, out
    after = committed_offsets(broker, group, topic, 2)
    assert after[0] < 0 and after[1] == before[1]
