"""Eddy's CoAP listener against real CoAP clients: coap-client (libcoap's,
Debian libcoap3-bin) and aiocoap (PyPI). Confirmable and non-confirmable
POSTs read back with a Kafka client; many client endpoints replaying the
wind turbine's readings, each one answered 2.04 stored exactly once; kill
-9 right after the answers loses nothing. (That no answer leaves before the
fdatasync covering its record is proven step by step in
tests/unit/test_coap.c, where the test drives the flush itself.)"""

import asyncio
import subprocess

import pytest

from conftest import HOST, TARGET, need, recording
from test_mqtt import consume

import aiocoap

pytestmark = pytest.mark.skipif(TARGET != "eddy", reason="CoAP is Eddy's own listener")  # allowed: only when the suite is proven against real Kafka, which has no CoAP listener

COAP_CLIENT = "coap-client-notls"


def coap_client(broker, *args, timeout=60):
    """Runs coap-client; its stdout and stderr as text (it exits 0 even when
    the server answers with an error: the caller checks the text)."""
    p = subprocess.run(
        [need(COAP_CLIENT), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout
    )
    assert p.returncode == 0, p.stdout
    return p.stdout.decode(errors="replace")


def url(broker, path):
    return f"coap://{HOST}:{broker.coap_port}/{path}"


async def post_all(broker, items, reliable=True, endpoints=1):
    """POSTs (path, payload) items over `endpoints` client contexts (each
    its own UDP port) concurrently, confirmable or not; the answer codes in
    item order."""
    ctxs = [await aiocoap.Context.create_client_context() for _ in range(endpoints)]
    try:

        async def one(i, path, payload):
            tuning = aiocoap.Reliable if reliable else aiocoap.Unreliable
            req = aiocoap.Message(code=aiocoap.POST, transport_tuning=tuning, uri=url(broker, path), payload=payload)
            return (await ctxs[i % endpoints].request(req).response).code

        return await asyncio.gather(*(one(i, p, v) for i, (p, v) in enumerate(items)))
    finally:
        for c in ctxs:
            await c.shutdown()


def test_coap_client_con_and_non_post_read_back(broker):
    out = coap_client(broker, "-m", "post", "-t", "50", "-e", '{"axle":1,"t":41.5}', url(broker, "t/axles?k=axle-1"))
    assert "4." not in out and "5." not in out, out
    out = coap_client(broker, "-m", "post", "-N", "-e", '{"axle":2,"t":40.9}', url(broker, "t/axles?k=axle-2"))
    assert "4." not in out and "5." not in out, out
    recs = consume(broker, "axles", 2)
    got = {r.key(): (r.value(), r.headers()) for r in recs}
    assert got == {
        b"axle-1": (b'{"axle":1,"t":41.5}', [("content-format", b"50")]),
        b"axle-2": (b'{"axle":2,"t":40.9}', None),
    }


def test_coap_client_sees_separate_response_after_empty_ack(broker):
    """libcoap's client with verbose output: the empty ACK first, then the
    separate CON 2.04 with the request's token."""
    out = coap_client(broker, "-v", "7", "-m", "post", "-T", "cafe", "-e", "7.5", url(broker, "t/sep"))
    lines = [l for l in out.splitlines() if l.startswith("v:1 ")]
    assert "t:CON c:POST" in lines[0], out
    assert "t:ACK c:0.00" in lines[1], out
    token = lines[0].split("{")[1].split("}")[0]
    assert token and "t:CON c:2.04" in lines[2] and "{%s}" % token in lines[2], out
    assert [r.value() for r in consume(broker, "sep", 1)] == [b"7.5"]


def test_aiocoap_con_and_non_post_read_back(broker):
    codes = asyncio.run(post_all(broker, [("t/aio?k=a", b"con-%d" % i) for i in range(20)]))
    assert codes == [aiocoap.CHANGED] * 20
    codes = asyncio.run(post_all(broker, [("t/aio?k=a", b"non-%d" % i) for i in range(20)], reliable=False))
    assert codes == [aiocoap.CHANGED] * 20
    values = sorted(r.value() for r in consume(broker, "aio", 40))
    assert values == sorted([b"con-%d" % i for i in range(20)] + [b"non-%d" % i for i in range(20)])


def test_routes_and_paths_map_to_topics(tmp_path_factory):
    from conftest import Broker

    b = Broker(tmp_path_factory.mktemp("coap-routes"), {"coap.routes": "nacelle/+/vib=>vibration"}).start()
    try:
        assert asyncio.run(post_all(b, [("nacelle/n7/vib", b"0.31"), ("site/t7/temp", b"21")])) == [
            aiocoap.CHANGED
        ] * 2
        assert [(r.key(), r.value()) for r in consume(b, "vibration", 1)] == [(b"nacelle/n7/vib", b"0.31")]
        assert [(r.key(), r.value()) for r in consume(b, "site.t7.temp", 1)] == [(b"site/t7/temp", b"21")]
    finally:
        b.stop()


def test_errors_carry_codes_and_diagnostics(broker):
    async def go():
        ctx = await aiocoap.Context.create_client_context()
        try:
            out = []
            for code, path in [(aiocoap.POST, "t/bad name"), (aiocoap.DELETE, "t/x"), (aiocoap.POST, "..")]:
                r = await ctx.request(aiocoap.Message(code=code, uri=url(broker, ""), uri_path=tuple(path.split("/")))).response
                out.append((r.code, r.payload.decode()))
            return out
        finally:
            await ctx.shutdown()

    got = asyncio.run(go())
    assert got[0][0] == aiocoap.BAD_REQUEST and "[a-zA-Z0-9._-]" in got[0][1], got
    assert got[1][0] == aiocoap.METHOD_NOT_ALLOWED and "GET, POST and PUT" in got[1][1], got
    assert got[2][0] == aiocoap.BAD_REQUEST and "'..'" in got[2][1], got


def test_wind_turbine_replayed_by_many_endpoints_exactly_once(broker):
    """1000 readings of the turbine, posted by 50 client endpoints at once:
    every reading answered 2.04 is in the log exactly once."""
    rows = recording("wind-turbine-scada-T1.csv").read_text(errors="replace").splitlines()[1:1001]
    items = [(f"t/turbine-T1?k=row{i}", r.encode()) for i, r in enumerate(rows)]
    codes = asyncio.run(post_all(broker, items, endpoints=50))
    assert codes == [aiocoap.CHANGED] * len(rows)
    recs = consume(broker, "turbine-T1", len(rows))
    assert sorted((r.key().decode(), r.value().decode()) for r in recs) == sorted(
        (f"row{i}", r) for i, r in enumerate(rows)
    )


def test_kill9_after_204_loses_nothing(fresh_broker):
    n = 300
    items = [("t/crash?k=s", b"m%d" % i) for i in range(n)]
    codes = asyncio.run(post_all(fresh_broker, items, endpoints=10))
    assert codes == [aiocoap.CHANGED] * n
    # Every 2.04 is in: kill at once, no clean shutdown.
    fresh_broker.kill9()
    fresh_broker.start()
    recs = consume(fresh_broker, "crash", n)
    assert sorted(r.value() for r in recs) == sorted(v for _, v in items)


GARBAGE = [
    b"",  # empty
    b"\x40",  # shorter than a header
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # not CoAP at all
    b"\x80\x02\x12\x34",  # version 2
    b"\x49\x02\x12\x35" + b"\x00" * 9,  # token length 9 (reserved)
    b"\x42\x02\x12\x36\xab\xcd\xbd",  # Uri-Path option with length 13 and no extension byte
    b"\x42\x02\x12\x37\xab\xcd\xbe\x01",  # length 14 with half its extension
    b"\x42\x02\x12\x38\xab\xcd\xb5t/x",  # option longer than the datagram
    b"\x40\x02\x12\x39\xf0",  # option delta 15 (payload marker) with no payload
    b"\x42\x02\x12\x3a\xab\xcd\xff",  # payload marker, empty payload
    b"\x40\x02\x12\x3b\xd1\xff\x01",  # unknown critical option (delta 268)
]


def test_garbage_datagrams_ignored_while_others_carry_on(broker):
    """Malformed datagrams and truncated options from one endpoint, sent
    while aiocoap endpoints post 200 readings: those are all answered 2.04
    and stored once; nothing malformed is stored; the garbage's endpoint is
    served again once it sends a valid request."""
    import socket

    async def garbage(stop):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            while not stop.is_set():
                for g in GARBAGE:
                    s.sendto(g, (HOST, broker.coap_port))
                await asyncio.sleep(0.005)

    async def go():
        stop = asyncio.Event()
        g = asyncio.ensure_future(garbage(stop))
        try:
            return await post_all(broker, [("t/steady?k=s", b"r%d" % i) for i in range(200)], endpoints=4)
        finally:
            stop.set()
            await g

    codes = asyncio.run(go())
    assert codes == [aiocoap.CHANGED] * 200
    assert sorted(r.value() for r in consume(broker, "steady", 200)) == sorted(b"r%d" % i for i in range(200))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(15)
        for g in GARBAGE:
            s.sendto(g, (HOST, broker.coap_port))
        # NON POST /t/after-garbage "ok": answered NON 2.04 once stored
        s.sendto(b"\x51\x02\x22\x22\x09\xb1t\x0d\x00after-garbage\xffok", (HOST, broker.coap_port))
        while True:
            d = s.recv(2048)
            if d[1] == 0x44 and d[4] == 0x09:  # 2.04 with our token
                break
    assert [r.value() for r in consume(broker, "after-garbage", 1)] == [b"ok"]
    assert broker.alive()


# ---------------------------------------------------------------------------
# Reads, Observe, block-wise transfer.


def test_get_returns_records_as_json(broker):
    import json

    for i in range(5):  # one at a time: offsets in this order
        assert asyncio.run(post_all(broker, [(f"t/readme?k=k{i}", b"v%d" % i)])) == [aiocoap.CHANGED]

    async def get(path):
        ctx = await aiocoap.Context.create_client_context()
        try:
            return await ctx.request(aiocoap.Message(code=aiocoap.GET, uri=url(broker, path))).response
        finally:
            await ctx.shutdown()

    r = asyncio.run(get("t/readme?o=1&n=2"))
    assert r.code == aiocoap.CONTENT and r.opt.content_format == 50
    doc = json.loads(r.payload)
    assert doc["topic"] == "readme" and doc["partition"] == 0 and doc["next"] == 3
    assert [(x["offset"], x["key"], x["value"]) for x in doc["records"]] == [(1, "k1", "v1"), (2, "k2", "v2")]
    doc = json.loads(asyncio.run(get("t/readme")).payload)  # the newest (up to 10)
    assert [x["value"] for x in doc["records"]] == ["v%d" % i for i in range(5)]
    r = asyncio.run(get("t/readme?p=7"))
    assert r.code == aiocoap.NOT_FOUND and b"partition" in r.payload
    r = asyncio.run(get("t/readme?n=1000"))
    assert r.code == aiocoap.BAD_REQUEST and b"1..100" in r.payload
    r = asyncio.run(get(".well-known/core"))
    assert r.code == aiocoap.CONTENT and r.opt.content_format == 40
    assert '</t/readme>;rt="kafka.topic";ct=50;obs' in r.payload.decode()


def test_observe_receives_live_records(broker):
    import json

    assert asyncio.run(post_all(broker, [("t/live", b"before")])) == [aiocoap.CHANGED]

    async def go():
        ctx = await aiocoap.Context.create_client_context()
        try:
            req = aiocoap.Message(code=aiocoap.GET, uri=url(broker, "t/live?n=1"), observe=0)
            pr = ctx.request(req)
            first = await pr.response
            assert first.code == aiocoap.CONTENT and first.opt.observe is not None, first
            seen = []
            for i in range(5):
                assert await post_all(broker, [("t/live", b"live-%d" % i)]) == [aiocoap.CHANGED]
                while True:
                    n = await asyncio.wait_for(pr.observation.__aiter__().__anext__(), 30)
                    vals = [x["value"] for x in json.loads(n.payload)["records"]]
                    if vals == ["live-%d" % i]:
                        seen.append(vals[0])
                        break
            pr.observation.cancel()
            return seen
        finally:
            await ctx.shutdown()

    assert asyncio.run(go()) == ["live-%d" % i for i in range(5)]


def test_observe_limit_answers_503(tmp_path_factory):
    from conftest import Broker

    b = Broker(tmp_path_factory.mktemp("coap-obs"), {"coap.max.observed": "1"}).start()
    try:
        assert asyncio.run(post_all(b, [("t/o1", b"x"), ("t/o2", b"y")])) == [aiocoap.CHANGED] * 2

        async def go():
            ctx = await aiocoap.Context.create_client_context()
            try:
                out = []
                for t in ["o1", "o2"]:
                    pr = ctx.request(aiocoap.Message(code=aiocoap.GET, uri=url(b, f"t/{t}"), observe=0))
                    r = await pr.response
                    out.append((r.code, r.opt.observe is not None, r.payload))
                return out
            finally:
                await ctx.shutdown()

        got = asyncio.run(go())
        assert got[0][:2] == (aiocoap.CONTENT, True), got
        assert got[1][0] == aiocoap.SERVICE_UNAVAILABLE and b"coap.max.observed" in got[1][2], got
    finally:
        b.stop()


def raw_get(s, port, token, topic, observe):
    """A CON GET /t/topic?n=1 with Observe (0 register, 1 deregister) and
    token from socket s; the code of the answer (a separate CON answer is
    acknowledged) and its payload."""
    import random
    import struct

    mid = random.randrange(65536)
    t = topic.encode()
    obs = bytes([0x60]) if observe == 0 else bytes([0x61, observe])
    msg = struct.pack("!BBH", 0x40 | len(token), 0x01, mid) + token + obs + bytes([0x51]) + b"t"
    msg += bytes([len(t)]) + t + bytes([0x43]) + b"n=1"
    s.sendto(msg, (HOST, port))
    while True:
        d, _ = s.recvfrom(65536)
        kind, code, rmid = d[0] >> 4 & 3, d[1], struct.unpack("!H", d[2:4])[0]
        if kind == 0:  # CON: acknowledge it
            s.sendto(struct.pack("!BBH", 0x60, 0, rmid), (HOST, port))
        if code == 0 or d[4:4 + (d[0] & 15)] != token:
            continue  # the empty ACK, or a notification of an older token
        return code >> 5, code & 31, d.split(b"\xff", 1)[-1]


def test_observers_per_topic_capped(tmp_path_factory):
    """coap.max.observers.per.topic=2: a third observer of one topic gets
    5.03; a re-registration is no new observer; once one deregisters
    (Observe 1) the third is taken; another topic counts apart."""
    import socket

    from conftest import Broker

    b = Broker(tmp_path_factory.mktemp("coap-obs-cap"), {"coap.max.observers.per.topic": "2"}).start()
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
    try:
        for s in socks:
            s.settimeout(30)
        assert asyncio.run(post_all(b, [("t/cap", b"x"), ("t/cap2", b"y")])) == [aiocoap.CHANGED] * 2
        p = b.coap_port
        assert raw_get(socks[0], p, b"A1", "cap", 0)[:2] == (2, 5)
        assert raw_get(socks[1], p, b"B1", "cap", 0)[:2] == (2, 5)
        code = raw_get(socks[2], p, b"C1", "cap", 0)
        assert code[:2] == (5, 3) and b"coap.max.observers.per.topic" in code[2], code
        assert raw_get(socks[0], p, b"A1", "cap", 0)[:2] == (2, 5)  # the same observer again
        assert raw_get(socks[2], p, b"C2", "cap2", 0)[:2] == (2, 5)  # another topic
        assert raw_get(socks[0], p, b"A1", "cap", 1)[:2] == (2, 5)  # deregistered
        assert raw_get(socks[2], p, b"C1", "cap", 0)[:2] == (2, 5)
        assert raw_get(socks[1], p, b"B2", "cap", 0)[:2] == (5, 3)  # a second token is a new observer
    finally:
        for s in socks:
            s.close()
        b.stop()


def test_blockwise_post_64k_and_get_it_back(broker, tmp_path):
    import base64
    import json
    import os

    body = os.urandom(65536)

    async def go():
        ctx = await aiocoap.Context.create_client_context()
        try:
            r = await ctx.request(aiocoap.Message(code=aiocoap.POST, uri=url(broker, "t/blob"), payload=body)).response
            assert r.code == aiocoap.CHANGED, r
            r = await ctx.request(aiocoap.Message(code=aiocoap.GET, uri=url(broker, "t/blob?n=1"))).response
            assert r.code == aiocoap.CONTENT, r
            return r.payload
        finally:
            await ctx.shutdown()

    doc = json.loads(asyncio.run(go()))  # itself block-wise (Block2): about 87 KiB of JSON
    assert base64.b64decode(doc["records"][0]["valueBase64"]) == body
    # coap-client, 1 KiB blocks, from a file
    f = tmp_path / "reading.json"
    f.write_bytes(b'{"kW":380,"pad":"' + b"x" * 65500 + b'"}')
    out = coap_client(broker, "-m", "post", "-b", "1024", "-f", str(f), url(broker, "t/blob2"))
    assert "4." not in out and "5." not in out, out
    assert [r.value() for r in consume(broker, "blob2", 1)] == [f.read_bytes()]


def test_huge_block2_and_observe_flood_while_others_carry_on(broker):
    """A GET asking for block 2^19 of a topic, and 300 Observe
    registrations on one topic from one endpoint that never acknowledges a
    notification: refused or served without harm, while aiocoap endpoints
    post readings that are all answered 2.04 and stored."""
    import socket
    import struct

    assert asyncio.run(post_all(broker, [("t/flood", b"seed")])) == [aiocoap.CHANGED]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(15)
        # GET /t/flood, Block2 num 2^19 szx 6 (option 23: delta 12 from Uri-Path 11)
        s.sendto(b"\x41\x01\x30\x00\x07\xb1t\x05flood\xc3\x80\x00\x06", (HOST, broker.coap_port))
        d = s.recv(2048)
        assert d[1] >> 5 in (2, 4), d  # a success or a client error, never silence or a crash
        for i in range(300):  # Observe (option 6) GET /t/flood, token i
            tok = struct.pack(">H", i)
            s.sendto(b"\x42\x01" + struct.pack(">H", 0x4000 + i) + tok + b"\x60\x51t\x05flood", (HOST, broker.coap_port))
        items = [("t/during-flood", b"d%d" % i) for i in range(50)]
        assert asyncio.run(post_all(broker, items + [("t/flood", b"wake")], endpoints=5)) == [aiocoap.CHANGED] * 51
    assert sorted(r.value() for r in consume(broker, "during-flood", 50)) == sorted(v for _, v in items)
    assert broker.alive()


def cbor_decode(b):
    """The subset of CBOR Eddy writes: unsigned and negative integers, byte
    and text strings, arrays (also of indefinite length), maps, null."""

    def item(i):
        ib = b[i]
        major, info = ib >> 5, ib & 31
        i += 1
        if ib == 0xF6:
            return None, i
        if major == 4 and info == 31:
            out = []
            while b[i] != 0xFF:
                v, i = item(i)
                out.append(v)
            return out, i + 1
        if info < 24:
            arg = info
        else:
            k = {24: 1, 25: 2, 26: 4, 27: 8}[info]
            arg, i = int.from_bytes(b[i : i + k], "big"), i + k
        if major == 0:
            return arg, i
        if major == 1:
            return -1 - arg, i
        if major in (2, 3):
            v = b[i : i + arg]
            return (v.decode() if major == 3 else bytes(v)), i + arg
        if major == 4:
            out = []
            for _ in range(arg):
                v, i = item(i)
                out.append(v)
            return out, i
        assert major == 5, hex(ib)
        out = {}
        for _ in range(arg):
            k, i = item(i)
            out[k], i = item(i)
        return out, i

    v, end = item(0)
    assert end == len(b)
    return v


def test_get_cbor_on_accept_60(broker):
    body = b"\x00\xffraw"
    for k, v in [("a", body), ("b", b"text")]:
        assert asyncio.run(post_all(broker, [(f"t/cbor?k={k}", v)])) == [aiocoap.CHANGED]

    async def get(accept):
        ctx = await aiocoap.Context.create_client_context()
        try:
            m = aiocoap.Message(code=aiocoap.GET, uri=url(broker, "t/cbor?o=0"), accept=accept)
            return await ctx.request(m).response
        finally:
            await ctx.shutdown()

    r = asyncio.run(get(60))
    assert r.code == aiocoap.CONTENT and r.opt.content_format == 60
    doc = cbor_decode(r.payload)
    assert doc["topic"] == "cbor" and doc["partition"] == 0 and doc["next"] == 2
    assert [(x["offset"], x["key"], x["value"]) for x in doc["records"]] == [(0, b"a", body), (1, b"b", b"text")]
    assert doc["records"][0]["timestamp"] > 1_600_000_000_000
    r = asyncio.run(get(0))  # text/plain: not offered
    assert r.code == aiocoap.NOT_ACCEPTABLE and b"CBOR (60)" in r.payload


def test_get_shows_record_headers_json_and_cbor(broker):
    """Headers in read answers: JSON as the REST API shows them (a value
    that is JSON as it is, else base64), CBOR as maps of text and bytes."""
    import base64
    import json

    from confluent_kafka import Producer

    async def post_cf():
        ctx = await aiocoap.Context.create_client_context()
        try:
            m = aiocoap.Message(code=aiocoap.POST, uri=url(broker, "t/hdrs?k=a"), payload=b"1.5", content_format=50)
            return (await ctx.request(m).response).code
        finally:
            await ctx.shutdown()

    assert asyncio.run(post_cf()) == aiocoap.CHANGED
    p = Producer({"bootstrap.servers": broker.bootstrap})
    p.produce("hdrs", key=b"b", value=b"2.5", headers=[("site", b"t7 north"), ("raw", b"\x00\xff"), ("none", None)])
    assert p.flush(30) == 0
    out = coap_client(broker, "-m", "get", url(broker, "t/hdrs?o=0"))
    recs = json.loads(out[out.index("{"):])["records"]
    assert recs[0]["headers"] == [{"key": "content-format", "value_format": "json", "value": 50}], out
    assert recs[1]["headers"] == [
        {"key": "site", "value_format": "base64", "value": base64.b64encode(b"t7 north").decode()},
        {"key": "raw", "value_format": "base64", "value": base64.b64encode(b"\x00\xff").decode()},
        {"key": "none", "value": None},
    ], out

    async def get_cbor():
        ctx = await aiocoap.Context.create_client_context()
        try:
            m = aiocoap.Message(code=aiocoap.GET, uri=url(broker, "t/hdrs?o=0"), accept=60)
            return (await ctx.request(m).response).payload
        finally:
            await ctx.shutdown()

    doc = cbor_decode(asyncio.run(get_cbor()))
    assert [r["headers"] for r in doc["records"]] == [
        [{"key": "content-format", "value": b"50"}],
        [{"key": "site", "value": b"t7 north"}, {"key": "raw", "value": b"\x00\xff"}, {"key": "none", "value": None}],
    ]


# ---- coaps:// (DTLS with pre-shared keys) ----

COAPS_CLIENT = "coap-client-openssl"
PSKS = {"sensor-1": b"secret-one", "sensor-2": b"key-of-sensor-2"}  # sensor-2's written in hex


def coaps_client(port, identity, key, *args, timeout=60):
    """coap-client over DTLS-PSK; its output. It exits 0 even when the
    handshake fails: the caller checks the text."""
    p = subprocess.run(
        [need(COAPS_CLIENT), "-B", "5", "-u", identity, "-k", key.decode(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=timeout,
    )
    return p.stdout.decode(errors="replace")


@pytest.fixture(scope="module")
def dtls_broker(tmp_path_factory):
    """A broker with a coaps:// listener keyed by PSKS and ACLs on:
    User:ANONYMOUS (plain CoAP, Kafka) a super user, User:sensor-1 may
    WRITE and READ topic dtls, User:sensor-2 nothing."""
    import os

    from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient,
                                       ResourcePatternType, ResourceType)

    from conftest import Broker, read_port_file

    wd = tmp_path_factory.mktemp("coaps")
    psk = wd / "psk"
    psk.write_text("# coaps:// clients\nsensor-1:secret-one\nsensor-2:0x%s\n" % PSKS["sensor-2"].hex())
    os.chmod(psk, 0o600)
    b = Broker(wd / "b", {
        "coap.listeners": f"coap://{HOST}:0,coaps://{HOST}:0",
        "coap.psk.file": str(psk),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:ANONYMOUS",
    }).start()
    b.coaps_port = read_port_file(b.workdir / "ports", b.alive)["coaps"]
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    for op in (AclOperation.WRITE, AclOperation.READ, AclOperation.CREATE):
        acl = AclBinding(ResourceType.TOPIC, "dtls", ResourcePatternType.LITERAL, "User:sensor-1", "*", op,
                         AclPermissionType.ALLOW)
        admin.create_acls([acl])[acl].result(timeout=30)
    yield b
    b.stop()


def coaps_url(b, path):
    return f"coaps://{HOST}:{b.coaps_port}/{path}"


def stored(b, topic):
    """Every record value of partition 0 of topic, read over plain CoAP (an
    empty list when the topic does not exist)."""
    import json

    out = coap_client(b, "-m", "get", url(b, f"{topic}?o=0&n=100".join(["t/", ""])))
    if "4.04" in out:
        return []
    return [r["value"] for r in json.loads(out)["records"]]


def test_coaps_post_answered_separately_after_the_empty_ack_and_read_back(dtls_broker):
    """Over DTLS the durable promise holds as over UDP: the empty ACK first,
    then the separate CON 2.04 (sent once the record's flush is done); the
    identity's key as text or as 0x-hex in the file."""
    b = dtls_broker
    out = coaps_client(b.coaps_port, "sensor-1", PSKS["sensor-1"], "-v", "7", "-m", "post", "-T", "beef", "-e",
                       "41.5", coaps_url(b, "t/dtls?k=axle-1"))
    lines = [l for l in out.splitlines() if l.startswith("v:1 ")]
    assert "t:CON c:POST" in lines[0], out
    assert "t:ACK c:0.00" in lines[1], out
    assert "t:CON c:2.04" in lines[2], out
    out = coaps_client(b.coaps_port, "sensor-1", PSKS["sensor-1"], "-m", "get", coaps_url(b, "t/dtls?o=0"))
    assert '"value":"41.5"' in out, out
    assert [(r.key(), r.value()) for r in consume(b, "dtls", 1)] == [(b"axle-1", b"41.5")]


def test_aiocoap_dtls_psk_post_read_back(dtls_broker):
    """aiocoap's DTLS client (tinydtls: TLS_PSK_WITH_AES_128_CCM_8, the
    suite of constrained devices) against the same listener: CON POSTs
    answered 2.04 after the flush, a GET, and the records in Kafka."""
    b = dtls_broker

    async def go():
        ctx = await aiocoap.Context.create_client_context()
        ctx.client_credentials.load_from_dict(
            {coaps_url(b, "*"): {"dtls": {"psk": PSKS["sensor-1"], "client-identity": b"sensor-1"}}}
        )
        try:
            codes = []
            for i in range(3):
                m = aiocoap.Message(code=aiocoap.POST, uri=coaps_url(b, "t/dtls?k=aio"), payload=b"aio-%d" % i)
                codes.append((await ctx.request(m).response).code)
            r = await ctx.request(aiocoap.Message(code=aiocoap.GET, uri=coaps_url(b, "t/dtls?n=3"))).response
            return codes, r
        finally:
            await ctx.shutdown()

    codes, r = asyncio.run(go())
    assert codes == [aiocoap.CHANGED] * 3
    assert r.code == aiocoap.CONTENT and b'"value":"aio-2"' in r.payload, r.payload
    assert [x for x in stored(b, "dtls") if x.startswith("aio-")] == ["aio-0", "aio-1", "aio-2"]


def test_coaps_wrong_key_or_unknown_identity_refused_nothing_stored(dtls_broker):
    b = dtls_broker
    before = stored(b, "dtls-wrong")
    for identity, key in [("sensor-1", b"secret-two"), ("sensor-9", b"secret-one"), ("sensor-2", PSKS["sensor-1"])]:
        out = coaps_client(b.coaps_port, identity, key, "-v", "7", "-m", "post", "-e", "forged",
                           coaps_url(b, "t/dtls-wrong"))
        assert "c:2.04" not in out and "t:ACK" not in out, out
    # the right key goes through; only its record is there
    assert "4." not in coaps_client(b.coaps_port, "sensor-1", PSKS["sensor-1"], "-m", "post", "-e", "real",
                                    coaps_url(b, "t/dtls?k=wrong-test"))
    assert before == [] and "forged" not in stored(b, "dtls") and stored(b, "dtls-wrong") == []


def test_coaps_acl_deny_answers_403(dtls_broker):
    """sensor-2 holds a good key but no ACL grant: its identity is its
    principal, so writes and reads of topic dtls are 4.03."""
    b = dtls_broker
    n = len(stored(b, "dtls"))
    out = coaps_client(b.coaps_port, "sensor-2", PSKS["sensor-2"], "-m", "post", "-e", "denied",
                       coaps_url(b, "t/dtls"))
    assert "4.03" in out and "WRITE" in out, out
    out = coaps_client(b.coaps_port, "sensor-2", PSKS["sensor-2"], "-m", "get", coaps_url(b, "t/dtls"))
    assert "4.03" in out and "READ" in out, out
    assert len(stored(b, "dtls")) == n


def test_plaintext_datagrams_on_the_coaps_port_change_nothing(dtls_broker):
    """A plain CoAP POST (and garbage) sent to the DTLS port is not a DTLS
    record: dropped, nothing stored, DTLS clients carry on."""
    import socket

    b = dtls_broker
    # CON POST /t/dtls-plain with payload "plain" (RFC 7252 framing)
    path = b"dtls-plain"
    post = bytes([0x40, 0x02, 0x12, 0x34, 0xB1]) + b"t" + bytes([0x0A]) + path + b"\xffplain"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for d in (post, b"\x16\xfe\xfd" + b"\x00" * 10, b"\xff" * 40):
            s.sendto(d, (HOST, b.coaps_port))
    assert "4." not in coaps_client(b.coaps_port, "sensor-1", PSKS["sensor-1"], "-m", "post", "-e", "after",
                                    coaps_url(b, "t/dtls?k=plain-test"))
    assert "after" in stored(b, "dtls") and stored(b, "dtls-plain") == []


def test_coaps_needs_a_private_psk_file(tmp_path):
    """coaps:// without coap.psk.file, with a file others may read, or with a
    bad line: eddy does not start, and says why (never showing a key)."""
    import os

    from test_tls import serve_fails

    lst = f"coap.listeners=coaps://{HOST}:0"
    p = serve_fails(tmp_path, lst)
    assert p.returncode != 0 and b"needs coap.psk.file" in p.stdout + p.stderr
    psk = tmp_path / "psk"
    psk.write_text("sensor-1:secret-one\n")
    os.chmod(psk, 0o644)
    p = serve_fails(tmp_path, lst, f"coap.psk.file={psk}")
    assert p.returncode != 0 and b"chmod 600" in p.stdout + p.stderr
    psk.write_text("sensor-1:secret-one\nsensor-2:0xabc\n")
    os.chmod(psk, 0o600)
    p = serve_fails(tmp_path, lst, f"coap.psk.file={psk}")
    text = p.stdout + p.stderr
    assert p.returncode != 0 and b"line 2" in text and b"even number" in text and b"secret-one" not in text


def mapped_libraries(pid):
    """The file names of the shared libraries mapped into process pid."""
    with open(f"/proc/{pid}/maps") as f:
        return {line.split()[-1].rsplit("/", 1)[-1] for line in f if ".so" in line}


def test_openssl_mapped_only_with_a_coaps_listener(broker, dtls_broker, tmp_path_factory):
    """libcoap is loaded at run time: plain CoAP maps its build without TLS
    and no libssl/libcrypto; a coaps:// listener maps the OpenSSL build and
    OpenSSL; no CoAP listener maps no libcoap at all."""
    from conftest import Broker

    def has(libs, prefix):
        return any(n.startswith(prefix) for n in libs)

    plain = mapped_libraries(broker.pid)
    assert has(plain, "libcoap-3-notls.so"), plain
    assert not has(plain, "libssl") and not has(plain, "libcrypto") and not has(plain, "libcoap-3-openssl"), plain
    dtls = mapped_libraries(dtls_broker.pid)
    assert has(dtls, "libcoap-3-openssl.so") and has(dtls, "libssl") and has(dtls, "libcrypto"), dtls
    b = Broker(tmp_path_factory.mktemp("nocoap") / "b", {"coap.listeners": ""}).start()
    try:
        none = mapped_libraries(b.pid)
        assert not has(none, "libcoap") and not has(none, "libssl") and not has(none, "libcrypto"), none
    finally:
        b.stop()
