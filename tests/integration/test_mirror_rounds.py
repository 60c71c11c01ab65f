"""The mirror's catch-up of a backlog against a real Apache Kafka broker:
a transaction carries several rounds of batches per upstream partition
(the next round read and compressed while the last one is on its way),
not one batch per partition, and stays exactly once across a kill -9 in
the middle of such a transaction (docs/mirror.md, "One transaction")."""

import time

from confluent_kafka import Producer

from conftest import Broker, create_topic
from mirror_check import assert_exact, read_all
from test_mirror import BASE_TS, mirror_config, start_with, status, upstream, upstream_batches, wait_caught_up

assert upstream  # the module-scoped upstream Kafka fixture, shared with test_mirror.py


def test_backlog_goes_in_transactions_of_several_rounds(upstream, tmp_path):
    # A backlog of about 40 batches' worth (16 KiB batches, two partitions)
    # on flash before the mirror starts. The first start ends itself at the
    # third Produce written: the second transaction's second round, when
    # transactions carry rounds (with one batch per partition per
    # transaction, the third transaction's). The next start copies the
    # rest: the first transaction takes one round (its round trip is not
    # known yet), the second everything else, where one batch per
    # partition per transaction needed about 20 of them.
    cfg = mirror_config(upstream, "backlog", **{"mirror.batch.bytes": "16384"})
    site = cfg["site.id"]
    b = Broker(tmp_path / "eddy", {})
    b.start()
    try:
        create_topic(b, "backlog", 2)
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 5})
        for i in range(3000):
            p.produce("backlog", key=f"k{i}".encode(), value=(f"reading {i};" * 20).encode()[:200],
                      headers=[("seq", str(i).encode())], timestamp=BASE_TS + i, partition=i % 2)
        assert p.flush(60) == 0
        b.stop()
        b.config.update(cfg)
        start_with(b, "after-produce:3")
        deadline = time.time() + 60
        while b.alive() and time.time() < deadline:
            time.sleep(0.02)
        assert not b.alive(), f"crash point never reached:\n{b.log_tail()}"
        assert "crash point after-produce reached" in b.log_tail(5), b.log_tail()
        b._forget()
        start_with(b)
        st = wait_caught_up(b, ["backlog"])
        batches = upstream_batches(upstream, f"{site}.backlog")
        assert len(batches) >= 30, batches
        assert st["transactions"] <= 4, st
        local = read_all(b.bootstrap, "backlog", committed=False)
        assert sum(len(r) for r in local.values()) == 3000
        up = read_all(upstream.bootstrap, f"{site}.backlog")
        assert_exact(local, up, site, "backlog")
    finally:
        b.stop()


def test_round_that_cannot_be_built_is_not_skipped(upstream, tmp_path):
    # A later round of a transaction fails to close a batch (out of
    # memory, injected). Its records had already moved their partitions
    # on, and the round would have carried checkpoints past them: the
    # transaction must go back to the checkpoints instead of committing
    # the rounds before it and skipping those records for good.
    cfg = mirror_config(upstream, "oom", **{"mirror.batch.bytes": "16384"})
    site = cfg["site.id"]
    b = Broker(tmp_path / "eddy", {})
    b.start()
    try:
        create_topic(b, "oom", 2)
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 5})
        for i in range(3000):
            p.produce("oom", key=f"k{i}".encode(), value=(f"reading {i};" * 20).encode()[:200],
                      timestamp=BASE_TS + i, partition=i % 2)
        assert p.flush(60) == 0
        b.stop()
        b.config.update(cfg)
        start_with(b, "nomem-finish:8")  # the second transaction's second round
        wait_caught_up(b, ["oom"])
        log = b.log_tail(100000)
        assert "fault point nomem-finish reached" in log, log
        assert "cannot build the next round" in log, log
        local = read_all(b.bootstrap, "oom", committed=False)
        assert sum(len(r) for r in local.values()) == 3000
        up = read_all(upstream.bootstrap, f"{site}.oom")
        assert_exact(local, up, site, "oom")
    finally:
        b.stop()
