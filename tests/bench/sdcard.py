#!/usr/bin/env python3
"""An SD-card-like device for the benchmarks (not a test): a file-backed loop
device, formatted ext4 as Raspberry Pi OS formats its card, mounted noatime,
and throttled to an SD card's speeds through the cgroup v1 blkio controller.

The loop device reaches its backing file through the page cache by default
(direct-io off): the throttle then sets the pace. With direct IO on, each
small write waits for the host disk's own O_DIRECT write, which on a busy
host is slower than the card's 1,200 IOPS (measured: 339), so the host
would set the pace instead.

cgroup v2 would say `io.max` on the benchmark's cgroup. With only cgroup v1
mounted, blkio throttling applies to the IO that the cgroup's own tasks
submit, and buffered writeback by the kernel's flusher threads is charged to
the root cgroup. So the limits are set on the ROOT blkio cgroup, for the loop
device only (major:minor): the device serves nothing but the benchmark, and
every writer of it, kernel threads included, is throttled. Nothing else is
ever throttled, and the rules are removed again at the end.

  sdcard.py up [--dir D] [--dio on|off]
                            set one up, print its mount point, leave it
  sdcard.py down            remove every eddy-bench-sd device left behind
  sdcard.py check [--dio on|off|both] [--no-throttle]
                            self-check: measure sequential fdatasync'd
                            writes, 4 KiB direct writes (IOPS), buffered
                            writes written back by the kernel, and direct
                            reads, and fail if any exceeds its limit by
                            more than 25 % (--no-throttle shows them
                            unlimited, and fails)

As a module: `with SdCard(base) as sd:` gives sd.mnt (the mount point) and
sd.stat() (the device's own counters: sectors and IOs written and read);
the device is removed on leaving the block, on Ctrl-C and on SIGTERM.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PREFIX = "eddy-bench-sd"
BLKIO = "/sys/fs/cgroup/blkio"
MB = 1000 * 1000
# An A1-class microSD card behind a Raspberry Pi's SD interface (sustained,
# not the marketing burst): ~20 MB/s and ~1,200 IOPS written, ~40 MB/s and
# ~2,500 IOPS read.
WRITE_BPS = 20 * MB
WRITE_IOPS = 1200
READ_BPS = 40 * MB
READ_IOPS = 2500
SIZE = 2 << 30


def say(*a):
    print(*a, file=sys.stderr, flush=True)


def run(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout.strip()


def set_rule(knob, dev, value):
    """One throttle rule on the root blkio cgroup; value 0 removes it."""
    with open(os.path.join(BLKIO, f"blkio.throttle.{knob}"), "w") as f:
        f.write(f"{dev} {value}\n")


def require():
    """Stop with a one-line reason where the device cannot be made."""
    if os.geteuid() != 0:
        raise SystemExit("sdcard.py: needs root (losetup, mount, blkio)")
    if not os.path.exists(os.path.join(BLKIO, "blkio.throttle.write_bps_device")):
        raise SystemExit(f"sdcard.py: no cgroup v1 blkio throttling at {BLKIO}")
    for tool in ("losetup", "mkfs.ext4", "mount", "umount", "dd"):
        if not shutil.which(tool):
            raise SystemExit(f"sdcard.py: {tool} is needed (util-linux, e2fsprogs, coreutils)")


def sigterm_as_interrupt():
    """SIGTERM and SIGHUP unwind like Ctrl-C, so that `with` blocks tear down."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, handler)


class SdCard:
    """The device; SdCard(base).up() or `with SdCard(base) as sd:`."""

    def __init__(self, base, size=SIZE, dio=False, throttle=True, write_bps=WRITE_BPS,
                 write_iops=WRITE_IOPS, read_bps=READ_BPS, read_iops=READ_IOPS):
        tag = f"{PREFIX}-{os.getpid()}"
        self.img = os.path.join(base, tag + ".img")
        self.mnt = os.path.join(base, tag + ".mnt")
        self.size, self.dio, self.throttle = size, dio, throttle
        self.limits = {"write_bps_device": write_bps, "write_iops_device": write_iops,
                       "read_bps_device": read_bps, "read_iops_device": read_iops}
        self.loop = self.dev = None
        self.mounted = False

    def up(self):
        require()
        try:
            os.makedirs(os.path.dirname(self.img), exist_ok=True)
            with open(self.img, "wb") as f:
                f.truncate(self.size)
            self.loop = run("losetup", "-f", "--show",
                            "--direct-io=" + ("on" if self.dio else "off"), self.img)
            name = os.path.basename(self.loop)
            self.dev = open(f"/sys/block/{name}/dev").read().strip()
            if self.dio and open(f"/sys/block/{name}/loop/dio").read().strip() != "1":
                say(f"sdcard: {self.loop} refused direct IO on {self.img}; buffered")
            # Raspberry Pi OS's card: ext4, 4 KiB blocks, a journal, noatime.
            # Initialised now, so that no lazy init writes during a run.
            run("mkfs.ext4", "-q", "-F", "-b", "4096", "-L", "eddy-bench-sd",
                "-E", "lazy_itable_init=0,lazy_journal_init=0", self.loop)
            os.makedirs(self.mnt, exist_ok=True)
            run("mount", "-o", "noatime", self.loop, self.mnt)
            self.mounted = True
            if self.throttle:
                for knob, v in self.limits.items():
                    set_rule(knob, self.dev, v)
        except BaseException:
            self.down()
            raise
        return self

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.down()

    def stat(self):
        """The device's counters since it was set up (/sys/block/loopN/stat)."""
        v = [int(x) for x in open(f"/sys/block/{os.path.basename(self.loop)}/stat").read().split()]
        return {"read_ios": v[0], "read_bytes": v[2] * 512,
                "write_ios": v[4], "write_bytes": v[6] * 512}

    def drop_caches(self):
        """Write back and forget this file system's page cache."""
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")

    def down(self):
        """Undo whatever up() did; safe to call twice and after a failed up()."""
        if self.dev:
            for knob in self.limits:
                try:
                    set_rule(knob, self.dev, 0)
                except OSError:
                    pass
        if self.mounted:
            unmount(self.mnt)
            self.mounted = False
        if self.loop:
            subprocess.run(["losetup", "-d", self.loop], check=False)
            self.loop = None
        if os.path.isdir(self.mnt) and not os.path.ismount(self.mnt):
            os.rmdir(self.mnt)
        if os.path.exists(self.img):
            os.unlink(self.img)
        self.dev = None


def unmount(path):
    for _ in range(50):
        if subprocess.run(["umount", path], capture_output=True).returncode == 0:
            return
        time.sleep(0.2)  # a broker's process may be exiting still
    subprocess.run(["umount", "-l", path], check=False)


def down_all():
    """Remove every eddy-bench-sd loop device (a run killed by SIGKILL)."""
    out = json.loads(run("losetup", "-J", "-l") or '{"loopdevices": []}')
    for d in out.get("loopdevices", []):
        back = d.get("back-file") or ""
        if PREFIX not in os.path.basename(back.split(" ")[0]):
            continue
        name = os.path.basename(d["name"])
        dev = open(f"/sys/block/{name}/dev").read().strip()
        for knob in ("write_bps_device", "write_iops_device", "read_bps_device",
                     "read_iops_device"):
            try:
                set_rule(knob, dev, 0)
            except OSError:
                pass
        for line in open("/proc/mounts"):
            src, mnt = line.split()[:2]
            if src == d["name"]:
                unmount(mnt)
        subprocess.run(["losetup", "-d", d["name"]], check=False)
        img = back.split(" ")[0]
        say(f"sdcard: removed {d['name']} ({img})")
        if os.path.exists(img):
            os.unlink(img)
            mnt = img[:-len(".img")] + ".mnt"
            if os.path.isdir(mnt) and not os.path.ismount(mnt):
                os.rmdir(mnt)


def timed(fn):
    t = time.monotonic()
    fn()
    return time.monotonic() - t


def dd(*args):
    subprocess.run(["dd", "status=none"] + list(args), check=True)


def check_one(base, dio, throttle):
    """The four measurements on a fresh device; returns [(what, value,
    limit, unit)]."""
    rows = []
    with SdCard(base, dio=dio, throttle=throttle) as sd:
        f = os.path.join(sd.mnt, "check")
        n = 64  # MiB
        s0 = sd.stat()
        dt = timed(lambda: dd("if=/dev/zero", f"of={f}", "bs=1M", f"count={n}", "conv=fdatasync"))
        s1 = sd.stat()
        rows.append(("sequential write, fdatasync at the end", n * 1048576 / dt / MB,
                     WRITE_BPS / MB, "MB/s"))
        rows.append(("  device sectors written / bytes written",
                     (s1["write_bytes"] - s0["write_bytes"]) / (n * 1048576), None, "x"))
        # 4 KiB direct writes into the file just written (no allocation).
        k = 4000
        s0 = sd.stat()
        dt = timed(lambda: dd("if=/dev/zero", f"of={f}", "bs=4k", f"count={k}", "oflag=direct",
                              "conv=notrunc"))
        s1 = sd.stat()
        rows.append(("4 KiB direct writes", (s1["write_ios"] - s0["write_ios"]) / dt,
                     WRITE_IOPS, "IOPS"))
        # Buffered: dirtied in the page cache, written back by the kernel's
        # flusher threads (the cgroup v1 blind spot) when sync asks.
        g = os.path.join(sd.mnt, "buffered")
        dt = timed(lambda: (dd("if=/dev/zero", f"of={g}", "bs=1M", f"count={n}"), os.sync()))
        rows.append(("buffered write + kernel writeback", n * 1048576 / dt / MB,
                     WRITE_BPS / MB, "MB/s"))
        sd.drop_caches()
        dt = timed(lambda: dd(f"if={f}", "of=/dev/null", "bs=1M", "iflag=direct"))
        rows.append(("direct read", n * 1048576 / dt / MB, READ_BPS / MB, "MB/s"))
    return rows


def check(a):
    ok = True
    for dio in ([False, True] if a.dio == "both" else [a.dio == "on"]):
        print(f"loop direct-io={'on' if dio else 'off'}, "
              f"throttle {'on' if not a.no_throttle else 'off'}:")
        for what, v, limit, unit in check_one(a.dir, dio, not a.no_throttle):
            verdict = ""
            if limit is not None:
                # Held: not above the limit (25 % for the token bucket's
                # first slice). Far below it, the backing disk (busy, or
                # slower than a card) limits, not the throttle: said, but
                # not a failure of the throttle.
                good = v <= 1.25 * limit
                ok = ok and good
                verdict = (f"  (limit {limit:g} {unit}: "
                           + ("NOT HELD" if not good else "ok" if v >= 0.5 * limit else
                              "held, but the backing disk is slower than the limit now") + ")")
            print(f"  {what}: {v:.2f} {unit}{verdict}", flush=True)
    print("sdcard: the device is throttled" if ok else "sdcard: FAILED: not held at its limits")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["up", "down", "check"])
    ap.add_argument("--dir", default=os.path.join(REPO, "build"),
                    help="where the image and mount point go (default build/)")
    ap.add_argument("--dio", default="both", choices=["on", "off", "both"],
                    help="the loop device's direct IO to its backing file (up: off "
                    "unless on; check: both)")
    ap.add_argument("--no-throttle", action="store_true")
    a = ap.parse_args()
    require()
    sigterm_as_interrupt()
    if a.cmd == "down":
        down_all()
    elif a.cmd == "up":
        sd = SdCard(a.dir, dio=a.dio == "on", throttle=not a.no_throttle).up()
        print(sd.mnt)
    else:
        sys.exit(check(a))


if __name__ == "__main__":
    main()
