"""Persistent MQTT sessions, Eddy against Mosquitto (persistence on) in one
run on this machine:

  - offline delivery: a persistent subscriber (clean session 0, QoS 1 on
    bench/#) leaves, N QoS 1 publishes of 100 B are acknowledged
    (build/bench/mqttperf pub, window 64), then the subscriber comes back
    and receives them all (mqttperf session drain); time from its CONNECT
    to the last message, messages per second;
  - memory per offline session: RSS before and after S client ids each
    open a persistent session (raw MQTT 3.1.1 CONNECT with clean session 0,
    one SUBSCRIBE, DISCONNECT), divided by S.

Mosquitto keeps every message for the offline session in memory (its
queue limit raised to 10^8 messages so it keeps them all, as Eddy's log
does); Eddy reads them from its log.

  python3 tests/bench/mqtt_session.py   (N=100000 S=10000)

Needs mosquitto and build/eddy, build/bench/mqttperf (make build/eddy
build/bench/mqttperf). Prints one Markdown table."""

import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EDDY = os.path.join(REPO, "build", "eddy")
PERF = os.path.join(REPO, "build", "bench", "mqttperf")
N = int(os.environ.get("N", "100000"))
S = int(os.environ.get("S", "10000"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc):
    for _ in range(300):
        if proc.poll() is not None:
            sys.exit("broker exited at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit("broker did not listen")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def s16(b):
    return struct.pack(">H", len(b)) + b


def open_session(port, cid):
    """CONNECT (3.1.1, clean session 0), SUBSCRIBE one filter, DISCONNECT."""
    body = s16(b"MQTT") + b"\x04\x00\x00\x3c" + s16(cid)
    sub = b"\x00\x01" + s16(b"mem/" + cid + b"/#") + b"\x01"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(bytes([0x10, len(body)]) + body)
        s.recv(4)
        s.sendall(bytes([0x82, len(sub)]) + sub)
        s.recv(5)
        s.sendall(b"\xe0\x00")


def perf(*args):
    out = subprocess.run([PERF, *args], capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        sys.exit(f"mqttperf {' '.join(args)}: {out.stderr}")
    return dict(kv.split("=") for kv in out.stdout.split())


def measure(name, pid, port):
    p = str(port)
    open_session(port, b"warm-up")
    before = rss_kib(pid)
    for i in range(S):
        open_session(port, b"mem-%06d" % i)
    time.sleep(1)
    after = rss_kib(pid)
    perf("session", "-p", p, "-i", "bench-sub", "-f", "bench/#", "open")
    perf("pub", "-p", p, "-q", "1", "-n", str(N), "-s", "100", "-w", "64")
    rss_queued = rss_kib(pid)
    d = perf("session", "-p", p, "-i", "bench-sub", "-f", "bench/#", "-n", str(N), "drain")
    return {
        "name": name,
        "rate": float(d["rec_s"]),
        "secs": float(d["seconds"]),
        "rss_queued": rss_queued,
        "per_session": (after - before) * 1024 / S,
    }


def main():
    work = tempfile.mkdtemp(prefix="eddy-sess-")
    kport, mport, qport = free_port(), free_port(), free_port()
    ed = subprocess.Popen(
        [EDDY, "serve", "--set", f"listeners=PLAINTEXT://127.0.0.1:{kport}",
         "--set", f"mqtt.listeners=mqtt://127.0.0.1:{mport}",
         "--set", f"log.dirs={work}/data", "--set", "http.listeners=", "--set", "coap.listeners="],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conf = os.path.join(work, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {qport} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                f"persistence_location {work}/\nmax_queued_messages 100000000\n")
    mosq = subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(mport, ed)
        wait_port(qport, mosq)
        rows = [measure("Eddy", ed.pid, mport), measure("Mosquitto 2.0.11", mosq.pid, qport)]
    finally:
        for p in (ed, mosq):
            p.terminate()
            p.wait()
        subprocess.call(["rm", "-rf", work])
    print(f"| broker | offline delivery of {N} QoS 1 msgs (100 B) | msg/s | RSS with them queued | memory per offline session ({S} sessions) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['secs']:.2f} s | {r['rate']:,.0f} | {r['rss_queued'] / 1024:.1f} MiB | {r['per_session']:.0f} B |")


if __name__ == "__main__":
    main()
