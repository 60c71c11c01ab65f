"""Storage counters on /metrics: compaction (passes, bytes, records, the
segments a pass left alone because a rewrite would not shrink them) and the
re-encoding of producers' batches to their topic's compression.type."""

import re
import time

import pytest

from conftest import EDDY_BIN, TARGET, create_topic, kcat, need, run
from test_http import metrics

pytestmark = pytest.mark.skipif(TARGET != "eddy", reason="Eddy's own HTTP listener")  # allowed: only when the suite is proven against real Kafka, which has no HTTP listener


def promtool_ok(text):
    p = run([need("promtool"), "check", "metrics"], input=text.encode(), check=False)
    assert p.returncode == 0, p.stdout + p.stderr


def test_compaction_counters(fresh_broker, topic_name):
    """A compacted topic whose keys are all different: each closed segment
    would come out of a rewrite as it is, so passes count it unchanged and
    write nothing; `eddy status` shows the count after the broker stops."""
    broker = fresh_broker
    _, before = metrics(broker)
    topic = create_topic(broker, topic_name(), 1, config={"cleanup.policy": "compact", "segment.bytes": "1024"})
    kcat(broker, "-P", "-t", topic, "-K", "|", "-X", "acks=all", "-X", "batch.num.messages=4",
         input=b"".join(b"sensor-%03d|" % i + b"x" * 100 + b"\n" for i in range(60)))
    deadline = time.time() + 60
    while True:
        text, after = metrics(broker)
        unchanged = after["eddy_compaction_segments_unchanged_total"] - before["eddy_compaction_segments_unchanged_total"]
        if unchanged >= 1:
            break
        assert time.time() < deadline, [line for line in text.splitlines() if "compaction" in line]
        time.sleep(0.2)
    promtool_ok(text)
    assert after['eddy_compaction_passes_total{result="completed"}'] >= 1
    assert after['eddy_compaction_passes_total{result="aborted"}'] == 0
    assert after["eddy_compaction_records_removed_total"] == before["eddy_compaction_records_removed_total"]
    assert after["eddy_compaction_written_bytes_total"] == before["eddy_compaction_written_bytes_total"]
    assert "eddy_compaction_batches_unreadable_total" in after
    broker.stop()  # writes the wear file eddy status reads
    out = run([str(EDDY_BIN), "status", "--data", str(broker.log_dir)]).stdout.decode()
    m = re.search(r"compaction in the last run: ([0-9.]+) MB read, ([0-9.]+) MB written, (\d+) segments left alone", out)
    assert m, out
    assert float(m.group(2)) == 0 and int(m.group(3)) >= unchanged, out


def test_recompression_counters(broker, topic_name):
    """Uncompressed batches to a zstd topic: counted, with fewer bytes
    stored than sent and the loop time it took."""
    topic = create_topic(broker, topic_name(), 1, config={"compression.type": "zstd"})
    _, before = metrics(broker)
    line = b'{"turbine":"T1","kW":380.5,"wind":5.31,"dir":259.99}\n'
    kcat(broker, "-P", "-t", topic, "-z", "none", "-X", "acks=all", "-X", "linger.ms=50", input=line * 500)
    text, after = metrics(broker)
    promtool_ok(text)

    def moved(key):
        return after[key] - before[key]

    assert moved("eddy_recompressed_batches_total") >= 1
    assert 0 < moved("eddy_recompressed_out_bytes_total") < moved("eddy_recompressed_in_bytes_total") / 4
    assert moved("eddy_recompress_seconds_total") > 0
