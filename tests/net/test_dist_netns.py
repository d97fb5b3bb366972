"""Distributed runs between two real Linux network namespaces joined by a veth pair (issue 6).

Each host of the platform gets its own namespace and address; the endpoint and the server run as
`ip netns exec NS python -m vrprune run APP --mapping X.map`, so the tokens cross a real (virtual)
Ethernet link instead of loopback. The throughput test shapes the endpoint -> server direction
with `tc ... tbf` and compares the measured rate with vrprune's own `--link` emulation.

Needs root, iproute2 and network namespaces: the module is skipped on a machine without them
(the reason says which). netem is not needed (latency is not tested here).
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest

from helpers.procs import FRAMES, finish, free_base, pp, vehicle_app, write_mapping

PORT_BASE = 41000  # the namespaces are fresh: nothing else listens there

EP_ADDR, SRV_ADDR = "10.77.0.1", "10.77.0.2"


# ---------------------------------------------------------------- namespaces

@dataclass(frozen=True)
class Netns:
    endpoint: str  # namespace names
    server: str
    dev: str       # the veth end's name (the same inside both namespaces)


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def netns():
    """Two namespaces (endpoint, server) joined by a veth pair, 10.77.0.1/24 and 10.77.0.2/24, lo up
    in both; deleted again whatever happens (deleting a namespace destroys its veth end)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("network namespaces need Linux")
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (ip netns add)")
    if shutil.which("ip") is None:
        pytest.skip("iproute2's `ip` is not installed")
    tag = f"vrprune-{os.getpid()}-{secrets.token_hex(2)}"  # unique per run: parallel runs do not collide
    ns = Netns(endpoint=f"{tag}-ep", server=f"{tag}-srv", dev="vrp0")
    created: list[str] = []
    try:
        for name in (ns.endpoint, ns.server):
            r = _ip("netns", "add", name)
            if r.returncode != 0:
                pytest.skip(f"this machine does not allow network namespaces: `ip netns add` failed: "
                            f"{r.stderr.strip()}")
            created.append(name)
        setup = [
            # both ends are created inside their namespaces: nothing is left in the root namespace
            ("link", "add", ns.dev, "netns", ns.endpoint, "type", "veth", "peer", "name", ns.dev, "netns", ns.server),
            ("-n", ns.endpoint, "addr", "add", f"{EP_ADDR}/24", "dev", ns.dev),
            ("-n", ns.server, "addr", "add", f"{SRV_ADDR}/24", "dev", ns.dev),
        ] + [("-n", n, "link", "set", d, "up") for n in (ns.endpoint, ns.server) for d in ("lo", ns.dev)]
        for cmd in setup:
            r = _ip(*cmd)
            if r.returncode != 0:
                pytest.skip(f"this machine does not allow a veth pair between namespaces: `ip {' '.join(cmd)}` "
                            f"failed: {r.stderr.strip()}")
        yield ns
    finally:
        for name in created:
            _ip("netns", "del", name)
        left = [n for n in created if n in _ip("netns", "list").stdout.split()]
        assert not left, f"namespaces left behind: {left}"


def test_namespaces_are_isolated_and_linked(netns):
    """The fixture does what the other tests rely on: each namespace holds its own address, and
    the addresses reach each other over the veth pair."""
    for ns, mine, other in ((netns.endpoint, EP_ADDR, SRV_ADDR), (netns.server, SRV_ADDR, EP_ADDR)):
        addrs = _ip("-n", ns, "-4", "-o", "addr", "show").stdout
        assert f"inet {mine}/24" in addrs and f"inet {other}/" not in addrs, addrs
        assert "inet 127.0.0.1/8" in addrs, addrs  # lo is up
    # nothing listens on port 9 of the server's address: a refusal (not "unreachable", not a
    # timeout) shows the packet crossed the veth pair and the server's kernel answered it
    probe = f"import socket; s = socket.socket(); s.settimeout(5); print(s.connect_ex(({SRV_ADDR!r}, 9)))"
    r = subprocess.run(["ip", "netns", "exec", netns.endpoint, sys.executable, "-c", probe],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and int(r.stdout) == errno.ECONNREFUSED, r.stdout + r.stderr


# ---------------------------------------------------------------- processes in namespaces

def start(ns: str | None, app: str, mapping: str | None, cwd, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "vrprune", "run", app] + (["--mapping", mapping] if mapping else []) + list(extra)
    if ns is not None:
        cmd = ["ip", "netns", "exec", ns] + cmd
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_split(netns: Netns, d, app: str, placement: dict[str, str], addresses: dict[str, str], *,
              server_extra=(), client_extra=(), timeout: float = 60):
    """Server in its namespace, endpoint in its own; both given the same port base."""
    srv_map = write_mapping(d, "server", placement, addresses)
    cli_map = write_mapping(d, "endpoint", placement, addresses)
    common = ("--port-base", str(PORT_BASE))
    srv = start(netns.server, app, srv_map, d, *common, *server_extra)
    cli = start(netns.endpoint, app, cli_map, d, *common, *client_extra)
    return finish([srv, cli], timeout)


NS_ADDRESSES = {"endpoint": EP_ADDR, "server": SRV_ADDR}


# ---------------------------------------------------------------- the vehicle classifier across namespaces

@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("ref")
    app = vehicle_app(d)
    [(rc, so, se)] = finish([start(None, app, None, d)], 60)
    assert rc == 0, so + se
    probs = np.fromfile(os.path.join(d, "vehicle_probs.f32"), np.float32).reshape(-1, 4)
    assert probs.shape == (FRAMES, 4)
    return probs


def test_vehicle_split_across_namespaces_equals_single_process(netns, tmp_path, reference):
    """PP3 (the 73,728-byte L2 -> L3 edge crosses the veth pair): the endpoint connects to the
    server's namespace address, where the server's RX listens (its address in the platform)."""
    app = vehicle_app(tmp_path)
    (src, so, se), (crc, co, ce) = run_split(netns, tmp_path, app, pp(3), NS_ADDRESSES)
    assert src == 0 and crc == 0, so + se + co + ce
    assert f"edge L2.y (port {PORT_BASE + 2}): received {FRAMES} frames, {FRAMES * 73728} bytes" in so, so
    assert f"edge L2.y (port {PORT_BASE + 2}): sent {FRAMES} frames, {FRAMES * 73728} bytes" in co, co
    # the tokens really came from the other namespace: the endpoint logged no error and the
    # probabilities on the server equal those of the single-process run
    probs = np.fromfile(tmp_path / "vehicle_probs.f32", np.float32).reshape(-1, 4)
    np.testing.assert_allclose(probs, reference, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("listen_all", [False, True])
def test_rx_listens_only_on_its_platform_address_unless_listen_all(netns, tmp_path, listen_all):
    """The server's platform says 10.77.0.2; an endpoint in the server's own namespace whose
    platform says the server is at 127.0.0.1 is refused (nothing listens there) unless the
    server listens on every interface (--listen-all)."""
    app = vehicle_app(tmp_path)
    sd, cd = tmp_path / "srv", tmp_path / "cli"
    sd.mkdir()
    cd.mkdir()
    srv_map = write_mapping(sd, "server", pp(3), NS_ADDRESSES)
    cli_map = write_mapping(cd, "endpoint", pp(3), {"endpoint": "127.0.0.1", "server": "127.0.0.1"})
    common = ("--port-base", str(PORT_BASE), "--connect-timeout", "3")
    srv = start(netns.server, app, srv_map, sd, *common, *(("--listen-all",) if listen_all else ()))
    cli = start(netns.server, app, cli_map, cd, *common)
    (src, so, se), (crc, co, ce) = finish([srv, cli], 60)
    if listen_all:
        assert src == 0 and crc == 0, so + se + co + ce
        assert (sd / "vehicle_probs.f32").exists()
    else:
        assert src == 1 and crc == 1, so + se + co + ce
        assert "no TX connected within the connect timeout" in se, se
        assert f"cannot connect to 127.0.0.1:{PORT_BASE + 2} within the connect timeout" in ce, ce
        assert not (sd / "vehicle_probs.f32").exists()


# ---------------------------------------------------------------- throughput: tbf vs --link emulation

TOKEN = 73_728
TOKENS = 300               # 22.1 MB: about 1.9 s at 100 Mbit/s
RATE_MBIT = 100
RATE_BPS = RATE_MBIT * 1e6 / 8  # bytes/s; tc's mbit and vrprune's Mb/s are both 10^6 bits

STREAM_ACTORS = '''
from vrprune.exec import END

class Source:
    def __init__(self, n):
        self.n, self.k = n, 0
    def fire(self, ins, outs, atr):
        if self.k >= self.n:
            return END
        self.k += 1

class Sink:
    def fire(self, ins, outs, atr):
        pass
'''

STREAM = '''
graph stream {{
  actor Src {{ out x: bytes({tb})  impl python "{act}:Source"  param n = {n} }}
  actor Dst {{ in x: bytes({tb})  impl python "{act}:Sink" }}
  fifo Src.x -> Dst.x capacity 2
}}
'''


def stream_app(d) -> str:
    act = os.path.join(d, "stream_actors.py")
    with open(act, "w") as f:
        f.write(STREAM_ACTORS)
    app = os.path.join(d, "stream.vpr")
    with open(app, "w") as f:
        f.write(STREAM.format(tb=TOKEN, act=act, n=TOKENS))
    return app


def server_rate(res) -> float:
    """Payload bytes received / the server's run time (its summary line), in bytes/s."""
    (src, so, se), (crc, co, ce) = res
    assert src == 0 and crc == 0, so + se + co + ce
    m = re.search(r"firings in ([0-9.]+) s", so)
    b = re.search(r"edge Src\.x \(port \d+\): received (\d+) frames, (\d+) bytes", so)
    assert m and b, so
    assert int(b.group(1)) == TOKENS and int(b.group(2)) == TOKENS * TOKEN, so
    return int(b.group(2)) / float(m.group(1))


def _tc(ns: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["tc", "-n", ns, *args], capture_output=True, text=True, timeout=30)


def test_tbf_shaped_link_matches_link_emulation(netns, tmp_path, capsys):
    if shutil.which("tc") is None:
        pytest.skip("iproute2's `tc` is not installed")
    place = {"Src": "endpoint", "Dst": "server"}
    app = stream_app(tmp_path)

    # 1. the veth pair unshaped: far faster than 100 Mbit/s, so the shaping below is what limits
    unshaped = server_rate(run_split(netns, tmp_path, app, place, NS_ADDRESSES, server_extra=("--listen-all",)))

    # 2. tbf on the endpoint's veth end shapes endpoint -> server to 100 Mbit/s
    r = _tc(netns.endpoint, "qdisc", "add", "dev", netns.dev, "root", "tbf", "rate", f"{RATE_MBIT}mbit",
            "burst", "32kbit", "latency", "50ms")
    if r.returncode != 0:
        pytest.skip(f"this machine has no tbf qdisc: {r.stderr.strip()}")
    try:
        shaped = server_rate(run_split(netns, tmp_path, app, place, NS_ADDRESSES, server_extra=("--listen-all",)))
        stats = _tc(netns.endpoint, "-s", "qdisc", "show", "dev", netns.dev).stdout
    finally:
        _tc(netns.endpoint, "qdisc", "del", "dev", netns.dev, "root")
    sent = re.search(r"Sent (\d+) bytes", stats)
    assert sent and int(sent.group(1)) >= TOKENS * TOKEN, stats  # the stream really went through tbf

    # 3. the same stream on loopback (both processes in the root namespace), vrprune's emulation
    lo = tmp_path / "lo"
    lo.mkdir()
    srv_map = write_mapping(lo, "server", place, {"endpoint": "127.0.0.1", "server": "127.0.0.1"})
    cli_map = write_mapping(lo, "endpoint", place, {"endpoint": "127.0.0.1", "server": "127.0.0.1"})
    port = str(free_base())
    emulated = server_rate(finish([start(None, app, srv_map, lo, "--port-base", port),
                                   start(None, app, cli_map, lo, "--port-base", port,
                                         "--link", f"{RATE_MBIT}Mb/s,0ms")]))

    with capsys.disabled():
        print(f"\n  {TOKENS} x {TOKEN} B endpoint -> server: veth unshaped {unshaped / 1e6:.1f} MB/s, "
              f"tbf {RATE_MBIT} mbit {shaped / 1e6:.2f} MB/s ({shaped / RATE_BPS:.0%}), "
              f"--link {RATE_MBIT}Mb/s,0ms on loopback {emulated / 1e6:.2f} MB/s ({emulated / RATE_BPS:.0%})")
    assert unshaped > 2 * RATE_BPS, unshaped
    # a real shaped link loses ~5% to Ethernet/IP/TCP headers, counted by tbf but not in the payload
    assert 0.60 * RATE_BPS <= shaped <= 1.05 * RATE_BPS, shaped
    assert 0.60 * RATE_BPS <= emulated <= 1.05 * RATE_BPS, emulated
    assert 0.8 <= emulated / shaped <= 1.25, (emulated, shaped)
