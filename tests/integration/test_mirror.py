"""The upstream mirror against a real Apache Kafka broker (single-node
KRaft from Maven Central's jars, tests/peers/kafka-broker.sh): records
produced into Eddy by Kafka and MQTT clients reach the upstream exactly
once, in order, with keys, values, headers, timestamps and provenance,
across kill -9 of Eddy (at random moments and at injected crash points),
a kill -9 of the upstream broker, a deleted checkpoint topic, a second
gateway with the same site.id and an upstream topic with fewer partitions.

Every comparison reads the upstream with isolation.level=read_committed,
as the datacenter's consumers must (docs/mirror.md).

EDDY_MIRROR_KILLS sets the number of kill -9 rounds (default 20;
`make soak-mirror` runs 200)."""

import json
import os
import random
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from paho.mqtt.enums import CallbackAPIVersion

from kafka_segments import stored_data_batches
from conftest import (
    EDDY_BIN,
    HOST,
    KAFKA_BROKER_SH,
    Broker,
    create_topic,
    java_partition,
    need,
    recording,
    run,
)
from mirror_check import assert_exact, read_all

KILLS = int(os.environ.get("EDDY_MIRROR_KILLS", "20"))
BASE_TS = int(time.time() * 1000) - 3_600_000
CRASH_POINTS = ["before-produce", "after-produce", "before-endtxn", "after-endtxn"]


class Upstream:
    """The datacenter's Kafka: start, kill -9, restart on the same port."""

    def __init__(self, workdir):
        self.dir = workdir
        self.port = 0

    @property
    def bootstrap(self):
        return f"{HOST}:{self.port}"

    def start(self):
        run([need(KAFKA_BROKER_SH), "start", self.dir, self.port, "3.9"], timeout=150)
        self.port = int((self.dir / "kafka.port").read_text())
        return self

    def kill9(self):
        run([need(KAFKA_BROKER_SH), "kill", self.dir], timeout=60)

    def stop(self):
        run([need(KAFKA_BROKER_SH), "stop", self.dir], timeout=90, check=False)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    u = Upstream(tmp_path_factory.mktemp("upstream")).start()
    yield u
    u.stop()


_sites = iter(range(1, 10**6))


def mirror_config(upstream, topics, **extra):
    site = f"site{next(_sites)}-{random.randrange(10**6)}"
    cfg = {
        "site.id": site,
        "mirror.bootstrap.servers": upstream.bootstrap,
        "mirror.topics": topics,
        "mirror.linger.ms": "20",
        "mirror.request.timeout.ms": "10000",
    }
    cfg.update(extra)
    return cfg


def start_eddy(workdir, config, crash_at=None):
    b = Broker(workdir, config)
    start_with(b, crash_at)
    return b


def start_with(b, crash_at=None):
    """Starts (or restarts, same ports) b, with a crash point when given."""
    old = os.environ.pop("EDDY_MIRROR_CRASH_AT", None)
    if crash_at:
        os.environ["EDDY_MIRROR_CRASH_AT"] = crash_at
    try:
        b.start()
    finally:
        os.environ.pop("EDDY_MIRROR_CRASH_AT", None)
        if old is not None:
            os.environ["EDDY_MIRROR_CRASH_AT"] = old


def status(b):
    try:
        return json.loads((b.log_dir / "mirror-status.json").read_text())
    except (OSError, ValueError):
        return None


def wait_caught_up(b, topics, timeout=120):
    """Until the status file shows every partition of topics mirrored up to
    the end of its log (and the log holds what was produced)."""
    deadline = time.time() + timeout
    st = None
    while time.time() < deadline:
        st = status(b)
        if st and st["state"] == "mirroring":
            parts = [p for p in st["partitions"] if p["topic"] in topics]
            if parts and {p["topic"] for p in parts} == set(topics) and all(
                p["mirrored"] == p["end"] for p in parts
            ):
                return st
        time.sleep(0.2)
    raise AssertionError(f"mirror not caught up: {st}\n{b.log_tail()}")


def wait_status(b, pred, what, timeout=60):
    deadline = time.time() + timeout
    st = None
    while time.time() < deadline:
        st = status(b)
        if st and pred(st):
            return st
        time.sleep(0.2)
    raise AssertionError(f"status never {what}: {st}\n{b.log_tail()}")


def produce(bootstrap, topic, n, start=0, partitions=3, pace=0.0):
    """n keyed records with headers and explicit CreateTimes, acks=all
    (pace: seconds between records)."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "message.timeout.ms": 120000})
    # CreateTimes of today: the upstream's time retention (7 days) would
    # delete older records in the middle of a test
    base = BASE_TS
    for i in range(start, start + n):
        p.produce(
            topic,
            key=f"key-{i}".encode(),
            value=f"value-{i}-".encode() * (1 + i % 7),
            headers=[("seq", str(i).encode()), ("kind", b"test")],
            timestamp=base + i,
            partition=i % partitions,
        )
        if pace:
            p.poll(0)
            time.sleep(pace)
    assert p.flush(60) == 0
    return n


def test_mirror_copies_kafka_and_mqtt_records_exactly(upstream, tmp_path):
    cfg = mirror_config(upstream, "turbine-.*,alarms\\..*")
    site = cfg["site.id"]
    b = start_eddy(tmp_path / "eddy", cfg)
    try:
        create_topic(b, "turbine-a", 3)
        produce(b.bootstrap, "turbine-a", 2000)
        # MQTT publishers while the mirror runs: alarms/x maps to alarms.x
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="pub-1")
        c.connect(HOST, b.mqtt_port)
        c.loop_start()
        infos = [c.publish("alarms/x", f"alarm {i}".encode(), qos=1) for i in range(300)]
        for info in infos:
            info.wait_for_publish(30)
        c.loop_stop()
        c.disconnect()
        produce(b.bootstrap, "turbine-a", 1000, start=2000)
        wait_caught_up(b, ["turbine-a", "alarms.x"])
        for topic in ["turbine-a", "alarms.x"]:
            local = read_all(b.bootstrap, topic, committed=False)
            up = read_all(upstream.bootstrap, f"{site}.{topic}")
            assert sum(len(r) for r in local.values()) == (3000 if topic == "turbine-a" else 300)
            assert_exact(local, up, site, topic)
        st = status(b)
        assert st["link"] == "up" and st["last_error"] == ""
        assert all(p["lag"] == 0 and p["state"] == "caught-up" for p in st["partitions"])
        out = run([str(EDDY_BIN), "mirror", "status", "--data", str(b.log_dir)]).stdout.decode()
        assert f"site {site} -> {upstream.bootstrap}: mirroring (link up)" in out, out
        assert "turbine-a                                2         " in out and "caught-up" in out, out
    finally:
        b.stop()


def test_mirror_kill9_loop_no_gap_no_duplicate(upstream, tmp_path):
    # Small transactions, so that kills land inside them.
    cfg = mirror_config(upstream, "soak", **{"mirror.transaction.max.bytes": "2048"})
    site = cfg["site.id"]
    b = start_eddy(tmp_path / "eddy", cfg)
    rnd = random.Random(12)
    produced = 0
    try:
        create_topic(b, "soak", 3)
        for i in range(KILLS):
            point = CRASH_POINTS[(i // 2) % 4] if i % 2 else None
            if point:
                # Eddy ends itself at the n-th pass of the crash point while
                # a producer writes into it (its retries reach the restart)
                b.kill9()
                try:
                    start_with(b, f"{point}:{rnd.randint(1, 4)}")
                except AssertionError:
                    # the backlog took it to the crash point before it was seen ready
                    assert "crash point" in b.log_tail(5), b.log_tail()
                    b.kill9()
                    start_with(b)
                    continue
                t = threading.Thread(target=produce, args=(b.bootstrap, "soak", 150, produced), kwargs={"pace": 0.002})
                t.start()
                deadline = time.time() + 60
                while b.alive() and time.time() < deadline:
                    time.sleep(0.02)
                assert not b.alive(), f"crash point {point} never reached:\n{b.log_tail()}"
                b._forget()
                start_with(b)
                t.join()
                produced += 150
            else:
                produced += produce(b.bootstrap, "soak", 150, start=produced)
                time.sleep(rnd.uniform(0.0, 0.3))
                b.kill9()
                start_with(b)
        wait_caught_up(b, ["soak"], timeout=180)
        local = read_all(b.bootstrap, "soak", committed=False)
        # acked records are all there (a retry across a crash may add a copy locally)
        assert sum(len(r) for r in local.values()) >= produced
        up = read_all(upstream.bootstrap, f"{site}.soak")
        assert_exact(local, up, site, "soak")
        log = (b.workdir / "eddy.log").read_text()
        for point in CRASH_POINTS[: min(4, KILLS // 2)]:
            assert f"crash point {point} reached" in log, point
    finally:
        b.stop()


def test_mirror_survives_upstream_kill9(upstream, tmp_path):
    cfg = mirror_config(upstream, "up", **{"mirror.transaction.max.bytes": "4096"})
    site = cfg["site.id"]
    b = start_eddy(tmp_path / "eddy", cfg)
    try:
        create_topic(b, "up", 2)
        produce(b.bootstrap, "up", 1000, partitions=2)
        time.sleep(0.3)
        upstream.kill9()
        produce(b.bootstrap, "up", 500, start=1000, partitions=2)
        wait_status(b, lambda s: s["state"] != "mirroring" or s["link"] != "up", "down")
        upstream.start()
        wait_caught_up(b, ["up"], timeout=180)
        local = read_all(b.bootstrap, "up", committed=False)
        up = read_all(upstream.bootstrap, f"{site}.up")
        assert_exact(local, up, site, "up")
    finally:
        b.stop()


def delete_upstream_topic(upstream, topic):
    """Deletes topic upstream and waits until it is gone; returns the admin client."""
    admin = AdminClient({"bootstrap.servers": upstream.bootstrap})
    admin.delete_topics([topic], operation_timeout=30)[topic].result(60)
    deadline = time.time() + 30
    while topic in admin.list_topics(timeout=10).topics and time.time() < deadline:
        time.sleep(0.2)
    return admin


def test_mirror_refuses_when_checkpoint_topic_deleted(upstream, tmp_path):
    ck = f"__ck_{random.randrange(10**6)}"
    cfg = mirror_config(upstream, "ckdel", **{"mirror.checkpoint.topic": ck})
    site = cfg["site.id"]
    b = start_eddy(tmp_path / "eddy", cfg)
    try:
        create_topic(b, "ckdel", 1)
        produce(b.bootstrap, "ckdel", 100, partitions=1)
        wait_caught_up(b, ["ckdel"])
        b.stop()
        admin = delete_upstream_topic(upstream, ck)
        start_with(b)
        produce(b.bootstrap, "ckdel", 50, start=100, partitions=1)
        st = wait_status(b, lambda s: s["state"] == "error", "error")
        assert "checkpoint" in st["last_error"] and "refusing" in st["last_error"], st
        assert "refusing to mirror" in (b.workdir / "eddy.log").read_text()
        time.sleep(2)
        up = read_all(upstream.bootstrap, f"{site}.ckdel")
        assert len(up[0]) == 100  # nothing more, nothing again
        assert ck not in admin.list_topics(timeout=10).topics
    finally:
        b.stop()


def test_mirror_same_site_twice_one_is_fenced(upstream, tmp_path):
    cfg = mirror_config(upstream, "twin")
    site = cfg["site.id"]
    a = start_eddy(tmp_path / "a", cfg)
    b = None
    try:
        create_topic(a, "twin", 1)
        produce(a.bootstrap, "twin", 200, partitions=1)
        wait_caught_up(a, ["twin"])
        time.sleep(5.5)  # past the grace in which a fenced mirror takes the link back once
        b = start_eddy(tmp_path / "b", cfg)
        create_topic(b, "twin", 1)
        produce(b.bootstrap, "twin", 20, partitions=1)
        # b took the transactional id over (fencing a) and then refuses:
        # the upstream checkpoint is beyond its own log
        st_b = wait_status(b, lambda s: s["state"] == "error", "error")
        assert "same site.id" in st_b["last_error"], st_b
        produce(a.bootstrap, "twin", 50, start=200, partitions=1)
        st_a = wait_status(a, lambda s: s["state"] == "fenced", "fenced")
        assert "fenced" in st_a["last_error"]
        assert "fenced" in (a.workdir / "eddy.log").read_text()
        res = run([str(EDDY_BIN), "mirror", "status", "--data", str(a.log_dir)], check=False)
        assert res.returncode == 1 and b"fenced" in res.stdout, res
        up = read_all(upstream.bootstrap, f"{site}.twin")
        srcs = [dict(h)["eddy.src"].decode() for _o, _k, _v, h, _t in up[0]]
        assert srcs == [f"twin/0/{i}" for i in range(200)]
    finally:
        a.stop()
        if b:
            b.stop()


def test_mirror_to_upstream_topic_with_fewer_partitions(upstream, tmp_path):
    cfg = mirror_config(upstream, "wide")
    site = cfg["site.id"]
    admin = AdminClient({"bootstrap.servers": upstream.bootstrap})
    admin.create_topics([NewTopic(f"{site}.wide", num_partitions=2, replication_factor=1)])[
        f"{site}.wide"
    ].result(60)
    b = start_eddy(tmp_path / "eddy", cfg)
    try:
        create_topic(b, "wide", 4)
        produce(b.bootstrap, "wide", 800, partitions=4)
        wait_caught_up(b, ["wide"])
        local = read_all(b.bootstrap, "wide", committed=False)
        up = read_all(upstream.bootstrap, f"{site}.wide")
        assert sorted(up) == [0, 1]
        assert_spread(local, up, "wide")
    finally:
        b.stop()


def assert_spread(local, up, topic):
    """Upstream has fewer partitions than the source: source partition p
    went to p while p is below their count, else a keyed record to the
    murmur2 partition of its key, an unkeyed one to p mod the count; each
    record exactly once, in source order."""
    n = len(up)
    seen = {}
    for up_p, recs in up.items():
        last = {}
        for _o, k, v, h, ts in recs:
            src = dict(h)["eddy.src"].decode()
            _t, sp, so = src.rsplit("/", 2)
            sp, so = int(sp), int(so)
            assert src not in seen, f"duplicate {src}"
            seen[src] = (k, v, ts)
            assert up_p == (sp if sp < n else java_partition(k, n) if k is not None else sp % n), (src, k, up_p)
            assert so > last.get(sp, -1), "order within a source partition"
            last[sp] = so
    want = {f"{topic}/{p}/{o}": (k, v, ts) for p, recs in local.items() for o, k, v, _h, ts in recs}
    assert seen == want


CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def upstream_batches(upstream, topic):
    """(codec, bytes) of every data batch in the upstream's segment files of
    topic (control batches left out): what the mirror sent, as stored."""
    return stored_data_batches(upstream.dir / "data", topic)


@pytest.mark.parametrize("codec", [None, "gzip", "lz4", "none"])
def test_mirror_compresses_batches(upstream, tmp_path, codec):
    # The wind turbine recording: the upstream's batches carry the codec
    # (zstd unless set) and read_committed still sees every record
    # byte-identical. Prints wire bytes per payload byte.
    cfg = mirror_config(upstream, "scada")
    if codec:
        cfg["mirror.compression.type"] = codec
    site = cfg["site.id"]
    lines = recording("wind-turbine-scada-T1.csv").read_bytes().splitlines()[1:20001]
    b = start_eddy(tmp_path / "eddy", cfg)
    try:
        create_topic(b, "scada", 2)
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 5})
        for i, line in enumerate(lines):
            p.produce("scada", key=b"T1", value=line, timestamp=BASE_TS + i, partition=i % 2)
        assert p.flush(60) == 0
        wait_caught_up(b, ["scada"])
        local = read_all(b.bootstrap, "scada", committed=False)
        up = read_all(upstream.bootstrap, f"{site}.scada")
        assert sum(len(r) for r in local.values()) == len(lines)
        assert_exact(local, up, site, "scada")
        batches = upstream_batches(upstream, f"{site}.scada")
        assert batches and {c for c, _n in batches} == {CODECS[codec or "zstd"]}
        payload = sum(len(k or b"") + len(v or b"") for r in local.values() for _o, k, v, _h, _t in r)
        wire = sum(n for _c, n in batches)
        print(f"mirror.compression.type={codec or 'zstd'}: {wire} batch bytes for {payload} payload bytes = {wire / payload:.3f}")
    finally:
        b.stop()


def test_mirror_wakes_on_append(upstream, tmp_path):
    # mirror.linger.ms of a minute: a mirror that looked for new records
    # only every linger.ms would leave them for a minute. Each round appends
    # more than mirror.batch.bytes, which wakes the sleeping mirror at once.
    cfg = mirror_config(upstream, "woken", **{"mirror.linger.ms": "60000", "mirror.batch.bytes": "1024"})
    b = start_eddy(tmp_path / "eddy", cfg)
    try:
        create_topic(b, "woken", 1)
        for n in (200, 400, 600):
            produce(b.bootstrap, "woken", 200, start=n - 200, partitions=1)
            wait_status(
                b,
                lambda st, n=n: any(p["topic"] == "woken" and p["mirrored"] == n for p in st["partitions"]),
                f"woken mirrored up to {n}",
                timeout=30,
            )
        local = read_all(b.bootstrap, "woken", committed=False)
        up = read_all(upstream.bootstrap, f"{cfg['site.id']}.woken")
        assert_exact(local, up, cfg["site.id"], "woken")
    finally:
        b.stop()


def test_mirror_rate_cap(upstream, tmp_path):
    # A backlog of 1 MB of incompressible records under a cap of 100 kB/s:
    # upstream at least 1 MB / rate minus two buckets (the first, full one
    # and the last transaction's) after it began; everything exactly once.
    rate = 100_000
    cfg = mirror_config(
        upstream, "capped", **{"mirror.rate.bytes.per.sec": str(rate), "mirror.compression.type": "none"}
    )
    b = start_eddy(tmp_path / "eddy", cfg)
    try:
        create_topic(b, "capped", 2)
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 5})
        rnd = random.Random(7)
        t0 = time.monotonic()
        for i in range(1000):
            p.produce("capped", key=f"k{i}".encode(), value=rnd.randbytes(1000), timestamp=BASE_TS + i, partition=i % 2)
        assert p.flush(60) == 0
        wait_status(
            b,
            lambda st: sum(p["mirrored"] for p in st["partitions"] if p["topic"] == "capped") == 1000,
            "capped mirrored up to 1000",
            timeout=120,
        )
        took = time.monotonic() - t0
        print(f"1,000,000 payload bytes at {rate} B/s took {took:.1f} s")
        assert took >= 1_000_000 / rate - 2
        local = read_all(b.bootstrap, "capped", committed=False)
        up = read_all(upstream.bootstrap, f"{cfg['site.id']}.capped")
        assert sum(len(r) for r in local.values()) == 1000
        assert_exact(local, up, cfg["site.id"], "capped")
    finally:
        b.stop()


def test_mirror_bad_settings_stop_startup(tmp_path):
    b = Broker(tmp_path / "eddy", {"mirror.bootstrap.servers": "127.0.0.1:1"})
    with pytest.raises(AssertionError):
        b.start()
    assert "site.id" in (tmp_path / "eddy" / "eddy.log").read_text()
    b._forget()


def log_start(b, topic):
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "lso"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[0]
    finally:
        c.close()


def test_retention_keeps_unmirrored_segments(upstream, tmp_path):
    # Retention of 1 ms and small segments: a topic that is not mirrored
    # loses its old segments, a mirrored one keeps them while the upstream
    # is unreachable, and lets them go once they are upstream.
    dead = Upstream(tmp_path / "nowhere")
    dead.port = 1  # nothing listens there
    cfg = mirror_config(dead, "kept", **{"log.retention.check.interval.ms": "100"})
    b = start_eddy(tmp_path / "eddy", cfg)
    try:
        small = {"segment.bytes": "2000", "retention.ms": "1"}
        create_topic(b, "kept", 1, config=small)
        create_topic(b, "other", 1, config=small)
        for i in range(0, 200, 10):  # one batch each: segments roll
            produce(b.bootstrap, "kept", 10, start=i, partitions=1)
            produce(b.bootstrap, "other", 10, start=i, partitions=1)
        deadline = time.time() + 30
        while log_start(b, "other") == 0 and time.time() < deadline:
            time.sleep(0.2)
        assert log_start(b, "other") > 0, "retention never ran"
        time.sleep(1)
        assert log_start(b, "kept") == 0
        b.stop()
        b.config["mirror.bootstrap.servers"] = upstream.bootstrap
        start_with(b)
        wait_caught_up(b, ["kept"])
        deadline = time.time() + 30
        while log_start(b, "kept") == 0 and time.time() < deadline:
            time.sleep(0.2)
        assert log_start(b, "kept") > 0
        up = read_all(upstream.bootstrap, f"{cfg['site.id']}.kept")
        assert len(up[0]) == 200
    finally:
        b.stop()
