"""What the dashboard costs (not a test; about a minute): Eddy's RSS with
no dashboard, then with 10 headless Chromium pages tailing a topic while
an MQTT client publishes turbine readings, and the page's load time in
Chromium (median of 5 loads, each in a fresh browser context, so nothing
is cached). Prints one line per figure.
  tests/peers/install.sh && ~/.cache/eddy-peers/venv/bin/python tests/bench/dashboard.py
DASH_HOLD_S (30) is how long the 10 pages stay open."""

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
    sys.exit(main())
