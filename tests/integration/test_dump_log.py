"""Apache Kafka's own kafka-dump-log reads a partition folder written by Eddy's
storage engine (segments, .index and .timeindex files, made by the
tests/integration/mklog.c helper, with zeros written ahead of every append)
without a complaint, and agrees with `eddy dump` and `eddy check` about it.
No broker is involved."""

import re
from pathlib import Path

import pytest

from conftest import EDDY_BIN, REPO, kafka_tool, run

MKLOG = REPO / "build" / "tests" / "mklog"
TS0 = 1700000000000
VALUE_LEN = 40

BATCH = re.compile(
    r"^baseOffset: (\d+) lastOffset: (\d+) count: (\d+) .*? position: (\d+) "
    r"CreateTime: (\d+) size: (\d+) magic: 2 compresscodec: (\w+) crc: (\d+) isvalid: (\w+)$"
)
RECORD = re.compile(
    r"^\| offset: (\d+) CreateTime: (\d+) keySize: (\d+) valueSize: (\d+) .*headerKeys: \[h\] "
    r"key: (\S+) payload: (\S+)$"
)
INDEX = re.compile(r"^offset: (\d+) position: (\d+)$")
TIMEINDEX = re.compile(r"^timestamp: (\d+) offset: (\d+)$")
KAFKA_COMPLAINTS = (
    "Mismatches in",
    "Found timestamp mismatch",
    "Found out of order timestamp",
    "indexed offsets are not found",
    "invalid bytes at the end",
    "Exception",
)


@pytest.fixture(scope="module")
def tools():
    run(["make", "-C", str(REPO), "-s", str(EDDY_BIN.relative_to(REPO)), "build/tests/mklog"], timeout=900)
    return MKLOG


def expected_value(offset):
    head = f"value-{offset}-"
    return head + "".join(chr(ord("a") + (offset + c) % 26) for c in range(len(head), VALUE_LEN))


def make_log(mklog, root, compression, batches=300, records=5):
    p = run([mklog, root, "t", "--batches", batches, "--records", records, "--value-bytes", VALUE_LEN,
             "--segment-bytes", 20000, "--interval", 1024, "--compression", compression,
             # zeros written ahead of every append: sealed segments must still
             # be exactly their batches
             "--write-ahead", "always"])
    out = dict(line.split() for line in p.stdout.decode().splitlines())
    part = Path(root) / "t-0"
    logs = sorted(part.glob("*.log"))
    assert len(logs) == int(out["segments"]) >= 2
    assert int(out["end_offset"]) == batches * records
    return part, logs


def check_consecutive(err):
    """kafka-dump-log --deep-iteration lists offset gaps. Kafka 4 reports every
    segment that does not start at offset 0 as '-1 is followed by <base>'
    (a quirk of the tool, also for Kafka's own segments); anything else is a
    real gap."""
    current = None
    for line in err.splitlines():
        m = re.match(r"^Non-consecutive offsets in (\S+)$", line)
        if m:
            current = int(Path(m.group(1)).stem)
            continue
        m = re.match(r"^\s+(-?\d+) is followed by (\d+)$", line)
        if m and current is not None:
            assert (int(m.group(1)), int(m.group(2))) == (-1, current), line


def sections(text):
    """kafka-dump-log output split per 'Dumping FILE' section."""
    out, cur = {}, None
    for line in text.splitlines():
        if line.startswith("Dumping "):
            cur = Path(line[len("Dumping "):]).name
            out[cur] = []
        elif cur:
            out[cur].append(line)
    return out


def kafka_batches(lines):
    return [BATCH.match(l).groups() for l in lines if l.startswith("baseOffset:")]


@pytest.mark.parametrize("version", ["3.9", "4"])
@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_kafka_dump_log_reads_eddy_segments(tools, tmp_path, version, compression):
    part, logs = make_log(tools, tmp_path, compression)
    sealed = logs[:-1]
    files = [str(f) for f in logs]
    for f in sealed:
        for suffix in (".index", ".timeindex"):
            idx = f.with_suffix(suffix)
            assert idx.exists(), f"sealed segment without {suffix}: {idx}"
            files.append(str(idx))
    # The active segment's indexes live in memory only.
    assert not logs[-1].with_suffix(".index").exists()

    p = kafka_tool(version, "kafka-dump-log", "--files", ",".join(files), "--print-data-log",
                   "--deep-iteration", timeout=240)
    out, err = p.stdout.decode(), p.stderr.decode()
    for bad in KAFKA_COMPLAINTS:
        assert bad not in out and bad not in err, f"kafka-dump-log {version}: {bad}\n{err[-3000:]}"
    check_consecutive(err)
    sec = sections(out)

    next_offset = 0
    boundaries = {}  # segment name -> {position: (lastOffset, maxTimestamp)}
    for f in logs:
        lines = sec[f.name]
        assert lines[0] == f"Log starting offset: {int(f.stem)}"
        batches = kafka_batches(lines)
        assert batches, f"no batches in {f.name}"
        bmap = {}
        for base, last, count, pos, ts, size, codec, crc, valid in batches:
            assert valid == "true"
            assert codec == compression
            assert int(base) == next_offset and int(count) == int(last) - int(base) + 1 == 5
            assert int(ts) == TS0 + int(last)
            bmap[int(pos)] = (int(last), int(ts))
            next_offset = int(last) + 1
        boundaries[f.name] = bmap
        assert sum(int(b[5]) for b in batches) == f.stat().st_size
        records = [RECORD.match(l).groups() for l in lines if l.startswith("| offset:")]
        assert len(records) == sum(int(b[2]) for b in batches)
        for off, ts, ksize, vsize, key, value in records:
            o = int(off)
            assert int(ts) == TS0 + o
            assert key == f"key-{o}" and int(ksize) == len(key)
            assert value == expected_value(o) and int(vsize) == VALUE_LEN
    assert next_offset == 1500

    for f in sealed:
        bmap = boundaries[f.name]
        entries = [INDEX.match(l).groups() for l in sec[f.with_suffix(".index").name] if INDEX.match(l)]
        assert len(entries) >= (1 if compression == "zstd" else 5)
        for off, pos in entries:
            assert bmap[int(pos)][0] == int(off)  # a batch boundary, its last offset
        tentries = [TIMEINDEX.match(l).groups() for l in sec[f.with_suffix(".timeindex").name]
                    if TIMEINDEX.match(l)]
        assert tentries, f"empty time index {f}"
        last_ts = max(ts for _, ts in bmap.values())
        assert int(tentries[-1][0]) == last_ts  # the segment's largest timestamp
        for ts, off in tentries:
            assert int(ts) == TS0 + int(off)

    # Kafka's own start-up check of index files.
    idx_files = [x for x in files if not x.endswith(".log")]
    p = kafka_tool(version, "kafka-dump-log", "--files", ",".join(idx_files), "--index-sanity-check",
                   timeout=240)
    assert p.stdout.decode().count("passed sanity check") == len(idx_files), p.stdout.decode()


def test_eddy_tools_agree_with_kafka(tools, tmp_path):
    part, logs = make_log(tools, tmp_path, "none")
    p = kafka_tool("3.9", "kafka-dump-log", "--files", ",".join(str(f) for f in logs), timeout=240)
    theirs = {name: kafka_batches(lines) for name, lines in sections(p.stdout.decode()).items()}
    ours = sections(run([EDDY_BIN, "dump", part, "--no-records"]).stdout.decode())
    for f in logs:
        mine = kafka_batches(l for l in ours[f.name] if l.startswith("baseOffset:"))
        assert mine == theirs[f.name]

    p = run([EDDY_BIN, "check", tmp_path])
    summary = p.stdout.decode().splitlines()[-1]
    assert "1500 records" in summary and "0 problems, 0 warnings" in summary

    # A torn tail: eddy check finds it, --truncate cuts it, Kafka agrees.
    active = logs[-1]
    size = active.stat().st_size
    with open(active, "ab") as fh:
        fh.write(open(logs[0], "rb").read(100))
    p = run([EDDY_BIN, "check", part], check=False)
    assert p.returncode == 1
    assert f"at position {size}" in p.stdout.decode()
    p = kafka_tool("3.9", "kafka-dump-log", "--files", str(active), timeout=240)
    assert "Found 100 invalid bytes at the end" in p.stdout.decode()
    p = run([EDDY_BIN, "check", part, "--truncate"])
    assert "truncated 100 bytes" in p.stdout.decode()
    assert active.stat().st_size == size
    p = kafka_tool("3.9", "kafka-dump-log", "--files", str(active), timeout=240)
    assert "invalid bytes" not in p.stdout.decode()


def test_check_finds_malformed_records(tmp_path):
    """A segment holding a batch whose CRC holds but whose records do not
    parse (as data written before Produce walked records could): eddy check
    names the partition, the offsets, the record and the fault, and exits
    1; --truncate cuts nothing (it is not a torn tail)."""
    import kwire

    def at(batch, base):
        return kwire.i64(base) + batch[8:]

    r0 = kwire.record(0, 0, b"k", b"value")
    lying = kwire.varint(len(r0) - 1 + 2) + r0[1:]  # the record's length says 2 bytes more
    data = (at(kwire.record_batch([(b"k", b"a"), (b"k", b"b")]), 0)
            + at(kwire.crafted_batch(lying, 1, 0), 2)
            + at(kwire.record_batch([(b"k", b"c")]), 3))
    part = tmp_path / "sensors-3"
    part.mkdir()
    seg = part / "00000000000000000000.log"
    seg.write_bytes(data)
    for args in ([], ["--truncate"]):
        p = run([EDDY_BIN, "check", tmp_path, *args], check=False)
        out = p.stdout.decode()
        assert p.returncode == 1, out
        problems = [l for l in out.splitlines() if l.startswith("PROBLEM:")]
        assert len(problems) == 1, out
        assert "sensors-3/00000000000000000000.log" in problems[0]
        assert "offsets 2..2" in problems[0] and "record 0" in problems[0], problems[0]
        assert "1 problems" in out.splitlines()[-1]
    assert seg.read_bytes() == data
