"""TLS and SASL benchmark: what SASL_SSL (TLS + SCRAM-SHA-256) costs against
PLAINTEXT, for Eddy and for a real single-node Apache Kafka broker side by
side in one run (not a test; `make bench-tls`).

Both brokers run at once, each with a PLAINTEXT and a SASL_SSL listener
(PEM certificate made here with openssl, user `bench` made the broker's own
way: `eddy users add`, Kafka's AlterUserScramCredentials), but only one is
loaded at a time; the order swaps every run. Per broker and listener:

  - produce: build/bench/rdkperf produce (librdkafka, RDK_PROCS processes),
    100 B and 1 KiB records, acks=1, the same -X settings a client would use
    (security.protocol, sasl.mechanism, sasl.username, sasl.password,
    ssl.ca.location): records/s and the broker's CPU seconds per million
    records (utime + stime of all its threads, /proc/PID/stat around a run);
  - handshakes: HANDSHAKES full TLS handshakes one after the other from this
    process (Python's ssl module, a new session each time, TLS 1.3 or what
    the broker picks), connect to the end of the handshake, then close:
    handshakes/s and the broker's CPU milliseconds per handshake;
  - idle memory, first, right after start-up: RUNS batches of IDLE_CONNS
    TLS connections opened (handshake done) and left idle, each batch while
    the earlier ones stay open; the broker's RSS (VmRSS, 1 s after) growth
    over a batch, per connection.

RUNS runs of each (medians); about 6 minutes in all. Environment: RUNS=5, KAFKA_VERSION=3.9,
RDK_PROCS=1, N_100=2000000 N_1K=600000 (records per run), HANDSHAKES=100,
IDLE_CONNS=100, BENCH_DIR=build/bench-tls. Prints Markdown tables (those in
docs/benchmarks.md); progress and raw results go to stderr."""

import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PEERS = REPO / "tests" / "peers"
CTL = HERE / "brokerctl.py"
EDDY = Path(os.environ.get("EDDY_BIN") or REPO / "build" / "eddy")
RDK = REPO / "build" / "bench" / "rdkperf"
RUNS = int(os.environ.get("RUNS", "5"))
KV = os.environ.get("KAFKA_VERSION", "3.9")
PROCS = os.environ.get("RDK_PROCS", "1")
N = {100: int(os.environ.get("N_100", "2000000")), 1024: int(os.environ.get("N_1K", "600000"))}
HANDSHAKES = int(os.environ.get("HANDSHAKES", "100"))
IDLE_CONNS = int(os.environ.get("IDLE_CONNS", "100"))
BASE = Path(os.environ.get("BENCH_DIR") or REPO / "build" / "bench-tls")
HOST = "127.0.0.1"
USER, PASSWORD = "bench", "bench-secret"
# Apache Kafka's own defaults (kafka-server-start.sh, kafka-run-class.sh).
KAFKA_HEAP = "-Xmx1G -Xms1G"
KAFKA_JVM = ("-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 "
             "-XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15")
HZ = os.sysconf("SC_CLK_TCK")


def say(*a):
    print(*a, file=sys.stderr, flush=True)


def sh(*cmd, **kw):
    return subprocess.run([str(c) for c in cmd], check=True, stdout=subprocess.PIPE, **kw).stdout.decode()


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    return ticks, rss


def make_pki(d):
    def ossl(*a):
        subprocess.run(["openssl", *a], cwd=d, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key",
         "-out", "ca.pem", "-days", "2", "-subj", "/CN=Bench CA")
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key",
         "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "server.crt", "-days", "2", "-extfile", "server.ext")
    (d / "server.pem").write_text((d / "server.key").read_text() + (d / "server.crt").read_text())


class Brokers:
    def __init__(self, work, pki):
        self.work, self.pki = work, pki
        self.pid, self.plain, self.sasl = {}, {}, {}

    def tls_keys(self):
        return {"ssl.keystore.type": "PEM", "ssl.keystore.location": str(self.pki / "server.pem"),
                "sasl.enabled.mechanisms": "SCRAM-SHA-256"}

    def start_eddy(self):
        d = self.work / "eddy"
        (d / "data").mkdir(parents=True)
        sh(EDDY, "users", "add", USER, "--password", PASSWORD, "--data", d / "data")
        self.plain["eddy"], self.sasl["eddy"] = free_port(), free_port()
        cmd = [EDDY, "serve", "--set", f"listeners=PLAINTEXT://{HOST}:{self.plain['eddy']},"
               f"SASL_SSL://{HOST}:{self.sasl['eddy']}", "--set", f"log.dirs={d / 'data'}",
               "--set", "mqtt.listeners=", "--set", "http.listeners=", "--set", "num.partitions=1",
               # room for the idle connections (Kafka has no limit by default)
               "--set", "max.connections.per.ip=0", "--set", "max.connections=4096"]
        for k, v in self.tls_keys().items():
            cmd += ["--set", f"{k}={v}"]
        line = sh(sys.executable, CTL, "start", self.plain["eddy"], d / "pid", d / "broker.log", "--", *cmd)
        self.pid["eddy"] = int(line.split("pid=")[1])

    def start_kafka(self):
        d = self.work / "kafka"
        p, s, c = free_port(), free_port(), free_port()
        self.plain["kafka"], self.sasl["kafka"] = p, s
        d.mkdir(parents=True)
        (d / "controller.port").write_text(f"{c}\n")
        conf = dict(self.tls_keys(), **{
            "listeners": f"PLAINTEXT://{HOST}:{p},SASL_SSL://{HOST}:{s},CONTROLLER://{HOST}:{c}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{p},SASL_SSL://{HOST}:{s}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        })
        env = dict(os.environ, KAFKA_HEAP_OPTS=KAFKA_HEAP, KAFKA_JVM_OPTS=KAFKA_JVM)
        sh(PEERS / "kafka-broker.sh", "start", d, p, KV, *[f"{k}={v}" for k, v in conf.items()], env=env,
           stderr=subprocess.DEVNULL)
        self.pid["kafka"] = int((d / "kafka.pid").read_text())
        # The broker's pid is the JVM's (kafka.sh execs java).
        sh(PEERS / "kafka.sh", KV, "kafka-configs", "--bootstrap-server", f"{HOST}:{p}", "--alter",
           "--add-config", f"SCRAM-SHA-256=[password={PASSWORD}]", "--entity-type", "users",
           "--entity-name", USER, stderr=subprocess.DEVNULL)

    def stop(self):
        for b, pid in self.pid.items():
            if b == "kafka":
                subprocess.run([PEERS / "kafka-broker.sh", "stop", self.work / "kafka"], stdout=subprocess.DEVNULL)
            else:
                try:
                    os.kill(pid, 15)
                except ProcessLookupError:
                    pass

    def x(self, b, listener):
        if listener == "PLAINTEXT":
            return f"{HOST}:{self.plain[b]}", []
        xs = ["security.protocol=SASL_SSL", "sasl.mechanism=SCRAM-SHA-256", f"sasl.username={USER}",
              f"sasl.password={PASSWORD}", f"ssl.ca.location={self.pki / 'ca.pem'}"]
        return f"{HOST}:{self.sasl[b]}", [a for kv in xs for a in ("-X", kv)]


def rdk(*args):
    out = sh(RDK, *args, stderr=subprocess.DEVNULL)
    return dict(kv.split("=", 1) for kv in out.split())


def produce(br, b, listener, size, topic):
    bs, x = br.x(b, listener)
    rdk("create", "-b", bs, "-t", topic, "-n", "1", *x)
    t0, _ = proc_stat(br.pid[b])
    r = rdk("produce", "-b", bs, "-t", topic, "-n", N[size], "-s", size, "-a", "1", "-p", PROCS, *x)
    t1, _ = proc_stat(br.pid[b])
    if int(r["errors"]) != 0:
        raise SystemExit(f"{b} {listener}: {r['errors']} records failed")
    return float(r["rec_s"]), (t1 - t0) / HZ / N[size] * 1e6


def tls_ctx(br):
    ctx = ssl.create_default_context(cafile=str(br.pki / "ca.pem"))
    return ctx


def handshakes(br, b):
    port = br.sasl[b]
    t0, _ = proc_stat(br.pid[b])
    start = time.monotonic()
    for _ in range(HANDSHAKES):
        ctx = tls_ctx(br)  # a new context: no session to resume
        with socket.create_connection((HOST, port), timeout=30) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost"):
                pass
    secs = time.monotonic() - start
    t1, _ = proc_stat(br.pid[b])
    return HANDSHAKES / secs, (t1 - t0) / HZ / HANDSHAKES * 1e3


def negotiated(br, b):
    """The TLS version and cipher suite this process's client gets."""
    with socket.create_connection((HOST, br.sasl[b]), timeout=30) as raw:
        with tls_ctx(br).wrap_socket(raw, server_hostname="localhost") as s:
            return f"{s.version()} {s.cipher()[0]}"


def idle_memory(br, b):
    """RUNS batches of IDLE_CONNS idle TLS connections, each batch opened
    while the earlier ones stay open (freed memory the allocator keeps would
    hide the cost of a new connection): the RSS growth per connection of
    each batch. Before any load, right after start-up."""
    port = br.sasl[b]
    ctx = tls_ctx(br)
    conns, per_conn = [], []
    try:
        for _ in range(RUNS):
            time.sleep(1)
            _, before = proc_stat(br.pid[b])
            for _ in range(IDLE_CONNS):
                raw = socket.create_connection((HOST, port), timeout=30)
                conns.append(ctx.wrap_socket(raw, server_hostname="localhost"))
            time.sleep(1)
            _, after = proc_stat(br.pid[b])
            per_conn.append((after - before) / IDLE_CONNS)
    finally:
        for c in conns:
            c.close()
    return per_conn


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    BASE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=BASE, prefix="run."))
    pki = work / "pki"
    pki.mkdir()
    make_pki(pki)
    br = Brokers(work, pki)
    res = {}  # (broker, what) -> [values]

    def add(key, v):
        res.setdefault(key, []).append(v)
        say("R", *key, f"{v:.3f}")

    t_start = time.time()
    load_start = open("/proc/loadavg").read().split()[:3]
    brokers = ["eddy", "kafka"]
    try:
        say("starting Eddy and Apache Kafka")
        br.start_eddy()
        br.start_kafka()
        suites = {b: negotiated(br, b) for b in brokers}
        for b in brokers:
            say(f"== {b}: idle TLS connections")
            for v in idle_memory(br, b):
                add((b, "kib_per_idle_tls_conn"), v)
        for b in brokers:  # warm-up (not measured): the JVM compiles its hot code
            for listener in ("PLAINTEXT", "SASL_SSL"):
                produce(br, b, listener, 100, f"warm-{listener.lower()}")
        seq = 0
        for run in range(RUNS):
            for b in brokers if run % 2 == 0 else brokers[::-1]:
                say(f"== run {run + 1} of {RUNS}: {b}")
                for size in (100, 1024):
                    for listener in ("PLAINTEXT", "SASL_SSL"):
                        seq += 1
                        rate, cpu = produce(br, b, listener, size, f"bench-{seq}")
                        add((b, listener, size, "rec_s"), rate)
                        add((b, listener, size, "cpu_s_per_m"), cpu)
                hs, hcpu = handshakes(br, b)
                add((b, "handshakes_s"), hs)
                add((b, "cpu_ms_per_handshake"), hcpu)
    finally:
        br.stop()
    total = time.time() - t_start
    load_end = open("/proc/loadavg").read().split()[:3]

    def m(*key):
        return median(res.get(key, []))

    def ratio(a, b):
        return f"{a / b:.2f}" if b else "—"

    cpu = subprocess.run(["sed", "-n", "s/^model name[^:]*: //p", "/proc/cpuinfo"], stdout=subprocess.PIPE)
    print(f"Machine: {os.cpu_count()} CPUs ({cpu.stdout.decode().splitlines()[0]}), shared with other "
          f"engineers' builds and tests; load average at start {' '.join(load_start)}, at end "
          f"{' '.join(load_end)}. Apache Kafka {KV} (1 GiB heap, G1), rdkperf with {PROCS} process(es); "
          f"{RUNS} runs (medians), whole run {total:.0f} s. TLS with an OpenSSL client: Eddy "
          f"{suites['eddy']}, Kafka {suites['kafka']}.")
    print()
    print("| record | broker | PLAINTEXT rec/s | SASL_SSL rec/s | **SASL_SSL/PLAINTEXT** | PLAINTEXT CPU s per M rec "
          "| SASL_SSL CPU s per M rec | **CPU SASL_SSL/PLAINTEXT** |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for size in (100, 1024):
        for b in brokers:
            pr, sr = m(b, "PLAINTEXT", size, "rec_s"), m(b, "SASL_SSL", size, "rec_s")
            pc, sc = m(b, "PLAINTEXT", size, "cpu_s_per_m"), m(b, "SASL_SSL", size, "cpu_s_per_m")
            name = "Eddy" if b == "eddy" else "Kafka"
            print(f"| {size} B | {name} | {pr:.0f} | {sr:.0f} | **{ratio(sr, pr)}** | {pc:.2f} | {sc:.2f} "
                  f"| **{ratio(sc, pc)}** |")
    print()
    print("| what | Kafka | Eddy | Eddy/Kafka |")
    print("|---|---:|---:|---:|")
    for size in (100, 1024):
        k = m("kafka", "SASL_SSL", size, "cpu_s_per_m") - m("kafka", "PLAINTEXT", size, "cpu_s_per_m")
        e = m("eddy", "SASL_SSL", size, "cpu_s_per_m") - m("eddy", "PLAINTEXT", size, "cpu_s_per_m")
        print(f"| CPU SASL_SSL adds per M records of {size} B (s) | {k:.2f} | {e:.2f} | {ratio(e, k)} |")
    for what, label, fmt in (("handshakes_s", f"full TLS handshakes/s ({HANDSHAKES} in a row, one client)", ".0f"),
                             ("cpu_ms_per_handshake", "broker CPU per full handshake (ms)", ".2f"),
                             ("kib_per_idle_tls_conn", f"RSS per idle TLS connection (KiB, {IDLE_CONNS} open)",
                              ".1f")):
        k, e = m("kafka", what), m("eddy", what)
        print(f"| {label} | {k:{fmt}} | {e:{fmt}} | {ratio(e, k)} |")
    say("raw:", res)
    if not os.environ.get("KEEP"):
        subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    main()
