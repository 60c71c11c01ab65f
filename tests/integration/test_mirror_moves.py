"""The upstream changing under a running mirror, against a two-broker
KRaft Apache Kafka cluster (node 1: controller and broker, node 2: broker,
tests/peers/kafka-broker.sh with a shared cluster id), of Kafka 3.9 and
of 4.x (one cluster per version for the module, every test against both):

- a partition's leader moves while records stream in (the replicas'
  order reversed by AlterPartitionReassignments, then a preferred leader
  election): the mirror drains the answers still out, reads the leaders
  again and sends the refused batches to the new leader within the same
  transaction, with the same producer id, epoch and sequences; no
  restart from the checkpoints;
- the upstream topic gains partitions (kafka-topics --alter) while a
  backlog drains: a source partition keeps its upstream partition until
  its backlog is upstream, then moves to the new one, once.

After each, a read_committed consumer finds every record exactly once."""

import base64
import re
import socket
import threading
import time
import uuid

import pytest
from confluent_kafka import ElectionType, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import kwire
from conftest import HOST, KAFKA_BROKER_SH, create_topic, kafka_tool, need, run
from mirror_check import read_all
from test_mirror import mirror_config, produce, start_eddy, start_with, status, wait_caught_up
from test_mirror_net import check_exact, epochs

ALTER_PARTITION_REASSIGNMENTS = 45


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Cluster:
    """Two Kafka nodes of one version sharing a cluster id; node 1 is the
    controller."""

    def __init__(self, workdir, version="3.9"):
        self.version = version
        self.dirs = [workdir / "node1", workdir / "node2"]
        self.ports = [free_port(), free_port()]
        self.cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()

    @property
    def bootstrap(self):
        return ",".join(f"{HOST}:{p}" for p in self.ports)

    def start(self):
        env = {"KAFKA_CLUSTER_ID": self.cluster_id}
        run([need(KAFKA_BROKER_SH), "start", self.dirs[0], self.ports[0], self.version], env=env, timeout=180)
        cport = int((self.dirs[0] / "controller.port").read_text())
        extra = [
            "node.id=2",
            "process.roles=broker",
            f"controller.quorum.voters=1@{HOST}:{cport}",
            f"listeners=PLAINTEXT://{HOST}:{self.ports[1]}",
            f"advertised.listeners=PLAINTEXT://{HOST}:{self.ports[1]}",
        ]
        run([need(KAFKA_BROKER_SH), "start", self.dirs[1], self.ports[1], self.version, *extra], env=env, timeout=180)
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        deadline = time.time() + 60
        while len(admin.list_topics(timeout=10).brokers) < 2:
            assert time.time() < deadline, "node 2 never joined the cluster"
            time.sleep(0.5)
        return self

    def stop(self):
        for d in reversed(self.dirs):
            run([need(KAFKA_BROKER_SH), "stop", d], timeout=90, check=False)

    def admin(self):
        return AdminClient({"bootstrap.servers": self.bootstrap})

    def leader(self, topic, partition=0):
        md = self.admin().list_topics(topic, timeout=10)
        return md.topics[topic].partitions[partition].leader

    def reassign(self, topic, partition, replicas):
        """AlterPartitionReassignments v0 (no Python client has it)."""
        body = kwire.i32(30000) + kwire.compact_array(
            [
                kwire.compact_string(topic)
                + kwire.compact_array(
                    [kwire.i32(partition) + kwire.compact_array([kwire.i32(r) for r in replicas]) + kwire.TAGS_NONE]
                )
                + kwire.TAGS_NONE
            ]
        )
        body += kwire.TAGS_NONE
        with kwire.Conn(HOST, self.ports[0]) as c:
            r = kwire.Reader(c.call(ALTER_PARTITION_REASSIGNMENTS, 0, body, flexible=True))
        r.i32()
        err = r.i16()
        assert err == 0, f"AlterPartitionReassignments: error {err} {r.compact_string()}"

    def move_leader(self, topic, to, other, partition=0):
        """Leadership of topic-partition to node to: replicas (to, other),
        then the preferred leader elected."""
        self.reassign(topic, partition, [to, other])
        deadline = time.time() + 30
        admin = self.admin()
        while self.leader(topic, partition) != to:
            assert time.time() < deadline, f"leader of {topic}-{partition} did not move to {to}"
            fs = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(topic, partition)])
            try:
                fs.result(timeout=30)
            except Exception:  # not in sync yet, or elected already: look again
                pass
            time.sleep(0.5)


@pytest.fixture(scope="module", params=["3.9", "4"])
def cluster(request, tmp_path_factory):
    """The two-node cluster of each Kafka generation, once per module:
    every test runs against both."""
    c = Cluster(tmp_path_factory.mktemp(f"cluster{request.param}"), request.param)
    try:
        yield c.start()
    finally:
        c.stop()


def create_upstream(cluster, topic, partitions=1, replicas=None):
    nt = (
        NewTopic(topic, num_partitions=len(replicas), replica_assignment=replicas)
        if replicas
        else NewTopic(topic, num_partitions=partitions, replication_factor=1)
    )
    admin = cluster.admin()
    admin.create_topics([nt], operation_timeout=30)[topic].result(timeout=60)
    deadline = time.time() + 30
    while True:
        md = admin.list_topics(topic, timeout=10).topics.get(topic)
        if md and not md.error and md.partitions and all(p.leader >= 0 for p in md.partitions.values()):
            return
        assert time.time() < deadline, f"{topic} has no leaders"
        time.sleep(0.2)


def start_caught_up(cluster, tmp_path, topic, **settings):
    """Eddy mirroring topic (1 partition) to an upstream partition with
    replicas on both nodes (node 1 leads), 300 records already upstream.
    Returns (broker, site, upstream topic)."""
    cfg = mirror_config(cluster, topic, **settings)
    site = cfg["site.id"]
    up = f"{site}.{topic}"
    create_upstream(cluster, up, replicas=[[1, 2]])
    b = start_eddy(tmp_path / "eddy", cfg)
    try:
        create_topic(b, topic, 1)
        produce(b.bootstrap, topic, 300, partitions=1)
        wait_caught_up(b, [topic])
    except BaseException:
        b.stop()
        raise
    return b, site, up


def test_leader_move_continues_the_transaction(cluster, tmp_path):
    """Two leader moves (1 -> 2 -> 1) while 3,000 records stream in small
    transactions: every Produce that reaches the old leader is refused
    (NOT_LEADER_OR_FOLLOWER), waits for the answers still out, and goes to
    the new leader in the same transaction: the producer epoch stays, no
    restart from the checkpoints, exactly once upstream."""
    b, site, up = start_caught_up(cluster, tmp_path, "moves", **{"mirror.transaction.max.bytes": "4096"})
    try:
        before = epochs(b)
        t = threading.Thread(target=produce, args=(b.bootstrap, "moves", 2700, 300, 1, 0.003))
        t.start()
        try:
            for to, other in ((2, 1), (1, 2)):
                time.sleep(2)
                cluster.move_leader(up, to, other)
        finally:
            t.join()
        wait_caught_up(b, ["moves"], timeout=120)
        check_exact(b, cluster, site, "moves", 3000)
        log = (b.workdir / "eddy.log").read_text()
        moved = len(re.findall(r"the leader moved", log))
        print(f"leader moves: {moved} refused Produce requests sent again to the new leader; epochs {epochs(b)}")
        assert moved >= 2, log[-4000:]
        assert "the transaction goes on" in log
        assert "starting over" not in log, log[-4000:]
        assert epochs(b) == before, (before, epochs(b))
    finally:
        b.stop()


def txn_state_partition(cluster, txn_id):
    """The __transaction_state partition whose leader coordinates txn_id:
    Java's String.hashCode, made non-negative as Kafka's Utils.abs does,
    modulo the topic's partition count."""
    h = 0
    for unit in txn_id.encode("utf-16-be").hex(" ", 2).split():
        h = (31 * h + int(unit, 16)) & 0xFFFFFFFF
    h = h - (1 << 32) if h >= 1 << 31 else h
    h = 0 if h == -(1 << 31) else abs(h)
    md = cluster.admin().list_topics("__transaction_state", timeout=10)
    return h % len(md.topics["__transaction_state"].partitions)


def test_coordinator_move_continues_the_transaction(cluster, tmp_path):
    """The leadership of the __transaction_state partition holding the
    mirror's transactional id moves to the other node and back, twice,
    while 5,000 records stream in small transactions: AddPartitionsToTxn
    or EndTxn refused with NOT_COORDINATOR (or COORDINATOR_NOT_AVAILABLE)
    looks the coordinator up again and repeats the request there, in the
    same transaction (and a Produce that a partition leader could not
    verify with the moved coordinator, NOT_ENOUGH_REPLICAS, is sent
    again): the producer epoch stays, no restart from the checkpoints,
    exactly once upstream."""
    b, site, _up = start_caught_up(cluster, tmp_path, "coord", **{"mirror.transaction.max.bytes": "4096"})
    try:
        q = txn_state_partition(cluster, f"eddy-mirror-{site}-upstream")
        first = cluster.leader("__transaction_state", q)
        other = 3 - first
        before = epochs(b)
        t = threading.Thread(target=produce, args=(b.bootstrap, "coord", 4700, 300, 1, 0.003))
        t.start()
        try:
            for to, rest in ((other, first), (first, other)) * 2:
                time.sleep(2)
                cluster.move_leader("__transaction_state", to, rest, partition=q)
        finally:
            t.join()
        wait_caught_up(b, ["coord"], timeout=120)
        check_exact(b, cluster, site, "coord", 5000)
        log = (b.workdir / "eddy.log").read_text()
        moved = re.findall(r"upstream coordinator moved to node (\d+)", log)
        print(f"coordinator moves: __transaction_state-{q} led by {first}, {other}, {first}, {other}, {first}; "
              f"the mirror followed to nodes {moved}; {log.count('not verified')} Produce refusals sent "
              f"again; epochs {epochs(b)}")
        assert "starting over" not in log, log[-4000:]
        assert epochs(b) == before, (before, epochs(b))
        assert moved, log[-4000:]
    finally:
        b.stop()


def upstream_by_src(cluster, topic):
    """{source offset: (upstream partition, upstream offset)} per source
    partition, from the eddy.src headers; each source record once."""
    out = {}
    for up_p, recs in read_all(cluster.bootstrap, topic).items():
        for off, _k, _v, h, _ts in recs:
            src = dict(h)["eddy.src"].decode()
            _t, sp, so = src.rsplit("/", 2)
            where = out.setdefault(int(sp), {})
            assert int(so) not in where, f"{src} twice upstream"
            where[int(so)] = (up_p, off)
    return out


def grow_mid_backlog(cluster, tmp_path, topic):
    """Eddy mirroring topic (3 partitions) to an upstream topic of 1
    partition under mirror.rate.bytes.per.sec, 300 records upstream, a
    backlog of 1,500 more at the site (about 20 s at the cap); the upstream
    topic then gets 3 partitions and the mirror sees it. Returns (broker,
    upstream topic, each source partition's end offset at the change)."""
    cfg = mirror_config(
        cluster,
        topic,
        **{"mirror.metadata.max.age.ms": "1000", "mirror.rate.bytes.per.sec": "5000"},
    )
    up = f"{cfg['site.id']}.{topic}"
    create_upstream(cluster, up, partitions=1)
    b = start_eddy(tmp_path / "eddy", cfg)
    try:
        create_topic(b, topic, 3)
        produce(b.bootstrap, topic, 300)
        wait_caught_up(b, [topic])
        produce(b.bootstrap, topic, 1500, start=300)
        ends = {p: len(r) for p, r in read_all(b.bootstrap, topic, committed=False).items()}
        kafka_tool(cluster.version, "kafka-topics", "--bootstrap-server", cluster.bootstrap, "--alter", "--topic",
                   up, "--partitions", "3")
        log = b.workdir / "eddy.log"
        deadline = time.time() + 30
        while "has 3 partitions now" not in log.read_text():
            assert time.time() < deadline, "the mirror never saw the new partitions"
            time.sleep(0.2)
    except BaseException:
        b.stop()
        raise
    return b, up, ends


def check_one_switch(b, cluster, topic, up, ends):
    """Every source record upstream exactly once, in order within each
    upstream partition; source partition p > 0 in upstream partition 0 up
    to one switch, in p after it, the switch at or after its end offset at
    the change."""
    local = read_all(b.bootstrap, topic, committed=False)
    got = upstream_by_src(cluster, up)
    for p, recs in local.items():
        offs = [o for o, *_ in recs]
        assert sorted(got.get(p, {})) == offs, f"source partition {p}: not exactly once upstream"
        where = [got[p][o] for o in offs]
        for q in {w[0] for w in where}:
            seq = [w[1] for w in where if w[0] == q]
            assert seq == sorted(seq), f"source partition {p}: out of order in upstream partition {q}"
        parts = [w[0] for w in where]
        if p == 0:
            assert set(parts) == {0}
            continue
        switch = parts.index(p)
        assert parts[:switch] == [0] * switch and parts[switch:] == [p] * (len(parts) - switch), (
            f"source partition {p}: more than one switch"
        )
        assert offs[switch] >= ends[p], f"source partition {p} moved at {offs[switch]}, its backlog ran to {ends[p]}"
        print(f"{topic}: source partition {p} moved to upstream partition {p} at offset {offs[switch]} "
              f"(its end at the change: {ends[p]})")


def test_partitions_added_mid_mirror(cluster, tmp_path):
    """The upstream topic has 1 partition, the source 3: every source
    partition goes to upstream partition 0 (keyed records by murmur2 of
    the key among 1). kafka-topics --alter gives it 3 while a backlog
    drains under mirror.rate.bytes.per.sec: source partitions 1 and 2
    keep going to partition 0 until their backlog is upstream, then go to
    partitions 1 and 2, once; order holds within each upstream partition
    and the switch comes after every record the site held at the change."""
    b, up, ends = grow_mid_backlog(cluster, tmp_path, "grow")
    try:
        st = wait_caught_up(b, ["grow"], timeout=120)
        assert sum(p["end"] for p in st["partitions"]) == 1800
        produce(b.bootstrap, "grow", 300, start=1800)
        wait_caught_up(b, ["grow"], timeout=120)
        check_one_switch(b, cluster, "grow", up, ends)
    finally:
        b.stop()


def test_partitions_added_then_killed(cluster, tmp_path):
    """As above, but Eddy is killed (kill -9) while the backlog held at the
    change drains, and started again: the mapping in force (the old count
    up to the end of that backlog, the new one after it) is in mirror.state,
    so the restarted mirror sends the rest of the backlog where it was
    going and switches at the same offset, not at the checkpoint it
    resumes from."""
    b, up, ends = grow_mid_backlog(cluster, tmp_path, "growkill")
    try:
        # a transaction built after the mirror saw the count has taken it
        # (the mapping is chosen as a transaction's first round is built)
        seen = status(b)["transactions"]
        deadline = time.time() + 30
        while status(b)["transactions"] < seen + 2:
            assert time.time() < deadline, "no transaction since the mirror saw the new partitions"
            time.sleep(0.1)
        done = {p["partition"]: p["mirrored"] for p in status(b)["partitions"] if p["topic"] == "growkill"}
        assert all(done[p] < ends[p] for p in (1, 2)), (done, ends)  # mid-backlog
        b.kill9()
        start_with(b)
        wait_caught_up(b, ["growkill"], timeout=120)
        produce(b.bootstrap, "growkill", 300, start=1800)
        wait_caught_up(b, ["growkill"], timeout=120)
        check_one_switch(b, cluster, "growkill", up, ends)
    finally:
        b.stop()


def test_leader_move_under_rounds(cluster, tmp_path):
    """A backlog drains in transactions of several rounds (4 KiB batches,
    a bucket of 40 KB a second) while the leader moves twice: a refusal
    waits for every Produce of every round still out, then either sends
    the last round's refused batches again or, when a refused batch was an
    earlier round's, aborts and resumes from the checkpoints. Either way
    every record is upstream exactly once."""
    settings = {"mirror.batch.bytes": "4096", "mirror.rate.bytes.per.sec": "40000"}
    b, site, up = start_caught_up(cluster, tmp_path, "rounds", **settings)
    try:
        produce(b.bootstrap, "rounds", 6000, start=300, partitions=1)  # about 15 s at the cap
        for to, other in ((2, 1), (1, 2)):
            time.sleep(2)
            cluster.move_leader(up, to, other)
        wait_caught_up(b, ["rounds"], timeout=180)
        check_exact(b, cluster, site, "rounds", 6300)
        log = (b.workdir / "eddy.log").read_text()
        print(
            f"rounds: {len(re.findall(r'the leader moved', log))} refusals, "
            f"{log.count('the transaction goes on')} continued, "
            f"{log.count('several rounds; starting over')} aborted"
        )
        assert "the leader moved" in log, log[-4000:]
    finally:
        b.stop()
