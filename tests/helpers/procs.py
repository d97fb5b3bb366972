"""Launch helpers of the multi-process tests (tests/net/, tests/compile/test_compile_dist.py, ...):
a free port range, the vehicle classifier with Python or C actors, the token-order graph (seq_app),
platform and mapping files on loopback, `python -m vrprune run` command lines, compiled hosts
(compile_host), and starting processes (start, Proc) and collecting their output.

Imported as ``from helpers.procs import ...`` (see helpers/__init__.py)."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from vrprune.compile import build, compile_app

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VDIR = os.path.join(ROOT, "examples", "vehicle")
ACTORS = ["Input", "L1", "L2", "L3", "L4L5", "Output"]
EDGES = ["Input.img", "L1.y", "L2.y", "L3.y", "L4L5.p"]  # EDGES[k - 1] crosses at partition point k
FRAMES = 3
HOSTS = ("endpoint", "server")

PLATFORM = """platform lab {{
  base_port 9300
{hosts}
  link endpoint -- server ethernet100
}}
"""

# the vehicle classifier's two implementations, and the impl reference made absolute in each
VEHICLE = {"np": ("vehicle_np.vpr", '"vehicle_np.py:'), "c": ("vehicle_c.vpr", '"vehicle.c"')}


def free_base(n: int = 16) -> int:
    """A port base with n free ports above it (bind-tested)."""
    for _ in range(200):
        base = random.randrange(20000, 60000 - n)
        socks = []
        try:
            for i in range(n):
                s = socket.socket()
                s.bind(("127.0.0.1", base + i))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range")


def vehicle_app(d, frames: int = FRAMES, actors: str = "np", name: str = "vehicle.vpr") -> str:
    """examples/vehicle with numpy ("np") or C ("c") actors, `frames` frames, written into d."""
    src, ref = VEHICLE[actors]
    text = open(os.path.join(VDIR, src)).read()
    text = text.replace(ref, '"' + os.path.join(VDIR, ref[1:]))
    text = text.replace("param frames = 8", f"param frames = {frames}")
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def vehicle_probs(d) -> np.ndarray:
    """The class probabilities the vehicle's Output wrote into d, one row per frame."""
    return np.fromfile(os.path.join(d, "vehicle_probs.f32"), np.float32).reshape(-1, 4)


def write_platform(d, hosts=HOSTS) -> None:
    """platform.vpr in d: `hosts` names the hosts (all on 127.0.0.1) or maps each to its address."""
    addresses = hosts if isinstance(hosts, dict) else dict.fromkeys(hosts, "127.0.0.1")
    body = "\n".join(f'  host {h} "{a}" {{ cpu core0 core 0 cpu core1 core 1 }}' for h, a in addresses.items())
    with open(os.path.join(d, "platform.vpr"), "w") as f:
        f.write(PLATFORM.format(hosts=body))


def write_mapping(d, this: str, placement: dict[str, str], hosts=HOSTS) -> str:
    """platform.vpr (see write_platform) and this host's mapping, `this`.map, in d."""
    write_platform(d, hosts)
    lines = ['import "platform.vpr"', f"mapping m_{this} on lab.{this} {{"]
    lines += [f"  {a} -> {h}.core0" for a, h in placement.items()] + ["}"]
    path = os.path.join(d, f"{this}.map")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def write_mappings(d, placement: dict[str, str], hosts=HOSTS) -> dict[str, str]:
    """Every host's mapping file of `placement`, by host."""
    return {h: write_mapping(d, h, placement, hosts) for h in hosts}


def pp(k: int) -> dict[str, str]:
    """The vehicle split at partition point k: the first k actors on the endpoint."""
    return {a: ("endpoint" if i < k else "server") for i, a in enumerate(ACTORS)}


# Ping/Pong across two hosts (the RX burst tests): two frames arrive back to back and Pong needs
# both, while the RX's FIFO (capacity 6) would batch its wake-up until 3 tokens, and the endpoint
# sends nothing more until Pong answers. `ping`/`pong`: the actors' impl clauses.
BURST = """graph burst {{
  actor Ping {{ in back: i64  out x: i64  {ping} }}
  actor Pong {{ in x: i64 @ 2  out y: i64 @ 2  {pong} }}
  fifo Ping.x -> Pong.x capacity 6
  fifo Pong.y -> Ping.back capacity 2 initial 2
}}
"""
BURST_PLACE = {"Ping": "endpoint", "Pong": "server"}
BURST_ITERATIONS = 300  # Ping fires twice an iteration: 600 frames cross each way


def burst_app(d, ping: str, pong: str) -> str:
    path = os.path.join(d, "burst.vpr")
    with open(path, "w") as f:
        f.write(BURST.format(ping=ping, pong=pong))
    return path


def run_cmd(app: str, mapping: str | None = None, *extra: str) -> list[str]:
    """`python -m vrprune run APP [--mapping M] EXTRA...`"""
    return [sys.executable, "-m", "vrprune", "run", app] + (["--mapping", mapping] if mapping else []) + list(extra)


def start(cmd: list[str], cwd, env=None) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def finish(procs: list[subprocess.Popen], timeout: float = 120) -> list[tuple[int, str, str]]:
    """(returncode, stdout, stderr) of each process, in order; one that runs past `timeout` (counted
    from when its turn comes) is killed and its stdout ends in "[killed: timeout]"."""
    out = []
    for p in procs:
        try:
            so, se = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            so, se = p.communicate()
            so += "\n[killed: timeout]"
        out.append((p.returncode, so, se))
    return out


def keygen(*args: str) -> None:
    """`vrprune keygen ARGS...`, which must succeed."""
    r = subprocess.run([sys.executable, "-m", "vrprune", "keygen", *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def reference_probs(d, actors: str) -> np.ndarray:
    """The vehicle's probabilities from a single-process `vrprune run` in d (FRAMES frames)."""
    [(rc, so, se)] = finish([start(run_cmd(vehicle_app(d, actors=actors)), d)], timeout=300)
    assert rc == 0, so + se
    probs = vehicle_probs(d)
    assert probs.shape == (FRAMES, 4)
    return probs


# ---------------------------------------------------------------- token order across hosts, rates 3 -> 2

SEQ = """
graph seq {{
  actor Src {{ out x: u64 @ 3  impl python "{act}:Counter"  param n = {n} }}
  actor Dst {{ in x: u64 @ 2  impl python "{act}:Check"  param path = "seq.txt" }}
  fifo Src.x -> Dst.x capacity 6
}}
"""
SEQ_ACTORS = """
import numpy as np
from vrprune.exec import END

class Counter:
    def __init__(self, n):
        self.n, self.k = n, 0
    def fire(self, ins, outs, atr):
        if self.k >= self.n:
            return END
        outs[0].view(np.uint64)[:, 0] = np.arange(self.k, self.k + 3, dtype=np.uint64)
        self.k += 3

class Check:
    def __init__(self, path):
        self.path, self.next = path, 0
    def fire(self, ins, outs, atr):
        got = ins[0].view(np.uint64)[:, 0]
        want = np.arange(self.next, self.next + 2, dtype=np.uint64)
        if not np.array_equal(got, want):
            raise RuntimeError(f"tokens {got.tolist()} where {want.tolist()} were due")
        self.next += 2
    def finish(self):
        open(self.path, "w").write(str(self.next))
"""


PLACE = {"Src": "endpoint", "Dst": "server"}


def seq_app(d, n: int, name="seq.vpr") -> str:
    act = os.path.join(d, "seqact.py")
    with open(act, "w") as f:
        f.write(SEQ_ACTORS)
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(SEQ.format(act=act, n=n))
    return path


class Proc:
    def __init__(self, d, tag: str, app: str, mapping: str | None, *extra: str) -> None:
        self.err_path = os.path.join(d, f"{tag}.err")
        self.out_path = os.path.join(d, f"{tag}.out")
        cmd = [sys.executable, "-m", "vrprune", "run", app] + (["--mapping", mapping] if mapping else []) + list(extra)
        self.p = subprocess.Popen(cmd, cwd=d, stdout=open(self.out_path, "w"), stderr=open(self.err_path, "w"))

    @property
    def err(self) -> str:
        return open(self.err_path).read()

    def wait_for(self, text: str, timeout: float = 60) -> None:
        t = time.monotonic() + timeout
        while text not in self.err:
            assert self.p.poll() is None, f"exited {self.p.returncode} before {text!r}:\n{self.err}"
            assert time.monotonic() < t, f"no {text!r} within {timeout} s:\n{self.err}"
            time.sleep(0.05)

    def wait(self, timeout: float) -> tuple[int, float]:
        t0 = time.monotonic()
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            pytest.fail(f"did not exit within {timeout} s:\n{self.err}")
        return rc, time.monotonic() - t0


def maps(d, place=PLACE):
    return write_mapping(d, "server", place), write_mapping(d, "endpoint", place)


# ---------------------------------------------------------------- compiled hosts

# The Python side runs its C actors through the Python firing loop: with the native C loop,
# `vrprune run --mapping` reads `.aborted` of a NativeFifo, which has none (reported upstream).
PY_ENV = dict(os.environ, VRPRUNE_NATIVE="0")


def compile_host(d, app: str, mapping: str, host: str) -> str:
    res = compile_app(app, os.path.join(d, f"build_{host}"), mapping=mapping)
    assert res.verdict == "proved"
    return build(res.program, werror=False)
