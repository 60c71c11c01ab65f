"""The mirror across a wide-area link that fails: the upstream Apache Kafka
broker (single-node KRaft) runs in a network namespace of its own
(netlab.py) and Eddy reaches it over a veth pair, the "WAN", which the
tests cut (carrier down), turn into a silent black hole (every packet
dropped, no reset), keep down for longer than the upstream's transaction
timeout, or make slow and lossy (256 kbit/s, 5 % loss, 600 ms round trips
through a delaying relay). The cut and the black hole run against both
Kafka 3.9 and 4.x as the upstream. A second pair, the datacenter's own network,
stays up: the tests read the upstream through it at any time.

After each, a read_committed consumer upstream finds exactly the records
produced into Eddy, per partition, in order, no gap, no duplicate
(mirror_check.py).

The slow link's measured uplink throughput must not exceed
mirror.rate.bytes.per.sec by more than 10 % nor fall below 75 % of it;
EDDY_MIRROR_NET_STRICT=1 (`make soak-mirror`) holds it to within 10 % from
below too (a loaded machine may lag behind that)."""

import os
import random
import re
import signal
import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

import netlab
from conftest import KAFKA_BROKER_SH, create_topic, need
from mirror_check import assert_exact, read_all
from test_mirror import BASE_TS, mirror_config, produce, start_eddy, status, upstream_batches, wait_caught_up, wait_status

STRICT = os.environ.get("EDDY_MIRROR_NET_STRICT") == "1"
# The upstream's ceiling on transaction timeouts (small, so that an outage
# can outlast it) and how often it looks for expired transactions.
TXN_MAX_MS = 10000
# Inside the namespace nothing else listens: fixed ports.
LO_PORT, DC_PORT, WAN_PORT, SLOW_PORT, CTRL_PORT, RELAY_PORT = 9092, 9093, 9094, 9095, 9096, 9097


class NetUpstream:
    """Kafka in the lab's namespace. Listeners: PLAINTEXT on 127.0.0.1
    (its start-up check), DC on the datacenter pair (the tests' view), WAN
    on the uplink (Eddy's), SLOW bound to 127.0.0.1 and advertised at the
    relay's address on the uplink."""

    def __init__(self, lab, workdir, version="3.9"):
        self.lab = lab
        self.dir = workdir
        self.version = version
        self.relay_proc = None

    @property
    def bootstrap(self):
        return f"{self.lab.dc_ns}:{DC_PORT}"

    @property
    def wan(self):
        return f"{self.lab.wan_ns}:{WAN_PORT}"

    @property
    def slow(self):
        return f"{self.lab.wan_ns}:{RELAY_PORT}"

    def start(self):
        lab = self.lab
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "controller.port").write_text(f"{CTRL_PORT}\n")
        extra = [
            f"listeners=PLAINTEXT://127.0.0.1:{LO_PORT},DC://{lab.dc_ns}:{DC_PORT},WAN://{lab.wan_ns}:{WAN_PORT},"
            f"SLOW://127.0.0.1:{SLOW_PORT},CONTROLLER://127.0.0.1:{CTRL_PORT}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{LO_PORT},DC://{lab.dc_ns}:{DC_PORT},"
            f"WAN://{lab.wan_ns}:{WAN_PORT},SLOW://{lab.wan_ns}:{RELAY_PORT}",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,DC:PLAINTEXT,WAN:PLAINTEXT,SLOW:PLAINTEXT,"
            "CONTROLLER:PLAINTEXT",
            f"transaction.max.timeout.ms={TXN_MAX_MS}",
            "transaction.abort.timed.out.transaction.cleanup.interval.ms=1000",
        ]
        lab.ns_exec(need(KAFKA_BROKER_SH), "start", self.dir, LO_PORT, self.version, *extra, timeout=180)
        return self

    def stop(self):
        self.lab.ns_exec(need(KAFKA_BROKER_SH), "stop", self.dir, check=False, timeout=90)


def datacenter(tmp_path_factory, version):
    """A lab with Apache Kafka `version` in its namespace, for a module."""
    lab = netlab.NetLab()
    try:
        u = NetUpstream(lab, tmp_path_factory.mktemp(f"dc{version}"), version).start()
        yield u
        u.stop()
    finally:
        lab.close()


@pytest.fixture(scope="module")
def dc(tmp_path_factory):
    yield from datacenter(tmp_path_factory, "3.9")


@pytest.fixture(scope="module")
def dc4(tmp_path_factory):
    """Kafka 4.x, which no longer speaks the oldest request versions."""
    yield from datacenter(tmp_path_factory, "4")


@pytest.fixture
def lab(dc):
    """The uplink, mended after each test whatever happened to it."""
    yield dc.lab
    dc.lab.mend()


@pytest.fixture(params=["3.9", "4"])
def any_dc(request):
    """The upstream of either Kafka generation, its uplink mended after the
    test."""
    u = request.getfixturevalue("dc" if request.param == "3.9" else "dc4")
    yield u
    u.lab.mend()


def net_config(dc, topics, via=None, **extra):
    settings = {"mirror.transaction.max.ms": "4000", "mirror.request.timeout.ms": "4000"}
    settings.update(extra)
    cfg = mirror_config(dc, topics, **settings)
    cfg["mirror.bootstrap.servers"] = via or dc.wan
    return cfg


def check_exact(b, dc, site, topic, n):
    local = read_all(b.bootstrap, topic, committed=False)
    assert sum(len(r) for r in local.values()) >= n
    up = read_all(dc.bootstrap, f"{site}.{topic}")
    assert_exact(local, up, site, topic)


def produce_in_background(b, topic, n, start, partitions, pace):
    t = threading.Thread(target=produce, args=(b.bootstrap, topic, n, start, partitions, pace))
    t.start()
    return t


def test_link_cut_then_mended(any_dc, tmp_path):
    """The carrier goes while records stream in and transactions are under
    way: the status says connecting with the reason; once the link is back
    the mirror resumes from the upstream checkpoints (Kafka 3.9 and 4.x)."""
    dc, lab = any_dc, any_dc.lab
    cfg = net_config(dc, "cut", **{"mirror.transaction.max.bytes": "4096"})
    site = cfg["site.id"]
    b = start_eddy(tmp_path / "eddy", cfg)
    try:
        create_topic(b, "cut", 3)
        produce(b.bootstrap, "cut", 600)
        wait_caught_up(b, ["cut"])
        t = produce_in_background(b, "cut", 1500, 600, 3, 0.002)
        time.sleep(0.5)
        lab.cut()
        st = wait_status(b, lambda s: s["state"] == "connecting", "connecting during the cut", timeout=30)
        assert st["link"] != "up" and st["last_error"], st
        errors = {st["last_error"]}
        t.join()
        st = wait_status(b, lambda s: all(p["lag"] > 0 for p in s["partitions"] if p["topic"] == "cut"),
                         "a backlog while cut", timeout=30)
        assert st["state"] == "connecting", st
        time.sleep(3)  # reconnecting into the cut
        errors.add(status(b)["last_error"])
        print(f"link cut: status errors {sorted(errors)}")
        lab.mend()
        wait_caught_up(b, ["cut"], timeout=120)
        check_exact(b, dc, site, "cut", 2100)
        assert status(b)["last_error"] == ""
    finally:
        b.stop()


def test_black_hole_detected_by_request_timeout(any_dc, tmp_path):
    """Every packet dropped, no reset: the connection stays open and
    silent (half-open). No answer within mirror.request.timeout.ms marks it
    dead; the status says so; after the rule goes the mirror resumes
    (Kafka 3.9 and 4.x)."""
    dc, lab = any_dc, any_dc.lab
    cfg = net_config(dc, "hole", **{"mirror.transaction.max.bytes": "4096"})
    site = cfg["site.id"]
    b = start_eddy(tmp_path / "eddy", cfg)
    try:
        create_topic(b, "hole", 2)
        produce(b.bootstrap, "hole", 400, partitions=2)
        wait_caught_up(b, ["hole"])
        lab.black_hole()
        t0 = time.monotonic()
        produce(b.bootstrap, "hole", 600, start=400, partitions=2)
        st = wait_status(b, lambda s: "request timed out" in s["last_error"], "a request timeout", timeout=30)
        assert st["state"] == "connecting" and st["link"] == "reconnecting", st
        took = time.monotonic() - t0
        # reconnecting into the hole: the connection attempts time out too
        wait_status(b, lambda s: "connect timed out" in s["last_error"], "a connect timeout", timeout=30)
        print(f"black hole: dead link seen after {took:.1f} s (request timeout 4 s)")
        lab.mend()
        wait_caught_up(b, ["hole"], timeout=120)
        check_exact(b, dc, site, "hole", 1000)
        assert "request timed out (no answer within the request timeout)" in (b.workdir / "eddy.log").read_text()
    finally:
        b.stop()


def watermarks(dc, topic, partitions):
    """{partition: (last stable offset, high watermark)} upstream."""
    out = {}
    cs = [
        Consumer({"bootstrap.servers": dc.bootstrap, "group.id": "wm", "isolation.level": iso})
        for iso in ("read_committed", "read_uncommitted")
    ]
    try:
        for p in range(partitions):
            lso = cs[0].get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            hw = cs[1].get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            out[p] = (lso, hw)
    finally:
        for c in cs:
            c.close()
    return out


def epochs(b):
    log = (b.workdir / "eddy.log").read_text()
    return [int(e) for e in re.findall(r"transactional id \S+: producer id \d+ epoch (\d+)", log)]


def slow_busy_uplink(dc, lab, tmp_path, topic, **extra):
    """An Eddy mirroring topic (one partition, 200 records upstream) in
    transactions of 8 kB over an uplink of 64 kbit/s, 3,000 more records
    being produced in the background: (broker, site, producer thread).
    At that rate each Produce is on the wire for about a second, a
    transaction's other requests are short."""
    cfg = net_config(dc, topic, **{"mirror.transaction.max.bytes": "8192", "mirror.compression.type": "none"},
                     **extra)
    b = start_eddy(tmp_path / "eddy", cfg)
    try:
        create_topic(b, topic, 1)
        produce(b.bootstrap, topic, 200, partitions=1)
        wait_caught_up(b, [topic])
        lab.rate(64)
        return b, cfg["site.id"], produce_in_background(b, topic, 3000, 200, 1, 0.0)
    except BaseException:
        b.stop()
        raise


def test_outage_longer_than_transaction_timeout(dc, lab, tmp_path):
    """Cut mid-transaction (records of it written upstream, not committed)
    for longer than the transaction timeout: the upstream aborts it, the
    mirror takes a new epoch when the link is back and resumes from the
    checkpoint: exactly once; the aborted copies are only visible to
    read_uncommitted readers."""
    b, site, t = slow_busy_uplink(dc, lab, tmp_path, "long")
    up_topic = f"{site}.long"
    try:
        # From a random moment on the upstream's answers are lost, so the
        # request then on the wire is acted on upstream and never
        # answered: most often a Produce, whose records then wait upstream
        # in an open transaction.
        # Each attempt catches one with some probability (lower on a loaded
        # machine, where a Produce may not have reached the upstream yet):
        # try often, and give the Produce on the wire time to land.
        open_txn = False
        for _attempt in range(30):
            time.sleep(random.uniform(1.0, 2.0))
            lab.answers_lost(WAN_PORT)
            time.sleep(2.0)  # under mirror.request.timeout.ms, after which a reconnect would abort it
            lso, hw = watermarks(dc, up_topic, 1)[0]
            if lso < hw:
                open_txn = True
                break
            lab.mend()
            lab.rate(64)
        assert open_txn, "never caught a transaction with records upstream"
        lab.cut()
        t_cut = time.monotonic()
        # the upstream aborts it on its own once the transaction timeout passes
        deadline = time.time() + 30
        while time.time() < deadline and watermarks(dc, up_topic, 1)[0][0] < hw:
            time.sleep(0.5)
        aborted_after = time.monotonic() - t_cut
        lso2, hw2 = watermarks(dc, up_topic, 1)[0]
        # the abort marker follows the records; Eddy could not have asked
        # for it (its link is cut)
        assert lso2 == hw2 > hw, (lso2, hw2, hw)
        # ... and Eddy, its request unanswered, is reconnecting into the cut
        wait_status(b, lambda s: s["state"] == "connecting", "connecting during the cut", timeout=20)
        t.join()
        # the outage lasts twice the transaction timeout
        time.sleep(max(0.0, 8.0 - (time.monotonic() - t_cut)))
        lab.mend()
        wait_caught_up(b, ["long"], timeout=120)
        check_exact(b, dc, site, "long", 3200)
        # the aborted attempt's records are upstream but only read_uncommitted sees them
        seen = read_all(dc.bootstrap, up_topic, committed=False)[0]
        assert len(seen) > 3200
        e = epochs(b)
        assert len(e) >= 2 and e[-1] > e[0], e
        print(f"open transaction aborted upstream {aborted_after:.1f} s into the cut; epochs {e}")
    finally:
        b.stop()


def test_stall_past_transaction_timeout_is_no_fencing(dc, lab, tmp_path):
    """The upstream's answers stop for longer than the transaction timeout
    but shorter than the request timeout (a stalled, not a dead, link): the
    coordinator aborts the open transaction and bumps the epoch, and when
    the answers come through the next request of that transaction is
    refused as fenced. That is no other instance: the mirror starts over
    from InitProducerId and the checkpoints (it used to stop for good)."""
    b, site, t = slow_busy_uplink(dc, lab, tmp_path, "stall", **{"mirror.request.timeout.ms": "30000"})
    try:
        log = b.workdir / "eddy.log"
        hit = False
        for _attempt in range(10):
            time.sleep(random.uniform(0.5, 1.5))
            lab.answers_lost(WAN_PORT)
            time.sleep(7)  # past the transaction timeout (4 s) and the upstream's check (1 s)
            lab.mend()
            lab.rate(64)
            deadline = time.time() + 25
            while time.time() < deadline and not hit:
                hit = "the upstream aborted it" in log.read_text()
                assert "mirror stopped" not in log.read_text(), b.log_tail()
                time.sleep(0.5)
            if hit:
                break
        assert hit, f"no transaction outlived its timeout:\n{b.log_tail()}"
        t.join()
        lab.mend()
        wait_caught_up(b, ["stall"], timeout=120)
        check_exact(b, dc, site, "stall", 3200)
        assert "mirror stopped" not in log.read_text()
    finally:
        b.stop()


def upstream_bytes(dc, topics):
    return sum(n for t in topics for _c, n in upstream_batches(dc, t))


def test_slow_lossy_link_cap_priority_drain(dc, lab, tmp_path):
    """256 kbit/s, 5 % loss each way, 600 ms round trips, and a cap well
    below the link: the batch bytes arriving upstream per second stay
    within 10 % of mirror.rate.bytes.per.sec from above, and from below
    within 25 % (10 % under EDDY_MIRROR_NET_STRICT), alarms (higher mirror.priority)
    overtake the backlog of bulk, and once the link is mended the backlog
    drains: exactly once."""
    rate = 4000
    cfg = net_config(
        dc,
        "bulk,alarms",
        via=dc.slow,
        **{
            "mirror.rate.bytes.per.sec": str(rate),
            "mirror.compression.type": "none",
            "mirror.priority": "alarms:100,bulk:10",
            "mirror.request.timeout.ms": "15000",
            "mirror.transaction.max.ms": "9000",
        },
    )
    site = cfg["site.id"]
    ups = [f"{site}.bulk", f"{site}.alarms"]
    relay = lab.relay(RELAY_PORT, f"127.0.0.1:{SLOW_PORT}", 300)
    lab.rate(256)
    lab.lossy(5)
    b = start_eddy(tmp_path / "eddy", cfg)
    try:
        create_topic(b, "bulk", 2)
        create_topic(b, "alarms", 1)
        # 200 kB of incompressible backlog: 50 s at the cap
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 5})
        rnd = random.Random(3)
        for i in range(200):
            p.produce("bulk", key=f"k{i}".encode(), value=rnd.randbytes(1000), timestamp=BASE_TS + i, partition=i % 2)
        assert p.flush(60) == 0
        def alarms():
            time.sleep(12)
            for i in range(5):
                produce(b.bootstrap, "alarms", 1, start=i, partitions=1)
                time.sleep(1)

        alarm_thread = threading.Thread(target=alarms)
        alarm_thread.start()
        samples = []  # (time, upstream batch bytes)
        alarms_done = None
        t_end = time.monotonic() + 45
        while time.monotonic() < t_end:
            samples.append((time.monotonic(), upstream_bytes(dc, ups)))
            st = status(b) if alarms_done is None and not alarm_thread.is_alive() else None
            parts = {(q["topic"], q["partition"]): q for q in (st or {}).get("partitions", [])}
            a = parts.get(("alarms", 0))
            if a and a["mirrored"] == 5:
                alarms_done = sum(q["lag"] for (tp, _p), q in parts.items() if tp == "bulk")
            time.sleep(0.05)
        alarm_thread.join()
        assert alarms_done is not None, f"alarms not upstream within the window: {status(b)}"
        assert alarms_done > 0, "the bulk backlog drained before the alarms went: nothing proved"
        # the bytes upstream grow in steps, one per transaction; the rate
        # is the least-squares slope through the steps after the first 8 s
        # (the first bucket is full), which the jitter of single steps
        # (a lost packet delays one) moves less than its two ends would
        t0 = samples[0][0] + 8
        jumps = [((t + pt) / 2, n) for (t, n), (pt, pn) in zip(samples[1:], samples) if n > pn and t >= t0]
        assert len(jumps) >= 5, f"too few transactions upstream: {jumps}"
        mt = sum(t for t, _n in jumps) / len(jumps)
        mn = sum(n for _t, n in jumps) / len(jumps)
        measured = sum((t - mt) * (n - mn) for t, n in jumps) / sum((t - mt) ** 2 for t, _n in jumps)
        ta, tb = jumps[0][0], jumps[-1][0]
        print(f"slow lossy link: {measured:.0f} B/s upstream over {tb - ta:.1f} s, cap {rate} B/s "
              f"({measured / rate:.2f} of it), {len(jumps)} transactions; alarms upstream with "
              f"{alarms_done} bulk records still behind them")
        assert measured <= rate * 1.10, measured
        # one transaction at a time over 600 ms round trips: a bucket of one
        # second's bytes held the uplink to about half the cap
        assert measured >= rate * (0.90 if STRICT else 0.75), measured
        lab.mend()
        relay.send_signal(signal.SIGUSR2)
        wait_caught_up(b, ["bulk", "alarms"], timeout=120)
        check_exact(b, dc, site, "bulk", 200)
        check_exact(b, dc, site, "alarms", 5)
    finally:
        b.stop()
