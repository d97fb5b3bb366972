"""Interoperability: a compiled endpoint talks to a Python-run server and the other way round
(and compiled to compiled), with results identical to the all-Python single-process run; the
vehicle classifier (C actors, examples/vehicle/vehicle.c unchanged) at two partition points.
Also: pre-shared-key authentication across implementations, and refusals (wrong key, another
graph)."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

from vrprune.compile import build, compile_app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VDIR = os.path.join(ROOT, "examples", "vehicle")
ACTORS = ["Input", "L1", "L2", "L3", "L4L5", "Output"]
EDGES = ["Input.img", "L1.y", "L2.y", "L3.y", "L4L5.p"]
FRAMES = 3

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None
                                and not os.environ.get("VRPRUNE_CC"), reason="no C compiler")

# The Python side runs its C actors through the Python firing loop: with the native C loop,
# `vrprune run --mapping` reads `.aborted` of a NativeFifo, which has none (reported upstream).
PY_ENV = dict(os.environ, VRPRUNE_NATIVE="0")


def free_base(n: int = 8) -> int:
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


def vehicle_app(d, frames: int = FRAMES) -> str:
    text = open(os.path.join(VDIR, "vehicle_c.vpr")).read()
    text = text.replace('"vehicle.c"', f'"{os.path.join(VDIR, "vehicle.c")}"')
    text = text.replace("param frames = 8", f"param frames = {frames}")
    path = os.path.join(d, "vehicle.vpr")
    with open(path, "w") as f:
        f.write(text)
    return path


def write_mapping(d, this: str, k: int) -> str:
    with open(os.path.join(d, "platform.vpr"), "w") as f:
        f.write("platform lab {\n  base_port 9300\n"
                + "".join(f'  host {h} "127.0.0.1" {{ cpu core0 core 0 cpu core1 core 1 }}\n' for h in ("endpoint", "server"))
                + "  link endpoint -- server ethernet100\n}\n")
    lines = ['import "platform.vpr"', f"mapping m_{this} on lab.{this} {{"]
    lines += [f"  {a} -> {'endpoint' if i < k else 'server'}.core0" for i, a in enumerate(ACTORS)] + ["}"]
    path = os.path.join(d, f"{this}_{k}.map")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def compile_host(d, app: str, mapping: str, host: str) -> str:
    res = compile_app(app, os.path.join(d, f"build_{host}"), mapping=mapping)
    assert res.verdict == "proved"
    return build(res.program, werror=False)


def start(cmd: list[str], cwd, env=None) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def py_cmd(app: str, mapping: str, base: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "vrprune", "run", app, "--mapping", mapping, "--port-base", str(base), *extra]


def finish(procs: list[subprocess.Popen], timeout: float = 120) -> list[tuple[int, str, str]]:
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


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("ref")
    app = vehicle_app(d)
    r = subprocess.run([sys.executable, "-m", "vrprune", "run", app], cwd=d, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    probs = np.fromfile(d / "vehicle_probs.f32", np.float32).reshape(-1, 4)
    assert probs.shape == (FRAMES, 4)
    return probs


def run_pair(tmp_path, k: int, compiled: set[str], extra=(), c_extra=()) -> list[tuple[int, str, str]]:
    app = vehicle_app(tmp_path)
    maps = {h: write_mapping(tmp_path, h, k) for h in ("server", "endpoint")}
    base = free_base()
    procs = []
    for host in ("server", "endpoint"):  # the server (RX) first; either order works (TX retries)
        if host in compiled:
            exe = compile_host(tmp_path, app, maps[host], host)
            procs.append(start([exe, "--port-base", str(base), *extra, *c_extra], tmp_path))
        else:
            procs.append(start(py_cmd(app, maps[host], base, *extra), tmp_path, PY_ENV))
    return finish(procs)


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("compiled", [("endpoint",), ("server",), ("endpoint", "server")],
                         ids=["compiled-endpoint", "compiled-server", "both-compiled"])
def test_vehicle_interop_equals_single_process(tmp_path, reference, k, compiled):
    res = run_pair(tmp_path, k, set(compiled))
    for rc, so, se in res:
        assert rc == 0, so + se
    (_, srv_out, _), (_, cli_out, _) = res
    assert f"edge {EDGES[k - 1]} (port" in srv_out and f"received {FRAMES} frames" in srv_out
    assert f"sent {FRAMES} frames" in cli_out
    assert "graph vehicle on host server: ok" in srv_out and "graph vehicle on host endpoint: ok" in cli_out
    probs = np.fromfile(tmp_path / "vehicle_probs.f32", np.float32).reshape(-1, 4)
    np.testing.assert_array_equal(probs, reference)  # same C actors, same arithmetic: bit for bit


@pytest.mark.parametrize("compiled", ["endpoint", "server"])
def test_psk_across_implementations(tmp_path, reference, compiled):
    psk = tmp_path / "k.psk"
    r = subprocess.run([sys.executable, "-m", "vrprune", "keygen", "--psk", str(psk)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    res = run_pair(tmp_path, 3, {compiled}, extra=("--psk-file", str(psk)))
    for rc, so, se in res:
        assert rc == 0, so + se
    probs = np.fromfile(tmp_path / "vehicle_probs.f32", np.float32).reshape(-1, 4)
    np.testing.assert_array_equal(probs, reference)


@pytest.mark.parametrize("compiled", ["endpoint", "server"])
def test_wrong_psk_is_refused_both_ways(tmp_path, compiled):
    keys = []
    for name in ("a.psk", "b.psk"):
        subprocess.run([sys.executable, "-m", "vrprune", "keygen", "--psk", str(tmp_path / name)], check=True,
                       capture_output=True)
        keys.append(str(tmp_path / name))
    app = vehicle_app(tmp_path)
    maps = {h: write_mapping(tmp_path, h, 3) for h in ("server", "endpoint")}
    base = free_base()
    procs = []
    for host, key in (("server", keys[0]), ("endpoint", keys[1])):
        common = ["--port-base", str(base), "--psk-file", key, "--connect-timeout", "3"]
        if host == compiled:
            procs.append(start([compile_host(tmp_path, app, maps[host], host), *common], tmp_path))
        else:
            procs.append(start(py_cmd(app, maps[host], base, "--psk-file", key, "--connect-timeout", "3"),
                               tmp_path, PY_ENV))
    (src, _, sse), (crc, _, cse) = finish(procs, timeout=60)
    assert src == 1 and crc == 1
    assert "pre-shared key" in cse  # the TX learns why
    assert "failed authentication" in sse


def test_another_graph_is_refused_by_fingerprint(tmp_path):
    app = vehicle_app(tmp_path)
    maps = {h: write_mapping(tmp_path, h, 3) for h in ("server", "endpoint")}
    exe = compile_host(tmp_path, app, maps["endpoint"], "endpoint")
    other = tmp_path / "other"
    other.mkdir()
    app2 = vehicle_app(other, frames=FRAMES + 1)  # a different graph (parameter) on the server
    base = free_base()
    srv = start(py_cmd(app2, maps["server"], base, "--connect-timeout", "3"), tmp_path, PY_ENV)
    cli = start([exe, "--port-base", str(base), "--connect-timeout", "3"], tmp_path)
    (src, _, sse), (crc, _, cse) = finish([srv, cli], timeout=60)
    assert crc == 1 and "graph fingerprint mismatch" in cse
    assert src == 1


def test_compiled_rx_reports_a_vanished_tx(tmp_path):
    """The endpoint dies mid-stream: the compiled server names the edge and exits 1."""
    app = vehicle_app(tmp_path, frames=1000)
    maps = {h: write_mapping(tmp_path, h, 3) for h in ("server", "endpoint")}
    exe = compile_host(tmp_path, app, maps["server"], "server")
    base = free_base()
    srv = start([exe, "--port-base", str(base)], tmp_path)
    cli = start(py_cmd(app, maps["endpoint"], base), tmp_path, PY_ENV)
    import time

    time.sleep(4)
    cli.kill()
    (src, so, se), _ = finish([srv, cli], timeout=60)
    assert src == 1, so + se
    assert "edge 'L2.y' (endpoint -> server, port" in se and "disconnected mid-stream" in se, se


def tls_keys(d) -> str:
    k = d / "tls"
    r = subprocess.run([sys.executable, "-m", "vrprune", "keygen", "--tls", str(k), "--hosts", "endpoint,server"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return str(k)


def tls_args(keys: str, host: str, as_host: str | None = None) -> list[str]:
    h = as_host or host
    return ["--tls-cert", os.path.join(keys, f"{h}.pem"), "--tls-key", os.path.join(keys, f"{h}.key"),
            "--tls-ca", os.path.join(keys, "ca.pem")]


def run_tls_pair(tmp_path, k: int, compiled: set[str], certs: dict[str, str] | None = None, psk: str | None = None,
                 timeout: float = 120):
    keys = tls_keys(tmp_path)
    app = vehicle_app(tmp_path)
    maps = {h: write_mapping(tmp_path, h, k) for h in ("server", "endpoint")}
    base = free_base()
    procs = []
    for host in ("server", "endpoint"):
        extra = ["--port-base", str(base), "--connect-timeout", "5", *tls_args(keys, host, (certs or {}).get(host))]
        if psk:
            extra += ["--psk-file", psk]
        if host in compiled:
            procs.append(start([compile_host(tmp_path, app, maps[host], host), *extra], tmp_path))
        else:
            procs.append(start(py_cmd(app, maps[host], base, *extra[2:]), tmp_path, PY_ENV))
    return finish(procs, timeout=timeout)


@pytest.mark.parametrize("compiled", [("endpoint",), ("server",), ("endpoint", "server")],
                         ids=["compiled-endpoint", "compiled-server", "both-compiled"])
def test_tls_across_implementations(tmp_path, reference, compiled):
    """Mutual TLS (keys from `vrprune keygen --tls`): compiled <-> Python, results as the single run."""
    res = run_tls_pair(tmp_path, 3, set(compiled))
    for rc, so, se in res:
        assert rc == 0, so + se
    (_, srv_out, _), (_, cli_out, _) = res
    assert f"received {FRAMES} frames" in srv_out and f"sent {FRAMES} frames" in cli_out
    probs = np.fromfile(tmp_path / "vehicle_probs.f32", np.float32).reshape(-1, 4)
    np.testing.assert_array_equal(probs, reference)


def test_tls_with_psk_compiled_endpoint(tmp_path, reference):
    psk = tmp_path / "k.psk"
    subprocess.run([sys.executable, "-m", "vrprune", "keygen", "--psk", str(psk)], check=True, capture_output=True)
    res = run_tls_pair(tmp_path, 1, {"endpoint"}, psk=str(psk))
    for rc, so, se in res:
        assert rc == 0, so + se
    probs = np.fromfile(tmp_path / "vehicle_probs.f32", np.float32).reshape(-1, 4)
    np.testing.assert_array_equal(probs, reference)


@pytest.mark.parametrize("compiled", ["endpoint", "server"])
def test_tls_certificate_of_the_wrong_host_is_refused(tmp_path, compiled):
    """The endpoint presents the server's certificate: the RX refuses it (the mapping puts the TX
    on 'endpoint'), whichever side is compiled."""
    res = run_tls_pair(tmp_path, 3, {compiled}, certs={"endpoint": "server"}, timeout=60)
    (src, _, sse), (crc, _, cse) = res
    assert src == 1 and crc == 1
    assert "do not include host 'endpoint'" in sse + cse, sse + cse


def test_tls_against_plain_tcp_fails_cleanly(tmp_path):
    """A compiled TLS endpoint against a Python server without TLS: both fail, neither hangs."""
    keys = tls_keys(tmp_path)
    app = vehicle_app(tmp_path)
    maps = {h: write_mapping(tmp_path, h, 3) for h in ("server", "endpoint")}
    base = free_base()
    srv = start(py_cmd(app, maps["server"], base, "--connect-timeout", "3"), tmp_path, PY_ENV)
    cli = start([compile_host(tmp_path, app, maps["endpoint"], "endpoint"), "--port-base", str(base),
                 "--connect-timeout", "3", *tls_args(keys, "endpoint")], tmp_path)
    (src, _, sse), (crc, _, cse) = finish([srv, cli], timeout=60)
    assert crc == 1 and "TLS handshake" in cse, cse
    assert src == 1
