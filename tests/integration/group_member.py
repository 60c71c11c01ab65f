"""One confluent-kafka group member as its own process, so a test can
SIGKILL it. argv[1] is a JSON object: bootstrap, group, topic and extra
consumer settings. Prints one JSON object per line (flushed):
  {"ev": "assign", "parts": [...]}   partitions added to this member
  {"ev": "revoke", "parts": [...]}   partitions taken away (or lost)
  {"ev": "rec", "p": P, "o": O, "k": "...", "v": "..."}
  {"ev": "committed"}                after each synchronous commit
Reads "stop" on stdin to leave the group cleanly (close), or runs until
killed. Records are committed synchronously every commit_every records."""

import json
import select
import sys

from confluent_kafka import Consumer, KafkaException


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    cfg = json.loads(sys.argv[1])
    conf = {
        "bootstrap.servers": cfg["bootstrap"],
        "group.id": cfg["group"],
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
    }
    conf.update(cfg.get("conf", {}))
    every = cfg.get("commit_every", 1)
    c = Consumer(conf)

    def on_assign(consumer, parts):
        out({"ev": "assign", "parts": sorted(p.partition for p in parts)})

    def on_revoke(consumer, parts):
        out({"ev": "revoke", "parts": sorted(p.partition for p in parts)})
        if parts and conf.get("partition.assignment.strategy") != "cooperative-sticky":
            try:
                consumer.commit(asynchronous=False)
            except KafkaException:
                pass

    def on_lost(consumer, parts):
        out({"ev": "revoke", "parts": sorted(p.partition for p in parts), "lost": True})

    c.subscribe([cfg["topic"]], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    n = 0
    try:
        while True:
            r, _, _ = select.select([sys.stdin], [], [], 0)
            if r and sys.stdin.readline().strip() == "stop":
                break
            m = c.poll(0.2)
            if m is None or m.error():
                continue
            out({"ev": "rec", "p": m.partition(), "o": m.offset(), "k": (m.key() or b"").decode(),
                 "v": (m.value() or b"").decode()})
            n += 1
            if n % every == 0:
                try:
                    c.commit(message=m, asynchronous=False)
                    out({"ev": "committed"})
                except KafkaException:
                    pass  # a rebalance is going on: the next commit covers it
    finally:
        c.close()
        out({"ev": "closed"})


if __name__ == "__main__":
    main()
