"""Bad and edge-case input over raw sockets (kwire): truncated frames,
negative lengths, unknown API keys, oversized requests, ApiVersions at an
unsupported version, produce to a missing topic with auto-create off,
MESSAGE_TOO_LARGE and CORRUPT_MESSAGE. The offending request gets an error
or its connection is closed; other connections and the log are untouched."""

import socket

import pytest

import kwire
from kwire import i16, i32

from conftest import create_topic

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
