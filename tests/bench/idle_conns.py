"""Memory per idle connection: Eddy's Kafka and MQTT listeners against
Mosquitto, in one short run (standard library only), and each broker's
idle process memory before any connection.

  python3 tests/bench/idle_conns.py [EDDY_BIN] [N]

Starts Eddy (defaults: Kafka, MQTT, HTTP and CoAP listeners on free
loopback ports, a fresh data directory) and Mosquitto (no
persistence), opens N connections to each listener (Kafka: ApiVersions v0
answered; MQTT: CONNECT answered by CONNACK), leaves them idle, and prints
each broker's VmRSS before and after and the difference per connection
(after 10 connections opened and closed, so that code faulted in once per
process is not counted per connection).
N defaults to 1000. EDDY_IDLE_COAP picks Eddy's CoAP listeners: plain
(the default, coap://), dtls (coap:// and coaps:// with a one-key PSK
file) or none (no CoAP listener).
"""

import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from brokerctl import recv_exact  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc):
    for _ in range(300):
        if proc.poll() is not None:
            sys.exit("broker exited at start-up")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("broker did not start")


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def idle_profile(name, pid):
    """The idle process: resident set, split into anonymous memory (the
    process's own) and file-backed pages (binary and shared libraries,
    shared with every other process mapping them), and the proportional
    set size (shared pages divided among their users)."""
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key = line.split(":")[0]
            if key in ("VmRSS", "RssAnon", "RssFile"):
                fields[key] = int(line.split()[1])
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Pss:"):
                fields["Pss"] = int(line.split()[1])
    print("%-14s idle rss_kb=%d anon_kb=%d file_kb=%d pss_kb=%d" % (
        name, fields["VmRSS"], fields["RssAnon"], fields["RssFile"], fields.get("Pss", 0)))


def kafka_conn(port, i):
    s = socket.create_connection(("127.0.0.1", port))
    client = b"idle"
    msg = struct.pack(">hhih", 18, 0, i, len(client)) + client
    s.sendall(struct.pack(">i", len(msg)) + msg)
    size = struct.unpack(">i", recv_exact(s, 4))[0]
    recv_exact(s, size)
    return s


def mqtt_conn(port, i):
    s = socket.create_connection(("127.0.0.1", port))
    cid = ("idle-%d" % i).encode()
    var = b"\x00\x04MQTT\x04\x02\x00\x3c"  # 3.1.1, clean session, keep-alive 60 s
    payload = struct.pack(">H", len(cid)) + cid
    body = var + payload
    s.sendall(bytes([0x10, len(body)]) + body)
    if recv_exact(s, 4)[0] != 0x20:
        raise OSError("no CONNACK")
    return s


def measure(name, pid, port, opener, n):
    # A few connections first, closed again: the code of the accept and
    # request paths is faulted in once per process (Eddy lets go of its
    # start-up code pages), a cost no single connection holds.
    for s in [opener(port, i) for i in range(WARM_UP)]:
        s.close()
    time.sleep(0.5)
    before = rss_kb(pid)
    conns = [opener(port, i) for i in range(n)]
    time.sleep(1.0)
    after = rss_kb(pid)
    per = (after - before) * 1024.0 / n
    print("%-14s rss_before_kb=%d rss_after_kb=%d per_conn_bytes=%.0f" % (name, before, after, per))
    for s in conns:
        s.close()


WARM_UP = 10


def coap_settings(mode, work):
    """The --set arguments of Eddy's CoAP listeners for EDDY_IDLE_COAP."""
    if mode == "none":
        return ["--set", "coap.listeners="]
    plain = "coap://127.0.0.1:%d" % free_port()
    if mode == "plain":
        return ["--set", "coap.listeners=" + plain]
    if mode != "dtls":
        sys.exit("EDDY_IDLE_COAP: plain, dtls or none")
    psk = os.path.join(work, "psk")
    with open(os.open(psk, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write("idle:idle-secret\n")
    return ["--set", "coap.listeners=%s,coaps://127.0.0.1:%d" % (plain, free_port()),
            "--set", "coap.psk.file=" + psk]


def main():
    eddy = sys.argv[1] if len(sys.argv) > 1 else "build/eddy"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    work = tempfile.mkdtemp(prefix="eddy-idle-")
    coap = coap_settings(os.environ.get("EDDY_IDLE_COAP", "plain"), work)
    kport, mport, qport = free_port(), free_port(), free_port()
    ed = subprocess.Popen(
        [eddy, "serve", "--set", "listeners=PLAINTEXT://127.0.0.1:%d" % kport,
         "--set", "mqtt.listeners=mqtt://127.0.0.1:%d" % mport,
         "--set", "http.listeners=http://127.0.0.1:%d" % free_port(),
         *coap,
         "--set", "log.dirs=%s/data" % work,
         "--set", "max.connections=%d" % (2 * n + 10),
         "--set", "max.connections.per.ip=%d" % (n + 10),
         "--set", "mqtt.max.connections=%d" % (n + 10),
         "--set", "mqtt.max.connections.per.ip=%d" % (n + 10)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conf = os.path.join(work, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\nmax_connections -1\n" % qport)
    mosq = subprocess.Popen(["mosquitto", "-c", conf],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(kport, ed)
        wait_port(mport, ed)
        wait_port(qport, mosq)
        time.sleep(0.5)
        idle_profile("eddy", ed.pid)
        idle_profile("mosquitto", mosq.pid)
        measure("eddy-kafka", ed.pid, kport, kafka_conn, n)
        measure("eddy-mqtt", ed.pid, mport, mqtt_conn, n)
        measure("mosquitto", mosq.pid, qport, mqtt_conn, n)
    finally:
        for p in (ed, mosq):
            p.terminate()
            p.wait()
        subprocess.call(["rm", "-rf", work])


if __name__ == "__main__":
    main()
