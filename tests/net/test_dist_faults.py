"""Distributed runs under faults: wrong graph, wrong key, a peer killed mid-stream, malformed
frames from a raw socket, SIGTERM and port reuse. Every failing side must exit non-zero within
a bounded time and name the edge."""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import time

import pytest

import vrprune
from vrprune.net import _wire as w
from vrprune.net import fingerprint

from helpers.procs import Proc, free_base, maps, pp, seq_app, vehicle_app


def test_wrong_graph_fingerprint_is_refused_on_both_sides(tmp_path):
    a = vehicle_app(tmp_path, 3, name="a.vpr")
    b = vehicle_app(tmp_path, 4, name="b.vpr")
    sm, cm = maps(tmp_path, pp(3))
    base = str(free_base())
    srv = Proc(tmp_path, "srv", a, sm, "--port-base", base, "--connect-timeout", "4")
    cli = Proc(tmp_path, "cli", b, cm, "--port-base", base)
    rc, _ = cli.wait(60)
    # an unauthenticated TX learns only "refused"; the RX logs the reason
    assert rc == 1 and "refused by the peer: refused" in cli.err and "edge 'L2.y'" in cli.err
    assert "fingerprint" not in cli.err.split("refused by the peer")[1]
    rc, _ = srv.wait(60)
    assert rc == 1
    assert "refused a connection from 127.0.0.1" in srv.err and "graph fingerprint mismatch" in srv.err
    assert "no TX connected within the connect timeout" in srv.err


@pytest.mark.parametrize("server_key,client_key,match", [
    ("k1", "k2", "pre-shared key"),
    ("k1", None, "requires a pre-shared key"),
])
def test_unauthenticated_peer_is_refused(tmp_path, server_key, client_key, match):
    for k in ("k1", "k2"):
        subprocess.run([sys.executable, "-m", "vrprune", "keygen", "--psk", str(tmp_path / k)], check=True,
                       capture_output=True)
    app = seq_app(tmp_path, 30)
    sm, cm = maps(tmp_path)
    base = str(free_base())
    srv = Proc(tmp_path, "srv", app, sm, "--port-base", base, "--connect-timeout", "4",
               "--psk-file", str(tmp_path / server_key))
    cli = Proc(tmp_path, "cli", app, cm, "--port-base", base,
               *(["--psk-file", str(tmp_path / client_key)] if client_key else []))
    rc_c, _ = cli.wait(60)
    rc_s, _ = srv.wait(60)
    assert rc_c == 1 and rc_s == 1
    assert "authentication" in cli.err and match in cli.err + srv.err
    assert "refused a connection" in srv.err
    assert not os.path.exists(tmp_path / "seq.txt") or open(tmp_path / "seq.txt").read() == "0"


@pytest.mark.parametrize("victim", ["server", "endpoint"])
def test_peer_killed_mid_stream(tmp_path, victim):
    app = seq_app(tmp_path, 3 * 10**8)
    sm, cm = maps(tmp_path)
    base = str(free_base())
    srv = Proc(tmp_path, "srv", app, sm, "--port-base", base)
    cli = Proc(tmp_path, "cli", app, cm, "--port-base", base, "--link", "200kB/s,1ms")
    srv.wait_for("running")
    cli.wait_for("running")
    time.sleep(0.5)
    dead, other = (srv, cli) if victim == "server" else (cli, srv)
    dead.p.kill()
    dead.p.wait()
    rc, took = other.wait(15)
    assert rc == 1, other.err
    assert took < 10
    assert "edge 'Src.x'" in other.err and ("mid-stream" in other.err or "gone away" in other.err), other.err


def _raw_tx(app: str, port: int) -> socket.socket:
    g = vrprune.load(app)
    deadline = time.monotonic() + 60
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    w.client_handshake(s, edge=0, token_bytes=8, rate=3, fp=fingerprint(g), psk=None)
    return s


@pytest.mark.parametrize("frame,match", [
    (w.HEADER.pack(w.DATA, 3, 0x7FFFFFFF, 0), "malformed frame 0: atr 3, length 2147483647"),
    (w.HEADER.pack(w.DATA, 1000, 8000, 0), "malformed frame 0: atr 1000"),
    # frame 0 carries the tokens 0, 1, 2 the sink checks (it may consume them before the RX fails)
    (w.HEADER.pack(w.DATA, 3, 24, 0) + struct.pack("<3q", 0, 1, 2) + w.HEADER.pack(w.DATA, 3, 24, 0),
     "out of sequence: got 0, expected 1"),
    (w.HEADER.pack(w.DATA, 3, 24, 0) + bytes(10), "truncated frame 0"),
    (b"\x01\x00", "disconnected mid-stream after 0 frames"),
    (w.HEADER.pack(7, 0, 0, 0), "unknown frame type 7"),
])
def test_malformed_frames_from_a_raw_socket(tmp_path, frame, match):
    app = seq_app(tmp_path, 30)
    sm, _ = maps(tmp_path)
    base = free_base()
    srv = Proc(tmp_path, "srv", app, sm, "--port-base", str(base), "--connect-timeout", "30")
    # first a peer that is not vrprune at all: refused and logged, the RX keeps waiting
    deadline = time.monotonic() + 60
    while True:
        try:
            junk = socket.create_connection(("127.0.0.1", base), timeout=5)
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    junk.sendall(b"GET / HTTP/1.0\r\n\r\n" + bytes(100))
    junk.close()
    s = _raw_tx(app, base)
    s.sendall(frame)
    s.shutdown(socket.SHUT_WR)
    rc, took = srv.wait(15)
    s.close()
    assert rc == 1 and took < 10
    assert "not a vrprune TX (bad magic)" in srv.err
    assert match in srv.err and "edge 'Src.x'" in srv.err, srv.err


def test_sigterm_shuts_down_cleanly_and_ports_are_reused(tmp_path):
    app = seq_app(tmp_path, 3 * 10**8)
    sm, cm = maps(tmp_path)
    base = str(free_base())
    srv = Proc(tmp_path, "srv", app, sm, "--port-base", base)
    cli = Proc(tmp_path, "cli", app, cm, "--port-base", base, "--link", "1MB/s,1ms")
    srv.wait_for("running")
    cli.wait_for("running")
    time.sleep(0.5)
    srv.p.send_signal(signal.SIGTERM)
    cli.p.send_signal(signal.SIGTERM)
    for p in (srv, cli):
        rc, took = p.wait(15)
        assert rc == 128 + signal.SIGTERM, p.err
        assert took < 10
        assert "interrupted" in p.err and "Traceback" not in p.err, p.err
    # the same ports serve the next run at once
    short = seq_app(tmp_path, 300, "short.vpr")
    srv = Proc(tmp_path, "srv2", short, sm, "--port-base", base)
    cli = Proc(tmp_path, "cli2", short, cm, "--port-base", base)
    assert cli.wait(60)[0] == 0, cli.err
    assert srv.wait(60)[0] == 0, srv.err
    assert open(tmp_path / "seq.txt").read() == "300"


def test_sigterm_while_waiting_for_peers(tmp_path):
    app = seq_app(tmp_path, 30)
    sm, _ = maps(tmp_path)
    base = str(free_base())
    srv = Proc(tmp_path, "srv", app, sm, "--port-base", base)
    srv.wait_for("fingerprint")
    time.sleep(0.3)
    srv.p.send_signal(signal.SIGTERM)
    rc, took = srv.wait(10)
    assert rc == 128 + signal.SIGTERM and took < 5
    # port free again
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(base)))
    s.close()
