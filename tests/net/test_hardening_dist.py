"""Distributed runs under faults and attacks (issue 20, items 1-6): an interrupted sender never
ends its stream with END, idle or slow connections cannot hold the RX, a slow firing does not
kill the link, refusals before authentication say nothing about the graph, a peer's text is
printed escaped."""

from __future__ import annotations

import io
import os
import random
import signal
import socket
import threading
import time

import pytest

from vrprune.cli import main_with
from vrprune.net import _wire as w

from helpers.procs import free_base, seq_app, write_mapping

PLACE = {"Src": "endpoint", "Dst": "server"}


def _maps(d):
    return write_mapping(d, "server", PLACE), write_mapping(d, "endpoint", PLACE)


class _Side(threading.Thread):
    """One host's `vrprune run --mapping` in a thread of this process (no signal handlers there)."""

    def __init__(self, argv: list[str]) -> None:
        super().__init__(daemon=True)
        self.argv, self.out, self.err, self.rc = argv, io.StringIO(), io.StringIO(), None

    def run(self) -> None:
        self.rc = main_with(self.argv, self.out, self.err)


# ------------------------------------------------------------------ item 1: an interrupted sender


@pytest.mark.parametrize("shaped", [False, True], ids=["c-tx", "python-tx"])
def test_interrupted_endpoint_never_ends_the_stream(tmp_path, monkeypatch, shaped):
    """SIGTERM or SIGINT on the endpoint at a random moment, 20 tries for each kind of TX (40 in
    all): the server never exits 0 (its source never ends, so only a false END could make it)."""
    monkeypatch.chdir(tmp_path)  # the sink writes seq.txt into the working folder
    app = seq_app(tmp_path, 3 * 10**8)
    sm, cm = _maps(tmp_path)
    rng = random.Random(20)
    got: list[int] = []
    # a stray signal (after the endpoint's handlers are gone) must not end pytest
    old = {s: signal.signal(s, lambda n, f: got.append(n)) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for i in range(20):
            base = str(free_base(2))
            srv = _Side(["run", app, "--mapping", sm, "--port-base", base, "--unchecked", "--connect-timeout", "5"])
            srv.start()
            err = io.StringIO()
            delay = rng.uniform(0.0, 0.3)
            sig = signal.SIGTERM if i % 2 else signal.SIGINT

            def kill_later(err: io.StringIO = err, delay: float = delay, sig: int = sig) -> None:
                t = time.monotonic() + 10
                while "fingerprint" not in err.getvalue() and time.monotonic() < t:  # its handlers are in place
                    time.sleep(0.002)
                time.sleep(delay)
                os.kill(os.getpid(), sig)

            killer = threading.Thread(target=kill_later, daemon=True)
            killer.start()
            extra = ["--link", "2MB/s,0.1ms"] if shaped else []
            rc = main_with(["run", app, "--mapping", cm, "--port-base", base, "--unchecked", *extra],
                           io.StringIO(), err)
            killer.join()
            srv.join(30)
            assert not srv.is_alive(), f"try {i}: the server did not end\n{srv.err.getvalue()}"
            assert rc == 128 + sig, f"try {i} (after {delay:.3f} s): endpoint exit {rc}\n{err.getvalue()}"
            assert srv.rc != 0, (f"try {i} (after {delay:.3f} s): the server called a cut-off stream complete\n"
                                 f"{srv.out.getvalue()}{srv.err.getvalue()}")
    finally:
        for s, h in old.items():
            signal.signal(s, h)


# ------------------------------------------------------------------ item 2: idle and slow connections


def _connect(port: int) -> socket.socket:
    t = time.monotonic() + 30
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            assert time.monotonic() < t
            time.sleep(0.02)


@pytest.mark.parametrize("security", ["none", "tls+psk"])
def test_idle_and_trickling_connections_do_not_delay_the_peer(tmp_path, monkeypatch, security):
    """Two idle connections and one that sends a byte every 0.2 s reach the RX first; the real TX
    still connects at once (before: each held the RX for the 5 s timeout per read, one after the
    other, the trickler for ever)."""
    monkeypatch.chdir(tmp_path)
    app = seq_app(tmp_path, 30)
    sm, cm = _maps(tmp_path)
    base = free_base(2)
    extra: dict[str, list[str]] = {"server": [], "endpoint": []}
    if security != "none":
        assert main_with(["keygen", "--psk", str(tmp_path / "k"), "--tls", str(tmp_path / "tls")],
                         io.StringIO(), io.StringIO()) == 0
        for h in extra:
            extra[h] = ["--psk-file", str(tmp_path / "k"), "--tls-ca", str(tmp_path / "tls/ca.pem"),
                        "--tls-cert", str(tmp_path / f"tls/{h}.pem"), "--tls-key", str(tmp_path / f"tls/{h}.key")]
    srv = _Side(["run", app, "--mapping", sm, "--port-base", str(base), "--unchecked", "--connect-timeout", "20",
                 *extra["server"]])
    srv.start()
    idle = [_connect(base), _connect(base)]
    trickler = _connect(base)
    stop = threading.Event()

    def trickle() -> None:
        for b in w.HELLO.pack(w.MAGIC, w.VERSION, 0, 0, 8, 3, bytes(32), bytes(16)):
            if stop.wait(0.2):
                return
            try:
                trickler.send(bytes([b]))
            except OSError:
                return

    threading.Thread(target=trickle, daemon=True).start()
    time.sleep(0.3)  # they are all in, ahead of the TX
    t0 = time.monotonic()
    err = io.StringIO()
    rc = main_with(["run", app, "--mapping", cm, "--port-base", str(base), "--unchecked", *extra["endpoint"]],
                   io.StringIO(), err)
    took = time.monotonic() - t0
    stop.set()
    srv.join(20)
    for s in idle + [trickler]:
        s.close()
    assert rc == 0, err.getvalue()
    assert srv.rc == 0, srv.err.getvalue()
    assert took < 3.0, f"the TX took {took:.1f} s to connect and run"
    assert (tmp_path / "seq.txt").read_text() == "30"


def test_a_handshake_has_one_deadline_for_all_of_it(monkeypatch):
    """A peer trickling its HELLO byte by byte is cut off at the handshake's deadline, however
    often a byte arrives."""
    monkeypatch.setattr(w, "HANDSHAKE_TIMEOUT_S", 0.6)
    from vrprune.net import _txrx

    lsock = _txrx.listen("127.0.0.1", 0)
    port = lsock.getsockname()[1]
    e = _EdgeStub()
    logs: list[str] = []
    box: list[BaseException] = []

    def rx() -> None:
        try:
            _txrx.accept_edge(lsock, e, port, bytes(32), _txrx.Security(), time.monotonic() + 1.5,
                              threading.Event(), logs.append)
        except BaseException as exc:  # noqa: BLE001
            box.append(exc)

    t = threading.Thread(target=rx, daemon=True)
    t.start()
    s = _connect(port)
    t0 = time.monotonic()
    closed_at = None
    for b in w.HELLO.pack(w.MAGIC, w.VERSION, 0, 0, 8, 3, bytes(32), bytes(16)):
        try:
            s.send(bytes([b]))
        except OSError:
            closed_at = time.monotonic()
            break
        s.settimeout(0.1)
        try:
            if s.recv(1) == b"":
                closed_at = time.monotonic()
                break
        except TimeoutError:
            pass
    t.join(5)
    lsock.close()
    assert closed_at is not None and closed_at - t0 < 1.5, "the trickling peer was not cut off"
    assert any("no complete handshake within 0.6 s" in m for m in logs), logs


class _EdgeStub:
    """What accept_edge and the handshake read of a CrossEdge: Src.x, 3 tokens of 8 bytes a frame,
    from host endpoint to host server."""

    def __init__(self) -> None:
        class H:
            def __init__(self, name):
                self.name, self.address = name, "127.0.0.1"

        self.index, self.name, self.token_bytes, self.rate = 0, "Src.x", 8, 3
        self.src_host, self.dst_host = H("endpoint"), H("server")
        self.kind, self.lrl, self.url = "static", 0, 0


# ------------------------------------------------------------------ items 4, 5: what a stranger learns

FP = bytes(range(32))
KEY = b"k" * 32


def _recv(sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    w.recv_exact(sock, memoryview(buf))
    return bytes(buf)


def _serve(psk=None, authenticated=False):
    """A server_handshake for edge 0 ('Src.x', 3 x 8 B, fingerprint FP) on one end of a socket
    pair; returns (the other end, the thread, [the Refused reason])."""
    a, b = socket.socketpair()
    a.settimeout(5)
    why: list[str] = []

    def serve() -> None:
        try:
            w.server_handshake(b, edge=0, edge_name="Src.x", token_bytes=8, rate=3, fp=FP, psk=psk,
                               **({"authenticated": True} if authenticated else {}))
        except w.DistError as exc:
            why.append(str(exc))
        finally:
            b.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return a, t, why


@pytest.mark.parametrize("hello,logged", [
    (dict(fp=bytes(32)), "graph fingerprint mismatch"),
    (dict(edge=5), "edge mismatch: this port carries edge 0 ('Src.x')"),
    (dict(rate=4), "token size/rate mismatch: RX expects 3 x 8 B"),
    (dict(flags=0x8000), "unknown HELLO flags 0x8000"),
    (dict(flags=w.FLAG_PSK), "TX uses a pre-shared key but RX has none"),
    (dict(version=9), "protocol version mismatch"),
])
def test_a_stranger_is_told_only_refused(hello, logged):
    h = dict(version=w.VERSION, flags=0, edge=0, tb=8, rate=3, fp=FP)
    h.update(hello)
    a, t, why = _serve()
    a.sendall(w.HELLO.pack(w.MAGIC, h["version"], h["flags"], h["edge"], h["tb"], h["rate"], h["fp"], bytes(16)))
    _magic, _v, status, _n, _m, mlen = w.REPLY.unpack(_recv(a, w.REPLY.size))
    told = _recv(a, mlen)
    t.join(5)
    assert status == w.REFUSED and told == b"refused"
    assert why and logged in why[0]  # the RX's log has the reason


def test_unknown_flags_are_refused_even_when_all_else_matches():
    a, t, why = _serve()
    a.sendall(w.HELLO.pack(w.MAGIC, w.VERSION, 0x0004, 0, 8, 3, FP, bytes(16)))
    _magic, _v, status, *_ = w.REPLY.unpack(_recv(a, w.REPLY.size))
    t.join(5)
    assert status == w.REFUSED and "unknown HELLO flags 0x0004" in why[0]


def test_an_authenticated_peer_is_told_why():
    """With a PSK, the reason travels in FINAL, after the peer's MAC is checked."""
    a, t, _why = _serve(psk=KEY)
    with pytest.raises(w.Refused, match="graph fingerprint mismatch"):
        w.client_handshake(a, edge=0, token_bytes=8, rate=3, fp=bytes(32), psk=KEY)
    t.join(5)
    # the wrong key is told only that: no fingerprint
    a, t, _why = _serve(psk=KEY)
    with pytest.raises(w.Refused) as ei:
        w.client_handshake(a, edge=0, token_bytes=8, rate=3, fp=bytes(32), psk=b"x" * 32)
    t.join(5)
    assert "fingerprint" not in str(ei.value) and "authentication" in str(ei.value)


def test_a_peers_refusal_is_printed_escaped_and_short():
    a, b = socket.socketpair()
    a.settimeout(5)
    evil = (b"\x1b[2J\x1b[31mPWNED\x07\xe2\x80\xae" + b"A" * 1100)[:w.MAX_MESSAGE]

    def fake_rx() -> None:
        _recv(b, w.HELLO.size)
        b.sendall(w.REPLY.pack(w.MAGIC, w.VERSION, w.REFUSED, bytes(16), bytes(32), len(evil)) + evil)

    t = threading.Thread(target=fake_rx, daemon=True)
    t.start()
    with pytest.raises(w.Refused) as ei:
        w.client_handshake(a, edge=0, token_bytes=8, rate=3, fp=FP, psk=None)
    t.join(5)
    msg = str(ei.value)
    assert "\x1b" not in msg and "\x07" not in msg and "\u202e" not in msg
    assert "\\x1b[2J" in msg and "PWNED" in msg
    assert len(msg) < 300


# ------------------------------------------------------------------ item 3: a slow firing


SLOW_SINK = """
import time
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

class Slow:
    def __init__(self, pause):
        self.pause, self.k = pause, 0
    def fire(self, ins, outs, atr):
        self.k += 1
        if self.k == 50:
            time.sleep(self.pause)  # much longer than the link timeout below
    def finish(self):
        open("slow.txt", "w").write(str(self.k))
"""
SLOW_APP = """graph seq {{
  actor Src {{ out x: u64 @ 3  impl python "{act}:Counter"  param n = 60000 }}
  actor Dst {{ in x: u64 @ 2  impl python "{act}:Slow"  param pause = {pause} }}
  fifo Src.x -> Dst.x capacity 6
}}
"""


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_a_slow_firing_does_not_kill_the_link(tmp_path, monkeypatch, tls):
    """The sink sleeps 3 link timeouts inside one firing while the TX's socket is full (zero
    window, tiny buffers): the link lives on (heartbeats) and the run ends cleanly. Before, the
    TX's TCP_USER_TIMEOUT dropped the connection after the link timeout (15 s; 1 s here)."""
    from vrprune.net import _txrx

    monkeypatch.setattr(_txrx, "LINK_TIMEOUT_S", 1.0)
    monkeypatch.setattr(_txrx, "HEARTBEAT_S", 0.1)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "slow.py").write_text(SLOW_SINK)
    app = tmp_path / "slow.vpr"
    app.write_text(SLOW_APP.format(act=tmp_path / "slow.py", pause=3.5))
    sm, cm = _maps(tmp_path)
    base = str(free_base(2))
    common = ["--port-base", base, "--unchecked", "--socket-buffer", "4608", "--watchdog", "0"]
    extra: dict[str, list[str]] = {"server": [], "endpoint": []}
    if tls:
        assert main_with(["keygen", "--tls", str(tmp_path / "t")], io.StringIO(), io.StringIO()) == 0
        for h in extra:
            extra[h] = ["--tls-ca", str(tmp_path / "t/ca.pem"), "--tls-cert", str(tmp_path / f"t/{h}.pem"),
                        "--tls-key", str(tmp_path / f"t/{h}.key")]
    srv = _Side(["run", str(app), "--mapping", sm, *common, *extra["server"]])
    srv.start()
    err = io.StringIO()
    rc = main_with(["run", str(app), "--mapping", cm, *common, *extra["endpoint"]], io.StringIO(), err)
    srv.join(60)
    assert rc == 0, err.getvalue()
    assert srv.rc == 0, srv.err.getvalue()
    assert (tmp_path / "slow.txt").read_text() == str(60000 // 2)


def test_a_silent_rx_is_gone_after_the_link_timeout(monkeypatch):
    """Heartbeats stop (a frozen or cut-off RX): the TX calls it gone after LINK_TIMEOUT_S."""
    from vrprune.net import _txrx

    monkeypatch.setattr(_txrx, "LINK_TIMEOUT_S", 0.5)
    a, b = socket.socketpair()
    ep = _txrx.Endpoint(_EdgeStub(), 0, a, False, heartbeats=True)  # type: ignore[arg-type]
    b.send(b"\0")
    assert _txrx.peer_gone(ep) is None
    time.sleep(0.6)
    assert "sent no heartbeat for 0.5 s" in (_txrx.peer_gone(ep) or "")
    b.send(b"\0")  # a heartbeat: alive again
    assert _txrx.peer_gone(ep) is None
    b.close()
    assert _txrx.peer_gone(ep) == "closed the connection"
    a.close()


# ------------------------------------------------------------------ the same in compiled programs


def test_a_compiled_rx_refuses_strangers_and_serves_its_tx_at_once(tmp_path):
    """A program from `vrprune compile` answers a HELLO of another graph, and one with unknown flag
    bits, with "refused" only, and logs the reason. Then two idle connections and a trickling one
    reach it first; the real (Python) TX still connects at once (its own 5 s wait for the REPLY
    is not spent) and the run ends cleanly."""
    import subprocess

    import vrprune
    from vrprune.net import fingerprint

    from helpers.procs import PY_ENV, compile_host, pp, run_cmd, vehicle_app, write_mappings

    app = vehicle_app(tmp_path, actors="c")
    maps = write_mappings(tmp_path, pp(3))
    exe = compile_host(tmp_path, app, maps["server"], "server")
    base = free_base(8)
    port = base + 2  # edge L2.y: the vehicle's third fifo
    srv = subprocess.Popen([exe, "--port-base", str(base), "--connect-timeout", "30"], cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    socks: list[socket.socket] = []
    try:
        told = []
        for flags, fp in ((0, bytes(32)), (0x0004, fingerprint(vrprune.load(app)))):
            s = _connect(port)
            s.sendall(w.HELLO.pack(w.MAGIC, w.VERSION, flags, 2, 73728, 1, fp, bytes(16)))
            _m, _v, status, _n, _mac, mlen = w.REPLY.unpack(_recv(s, w.REPLY.size))
            told.append((status, _recv(s, mlen)))
            s.close()
        socks = [_connect(port), _connect(port), _connect(port)]
        socks[2].send(w.MAGIC[:1])  # a trickler that never finishes its HELLO
        time.sleep(0.3)
        cli = subprocess.run(run_cmd(app, maps["endpoint"], "--port-base", str(base)), cwd=tmp_path,
                             capture_output=True, text=True, env=PY_ENV, timeout=120, check=False)
    finally:
        out, err = srv.communicate(timeout=60)
        for s in socks:
            s.close()
    assert told == [(w.REFUSED, b"refused"), (w.REFUSED, b"refused")], told
    assert "graph fingerprint mismatch" in err and "unknown HELLO flags 0x0004" in err, err
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert srv.returncode == 0, out + err


def test_a_compiled_rx_sends_heartbeats_when_asked(tmp_path):
    import subprocess

    import vrprune
    from vrprune.net import fingerprint

    from helpers.procs import compile_host, pp, vehicle_app, write_mappings

    app = vehicle_app(tmp_path, actors="c")
    maps = write_mappings(tmp_path, pp(3))
    exe = compile_host(tmp_path, app, maps["server"], "server")
    base = free_base(8)
    srv = subprocess.Popen([exe, "--port-base", str(base), "--connect-timeout", "30"], cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        s = _connect(base + 2)
        assert w.client_handshake(s, edge=2, token_bytes=73728, rate=1, fp=fingerprint(vrprune.load(app)), psk=None,
                                  heartbeats=True)
        s.settimeout(3)
        assert s.recv(16) == b"\0"  # within a second or so, while no frame was sent
        s.close()
    finally:
        srv.communicate(timeout=60)


def test_a_stopped_rx_process_is_not_called_gone(tmp_path, monkeypatch):
    """The server process is stopped (SIGSTOP) for three link timeouts mid-stream: no heartbeats,
    but its kernel still answers, so the TX waits; after SIGCONT the run ends cleanly."""
    import subprocess
    import sys

    from vrprune.net import _txrx

    monkeypatch.setattr(_txrx, "LINK_TIMEOUT_S", 1.0)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "slow.py").write_text(SLOW_SINK)
    app = tmp_path / "slow.vpr"
    app.write_text(SLOW_APP.format(act=tmp_path / "slow.py", pause=0))
    sm, cm = _maps(tmp_path)
    base = str(free_base(2))
    common = ["--port-base", base, "--unchecked", "--socket-buffer", "4608", "--watchdog", "0"]
    srv = subprocess.Popen([sys.executable, "-m", "vrprune", "run", str(app), "--mapping", sm, *common],
                           cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err = io.StringIO()

    def freeze() -> None:
        t = time.monotonic() + 30
        while "running" not in err.getvalue() and time.monotonic() < t:
            time.sleep(0.01)
        time.sleep(0.3)
        srv.send_signal(signal.SIGSTOP)
        time.sleep(3.0)
        srv.send_signal(signal.SIGCONT)

    th = threading.Thread(target=freeze, daemon=True)
    th.start()
    rc = main_with(["run", str(app), "--mapping", cm, *common, "--link", "0.5MB/s,0.1ms"], io.StringIO(), err)
    th.join()
    out, serr = srv.communicate(timeout=60)
    assert rc == 0, err.getvalue()
    assert srv.returncode == 0, out + serr
