"""A private network for tests of links that fail: a network namespace of
the test's own, joined to this host by two veth pairs with private
addresses, and the ways a wide-area link goes wrong applied to one of them.

    host                                  namespace (the datacenter)
    ----                                  --------------------------
    <tag>wh  10.213.X.1  ---- WAN ----  <tag>wn  10.213.X.2
    <tag>dh  10.213.X.5  ---- DC  ----  <tag>dn  10.213.X.6
                                          lo     127.0.0.1

The WAN pair is the uplink under test (cut it, black-hole it, slow it, make
it lose packets); the DC pair stays up so that the test can look at the
datacenter's side at any time. Names and addresses are unique per lab; only
objects the lab created are touched (never the host's routes, rules or
other interfaces), and close() removes everything, also after a failure
(the namespace goes with the last process in it, which close() ends).

Root is needed (namespaces, veth, tc, nft). Packet loss and black holes
are nftables rules inside the namespace; the rate is a TBF qdisc on both
ends of the WAN pair; delay (netem is not in every kernel) is the delaying
TCP relay below, run inside the namespace:

    python netlab.py relay LISTEN_HOST:PORT TARGET_HOST:PORT DELAY_MS

forwards every connection, holding each chunk DELAY_MS in each direction
(byte order kept); SIGUSR2 stops delaying new chunks, SIGUSR1 starts
again."""

import asyncio
import ipaddress
import os
import random
import signal
import subprocess
import sys
import time

_labs = []


def _sh(*cmd, check=True, input=None, timeout=60):
    p = subprocess.run([str(c) for c in cmd], input=input, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}: {' '.join(map(str, cmd))}\n{p.stdout}{p.stderr}")
    return p


def _free_subnet():
    """A 10.213.X.Y/29 that no address or route of this host uses now."""
    used = _sh("ip", "-4", "-o", "addr", "show").stdout + _sh("ip", "-4", "route", "show", "table", "all").stdout
    for _ in range(200):
        net = ipaddress.ip_network(f"10.213.{random.randrange(256)}.{random.randrange(32) * 8}/29")
        if not any(f"{a}/" in used or f"{a} " in used for a in net):
            return net
    raise AssertionError("no free 10.213.0.0/16 subnet for the test network")


class NetLab:
    """One namespace and its two links; use as a context manager or call
    close(). Attributes: ns (namespace name), wan_host / wan_ns and dc_host /
    dc_ns (the addresses), wan_if (the host's end of the WAN pair)."""

    def __init__(self):
        if os.geteuid() != 0:
            raise AssertionError("netlab needs root (network namespaces, veth, tc, nft)")
        self.tag = f"mn{os.getpid() % 10000:04d}{random.randrange(16**3):03x}"
        self.ns = f"eddytest-{self.tag}"
        self.wan_if, self.wan_peer = f"{self.tag}wh", f"{self.tag}wn"
        self.dc_if, self.dc_peer = f"{self.tag}dh", f"{self.tag}dn"
        self._procs = []
        self._closed = False
        _labs.append(self)
        try:
            self._setup()
        except BaseException:
            self.close()
            raise

    def _setup(self):
        net = _free_subnet()
        base = net.network_address
        self.wan_host, self.wan_ns = str(base + 1), str(base + 2)
        self.dc_host, self.dc_ns = str(base + 5), str(base + 6)
        _sh("ip", "netns", "add", self.ns)
        self.ns_exec("ip", "link", "set", "lo", "up")
        for here, there, a_host, a_ns in (
            (self.wan_if, self.wan_peer, self.wan_host, self.wan_ns),
            (self.dc_if, self.dc_peer, self.dc_host, self.dc_ns),
        ):
            _sh("ip", "link", "add", here, "type", "veth", "peer", "name", there, "netns", self.ns)
            _sh("ip", "addr", "add", f"{a_host}/30", "dev", here)
            _sh("ip", "link", "set", here, "up")
            self.ns_exec("ip", "addr", "add", f"{a_ns}/30", "dev", there)
            self.ns_exec("ip", "link", "set", there, "up")
        # one table of our own inside the namespace: loss and black holes
        self.nft(
            "add table inet lab\n"
            "add chain inet lab in { type filter hook input priority 0; }\n"
            "add chain inet lab out { type filter hook output priority 0; }\n"
        )

    # ---- running things inside ----

    def ns_cmd(self, *cmd):
        return ["ip", "netns", "exec", self.ns, *map(str, cmd)]

    def ns_exec(self, *cmd, check=True, timeout=60):
        return _sh(*self.ns_cmd(*cmd), check=check, timeout=timeout)

    def popen(self, *cmd, **kw):
        """A process inside the namespace, ended by close()."""
        p = subprocess.Popen(self.ns_cmd(*cmd), **kw)
        self._procs.append(p)
        return p

    def nft(self, script):
        _sh(*self.ns_cmd("nft", "-f", "-"), input=script)

    # ---- what goes wrong with the WAN link ----

    def cut(self):
        """The uplink's carrier goes: the far end of the pair is down. This
        host's end keeps its address and route (no carrier), so packets
        for the namespace are lost rather than sent another way (taking
        this end down would remove the route, and the host's default route
        would carry them off)."""
        self.ns_exec("ip", "link", "set", self.wan_peer, "down")

    def mend(self):
        """The uplink comes back: carrier up, no loss, no black hole, no rate limit."""
        _sh("ip", "link", "set", self.wan_if, "up")
        self.ns_exec("ip", "link", "set", self.wan_peer, "up")
        self.nft("flush chain inet lab in\nflush chain inet lab out\n")
        for dev, inside in ((self.wan_if, False), (self.wan_peer, True)):
            cmd = ["tc", "qdisc", "del", "dev", dev, "root"]
            if inside:
                self.ns_exec(*cmd, check=False)
            else:
                _sh(*cmd, check=False)

    def black_hole(self):
        """Every packet on the uplink vanishes, both ways, with no reset or
        ICMP error: established connections stay open and silent."""
        self.nft(
            f'add rule inet lab in iifname "{self.wan_peer}" drop\n'
            f'add rule inet lab out oifname "{self.wan_peer}" drop\n'
        )

    def answers_lost(self, port):
        """Segments carrying data from port inside to the host vanish (pure
        acknowledgements still pass): a request sent over the uplink
        arrives whole and is acted on, its answer never comes back."""
        self.nft(f'add rule inet lab out oifname "{self.wan_peer}" tcp sport {int(port)} ip length > 80 drop\n')

    def lossy(self, percent):
        """Each packet on the uplink is dropped with this probability."""
        self.nft(
            f'add rule inet lab in iifname "{self.wan_peer}" numgen random mod 100 < {int(percent)} drop\n'
            f'add rule inet lab out oifname "{self.wan_peer}" numgen random mod 100 < {int(percent)} drop\n'
        )

    def rate(self, kbit):
        """Both directions of the uplink limited to kbit/s (token bucket
        filter, a queue of 400 ms before drops)."""
        for dev, inside in ((self.wan_if, False), (self.wan_peer, True)):
            cmd = ["tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", f"{kbit}kbit", "burst", "4kb",
                   "latency", "400ms"]
            if inside:
                self.ns_exec(*cmd)
            else:
                _sh(*cmd)

    def relay(self, listen_port, target, delay_ms):
        """Starts the delaying relay inside the namespace on the WAN address
        (listen_port) towards target ("host:port" as seen inside); returns
        the process (SIGUSR2 / SIGUSR1: delay off / on)."""
        p = self.popen(sys.executable, os.path.abspath(__file__), "relay", f"{self.wan_ns}:{listen_port}", target,
                       delay_ms, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        line = p.stdout.readline()
        if not line.startswith(b"listening"):
            raise AssertionError(f"relay did not start: {line!r}")
        return p

    # ---- cleanup ----

    def close(self):
        if self._closed:
            return
        self._closed = True
        for p in self._procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        # whatever else still runs in our namespace (a broker started by a
        # script) is ours: end it, or the namespace would outlive the lab
        deadline = time.time() + 30
        while time.time() < deadline:
            pids = _sh("ip", "netns", "pids", self.ns, check=False).stdout.split()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        for dev in (self.wan_if, self.dc_if):
            _sh("ip", "link", "del", dev, check=False)
        _sh("ip", "netns", "del", self.ns, check=False)
        if self in _labs:
            _labs.remove(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def close_all():
    """Removes every lab of this process (a session-end safety net)."""
    for lab in list(_labs):
        lab.close()


# ---------------------------------------------------------------------------
# The delaying relay (run inside the namespace).


async def _pump(reader, writer, delay):
    """Copies reader to writer, each chunk written delay() seconds after it
    was read, in the order read."""
    q = asyncio.Queue()

    async def read():
        while True:
            data = await reader.read(65536)
            await q.put((time.monotonic() + delay(), data))
            if not data:
                return

    async def write():
        while True:
            due, data = await q.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    r, w = asyncio.ensure_future(read()), asyncio.ensure_future(write())
    try:
        await asyncio.gather(r, w)
    finally:
        r.cancel()
        w.cancel()


async def _relay_main(listen, target, delay_ms):
    lh, lp = listen.rsplit(":", 1)
    th, tp = target.rsplit(":", 1)
    state = {"on": True}

    def delay():
        return delay_ms / 1000 if state["on"] else 0.0

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, lambda: state.update(on=True))
    loop.add_signal_handler(signal.SIGUSR2, lambda: state.update(on=False))

    async def serve(cr, cw):
        try:
            ur, uw = await asyncio.open_connection(th, int(tp))
        except OSError:
            cw.close()
            return
        try:
            await asyncio.gather(_pump(cr, uw, delay), _pump(ur, cw, delay))
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            uw.close()
            cw.close()

    server = await asyncio.start_server(serve, lh, int(lp))
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "relay":
        asyncio.run(_relay_main(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    else:
        sys.exit(__doc__)
