"""Eddy's HTTP/1.1 listener against real clients (curl, Python's
http.client) and hostile raw sockets: health endpoints, keep-alive and
pipelining, oversized heads (431) and bodies (413), malformed requests,
path traversal, and a slow client dropped by the request timeout while
other clients are served."""

import base64
import http.client
import json
from pathlib import Path
import re
import threading
import socket
import time

import pytest

from conftest import EDDY_BIN, HOST, TARGET, Broker, kcat, need, run, wait_topic

pytestmark = pytest.mark.skipif(TARGET != "eddy", reason="Eddy's own HTTP listener")  # allowed: only when the suite is proven against real Kafka, which has no HTTP listener

BROKER_CONFIG = {"http.request.timeout.ms": "1500", "http.max.header.bytes": "4096", "http.max.body.bytes": "65536",
                 "ssl.keystore.key": "not-a-real-key-but-secret"}  # no TLS listener: only shown (redacted) by /api/v1/config


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


def get_json(broker, path):
    status, headers, body = get(broker, path)
    assert headers["Content-Type"] == "application/json", (status, body)
    return status, json.loads(body)


def test_rest_topics_records_groups_config(broker, topic_name):
    topic = topic_name()
    t0 = int(time.time() * 1000)
    kcat(broker, "-P", "-t", topic, "-K", "|", "-H", "unit=kW", "-X", "acks=all",
         input=b'turbine-7|{"kW": 380, "wind": [7.5, 8]}\nturbine-8|not json\n')
    kcat(broker, "-P", "-t", topic, "-X", "acks=all", input=b"\xff\xfe\x00binary\n")
    status, body = get_json(broker, "/api/v1/topics")
    assert status == 200
    mine = [t for t in body["topics"] if t["name"] == topic]
    assert mine and mine[0]["partitions"] == 1 and mine[0]["records"] == 3 and mine[0]["size_bytes"] > 0
    status, body = get_json(broker, f"/api/v1/topics/{topic}")
    assert status == 200 and body["partition_list"][0]["end_offset"] == 3
    assert body["config"]["retention.ms"]["value"] == "604800000"
    status, body = get_json(broker, f"/api/v1/topics/{topic}/partitions/0/records?offset=0")
    assert status == 200 and body["next_offset"] == 3
    r0, r1, r2 = body["records"]
    assert r0["offset"] == 0 and r0["value_format"] == "json" and r0["value"] == {"kW": 380, "wind": [7.5, 8]}
    assert base64.b64decode(r0["key"]) == b"turbine-7"
    assert r0["headers"] == [{"key": "unit", "value_format": "base64", "value": base64.b64encode(b"kW").decode()}]
    assert r1["value_format"] == "base64" and base64.b64decode(r1["value"]) == b"not json"
    assert base64.b64decode(r2["value"]) == b"\xff\xfe\x00binary" and r2["key"] is None
    assert r0["timestamp"] >= t0 - 60000
    status, body = get_json(broker, f"/api/v1/topics/{topic}/partitions/0/records?offset=1&limit=1")
    assert [r["offset"] for r in body["records"]] == [1] and body["next_offset"] == 2
    status, body = get_json(broker, f"/api/v1/topics/{topic}/partitions/0/records?timestamp={r2['timestamp']}")
    assert body["records"][0]["offset"] <= 2 and body["records"][-1]["offset"] == 2
    status, body = get_json(broker, f"/api/v1/topics/{topic}/partitions/0/records?limit=2")  # the latest
    assert [r["offset"] for r in body["records"]] == [1, 2]
    for bad in ["offset=x", "limit=0", "limit=501", "offset=1&timestamp=1", "offset=99999999999999999999"]:
        status, body = get_json(broker, f"/api/v1/topics/{topic}/partitions/0/records?{bad}")
        assert status == 400 and body["error_code"] == 400, bad
    assert get_json(broker, "/api/v1/topics/no-such-topic")[0] == 404
    assert get_json(broker, f"/api/v1/topics/{topic}/partitions/7/records")[0] == 404
    assert get_json(broker, f"/api/v1/topics/{topic}/partitions/-1/records")[0] == 404
    # groups and lag: the group read 3 of 3, then one more came
    kcat(broker, "-G", f"g-{topic}", "-e", "-q", "-X", "auto.offset.reset=earliest", topic)
    kcat(broker, "-P", "-t", topic, "-X", "acks=all", input=b"later\n")
    status, body = get_json(broker, "/api/v1/groups")
    g = [x for x in body["groups"] if x["group"] == f"g-{topic}"][0]
    assert g["offsets"] == [{"topic": topic, "partition": 0, "committed_offset": 3, "end_offset": 4, "lag": 1}]
    assert g["lag"] == 1 and g["state"] == "Empty"
    status, body = get_json(broker, "/api/v1/config")
    assert body["config"]["ssl.keystore.key"]["value"] == "(redacted)"
    assert "not-a-real-key" not in json.dumps(body)
    assert body["config"]["http.max.header.bytes"] == {"value": 4096, "set": True}
    assert get_json(broker, "/api/v1/mirror")[1]["state"] == "off"
    status, body = get_json(broker, "/api/v1/overview")
    assert body["topics"] >= 1 and body["records_in"] >= 4 and body["connections"]["http"] >= 1


def test_rest_reading_changes_nothing_and_post_refused(broker, topic_name):
    topic = topic_name()
    kcat(broker, "-P", "-t", topic, "-X", "acks=all", input=b"a\n")
    status, _, _ = get(broker, f"/api/v1/topics/{topic}", method="POST", body=b"{}",
                       headers={"Content-Type": "application/json"})
    assert status == 405
    status, _, _ = get(broker, "/api/v1/topics", method="DELETE")
    assert status == 405
    # creating and deleting topics are writes: never on an http:// listener
    status, _, _ = get(broker, "/api/v1/topics", method="POST", body=json.dumps({"name": topic + "-x"}),
                       headers={"Content-Type": "application/json"})
    assert status == 403
    status, _, _ = get(broker, f"/api/v1/topics/{topic}", method="DELETE")
    assert status == 403
    assert topic + "-x" not in [t["name"] for t in get_json(broker, "/api/v1/topics")[1]["topics"]]
    assert get_json(broker, f"/api/v1/topics/{topic}")[1]["partition_list"][0]["end_offset"] == 1


class SseReader(threading.Thread):
    """Reads a text/event-stream response and collects its events."""

    def __init__(self, broker, path):
        super().__init__(daemon=True)
        self.sock = socket.create_connection((HOST, broker.http_port), timeout=30)
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nAccept: text/event-stream\r\n\r\n".encode())
        self.events, self.skips, self.head, self.buf = [], [], b"", b""
        self.start()

    def run(self):
        try:
            while True:
                b = self.sock.recv(65536)
                if not b:
                    return
                self.buf += b
                if not self.head and b"\r\n\r\n" in self.buf:
                    self.head, _, self.buf = self.buf.partition(b"\r\n\r\n")
                while b"\n\n" in self.buf:
                    ev, _, self.buf = self.buf.partition(b"\n\n")
                    lines = dict(l.split(": ", 1) for l in ev.decode().splitlines() if not l.startswith(":"))
                    if lines.get("event") == "skipped":
                        self.skips.append(json.loads(lines["data"]))
                    elif "data" in lines:
                        self.events.append((int(lines["id"]), json.loads(lines["data"])))
        except OSError:
            return

    def wait_for(self, n, timeout=30):
        deadline = time.time() + timeout
        while len(self.events) < n:
            assert time.time() < deadline, self.events
            time.sleep(0.05)
        return self.events


def test_sse_live_tail_of_kafka_and_mqtt_records(broker, topic_name):
    topic = topic_name()
    kcat(broker, "-P", "-t", topic, "-X", "acks=all", input=b'{"before": true}\n')
    tail = SseReader(broker, f"/api/v1/topics/{topic}/partitions/0/tail")
    from_start = SseReader(broker, f"/api/v1/topics/{topic}/partitions/0/tail?offset=0")
    time.sleep(0.3)
    kcat(broker, "-P", "-t", topic, input=b'{"kW": 1}\n')
    run([need("mosquitto_pub"), "-h", HOST, "-p", str(broker.mqtt_port), "-t", topic, "-m", '{"kW": 2}', "-q", "1"])
    events = tail.wait_for(2)
    assert b"Content-Type: text/event-stream" in tail.head
    assert [(o, e["value"]) for o, e in events] == [(1, {"kW": 1}), (2, {"kW": 2})]
    assert [o for o, _ in from_start.wait_for(3)] == [0, 1, 2]
    # the tailing connections do not stop others, and are counted
    assert get(broker, "/healthz")[0] == 200
    tail.sock.close()
    from_start.sock.close()


def test_sse_tail_far_behind_skips_to_the_newest(broker, topic_name):
    """A live tail is for eyes: one far behind the end (here from offset 0
    of 10,000 records) is told what it skipped and sent only the newest
    200, so a tail costs the broker a bounded amount however busy its
    partition is."""
    topic = topic_name()
    kcat(broker, "-P", "-t", topic, "-X", "acks=all", input=b"".join(b'{"n": %d}\n' % i for i in range(10000)))
    tail = SseReader(broker, f"/api/v1/topics/{topic}/partitions/0/tail?offset=0")
    events = tail.wait_for(200)
    assert tail.skips == [{"from": 0, "to": 9800}]
    assert [o for o, _ in events] == list(range(9800, 10000))
    assert events[-1][1]["value"] == {"n": 9999}
    tail.sock.close()


def test_sse_slow_reader_dropped(broker, topic_name):
    """A tail whose reader does not read is closed once 256 KiB wait
    unsent, while other clients are served."""
    topic = topic_name()
    kcat(broker, "-P", "-t", topic, "-X", "acks=all", input=b"first\n")
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((HOST, broker.http_port))
    s.sendall(f"GET /api/v1/topics/{topic}/partitions/0/tail HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    assert s.recv(15) == b"HTTP/1.1 200 OK"
    line = b'{"payload": "' + b"x" * 2000 + b'"}\n'
    deadline = time.time() + 60
    while "dropping the live tail" not in broker.log_tail(400):
        assert time.time() < deadline, "the slow tail was never dropped"
        kcat(broker, "-P", "-t", topic, input=line * 500)
        assert get(broker, "/healthz")[0] == 200
    s.close()


def mqtt_client(broker, client_id, protocol, clean, topics):
    """A paho client connected and subscribed to topics (at QoS 1)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    if protocol == mqtt.MQTTv5:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
        c.connect(HOST, broker.mqtt_port, keepalive=30, clean_start=clean)
    else:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol, clean_session=clean)
        c.connect(HOST, broker.mqtt_port, keepalive=30)
    subscribed = threading.Event()
    c.on_subscribe = lambda *a: subscribed.set()
    c.loop_start()
    c.subscribe([(t, 1) for t in topics])
    assert subscribed.wait(10)
    return c


def clients_until(broker, pred):
    """GET /api/v1/clients until pred holds of its answer (the broker sees a
    disconnect after the client has gone)."""
    deadline = time.time() + 20
    while True:
        status, answer = get_json(broker, "/api/v1/clients")
        assert status == 200
        if pred(answer) or time.time() > deadline:
            return answer
        time.sleep(0.1)


def test_rest_clients_lists_mqtt_clients_and_coap_endpoints(broker):
    import paho.mqtt.client as mqtt

    t0 = int(time.time() * 1000)
    old = mqtt_client(broker, "clients-old", mqtt.MQTTv311, False, ["plant/+/temp", "plant/alarms"])
    new = mqtt_client(broker, "clients-new", mqtt.MQTTv5, True, ["plant/#"])
    try:
        ports = {"clients-old": old.socket().getsockname()[1], "clients-new": new.socket().getsockname()[1]}
        answer = clients_until(broker, lambda a: {"clients-old", "clients-new"} <= {c["client_id"] for c in a["mqtt"]})
        by_id = {c["client_id"]: c for c in answer["mqtt"]}
        assert answer["truncated"] is False
        for cid, protocol, persistent, subs in (("clients-old", "3.1.1", True, 2), ("clients-new", "5.0", False, 1)):
            c = by_id[cid]
            assert c["peer"] == f"{HOST}:{ports[cid]}"
            assert c["protocol"] == protocol and c["persistent_session"] is persistent
            assert c["subscriptions"] == subs and c["keepalive_s"] == 30 and c["user"] is None
            assert c["in_flight_in"] == 0 and c["in_flight_out"] == 0
            assert t0 - 1000 <= c["connected_since_ms"] <= int(time.time() * 1000) + 1000
        new.disconnect()
        new.loop_stop()
        answer = clients_until(broker, lambda a: "clients-new" not in {c["client_id"] for c in a["mqtt"]})
        assert [c["client_id"] for c in answer["mqtt"] if c["client_id"].startswith("clients-")] == ["clients-old"]
    finally:
        for c in (old, new):
            c.disconnect()
            c.loop_stop()
    # a CoAP request from a known local port: its endpoint is listed
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    out = run([need("coap-client-notls"), "-p", str(port), "-m", "post", "-e", "21.5",
               f"coap://{HOST}:{broker.coap_port}/t/clients-coap"]).stdout.decode()
    assert "4." not in out and "5." not in out, out
    answer = clients_until(broker, lambda a: any(c["peer"] == f"{HOST}:{port}" for c in a["coap"]))
    c = [c for c in answer["coap"] if c["peer"] == f"{HOST}:{port}"][0]
    assert c["identity"] is None and c["requests"] == 1
    assert t0 <= c["last_request_ms"] <= int(time.time() * 1000) + 1000


def test_rest_clients_list_bounded_at_500(tmp_path):
    """501 MQTT clients (raw CONNECTs): 500 are listed, truncated is set."""
    broker = Broker(tmp_path, dict(BROKER_CONFIG, **{"mqtt.max.connections.per.ip": "1000"}))
    broker.start()
    socks = []
    try:
        for i in range(501):
            cid = b"many-%03d" % i
            body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(cid).to_bytes(2, "big") + cid
            s = socket.create_connection((HOST, broker.mqtt_port), timeout=10)
            socks.append(s)
            s.sendall(bytes([0x10, len(body)]) + body)
            assert s.recv(4) == b"\x20\x02\x00\x00"  # CONNACK, accepted
        status, answer = get_json(broker, "/api/v1/clients")
        assert status == 200
        assert len(answer["mqtt"]) == 500 and answer["truncated"] is True
        assert len({c["client_id"] for c in answer["mqtt"]}) == 500
    finally:
        for s in socks:
            s.close()
        broker.stop()


def test_openapi_file_is_valid():
    from openapi_spec_validator import validate
    from openapi_spec_validator.readers import read_from_filename

    spec, _ = read_from_filename(str(Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"))
    validate(spec)
    # every path the listener routes is described
    routes = re.findall(r'\{M_[A-Z_| ]+, "([^"]+)"', (Path(__file__).resolve().parents[2] / "bridge" / "http_api.c").read_text())
    assert set(routes) <= set(spec["paths"]), set(routes) - set(spec["paths"])


@pytest.fixture(scope="module")
def rest_broker(tmp_path_factory):
    """A broker with http:// and https:// listeners, user alice (may write
    to rest-*), user bob (no grant) and ACLs on."""
    from test_tls import make_ca, make_cert

    d = tmp_path_factory.mktemp("rest")
    pki = d / "pki"
    pki.mkdir()
    make_ca(pki, "ca", "Eddy Test CA")
    make_cert(pki, "server", "localhost", san="DNS:localhost,IP:127.0.0.1")
    (d / "b" / "log").mkdir(parents=True)
    for user, pw in (("alice", "alice-pw"), ("bob", "bob-pw"), ("admin", "admin-pw")):
        run([str(EDDY_BIN), "users", "add", user, "--password", pw, "--data", str(d / "b" / "log")])
    b = Broker(d / "b", {"http.listeners": f"http://{HOST}:0,https://{HOST}:0", "ssl.keystore.type": "PEM",
                         "ssl.keystore.location": str(pki / "server.pem"),
                         "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                         "super.users": "User:admin", "allow.everyone.if.no.acl.found": "true"})
    b.start()
    ports = {}
    for line in (d / "b" / "ports").read_text().splitlines():
        name, _, addr = line.partition("=")
        ports[name] = int(addr.rpartition(":")[2])
    b.https_port, b.http_port, b.ca = ports["https"], ports["http"], pki / "ca.pem"
    yield b
    b.stop()


def rest_post(b, path, body, user=None, pw=None, tls=True, ctype="application/json", auth=None, method="POST",
              headers=False):
    args = ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "-X", method]
    if body is not None:
        args += ["--data-binary", "@-"]
    if ctype:
        args += ["-H", f"Content-Type: {ctype}"]
    if user:
        args += ["-u", f"{user}:{pw}"]
    if auth:
        args += ["-H", f"Authorization: {auth}"]
    if headers:
        args += ["-D", "/dev/stderr"]
    if tls:
        args += ["--cacert", str(b.ca), f"https://{HOST}:{b.https_port}{path}"]
    else:
        args += [f"http://{HOST}:{b.http_port}{path}"]
    p = run(args, input=body if isinstance(body, bytes) or body is None else json.dumps(body).encode())
    text, _, code = p.stdout.decode().rpartition("\n")
    if headers:
        return int(code), (json.loads(text) if text.strip() else None), p.stderr.decode()
    return int(code), (json.loads(text) if text.strip() else None)


def test_v3_produce_confluent_example_read_by_kafka_consumer(rest_broker):
    b = rest_broker
    topic = "rest-orders"
    kcat(b, "-P", "-t", topic, "-X", "acks=all", input=b"")  # created by auto-creation on Metadata
    wait_topic(b, topic, 1)
    _, clusters = get_json(b, "/v3/clusters")
    cluster = clusters["data"][0]["cluster_id"]
    # the request of Confluent's REST Proxy v3 documentation, unchanged
    example = {
        "partition_id": 0,
        "headers": [{"name": "Header-1", "value": "SGVhZGVyLTE="}, {"name": "Header-2", "value": "SGVhZGVyLTI="}],
        "key": {"type": "BINARY", "data": "Zm9vYmFy"},
        "value": {"type": "JSON", "data": {"foo": "bar"}},
        "timestamp": "2021-02-05T19:14:42Z",
    }
    code, resp = rest_post(b, f"/v3/clusters/{cluster}/topics/{topic}/records", example, "alice", "alice-pw")
    assert code == 200, resp
    assert resp["error_code"] == 200 and resp["cluster_id"] == cluster and resp["topic_name"] == topic
    assert resp["partition_id"] == 0 and resp["offset"] == 0
    assert resp["key"] == {"type": "BINARY", "size": 6} and resp["value"] == {"type": "JSON", "size": len('{"foo": "bar"}')}
    assert resp["timestamp"] == "2021-02-05T19:14:42.000Z"  # the request's timestamp is the record's
    code, resp = rest_post(b, f"/v3/clusters/{cluster}/topics/{topic}/records",
                           {"value": {"type": "STRING", "data": "plain \u00e9"}}, "alice", "alice-pw")
    assert code == 200 and resp["offset"] == 1 and "key" not in resp
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", resp["timestamp"])
    assert resp["timestamp"] > "2026"  # without one, the broker's time
    # durable when answered, and read back by a Kafka consumer
    out = kcat(b, "-C", "-t", topic, "-e", "-q", "-f", "%k|%s|%h|%T\\n").stdout.decode()
    lines = [line.rpartition("|") for line in out.splitlines()]
    assert [line[0] for line in lines] == ['foobar|{"foo": "bar"}|Header-1=Header-1,Header-2=Header-2', "|plain \u00e9|"]
    assert int(lines[0][2]) == 1612552482000 and int(lines[1][2]) > 1612552482000
    _, topic_desc = get_json(b, f"/api/v1/topics/{topic}")
    assert topic_desc["partition_list"][0]["durable_offset"] == 2


def records_path(b, topic):
    """Creates topic (one partition, by a Kafka producer) and returns the
    cluster id and the path of its v3 records endpoint."""
    kcat(b, "-P", "-t", topic, "-X", "acks=all", input=b"")
    wait_topic(b, topic, 1)
    cluster = get_json(b, "/v3/clusters")[1]["data"][0]["cluster_id"]
    return cluster, f"/v3/clusters/{cluster}/topics/{topic}/records"


def test_v3_produce_refused_without_credentials_acl_tls_or_json(rest_broker):
    b = rest_broker
    topic = "rest-refused"
    cluster, path = records_path(b, topic)
    rec = {"value": {"type": "JSON", "data": 1}}
    assert rest_post(b, path, rec)[0] == 401                                 # no credentials
    assert rest_post(b, path, rec, "alice", "wrong")[0] == 401                # bad password
    assert rest_post(b, path, rec, "nobody", "x")[0] == 401                   # unknown user
    assert rest_post(b, path, rec, "alice", "alice-pw", tls=False)[0] == 403  # never in clear
    assert rest_post(b, path, rec, "alice", "alice-pw", ctype="text/plain")[0] == 415  # a form cannot
    assert rest_post(b, path, rec, "alice", "alice-pw", ctype=None)[0] == 415
    assert rest_post(b, path, b'{"value": {"type": "JSON", "data": ', "alice", "alice-pw")[0] == 400  # bad JSON
    assert rest_post(b, path, b'[1, 2]', "alice", "alice-pw")[0] == 400
    assert rest_post(b, path, {"value": {"type": "BINARY", "data": "not base64!"}}, "alice", "alice-pw")[0] == 400
    assert rest_post(b, path, {"value": {"type": "AVRO", "data": 1}}, "alice", "alice-pw")[0] == 400
    assert rest_post(b, path, {"partition_id": 9, "value": {"data": 1}}, "alice", "alice-pw")[0] == 400
    for bad_time in ("yesterday", "2021-02-30T25:00:00Z", -1, True):
        assert rest_post(b, path, {"timestamp": bad_time, "value": {"data": 1}}, "alice", "alice-pw")[0] == 400
    assert rest_post(b, f"/v3/clusters/other/topics/{topic}/records", rec, "alice", "alice-pw")[0] == 404
    assert rest_post(b, f"/v3/clusters/{cluster}/topics/no-such/records", rec, "alice", "alice-pw")[0] == 404
    # ACLs: bob may not write once a grant for alice exists
    run([need("kcat"), "-b", b.bootstrap, "-L"])  # the broker answers
    from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, AdminClient, ResourcePatternType, ResourceType

    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    binding = AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:alice", "*",
                         AclOperation.WRITE, AclPermissionType.ALLOW)
    for f in admin.create_acls([binding]).values():
        f.result(timeout=30)
    assert rest_post(b, path, rec, "bob", "bob-pw")[0] == 403
    assert rest_post(b, path, rec, "alice", "alice-pw")[0] == 200
    # nothing the refused requests sent reached the log
    assert get_json(b, f"/api/v1/topics/{topic}")[1]["partition_list"][0]["end_offset"] == 1
    # a GET never writes
    status, _, _ = get(b, path)
    assert status == 405


def eddy_tokens(b, *args, check=True):
    return run([str(EDDY_BIN), "tokens", *args, "--data", str(b.log_dir)], check=check)


def end_offset(b, topic):
    return get_json(b, f"/api/v1/topics/{topic}")[1]["partition_list"][0]["end_offset"]


def test_bearer_token_from_cli_produces_and_revoked_expired_or_wrong_scheme_refused(rest_broker):
    b = rest_broker
    topic = "rest-bearer"
    _, path = records_path(b, topic)
    assert eddy_tokens(b, "add", "nobody", check=False).returncode == 1  # only users of the store
    token = eddy_tokens(b, "add", "alice").stdout.decode().strip()
    assert re.fullmatch(r"eddy_[0-9a-f]{16}_[0-9a-f]{64}", token)
    token_id = token[5:21]
    assert token not in (b.log_dir / "tokens").read_bytes().decode("latin-1")  # only its hash is kept
    listing = eddy_tokens(b, "list").stdout.decode()
    assert token_id in listing and "alice" in listing and token[22:] not in listing
    code, resp = rest_post(b, path, {"value": {"type": "STRING", "data": "by token"}}, auth=f"Bearer {token}")
    assert code == 200, resp
    out = kcat(b, "-C", "-t", topic, "-e", "-q", "-f", "%s\\n").stdout.decode()
    assert out.splitlines() == ["by token"]
    rec = {"value": {"type": "STRING", "data": "refused"}}
    # never in clear, even with a valid token
    assert rest_post(b, path, rec, auth=f"Bearer {token}", tls=False)[0] == 403
    # a wrong secret, another scheme, a token given as a Basic password
    code, _, head = rest_post(b, path, rec, auth=f"Bearer {token[:-1]}0" if token[-1] != "0" else f"Bearer {token[:-1]}1",
                              headers=True)
    assert code == 401 and re.search(r"(?im)^www-authenticate: bearer .*invalid_token", head), head
    code, _, head = rest_post(b, path, rec, auth=f"Token {token}", headers=True)
    assert code == 401 and re.search(r"(?im)^www-authenticate: bearer", head), head
    assert rest_post(b, path, rec, "alice", token)[0] == 401
    # revoked: refused at once (the running broker reads the store per request)
    eddy_tokens(b, "revoke", token_id)
    assert token_id not in eddy_tokens(b, "list").stdout.decode()
    assert rest_post(b, path, rec, auth=f"Bearer {token}")[0] == 401
    # expired
    short = eddy_tokens(b, "add", "alice", "--expires", "1s").stdout.decode().strip()
    deadline = time.time() + 30
    while "(expired)" not in eddy_tokens(b, "list").stdout.decode():
        assert time.time() < deadline
        time.sleep(0.2)
    assert rest_post(b, path, rec, auth=f"Bearer {short}")[0] == 401
    # a token acts as its user: bob's token gets bob's ACLs
    from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, AdminClient, ResourcePatternType, ResourceType

    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    binding = AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:alice", "*",
                         AclOperation.WRITE, AclPermissionType.ALLOW)
    for f in admin.create_acls([binding]).values():
        f.result(timeout=30)
    bob = eddy_tokens(b, "add", "bob").stdout.decode().strip()
    assert rest_post(b, path, rec, auth=f"Bearer {bob}")[0] == 403
    # nothing the refused requests sent reached the log
    assert end_offset(b, topic) == 1


def kafka_topics(b):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(timeout=30).topics


def test_topic_create_and_delete_over_rest_with_token_acls_and_kafka_view(rest_broker):
    b = rest_broker
    from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, AdminClient, ResourcePatternType, ResourceType

    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    grants = [AclBinding(ResourceType.BROKER, "kafka-cluster", ResourcePatternType.LITERAL, "User:alice", "*",
                         AclOperation.CREATE, AclPermissionType.ALLOW),
              AclBinding(ResourceType.TOPIC, "rest-t", ResourcePatternType.PREFIXED, "User:alice", "*",
                         AclOperation.ALL, AclPermissionType.ALLOW)]
    grants += [AclBinding(ResourceType.TOPIC, "rest-t", ResourcePatternType.PREFIXED, "User:ANONYMOUS", "*",
                          op, AclPermissionType.ALLOW) for op in (AclOperation.DESCRIBE, AclOperation.READ)]
    for f in admin.create_acls(grants).values():
        f.result(timeout=30)
    token = eddy_tokens(b, "add", "alice").stdout.decode().strip()
    bearer = f"Bearer {token}"
    body = {"name": "rest-t-wind", "partitions": 3, "configs": [{"name": "retention.ms", "value": "3600000"}]}
    # refused: no credentials, wrong content type, bad JSON, bad name, a user without CREATE
    assert rest_post(b, "/api/v1/topics", body)[0] == 401
    assert rest_post(b, "/api/v1/topics", body, auth=bearer, ctype="text/plain")[0] == 415
    assert rest_post(b, "/api/v1/topics", body, auth=bearer, ctype=None)[0] == 415
    assert rest_post(b, "/api/v1/topics", b'{"name": "rest-t-wind", ', auth=bearer)[0] == 400
    code, resp = rest_post(b, "/api/v1/topics", {"name": "bad/name"}, auth=bearer)
    assert code == 400 and resp["error"] == "INVALID_TOPIC_EXCEPTION"
    code, resp = rest_post(b, "/api/v1/topics", {"name": "rest-t-x", "partitions": 0}, auth=bearer)
    assert code == 400 and resp["error"] == "INVALID_PARTITIONS"
    code, resp = rest_post(b, "/api/v1/topics", {"name": "rest-t-x", "configs": [{"name": "no.such", "value": "1"}]},
                           auth=bearer)
    assert code == 400 and resp["error"] == "INVALID_CONFIG"
    code, resp = rest_post(b, "/api/v1/topics", {"name": "rest-t-bob"}, "bob", "bob-pw")
    assert code == 403 and resp["error"] == "TOPIC_AUTHORIZATION_FAILED"
    assert not {"rest-t-wind", "rest-t-x", "rest-t-bob"} & set(kafka_topics(b))
    # created with the token; a Kafka client sees it and its records
    code, resp = rest_post(b, "/api/v1/topics", body, auth=bearer)
    assert code == 201 and resp == {"name": "rest-t-wind", "partitions": 3}, resp
    assert len(kafka_topics(b)["rest-t-wind"].partitions) == 3
    code, resp = rest_post(b, "/api/v1/topics", body, auth=bearer)
    assert code == 409 and resp["error"] == "TOPIC_ALREADY_EXISTS"
    cluster = get_json(b, "/v3/clusters")[1]["data"][0]["cluster_id"]
    code, _ = rest_post(b, f"/v3/clusters/{cluster}/topics/rest-t-wind/records",
                        {"partition_id": 2, "value": {"data": {"kW": 380}}}, auth=bearer)
    assert code == 200
    out = kcat(b, "-C", "-t", "rest-t-wind", "-p", "2", "-e", "-q", "-f", "%s\\n").stdout.decode()
    assert out.splitlines() == ['{"kW": 380}']
    desc = get_json(b, "/api/v1/topics/rest-t-wind")[1]
    assert desc["config"]["retention.ms"] == {"value": "3600000", "default": False}
    # the v3 shape
    code, resp = rest_post(b, f"/v3/clusters/{cluster}/topics",
                           {"topic_name": "rest-t-v3", "partitions_count": 2, "replication_factor": 1}, "alice", "alice-pw")
    assert code == 201 and resp["topic_name"] == "rest-t-v3" and resp["partitions_count"] == 2, resp
    assert rest_post(b, "/v3/clusters/other/topics", {"topic_name": "rest-t-v4"}, "alice", "alice-pw")[0] == 404
    # delete: bob may not, an unknown topic is named as Kafka does, an internal one never goes
    code, resp = rest_post(b, "/api/v1/topics/rest-t-wind", None, "bob", "bob-pw", ctype=None, method="DELETE")
    assert code == 403 and resp["error"] == "TOPIC_AUTHORIZATION_FAILED"
    assert rest_post(b, "/api/v1/topics/rest-t-wind", None, ctype=None, method="DELETE")[0] == 401
    assert "rest-t-wind" in kafka_topics(b)
    code, resp = rest_post(b, "/api/v1/topics/rest-t-none", None, auth=bearer, ctype=None, method="DELETE")
    assert code == 404 and resp["error"] == "UNKNOWN_TOPIC_OR_PARTITION"
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "rest-group"})
    consumer.commit(offsets=[TopicPartition("rest-t-wind", 2, 1)], asynchronous=False)  # makes __consumer_offsets
    consumer.close()
    assert "__consumer_offsets" in [t["name"] for t in get_json(b, "/api/v1/topics?internal=true")[1]["topics"]]
    code, resp = rest_post(b, "/api/v1/topics/__consumer_offsets", None, "admin", "admin-pw", ctype=None, method="DELETE")
    assert code == 403 and resp["error"] == "INVALID_TOPIC_EXCEPTION", resp
    code, _ = rest_post(b, "/api/v1/topics/rest-t-wind", None, auth=bearer, ctype=None, method="DELETE")
    assert code == 204
    code, _ = rest_post(b, f"/v3/clusters/{cluster}/topics/rest-t-v3", None, auth=bearer, ctype=None, method="DELETE")
    assert code == 204
    assert not {"rest-t-wind", "rest-t-v3"} & set(kafka_topics(b))
