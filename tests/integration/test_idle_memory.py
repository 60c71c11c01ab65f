"""The idle broker's resident set: once `eddy serve` is ready it lets go of
the code pages start-up touched, so the read-only pages of shared libraries
an idle plaintext broker does not call (mbedtls, zstd, zlib, lz4, libcoap)
are no longer resident, while the broker keeps serving."""

import os

import pytest

from conftest import TARGET

pytestmark = pytest.mark.skipif(TARGET != "eddy", reason="tests of the eddy binary itself")  # allowed: only when the suite is proven against real Kafka, where no eddy binary is under test

UNUSED_AT_IDLE = ("libmbedtls", "libmbedx509", "libmbedcrypto", "libzstd", "libz.", "liblz4", "libcoap")


def read_only_file_kib(pid, prefixes):
    """KiB of file-backed pages resident in the read-only mappings of the
    libraries whose file names start with one of prefixes, and how many
    such mappings there are (/proc/PID/smaps)."""
    total, n, current = 0, 0, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and not fields[0].endswith(":"):
                name = os.path.basename(fields[5]) if len(fields) > 5 else ""
                wanted = "w" not in fields[1] and name.startswith(prefixes)
                current = {"rss": 0, "anon": 0} if wanted else None
                if wanted:
                    n += 1
            elif current is not None and fields[0] in ("Rss:", "Anonymous:"):
                current["rss" if fields[0] == "Rss:" else "anon"] = int(fields[1])
                if fields[0] == "Anonymous:":
                    total += current["rss"] - current["anon"]
    return total, n


def test_unused_library_pages_leave_the_resident_set(broker):
    with broker.conn() as c:
        assert c.api_versions(0)["error"] == 0
    kib, n_mappings = read_only_file_kib(broker.pid, UNUSED_AT_IDLE)
    # all seven libraries are mapped, two or more read-only mappings each
    assert n_mappings >= 14
    # linked as before, start-up left about 500 KiB of them resident (each
    # fault maps up to 64 KiB around it); released, what stays is a page
    # or two per mapping that something still reads
    assert kib < 128, f"{kib} KiB of idle libraries' read-only pages resident"
    with broker.conn() as c:
        assert c.metadata([])["brokers"]
