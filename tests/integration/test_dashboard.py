"""Eddy's dashboard page in real headless Chromium (Debian's chromium,
driven by playwright-core from npm through tests/peers/dashboard/drive.js)
while paho MQTT clients publish the wind turbine recording: the page loads
with no console error, failed request or error answer, lists the topics,
shows records arriving live with keys, headers and pretty-printed JSON,
charts wind speed against power (uPlot, drawn on its canvas), shows a
consumer group's lag, the mirror's state and lag per partition (to a real
Kafka upstream) and the log's recent warnings. A full-page screenshot is kept
in the test's temporary folder (docs/dashboard.png is one of these)."""

import csv
import json
import socket
import threading
import time

import pytest

from conftest import CACHE, HOST, PEERS_DIR, TARGET, kcat, need, recording, run, wait_topic
from test_mirror import mirror_config, start_eddy, upstream  # noqa: F401  (upstream: the fixture, a real Kafka)

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

pytestmark = pytest.mark.skipif(TARGET != "eddy", reason="the dashboard is Eddy's own")  # allowed: only when the suite is proven against real Kafka, which has no dashboard

DRIVER = PEERS_DIR / "dashboard" / "drive.js"
TURBINES = ["T1", "T2", "T3"]


def turbine_rows(n):
    """The first n readings of the recording as JSON-ready dicts."""
    with open(recording("wind-turbine-scada-T1.csv"), newline="", encoding="latin-1") as f:
        r = csv.reader(f)
        next(r)
        rows = []
        for when, power, speed, theory, direction in r:
            rows.append({"time": when, "ActivePower": round(float(power), 3), "WindSpeed": round(float(speed), 3),
                         "TheoreticalPower": round(float(theory), 3), "WindDirection": round(float(direction), 2)})
            if len(rows) == n:
                return rows
    return rows


class Turbine:
    """A paho client publishing readings of one turbine at QoS 1."""

    def __init__(self, broker, name):
        self.name = name
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"turbine-{name}", protocol=mqtt.MQTTv5)
        self.c.connect(HOST, broker.mqtt_port)
        self.c.loop_start()

    def publish(self, row):
        info = self.c.publish(f"turbines/{self.name}", json.dumps(dict(row, turbine=self.name)), qos=1)
        info.wait_for_publish(30)
        assert info.is_published()

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def drive(*args, timeout=150):
    env = {"NODE_PATH": str(CACHE / "node" / "node_modules")}
    out = run([need("node"), need(DRIVER), *map(str, args)], timeout=timeout, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_dashboard_in_chromium(upstream, tmp_path):
    need("/usr/bin/chromium")
    rows = turbine_rows(2000)
    cfg = mirror_config(upstream, r"turbines\..*")
    broker = start_eddy(tmp_path / "eddy", cfg)
    turbines = []
    stop = threading.Event()
    published = []
    feeder = None
    try:
        turbines = [Turbine(broker, n) for n in TURBINES]
        for row in rows[:30]:
            for t in turbines:
                t.publish(row)
            published.append(row)
        wait_topic(broker, "turbines.T1", 1)
        # a consumer group that read the first 30 readings: lag grows from here
        kcat(broker, "-G", "dash-readers", "-e", "-q", "-X", "auto.offset.reset=earliest", "turbines.T1")

        def feed():
            for row in rows[30:]:
                if stop.is_set():
                    return
                published.append(row)  # before the page can see it
                for t in turbines:
                    t.publish(row)
                time.sleep(0.05)

        # a request that breaks the rules: its warning is listed on the page
        with socket.create_connection((HOST, broker.http_port), timeout=10) as bad:
            bad.sendall(b"GET /api/v1/topics HTTP/1.1\r\n\r\n")
            assert bad.recv(4096).startswith(b"HTTP/1.1 400")
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        shot = tmp_path / "dashboard.png"
        seen = drive("check", f"http://{HOST}:{broker.http_port}/", "turbines.T1", "ActivePower", "WindSpeed",
                     "dash-readers", shot)
    finally:
        stop.set()
        if feeder:
            feeder.join()  # its publish in progress ends before the clients close
        for t in turbines:
            t.close()
        broker.stop()
    print(json.dumps(seen, indent=1))
    assert seen["errors"] == []
    assert seen["title"] == "Eddy"
    assert seen["version"].startswith("v")
    assert {f"turbines.{n}" for n in TURBINES} <= set(seen["topics"])
    # live: records after the ones the page read before its stream opened,
    # with the MQTT topic as key and header, the value pretty-printed
    assert seen["tail_first_max"] >= 29
    newest = seen["tail_meta"][0]
    assert int(newest.split(" ")[0][1:]) > seen["tail_first_max"]
    assert "key turbines/T1" in newest and "mqtt.topic=" in newest
    value = json.loads(seen["tail_value"])
    assert value["turbine"] == "T1" and value in [dict(r, turbine="T1") for r in published]
    assert seen["tail_value"].startswith('{\n  "time": ')
    # the chart: both fields, points from the records, ink on the canvas
    chart = seen["chart"]
    assert chart["series"] == ["ActivePower", "WindSpeed"]
    assert chart["points"] >= 35
    assert abs(chart["x0"] - time.time()) < 3600  # seconds, not milliseconds
    powers = {r["ActivePower"] for r in published}
    speeds = {r["WindSpeed"] for r in published}
    assert set(chart["y"]) <= powers and set(chart["y2"]) <= speeds
    assert chart["ink"] > 2000, chart
    # the group's lag and the mirror section (no mirror configured: off)
    g = [r for r in seen["groups"] if r[0] == "dash-readers"]
    assert g and g[0][3] == "turbines.T1" and g[0][5] == "30" and int(g[0][7].replace(",", "")) > 0
    # the mirror to the real Kafka upstream: its state and each partition's lag
    assert seen["mirror"].startswith("state: mirroring") and f"upstream: {upstream.bootstrap}" in seen["mirror"]
    m = [r for r in seen["mirror_rows"] if r[0] == "turbines.T1"]
    assert m and m[0][2] == f"{cfg['site.id']}.turbines.T1" and m[0][7] in ("mirroring", "caught-up"), m
    assert int(m[0][4].replace(",", "")) >= 30 and int(m[0][5].replace(",", "")) >= 0
    assert any("WARN [conn]" in w and "request without Host" in w for w in seen["warnings"]), seen["warnings"]
    assert any(c.endswith("mqtt connections") and not c.startswith("0 ") for c in seen["clients"])
    # the table of MQTT clients: each turbine by its client id, MQTT 5, clean
    rows = {r[0]: r for r in seen["mqtt_clients"]}
    for n in TURBINES:
        r = rows[f"turbine-{n}"]
        assert r[1].startswith(f"{HOST}:") and r[2] == "5.0" and r[6] == "clean", r
    assert shot.stat().st_size > 20000
