"""The mirror when the disk fills while the link is down, against a real
Apache Kafka broker (tests/peers/kafka-broker.sh): mirror.on.full=block
refuses new data cleanly (Kafka KAFKA_STORAGE_ERROR, MQTT 5 reason 0x97)
and deletes nothing that is not upstream yet, even under
log.dir.full.policy=delete-oldest; mirror.on.full=drop-oldest deletes the
oldest unmirrored segments, keeps each dropped range across a restart,
shows it in the status and announces it upstream as a gap record in the
checkpoint topic, and the upstream then holds everything except exactly
those ranges. mirror.priority: live records of a high-priority topic go
upstream while a low-priority backlog still drains. Every upstream read is
read_committed (docs/mirror.md). mirror.resume.fallback=scan: with the
checkpoint topic deleted, the mirror finds its resume points from the
eddy.src headers upstream and goes on with no gap and no duplicate."""

import json
import random
import re
import time
import urllib.request

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

import kwire
from conftest import EDDY_BIN, HOST, Broker, create_topic, run
from test_disk_full import KAFKA_STORAGE_ERROR, mqtt5_publish_reason
from test_mirror import (  # noqa: F401 (upstream is a fixture)
    BASE_TS,
    Upstream,
    assert_exact,
    delete_upstream_topic,
    mirror_config,
    produce,
    read_all,
    start_eddy,
    start_with,
    status,
    upstream,
    wait_caught_up,
    wait_status,
)

BUDGET = 60_000
SMALL_SEGMENTS = {"segment.bytes": "8000"}


def disk_settings(**extra):
    cfg = {
        "log.dir.budget.bytes": str(BUDGET),
        "log.dir.min.free.bytes": "0",
        "log.dir.full.policy": "delete-oldest",
        "log.retention.check.interval.ms": "100",
    }
    cfg.update(extra)
    return cfg


def produce_idempotent(bootstrap, topic, start, n):
    """n records key-i / value-i (i from start), in order (idempotent,
    acks=all); returns the delivery errors."""
    errors = []
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5, "batch.num.messages": 20})
    for i in range(start, start + n):
        p.produce(
            topic,
            key=f"key-{i}".encode(),
            value=f"value-{i}-".encode() * 8,
            timestamp=BASE_TS + i,
            partition=0,
            on_delivery=lambda err, msg: err and errors.append(err),
        )
        p.poll(0)
    assert p.flush(120) == 0
    return errors


def segments(b, topic):
    return sorted(p.name for p in (b.log_dir / f"{topic}-0").glob("*.log"))


def src_offset(headers):
    src = dict(headers)["eddy.src"].decode()
    return int(src.rsplit("/", 1)[1])


def test_block_refuses_new_data_and_keeps_unmirrored(upstream, tmp_path):
    # The link is down from the start and the disk guard may delete (delete-oldest),
    # but under mirror.on.full=block (the default) nothing unmirrored goes: new
    # data is refused with clean errors and the log does not change. Once the
    # link is back everything reaches the upstream, no gap.
    dead = Upstream(tmp_path / "nowhere")
    dead.port = 1  # nothing listens there
    cfg = mirror_config(dead, "blk", **disk_settings())
    site = cfg["site.id"]
    b = start_eddy(tmp_path / "eddy", cfg)
    try:
        create_topic(b, "blk", 1, config=SMALL_SEGMENTS)
        acked = 0
        with b.conn() as c:
            c.metadata(["blk"])
            for i in range(0, 2000, 10):
                batch = kwire.record_batch([(b"k", b"record-%05d-" % j + b"x" * 200) for j in range(i, i + 10)])
                err = c.produce({"blk": {0: batch}}, acks=-1)["topics"]["blk"][0]["error"]
                if err != kwire.NONE:
                    assert err == KAFKA_STORAGE_ERROR
                    break
                acked += 10
            assert 0 < acked < 2000, "the budget never refused"
            for _ in range(200):  # to the brim: even the smallest record is refused
                batch = kwire.record_batch([(b"k", b"r")])
                err = c.produce({"blk": {0: batch}}, acks=-1)["topics"]["blk"][0]["error"]
                if err != kwire.NONE:
                    assert err == KAFKA_STORAGE_ERROR
                    break
                acked += 1
            assert err == KAFKA_STORAGE_ERROR
        before = segments(b, "blk")
        assert len(before) > 3
        # a librdkafka producer sees the error (no retries: at once)
        p = Producer({"bootstrap.servers": b.bootstrap, "retries": 0, "acks": "all"})
        errs = []
        p.produce("blk", b"one more", partition=0, on_delivery=lambda err, msg: errs.append(err))
        p.flush(30)
        assert len(errs) == 1 and errs[0] is not None and errs[0].code() == KAFKA_STORAGE_ERROR, errs
        assert mqtt5_publish_reason(b, "blk") == 0x97
        # nothing changed: every acknowledged record still there, nothing deleted
        assert segments(b, "blk") == before
        local = read_all(b.bootstrap, "blk", committed=False)
        assert [o for o, *_ in local[0]] == list(range(acked))
        log = (b.workdir / "eddy.log").read_text(errors="replace")
        assert "the rest is not mirrored yet" in log
        assert "disk guard (log.dir.full.policy=delete-oldest): deleting" not in log
        # the link comes back: everything goes upstream, then room is made again
        b.stop()
        b.config["mirror.bootstrap.servers"] = upstream.bootstrap
        start_with(b)
        wait_caught_up(b, ["blk"])
        up = read_all(upstream.bootstrap, f"{site}.blk")
        assert [src_offset(h) for _o, _k, _v, h, _t in up[0]] == list(range(acked))
        assert [(k, v) for _o, k, v, _h, _t in up[0]] == [(k, v) for _o, k, v, _h, _t in local[0]]
        with b.conn() as c:
            c.metadata(["blk"])
            batch = kwire.record_batch([(b"k", b"after the link came back")])
            assert c.produce({"blk": {0: batch}}, acks=-1)["topics"]["blk"][0]["error"] == kwire.NONE
    finally:
        b.stop()


def test_drop_oldest_needs_delete_oldest_policy(tmp_path):
    # Dropping unmirrored data deletes acknowledged data: the operator must
    # have chosen log.dir.full.policy=delete-oldest too.
    cfg = mirror_config(Upstream(tmp_path / "x"), "t", **{"mirror.on.full": "drop-oldest"})
    cfg["mirror.bootstrap.servers"] = "127.0.0.1:1"
    b = Broker(tmp_path / "eddy", cfg)
    with pytest.raises(AssertionError):
        b.start()
    assert "needs log.dir.full.policy=delete-oldest" in (tmp_path / "eddy" / "eddy.log").read_text()
    b._forget()


def checkpoint_records(upstream, site):
    """The records of the checkpoint topic for site: {key: value}, in order."""
    out = {}
    for recs in read_all(upstream.bootstrap, "__eddy_mirror_checkpoints").values():
        for _o, k, v, _h, _t in recs:
            if k and k.decode().startswith(site + "|"):
                out[k.decode()] = v.decode()
    return out


def test_drop_oldest_announces_exactly_the_dropped_ranges(upstream, tmp_path):
    # Mirrored up to 200, then the upstream broker stops and 1,000 more records
    # arrive into a 60 kB budget: the guard deletes the mirrored segments, then
    # the oldest unmirrored ones, and every producer is acknowledged. The
    # dropped ranges survive a restart of Eddy; once the upstream is back it
    # holds every record except exactly those ranges, and one gap record in
    # the checkpoint topic names them.
    cfg = mirror_config(upstream, "drp", **disk_settings(**{"mirror.on.full": "drop-oldest"}))
    site = cfg["site.id"]
    b = start_eddy(tmp_path / "eddy", cfg)
    stopped = False
    try:
        create_topic(b, "drp", 1, config=SMALL_SEGMENTS)
        assert produce_idempotent(b.bootstrap, "drp", 0, 200) == []
        wait_caught_up(b, ["drp"])
        upstream.stop()
        stopped = True
        assert produce_idempotent(b.bootstrap, "drp", 200, 1000) == []
        st = wait_status(b, lambda s: s.get("dropped"), "showing dropped ranges")
        assert all(not g["announced"] for g in st["dropped"])
        log = (b.workdir / "eddy.log").read_text(errors="replace")
        assert "dropped before they were mirrored" in log
        # Prometheus sees the drops (counted since this start) and the backlog
        assert st["dropped_ranges"] > 0 and st["dropped_records"] > 0
        metrics = urllib.request.urlopen(f"http://{HOST}:{b.http_port}/metrics", timeout=10).read().decode()
        assert f"eddy_mirror_dropped_ranges_total {st['dropped_ranges']}\n" in metrics, metrics
        assert f"eddy_mirror_dropped_records_total {st['dropped_records']}\n" in metrics, metrics
        lag = re.search(r'^eddy_mirror_lag\{topic="drp",partition="0"\} (\d+)$', metrics, re.M)
        assert lag and int(lag.group(1)) > 0, metrics
        # the ranges are durable: a restart still knows them
        b.stop()
        start_with(b)
        st = wait_status(b, lambda s: s.get("dropped"), "showing dropped ranges after a restart")
        dropped = [(g["first"], g["last"], g["records"]) for g in st["dropped"]]
        assert dropped and all(not g["announced"] for g in st["dropped"])
        assert all(g["topic"] == "drp" and g["partition"] == 0 for g in st["dropped"])
        shown = run([EDDY_BIN, "mirror", "status", "--data", str(b.log_dir)], check=False)
        assert b"waiting" in shown.stdout, shown.stdout
        upstream.start()
        stopped = False
        wait_caught_up(b, ["drp"])
        st = wait_status(b, lambda s: all(g["announced"] for g in s["dropped"]), "announcing")
        assert [(g["first"], g["last"], g["records"]) for g in st["dropped"]] == dropped
        # the upstream: every record except exactly the dropped ranges, once, in order
        up = read_all(upstream.bootstrap, f"{site}.drp")[0]
        offs = [src_offset(h) for _o, _k, _v, h, _t in up]
        assert offs == sorted(set(offs)), "duplicates or disorder upstream"
        for _o, k, v, h, _t in up:
            i = src_offset(h)
            assert (k, v) == (f"key-{i}".encode(), f"value-{i}-".encode() * 8)
        missing = sorted(set(range(1200)) - set(offs))
        assert missing, "nothing was dropped"
        want = set()
        for first, last, _n in dropped:
            want |= set(range(first, last + 1))
        assert set(missing) == want
        assert sum(n for _f, _l, n in dropped) == len(missing)
        # the gap record names them: key site|topic|partition|gap|first
        gaps = {k: json.loads(v) for k, v in checkpoint_records(upstream, site).items() if "|gap|" in k}
        named = set()
        for k, g in gaps.items():
            assert k == f"{site}|drp|0|gap|{g['first']}"
            assert (g["site"], g["topic"], g["partition"]) == (site, "drp", 0)
            named |= set(range(g["first"], g["last"] + 1))
        assert named == set(missing)
        assert sum(g["records"] for g in gaps.values()) == len(missing)
        assert checkpoint_records(upstream, site)[f"{site}|drp|0"] == str(1200)
    finally:
        b.stop()
        if stopped:
            upstream.start()


def wait_upstream_count(bootstrap, topic, n, timeout=120):
    """Polls partition 0 of topic (read_committed) until n records are seen."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"watch-{random.randrange(10**9)}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        seen = 0
        deadline = time.time() + timeout
        while seen < n and time.time() < deadline:
            msg = c.poll(0.2)
            if msg is not None and not msg.error():
                seen += 1
        assert seen == n, f"{topic}: {seen} of {n} records upstream"
    finally:
        c.close()


def test_priority_live_topic_overtakes_backlog(upstream, tmp_path):
    # A backlog of 24 low-priority partitions (5 kB each) builds while the link
    # is down; under a 5 kB/s cap it drains one partition per transaction. Five
    # records produced to the high-priority topic once the drain has begun are
    # upstream while most of the backlog still waits (round robin alone would
    # reach that topic, the last partition, only after the whole backlog).
    # Then everything is upstream exactly once, in order.
    dead = Upstream(tmp_path / "nowhere")
    dead.port = 1  # nothing listens there
    cfg = mirror_config(
        dead,
        "bulk,alarms",
        **{
            "mirror.priority": "alarms:100, bulk:1",
            "mirror.rate.bytes.per.sec": "5000",
            "mirror.compression.type": "none",
        },
    )
    site = cfg["site.id"]
    b = start_eddy(tmp_path / "eddy", cfg)
    try:
        create_topic(b, "bulk", 24)
        create_topic(b, "alarms", 1)
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 5})
        rnd = random.Random(3)
        for i in range(24 * 5):
            p.produce("bulk", key=f"b{i}".encode(), value=rnd.randbytes(1000), timestamp=BASE_TS + i, partition=i % 24)
        assert p.flush(60) == 0
        b.stop()
        b.config["mirror.bootstrap.servers"] = upstream.bootstrap
        start_with(b)
        bulk_done = lambda st: sum(x["mirrored"] for x in st["partitions"] if x["topic"] == "bulk")  # noqa: E731
        wait_status(b, lambda st: bulk_done(st) > 0, "draining the backlog")
        for i in range(5):
            p.produce("alarms", key=b"a", value=f"alarm-{i}".encode(), timestamp=BASE_TS + i, partition=0)
        assert p.flush(60) == 0
        wait_upstream_count(upstream.bootstrap, f"{site}.alarms", 5)
        done = bulk_done(status(b))
        print(f"alarms upstream with {done} of 120 backlog records mirrored")
        assert done < 120, "the alarms waited for the whole backlog"
        wait_caught_up(b, ["bulk", "alarms"], timeout=180)
        for topic in ("bulk", "alarms"):
            local = read_all(b.bootstrap, topic, committed=False)
            assert_exact(local, read_all(upstream.bootstrap, f"{site}.{topic}"), site, topic)
    finally:
        b.stop()


def test_scan_fallback_resumes_after_checkpoint_topic_deleted(upstream, tmp_path):
    # As test_mirror's refusal test, with mirror.resume.fallback=scan: the
    # mirror recreates the checkpoint topic, scans each upstream partition
    # back for the last record of its source partition and resumes after
    # it: upstream then holds every record exactly once.
    ck = f"__ck_scan_{random.randrange(10**6)}"
    cfg = mirror_config(upstream, "scn", **{"mirror.checkpoint.topic": ck, "mirror.resume.fallback": "scan"})
    site = cfg["site.id"]
    b = start_eddy(tmp_path / "eddy", cfg)
    try:
        create_topic(b, "scn", 2)
        produce(b.bootstrap, "scn", 3000, partitions=2)
        wait_caught_up(b, ["scn"])
        b.stop()
        delete_upstream_topic(upstream, ck)
        start_with(b)
        produce(b.bootstrap, "scn", 500, start=3000, partitions=2)
        wait_caught_up(b, ["scn"])
        log = (b.workdir / "eddy.log").read_text()
        assert "refusing" not in log
        assert log.count("(mirror.resume.fallback=scan)") >= 3  # the topic, then each partition
        local = read_all(b.bootstrap, "scn", committed=False)
        assert sum(len(r) for r in local.values()) == 3500
        assert_exact(local, read_all(upstream.bootstrap, f"{site}.scn"), site, "scn")
    finally:
        b.stop()
