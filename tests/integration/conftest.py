"""Integration-test fixtures: start the broker under test (Eddy, or with
EDDY_TEST_TARGET=kafka a real Apache Kafka 3.9 broker) and run the real,
unmodified peers installed by tests/peers/install.sh against it.

A missing peer is a failure, never a skip."""

import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

import kwire

REPO = Path(__file__).resolve().parents[2]
PEERS_DIR = REPO / "tests" / "peers"
CACHE = Path(os.environ.get("EDDY_PEERS") or Path.home() / ".cache" / "eddy-peers")
VENV_PY = CACHE / "venv" / "bin" / "python"
FRANZ = CACHE / "bin" / "franz-peer"
KAFKAJS_PEER = PEERS_DIR / "kafkajs" / "peer.js"
KAFKA_SH = PEERS_DIR / "kafka.sh"
KAFKA_BROKER_SH = PEERS_DIR / "kafka-broker.sh"
# Recordings of real sensor data the tests replay (provenance in its README.md).
DATA_DIR = REPO / "tests" / "data"

TARGET = os.environ.get("EDDY_TEST_TARGET", "eddy")
EDDY_BIN = Path(os.environ.get("EDDY_BIN") or REPO / "build" / "eddy")
# The Apache Kafka version a "kafka" target runs.
KAFKA_TARGET_VERSION = os.environ.get("EDDY_KAFKA_VERSION", "3.9")
# Both Apache Kafka CLI generations the tests drive.
KAFKA_CLI_VERSIONS = ["3.9", "4"]

# Settings every broker under test gets (Kafka's key names). The initial
# rebalance delay is Kafka's group.initial.rebalance.delay.ms; 0 keeps the
# group-using tools from waiting 3 s each.
DEFAULT_CONFIG = {
    "num.partitions": "1",
    "auto.create.topics.enable": "true",
    "group.initial.rebalance.delay.ms": "0",
}

HOST = "127.0.0.1"


_brokers = []


def _on_sigterm(signum, frame):
    # A global timeout (run.sh) ends the run: unwind so fixtures stop brokers.
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    signal.signal(signal.SIGTERM, _on_sigterm)


def pytest_unconfigure(config):
    # Whatever a crashed fixture left behind.
    for b in _brokers:
        if b.alive():
            b.kill9()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # A failed test shows the end of its broker's log.
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and call.when in ("setup", "call"):
        for name in ("broker", "fresh_broker"):
            b = getattr(item, "funcargs", {}).get(name)
            if isinstance(b, Broker):
                rep.sections.append((f"{name} log ({b.workdir})", b.log_tail(60)))


def pytest_report_header(config):
    what = f"Apache Kafka {KAFKA_TARGET_VERSION}" if TARGET == "kafka" else str(EDDY_BIN)
    return [f"broker under test: {what}", f"peers: {CACHE}", f"recordings: {DATA_DIR}"]


def free_port():
    """A port that was free a moment ago: another process may take it before
    the caller binds it. Brokers under test do not use it (see Broker)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def read_port_file(path, alive, timeout=30):
    """{name: port} from the NAME=host:port lines `eddy serve --port-file`
    writes once every listener is bound; waits for the file while alive()."""
    deadline = time.time() + timeout
    while not path.exists():
        if not alive():
            raise AssertionError(f"broker exited before writing {path}")
        if time.time() > deadline:
            raise AssertionError(f"no port file {path} after {timeout}s")
        time.sleep(0.02)
    ports = {}
    for line in path.read_text().splitlines():
        name, _, addr = line.partition("=")
        ports.setdefault(name, int(addr.rpartition(":")[2]))
    return ports


# ---------------------------------------------------------------------------
# Running peers.


def need(path_or_name):
    """The path of a peer program; fails the test if it is not installed."""
    p = Path(path_or_name)
    if p.is_absolute():
        if not p.exists():
            pytest.fail(f"peer missing: {p} (tests/peers/install.sh must install it)", pytrace=False)
        return str(p)
    found = shutil.which(str(path_or_name))
    if not found:
        pytest.fail(f"peer missing: {path_or_name} not on PATH (tests/peers/install.sh must install it)", pytrace=False)
    return found


def _show(b, limit=4000):
    s = b.decode(errors="replace") if isinstance(b, bytes) else (b or "")
    return s if len(s) <= limit else s[:limit] + f"... ({len(s)} chars)"


def run(cmd, *, input=None, timeout=90, env=None, check=True, cwd=None):
    """Run a peer to completion; bytes in, CompletedProcess (bytes) out.
    A non-zero exit (when check) or a timeout fails the test with its output."""
    cmd = [str(c) for c in cmd]
    full_env = dict(os.environ, **(env or {}))
    try:
        p = subprocess.run(
            cmd,
            input=input,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=timeout,
            env=full_env,
            cwd=cwd,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as e:
        raise AssertionError(
            f"timed out after {timeout}s: {' '.join(cmd)}\nstdout: {_show(e.stdout)}\nstderr: {_show(e.stderr)}"
        ) from None
    if check and p.returncode != 0:
        raise AssertionError(
            f"exit {p.returncode}: {' '.join(cmd)}\nstdout: {_show(p.stdout)}\nstderr: {_show(p.stderr)}"
        )
    return p


def kcat(broker, *args, input=None, timeout=60, check=True):
    return run([need("kcat"), "-b", broker.bootstrap, *args], input=input, timeout=timeout, check=check)


def kafka_tool(version, tool, *args, input=None, timeout=90, check=True):
    """Apache Kafka's CLI tool by its usual name (kafka-topics ...)."""
    need(KAFKA_SH)
    return run([KAFKA_SH, version, tool, *args], input=input, timeout=timeout, check=check)


def kafka_tool_popen(version, tool, *args):
    need(KAFKA_SH)
    return subprocess.Popen(
        [str(KAFKA_SH), version, tool, *map(str, args)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def venv_python(*args, input=None, timeout=90):
    return run([need(VENV_PY), *args], input=input, timeout=timeout)


def node_peer(*args, input=None, timeout=90):
    need(KAFKAJS_PEER)
    env = {"NODE_PATH": str(CACHE / "node" / "node_modules"), "KAFKAJS_NO_PARTITIONER_WARNING": "1"}
    return run([need("node"), KAFKAJS_PEER, *args], input=input, timeout=timeout, env=env)


def franz(*args, input=None, timeout=90):
    return run([need(FRANZ), *args], input=input, timeout=timeout)


# ---------------------------------------------------------------------------
# The broker under test.


class Broker:
    """One broker process on 127.0.0.1:port with its data in a temp dir.
    start/stop (SIGTERM, then SIGKILL)/kill9/restart; restart keeps the data.

    The first start binds port 0 (Eddy: Kafka and MQTT listeners; Kafka:
    kafka-broker.sh picks and retries) and reads the ports really bound, so
    no other process can take a port between its choice and the bind.
    Restarts reuse those ports: clients of the test reconnect to them."""

    def __init__(self, workdir, config=None):
        self.workdir = Path(workdir)
        self.port = 0  # the Kafka port, known once started
        self.mqtt_port = 0  # Eddy's MQTT listener, never the default 1883
        self.coap_port = 0  # Eddy's CoAP listener (UDP), never the default 5683
        self.http_port = 0  # Eddy's HTTP listener, never the default 8080
        self.host = HOST
        self.config = dict(DEFAULT_CONFIG, **(config or {}))
        self.proc = None
        self.pid = None
        _brokers.append(self)

    @property
    def bootstrap(self):
        return f"{HOST}:{self.port}"

    # The directory holding <topic>-<partition>/ folders.
    @property
    def log_dir(self):
        return self.workdir / ("data" if TARGET == "kafka" else "log")

    def start(self):
        if TARGET == "kafka":
            extra = [f"{k}={v}" for k, v in self.config.items()]
            run(
                [need(KAFKA_BROKER_SH), "start", self.workdir, self.port, KAFKA_TARGET_VERSION, *extra],
                timeout=150,
            )
            self.pid = int((self.workdir / "kafka.pid").read_text())
            self.port = int((self.workdir / "kafka.port").read_text())
            self.wait_ready()
        else:
            self.start_eddy([str(EDDY_BIN)])
        return self

    def start_eddy(self, argv0, timeout=30):
        """Starts `argv0... serve` on the ports (0 at first), reads the
        ports bound from its port file, waits until it is ready."""
        if not Path(argv0[-1]).exists():
            pytest.fail(f"broker binary missing: {argv0[-1]} (build it with make, or set EDDY_BIN)", pytrace=False)
        port_file = self.workdir / "ports"
        cmd = argv0 + [
            "serve",
            "--port-file",
            str(port_file),
            "--set",
            f"listeners=PLAINTEXT://{HOST}:{self.port}",
            "--set",
            f"log.dirs={self.log_dir}",
            "--set",
            f"mqtt.listeners=mqtt://{HOST}:{self.mqtt_port}",
            "--set",
            f"coap.listeners=coap://{HOST}:{self.coap_port}",
            "--set",
            f"http.listeners=http://{HOST}:{self.http_port}",
        ]
        for k, v in self.config.items():
            cmd += ["--set", f"{k}={v}"]
        self.workdir.mkdir(parents=True, exist_ok=True)
        port_file.unlink(missing_ok=True)
        with open(self.workdir / "eddy.log", "ab") as logf:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        try:
            ports = read_port_file(port_file, self.alive, timeout)
        except AssertionError as e:
            raise AssertionError(f"{e}:\n{self.log_tail()}") from None
        self.port, self.mqtt_port = ports["PLAINTEXT"], ports.get("mqtt", 0)
        self.coap_port = ports.get("coap", 0)
        self.http_port = ports.get("http", ports.get("https", 0))
        self.wait_ready(timeout)

    def log_tail(self, n=40):
        name = "server.log" if TARGET == "kafka" else "eddy.log"
        try:
            return "\n".join((self.workdir / name).read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def alive(self):
        if self.pid is None:
            return False
        if self.proc is not None:
            return self.proc.poll() is None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def wait_ready(self, timeout=30):
        """Ready = answers ApiVersions v0 and lists itself in Metadata."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if not self.alive():
                raise AssertionError(f"broker exited during start-up:\n{self.log_tail()}")
            try:
                with kwire.Conn(HOST, self.port, timeout=2) as c:
                    if c.api_versions(0)["error"] == 0 and c.metadata([])["brokers"]:
                        return
            except (OSError, kwire.Closed, kwire.Truncated, AssertionError) as e:
                last = e
            time.sleep(0.05)
        raise AssertionError(f"broker not ready on {self.bootstrap} after {timeout}s ({last}):\n{self.log_tail()}")

    def _signal_and_wait(self, sig, timeout):
        if not self.alive():
            return True
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc is not None:
                try:
                    self.proc.wait(timeout=0.05)
                    return True
                except subprocess.TimeoutExpired:
                    continue
            if not self.alive():
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        """SIGTERM, then SIGKILL if it has not exited within 30 s. Returns
        True when the broker exited on SIGTERM."""
        clean = self._signal_and_wait(signal.SIGTERM, 30)
        if not clean:
            self._signal_and_wait(signal.SIGKILL, 30)
        self._forget()
        return clean

    def kill9(self):
        self._signal_and_wait(signal.SIGKILL, 30)
        self._forget()

    def _forget(self):
        if TARGET == "kafka":
            (self.workdir / "kafka.pid").unlink(missing_ok=True)
        self.proc = None
        self.pid = None

    def restart(self):
        if self.alive():
            self.stop()
        return self.start()

    def conn(self, timeout=10.0):
        return kwire.Conn(HOST, self.port, timeout=timeout)


@pytest.fixture(scope="session")
def peers_dir():
    return PEERS_DIR


def _make_broker(tmp_path_factory, config, name):
    b = Broker(tmp_path_factory.mktemp(name), config)
    b.start()
    return b


@pytest.fixture(scope="module")
def broker(request, tmp_path_factory):
    """One broker per test module; a module may set BROKER_CONFIG = {...}
    (Kafka key names) for extra settings."""
    config = getattr(request.module, "BROKER_CONFIG", {})
    b = _make_broker(tmp_path_factory, config, "broker")
    yield b
    b.stop()


@pytest.fixture
def fresh_broker(request, tmp_path_factory):
    """A broker of the test's own (for tests that kill or restart it)."""
    config = getattr(request.module, "BROKER_CONFIG", {})
    b = _make_broker(tmp_path_factory, config, "fresh")
    yield b
    b.stop()


_rdkafka_dir = None


def current_librdkafka_env():
    """The environment that runs kcat with the librdkafka bundled in the
    peers' confluent-kafka wheel instead of the system's (Debian's 2.0.2).
    Debian's sends its client nonce twice in the SCRAM client-final message
    (fixed in librdkafka 2.6.1); Apache Kafka 4.x checks the nonce as RFC
    5802 says and refuses every such login, Kafka 3.9 and Eddy accept it."""
    global _rdkafka_dir
    if _rdkafka_dir is None:
        libs = sorted((CACHE / "venv").glob("lib/python*/site-packages/confluent_kafka.libs/librdkafka-*.so.1"))
        if not libs:
            pytest.fail("peer missing: confluent-kafka's librdkafka (tests/peers/install.sh must install it)",
                        pytrace=False)
        _rdkafka_dir = Path(tempfile.mkdtemp(prefix="eddy-rdkafka-"))
        (_rdkafka_dir / "librdkafka.so.1").symlink_to(libs[-1])
    return {"LD_LIBRARY_PATH": str(_rdkafka_dir)}


def kafka_add_scram_users(broker, users, mechs, logs_in):
    """Apache Kafka: SCRAM credentials for users {name: password} through
    AlterUserScramCredentials on broker's PLAINTEXT listener (what
    kafka-configs sends; one mechanism per request, as Kafka takes them),
    then waits until logs_in(mech, name, password) for each (the broker
    learns them from its metadata log)."""
    from confluent_kafka.admin import AdminClient, ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for m in mechs:
        info = ScramCredentialInfo(getattr(ScramMechanism, m.replace("-", "_")), 4096)
        ups = [UserScramCredentialUpsertion(n, info, pw.encode()) for n, pw in users.items()]
        for f in admin.alter_user_scram_credentials(ups, request_timeout=30).values():
            f.result(timeout=60)
    deadline = time.time() + 30
    for m in mechs:
        for n, pw in users.items():
            while not logs_in(m, n, pw):
                assert time.time() < deadline, f"SCRAM user {n} ({m}) cannot log in"
                time.sleep(0.2)


# ---------------------------------------------------------------------------
# Topics.

_topic_ids = itertools.count(1)


@pytest.fixture
def topic_name(request):
    """A function giving unique, readable topic names for this test."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name).strip("-")[:60]

    def make(suffix=""):
        return f"{base}{'-' + suffix if suffix else ''}-{next(_topic_ids)}"

    return make


def wait_topic(broker, topic, partitions, timeout=30):
    """Wait until Metadata shows every partition of topic with a leader."""
    deadline = time.time() + timeout
    md = None
    while time.time() < deadline:
        with broker.conn() as c:
            md = c.metadata([topic], version=1)
        t = md["topics"].get(topic)
        if t and t["error"] == 0 and len(t["partitions"]) == partitions and all(
            p["leader"] >= 0 and p["error"] == 0 for p in t["partitions"]
        ):
            # Metadata can run ahead of the partitions being served (Kafka
            # does): a Fetch of every partition must also succeed.
            with broker.conn() as c:
                f = c.fetch({topic: {p: 0 for p in range(partitions)}}, max_wait_ms=0)
            if all(f["topics"][topic][p]["error"] == 0 for p in range(partitions)):
                return md
        time.sleep(0.1)
    raise AssertionError(f"topic {topic} not ready with {partitions} partitions: {md}")


def create_topic(broker, topic, partitions=1, config=None):
    """CreateTopics through librdkafka's admin client, then wait for leaders."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    fs = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=30,
        request_timeout=30,
    )
    fs[topic].result(timeout=60)
    wait_topic(broker, topic, partitions)
    return topic


def murmur2(data):
    """Java's org.apache.kafka.common.utils.Utils.murmur2 (seed 0x9747b28c)."""
    m = 0x5BD1E995
    r = 24
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    n4 = length // 4
    for i in range(n4):
        k = int.from_bytes(data[i * 4 : i * 4 + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    rest = length % 4
    tail = data[n4 * 4 :]
    if rest == 3:
        h ^= tail[2] << 16
    if rest >= 2:
        h ^= tail[1] << 8
    if rest >= 1:
        h ^= tail[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    # Back to Java's signed int.
    return h - (1 << 32) if h & 0x80000000 else h


def java_partition(key, partitions):
    """Kafka's default partitioner for a keyed record."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def records_hex_lines(records):
    """'KEYHEX VALUEHEX' lines for the franz-go and KafkaJS peers."""

    def h(b):
        return "-" if b is None else ("=" if len(b) == 0 else b.hex())

    return "".join(f"{h(k)} {h(v)}\n" for k, v in records).encode()


def parse_hex_records(out):
    """'PARTITION OFFSET KEYHEX VALUEHEX' lines -> [(p, off, key, value)]."""

    def unh(s):
        return None if s == "-" else (b"" if s == "=" else bytes.fromhex(s))

    res = []
    for line in out.decode().splitlines():
        p, o, k, v = line.split()
        res.append((int(p), int(o), unh(k), unh(v)))
    return res


class PubAcks:
    """A paho client's publish acknowledgements (PUBACK/PUBREC reason codes
    with MQTT 5) by message id, for tests that check each one."""

    def __init__(self, client):
        self.reasons = {}
        self.cond = threading.Condition()
        client.on_publish = self._on_publish

    def _on_publish(self, client, userdata, mid, reason, props):
        with self.cond:
            self.reasons[mid] = reason
            self.cond.notify_all()

    def wait(self, mid, timeout=30):
        """The reason code for mid (taken out), or None after timeout."""
        with self.cond:
            self.cond.wait_for(lambda: mid in self.reasons, timeout)
            return self.reasons.pop(mid, None)


def recording(*parts):
    p = DATA_DIR.joinpath(*parts)
    if not p.exists():
        pytest.fail(f"recording missing: {p}", pytrace=False)
    return p


@pytest.fixture
def tmpdir_path():
    d = tempfile.mkdtemp(prefix="eddy-it-")
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)
