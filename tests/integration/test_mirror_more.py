"""The mirror next to other writers and other partition counts, against a
real Apache Kafka broker (tests/peers/kafka-broker.sh): a plain producer
and a transactional one (some of its transactions aborted) write into the
same upstream topic while Eddy mirrors into it and is killed with -9; the
mirror's records are there exactly once, in source order, interleaved with
the other writers' ones, which are all there too. The scan fallback
(mirror.resume.fallback=scan) finds this site's own last record behind
thousands of other writers' ones, and passes over records that carry
another site's provenance, or this site's for another source partition.
An upstream topic with more partitions than the source gets each source
partition in the partition of the same number (the others stay empty);
one with fewer gets keyed records by murmur2 of the key and unkeyed ones
by source partition modulo the count.

Once caught up, the mirror lets go of the buffers and the zstd context
a backlog made it grow (Eddy's own heap count, /metrics).

SIGHUP reloads the uplink's security settings from the configuration
file (mirror.ssl.ca.location, then mirror.sasl.password fixed there) with
no restart, and the mirror then resumes from its checkpoints exactly once.

Every upstream read is read_committed (docs/mirror.md)."""

import os
import random
import signal
import threading
import time
import urllib.request

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import EDDY_BIN, Broker, create_topic
from test_mirror import BASE_TS, assert_exact, assert_spread, delete_upstream_topic, mirror_config, produce, read_all
from test_mirror import start_eddy, start_with, status, wait_caught_up, wait_status
from test_mirror import upstream  # noqa: F401 (a fixture)
from test_mirror_link import PASSWORD, check_exact, secure, secure_config  # noqa: F401 (secure is a fixture)
from test_tls import pki  # noqa: F401 (a fixture secure needs)


def create_upstream(upstream, topic, partitions):
    admin = AdminClient({"bootstrap.servers": upstream.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(60)


def split_by_site(up, site):
    """Upstream records {partition: [...]} split into this site's mirror
    records and everyone else's."""
    mine, others = {}, {}
    for p, recs in up.items():
        mine[p] = [r for r in recs if ("eddy.site", site.encode()) in r[3]]
        others[p] = [r for r in recs if ("eddy.site", site.encode()) not in r[3]]
    return mine, others


def other_writer(bootstrap, topic, n, partitions, tag, transactional=False, abort_every=0):
    """n records value tag-i (i from 0) with header writer=tag into topic,
    round robin over partitions; transactional: transactions of 25
    records, every abort_every-th aborted (with its records). Returns the
    values that must be visible, per partition, in order."""
    conf = {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 2, "enable.idempotence": True}
    if transactional:
        conf["transactional.id"] = f"other-{tag}"
    p = Producer(conf)
    if transactional:
        p.init_transactions(60)
    visible = {q: [] for q in range(partitions)}
    i = 0
    txn = 0
    while i < n:
        step = 25 if transactional else 1
        if transactional:
            p.begin_transaction()
        batch = []
        for _ in range(step):
            v = f"{tag}-{i}".encode()
            p.produce(topic, value=v, key=f"{tag}-key-{i}".encode(), headers=[("writer", tag.encode())], partition=i % partitions)
            batch.append((i % partitions, v))
            i += 1
        if transactional:
            txn += 1
            if abort_every and txn % abort_every == 0:
                p.abort_transaction(60)
                continue
            p.commit_transaction(60)
        else:
            p.poll(0)
        for q, v in batch:
            visible[q].append(v)
    assert p.flush(60) == 0
    return visible


def test_other_writers_on_the_same_upstream_topic(upstream, tmp_path):
    # Small transactions, so that the mirror's and the other writers'
    # batches alternate in each partition.
    b, site = mirroring_into(upstream, tmp_path, "shared", 2, 2, **{"mirror.transaction.max.bytes": "4096"})
    topic = f"{site}.shared"
    try:
        produce(b.bootstrap, "shared", 400, partitions=2)
        wait_caught_up(b, ["shared"])
        # others write after the mirror's first records: the mirror's next
        # ones come after theirs (interleaved, deterministically)
        plain = other_writer(upstream.bootstrap, topic, 200, 2, "plain")
        results = {}
        writers = [
            threading.Thread(target=lambda: results.update(plain2=other_writer(upstream.bootstrap, topic, 1500, 2, "plain2"))),
            threading.Thread(
                target=lambda: results.update(
                    txn=other_writer(upstream.bootstrap, topic, 1500, 2, "txn", transactional=True, abort_every=3)
                )
            ),
        ]
        for t in writers:
            t.start()
        produced = 400
        # kill -9 twice while everyone writes: the resume point is the
        # upstream checkpoint, whatever the other writers moved the
        # partitions' ends to
        for _ in range(2):
            produced += produce(b.bootstrap, "shared", 300, start=produced, partitions=2)
            b.kill9()
            start_with(b)
        produced += produce(b.bootstrap, "shared", 300, start=produced, partitions=2)
        for t in writers:
            t.join(180)
        assert set(results) == {"plain2", "txn"}
        wait_caught_up(b, ["shared"], timeout=180)
        local = read_all(b.bootstrap, "shared", committed=False)
        assert sum(len(r) for r in local.values()) >= produced
        up = read_all(upstream.bootstrap, topic)
        mine, others = split_by_site(up, site)
        assert_exact(local, mine, site, "shared")
        for q in (0, 1):
            for tag, vis in (("plain", plain), ("plain2", results["plain2"]), ("txn", results["txn"])):
                got = [v for _o, _k, v, h, _t in others[q] if ("writer", tag.encode()) in h]
                assert got == vis[q], f"writer {tag}, partition {q}: {len(got)} records, want {len(vis[q])}"
            # the mirror's records before and after the first other writer's
            kinds = [("eddy.site", site.encode()) in h for _o, _k, _v, h, _t in up[q]]
            first_other = kinds.index(False)
            assert any(kinds[:first_other]) and any(kinds[first_other:]), f"partition {q} not interleaved"
        # 1,500 plain records and 1,000 of committed transactions (every
        # third transaction of 25 aborted)
        assert sum(len(r) for r in others.values()) == 200 + 1500 + 1000
    finally:
        b.stop()


def foreign_record(p, topic, up_part, site, src):
    p.produce(
        topic,
        key=b"key-x",
        value=b"not this site's partition",
        headers=[("eddy.site", site.encode()), ("eddy.src", src.encode())],
        partition=up_part,
    )


def test_scan_fallback_passes_over_other_writers(upstream, tmp_path):
    # The checkpoint topic is deleted; behind this site's last record the
    # upstream partitions hold: a record of another site for the same
    # source partition with a higher offset, one of this site for another
    # source partition with a higher offset, and 2,500 plain records (more
    # than the scan's first window). The scan must resume after this
    # site's own last record of each partition: no gap, no duplicate.
    ck = f"__ck_more_{random.randrange(10**6)}"
    cfg = mirror_config(upstream, "scw", **{"mirror.checkpoint.topic": ck, "mirror.resume.fallback": "scan"})
    site = cfg["site.id"]
    topic = f"{site}.scw"
    b = start_eddy(tmp_path / "eddy", cfg)
    try:
        create_topic(b, "scw", 2)
        produce(b.bootstrap, "scw", 600, partitions=2)  # 300 per partition: offsets 0..299
        wait_caught_up(b, ["scw"])
        b.stop()
        delete_upstream_topic(upstream, ck)
        p = Producer({"bootstrap.servers": upstream.bootstrap, "acks": "all"})
        for q in (0, 1):
            foreign_record(p, topic, q, "another-site", f"scw/{q}/350")
            foreign_record(p, topic, q, site, f"scw/{1 - q}/360")
            foreign_record(p, topic, q, site, f"scwx/{q}/370")
        assert p.flush(60) == 0
        other_writer(upstream.bootstrap, topic, 5000, 2, "plain")
        start_with(b)
        produce(b.bootstrap, "scw", 200, start=600, partitions=2)  # offsets 300..399
        wait_caught_up(b, ["scw"])
        log = (b.workdir / "eddy.log").read_text()
        assert "refusing" not in log
        assert log.count("resuming at offset 300, after the last record") == 2, log
        local = read_all(b.bootstrap, "scw", committed=False)
        mine, _others = split_by_site(read_all(upstream.bootstrap, topic), site)
        mine = {q: [r for r in recs if dict(r[3])["eddy.src"].decode().startswith(f"scw/{q}/")] for q, recs in mine.items()}
        assert_exact(local, mine, site, "scw")
    finally:
        b.stop()


def mirroring_into(upstream, tmp_path, topic, partitions, up_partitions, **extra):
    """An Eddy mirroring topic (partitions) into an upstream topic made
    beforehand with up_partitions: (broker, site)."""
    cfg = mirror_config(upstream, topic, **extra)
    create_upstream(upstream, f"{cfg['site.id']}.{topic}", up_partitions)
    b = start_eddy(tmp_path / "eddy", cfg)
    try:
        create_topic(b, topic, partitions)
    except BaseException:
        b.stop()
        raise
    return b, cfg["site.id"]


def test_mirror_to_upstream_topic_with_more_partitions(upstream, tmp_path):
    b, site = mirroring_into(upstream, tmp_path, "narrow", 3, 5)
    try:
        produce(b.bootstrap, "narrow", 600, partitions=3)
        wait_caught_up(b, ["narrow"])
        local = read_all(b.bootstrap, "narrow", committed=False)
        up = read_all(upstream.bootstrap, f"{site}.narrow")
        assert sorted(up) == [0, 1, 2, 3, 4]
        assert up[3] == [] and up[4] == []
        assert_exact(local, {q: up[q] for q in (0, 1, 2)}, site, "narrow")
    finally:
        b.stop()


def test_fewer_partitions_unkeyed_records_go_by_source_partition(upstream, tmp_path):
    # test_mirror covers keyed records (murmur2 of the key); here keyed and
    # unkeyed records are mixed: an unkeyed record of source partition p
    # goes to p mod n, in source order.
    b, site = mirroring_into(upstream, tmp_path, "mixed", 5, 3)
    try:
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 5})
        for i in range(1000):
            p.produce("mixed", key=None if i % 2 else f"k{i}".encode(), value=f"v{i}".encode(), timestamp=BASE_TS + i, partition=i % 5)
        assert p.flush(60) == 0
        wait_caught_up(b, ["mixed"])
        local = read_all(b.bootstrap, "mixed", committed=False)
        up = read_all(upstream.bootstrap, f"{site}.mixed")
        assert sorted(up) == [0, 1, 2]
        assert_spread(local, up, "mixed")
    finally:
        b.stop()


def heap_bytes(b):
    """Eddy's count of its heap: eddy_memory_used_bytes on /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{b.http_port}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("eddy_memory_used_bytes "):
                return int(line.split()[1])
    raise AssertionError("no eddy_memory_used_bytes on /metrics")


def test_mirror_lets_go_of_its_buffers_once_caught_up(upstream, tmp_path):
    # A backlog of 1 MiB batches (a record buffer, its compressed copy, a
    # zstd context, the Produce request, local batches read): about 5 MB
    # while copying. Caught up, the heap goes back below where it was
    # before plus 1 MiB.
    cfg = mirror_config(upstream, "heavy", **{"mirror.linger.ms": "0"})
    b = start_eddy(tmp_path / "eddy", cfg)
    try:
        create_topic(b, "heavy", 1)
        wait_caught_up(b, ["heavy"])
        before = heap_bytes(b)
        rnd = random.Random(5)
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 50, "batch.size": 1000000})
        for i in range(8000):
            p.produce("heavy", value=rnd.randbytes(500) * 2, timestamp=BASE_TS + i, partition=0)
            p.poll(0)
        assert p.flush(60) == 0
        del p
        wait_caught_up(b, ["heavy"], timeout=180)
        deadline = time.time() + 30
        heap = heap_bytes(b)
        while heap > before + (1 << 20) and time.time() < deadline:
            time.sleep(0.2)
            heap = heap_bytes(b)
        assert heap <= before + (1 << 20), f"heap {heap} bytes once caught up, {before} before the backlog"
    finally:
        b.stop()


class FileConfigBroker(Broker):
    """An Eddy that reads the keys of file (a server.properties) through
    --config, the tests' own settings through --set as always."""

    def __init__(self, workdir, config, file):
        super().__init__(workdir, config)
        self.wrapper = self.workdir / "eddy-with-config"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.wrapper.write_text(f'#!/bin/sh\nexec {EDDY_BIN} "$@" --config {file}\n')
        self.wrapper.chmod(0o755)

    def start(self):
        self.start_eddy([str(self.wrapper)])
        return self


def write_props(path, props):
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(f"{k} = {v}\n" for k, v in props.items()))
    tmp.replace(path)


def test_sighup_reloads_uplink_credentials(secure, tmp_path):
    # Mirrored once with the right settings; restarted with a trust store
    # that lacks the upstream's authority; SIGHUP after fixing it in the
    # file: TLS passes and the (now wrong) password is refused; SIGHUP
    # after fixing that: the mirror resumes from its checkpoints, same
    # process, no gap, no duplicate.
    cfg = secure_config(secure, "hup")
    site = cfg["site.id"]
    file_keys = ["mirror.sasl.password", "mirror.ssl.ca.location"]
    props = {k: cfg.pop(k) for k in file_keys}
    conf = tmp_path / "eddy.properties"
    write_props(conf, props)
    b = FileConfigBroker(tmp_path / "eddy", cfg, conf)
    b.start()
    try:
        create_topic(b, "hup", 2)
        produce(b.bootstrap, "hup", 400, partitions=2)
        wait_caught_up(b, ["hup"])
        b.stop()
        write_props(conf, dict(props, **{"mirror.ssl.ca.location": str(secure.pki / "other.pem")}))
        b.start()
        pid = b.pid
        produce(b.bootstrap, "hup", 300, start=400, partitions=2)
        st = wait_status(b, lambda s: "certificate verification failed" in s["last_error"], "a TLS refusal")
        assert st["state"] == "connecting", st
        wrong = "not-the-uplink-password"
        write_props(conf, dict(props, **{"mirror.sasl.password": wrong}))
        os.kill(pid, signal.SIGHUP)
        st = wait_status(b, lambda s: "SASL authentication failed" in s["last_error"], "a SASL refusal")
        assert all(p["mirrored"] == 200 and p["lag"] == 150 for p in st["partitions"]), st
        write_props(conf, props)
        os.kill(pid, signal.SIGHUP)
        wait_caught_up(b, ["hup"], timeout=60)
        produce(b.bootstrap, "hup", 100, start=700, partitions=2)
        wait_caught_up(b, ["hup"], timeout=60)
        assert b.pid == pid and b.alive()
        assert check_exact(b, secure, site, "hup") == 800
        log = (b.workdir / "eddy.log").read_text()
        assert log.count("SIGHUP: uplink security settings reloaded") == 2, log
        assert wrong not in log and PASSWORD not in log
        assert status(b)["last_error"] == ""
    finally:
        b.stop()
