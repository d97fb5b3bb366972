"""Interoperability: a compiled endpoint talks to a Python-run server and the other way round
(and compiled to compiled), with results identical to the all-Python single-process run; the
vehicle classifier (C actors, examples/vehicle/vehicle.c unchanged) at two partition points.
Also: pre-shared-key authentication and TLS across implementations, refusals (wrong key, another
graph, wrong certificate), a compiled RX whose TX vanishes, and a compiled RX that must hand a
burst to its consumer before it waits on the socket. Launch helpers: tests/helpers/procs.py."""

from __future__ import annotations

import os
import re
import shutil
import time

import numpy as np
import pytest

from helpers.procs import (
    BURST_ITERATIONS,
    BURST_PLACE,
    EDGES,
    FRAMES,
    PY_ENV,
    burst_app,
    compile_host,
    finish,
    free_base,
    keygen,
    pp,
    reference_probs,
    run_cmd,
    start,
    vehicle_app,
    vehicle_probs,
    write_mappings,
)

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None
                                and not os.environ.get("VRPRUNE_CC"), reason="no C compiler")

def host_proc(d, app: str, maps: dict[str, str], host: str, compiled, *args: str):
    """`host`'s share of `app`, compiled (when host in `compiled`) or run by Python, with `args`."""
    if host in compiled:
        return start([compile_host(d, app, maps[host], host), *args], d)
    return start(run_cmd(app, maps[host], *args), d, PY_ENV)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return reference_probs(tmp_path_factory.mktemp("ref"), "c")


def run_pair(d, k: int, compiled, *args: str, host_args: dict | None = None,
             timeout: float = 120) -> list[tuple[int, str, str]]:
    """The vehicle (C actors) split at partition point k: the server (RX), then the endpoint (either
    order works: the TX retries), each compiled (host in `compiled`) or run by Python, with `args`
    and its own `host_args[host]`; (rc, stdout, stderr) of both, the server's first."""
    app = vehicle_app(d, actors="c")
    maps = write_mappings(d, pp(k))
    base = str(free_base())
    return finish([host_proc(d, app, maps, h, compiled, "--port-base", base, *args, *(host_args or {}).get(h, ()))
                   for h in ("server", "endpoint")], timeout)


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
    np.testing.assert_array_equal(vehicle_probs(tmp_path), reference)  # same C actors, same arithmetic: bit for bit


@pytest.mark.parametrize("compiled", ["endpoint", "server"])
def test_psk_across_implementations(tmp_path, reference, compiled):
    psk = tmp_path / "k.psk"
    keygen("--psk", str(psk))
    res = run_pair(tmp_path, 3, {compiled}, "--psk-file", str(psk))
    for rc, so, se in res:
        assert rc == 0, so + se
    np.testing.assert_array_equal(vehicle_probs(tmp_path), reference)


@pytest.mark.parametrize("compiled", ["endpoint", "server"])
def test_wrong_psk_is_refused_both_ways(tmp_path, compiled):
    keys = {}
    for host, name in (("server", "a.psk"), ("endpoint", "b.psk")):
        keygen("--psk", str(tmp_path / name))
        keys[host] = ("--psk-file", str(tmp_path / name))
    (src, _, sse), (crc, _, cse) = run_pair(tmp_path, 3, {compiled}, "--connect-timeout", "3", host_args=keys,
                                            timeout=60)
    assert src == 1 and crc == 1
    assert "pre-shared key" in cse  # the TX learns why
    assert "failed authentication" in sse


def test_another_graph_is_refused_by_fingerprint(tmp_path):
    app = vehicle_app(tmp_path, actors="c")
    maps = write_mappings(tmp_path, pp(3))
    exe = compile_host(tmp_path, app, maps["endpoint"], "endpoint")
    other = tmp_path / "other"
    other.mkdir()
    app2 = vehicle_app(other, frames=FRAMES + 1, actors="c")  # a different graph (parameter) on the server
    base = str(free_base())
    srv = start(run_cmd(app2, maps["server"], "--port-base", base, "--connect-timeout", "3"), tmp_path, PY_ENV)
    cli = start([exe, "--port-base", base, "--connect-timeout", "3"], tmp_path)
    (src, _, sse), (crc, _, cse) = finish([srv, cli], timeout=60)
    # the (Python) RX tells a TX it has not authenticated only "refused" and logs the reason
    assert crc == 1 and "refused by the peer: refused" in cse and "fingerprint mismatch" not in cse
    assert src == 1 and "graph fingerprint mismatch" in sse


def test_compiled_rx_reports_a_vanished_tx(tmp_path):
    """The endpoint dies mid-stream: the compiled server names the edge and exits 1. Its source
    would run for 10**9 frames, and it is killed only once the server's Output has written frames
    (tokens have crossed the edge), so neither a slow start nor a fast stream decides the outcome."""
    app = vehicle_app(tmp_path, frames=10**9, actors="c")
    maps = write_mappings(tmp_path, pp(3))
    exe = compile_host(tmp_path, app, maps["server"], "server")
    base = str(free_base())
    srv = start([exe, "--port-base", base], tmp_path)
    cli = start(run_cmd(app, maps["endpoint"], "--port-base", base), tmp_path, PY_ENV)
    out = tmp_path / "vehicle_probs.f32"  # Output (on the server) flushes every frame
    deadline = time.monotonic() + 120
    while not (out.exists() and out.stat().st_size >= 2 * 16):
        if srv.poll() is not None or cli.poll() is not None or time.monotonic() > deadline:
            cli.kill()
            srv.kill()
            pytest.fail(f"no frames crossed the edge: {finish([srv, cli])}")
        time.sleep(0.05)
    cli.kill()
    (src, so, se), _ = finish([srv, cli], timeout=60)
    assert src == 1, so + se
    # killed between frames: "disconnected mid-stream"; in the middle of one: "... mid-frame"
    assert "edge 'L2.y' (endpoint -> server, port" in se and "disconnected mid-" in se, se


# Ping/Pong (helpers.procs.BURST) with C actors: Ping numbers its tokens, Pong checks that it gets them
# two by two in order and sends them back
BURST_C = r"""
#include "vrprune.h"
#include <stdlib.h>

void *b_init(const vrp_param *p, int n) { (void)p; (void)n; return calloc(1, sizeof(int64_t)); }
void b_finish(void *st) { free(st); }
int ping(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    int64_t *k = st;
    ((int64_t *)out[0].data)[0] = (*k)++;
    return VRP_OK;
}
int pong(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    int64_t *k = st;
    const int64_t *x = in[0].data;
    if (in[0].count != 2 || x[0] != *k || x[1] != *k + 1)
        return vrp_error("tokens %lld, %lld where %lld, %lld were due", (long long)x[0], (long long)x[1],
                         (long long)*k, (long long)*k + 1);
    *k += 2;
    memcpy(out[0].data, x, 2 * sizeof *x);
    return VRP_OK;
}
"""


@pytest.mark.parametrize("compiled", [("server",), ("endpoint", "server")], ids=["compiled-server", "both-compiled"])
def test_compiled_rx_hands_over_a_burst_before_it_waits_on_the_socket(tmp_path, compiled):
    """test_dist_e2e's burst test with the server (Pong) compiled: two frames arrive back to back,
    Pong needs both, the RX's FIFO (capacity 6) would batch its wake-up until 3 tokens, and the
    endpoint sends nothing more until Pong answers. A compiled RX that waited on its socket without
    first waking Pong (vrp_net.c's before_wait) would deadlock both hosts:
    the short timeout kills them."""
    (tmp_path / "burst.c").write_text(BURST_C)
    impl = 'impl c "burst.c" {{ init = b_init, fire = {}, finish = b_finish }}'
    app = burst_app(tmp_path, impl.format("ping"), impl.format("pong"))
    maps = write_mappings(tmp_path, BURST_PLACE)
    base = str(free_base())
    procs = [host_proc(tmp_path, app, maps, h, compiled, "--port-base", base, "--iterations", str(BURST_ITERATIONS))
             for h in ("server", "endpoint")]
    (src, sso, sse), (crc, cso, cse) = finish(procs, timeout=20)
    assert src == 0 and crc == 0, sso + sse + cso + cse
    n = 2 * BURST_ITERATIONS
    assert re.search(rf"edge Ping\.x \(port \d+\): received {n} frames", sso), sso
    assert re.search(rf"edge Pong\.y \(port \d+\): sent {BURST_ITERATIONS} frames", sso), sso
    assert re.search(rf"edge Ping\.x \(port \d+\): sent {n} frames", cso), cso


def tls_keys(d) -> str:
    k = d / "tls"
    keygen("--tls", str(k), "--hosts", "endpoint,server")
    return str(k)


def tls_args(keys: str, host: str, as_host: str | None = None) -> list[str]:
    h = as_host or host
    return ["--tls-cert", os.path.join(keys, f"{h}.pem"), "--tls-key", os.path.join(keys, f"{h}.key"),
            "--tls-ca", os.path.join(keys, "ca.pem")]


def run_tls_pair(tmp_path, k: int, compiled: set[str], certs: dict[str, str] | None = None, psk: str | None = None,
                 timeout: float = 120):
    keys = tls_keys(tmp_path)
    tls = {h: tls_args(keys, h, (certs or {}).get(h)) for h in ("server", "endpoint")}
    return run_pair(tmp_path, k, compiled, "--connect-timeout", "5", *(["--psk-file", psk] if psk else []),
                    host_args=tls, timeout=timeout)


@pytest.mark.parametrize("compiled", [("endpoint",), ("server",), ("endpoint", "server")],
                         ids=["compiled-endpoint", "compiled-server", "both-compiled"])
def test_tls_across_implementations(tmp_path, reference, compiled):
    """Mutual TLS (keys from `vrprune keygen --tls`): compiled <-> Python, results as the single run."""
    res = run_tls_pair(tmp_path, 3, set(compiled))
    for rc, so, se in res:
        assert rc == 0, so + se
    (_, srv_out, _), (_, cli_out, _) = res
    assert f"received {FRAMES} frames" in srv_out and f"sent {FRAMES} frames" in cli_out
    np.testing.assert_array_equal(vehicle_probs(tmp_path), reference)


def test_tls_with_psk_compiled_endpoint(tmp_path, reference):
    psk = tmp_path / "k.psk"
    keygen("--psk", str(psk))
    res = run_tls_pair(tmp_path, 1, {"endpoint"}, psk=str(psk))
    for rc, so, se in res:
        assert rc == 0, so + se
    np.testing.assert_array_equal(vehicle_probs(tmp_path), reference)


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
    (src, _, sse), (crc, _, cse) = run_pair(tmp_path, 3, {"endpoint"}, "--connect-timeout", "3",
                                            host_args={"endpoint": tls_args(keys, "endpoint")}, timeout=60)
    assert crc == 1 and "TLS handshake" in cse, cse
    assert src == 1


def test_compiled_rx_listens_on_its_platform_address_and_pin_checks_the_mapped_cores(tmp_path):
    """The server's platform address is TEST-NET-1 (nobody's): its RX cannot listen there and
    says what to do. --pin: the server's actors are mapped to core 0; a process that may use only
    another core is told so before anything starts."""
    import subprocess

    app = vehicle_app(tmp_path, actors="c")
    maps = write_mappings(tmp_path, pp(3), hosts={"endpoint": "127.0.0.1", "server": "192.0.2.1"})
    exe = compile_host(tmp_path, app, maps["server"], "server")
    base = str(free_base())
    p = subprocess.run([exe, "--port-base", base, "--connect-timeout", "2"], capture_output=True, text=True,
                       timeout=60, cwd=tmp_path)
    assert p.returncode == 1, p.stderr
    assert re.search(r"cannot listen on 192\.0\.2\.1:\d+: .*pass --listen-all", p.stderr), p.stderr
    usage = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60).stdout
    assert "--pin" in usage and "address in the platform file, 192.0.2.1)" in usage, usage
    cores = os.sched_getaffinity(0) - {0} if hasattr(os, "sched_getaffinity") else set()
    if not cores:
        pytest.skip("needs Linux and a core besides core 0")
    other = min(cores)
    p = subprocess.run([exe, "--pin", "--port-base", base], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                       preexec_fn=lambda: os.sched_setaffinity(0, {other}))
    assert p.returncode == 2, p.stderr
    assert (f"--pin: actor 'L3' is mapped to core 0, which this process may not run on (it may use cores {other}); "
            f"map it to another unit, or run without --pin") in p.stderr, p.stderr


def test_pinned_compiled_server_equals_single_process(tmp_path, reference):
    if not hasattr(os, "sched_setaffinity") or 0 not in os.sched_getaffinity(0):
        pytest.skip("needs Linux and core 0")
    srv, cli = run_pair(tmp_path, 3, ("server",), host_args={"server": ("--pin",), "endpoint": ("--pin",)})
    assert srv[0] == 0 and cli[0] == 0, (srv, cli)
    assert np.array_equal(vehicle_probs(tmp_path), reference)


def test_compiled_rx_names_a_bad_frame_behind_good_ones(tmp_path):
    """A raw TX (handshake done by hand) sends two good frames and one out of sequence at once;
    the compiled server's RX (the executor's C firings, greedy windows) hands the good ones on and
    fails on the third, naming the edge."""
    import socket
    import subprocess

    import vrprune
    from vrprune.net import _wire as w
    from vrprune.net import fingerprint

    app = vehicle_app(tmp_path, actors="c")
    maps = write_mappings(tmp_path, pp(3))  # L2.y (edge 2, 73,728-byte tokens) crosses
    exe = compile_host(tmp_path, app, maps["server"], "server")
    base = free_base()
    srv = subprocess.Popen([exe, "--port-base", str(base), "--connect-timeout", "30"], cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", base + 2), timeout=5)
            break
        except OSError:
            assert time.monotonic() < deadline and srv.poll() is None, srv.communicate()
            time.sleep(0.05)
    tb = 73728
    w.client_handshake(s, edge=2, token_bytes=tb, rate=1, fp=fingerprint(vrprune.load(app)), psk=None)
    good = b"".join(w.HEADER.pack(w.DATA, 1, tb, i) + bytes(tb) for i in range(2))
    s.sendall(good + w.HEADER.pack(w.DATA, 1, tb, 9) + bytes(tb))
    try:
        out, err = srv.communicate(timeout=60)
    finally:
        s.close()
    assert srv.returncode == 1, err
    assert "edge 'L2.y' (endpoint -> server, port" in err and "frame out of sequence: got 9, expected 2" in err, err
    assert re.search(r"RX_L3_x\s+2 firings", out) and "received 2 frames" in out, out  # the good ones went on
