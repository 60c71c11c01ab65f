"""A private systemd for testing the packaged service on a machine whose
PID 1 is not systemd (a container, a CI runner): the distribution's own
/lib/systemd/systemd runs as PID 1 of new PID, mount, network, UTS, IPC and
cgroup namespaces, so `systemctl start eddy` exercises the real unit
(Type=notify, the watchdog, User=, the sandboxing options, Restart=).

It must not touch the machine it runs on. It gets its own /run, /tmp and
/var/tmp (tmpfs), its own loopback-only network, and boots a target of its
own. Everything that sets up a real machine (sysinit.target: tmpfiles, sysctl,
binfmt, remounts, journal flushing...) is masked in the private /run, and the
unit gets DefaultDependencies=no there, so starting eddy.service starts
eddy.service, its slice and the journal, and nothing else."""

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

# Units a test boot must never start: each would act on the shared machine.
MASKED = [
    "sysinit.target",
    "basic.target",
    "local-fs.target",
    "network.target",
    "network-online.target",
    "sockets.target",
    "timers.target",
    "paths.target",
    "multi-user.target",
    "graphical.target",
    "systemd-tmpfiles-setup.service",
    "systemd-tmpfiles-setup-dev.service",
    "systemd-tmpfiles-clean.service",
    "systemd-tmpfiles-clean.timer",
    "systemd-sysctl.service",
    "systemd-remount-fs.service",
    "systemd-binfmt.service",
    "proc-sys-fs-binfmt_misc.automount",
    "proc-sys-fs-binfmt_misc.mount",
    "systemd-modules-load.service",
    "systemd-sysusers.service",
    "systemd-journal-flush.service",
    "systemd-journald-dev-log.socket",
    "systemd-journald-audit.socket",
    "systemd-update-utmp.service",
    "systemd-random-seed.service",
    "systemd-machine-id-commit.service",
    "systemd-firstboot.service",
    "ldconfig.service",
    "kmod-static-nodes.service",
    "systemd-udevd.service",
    "systemd-udev-trigger.service",
    "systemd-logind.service",
    "dbus.service",
    "dbus.socket",
]

BOOT = r"""
set -e
mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
mkdir -p /run/systemd/system
for u in $MASKED; do ln -s /dev/null "/run/systemd/system/$u"; done
cat >/run/systemd/system/eddy-test.target <<'EOF'
[Unit]
Description=Eddy package test boot
DefaultDependencies=no
EOF
for u in $NODEFAULT; do
    mkdir -p "/run/systemd/system/$u.d"
    printf '[Unit]\nDefaultDependencies=no\n' >"/run/systemd/system/$u.d/50-test-boot.conf"
done
if [ -n "$DROPIN" ]; then
    mkdir -p /run/systemd/system/eddy.service.d
    printf '%b' "$DROPIN" >/run/systemd/system/eddy.service.d/60-test.conf
fi
echo booting
exec env -i container=eddy-test PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    /lib/systemd/systemd --system --unit=eddy-test.target --log-target=console --log-level=notice
"""


class PrivateSystemd:
    """start() boots it; systemctl()/journal()/run() act inside; stop() ends
    every process in it (PID 1 exits, the kernel kills the rest)."""

    def __init__(self, units=("eddy.service",), dropin=""):
        self.units = list(units)
        self.dropin = dropin
        self.proc = None
        self.pid = None
        self.out = tempfile.NamedTemporaryFile(prefix="eddy-sysd-", suffix=".log", delete=False)

    def start(self, timeout=60):
        env = dict(os.environ, MASKED=" ".join(MASKED), NODEFAULT=" ".join(self.units), DROPIN=self.dropin)
        self.proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--kill-child", "--mount", "--uts", "--ipc", "--cgroup",
             "--net", "--mount-proc", "sh", "-c", BOOT],
            stdin=subprocess.DEVNULL, stdout=self.out, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"private systemd exited at boot:\n{self.log()}")
            self.pid = self._find_pid1()
            if self.pid:
                p = self.systemctl("is-system-running", "--wait", check=False, timeout=timeout)
                state = p.stdout.strip()
                if state in ("running", "degraded"):
                    return self
                if state not in ("initializing", "starting", ""):
                    raise AssertionError(f"private systemd is {state}:\n{self.log()}")
            time.sleep(0.2)
        raise AssertionError(f"private systemd did not boot in {timeout}s:\n{self.log()}")

    def _find_pid1(self):
        # The namespace's PID 1 is the only child of the unshare process.
        try:
            kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            return None
        for k in kids:
            try:
                if Path(f"/proc/{k}/comm").read_text().strip() == "systemd":
                    return int(k)
            except OSError:
                pass
        return None

    def log(self):
        try:
            return Path(self.out.name).read_text(errors="replace")[-4000:]
        except OSError:
            return "(no output)"

    def nsenter(self, *ns):
        return ["nsenter", "-t", str(self.pid), *ns]

    def run(self, cmd, *, check=True, timeout=60, input=None, net_only=True):
        """Runs cmd in the private network (and, unless net_only, also its
        mount and PID namespaces)."""
        ns = ["-n"] if net_only else ["-m", "-p", "-n"]
        p = subprocess.run(
            self.nsenter(*ns) + [str(c) for c in cmd], input=input, capture_output=True,
            timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and p.returncode != 0:
            raise AssertionError(
                f"exit {p.returncode}: {' '.join(map(str, cmd))}\n"
                f"stdout: {p.stdout.decode(errors='replace')[-3000:]}\n"
                f"stderr: {p.stderr.decode(errors='replace')[-3000:]}"
            )
        return p

    def systemctl(self, *args, check=True, timeout=120):
        p = subprocess.run(
            self.nsenter("-m", "-p") + ["systemctl", "--no-pager", *args],
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )
        if check and p.returncode != 0:
            raise AssertionError(
                f"systemctl {' '.join(args)}: exit {p.returncode}\n{p.stdout}{p.stderr}\n{self.journal()}"
            )
        return p

    def show(self, unit, prop):
        return self.systemctl("show", "-P", prop, unit).stdout.strip()

    def journal(self, unit="eddy.service", lines=60):
        p = subprocess.run(
            self.nsenter("-m", "-p") + ["journalctl", "--no-pager", "-q", "-u", unit, "-n", str(lines)],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        )
        return p.stdout + p.stderr

    def active_units(self):
        p = self.systemctl("list-units", "--all", "--plain", "--no-legend", "--state=active")
        return [line.split()[0] for line in p.stdout.splitlines() if line.strip()]

    def stop(self):
        if self.proc is None:
            return
        if self.pid:
            subprocess.run(self.nsenter("-m", "-p") + ["systemctl", "exit"], capture_output=True, timeout=60)
        else:
            os.killpg(self.proc.pid, signal.SIGKILL)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None
        self.pid = None
        os.unlink(self.out.name)
