"""`eddy serve` as a process: kcat lists the broker and its topics
(ApiVersions + Metadata), Metadata auto-creates topics, --help lists the
settings, bad settings stop start-up with one line naming them, a real
Kafka server.properties loads, listeners on port 0 report the ports bound
(log, --port-file, Metadata), SIGTERM exits 0 promptly, and garbage or
oversized frames close only their own connection."""

import os
import signal
import socket
import subprocess
import time

import pytest

import kwire
from conftest import EDDY_BIN, HOST, TARGET, Broker, kcat, need, read_port_file, run

pytestmark = pytest.mark.skipif(TARGET != "eddy", reason="tests of the eddy binary itself")  # allowed: only when the suite is proven against real Kafka, where no eddy binary is under test

BROKER_CONFIG = {"num.partitions": "2", "socket.request.max.bytes": "65536"}


def eddy(*args, timeout=30):
    return subprocess.run([str(EDDY_BIN), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def test_kcat_lists_broker_and_topics(broker):
    with broker.conn() as c:
        md = c.metadata(["kcat-listed"], version=4, allow_auto_create=True)
    assert md["topics"]["kcat-listed"]["error"] == 0
    out = kcat(broker, "-L").stdout.decode()
    assert f"broker 1 at {HOST}:{broker.port} (controller)" in out
    assert 'topic "kcat-listed" with 2 partitions' in out
    assert "partition 1, leader 1, replicas: 1, isrs: 1" in out


def test_metadata_auto_creates(broker):
    out = kcat(broker, "-L", "-t", "made-by-metadata").stdout.decode()
    assert 'topic "made-by-metadata" with 2 partitions' in out
    assert (broker.log_dir / "made-by-metadata-0").is_dir()
    assert (broker.log_dir / "made-by-metadata-1").is_dir()
    # the topic survives a restart with the same id
    with broker.conn() as c:
        before = c.metadata(["made-by-metadata"], version=1)["topics"]["made-by-metadata"]
    broker.restart()
    with broker.conn() as c:
        after = c.metadata(["made-by-metadata"], version=4, allow_auto_create=False)["topics"]
    assert after["made-by-metadata"]["error"] == 0
    assert len(after["made-by-metadata"]["partitions"]) == len(before["partitions"])


def test_api_versions_unknown_version_answered(broker):
    with broker.conn() as c:
        cid = c.send_request(kwire.API_VERSIONS, 99, b"", flexible=True)
        body = c.recv_response(cid)
        r = kwire.parse_api_versions(body, 0)
        assert r["error"] == 35
        assert r["keys"][kwire.API_VERSIONS] == (0, 4)
        assert r["keys"][kwire.METADATA] == (0, 12)
        # and the connection still serves
        assert c.api_versions(3)["error"] == 0


def test_help_lists_keys():
    p = eddy("serve", "--help")
    assert p.returncode == 0
    out = p.stdout.decode()
    for key in ("listeners", "advertised.listeners", "log.dirs", "num.partitions", "auto.create.topics.enable",
                "message.max.bytes", "socket.request.max.bytes", "log.retention.hours", "log.dir.budget.bytes", "log.dir.full.policy",
                "compression.type", "log.level"):
        assert key in out, key
    assert "PLAINTEXT://127.0.0.1:9092" in out


def one_error_line(p, *needles):
    assert p.returncode != 0
    lines = [l for l in p.stderr.decode().splitlines() if l.strip()]
    assert len(lines) == 1, lines
    for n in needles:
        assert n in lines[0], (n, lines[0])


def test_unknown_key_stops_startup(tmp_path):
    p = eddy("serve", "--set", f"log.dirs={tmp_path}", "--set", "log.retention.hourz=5")
    one_error_line(p, "log.retention.hourz")
    assert not any(tmp_path.iterdir()), "nothing may be created before the config is valid"


def test_bad_value_stops_startup(tmp_path):
    p = eddy("serve", "--set", f"log.dirs={tmp_path}", "--set", "num.partitions=many")
    one_error_line(p, "num.partitions", "many")
    p = eddy("serve", "--set", f"log.dirs={tmp_path}", "--set", "default.replication.factor=3")
    one_error_line(p, "default.replication.factor")


def test_bad_config_file_names_line(tmp_path):
    f = tmp_path / "server.properties"
    f.write_text("# comment\nnum.partitions=3\nlog.segment.bytes=tiny\n")
    p = eddy("serve", "--config", str(f), "--set", f"log.dirs={tmp_path / 'd'}")
    one_error_line(p, f"{f}:3", "log.segment.bytes")
    p = eddy("serve", "--config", str(tmp_path / "missing.properties"))
    one_error_line(p, "missing.properties")


# Apache Kafka's KRaft sample server.properties (comments trimmed).
KAFKA_SAMPLE = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
inter.broker.listener.name=PLAINTEXT
advertised.listeners=PLAINTEXT://localhost:9092
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600
log.dirs=/tmp/kraft-combined-logs
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
log.retention.hours=168
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
"""


def test_kafka_server_properties_load(tmp_path):
    conf = tmp_path / "server.properties"
    conf.write_text(KAFKA_SAMPLE)
    port_file = tmp_path / "ports"
    proc = subprocess.Popen([str(EDDY_BIN), "serve", "--config", str(conf), "--port-file", str(port_file),
                             "--set", f"listeners=PLAINTEXT://{HOST}:0,CONTROLLER://{HOST}:0",
                             "--set", "advertised.listeners=PLAINTEXT://localhost:0",
                             "--set", f"http.listeners=http://{HOST}:0",
                             "--set", f"log.dirs={tmp_path / 'data'}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        port = read_port_file(port_file, lambda: proc.poll() is None)["PLAINTEXT"]
        deadline = time.time() + 20
        while True:
            try:
                with kwire.Conn(HOST, port, timeout=2) as c:
                    md = c.metadata([], version=1)
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.time() < deadline, "broker did not start"
                time.sleep(0.05)
        # the advertised host, with the port the listener of that name bound
        assert (md["brokers"][0]["host"], md["brokers"][0]["port"]) == ("localhost", port)
        assert (tmp_path / "data" / "meta.properties").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=30)[1].decode()
    assert proc.returncode == 0, err
    assert "ignoring Kafka setting num.network.threads" in err


def test_port_zero_reports_bound_ports(tmp_path):
    """Port 0 everywhere: the OS picks free ports, the log names them, the
    port file lists them once all are bound, Metadata (advertised.listeners
    with port 0 too) advertises the Kafka port really bound, the MQTT
    port answers CONNECT and the CoAP port (UDP) a CoAP request."""
    port_file = tmp_path / "ports"
    log = tmp_path / "eddy.log"
    with open(log, "wb") as logf:
        proc = subprocess.Popen([str(EDDY_BIN), "serve", "--port-file", str(port_file),
                                 "--set", f"listeners=PLAINTEXT://{HOST}:0",
                                 "--set", f"advertised.listeners=PLAINTEXT://{HOST}:0",
                                 "--set", f"mqtt.listeners=mqtt://{HOST}:0",
                                 "--set", f"coap.listeners=coap://{HOST}:0",
                                 "--set", f"http.listeners=http://{HOST}:0",
                                 "--set", f"log.dirs={tmp_path / 'data'}"],
                                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
    try:
        ports = read_port_file(port_file, lambda: proc.poll() is None)
        kafka, mqtt, coap, web = ports["PLAINTEXT"], ports["mqtt"], ports["coap"], ports["http"]
        assert port_file.read_text().splitlines() == [
            f"PLAINTEXT={HOST}:{kafka}",
            f"mqtt={HOST}:{mqtt}",
            f"coap={HOST}:{coap}",
            f"http={HOST}:{web}",
        ]
        assert kafka and mqtt and coap and web and len({kafka, mqtt, web}) == 3
        text = log.read_text()
        assert f"listening on {HOST}:{kafka} (PLAINTEXT)" in text, text
        assert f"listening on {HOST}:{mqtt} (MQTT)" in text, text
        assert f"listening on {HOST}:{coap} (CoAP, UDP)" in text, text
        out = run([need("kcat"), "-b", f"{HOST}:{kafka}", "-L"]).stdout.decode()
        assert f"broker 1 at {HOST}:{kafka} (controller)" in out, out
        with socket.create_connection((HOST, mqtt), timeout=10) as s:
            s.sendall(b"\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x02p0")  # MQTT 3.1.1 CONNECT
            assert s.recv(4) == b"\x20\x02\x00\x00"  # CONNACK, accepted
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.settimeout(10)
            u.sendto(b"\x40\x01\x12\x34", (HOST, coap))  # CON GET /
            assert u.recv(64)[:4] == b"\x60\x84\x12\x34"  # ACK 4.04, the same message id
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0, log.read_text()


def test_sigterm_exits_cleanly(tmp_path):
    b = Broker(tmp_path / "b")
    b.start()
    kcat(b, "-L", "-t", "before-term")
    pid = b.pid
    t0 = time.time()
    os.kill(pid, signal.SIGTERM)
    rc = b.proc.wait(timeout=10)
    took = time.time() - t0
    b._forget()
    assert rc == 0
    print(f"SIGTERM to exit: {took * 1000:.0f} ms")
    log = (b.workdir / "eddy.log").read_text()
    assert "shutting down" in log and "storage closed" in log
    # and it starts again on the same data, with the topic
    b.start()
    with b.conn() as c:
        md = c.metadata(["before-term"], version=4, allow_auto_create=False)
    assert md["topics"]["before-term"]["error"] == 0
    b.stop()


def test_bad_frames_close_only_their_connection(broker):
    with broker.conn() as bystander:
        assert bystander.api_versions(0)["error"] == 0
        bad = [
            b"GET / HTTP/1.1\r\nHost: eddy\r\n\r\n",           # garbage
            kwire.i32(65537) + b"\0" * 64,                     # over socket.request.max.bytes
            kwire.i32(-5),                                      # negative size
            kwire.frame(kwire.i16(77) + kwire.i16(0) + kwire.i32(1) + kwire.i16(-1)),  # unknown API key
        ]
        for data in bad:
            with broker.conn() as c:
                c.send_raw(data)
                assert c.closed_by_peer(10), data[:16]
        assert bystander.api_versions(3)["error"] == 0
        assert bystander.metadata([])["brokers"]
    out = kcat(broker, "-L").stdout.decode()
    assert f"broker 1 at {HOST}:{broker.port}" in out


def test_startup_time_logged(broker):
    log = (broker.workdir / "eddy.log").read_text()
    ready = [l for l in log.splitlines() if "eddy ready in" in l]
    assert ready, log[-2000:]
    print(ready[-1])


def test_systemd_notify_ready_watchdog_stopping(tmp_path):
    """With a service manager's socket: READY=1 once listening, WATCHDOG=1
    at half the watchdog interval, STOPPING=1 on SIGTERM."""
    import socket as s

    path = str(tmp_path / "notify.sock")
    sock = s.socket(s.AF_UNIX, s.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="200000")
    port_file = tmp_path / "ports"
    proc = subprocess.Popen([str(EDDY_BIN), "serve", "--port-file", str(port_file),
                             "--set", f"listeners=PLAINTEXT://{HOST}:0", "--set", f"log.dirs={tmp_path / 'data'}",
                             "--set", f"http.listeners=http://{HOST}:0"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        first = sock.recv(4096).decode()
        assert first.startswith("READY=1\n"), first
        port = read_port_file(port_file, lambda: proc.poll() is None)["PLAINTEXT"]
        assert f"{HOST}:{port}" in first
        # ready means listening: a client gets an answer right away
        with kwire.Conn(HOST, port, timeout=5) as c:
            assert c.api_versions(0)["error"] == 0
        assert sock.recv(4096) == b"WATCHDOG=1"
        assert sock.recv(4096) == b"WATCHDOG=1"
        proc.send_signal(signal.SIGTERM)
        msgs = []
        while True:
            m = sock.recv(4096)
            msgs.append(m)
            if m == b"STOPPING=1":
                break
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
