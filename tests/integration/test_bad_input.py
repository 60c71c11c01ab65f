"""Bad and edge-case input over raw sockets (kwire): truncated frames,
negative lengths, unknown API keys, oversized requests, ApiVersions at an
unsupported version, produce to a missing topic with auto-create off,
MESSAGE_TOO_LARGE and CORRUPT_MESSAGE, batches whose CRC holds but whose
records are malformed. The offending request gets an error or its
connection is closed; other connections and the log are untouched."""

import socket
import time

import pytest

import kwire
from kwire import i16, i32

from conftest import create_topic, kcat

MAX_MESSAGE = 4096
MAX_REQUEST = 102400
BROKER_CONFIG = {
    "auto.create.topics.enable": "false",
    "message.max.bytes": str(MAX_MESSAGE),
    "socket.request.max.bytes": str(MAX_REQUEST),
}


@pytest.fixture
def bystander(broker):
    """A connection opened before the bad input, checked after it."""
    c = broker.conn()
    assert c.api_versions(0)["error"] == 0
    yield c
    # Still served, and so is a new connection.
    assert c.api_versions(3)["error"] == 0
    assert c.metadata([])["brokers"]
    c.close()
    with broker.conn() as c2:
        assert c2.api_versions(0)["error"] == 0


def closed_or_answered(conn, correlation_id, timeout=10.0):
    """After a request the broker cannot serve: either the connection is
    closed, or a response with the request's correlation id comes back.
    Returns 'closed' or 'answered'; fails if neither happens in time."""
    conn.sock.settimeout(timeout)
    try:
        head = conn.sock.recv(8)
    except ConnectionResetError:
        return "closed"
    except socket.timeout:
        raise AssertionError(f"broker neither answered nor closed within {timeout}s") from None
    if not head:
        return "closed"
    while len(head) < 8:
        more = conn.sock.recv(8 - len(head))
        assert more, "closed in the middle of a response"
        head += more
    size = int.from_bytes(head[:4], "big", signed=True)
    cid = int.from_bytes(head[4:8], "big", signed=True)
    assert 4 <= size < 1 << 20 and cid == correlation_id, (size, cid)
    conn._recv_exact(size - 4)  # the rest of the response
    conn.sock.settimeout(conn.timeout)
    return "answered"


def test_truncated_frame_then_eof(broker, bystander):
    c = broker.conn()
    # Announces 50 bytes, sends 10, then ends its side.
    c.send_raw(i32(50) + kwire.request_header(18, 0, 1)[:10])
    c.sock.shutdown(socket.SHUT_WR)
    assert c.closed_by_peer(10), "broker kept a half-sent frame's connection open"
    c.close()


def test_truncated_request_inside_frame(broker, bystander):
    # A complete frame whose header announces a 100-byte client id.
    with broker.conn() as c:
        c.send_raw(kwire.frame(i16(18) + i16(0) + i32(7) + i16(100) + b"short"))
        assert closed_or_answered(c, 7) in ("closed", "answered")
    # A Metadata v1 request claiming 5 topics and carrying none.
    with broker.conn() as c:
        c.send_raw(kwire.frame(kwire.request_header(3, 1, 8) + i32(5)))
        assert closed_or_answered(c, 8) in ("closed", "answered")


def test_negative_length(broker, bystander):
    with broker.conn() as c:
        c.send_raw(i32(-1) + b"\x00" * 16)
        assert c.closed_by_peer(10), "broker kept a negative-length frame's connection open"


def test_unknown_api_key(broker, bystander):
    with broker.conn() as c:
        c.send_raw(kwire.frame(kwire.request_header(9999, 0, 5) + b"\x00" * 8))
        if closed_or_answered(c, 5) == "answered":
            # Answered with an error: the connection keeps working.
            assert c.api_versions(0)["error"] == 0


def test_oversized_request(broker, bystander):
    with broker.conn() as c:
        # The broker must refuse from the length alone, without the body.
        c.send_raw(i32(MAX_REQUEST + 1) + kwire.request_header(18, 0, 1))
        assert c.closed_by_peer(10), "broker waited for an oversized request's body"
    with broker.conn() as c:
        c.send_raw(i32(64 << 20) + kwire.request_header(18, 0, 1))
        assert c.closed_by_peer(10)


def test_api_versions_every_version(broker):
    with broker.conn() as c:
        for v in range(4):
            r = c.api_versions(v)
            assert r["error"] == 0
            keys = r["keys"]
            assert keys[18][0] == 0 and keys[18][1] >= 3, keys.get(18)
            for api in (0, 1, 3):  # Produce, Fetch, Metadata
                assert api in keys
            assert keys[0][0] == 0  # Produce advertised from 0 (librdkafka needs it)


def test_api_versions_unsupported_version(broker, bystander):
    with broker.conn() as c:
        # A newer client's ApiVersions: header v2 and a v3-shaped body.
        cid = c.send_request(18, 127, kwire.api_versions_request(3), flexible=True)
        body = c.recv_response(cid)  # response header v0
        r = kwire.parse_api_versions(body, 0)  # answered in the v0 format
        assert r["error"] == kwire.UNSUPPORTED_VERSION
        assert 18 in r["keys"], "the error response must carry ApiVersions' own range"
        lo, hi = r["keys"][18]
        assert lo == 0 and 3 <= hi < 127
        # ApiVersions errors never close the connection.
        assert c.api_versions(hi)["error"] == 0


def test_requests_answered_in_order_and_acks0_silent(broker, topic_name):
    topic = create_topic(broker, topic_name(), 1)
    with broker.conn() as c:
        ids = []
        for i in range(30):
            if i % 3 == 0:
                ids.append(c.send_request(18, 0, b""))
            elif i % 3 == 1:
                ids.append(c.send_request(3, 1, kwire.metadata_request(1, [topic])))
            else:
                # acks=0: no response at all.
                batch = kwire.record_batch([(b"k", b"acks0-%d" % i)])
                c.send_request(0, 7, kwire.produce_request(7, 0, 10000, {topic: {0: batch}}))
        for cid in ids:
            c.recv_response(cid)
        # The acks=0 records were appended all the same.
        batches = kwire.fetch_all(broker.host, broker.port, topic, 0)
        got = [r["value"] for b in batches for r in b["records"]]
        assert got == [b"acks0-%d" % i for i in range(30) if i % 3 == 2]


@pytest.mark.parametrize("version", [3, 7])
def test_produce_to_missing_topic_auto_create_off(broker, bystander, topic_name, version):
    topic = topic_name("missing")
    with broker.conn() as c:
        batch = kwire.record_batch([(b"k", b"v")])
        r = c.produce({topic: {0: batch}}, version=version)
        assert r["topics"][topic][0]["error"] == kwire.UNKNOWN_TOPIC_OR_PARTITION
        md = c.metadata([topic], version=4, allow_auto_create=True)
        assert md["topics"][topic]["error"] == kwire.UNKNOWN_TOPIC_OR_PARTITION
        md = c.metadata(None, version=1)
        assert topic not in md["topics"]


def test_message_too_large(broker, bystander, topic_name):
    topic = create_topic(broker, topic_name(), 1)
    with broker.conn() as c:
        big = kwire.record_batch([(b"k", b"x" * (MAX_MESSAGE + 100))])
        r = c.produce({topic: {0: big}})
        assert r["topics"][topic][0]["error"] == kwire.MESSAGE_TOO_LARGE
        ok = kwire.record_batch([(b"k", b"small")])
        r = c.produce({topic: {0: ok}})
        assert r["topics"][topic][0]["error"] == kwire.NONE
        assert r["topics"][topic][0]["base_offset"] == 0  # nothing of the big one was kept
    batches = kwire.fetch_all(broker.host, broker.port, topic, 0)
    assert [r["value"] for b in batches for r in b["records"]] == [b"small"]


def test_corrupt_message_bad_crc(broker, bystander, topic_name):
    topic = create_topic(broker, topic_name(), 1)
    good = kwire.record_batch([(b"k1", b"first"), (b"k2", b"second")])
    bad_crc = bytearray(good)
    bad_crc[17 + 3] ^= 0xFF  # the CRC field (bytes 17..20)
    bad_body = bytearray(good)
    bad_body[-1] ^= 0x01  # a payload byte under the CRC
    with broker.conn() as c:
        for bad in (bad_crc, bad_body):
            r = c.produce({topic: {0: bytes(bad)}})
            assert r["topics"][topic][0]["error"] == kwire.CORRUPT_MESSAGE
        r = c.produce({topic: {0: good}})
        assert r["topics"][topic][0]["error"] == kwire.NONE
        assert r["topics"][topic][0]["base_offset"] == 0
    batches = kwire.fetch_all(broker.host, broker.port, topic, 0)
    assert len(batches) == 1 and batches[0]["crc_ok"]
    assert [(r["key"], r["value"]) for r in batches[0]["records"]] == [(b"k1", b"first"), (b"k2", b"second")]


def _poisoned_batches():
    """(name, batch, index of the bad record or None) for batches whose CRC
    and header hold but whose records do not parse."""
    rec = kwire.record
    varint = kwire.varint
    two = rec(0, 0, b"k", b"one") + rec(1, 0, b"k", b"two")
    r0 = rec(0, 0, b"k", b"v")
    lying_len = varint(len(r0) - 1 + 3) + r0[1:]  # the length says 3 bytes more
    short_len = varint(len(r0) - 1 - 2) + r0[1:]  # ... or 2 fewer
    body = kwire.i8(0) + varint(0) + varint(0) + b"\xff" * 10 + b"\x01" + varint(-1) + varint(-1) + varint(0)
    bad_varint = varint(len(body)) + body  # an 11-byte key length
    body = kwire.i8(0) + varint(0) + varint(0) + varint(-1) + varint(1) + b"v" + varint(3) + varint(1) + b"h" + varint(-1)
    few_headers = varint(len(body)) + body  # 3 headers announced, 1 there
    return [
        ("garbage record bytes", kwire.crafted_batch(bytes((i * 157 + 7) & 0xFF for i in range(40)), 1, 0), 0),
        ("record length too long", kwire.crafted_batch(lying_len, 1, 0), 0),
        ("record length too short", kwire.crafted_batch(short_len + b"\x00\x00", 1, 0), 0),
        ("gzip flag on plain records", kwire.crafted_batch(two, 2, 1, attributes=1), None),
        ("two records, header says one", kwire.crafted_batch(two, 1, 0), 1),
        ("one record, header says two", kwire.crafted_batch(r0, 2, 1), 1),
        ("offset deltas 1, 0", kwire.crafted_batch(rec(1, 0, b"k", b"a") + rec(0, 0, b"k", b"b"), 2, 1), 0),
        ("bad varint", kwire.crafted_batch(bad_varint, 1, 0), 0),
        ("header count lies", kwire.crafted_batch(few_headers, 1, 0), 0),
    ]


def _consume_confluent(broker, topic, partition):
    """Every record of the partition through librdkafka (confluent-kafka)
    up to its end: [(offset, value)]. Fails if the end is never reached."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "poison-check",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    c.assign([TopicPartition(topic, partition, 0)])
    got = []
    try:
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, f"stuck at offset {got[-1][0] + 1 if got else 0}: {got}"
            m = c.poll(1.0)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    return got
                raise AssertionError(m.error())
            got.append((m.offset(), m.value()))
    finally:
        c.close()


def test_poisoned_batches_refused(broker, bystander, topic_name):
    """Each batch whose CRC holds but whose records are malformed is refused
    (CORRUPT_MESSAGE before Produce v8, INVALID_RECORD naming the record
    from v8) and nothing of it is stored; the partition given a good batch in
    the same request takes it, and librdkafka consumers (kcat,
    confluent-kafka) read every good record, offsets without a gap."""
    topic = create_topic(broker, topic_name(), 2)
    want = []
    with broker.conn() as c:
        for name, bad, index in _poisoned_batches():
            before = b"before " + name.encode()
            r = c.produce({topic: {0: kwire.record_batch([(b"k", before)])}})
            assert r["topics"][topic][0]["error"] == kwire.NONE
            want.append(before)
            r = c.produce({topic: {0: bad, 1: kwire.record_batch([(b"k", b"ok " + name.encode())])}}, version=7)
            assert r["topics"][topic][0]["error"] == kwire.CORRUPT_MESSAGE, name
            assert r["topics"][topic][1]["error"] == kwire.NONE, name
            r = c.produce({topic: {0: bad}}, version=8)
            p = r["topics"][topic][0]
            if index is None or p["error"] == kwire.CORRUPT_MESSAGE:
                assert p["error"] == kwire.CORRUPT_MESSAGE, (name, p)
            else:
                assert p["error"] == kwire.INVALID_RECORD, (name, p)
                assert [i for i, _ in p["record_errors"]] == [index], (name, p)
            assert p["error_message"], name
        r = c.produce({topic: {0: kwire.record_batch([(b"k", b"last")])}})
        assert r["topics"][topic][0]["base_offset"] == len(want)
        want.append(b"last")
    expect = list(enumerate(want))
    assert _consume_confluent(broker, topic, 0) == expect
    out = kcat(broker, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q", "-f", "%o %s\n").stdout
    assert out.decode().splitlines() == ["%d %s" % (o, v.decode()) for o, v in expect]
    assert len(_consume_confluent(broker, topic, 1)) == len(_poisoned_batches())
