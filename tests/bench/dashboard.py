"""What the dashboard costs (not a test; about a minute): Eddy's RSS with
no dashboard, then with 10 headless Chromium pages tailing a topic while
an MQTT client publishes turbine readings, and the page's load time in
Chromium (median of 5 loads, each in a fresh browser context, so nothing
is cached). Prints one line per figure.
  tests/peers/install.sh && ~/.cache/eddy-peers/venv/bin/python tests/bench/dashboard.py
DASH_HOLD_S (30) is how long the 10 pages stay open.

  ... tests/bench/dashboard.py ingest
measures instead what a dashboard tailing a busy topic costs ingest:
rdkperf produces DASH_RECORDS (2,000,000) records of 100 B (acks=1) into one
topic, alternately with no dashboard and with one Chromium page tailing
that topic, DASH_RUNS (5) times each; prints records/s and Eddy's CPU
seconds per million records for both (the primary figure: the browser runs
on the same machine here, not on the operator's phone, so it also takes
CPU from the producer), medians, and their ratios."""

import csv
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parents[2]
EDDY = Path(os.environ.get("EDDY_BIN") or REPO / "build" / "eddy")
CACHE = Path(os.environ.get("EDDY_PEERS") or Path.home() / ".cache" / "eddy-peers")
DRIVER = REPO / "tests" / "peers" / "dashboard" / "drive.js"
HOLD_S = int(os.environ.get("DASH_HOLD_S", "30"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def cpu_s(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rdkperf(*args):
    out = subprocess.run([str(REPO / "build" / "bench" / "rdkperf"), *map(str, args)], check=True,
                         capture_output=True, text=True, timeout=600).stdout
    return dict(kv.split("=", 1) for kv in out.split() if "=" in kv)


def ingest():
    """Ingest with and without one dashboard page tailing the busy topic."""
    n = int(os.environ.get("DASH_RECORDS", "2000000"))
    runs = int(os.environ.get("DASH_RUNS", "5"))
    d = Path(tempfile.mkdtemp(prefix="eddy-dash-ingest-"))
    http, kafka = free_port(), free_port()
    proc = subprocess.Popen([str(EDDY), "serve", "--set", f"log.dirs={d}", "--set",
                             f"listeners=PLAINTEXT://127.0.0.1:{kafka}", "--set", "mqtt.listeners=", "--set",
                             "coap.listeners=", "--set", f"http.listeners=http://127.0.0.1:{http}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    res = {"none": [], "tail": []}
    try:
        time.sleep(1)
        boot = f"127.0.0.1:{kafka}"
        rdkperf("create", "-b", boot, "-t", "busy", "-n", 1)
        rdkperf("produce", "-b", boot, "-t", "busy", "-n", 20000, "-s", 100, "-a", 1)  # warm-up
        url = f"http://127.0.0.1:{http}/"
        for i in range(runs):
            for mode in (("none", "tail") if i % 2 == 0 else ("tail", "none")):
                holder = None
                if mode == "tail":
                    holder = threading.Thread(target=lambda: drive("hold", url, "busy", 1, 20), daemon=True)
                    holder.start()
                    time.sleep(8)  # the page is up and its tail connected
                c0 = cpu_s(proc.pid)
                r = rdkperf("produce", "-b", boot, "-t", "busy", "-n", n, "-s", 100, "-a", 1)
                c1 = cpu_s(proc.pid)
                res[mode].append((float(r["rec_s"]), (c1 - c0) / n * 1e6))
                print(f"run {i + 1} {mode}: {float(r['rec_s']):.0f} rec/s, "
                      f"{(c1 - c0) / n * 1e6:.3f} Eddy CPU s per M records", flush=True)
                if holder:
                    holder.join()
        med = {m: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for m, v in res.items()}
        print(f"medians of {runs}: no dashboard {med['none'][0]:.0f} rec/s {med['none'][1]:.3f} CPU s/M; "
              f"one dashboard tailing {med['tail'][0]:.0f} rec/s {med['tail'][1]:.3f} CPU s/M; "
              f"rate tail/none {med['tail'][0] / med['none'][0]:.3f}, "
              f"CPU tail/none {med['tail'][1] / med['none'][1]:.3f}; "
              f"load average {os.getloadavg()}")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        shutil.rmtree(d, ignore_errors=True)


def drive(*args):
    env = dict(os.environ, NODE_PATH=str(CACHE / "node" / "node_modules"))
    out = subprocess.run(["node", str(DRIVER), *map(str, args)], env=env, check=True, capture_output=True,
                         text=True, timeout=HOLD_S + 300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    d = Path(tempfile.mkdtemp(prefix="eddy-dash-bench-"))
    http, mqtt_port, kafka = free_port(), free_port(), free_port()
    proc = subprocess.Popen([str(EDDY), "serve", "--set", f"log.dirs={d}", "--set",
                             f"listeners=PLAINTEXT://127.0.0.1:{kafka}", "--set",
                             f"mqtt.listeners=mqtt://127.0.0.1:{mqtt_port}", "--set", "coap.listeners=", "--set",
                             f"http.listeners=http://127.0.0.1:{http}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stop = threading.Event()
    try:
        time.sleep(1)
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-turbine")
        c.connect("127.0.0.1", mqtt_port)
        c.loop_start()
        with open(REPO / "tests" / "data" / "wind-turbine-scada-T1.csv", newline="", encoding="latin-1") as f:
            rows = list(csv.reader(f))[1:]

        def feed():  # 20 readings a second
            for when, power, speed, theory, direction in rows:
                if stop.is_set():
                    return
                c.publish("turbines/T1", json.dumps({"time": when, "ActivePower": float(power),
                                                     "WindSpeed": float(speed)}), qos=1)
                time.sleep(0.05)

        threading.Thread(target=feed, daemon=True).start()
        time.sleep(3)
        idle = rss_kib(proc.pid)
        print(f"eddy RSS, publishing, no dashboard: {idle} KiB")
        url = f"http://127.0.0.1:{http}/"
        loads = drive("load", url, 5)
        assert not loads["errors"], loads["errors"]
        print(f"page load in chromium (load event, fresh context), ms: {loads['load_ms']}, "
              f"median {statistics.median(loads['load_ms'])}")
        samples = []
        holder = threading.Thread(target=lambda: samples.append(drive("hold", url, "turbines.T1", 10, HOLD_S)))
        holder.start()
        peak = 0
        while holder.is_alive():
            peak = max(peak, rss_kib(proc.pid))
            time.sleep(0.5)
        held = samples[0] if samples else {"errors": ["hold failed"], "live": []}
        print(f"eddy RSS, 10 dashboards tailing for {HOLD_S} s: peak {peak} KiB "
              f"(+{peak - idle} KiB); pages live: {held['live'].count('live')}/10; errors: {held['errors']}")
    finally:
        stop.set()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(ingest() if sys.argv[1:] == ["ingest"] else main())
