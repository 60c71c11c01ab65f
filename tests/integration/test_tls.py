"""TLS listeners with real clients: a certificate authority made with
openssl at test time (server certificate for localhost and 127.0.0.1, a
client certificate, an expired certificate, one from another authority);
produce and consume over SSL with kcat, confluent-kafka, kafka-python and
the Kafka console tools (PEM trust store); MQTT over TLS with mosquitto and
paho-mqtt; client certificates required, and their subject as the ACL
principal (RFC 2253 form, as Kafka); refusals that change nothing
(plaintext on the TLS port, TLS on the plaintext port, an unknown or
expired server certificate); a stalled handshake closed by the timeout
while another client is served; certificates reloaded on SIGHUP; the safe
defaults (public plaintext listeners refused at start)."""

import os
import signal
import socket
import ssl
import subprocess
import time

import pytest

from conftest import (CACHE, EDDY_BIN, FRANZ, HOST, KAFKAJS_PEER, TARGET, Broker, free_port, kafka_add_scram_users,
                      kafka_tool, need, read_port_file, run, venv_python)

EDDY_ONLY = pytest.mark.skipif(TARGET != "eddy", reason="Eddy's own behaviour")  # allowed: only when the suite is proven against real Kafka


def openssl(*args, cwd):
    run([need("openssl"), *args], cwd=cwd)


def make_cert(d, name, cn, ca="ca", san=None, days="30"):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
    ext = []
    if san:
        (d / f"{name}.ext").write_text(f"subjectAltName={san}\n")
        ext = ["-extfile", f"{name}.ext"]
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", days, *ext, cwd=d)
    # key + chain in one file, as ssl.keystore.location takes it
    (d / f"{name}.pem").write_text((d / f"{name}.key").read_text() + (d / f"{name}.crt").read_text())


def make_ca(d, name, cn):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "30", "-subj", f"/CN={cn}", cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "ca", "Eddy Test CA")
    make_ca(d, "other", "Another CA")
    make_cert(d, "server", "localhost", san="DNS:localhost,IP:127.0.0.1")
    make_cert(d, "server2", "localhost", san="DNS:localhost,IP:127.0.0.1")
    make_cert(d, "client", "sensor-gw-17")
    make_cert(d, "expired", "localhost", san="DNS:localhost,IP:127.0.0.1", days="-1")
    make_cert(d, "foreign", "localhost", ca="other", san="DNS:localhost,IP:127.0.0.1")
    return d


class TlsBroker(Broker):
    """A broker with PLAINTEXT and SSL Kafka listeners (Eddy: also mqtt://
    and mqtts://), configured with Kafka's keys. Eddy binds port 0; Kafka
    gets ports picked here (its controller port too, which kafka-broker.sh
    keeps in DIR/controller.port)."""

    def __init__(self, workdir, pki, **extra):
        config = {
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(pki / "server.pem"),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(pki / "ca.pem"),
        }
        if TARGET == "kafka":
            self.ssl_port, cport, port = free_port(), free_port(), free_port()
            config.update({
                "listeners": f"PLAINTEXT://{HOST}:{port},SSL://{HOST}:{self.ssl_port},CONTROLLER://{HOST}:{cport}",
                "advertised.listeners": f"PLAINTEXT://{HOST}:{port},SSL://{HOST}:{self.ssl_port}",
                "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT",
            })
        else:
            config.update({
                "listeners": f"PLAINTEXT://{HOST}:0,SSL://{HOST}:0",
                "mqtt.listeners": f"mqtt://{HOST}:0,mqtts://{HOST}:0",
            })
        config.update(extra)
        super().__init__(workdir, config)
        if TARGET == "kafka":
            self.port = port
            self.workdir.mkdir(parents=True, exist_ok=True)
            (self.workdir / "controller.port").write_text(f"{cport}\n")
        self.pki = pki

    def start(self):
        super().start()
        if TARGET != "kafka":
            ports = read_port_file(self.workdir / "ports", self.alive)
            self.ssl_port, self.mqtts_port = ports.get("SSL"), ports["mqtts"]
        return self

    @property
    def ssl_bootstrap(self):
        return f"{HOST}:{self.ssl_port}"


@pytest.fixture(scope="module")
def tls_broker(pki, tmp_path_factory):
    b = TlsBroker(tmp_path_factory.mktemp("tls"), pki).start()
    yield b
    b.stop()


def kcat_ssl(b, *args, ca="ca.pem", cert=None, input=None, check=True, bootstrap=None):
    x = ["-X", "security.protocol=SSL", "-X", f"ssl.ca.location={b.pki / ca}"]
    if cert:
        x += ["-X", f"ssl.certificate.location={b.pki / (cert + '.crt')}",
              "-X", f"ssl.key.location={b.pki / (cert + '.key')}"]
    return run([need("kcat"), "-b", bootstrap or b.ssl_bootstrap, *x, *args], input=input, check=check, timeout=60)


def still_serves(b):
    """The broker answers over SSL and plaintext after a refusal."""
    assert "broker 1 at" in kcat_ssl(b, "-L").stdout.decode()
    out = run([need("kcat"), "-b", b.bootstrap, "-L"]).stdout.decode()
    assert f"broker 1 at {HOST}:{b.port}" in out


def test_kcat_produce_consume_over_ssl(tls_broker):
    b = tls_broker
    out = kcat_ssl(b, "-L").stdout.decode()
    # Metadata sends an SSL client back to the SSL listener.
    assert f"broker 1 at {HOST}:{b.ssl_port}" in out
    lines = [f"reading-{i}" for i in range(200)]
    kcat_ssl(b, "-P", "-t", "tls-kcat", input=("\n".join(lines) + "\n").encode())
    got = kcat_ssl(b, "-C", "-t", "tls-kcat", "-o", "beginning", "-e", "-q").stdout.decode().split()
    assert got == lines
    # the same records over the plaintext listener
    got = run([need("kcat"), "-b", b.bootstrap, "-C", "-t", "tls-kcat", "-e", "-q"]).stdout.decode().split()
    assert got == lines


CONFLUENT = """
import sys
from confluent_kafka import Consumer, Producer
bs, ca, topic = sys.argv[1:4]
conf = {"bootstrap.servers": bs, "security.protocol": "SSL", "ssl.ca.location": ca}
p = Producer(dict(conf, **{"acks": "all"}))
for i in range(50):
    p.produce(topic, key=b"k%d" % i, value=b"v%d" % i)
assert p.flush(30) == 0
c = Consumer(dict(conf, **{"group.id": "g-" + topic, "auto.offset.reset": "earliest"}))
c.subscribe([topic])
got = []
while len(got) < 50:
    m = c.poll(30)
    assert m is not None, "no message within 30 s"
    assert m.error() is None, m.error()
    got.append(m.value().decode())
c.close()
print(" ".join(got))
"""


def test_confluent_kafka_over_ssl(tls_broker):
    b = tls_broker
    out = venv_python("-c", CONFLUENT, b.ssl_bootstrap, str(b.pki / "ca.pem"), "tls-confluent").stdout.decode()
    assert out.split() == [f"v{i}" for i in range(50)]


KAFKA_PYTHON = """
import sys
from kafka import KafkaConsumer, KafkaProducer
bs, ca, topic = sys.argv[1:4]
p = KafkaProducer(bootstrap_servers=bs, security_protocol="SSL", ssl_cafile=ca, acks="all")
for i in range(30):
    p.send(topic, b"m%d" % i)
p.flush(30)
p.close()
c = KafkaConsumer(topic, bootstrap_servers=bs, security_protocol="SSL", ssl_cafile=ca,
                  auto_offset_reset="earliest", consumer_timeout_ms=20000)
got = [m.value.decode() for m in c]
c.close()
print(" ".join(got))
"""


def test_kafka_python_over_ssl(tls_broker):
    b = tls_broker
    out = venv_python("-c", KAFKA_PYTHON, b.ssl_bootstrap, str(b.pki / "ca.pem"), "tls-kpy").stdout.decode()
    assert out.split() == [f"m{i}" for i in range(30)]


def test_kafka_console_tools_over_ssl(tls_broker, tmp_path):
    b = tls_broker
    props = tmp_path / "ssl.properties"
    props.write_text(f"security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={b.pki / 'ca.pem'}\n")
    lines = [f"java-{i}" for i in range(20)]
    kafka_tool("3.9", "kafka-console-producer", "--bootstrap-server", b.ssl_bootstrap, "--topic", "tls-java",
               "--producer.config", props, input=("\n".join(lines) + "\n").encode(), timeout=120)
    out = kafka_tool("3.9", "kafka-console-consumer", "--bootstrap-server", b.ssl_bootstrap, "--topic", "tls-java",
                     "--from-beginning", "--max-messages", "20", "--consumer.config", props, timeout=120)
    assert out.stdout.decode().split() == lines


def test_kafkajs_and_franz_go_over_ssl(tls_broker):
    b = tls_broker
    ca = str(b.pki / "ca.pem")
    records = "".join(f"{i:02x} {(b'js-%d' % i).hex()}\n" for i in range(10)).encode()
    env = {"NODE_PATH": str(CACHE / "node" / "node_modules"), "KAFKAJS_NO_PARTITIONER_WARNING": "1",
           "KAFKAJS_SSL_CA": ca}
    run([need("node"), need(KAFKAJS_PEER), "produce", b.ssl_bootstrap, "tls-js"], input=records, env=env)
    out = run([need("node"), need(KAFKAJS_PEER), "consume", b.ssl_bootstrap, "tls-js", "10"], env=env).stdout.decode()
    assert sorted(bytes.fromhex(l.split()[3]) for l in out.splitlines()) == sorted(b"js-%d" % i for i in range(10))
    records = "".join(f"{i:02x} {(b'go-%d' % i).hex()}\n" for i in range(10)).encode()
    run([str(EDDY_BIN), "topics", "create", "tls-go", "-b", b.bootstrap])  # franz-go does not auto-create
    run([need(FRANZ), "produce", "-brokers", b.ssl_bootstrap, "-topic", "tls-go", "-tls-ca", ca], input=records)
    out = run([need(FRANZ), "consume", "-brokers", b.ssl_bootstrap, "-topic", "tls-go", "-n", "10", "-tls-ca", ca]).stdout.decode()
    assert sorted(bytes.fromhex(l.split()[3]) for l in out.splitlines()) == sorted(b"go-%d" % i for i in range(10))


@EDDY_ONLY
def test_mqtts_mosquitto_and_paho(tls_broker):
    b = tls_broker
    ca = str(b.pki / "ca.pem")
    run([need("mosquitto_pub"), "-h", HOST, "-p", str(b.mqtts_port), "--cafile", ca, "-q", "1",
         "-t", "plant/line1/temp", "-m", "21.5"])
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="paho-tls", protocol=mqtt.MQTTv311)
    c.tls_set(ca_certs=ca)
    c.connect(HOST, b.mqtts_port)
    c.loop_start()
    try:
        c.publish("plant/line1/temp", "22.0", qos=1).wait_for_publish(30)
    finally:
        c.loop_stop()
        c.disconnect()
    got = kcat_ssl(b, "-C", "-t", "plant.line1.temp", "-o", "beginning", "-e", "-q").stdout.decode().split()
    assert got == ["21.5", "22.0"]


def test_client_certificate_required(pki, tmp_path_factory):
    b = TlsBroker(tmp_path_factory.mktemp("mtls"), pki, **{"ssl.client.auth": "required"}).start()
    try:
        p = kcat_ssl(b, "-L", "-m", "5", check=False)
        assert p.returncode != 0
        assert "broker 1 at" not in p.stdout.decode()
        out = kcat_ssl(b, "-L", cert="client").stdout.decode()
        assert f"broker 1 at {HOST}:{b.ssl_port}" in out
        kcat_ssl(b, "-P", "-t", "mtls", cert="client", input=b"signed\n")
        assert kcat_ssl(b, "-C", "-t", "mtls", "-e", "-q", cert="client").stdout.decode().split() == ["signed"]
    finally:
        b.stop()


def mtls_acl_broker(pki, wd, topic, principal, **extra):
    """A broker requiring client certificates, with ACLs on (PLAINTEXT's
    User:ANONYMOUS a super user), topic holding "first", and WRITE and READ
    on it for principal."""
    from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient,
                                       ResourcePatternType, ResourceType)

    b = TlsBroker(wd, pki, **{
        "ssl.client.auth": "required",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:ANONYMOUS", **extra}).start()
    run([need("kcat"), "-b", b.bootstrap, "-P", "-t", topic], input=b"first\n")
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    for op in (AclOperation.WRITE, AclOperation.READ):
        acl = AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, principal, "*", op,
                         AclPermissionType.ALLOW)
        admin.create_acls([acl])[acl].result(timeout=30)
    return b


def test_client_certificate_names_the_principal(pki, tmp_path_factory):
    """As Kafka's default principal builder: User: and the subject in RFC
    2253 form (the last name of the certificate's sequence first)."""
    make_cert(pki, "client-dn", "sensor-gw-18/O=Acme, Plant 7/C=DE")
    topic = "mtls-acl"
    b = mtls_acl_broker(pki, tmp_path_factory.mktemp("mtls-acl"), topic, "User:C=DE,O=Acme\\, Plant 7,CN=sensor-gw-18")
    try:
        kcat_ssl(b, "-P", "-t", topic, cert="client-dn", input=b"signed\n")
        p = kcat_ssl(b, "-P", "-t", topic, cert="client", input=b"other\n", check=False)
        assert p.returncode != 0 and b"Topic authorization failed" in p.stderr
        out = run([need("kcat"), "-b", b.bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q"]).stdout
        assert out.split() == [b"first", b"signed"]
    finally:
        b.stop()


def test_principal_mapping_rules(pki, tmp_path_factory):
    """Kafka's ssl.principal.mapping.rules: the first rule matching the
    subject names the principal (L: lower case), an ACL for the mapped name
    lets it produce; a subject no rule matches is refused."""
    make_cert(pki, "client-map", "Sensor-GW-19/O=Acme/C=DE")
    make_cert(pki, "client-dn", "sensor-gw-18/O=Acme, Plant 7/C=DE")
    topic = "mtls-map"
    b = mtls_acl_broker(pki, tmp_path_factory.mktemp("mtls-map"), topic, "User:sensor-gw-19", **{
        "ssl.principal.mapping.rules": "RULE:^C=DE,O=Acme,CN=(.*)$/$1/L, RULE:^CN=([^,]*)$/dev-$1/"})
    try:
        kcat_ssl(b, "-P", "-t", topic, cert="client-map", input=b"mapped\n")
        # CN=sensor-gw-17 is User:dev-sensor-gw-17, without an ACL
        p = kcat_ssl(b, "-P", "-t", topic, cert="client", input=b"other\n", check=False)
        assert p.returncode != 0 and b"Topic authorization failed" in p.stderr
        # no rule for this subject: no principal, no service
        p = kcat_ssl(b, "-L", "-m", "5", cert="client-dn", check=False)
        assert p.returncode != 0 and "broker 1 at" not in p.stdout.decode()
        out = run([need("kcat"), "-b", b.bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q"]).stdout
        assert out.split() == [b"first", b"mapped"]
    finally:
        b.stop()


@EDDY_ONLY
def test_bad_principal_mapping_rule_stops_the_start(tmp_path, pki):
    p = serve_fails(tmp_path, f"listeners=SSL://{HOST}:0", f"ssl.keystore.location={pki / 'server.pem'}",
                    "ssl.principal.mapping.rules=RULE:^CN=(.*)$/$1/X")
    assert p.returncode != 0
    assert b"ssl.principal.mapping.rules: rule 'RULE:^CN=(.*)$/$1/X': unexpected 'X'" in p.stderr + p.stdout


def test_client_refuses_unknown_and_expired_server_certificates(pki, tmp_path_factory):
    # Eddy's certificate from the other authority: refused by a client trusting ca.pem
    b = TlsBroker(tmp_path_factory.mktemp("foreign"), pki, **{"ssl.keystore.location": str(pki / "foreign.pem")}).start()
    try:
        p = kcat_ssl(b, "-L", "-m", "5", check=False)
        assert p.returncode != 0 and b"certificate verify failed" in p.stderr
    finally:
        b.stop()
    b = TlsBroker(tmp_path_factory.mktemp("expired"), pki, **{"ssl.keystore.location": str(pki / "expired.pem")}).start()
    try:
        p = kcat_ssl(b, "-L", "-m", "5", check=False)
        assert p.returncode != 0 and b"certificate verify failed" in p.stderr
    finally:
        b.stop()


KAFKA_API_VERSIONS = bytes.fromhex("0000000e00120000000000010004") + b"test"  # ApiVersions v0, correlation id 1


def test_plaintext_on_tls_port_and_tls_on_plaintext_port(tls_broker):
    b = tls_broker
    # A Kafka request in clear on the TLS port: closed, nothing answered.
    with socket.create_connection((HOST, b.ssl_port), timeout=30) as s:
        s.sendall(KAFKA_API_VERSIONS)
        got = b""
        try:
            while chunk := s.recv(4096):
                got += chunk
        except ConnectionResetError:
            pass
        assert not got.startswith(b"\x00\x00"), "a Kafka answer in clear from the TLS port"
    # A TLS handshake on the plaintext port: refused, no TLS session.
    ctx = ssl.create_default_context(cafile=str(b.pki / "ca.pem"))
    with socket.create_connection((HOST, b.port), timeout=30) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            ctx.wrap_socket(raw, server_hostname="localhost")
    still_serves(b)


@EDDY_ONLY
def test_stalled_handshake_closed_while_others_are_served(pki, tmp_path_factory):
    b = TlsBroker(tmp_path_factory.mktemp("slow"), pki, **{"socket.request.timeout.ms": "1000"}).start()
    try:
        with socket.create_connection((HOST, b.ssl_port), timeout=60) as s:
            # The first 5 bytes of a ClientHello record, then nothing.
            s.sendall(bytes.fromhex("1603010200"))
            still_serves(b)
            try:
                assert s.recv(4096) == b""
            except ConnectionResetError:
                pass
        assert "not finished within 1000 ms" in (b.workdir / "eddy.log").read_text()
    finally:
        b.stop()


def test_idle_tls_connection_then_a_slow_record_is_served(pki, tmp_path_factory):
    """After a finished handshake and a pause longer than the unfinished-frame
    timeout, a request whose TLS record arrives in two pieces is answered:
    the handshake's clock stopped when it finished."""
    b = TlsBroker(tmp_path_factory.mktemp("slowrec"), pki, **{"socket.request.timeout.ms": "1000"}).start()
    try:
        ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(inc, out, server_hostname="localhost")
        with socket.create_connection((HOST, b.ssl_port), timeout=30) as s:
            while True:  # the handshake through memory buffers
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    s.sendall(out.read())
                    inc.write(s.recv(65536))
            s.sendall(out.read())
            time.sleep(1.5)  # idle past the timeout
            tls.write(KAFKA_API_VERSIONS)
            record = out.read()
            s.sendall(record[:5])
            time.sleep(0.5)  # the rest comes later, within the timeout
            s.sendall(record[5:])
            answer = b""
            while len(answer) < 8:
                try:
                    answer += tls.read(65536)
                except ssl.SSLWantReadError:
                    chunk = s.recv(65536)
                    assert chunk, "connection closed before the answer"
                    inc.write(chunk)
            assert answer[4:8] == b"\x00\x00\x00\x01"  # correlation id 1
    finally:
        b.stop()


def peer_serial(port, ca, cert=None):
    ctx = ssl.create_default_context(cafile=ca)
    if cert:  # a client certificate: name.crt and name.key
        ctx.load_cert_chain(f"{cert}.crt", f"{cert}.key")
    with socket.create_connection((HOST, port), timeout=30) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            der = s.getpeercert(binary_form=True)
    p = subprocess.run([need("openssl"), "x509", "-inform", "DER", "-noout", "-serial"], input=der,
                       stdout=subprocess.PIPE, check=True)
    return p.stdout.decode().strip()


def cert_serial(path):
    p = run([need("openssl"), "x509", "-in", path, "-noout", "-serial"])
    return p.stdout.decode().strip()


@EDDY_ONLY
def test_chacha20_poly1305_preferred(tls_broker):
    """Eddy picks ChaCha20-Poly1305 when the client offers it (mbedtls
    seals records faster with it than with AES-GCM, docs/benchmarks.md),
    and AES-GCM for a client that offers only that."""
    ctx = ssl.create_default_context(cafile=str(tls_broker.pki / "ca.pem"))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection((HOST, tls_broker.ssl_port), timeout=30) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            assert s.cipher()[0] == "ECDHE-ECDSA-CHACHA20-POLY1305"
    ctx.set_ciphers("ECDHE+AESGCM")
    with socket.create_connection((HOST, tls_broker.ssl_port), timeout=30) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            assert "AES" in s.cipher()[0] and "GCM" in s.cipher()[0]


@EDDY_ONLY
def test_sighup_reloads_certificates(pki, tmp_path_factory):
    d = tmp_path_factory.mktemp("reload")
    keystore = d / "server.pem"
    keystore.write_text((pki / "server.pem").read_text())
    b = TlsBroker(d / "b", pki, **{"ssl.keystore.location": str(keystore)}).start()
    ca = str(pki / "ca.pem")
    try:
        assert peer_serial(b.ssl_port, ca) == cert_serial(pki / "server.crt")
        # An open TLS connection across the reload.
        ctx = ssl.create_default_context(cafile=ca)
        old = ctx.wrap_socket(socket.create_connection((HOST, b.ssl_port), timeout=30), server_hostname="localhost")
        # A bad file: the old certificate stays.
        keystore.write_text("not a certificate\n")
        os.kill(b.pid, signal.SIGHUP)
        log = b.workdir / "eddy.log"
        deadline = time.time() + 30
        while "keeps its certificates" not in log.read_text() and time.time() < deadline:
            time.sleep(0.05)
        assert "keeps its certificates" in log.read_text()
        assert peer_serial(b.ssl_port, ca) == cert_serial(pki / "server.crt")
        # A good one: new connections get it.
        keystore.write_text((pki / "server2.pem").read_text())
        os.kill(b.pid, signal.SIGHUP)
        while "certificates reloaded" not in log.read_text() and time.time() < deadline:
            time.sleep(0.05)
        assert peer_serial(b.ssl_port, ca) == cert_serial(pki / "server2.crt")
        # The connection opened before still gets answers.
        old.sendall(KAFKA_API_VERSIONS)
        head = old.recv(8)
        assert len(head) == 8 and head[4:8] == b"\x00\x00\x00\x01"  # correlation id 1
        old.close()
    finally:
        b.stop()


def test_listener_name_ssl_keys(pki, tmp_path_factory):
    """Kafka's listener.name.<name>.ssl.* keys override ssl.* for that
    listener: two SSL listeners serve different certificates, and only the
    one with listener.name.internal.ssl.client.auth=required wants a client
    certificate."""
    b = TlsBroker(tmp_path_factory.mktemp("per-listener"), pki, **{
        "listener.name.internal.ssl.keystore.location": str(pki / "server2.pem"),
        "listener.name.internal.ssl.client.auth": "required"})
    if TARGET == "kafka":
        iport = free_port()
        b.config["listeners"] += f",INTERNAL://{HOST}:{iport}"
        b.config["advertised.listeners"] += f",INTERNAL://{HOST}:{iport}"
        b.config["listener.security.protocol.map"] += ",INTERNAL:SSL"
    else:
        b.config["listeners"] += f",INTERNAL://{HOST}:0"
        b.config["listener.security.protocol.map"] = "INTERNAL:SSL"
    b.start()
    try:
        if TARGET != "kafka":
            iport = read_port_file(b.workdir / "ports", b.alive)["INTERNAL"]
        ca = str(pki / "ca.pem")
        assert peer_serial(b.ssl_port, ca) == cert_serial(pki / "server.crt")
        assert peer_serial(iport, ca, cert=pki / "client") == cert_serial(pki / "server2.crt")
        internal = f"{HOST}:{iport}"
        p = kcat_ssl(b, "-L", "-m", "5", check=False, bootstrap=internal)
        assert p.returncode != 0 and "broker 1 at" not in p.stdout.decode()
        assert f"broker 1 at {internal}" in kcat_ssl(b, "-L", cert="client", bootstrap=internal).stdout.decode()
        assert f"broker 1 at {b.ssl_bootstrap}" in kcat_ssl(b, "-L").stdout.decode()
    finally:
        b.stop()


def serve_fails(tmp_path, *sets):
    argv = [str(EDDY_BIN), "serve", "--set", f"log.dirs={tmp_path / 'd'}", "--set", "mqtt.listeners="]
    for s in sets:
        argv += ["--set", s]
    return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)


@EDDY_ONLY
def test_public_plaintext_listener_refused_unless_allowed(tmp_path, pki):
    p = serve_fails(tmp_path, "listeners=PLAINTEXT://0.0.0.0:0")
    assert p.returncode != 0
    assert b"allow.plaintext.on.public.listeners" in p.stderr + p.stdout
    p = serve_fails(tmp_path, "listeners=SSL://0.0.0.0:0")
    assert p.returncode != 0 and b"ssl.keystore.location" in p.stderr + p.stdout
    p = serve_fails(tmp_path, "listeners=INTERNAL://127.0.0.1:0")
    assert p.returncode != 0 and b"listener.security.protocol.map" in p.stderr + p.stdout
    # Allowed: it starts, and says so.
    b = Broker(tmp_path / "open", {"listeners": "PLAINTEXT://0.0.0.0:0", "allow.plaintext.on.public.listeners": "true"})
    b.start()
    try:
        assert "serves anyone on the network without authentication" in (b.workdir / "eddy.log").read_text()
    finally:
        b.stop()
    # A custom name mapped to SSL serves TLS.
    b = Broker(tmp_path / "mapped", {
        "listeners": f"PLAINTEXT://{HOST}:0,EDGE://{HOST}:0",
        "listener.security.protocol.map": "EDGE:SSL",
        "ssl.keystore.location": str(pki / "server.pem"),
    })
    b.start()
    try:
        port = read_port_file(b.workdir / "ports", b.alive)["EDGE"]
        assert peer_serial(port, str(pki / "ca.pem")) == cert_serial(pki / "server.crt")
    finally:
        b.stop()


def eddy_cli(*args, check=True):
    return run([str(EDDY_BIN), *args], check=check, timeout=60)


def test_eddy_client_over_ssl_verifies_the_server(tls_broker, pki, tmp_path_factory):
    b = tls_broker
    x = ["-X", "security.protocol=SSL", "-X", f"ssl.ca.location={pki / 'ca.pem'}"]
    eddy_cli("topics", "create", "eddy-cli-tls", "-b", b.ssl_bootstrap, *x)
    assert "eddy-cli-tls" in eddy_cli("topics", "list", "-b", b.ssl_bootstrap, *x).stdout.decode().split()
    # by name too: the certificate names localhost
    assert "eddy-cli-tls" in eddy_cli("topics", "list", "-b", f"localhost:{b.ssl_port}", *x).stdout.decode().split()
    # another authority: a clear error, nothing listed
    p = eddy_cli("topics", "list", "-b", b.ssl_bootstrap, "-X", "security.protocol=SSL",
                 "-X", f"ssl.ca.location={pki / 'other.pem'}", check=False)
    assert p.returncode != 0 and p.stdout == b""
    assert b"certificate verification failed" in p.stderr
    # an expired server certificate
    e = TlsBroker(tmp_path_factory.mktemp("cli-expired"), pki, **{"ssl.keystore.location": str(pki / "expired.pem")}).start()
    try:
        p = eddy_cli("topics", "list", "-b", e.ssl_bootstrap, *x, check=False)
        assert p.returncode != 0 and b"expired" in p.stderr
    finally:
        e.stop()
    # host-name checking can be turned off, as librdkafka's
    # ssl.endpoint.identification.algorithm=none; a certificate for another name
    # is refused otherwise
    wrong = TlsBroker(tmp_path_factory.mktemp("cli-name"), pki, **{"ssl.keystore.location": str(pki / "client.pem")}).start()
    try:
        p = eddy_cli("topics", "list", "-b", f"localhost:{wrong.ssl_port}", *x, check=False)
        assert p.returncode != 0 and b"certificate" in p.stderr
        eddy_cli("topics", "list", "-b", f"localhost:{wrong.ssl_port}", *x,
                 "-X", "ssl.endpoint.identification.algorithm=none")
    finally:
        wrong.stop()
    # a client certificate when the server requires one
    m = TlsBroker(tmp_path_factory.mktemp("cli-mtls"), pki, **{"ssl.client.auth": "required"}).start()
    try:
        assert eddy_cli("topics", "list", "-b", m.ssl_bootstrap, *x, check=False).returncode != 0
        eddy_cli("topics", "list", "-b", m.ssl_bootstrap, *x, "-X", f"ssl.certificate.location={pki / 'client.crt'}",
                 "-X", f"ssl.key.location={pki / 'client.key'}")
    finally:
        m.stop()


def test_sasl_ssl_scram_over_tls(pki, tmp_path_factory):
    """SASL inside TLS (SASL_SSL): kcat and Eddy's own client authenticate
    with SCRAM-SHA-512 over a verified TLS connection, a wrong password is
    refused with nothing produced, and an MQTT client over mqtts:// logs in
    with the same user (Eddy: MQTT is its own)."""
    d = tmp_path_factory.mktemp("sasl-ssl")
    if TARGET == "kafka":
        b = TlsBroker(d, pki, **{"sasl.enabled.mechanisms": "SCRAM-SHA-512",
                                 "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
                                     "org.apache.kafka.common.security.scram.ScramLoginModule required;"})
        # the SSL listener made SASL_SSL
        for k in ("listeners", "advertised.listeners"):
            b.config[k] = b.config[k].replace(",SSL://", ",SASL_SSL://")
        b.config["listener.security.protocol.map"] += ",SASL_SSL:SASL_SSL"
        b.start()
        port = b.ssl_port
    else:
        run([str(EDDY_BIN), "users", "add", "carol", "--password", "tls-and-scram", "--data", str(d / "log")])
        b = TlsBroker(d, pki, listeners=f"SASL_SSL://{HOST}:0,PLAINTEXT://{HOST}:0").start()
    try:
        if TARGET != "kafka":
            port = read_port_file(d / "ports", b.alive)["SASL_SSL"]
        boot = f"{HOST}:{port}"

        def kc(pw, *args, input=None, check=True):
            x = ["-X", "security.protocol=SASL_SSL", "-X", f"ssl.ca.location={pki / 'ca.pem'}",
                 "-X", "sasl.mechanism=SCRAM-SHA-512", "-X", "sasl.username=carol", "-X", f"sasl.password={pw}"]
            return run([need("kcat"), "-b", boot, *x, *args], input=input, check=check, timeout=60)

        if TARGET == "kafka":
            kafka_add_scram_users(b, {"carol": "tls-and-scram"}, ["SCRAM-SHA-512"],
                                  lambda m, n, pw: kc(pw, "-L", "-m", "5", check=False).returncode == 0)

        lines = [f"secure-{i}" for i in range(50)]
        kc("tls-and-scram", "-P", "-t", "sasl-ssl", input=("\n".join(lines) + "\n").encode())
        out = kc("tls-and-scram", "-C", "-t", "sasl-ssl", "-o", "beginning", "-e", "-q").stdout.decode().split()
        assert out == lines
        bad = kc("wrong", "-P", "-t", "sasl-ssl-bad", "-m", "5000", input=b"x\n", check=False)
        assert bad.returncode != 0
        listed = run([need("kcat"), "-b", b.bootstrap, "-L"]).stdout.decode()
        assert "sasl-ssl-bad" not in listed
        x = ["-X", "security.protocol=SASL_SSL", "-X", f"ssl.ca.location={pki / 'ca.pem'}",
             "-X", "sasl.mechanism=SCRAM-SHA-512", "-X", "sasl.username=carol"]
        assert "sasl-ssl" in eddy_cli("topics", "list", "-b", boot, *x,
                                      "-X", "sasl.password=tls-and-scram").stdout.decode().split()
        p = eddy_cli("topics", "list", "-b", boot, *x, "-X", "sasl.password=wrong", check=False)
        assert p.returncode != 0 and b"SASL" in p.stderr
        if TARGET == "eddy":  # MQTT over TLS with the same user store
            pub = [need("mosquitto_pub"), "-h", HOST, "-p", str(b.mqtts_port), "--cafile", str(pki / "ca.pem"),
                   "-u", "carol", "-t", "plant/line1", "-q", "1", "-m", "21.5"]
            run(pub + ["-P", "tls-and-scram"])
            assert run(pub + ["-P", "wrong"], check=False).returncode != 0
    finally:
        b.stop()
