"""The upstream mirror's measurements (not a test; `make bench-mirror`):
backlog catch-up into a single-node Apache Kafka on this machine against
kcat pushing the same data into the same broker in the same run, wire
bytes per payload byte, CPU seconds per mirrored GB and RSS while
mirroring against the same broker idle.

  1. The data: records of about 1,000 bytes, each 16 consecutive lines of
     the wind turbine recording (tests/data/wind-turbine-scada-T1.csv)
     joined by ';', repeated to BACKLOG_MIB MiB (default 256).
  2. An upstream Kafka (KAFKA_VERSION, default 3.9; Kafka's own JVM
     defaults), its transaction log created beforehand by one
     InitProducerId, so the first one of the mirror does not pay for it.
  3. Eddy without a mirror: kcat -P loads the data into one partition;
     stopped, started again (as the mirror run will be) and idle for 3 s:
     its RSS (VmRSS) is the baseline. Stopped.
  4. The same Eddy started again with the mirror on (its defaults:
     zstd, 1 MiB batches, 4 MiB transactions): the time from `eddy serve`
     to the status file showing the last record mirrored, the process's
     CPU seconds (utime + stime of every thread) over that time, its RSS
     sampled every 50 ms (the highest) and once caught up and idle.
  5. kcat -P pushes the same file into another topic of the same upstream
     (acks=all, zstd, linger.ms=20, batch.size=1000000): its time.
  6. The upstream's stored data batches of both topics (control and
     checkpoint batches not counted) against the payload bytes.

Steps 4 and 5 swap order in every other run (RUNS, default 1).
MIRROR_SETTINGS=key=value,... adds settings to the mirror run (e.g.
mirror.batch.bytes=262144). Prints a
Markdown table; progress to stderr. Data and brokers under BENCH_DIR
(default build/bench-mirror), removed at the end."""

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from kafka_segments import stored_data_batches  # noqa: E402
EDDY = Path(os.environ.get("EDDY_BIN") or REPO / "build" / "eddy")
KAFKA_BROKER_SH = REPO / "tests" / "peers" / "kafka-broker.sh"
DATA = REPO / "tests" / "data" / "wind-turbine-scada-T1.csv"
BACKLOG_MIB = int(os.environ.get("BACKLOG_MIB", "256"))
RUNS = int(os.environ.get("RUNS", "1"))
KV = os.environ.get("KAFKA_VERSION", "3.9")
BASE = Path(os.environ.get("BENCH_DIR") or REPO / "build" / "bench-mirror")
HOST = "127.0.0.1"
HZ = os.sysconf("SC_CLK_TCK")
KAFKA_ENV = {
    "KAFKA_HEAP_OPTS": "-Xmx1G -Xms1G",
    "KAFKA_JVM_OPTS": "-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 "
    "-XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15",
}
KCAT_PRODUCE = ["-X", "acks=all", "-X", "compression.codec=zstd", "-X", "linger.ms=20", "-X", "batch.size=1000000"]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def make_data(path):
    lines = [ln.replace(";", ",") for ln in DATA.read_text(errors="replace").splitlines()[1:]]
    want = BACKLOG_MIB << 20
    n = payload = 0
    with open(path, "w") as f:
        while payload < want:
            for i in range(0, len(lines) - 16, 16):
                rec = ";".join(lines[i : i + 16])
                f.write(rec + "\n")
                n += 1
                payload += len(rec.encode())
                if payload >= want:
                    break
    return n, payload


def heap_bytes(eddy):
    """Eddy's own count of its heap (eddy_memory_used_bytes on /metrics)."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{eddy.http_port}/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("eddy_memory_used_bytes "):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_stat(pid):
    """(cpu seconds of all threads, VmRSS KiB, VmHWM KiB, RssAnon KiB).
    RssAnon leaves out the file-backed pages (code, libraries) that RSS
    counts and the kernel may drop or bring back: the heap and stacks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / HZ
    rss = hwm = anon = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
            elif line.startswith("RssAnon:"):
                anon = int(line.split()[1])
    return cpu, rss, hwm, anon


class Eddy:
    def __init__(self, workdir):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = None
        self.port = 0

    def start(self, *sets):
        port_file = self.dir / "ports"
        port_file.unlink(missing_ok=True)
        args = [str(EDDY), "serve", "--port-file", str(port_file),
                "--set", f"log.dirs={self.dir / 'log'}",
                "--set", f"listeners=PLAINTEXT://{HOST}:{self.port}",
                "--set", f"mqtt.listeners=mqtt://{HOST}:0",
                "--set", f"coap.listeners=coap://{HOST}:0",
                "--set", f"http.listeners=http://{HOST}:0"]
        for s in sets:
            args += ["--set", s]
        t0 = time.monotonic()
        with open(self.dir / "eddy.log", "ab") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        while not port_file.exists():
            if self.proc.poll() is not None:
                raise SystemExit(f"eddy did not start: {(self.dir / 'eddy.log').read_text()[-2000:]}")
            time.sleep(0.005)
        ports = dict(ln.split("=", 1) for ln in port_file.read_text().split())
        self.port = int(ports["PLAINTEXT"].rsplit(":", 1)[1])
        self.http_port = int(ports["http"].rsplit(":", 1)[1])
        return t0

    @property
    def bootstrap(self):
        return f"{HOST}:{self.port}"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)

    def status(self):
        try:
            return json.loads((self.dir / "log" / "mirror-status.json").read_text())
        except (OSError, ValueError):
            return None


def kcat_produce(bootstrap, topic, path):
    t0 = time.monotonic()
    subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic, "-p", "0", *KCAT_PRODUCE, "-l", str(path)], check=True)
    return time.monotonic() - t0


def upstream_batches(kafka_dir, topic):
    """Bytes of the data batches stored upstream for topic."""
    return sum(n for _codec, n in stored_data_batches(kafka_dir / "data", topic))


def mirror_run(eddy, upstream_bootstrap, site, n_records):
    """Eddy with the mirror on, from start to caught up: (seconds, cpu
    seconds, highest sampled RSS KiB, RSS KiB once idle)."""
    extra = [kv for kv in os.environ.get("MIRROR_SETTINGS", "").split(",") if kv]
    t0 = eddy.start(f"site.id={site}", f"mirror.bootstrap.servers={upstream_bootstrap}", "mirror.topics=backlog", *extra)
    pid = eddy.proc.pid
    cpu0 = proc_stat(pid)[0]
    peak = heap = peak_anon = 0
    while True:
        _cpu, rss, _hwm, anon = proc_stat(pid)
        peak = max(peak, rss)
        peak_anon = max(peak_anon, anon)
        heap = max(heap, heap_bytes(eddy))
        st = eddy.status()
        if st and st["partitions"] and all(p["mirrored"] == p["end"] == n_records for p in st["partitions"]):
            break
        if eddy.proc.poll() is not None:
            raise SystemExit("eddy died while mirroring")
        time.sleep(0.05)
    secs = time.monotonic() - t0
    cpu = proc_stat(pid)[0] - cpu0
    time.sleep(3)  # the last transaction's buffers let go, the status written
    _c, idle_rss, hwm, _anon = proc_stat(pid)
    log(f"mirror: {secs:.2f} s, cpu {cpu:.2f} s, rss peak sampled {peak} KiB (anon {peak_anon} KiB), hwm {hwm} KiB, "
        f"idle after {idle_rss} KiB; heap peak sampled {heap} B, idle after {heap_bytes(eddy)} B")
    return secs, cpu, peak, idle_rss, hwm, heap, peak_anon


def main():
    shutil.rmtree(BASE, ignore_errors=True)
    BASE.mkdir(parents=True)
    data = BASE / "backlog.txt"
    n_records, payload = make_data(data)
    log(f"data: {n_records} records, {payload} payload bytes")
    kafka_dir = BASE / "kafka"
    env = dict(os.environ, **KAFKA_ENV)
    subprocess.run([str(KAFKA_BROKER_SH), "start", str(kafka_dir), "0", KV], check=True, env=env, stdout=sys.stderr)
    upstream = f"{HOST}:{int((kafka_dir / 'kafka.port').read_text())}"
    rows = []
    try:
        from confluent_kafka import Producer

        warm_up = Producer({"bootstrap.servers": upstream, "transactional.id": "bench-warm-up"})
        warm_up.init_transactions(120)  # creates __transaction_state
        del warm_up
        for run in range(RUNS):
            eddy = Eddy(BASE / f"eddy{run}")
            eddy.start()
            kcat_produce(eddy.bootstrap, "backlog", data)
            eddy.stop()
            eddy.start()  # as the mirror run starts: fresh, the backlog on flash
            time.sleep(3)
            _c, idle_rss, idle_hwm, idle_anon = proc_stat(eddy.proc.pid)
            log(f"eddy idle, no mirror, backlog on flash: rss {idle_rss} KiB (anon {idle_anon} KiB), hwm {idle_hwm} KiB, heap {heap_bytes(eddy)} B")
            eddy.stop()
            site = f"bench{run}-{os.getpid()}"
            if run % 2:
                kcat_s = kcat_produce(upstream, f"kcat{run}", data)
                m = mirror_run(eddy, upstream, site, n_records)
            else:
                m = mirror_run(eddy, upstream, site, n_records)
                kcat_s = kcat_produce(upstream, f"kcat{run}", data)
            eddy.stop()
            log(f"kcat: {kcat_s:.2f} s")
            wire = upstream_batches(kafka_dir, f"{site}.backlog")
            kcat_wire = upstream_batches(kafka_dir, f"kcat{run}")
            rows.append((m, kcat_s, idle_rss, wire, kcat_wire, idle_anon))
            shutil.rmtree(eddy.dir, ignore_errors=True)
    finally:
        subprocess.run([str(KAFKA_BROKER_SH), "stop", str(kafka_dir)], check=False, stdout=sys.stderr)
    med = statistics.median
    secs = med(r[0][0] for r in rows)
    cpu = med(r[0][1] for r in rows)
    kcat_s = med(r[1] for r in rows)
    mib = payload / (1 << 20)
    print(f"Backlog: {n_records:,} records, {payload:,} payload bytes ({mib:.0f} MiB); {len(rows)} run(s), medians.\n")
    print("| | |")
    print("|---|---:|")
    print(f"| Eddy mirror, `eddy serve` to the last record committed upstream | {secs:.2f} s ({mib / secs:.0f} MiB/s) |")
    print(f"| kcat → the same Kafka (acks=all, zstd) | {kcat_s:.2f} s ({mib / kcat_s:.0f} MiB/s) |")
    print(f"| mirror speed against kcat | {kcat_s / secs:.2f}× |")
    print(f"| mirror CPU seconds per GB of payload | {cpu / (payload / 1e9):.2f} s |")
    print(f"| wire (stored batch) bytes per payload byte, mirror (zstd, provenance headers) | {med(r[3] for r in rows) / payload:.3f} |")
    print(f"| the same for kcat (zstd, no headers) | {med(r[4] for r in rows) / payload:.3f} |")
    print(f"| RSS idle, no mirror (backlog loaded) | {med(r[2] for r in rows) / 1024:.1f} MiB |")
    print(f"| RSS while mirroring (highest sample) | {med(r[0][2] for r in rows) / 1024:.1f} MiB |")
    print(f"| RssAnon idle, no mirror / while mirroring (highest sample) | {med(r[5] for r in rows) / 1024:.1f} / {med(r[0][6] for r in rows) / 1024:.1f} MiB |")
    print(f"| the same, mirroring minus idle: RSS / RssAnon (medians of the runs' differences) | {med(r[0][2] - r[2] for r in rows) / 1024:.1f} / {med(r[0][6] - r[5] for r in rows) / 1024:.1f} MiB |")
    print(f"| peak RSS of the mirroring process (VmHWM) | {med(r[0][4] for r in rows) / 1024:.1f} MiB |")
    print(f"| RSS mirror caught up, idle | {med(r[0][3] for r in rows) / 1024:.1f} MiB |")
    print(f"| Eddy's heap while mirroring (highest sample of eddy_memory_used_bytes) | {med(r[0][5] for r in rows) / 2**20:.1f} MiB |")
    shutil.rmtree(BASE, ignore_errors=True)


if __name__ == "__main__":
    main()
