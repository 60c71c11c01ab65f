"""The mirror's link to a datacenter's Kafka: TLS and SASL/SCRAM to the
upstream (a real Apache Kafka broker with a SASL_SSL listener and
SCRAM-SHA-512 users, certificates made with openssl here), refusals that
show in `eddy mirror status` while the mirror keeps retrying (a wrong
password, an unknown certificate authority) and a resume from the
upstream checkpoints with no gap and no duplicate once they are fixed;
every address of mirror.bootstrap.servers tried in turn; the upstream
topics' timestamp settings checked; Kafka 4.x as the upstream.

Every comparison reads the upstream with isolation.level=read_committed
(the helpers of test_mirror.py)."""

import pytest

from conftest import EDDY_BIN, HOST, KAFKA_BROKER_SH, create_topic, free_port, kafka_add_scram_users, need, run
from test_mirror import BASE_TS, assert_exact, mirror_config, produce, read_all, start_eddy, status, wait_caught_up, wait_status
from test_tls import pki  # noqa: F401  (the fixture: an authority, another one, a server certificate)

USER, PASSWORD = "gateway-7", "s3cret-uplink-pw"
MECH = "SCRAM-SHA-512"


class SecureUpstream:
    """A single-node Kafka with a PLAINTEXT listener (the tests' own
    look, and users made through it) and a SASL_SSL one with SCRAM-SHA-512
    (the mirror's)."""

    def __init__(self, workdir, pki, version="3.9"):
        self.dir = workdir
        self.pki = pki
        self.version = version
        self.port = free_port()
        self.sasl_port = free_port()
        cport = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "controller.port").write_text(f"{cport}\n")
        self.extra = [
            f"listeners=PLAINTEXT://{HOST}:{self.port},SASL_SSL://{HOST}:{self.sasl_port},CONTROLLER://{HOST}:{cport}",
            f"advertised.listeners=PLAINTEXT://{HOST}:{self.port},SASL_SSL://{HOST}:{self.sasl_port}",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            f"sasl.enabled.mechanisms={MECH}",
            f"listener.name.sasl_ssl.{MECH.lower()}.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={pki / 'server.pem'}",
        ]

    @property
    def bootstrap(self):  # the tests' plaintext look
        return f"{HOST}:{self.port}"

    @property
    def sasl_bootstrap(self):
        return f"{HOST}:{self.sasl_port}"

    def start(self):
        run([need(KAFKA_BROKER_SH), "start", self.dir, self.port, self.version, *self.extra], timeout=150)
        assert int((self.dir / "kafka.port").read_text()) == self.port
        self.set_password(PASSWORD)
        return self

    def logs_in(self, pw):
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({
            "bootstrap.servers": self.sasl_bootstrap, "security.protocol": "SASL_SSL",
            "ssl.ca.location": str(self.pki / "ca.pem"), "sasl.mechanism": MECH,
            "sasl.username": USER, "sasl.password": pw,
        })
        try:
            admin.list_topics(timeout=5)
            return True
        except KafkaException:
            return False

    def set_password(self, pw):
        kafka_add_scram_users(self, {USER: pw}, [MECH], lambda _m, _n, p: self.logs_in(p))

    def stop(self):
        run([need(KAFKA_BROKER_SH), "stop", self.dir], timeout=90, check=False)


@pytest.fixture(scope="module")
def secure(pki, tmp_path_factory):
    u = SecureUpstream(tmp_path_factory.mktemp("secure-upstream"), pki).start()
    yield u
    u.stop()


def secure_config(u, topics, password=PASSWORD, ca=None, **extra):
    cfg = mirror_config(u, topics, **extra)
    cfg.update({
        "mirror.bootstrap.servers": u.sasl_bootstrap,
        "mirror.security.protocol": "SASL_SSL",
        "mirror.sasl.mechanism": MECH,
        "mirror.sasl.username": USER,
        "mirror.sasl.password": password,
        "mirror.ssl.ca.location": str(ca or u.pki / "ca.pem"),
    })
    return cfg


def mirror_status_text(b):
    return run([str(EDDY_BIN), "mirror", "status", "--data", str(b.log_dir)], check=False).stdout.decode()


def check_exact(b, u, site, topic):
    local = read_all(b.bootstrap, topic, committed=False)
    up = read_all(u.bootstrap, f"{site}.{topic}")
    assert_exact(local, up, site, topic)
    return sum(len(r) for r in local.values())


def mirroring(u, tmp_path, topic, n, partitions, **cfg_changes):
    """An Eddy mirroring topic (partitions) to u over SASL_SSL, with n
    records produced and mirrored: (broker, site)."""
    cfg = secure_config(u, topic)
    cfg.update(cfg_changes)
    b = start_eddy(tmp_path / "eddy", cfg)
    try:
        create_topic(b, topic, partitions)
        produce(b.bootstrap, topic, n, partitions=partitions)
        wait_caught_up(b, [topic], timeout=60)
    except BaseException:
        b.stop()
        raise
    return b, cfg["site.id"]


def restart_with(b, topic, n_more, start, key, value):
    """Restarts b with key=value, then produces n_more records from start."""
    b.stop()
    b.config[key] = value
    b.start()
    produce(b.bootstrap, topic, n_more, start=start, partitions=2)


def check_backlog_detail(st, unmirrored):
    """Per partition of the status st, whose records produce() numbered
    `unmirrored` are not upstream: the age of the oldest is measured from
    its CreateTime, and the lag in bytes covers their keys, values and
    headers plus the batch framing."""
    for p in st["partitions"]:
        mine = [i for i in unmirrored if i % 2 == p["partition"]]
        assert p["oldest_unmirrored_ms"] == st["updated_ms"] - (BASE_TS + mine[0]), p
        payload = sum(len(f"key-{i}") + len(f"value-{i}-") * (1 + i % 7) + len(f"seq{i}kindtest") for i in mine)
        assert payload < p["lag_bytes"] < payload + 64 * len(mine) + 4096, (payload, p)


def test_mirror_over_sasl_ssl_exactly_once(secure, tmp_path):
    b, site = mirroring(secure, tmp_path, "sec", 1500, 3)
    try:
        assert check_exact(b, secure, site, "sec") == 1500
        st = status(b)
        assert st["link"] == "up" and st["upstream"] == secure.sasl_bootstrap, st
        # the password is never logged nor shown
        text = mirror_status_text(b)
        assert f"site {site} -> {secure.sasl_bootstrap}: mirroring (link up)" in text, text
        for shown in [text, (b.log_dir / "mirror-status.json").read_text(), (b.workdir / "eddy.log").read_text()]:
            assert PASSWORD not in shown
    finally:
        b.stop()


def test_mirror_wrong_password_retries_then_resumes(secure, tmp_path):
    """A password the upstream refuses shows in the status while the mirror
    keeps retrying; once the upstream accepts it (the user's password set
    to it there) the mirror logs in on its own and resumes from its
    checkpoints: no gap, no duplicate."""
    wrong = "not-the-password"
    b, site = mirroring(secure, tmp_path, "pw", 600, 2)
    try:
        restart_with(b, "pw", 400, 600, "mirror.sasl.password", wrong)
        st = wait_status(b, lambda s: "SASL authentication failed" in s["last_error"], "a SASL refusal")
        assert st["state"] == "connecting", st
        text = mirror_status_text(b)
        assert "last error: SASL authentication failed" in text, text
        assert all(p["mirrored"] == 300 and p["lag"] == 200 for p in st["partitions"]), st
        check_backlog_detail(st, range(600, 1000))
        assert "LAG-BYTES" in text and "AGE" in text and "RECORDS/S" in text, text
        assert b.alive()
        # the upstream now takes the password the gateway has: the retries get in
        secure.set_password(wrong)
        try:
            wait_caught_up(b, ["pw"], timeout=90)
        finally:
            secure.set_password(PASSWORD)
        assert check_exact(b, secure, site, "pw") == 1000
        st = status(b)
        assert all(p["lag_bytes"] == 0 and p["oldest_unmirrored_ms"] == 0 for p in st["partitions"]), st
        assert wrong not in (b.workdir / "eddy.log").read_text()
    finally:
        b.stop()


def test_mirror_unknown_ca_shows_then_resumes_after_restart(secure, tmp_path):
    """A trust store that does not hold the upstream's authority: the status
    says the certificate failed verification, the mirror keeps retrying;
    restarted with the right one it resumes with no gap and no duplicate."""
    b, site = mirroring(secure, tmp_path, "ca", 500, 2)
    try:
        restart_with(b, "ca", 300, 500, "mirror.ssl.ca.location", str(secure.pki / "other.pem"))
        st = wait_status(b, lambda s: "certificate verification failed" in s["last_error"], "a TLS refusal")
        assert st["state"] == "connecting" and st["last_error"].startswith("TLS: "), st
        assert b.alive()
        b.stop()
        b.config["mirror.ssl.ca.location"] = str(secure.pki / "ca.pem")
        b.start()
        wait_caught_up(b, ["ca"])
        assert check_exact(b, secure, site, "ca") == 800
    finally:
        b.stop()


def test_mirror_tries_every_bootstrap_address(secure, tmp_path):
    """The first address of mirror.bootstrap.servers is dead (nothing
    listens there); the second is the upstream."""
    servers = f"{HOST}:{free_port()}, {secure.sasl_bootstrap}"
    b, site = mirroring(secure, tmp_path, "boot", 300, 2, **{"mirror.bootstrap.servers": servers})
    try:
        assert check_exact(b, secure, site, "boot") == 300
    finally:
        b.stop()


def create_upstream_topic(u, name, partitions, config):
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": u.bootstrap})
    for f in admin.create_topics([NewTopic(name, partitions, 1, config=config)], request_timeout=30).values():
        f.result(timeout=60)


def test_mirror_refuses_log_append_time_topic(secure, tmp_path):
    """An upstream topic with message.timestamp.type=LogAppendTime would lose
    the records' CreateTime: it is refused with a clear status error (its
    partitions in state error, nothing written to it) while another topic
    is mirrored exactly."""
    cfg = secure_config(secure, "lat,fine")
    site = cfg["site.id"]
    create_upstream_topic(secure, f"{site}.lat", 2, {"message.timestamp.type": "LogAppendTime"})
    b = start_eddy(tmp_path / "eddy", cfg)
    try:
        create_topic(b, "lat", 2)
        create_topic(b, "fine", 2)
        produce(b.bootstrap, "lat", 100, partitions=2)
        produce(b.bootstrap, "fine", 200, partitions=2)
        wait_caught_up(b, ["fine"], timeout=60)
        st = wait_status(b, lambda s: "LogAppendTime" in s["last_error"], "a LogAppendTime refusal")
        assert f"upstream topic {site}.lat has message.timestamp.type=LogAppendTime" in st["last_error"], st
        lat = [p for p in st["partitions"] if p["topic"] == "lat"]
        assert len(lat) == 2 and all(p["state"] == "error" and p["lag"] == 50 for p in lat), st
        assert check_exact(b, secure, site, "fine") == 200
        assert read_all(secure.bootstrap, f"{site}.lat") == {0: [], 1: []}
        assert "LogAppendTime" in mirror_status_text(b)
    finally:
        b.stop()


def test_mirror_reports_timestamp_window_below_backlog_age(secure, tmp_path):
    """A backlog an hour old (produce()'s CreateTimes) and an upstream topic
    that accepts timestamps at most a minute old
    (message.timestamp.before.max.ms): reported at start."""
    cfg = secure_config(secure, "old")
    site = cfg["site.id"]
    create_upstream_topic(secure, f"{site}.old", 1, {"message.timestamp.before.max.ms": "60000"})
    mirror_keys = {k: v for k, v in cfg.items() if k.startswith("mirror.") or k == "site.id"}
    b = start_eddy(tmp_path / "eddy", {k: v for k, v in cfg.items() if k not in mirror_keys})
    try:
        create_topic(b, "old", 1)
        produce(b.bootstrap, "old", 50, partitions=1)
        b.stop()
        b.config.update(mirror_keys)
        b.start()
        st = wait_status(b, lambda s: "before.max" in s["last_error"], "a timestamp window report")
        assert (f"upstream topic {site}.old: message.timestamp.before.max.ms=60000 is below the age "
                "of the backlog") in st["last_error"], st
        assert "the broker will reject its oldest records" in (b.workdir / "eddy.log").read_text()
    finally:
        b.stop()


@pytest.fixture(scope="module")
def secure4(pki, tmp_path_factory):
    u = SecureUpstream(tmp_path_factory.mktemp("secure-upstream-4"), pki, version="4").start()
    yield u
    u.stop()


def test_mirror_to_kafka_4_over_sasl_ssl(secure4, tmp_path):
    """Kafka 4.x as the upstream (SASL_SSL, SCRAM-SHA-512): records copied
    exactly once across a kill -9 of Eddy, and the timestamp settings read
    from a broker without message.timestamp.difference.max.ms."""
    b, site = mirroring(secure4, tmp_path, "k4", 800, 2)
    try:
        b.kill9()
        b.start()
        produce(b.bootstrap, "k4", 400, start=800, partitions=2)
        wait_caught_up(b, ["k4"])
        assert check_exact(b, secure4, site, "k4") == 1200
        assert status(b)["last_error"] == ""
    finally:
        b.stop()
