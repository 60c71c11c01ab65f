"""Start-up timing and probing of a Kafka-protocol broker, for
tests/bench/kafka_vs_eddy.sh (standard library only).

  brokerctl.py start PORT PIDFILE LOG -- CMD ARGS...
      Runs CMD (its output to LOG, its pid into PIDFILE at once) and polls
      127.0.0.1:PORT with Metadata v1 requests until one is answered with at
      least one broker. Prints "startup_ms=X pid=N": the time from just
      before the exec to that answer. Leaves the broker running; if it does
      not answer within 180 s, kills it and exits 1.

  brokerctl.py apis PORT
      Prints the API keys the broker advertises in ApiVersions v0, one line.

  brokerctl.py stat PID
      Prints "cpu_ticks=T hz=H vmhwm_kb=K vmrss_kb=R threads=N": utime + stime
      of all the process's threads (/proc/PID/stat), peak and current RSS
      (/proc/PID/status).
"""

import os
import socket
import struct
import subprocess
import sys
import time

HOST = "127.0.0.1"


def request(api_key, version, corr, body):
    client = b"eddy-bench"
    head = struct.pack(">hhih", api_key, version, corr, len(client)) + client
    msg = head + body
    return struct.pack(">i", len(msg)) + msg


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def call(port, api_key, version, body, timeout):
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(request(api_key, version, 7, body))
        (size,) = struct.unpack(">i", recv_exact(s, 4))
        data = recv_exact(s, size)
    (corr,) = struct.unpack(">i", data[:4])
    if corr != 7:
        raise ConnectionError("bad correlation id")
    return data[4:]


def metadata_brokers(port, timeout):
    # Metadata v1, topics = null (all): answer starts with the brokers array.
    body = call(port, 3, 1, struct.pack(">i", -1), timeout)
    (n,) = struct.unpack(">i", body[:4])
    return n


def start(argv):
    port, pidfile, log = int(argv[0]), argv[1], argv[2]
    if argv[3] != "--":
        sys.exit("usage: brokerctl.py start PORT PIDFILE LOG -- CMD ARGS...")
    cmd = argv[4:]
    out = open(log, "ab")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    with open(pidfile, "w") as f:
        f.write(f"{proc.pid}\n")
    deadline = t0 + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"brokerctl.py: broker exited with status {proc.returncode} during start-up (see {log})")
        try:
            if metadata_brokers(port, 2.0) > 0:
                ms = (time.monotonic() - t0) * 1000
                print(f"startup_ms={ms:.1f} pid={proc.pid}")
                return
        except OSError:
            pass
        time.sleep(0.001)
    proc.kill()
    sys.exit(f"brokerctl.py: no answer on port {port} within 180 s")


def apis(argv):
    body = call(int(argv[0]), 18, 0, b"", 5.0)
    err, n = struct.unpack(">hi", body[:6])
    if err:
        sys.exit(f"brokerctl.py: ApiVersions error {err}")
    keys = [struct.unpack(">hhh", body[6 + 6 * i : 12 + 6 * i])[0] for i in range(n)]
    print(" ".join(str(k) for k in sorted(keys)))


def stat(argv):
    pid = argv[0]
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # Fields after the command: state is field 3, utime 14, stime 15.
    ticks = int(fields[11]) + int(fields[12])
    status = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            status[k] = v.split()[0] if v.split() else ""
    print(
        f"cpu_ticks={ticks} hz={os.sysconf('SC_CLK_TCK')} vmhwm_kb={status['VmHWM']} "
        f"vmrss_kb={status['VmRSS']} threads={status['Threads']}"
    )


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cmd, argv = sys.argv[1], sys.argv[2:]
    {"start": start, "apis": apis, "stat": stat}.get(cmd, lambda a: sys.exit(__doc__))(argv)


if __name__ == "__main__":
    main()
