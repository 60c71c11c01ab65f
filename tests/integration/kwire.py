"""A tiny Kafka wire-protocol client for tests: frames, a few requests at fixed
versions, RecordBatch v2 building and parsing, so tests can send exactly the
bytes they mean (good and bad) and read the broker's exact answers."""

import socket
import struct
import time

# ---------------------------------------------------------------------------
# Error codes the tests look for (Kafka's numbers).
NONE = 0
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
MESSAGE_TOO_LARGE = 10
UNSUPPORTED_VERSION = 35
INVALID_RECORD = 87

# API keys.
PRODUCE = 0
FETCH = 1
METADATA = 3
API_VERSIONS = 18

# ---------------------------------------------------------------------------
# CRC32C (Castagnoli), reflected polynomial 0x82F63B78, table driven.


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    table = _CRC32C
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the standard check value

# ---------------------------------------------------------------------------
# Encoding.


def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def u32(v):
    return struct.pack(">I", v)


def i64(v):
    return struct.pack(">q", v)


def uvarint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint(v):
    """Zig-zag signed varint (int32 and int64 alike)."""
    return uvarint((v << 1) ^ (v >> 63))


def string(s):
    """int16-length string; None = null."""
    if s is None:
        return i16(-1)
    b = s.encode() if isinstance(s, str) else s
    return i16(len(b)) + b


def compact_string(s):
    if s is None:
        return uvarint(0)
    b = s.encode() if isinstance(s, str) else s
    return uvarint(len(b) + 1) + b


def kbytes(b):
    """int32-length bytes; None = null."""
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


def array(items):
    """int32-count array of already-encoded items; None = null."""
    if items is None:
        return i32(-1)
    return i32(len(items)) + b"".join(items)


def compact_array(items):
    if items is None:
        return uvarint(0)
    return uvarint(len(items) + 1) + b"".join(items)


TAGS_NONE = uvarint(0)


def request_header(api_key, api_version, correlation_id, client_id="eddy-kwire", flexible=False):
    """Request header v1 (v2 when flexible: an empty tagged-field section)."""
    h = i16(api_key) + i16(api_version) + i32(correlation_id) + string(client_id)
    return h + TAGS_NONE if flexible else h


def frame(payload):
    return i32(len(payload)) + payload


# ---------------------------------------------------------------------------
# Decoding: a bounded cursor; reading past the end raises.


class Truncated(Exception):
    pass


class Reader:
    def __init__(self, data):
        self.data = bytes(data)
        self.pos = 0

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise Truncated(f"need {n} bytes at {self.pos}, have {len(self.data) - self.pos}")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def remaining(self):
        return len(self.data) - self.pos

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def uvarint(self):
        shift = 0
        v = 0
        while True:
            b = self.take(1)[0]
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v
            shift += 7
            if shift > 63:
                raise Truncated("varint too long")

    def varint(self):
        v = self.uvarint()
        return (v >> 1) ^ -(v & 1)

    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def compact_string(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode()

    def kbytes(self):
        n = self.i32()
        return None if n < 0 else self.take(n)

    def array(self, item):
        n = self.i32()
        return None if n < 0 else [item(self) for _ in range(n)]

    def compact_array(self, item):
        n = self.uvarint()
        return None if n == 0 else [item(self) for _ in range(n - 1)]

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())


# ---------------------------------------------------------------------------
# RecordBatch v2.

COMPRESSION = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def record(offset_delta, ts_delta, key, value, headers=()):
    body = i8(0) + varint(ts_delta) + varint(offset_delta)
    body += varint(-1) if key is None else varint(len(key)) + key
    body += varint(-1) if value is None else varint(len(value)) + value
    body += varint(len(headers))
    for hk, hv in headers:
        hk = hk.encode() if isinstance(hk, str) else hk
        body += varint(len(hk)) + hk
        body += varint(-1) if hv is None else varint(len(hv)) + hv
    return varint(len(body)) + body


def record_batch(records, base_timestamp=None, producer_id=-1, producer_epoch=-1, base_sequence=-1, attributes=0):
    """An uncompressed batch from (key, value[, headers]) tuples, CRC set."""
    if base_timestamp is None:
        base_timestamp = int(time.time() * 1000)
    recs = b"".join(record(i, 0, r[0], r[1], r[2] if len(r) > 2 else ()) for i, r in enumerate(records))
    after_crc = (
        i16(attributes)
        + i32(len(records) - 1)
        + i64(base_timestamp)
        + i64(base_timestamp)
        + i64(producer_id)
        + i16(producer_epoch)
        + i32(base_sequence)
        + i32(len(records))
        + recs
    )
    after_length = i32(-1) + i8(2) + u32(crc32c(after_crc)) + after_crc
    return i64(0) + i32(len(after_length)) + after_length


def crafted_batch(records_section, count, last_offset_delta, attributes=0, base_timestamp=None):
    """A batch around any records section (valid or not) with the header
    fields given and a correct CRC: for sending malformed records."""
    if base_timestamp is None:
        base_timestamp = int(time.time() * 1000)
    after_crc = (
        i16(attributes)
        + i32(last_offset_delta)
        + i64(base_timestamp)
        + i64(base_timestamp)
        + i64(-1)
        + i16(-1)
        + i32(-1)
        + i32(count)
        + records_section
    )
    after_length = i32(-1) + i8(2) + u32(crc32c(after_crc)) + after_crc
    return i64(0) + i32(len(after_length)) + after_length


def parse_batches(data):
    """Batches in a record set: dicts with the header fields, crc_ok, and the
    records (key, value, headers, offset, timestamp) when uncompressed.
    A trailing partial batch (allowed in fetch responses) is ignored."""
    out = []
    r = Reader(data)
    while r.remaining() >= 12:
        start = r.pos
        base_offset = r.i64()
        length = r.i32()
        if length < 49 or r.remaining() < length:
            break
        body = Reader(r.take(length))
        b = {"base_offset": base_offset, "length": length, "size": 12 + length}
        b["leader_epoch"] = body.i32()
        b["magic"] = body.i8()
        b["crc"] = body.u32()
        b["crc_ok"] = crc32c(body.data[body.pos :]) == b["crc"]
        b["attributes"] = body.i16()
        b["compression"] = COMPRESSION.get(b["attributes"] & 7, "?")
        b["timestamp_type"] = (b["attributes"] >> 3) & 1
        b["transactional"] = bool(b["attributes"] & 0x10)
        b["control"] = bool(b["attributes"] & 0x20)
        b["last_offset_delta"] = body.i32()
        b["base_timestamp"] = body.i64()
        b["max_timestamp"] = body.i64()
        b["producer_id"] = body.i64()
        b["producer_epoch"] = body.i16()
        b["base_sequence"] = body.i32()
        b["record_count"] = body.i32()
        b["raw"] = data[start : start + 12 + length]
        if b["compression"] == "none":
            recs = []
            for _ in range(b["record_count"]):
                n = body.varint()
                rec = Reader(body.take(n))
                rec.i8()
                ts_delta = rec.varint()
                off_delta = rec.varint()
                kl = rec.varint()
                key = None if kl < 0 else rec.take(kl)
                vl = rec.varint()
                value = None if vl < 0 else rec.take(vl)
                headers = []
                for _ in range(rec.varint()):
                    hk = rec.take(rec.varint()).decode()
                    hl = rec.varint()
                    headers.append((hk, None if hl < 0 else rec.take(hl)))
                recs.append(
                    {
                        "offset": base_offset + off_delta,
                        "timestamp": b["base_timestamp"] + ts_delta,
                        "key": key,
                        "value": value,
                        "headers": headers,
                    }
                )
            b["records"] = recs
        out.append(b)
    return out


# ---------------------------------------------------------------------------
# Requests and responses.


def api_versions_request(version):
    """Body of ApiVersions v0..v3 (v3+ is flexible, with a client name)."""
    if version >= 3:
        return compact_string("eddy-kwire") + compact_string("1.0") + TAGS_NONE
    return b""


def parse_api_versions(body, version):
    """ApiVersions response body (its header is always v0). A v0-shaped body is
    what a broker sends back for a version it does not support."""
    r = Reader(body)
    err = r.i16()
    if version >= 3:
        keys = r.compact_array(lambda r: (r.i16(), r.i16(), r.i16(), r.tags())[:3])
        throttle = r.i32()
        r.tags()
    else:
        keys = r.array(lambda r: (r.i16(), r.i16(), r.i16()))
        throttle = r.i32() if version >= 1 else 0
    return {"error": err, "keys": {k: (lo, hi) for k, lo, hi in keys or []}, "throttle_ms": throttle}


def metadata_request(version, topics, allow_auto_create=True):
    """Metadata v1..v4 body; topics None = all topics."""
    body = array(None if topics is None else [string(t) for t in topics])
    if version >= 4:
        body += i8(1 if allow_auto_create else 0)
    return body


def parse_metadata(body, version):
    r = Reader(body)
    out = {"throttle_ms": r.i32() if version >= 3 else 0}

    def broker(r):
        return {"node_id": r.i32(), "host": r.string(), "port": r.i32(), "rack": r.string()}

    out["brokers"] = r.array(broker)
    out["cluster_id"] = r.string() if version >= 2 else None
    out["controller_id"] = r.i32()

    def partition(r):
        return {
            "error": r.i16(),
            "partition": r.i32(),
            "leader": r.i32(),
            "replicas": r.array(lambda r: r.i32()),
            "isr": r.array(lambda r: r.i32()),
        }

    def topic(r):
        return {"error": r.i16(), "name": r.string(), "internal": r.i8() != 0, "partitions": r.array(partition)}

    out["topics"] = {t["name"]: t for t in r.array(topic)}
    return out


def produce_request(version, acks, timeout_ms, topic_data, transactional_id=None):
    """Produce v3..v8 body; topic_data = {topic: {partition: records_bytes}}."""
    assert 3 <= version <= 8
    topics = []
    for t, parts in topic_data.items():
        topics.append(string(t) + array([i32(p) + kbytes(recs) for p, recs in parts.items()]))
    return string(transactional_id) + i16(acks) + i32(timeout_ms) + array(topics)


def parse_produce(body, version):
    r = Reader(body)

    def partition(r):
        p = {"partition": r.i32(), "error": r.i16(), "base_offset": r.i64()}
        if version >= 2:
            p["log_append_time"] = r.i64()
        if version >= 5:
            p["log_start_offset"] = r.i64()
        if version >= 8:
            p["record_errors"] = r.array(lambda r: (r.i32(), r.string()))
            p["error_message"] = r.string()
        return p

    topics = r.array(lambda r: (r.string(), r.array(partition)))
    throttle = r.i32() if version >= 1 else 0
    return {"topics": {t: {p["partition"]: p for p in ps} for t, ps in topics}, "throttle_ms": throttle}


def fetch_request_v4(topic_offsets, max_wait_ms=500, min_bytes=1, max_bytes=16 << 20, partition_max_bytes=8 << 20):
    """Fetch v4 body; topic_offsets = {topic: {partition: offset}}."""
    topics = []
    for t, parts in topic_offsets.items():
        topics.append(string(t) + array([i32(p) + i64(off) + i32(partition_max_bytes) for p, off in parts.items()]))
    return i32(-1) + i32(max_wait_ms) + i32(min_bytes) + i32(max_bytes) + i8(0) + array(topics)


def parse_fetch_v4(body):
    r = Reader(body)
    throttle = r.i32()

    def partition(r):
        return {
            "partition": r.i32(),
            "error": r.i16(),
            "high_watermark": r.i64(),
            "last_stable_offset": r.i64(),
            "aborted": r.array(lambda r: (r.i64(), r.i64())),
            "records": r.kbytes(),
        }

    topics = r.array(lambda r: (r.string(), r.array(partition)))
    return {"throttle_ms": throttle, "topics": {t: {p["partition"]: p for p in ps} for t, ps in topics}}


# ---------------------------------------------------------------------------
# A connection.


class Closed(Exception):
    """The broker closed the connection."""


class Conn:
    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.next_id = 1

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except ConnectionResetError as e:
                raise Closed("connection reset") from e
            if not chunk:
                raise Closed(f"closed after {len(buf)} of {n} bytes")
            buf += chunk
        return bytes(buf)

    def recv_frame(self):
        n = struct.unpack(">i", self._recv_exact(4))[0]
        if n < 4 or n > 256 << 20:
            raise AssertionError(f"bad response frame length {n}")
        return self._recv_exact(n)

    def send_request(self, api_key, version, body, flexible=False, client_id="eddy-kwire"):
        cid = self.next_id
        self.next_id += 1
        self.send_raw(frame(request_header(api_key, version, cid, client_id, flexible) + body))
        return cid

    def recv_response(self, correlation_id, flexible_header=False):
        """The next response's body; checks the correlation id; skips the
        response header's tagged fields when flexible_header."""
        r = Reader(self.recv_frame())
        got = r.i32()
        if got != correlation_id:
            raise AssertionError(f"correlation id {got}, expected {correlation_id}")
        if flexible_header:
            r.tags()
        return r.data[r.pos :]

    def call(self, api_key, version, body, flexible=False):
        cid = self.send_request(api_key, version, body, flexible)
        # ApiVersions responses always use header v0.
        return self.recv_response(cid, flexible and api_key != API_VERSIONS)

    def api_versions(self, version=0):
        body = self.call(API_VERSIONS, version, api_versions_request(version), flexible=version >= 3)
        return parse_api_versions(body, version)

    def metadata(self, topics=None, version=1, allow_auto_create=True):
        return parse_metadata(self.call(METADATA, version, metadata_request(version, topics, allow_auto_create)), version)

    def produce(self, topic_data, version=7, acks=-1, timeout_ms=10000):
        return parse_produce(self.call(PRODUCE, version, produce_request(version, acks, timeout_ms, topic_data)), version)

    def init_producer_id(self):
        """InitProducerId v3 (flexible), null transactional id, no current
        id: an idempotent producer's (id, epoch); a refusal fails."""
        body = b"\x00" + i32(60000) + i64(-1) + i16(-1) + b"\x00"
        r = Reader(self.call(22, 3, body, flexible=True))
        r.i32()  # throttle
        err = r.i16()
        assert err == 0, f"InitProducerId error {err}"
        return r.i64(), r.i16()

    def fetch(self, topic_offsets, **kw):
        return parse_fetch_v4(self.call(FETCH, 4, fetch_request_v4(topic_offsets, **kw)))

    def closed_by_peer(self, timeout=10.0):
        """True if the broker closes (EOF or reset) within timeout without
        sending anything; raises AssertionError if it sends bytes instead;
        False if the connection is still open after timeout."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(self.timeout)
        if data:
            raise AssertionError(f"expected a close, got {len(data)} bytes: {data[:64]!r}")
        return True


def fetch_all(host, port, topic, partition, start=0, max_rounds=1000):
    """All batches of one partition from start to the high watermark, via
    Fetch v4, each batch once."""
    batches = []
    offset = start
    with Conn(host, port) as c:
        for _ in range(max_rounds):
            p = c.fetch({topic: {partition: offset}}, max_wait_ms=100)["topics"][topic][partition]
            if p["error"] != NONE:
                raise AssertionError(f"fetch {topic}[{partition}]@{offset}: error {p['error']}")
            got = [b for b in parse_batches(p["records"] or b"") if b["base_offset"] + b["last_offset_delta"] >= offset]
            batches += got
            if got:
                offset = got[-1]["base_offset"] + got[-1]["last_offset_delta"] + 1
            if offset >= p["high_watermark"]:
                return batches
            if not got:
                raise AssertionError(f"fetch {topic}[{partition}]@{offset}: no progress below HW {p['high_watermark']}")
    raise AssertionError("fetch_all: too many rounds")
