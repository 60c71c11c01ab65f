"""The Debian package of this machine's build, installed for real with dpkg:
its files, the eddy system user and data folder, the systemd unit (verified
by systemd-analyze, hardening scored), upgrade keeping an edited config and
the data, removal and purge. Then the service under a real systemd (a
private one in its own namespaces, see sysd.py): readiness over the notify
socket, watchdog pings, `eddy topics list`, and acknowledged records
surviving `systemctl restart` and SIGKILL.

The module installs the package and leaves the machine as it found it: it
refuses to run over an eddy installation it did not make."""

import configparser
import fcntl
import os
import pwd
import grp
import re
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, need, run
from sysd import PrivateSystemd

UNIT = Path("/lib/systemd/system/eddy.service")
CONF = Path("/etc/eddy/eddy.properties")
DATA = Path("/var/lib/eddy")
BIN = Path("/usr/bin/eddy")
WANTS = Path("/etc/systemd/system/multi-user.target.wants/eddy.service")
# Left in the data folder so a later run knows the installation is a test's.
MARK = DATA / ".installed-by-eddy-package-test"


def dpkg_installed():
    p = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "eddy"], capture_output=True, text=True)
    return p.returncode == 0 and "install ok installed" in p.stdout


def user_exists(name="eddy"):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def cleanup_machine():
    run(["dpkg", "--purge", "eddy"], check=False)
    if user_exists():
        run(["deluser", "--system", "--quiet", "eddy"], check=False)
    try:
        grp.getgrnam("eddy")
        run(["delgroup", "--system", "--quiet", "eddy"], check=False)
    except KeyError:
        pass
    shutil.rmtree(DATA, ignore_errors=True)


@pytest.fixture(scope="module")
def deb():
    """Builds the package of this machine's board with make deb."""
    arch = run(["dpkg", "--print-architecture"]).stdout.decode().strip()
    out = run(["make", "-s", "-C", REPO, "deb"], timeout=600).stdout.decode()
    m = re.search(r"^deb: (\S+_" + re.escape(arch) + r"\.deb)$", out, re.M)
    assert m, f"make deb printed no package for {arch}:\n{out}"
    return Path(m.group(1))


@pytest.fixture(scope="module")
def machine_lock():
    """One package test at a time on a machine: two would install and purge
    the same package under each other."""
    with open("/run/lock/eddy-package-test.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield
        fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def installed(deb, machine_lock):
    if dpkg_installed() or DATA.exists() or user_exists():
        if not MARK.exists():
            pytest.fail(
                "an eddy installation not made by this test is on this machine "
                "(package, /var/lib/eddy or user eddy); remove it to run the package test",
                pytrace=False,
            )
        cleanup_machine()
    run(["dpkg", "-i", deb], timeout=300)
    MARK.touch()
    yield deb
    cleanup_machine()


def unit_settings():
    cp = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    cp.optionxform = str
    cp.read_string(UNIT.read_text())
    return cp


def test_package_fields(deb):
    f = run(["dpkg-deb", "-f", deb, "Package", "Architecture", "Depends", "Version"]).stdout.decode()
    fields = dict(line.split(": ", 1) for line in f.splitlines())
    assert fields["Package"] == "eddy"
    assert fields["Architecture"] == run(["dpkg", "--print-architecture"]).stdout.decode().strip()
    assert re.search(r"\blibc6 \(>= [0-9.]+\)", fields["Depends"]), fields["Depends"]
    assert "adduser" in fields["Depends"]
    listing = run(["dpkg-deb", "-c", deb]).stdout.decode()
    for path in ("./usr/bin/eddy", "./etc/eddy/eddy.properties", "./lib/systemd/system/eddy.service"):
        assert re.search(r"\s" + re.escape(path) + r"$", listing, re.M), f"{path} not in package:\n{listing}"
    ctl = Path(run(["mktemp", "-d"]).stdout.decode().strip())
    try:
        run(["dpkg-deb", "-e", deb, ctl])
        assert (ctl / "conffiles").read_text().split() == ["/etc/eddy/eddy.properties"]
    finally:
        shutil.rmtree(ctl)


def test_files_user_and_data_folder(installed):
    st = BIN.stat()
    assert stat.S_IMODE(st.st_mode) == 0o755 and st.st_uid == 0
    version = run(["dpkg-deb", "-f", installed, "Version"]).stdout.decode().strip()
    assert run([BIN, "version"]).stdout.decode().split() == ["eddy", version]
    conf = CONF.read_text()
    assert re.search(r"^listeners=PLAINTEXT://127\.0\.0\.1:9092$", conf, re.M)
    assert re.search(r"^log\.dirs=/var/lib/eddy$", conf, re.M)

    u = pwd.getpwnam("eddy")
    assert u.pw_uid < 1000, "eddy must be a system user"
    assert u.pw_dir == "/var/lib/eddy"
    assert u.pw_shell in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false")
    assert grp.getgrgid(u.pw_gid).gr_name == "eddy"
    st = DATA.stat()
    assert (st.st_uid, st.st_gid) == (u.pw_uid, u.pw_gid)
    assert stat.S_IMODE(st.st_mode) == 0o750
    # Enabled at install time even without a running systemd.
    assert WANTS.is_symlink() and os.readlink(WANTS) == str(UNIT)


def test_unit_verifies_and_is_hardened(installed):
    p = run([need("systemd-analyze"), "verify", UNIT], check=False)
    out = (p.stdout + p.stderr).decode()
    assert p.returncode == 0 and "eddy.service" not in out, out
    s = unit_settings()["Service"]
    want = {
        "Type": "notify",
        "NotifyAccess": "main",
        "User": "eddy",
        "Group": "eddy",
        "StateDirectory": "eddy",
        "ReadWritePaths": "/var/lib/eddy",
        "Restart": "on-failure",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
    }
    for k, v in want.items():
        assert s.get(k) == v, f"{k}={s.get(k)} in {UNIT}, want {v}"
    assert int(s["WatchdogSec"]) > 0
    assert s["ExecStart"].split() == ["/usr/bin/eddy", "serve", "--config", "/etc/eddy/eddy.properties"]
    # systemd's own exposure score: 0 (locked down) .. 10 (exposed).
    p = run(["systemd-analyze", "security", "--offline=true", UNIT], check=False)
    text = p.stdout.decode()
    m = re.search(r"Overall exposure level for eddy\.service: ([0-9.]+)", text)
    assert m, text[-2000:]
    assert float(m.group(1)) <= 2.0, text[-3000:]


def test_upgrade_keeps_edited_config_and_data(installed):
    edited = CONF.read_text() + "# edited by the operator\n"
    CONF.write_text(edited)
    keep = DATA / "keep-me"
    keep.write_text("data")
    run(["dpkg", "-i", installed], timeout=300)  # same version again: the upgrade path
    assert CONF.read_text() == edited
    assert keep.read_text() == "data"
    assert user_exists()
    keep.unlink()


# ---- the running service (needs `eddy serve`) ----

KCAT_FMT = "%o %s\\n"


@pytest.fixture(scope="module")
def service(installed):
    """The installed unit under a private systemd, with a shorter watchdog
    so that its pings are seen within seconds, and the packaged command line
    plus an advertised address that the test's clients reach whatever this
    machine's host name resolves to."""
    dropin = (
        "[Service]\\nWatchdogSec=6\\nExecStart=\\nExecStart=/usr/bin/eddy serve "
        "--config /etc/eddy/eddy.properties --set advertised.listeners=PLAINTEXT://127.0.0.1:9092\\n"
    )
    s = PrivateSystemd(dropin=dropin)
    try:
        s.start()
        s.systemctl("start", "systemd-journald.service")
        # Type=notify: returns once eddy sent READY=1, fails if it never does.
        s.systemctl("start", "eddy.service", timeout=300)
        yield s
    finally:
        s.stop()


def wait_active(s, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if s.show("eddy.service", "ActiveState") == "active" and s.show("eddy.service", "SubState") == "running":
            return
        time.sleep(0.2)
    raise AssertionError(f"eddy.service not running again:\n{s.systemctl('status', 'eddy.service', check=False).stdout}\n{s.journal()}")


def produce(s, topic, values):
    s.run([need("kcat"), "-b", "127.0.0.1:9092", "-P", "-t", topic, "-X", "acks=all"],
          input=b"".join(v + b"\n" for v in values), timeout=120)


def consume(s, topic):
    out = s.run([need("kcat"), "-b", "127.0.0.1:9092", "-C", "-t", topic, "-o", "beginning", "-e", "-q"],
                timeout=120).stdout
    return out.splitlines()


def test_service_ready_as_eddy_and_answers(service):
    s = service
    assert s.show("eddy.service", "ActiveState") == "active"
    main_pid = s.show("eddy.service", "MainPID")
    user = s.run(["ps", "-o", "user=", "-p", main_pid], net_only=False).stdout.decode().strip()
    assert user == "eddy"
    s.run([BIN, "topics", "list"], timeout=60)
    assert s.journal().strip(), "nothing from eddy in the journal"


def test_service_sends_watchdog_pings(service):
    s = service
    seen = {s.show("eddy.service", "WatchdogTimestampMonotonic")}
    deadline = time.time() + 60
    while len(seen) < 3 and time.time() < deadline:
        time.sleep(0.5)
        seen.add(s.show("eddy.service", "WatchdogTimestampMonotonic"))
    assert len(seen) >= 3, f"watchdog timestamps {seen}: WATCHDOG=1 not arriving"
    assert s.show("eddy.service", "NRestarts") == "0"


def test_acked_records_survive_restart_and_sigkill(service):
    s = service
    topic = "deb-durability"
    first = [b"before-restart-%03d" % i for i in range(100)]
    produce(s, topic, first)
    s.systemctl("restart", "eddy.service", timeout=300)
    wait_active(s)
    assert consume(s, topic) == first

    second = [b"before-kill-%03d" % i for i in range(100)]
    produce(s, topic, second)
    restarts = int(s.show("eddy.service", "NRestarts"))
    s.systemctl("kill", "--signal=SIGKILL", "eddy.service")
    deadline = time.time() + 120
    while int(s.show("eddy.service", "NRestarts")) == restarts and time.time() < deadline:
        time.sleep(0.2)
    assert int(s.show("eddy.service", "NRestarts")) == restarts + 1, "Restart=on-failure did not restart it"
    wait_active(s)
    assert consume(s, topic) == first + second
    logs = list(DATA.glob(f"{topic}-0/*.log"))
    assert logs and all(p.stat().st_uid == pwd.getpwnam("eddy").pw_uid for p in logs)


# ---- last: removal ----


def test_remove_then_purge(installed):
    keep = DATA / "keep-me"
    keep.write_text("data")
    run(["dpkg", "--remove", "eddy"], timeout=300)
    assert not BIN.exists() and not UNIT.exists()
    assert CONF.exists(), "remove must keep the configuration"
    run(["dpkg", "--purge", "eddy"], timeout=300)
    assert not CONF.exists()
    assert not WANTS.exists() and not WANTS.is_symlink()
    # The data and the user are the operator's: purge keeps them.
    assert keep.read_text() == "data"
    assert user_exists()
