"""Reads Apache Kafka's own segment files (standard library only): the
integration tests and tests/bench/mirror.py look at what a mirror sent, as
the upstream broker stored it."""

from pathlib import Path


def stored_data_batches(data_dir, topic):
    """(codec, bytes) of every data batch in the segment files of topic
    under Kafka's data_dir (control batches left out)."""
    out = []
    for seg in sorted(Path(data_dir).glob(f"{topic}-*/*.log")):
        data = seg.read_bytes()
        pos = 0
        while pos + 23 <= len(data):
            length = int.from_bytes(data[pos + 8 : pos + 12], "big")
            if length == 0:
                break
            attrs = int.from_bytes(data[pos + 21 : pos + 23], "big")
            if not attrs & 0x20:
                out.append((attrs & 7, 12 + length))
            pos += 12 + length
    return out
