"""The Raspberry Pi 64-bit build (build/rpi-arm64/eddy) run under user-mode
emulation (qemu-aarch64, no binfmt_misc needed) serving kcat on the host:
a topic auto-created by producing to it, every record consumed back; MQTT
clients on the host (mosquitto_pub publishing at QoS 1, a paho-mqtt
subscriber) with the messages read back over Kafka; the same after a
restart, and the arm64-written data directory read by this
machine's own build (on-disk format independent of the CPU). Reports the
emulated broker's idle RSS."""

import os
import subprocess
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from conftest import HOST, REPO, Broker, kcat, need


BOARD = "rpi-arm64"
ARM64_BIN = Path(os.environ.get("EDDY_ARM64_BIN") or REPO / "build" / BOARD / "eddy")
HOST_BIN = Path(os.environ.get("EDDY_BIN") or REPO / "build" / "eddy")
# The multiarch libc6:arm64 (see QEMU in boards/rpi-arm64/board.mk).
SYSROOT = "/"
EM_AARCH64 = 183  # ELF e_machine


class EmulatedBroker(Broker):
    """conftest's Broker with the process started as `qemu-aarch64 -L
    / eddy serve ...`; readiness, stop, kill9 and restart are
    conftest's."""

    def __init__(self, workdir, binary=ARM64_BIN, emulate=True):
        super().__init__(workdir)
        self.binary = binary
        self.emulate = emulate

    @property
    def log_dir(self):
        return self.workdir / "log"

    def log_tail(self, n=40):
        try:
            return "\n".join((self.workdir / "eddy.log").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def start(self):
        if not self.binary.exists():
            pytest.fail(f"missing {self.binary}: build it with make BOARD={BOARD}", pytrace=False)
        prefix = [need("qemu-aarch64"), "-L", SYSROOT] if self.emulate else []
        # Emulation is several times slower than the board itself.
        self.start_eddy(prefix + [str(self.binary)], timeout=120)
        return self


def elf_machine(path):
    with open(path, "rb") as f:
        head = f.read(20)
    assert head[:4] == b"\x7fELF", f"{path} is not an ELF file"
    return int.from_bytes(head[18:20], "little")


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def produce(broker, topic, values):
    kcat(broker, "-P", "-t", topic, "-X", "acks=all", input=b"".join(v + b"\n" for v in values), timeout=120)


def consume(broker, topic):
    return kcat(broker, "-C", "-t", topic, "-o", "beginning", "-e", "-q", timeout=120).stdout.splitlines()


def mqtt_round(b, n=50):
    """A paho-mqtt subscriber and mosquitto_pub (QoS 1) against the broker's
    MQTT listener: the subscriber gets every message live, in order, and kcat
    reads them from the Kafka topic the MQTT topic maps to, keyed by the MQTT
    topic."""
    lines = [b"arm64-meter-%03d kWh=%d" % (i, 1000 + i) for i in range(n)]
    got, subscribed, done = [], threading.Event(), threading.Event()

    def on_message(client, userdata, msg):
        got.append(msg.payload)
        if len(got) == n:
            done.set()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="arm64-smoke-sub", protocol=mqtt.MQTTv311)
    sub.on_subscribe = lambda *args: subscribed.set()
    sub.on_message = on_message
    sub.connect(HOST, b.mqtt_port, keepalive=60)
    sub.loop_start()
    try:
        sub.subscribe("plant/#", qos=1)
        assert subscribed.wait(120), "no SUBACK from the emulated broker"
        subprocess.run(
            [need("mosquitto_pub"), "-h", HOST, "-p", str(b.mqtt_port), "-q", "1", "-t", "plant/arm64/meter", "-l"],
            input=b"\n".join(lines) + b"\n", check=True, timeout=120, capture_output=True,
        )
        assert done.wait(120), f"the subscriber got {len(got)} of {n} messages"
    finally:
        sub.disconnect()
        sub.loop_stop()
    assert got == lines
    got = kcat(b, "-C", "-t", "plant.arm64.meter", "-o", "beginning", "-e", "-q", "-f", "%k|%s\n",
               timeout=120).stdout.splitlines()
    assert got == [b"plant/arm64/meter|" + v for v in lines]


def test_arm64_build_serves_kcat(tmp_path, capsys):
    assert elf_machine(ARM64_BIN) == EM_AARCH64, f"{ARM64_BIN} is not an arm64 binary"
    b = EmulatedBroker(tmp_path / "arm64")
    try:
        b.start()
        idle_kib = rss_kib(b.pid)
        topic = "arm64-smoke"
        values = [b"reading-%04d temperature=%d" % (i, 20 + i % 7) for i in range(500)]
        produce(b, topic, values)  # the topic does not exist: auto-created
        md = kcat(b, "-L", "-t", topic, "-J").stdout.decode()
        assert f'"topic":"{topic}"' in md.replace(" ", ""), md
        assert consume(b, topic) == values
        mqtt_round(b)

        assert b.stop(), "SIGTERM did not stop the emulated broker"
        b.start()
        more = [b"after-restart-%02d" % i for i in range(20)]
        produce(b, topic, more)
        assert consume(b, topic) == values + more
        b.stop()
    finally:
        if b.alive():
            b.kill9()

    report = REPO / "build" / BOARD / "smoke-report.txt"
    report.write_text(f"idle RSS of eddy (arm64) under qemu-aarch64, emulator included: {idle_kib} KiB\n")
    with capsys.disabled():
        print(f"\n{report.read_text().strip()}")

    # The data written by the arm64 build, served by this machine's build.
    h = EmulatedBroker(tmp_path / "arm64", binary=HOST_BIN, emulate=False)
    try:
        h.start()
        assert consume(h, topic) == values + more
    finally:
        if h.alive():
            h.stop()
