"""What the datacenter's side must find after mirroring: every record of an
upstream topic read as its consumers read it (isolation.level=
read_committed, docs/mirror.md) and compared with the site's partitions,
record for record: no gap, no duplicate, order kept, provenance added."""

import random
import time

from confluent_kafka import Consumer, TopicPartition


def read_all(bootstrap, topic, committed=True, timeout=60):
    """Every record of topic: {partition: [(offset, key, value, headers, ts)]}."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"verify-{random.randrange(10**9)}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed" if committed else "read_uncommitted",
            "enable.partition.eof": True,
        }
    )
    try:
        md = c.list_topics(topic, timeout=30)
        parts = sorted(md.topics[topic].partitions)
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        out = {p: [] for p in parts}
        eof = set()
        deadline = time.time() + timeout
        while len(eof) < len(parts) and time.time() < deadline:
            msg = c.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == -191:  # _PARTITION_EOF
                    eof.add(msg.partition())
                    continue
                raise AssertionError(f"consume {topic}: {msg.error()}")
            eof.discard(msg.partition())
            out[msg.partition()].append(
                (msg.offset(), msg.key(), msg.value(), list(msg.headers() or []), msg.timestamp()[1])
            )
        assert len(eof) == len(parts), f"{topic}: did not reach the end of every partition"
        return out
    finally:
        c.close()


def assert_exact(local, up, site, topic):
    """Upstream partition p holds exactly local partition p's records, in
    order, plus the provenance headers."""
    assert sorted(local) == sorted(up)[: len(local)]
    for p, recs in local.items():
        want = [
            (k, v, h + [("eddy.site", site.encode()), ("eddy.src", f"{topic}/{p}/{o}".encode())], ts)
            for o, k, v, h, ts in recs
        ]
        got = [(k, v, h, ts) for _o, k, v, h, ts in up.get(p, [])]
        if got != want:
            srcs = [dict(h).get("eddy.src") for _k, _v, h, _t in got]
            dups = len(srcs) - len(set(srcs))
            raise AssertionError(
                f"partition {p}: upstream has {len(got)} records, local {len(want)}, duplicates {dups}; "
                f"first difference at {next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))}"
            )
