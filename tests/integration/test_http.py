"""Eddy's HTTP/1.1 listener against real clients (curl, Python's
http.client) and hostile raw sockets: health endpoints, keep-alive and
pipelining, oversized heads (431) and bodies (413), malformed requests,
path traversal, and a slow client dropped by the request timeout while
other clients are served."""

import http.client
import re
import socket
import time

import pytest

from conftest import HOST, TARGET, Broker, kcat, need, run

pytestmark = pytest.mark.skipif(TARGET != "eddy", reason="Eddy's own HTTP listener")  # allowed: only when the suite is proven against real Kafka, which has no HTTP listener

BROKER_CONFIG = {"http.request.timeout.ms": "1500", "http.max.header.bytes": "4096", "http.max.body.bytes": "65536"}


def get(broker, path, method="GET", body=None, headers=None):
    c = http.client.HTTPConnection(HOST, broker.http_port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def raw(broker, data, timeout=10):
    """Sends data on a new connection and reads until the server closes."""
    with socket.create_connection((HOST, broker.http_port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            out += b
        return out


def closed_by_peer(s, timeout):
    s.settimeout(timeout)
    try:
        while True:
            b = s.recv(4096)
            if not b:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_health(broker):
    status, headers, body = get(broker, "/healthz")
    assert status == 200 and body == b"ok\n"
    assert headers["Content-Type"].startswith("text/plain")
    status, headers, body = get(broker, "/readyz")
    assert status == 200 and b'"ready"' in body
    status, headers, body = get(broker, "/readyz", method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0
    p = run(["curl", "-sS", "-f", f"http://{HOST}:{broker.http_port}/healthz"])
    assert p.stdout == b"ok\n"


def test_keep_alive_and_pipelining(broker):
    req = f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    last = f"GET /readyz HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
    out = raw(broker, req * 3 + last)
    assert out.count(b"HTTP/1.1 200 OK\r\n") == 4
    assert out.endswith(b'{"status":"ready"}\n')
    # http.client reuses one connection for several requests
    c = http.client.HTTPConnection(HOST, broker.http_port, timeout=10)
    for _ in range(3):
        c.request("GET", "/healthz")
        r = c.getresponse()
        assert r.status == 200 and r.read() == b"ok\n"
    c.close()


def test_unknown_and_wrong_method(broker):
    status, _, body = get(broker, "/nothing-here")
    assert status == 404 and b'"error_code":404' in body
    status, headers, _ = get(broker, "/healthz", method="POST", body=b"{}", headers={"Content-Type": "application/json"})
    assert status == 405 and "GET" in headers["Allow"]


def test_oversized_head_refused_431(broker):
    out = raw(broker, f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nX-Big: {'a' * 5000}\r\n\r\n".encode())
    assert out.startswith(b"HTTP/1.1 431 ")
    # never finished, longer than the limit: answered at the limit, not waited for
    out = raw(broker, b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 8000)
    assert out.startswith(b"HTTP/1.1 431 ")
    assert get(broker, "/healthz")[0] == 200


def test_oversized_body_refused_413(broker):
    out = raw(broker, f"POST /healthz HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\nContent-Length: 70000\r\n\r\n".encode())
    assert out.startswith(b"HTTP/1.1 413 ")
    p = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: application/json",
             "--data-binary", "@-", f"http://{HOST}:{broker.http_port}/healthz"], input=b"x" * 100000, check=False)
    assert p.stdout == b"413"
    assert get(broker, "/healthz")[0] == 200


@pytest.mark.parametrize("request_bytes,status", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\n\r\n", 400),  # no Host
    (b"GET /healthz HTTP/3.0\r\nHost: x\r\n\r\n", 505),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n folded: yes\r\n\r\n", 400),
    (b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    (b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
])
def test_malformed_requests_refused_and_closed(broker, request_bytes, status):
    # a valid request after the bad one is never answered: the connection closes
    out = raw(broker, request_bytes + f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    assert out.startswith(f"HTTP/1.1 {status} ".encode()), out[:200]
    assert b"HTTP/1.1 200" not in out
    assert b"Connection: close\r\n" in out


@pytest.mark.parametrize("path", [
    "/../../../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/healthz/../../etc/passwd",
    "/api/v1/topics/..%2f..%2f..%2fetc%2fpasswd",
    "/./healthz",
    "//etc/passwd",
])
def test_path_traversal_refused(broker, path):
    out = raw(broker, f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
    assert out.startswith(b"HTTP/1.1 400 "), out[:200]
    assert b"root:" not in out


def test_slow_client_dropped_while_others_served(broker):
    """A slowloris client trickling its head one byte at a time is closed
    once http.request.timeout.ms passes, and other clients are answered
    all along."""
    slow = socket.create_connection((HOST, broker.http_port), timeout=10)
    slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    dropped = False
    deadline = time.time() + 30
    while time.time() < deadline:
        assert get(broker, "/healthz")[0] == 200
        try:
            slow.sendall(b"X")
        except (BrokenPipeError, ConnectionResetError):
            dropped = True
            break
        if closed_by_peer(slow, 0.2):
            dropped = True
            break
    slow.close()
    assert dropped, "the slow client was never closed"
    assert "request" in broker.log_tail(200) or "frame not finished" in broker.log_tail(200)


def test_https_listener(tmp_path):
    """https:// serves over TLS with the ssl.* files; clear text on it is refused."""
    from test_tls import make_ca, make_cert

    pki = tmp_path / "pki"
    pki.mkdir()
    make_ca(pki, "ca", "Eddy Test CA")
    make_cert(pki, "server", "localhost", san="DNS:localhost,IP:127.0.0.1")
    b = Broker(tmp_path / "b", {"http.listeners": f"https://{HOST}:0", "ssl.keystore.type": "PEM",
                                "ssl.keystore.location": str(pki / "server.pem")})
    b.start()
    try:
        url = f"https://{HOST}:{b.http_port}/healthz"
        p = run(["curl", "-sS", "-f", "--cacert", str(pki / "ca.pem"), url])
        assert p.stdout == b"ok\n"
        assert run(["curl", "-sS", url], check=False).returncode != 0  # no trust in the CA
        out = raw(b, f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        assert b"200 OK" not in out
        assert "listening on" in b.log_tail(200) and "(https, SSL)" in b.log_tail(200)
    finally:
        b.stop()


def metrics(broker):
    """The /metrics page as text and as {'name{labels}': value}."""
    status, headers, body = get(broker, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, v = line.rpartition(" ")
            values[key] = float(v)
    return text, values


def test_metrics_accepted_by_promtool_and_move_with_traffic(broker, topic_name):
    topic = topic_name()
    mqtt_topic = f"plant/{topic}"
    kafka_of_mqtt = mqtt_topic.replace("/", ".")
    text, before = metrics(broker)
    p = run([need("promtool"), "check", "metrics"], input=text.encode(), check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    kcat(broker, "-P", "-t", topic, "-X", "acks=all", input=b"".join(b"r%d\n" % i for i in range(5)))
    for i in range(3):
        run([need("mosquitto_pub"), "-h", HOST, "-p", str(broker.mqtt_port), "-t", mqtt_topic, "-m", f"{i}", "-q", "1"])
    kcat(broker, "-G", f"g-{topic}", "-e", "-q", "-X", "auto.offset.reset=earliest", topic)
    kcat(broker, "-P", "-t", topic, "-X", "acks=all", input=b"late1\nlate2\n")
    text, after = metrics(broker)
    p = run([need("promtool"), "check", "metrics"], input=text.encode(), check=False)
    assert p.returncode == 0, p.stdout + p.stderr

    def moved(key):
        return after.get(key, 0) - before.get(key, 0)

    assert moved(f'eddy_topic_in_records_total{{topic="{topic}",protocol="kafka"}}') == 7
    assert moved(f'eddy_topic_in_records_total{{topic="{kafka_of_mqtt}",protocol="mqtt"}}') == 3
    assert moved(f'eddy_topic_in_bytes_total{{topic="{topic}",protocol="kafka"}}') > 0
    assert moved(f'eddy_topic_out_bytes_total{{topic="{topic}",protocol="kafka"}}') > 0
    assert moved('eddy_requests_total{protocol="kafka",api="Produce"}') >= 2
    assert moved('eddy_requests_total{protocol="mqtt",api="PUBLISH"}') == 3
    assert moved('eddy_connections_accepted_total{protocol="mqtt"}') == 3
    assert moved('eddy_flushes_total') >= 1
    assert moved('eddy_flash_written_bytes_total') > 0
    assert moved('eddy_flush_duration_seconds_count') >= 1
    assert after['eddy_flush_size_bytes_bucket{le="+Inf"}'] == after['eddy_flush_size_bytes_count']
    assert after[f'eddy_partition_end_offset{{topic="{topic}",partition="0"}}'] == 7
    # the consumer committed 5; two came after
    deadline = time.time() + 20
    while after.get(f'eddy_consumer_group_lag{{group="g-{topic}",topic="{topic}",partition="0"}}') != 2:
        assert time.time() < deadline, [k for k in after if "lag" in k]
        time.sleep(0.2)
        _, after = metrics(broker)
    assert after["process_resident_memory_bytes"] > 1 << 20
    assert after["process_cpu_seconds_total"] > 0
    assert after['eddy_requests_total{protocol="http",api="/metrics"}'] >= 1  # the earlier scrapes
