"""Distributed runs, in-process parts: split graphs, fingerprint, handshake, frames, link specs."""

from __future__ import annotations

import os
import socket
import threading

import numpy as np
import pytest

import vrprune
from vrprune.exec import END
from vrprune.links import LinkError, parse_link
from vrprune.model import Host
from vrprune.net import DistError, MappingError, Refused, fingerprint, split
from vrprune.net import _wire as w
from vrprune.net._split import CrossEdge
from vrprune.net._txrx import Endpoint, RxBackend, TxBackend
from vrprune.verify import prove

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VEHICLE = os.path.join(ROOT, "examples", "vehicle", "vehicle_np.vpr")
ACTORS = ["Input", "L1", "L2", "L3", "L4L5", "Output"]

PLATFORM = """
platform lab {
  base_port 9300
  host endpoint "127.0.0.1" { cpu core0 core 0 cpu core1 core 1 }
  host server "127.0.0.1" { cpu core0 core 0 cpu core1 core 1 }
  link endpoint -- server ethernet100
}
"""


def write_mapping(d, name: str, this: str, hosts: dict[str, str], platform: str = PLATFORM) -> str:
    with open(os.path.join(d, "platform.vpr"), "w") as f:
        f.write(platform)
    lines = ['import "platform.vpr"', f"mapping {name} on lab.{this} {{"]
    lines += [f"  {a} -> {h}.core0" for a, h in hosts.items()]
    lines.append("}")
    path = os.path.join(d, f"{name}.map")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def pp(k: int) -> dict[str, str]:
    return {a: ("endpoint" if i < k else "server") for i, a in enumerate(ACTORS)}


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_split_every_partition_point(tmp_path, k):
    g = vrprune.load(VEHICLE)
    for this in ("endpoint", "server"):
        m = vrprune.load_mapping(write_mapping(tmp_path, f"pp{k}_{this}", this, pp(k)))
        sp = split(g, m)
        assert [e.name for e in sp.edges] == [g.fifos[k - 1].name]
        e = sp.edges[0]
        assert e.index == k - 1 and e.port(9300) == 9300 + k - 1
        assert e.token_bytes == [110592, 294912, 73728, 400, 16][k - 1]
        names = {a.name for a in sp.local.actors}
        mine = {a for a, h in pp(k).items() if h == this}
        assert names == mine | ({e.tx} if this == "endpoint" else {e.rx})
        assert prove(sp.proof).verdict == "proved"
        # every local fifo has both ends here; capacities are the original ones
        for f in sp.local.fifos:
            assert f.src.actor in names and f.dst.actor in names and f.capacity == 2
    # the application graph is unchanged
    assert vrprune.load(VEHICLE) == g


def test_split_keeps_initial_tokens_at_the_receiver(tmp_path):
    src = tmp_path / "fb.vpr"
    src.write_text("""graph fb {
      actor A { in go: u8 out x: u8 }
      actor B { in x: u8 out done: u8 }
      fifo A.x -> B.x capacity 1
      fifo B.done -> A.go capacity 1 initial 1
    }""")
    g = vrprune.load(str(src))
    m = vrprune.load_mapping(write_mapping(tmp_path, "m", "endpoint", {"A": "endpoint", "B": "server"}))
    sp = split(g, m)
    assert [e.name for e in sp.edges] == ["A.x", "B.done"]
    rx_fifo = [f for f in sp.local.fifos if f.dst.actor == "A"][0]
    tx_fifo = [f for f in sp.local.fifos if f.src.actor == "A"][0]
    assert rx_fifo.initial == 1 and tx_fifo.initial == 0
    assert prove(sp.proof).verdict == "proved"


def test_split_errors(tmp_path):
    g = vrprune.load(VEHICLE)
    hosts = pp(3)
    del hosts["L4L5"]
    m = vrprune.load_mapping(write_mapping(tmp_path, "m", "endpoint", hosts))
    with pytest.raises(MappingError, match="does not place actor.*L4L5"):
        split(g, m)


def test_variable_rate_edges_must_not_cross_without_dynamic(tmp_path):
    src = tmp_path / "dpg.vpr"
    src.write_text("""graph d {
      actor S { out d: i32 }
      dpg g {
        actor C: ca { in d: i32 control out c1 control out c2 }
        actor E: da { control in c in d: i32 out v: f32 @ 0..4 }
        actor X: da { control in c in v: f32 @ 0..4 out o: i32 }
        fifo C.c1 -> E.c capacity 1
        fifo C.c2 -> X.c capacity 1
        fifo E.v -> X.v capacity 4
      }
      actor T { in o: i32 }
      actor S2 { out d: i32 }
      fifo S.d -> C.d capacity 1
      fifo S2.d -> E.d capacity 1
      fifo X.o -> T.o capacity 1
    }""")
    g = vrprune.load(str(src))
    hosts = {"S": "endpoint", "S2": "endpoint", "C": "endpoint", "E": "endpoint", "X": "server", "T": "server"}
    m = vrprune.load_mapping(write_mapping(tmp_path, "m", "endpoint", hosts))
    with pytest.raises(MappingError, match="crosses from host"):
        split(g, m)


@pytest.mark.parametrize("where", [
    {"C": "endpoint", "E": "endpoint", "M": "server", "X": "endpoint"},
    {"C": "server", "E": "endpoint", "M": "server", "X": "server"},
    {"C": "endpoint", "E": "server", "M": "endpoint", "X": "server"},
])
def test_dpg_may_span_hosts(tmp_path, where):
    src = tmp_path / "dpg.vpr"
    src.write_text("""graph d {
      actor S { out d: i32  out e: i32 }
      dpg g {
        actor C: ca { in d: i32 control out c1 control out c2 control out c3 }
        actor E: da { control in c in d: i32 out v: f32 @ 0..4 }
        actor M: dpa { control in c in v: f32 @ 0..4 out w: f32 @ 0..4 }
        actor X: da { control in c in v: f32 @ 0..4 out o: i32 }
        fifo C.c1 -> E.c capacity 1
        fifo C.c2 -> M.c capacity 1
        fifo C.c3 -> X.c capacity 1
        fifo E.v -> M.v capacity 4
        fifo M.w -> X.v capacity 4
      }
      actor T { in o: i32 }
      fifo S.d -> C.d capacity 1
      fifo S.e -> E.d capacity 1
      fifo X.o -> T.o capacity 1
    }""")
    g = vrprune.load(str(src))
    hosts = {"S": "endpoint", "T": "endpoint", **where}
    from vrprune.verify import prove

    n = len(g.fifos)
    for me in ("endpoint", "server"):
        m = vrprune.load_mapping(write_mapping(tmp_path, me, me, hosts))
        with pytest.raises(MappingError, match="crosses from host"):
            split(g, m)  # back-ends of static edges only (the C compiler) still refuse
        sp = split(g, m, dynamic=True)
        kinds = {e.kind for e in sp.edges}
        assert {"variable", "control"} <= kinds
        rep = prove(sp.proof)
        assert rep.verdict == "proved", rep.diagnostics
        # TX/RX of variable-rate edges are DPAs of the DPG, each controlled by the CA
        pidx = sp.proof.index()
        for e in sp.edges:
            if e.kind == "variable":
                for r in (e.tx, e.rx):
                    a = pidx.actors[r]
                    assert a.kind.name == "DPA" and a.dpg == "g" and r in sp.proof.dpgs[0].actors
                    assert pidx.by_dst[(r, "c")].src.actor == "C"
            if e.kind == "control":
                assert e.token_bytes == 4 and e.rate == 1 and (e.lrl, e.url) == (0, 4)
                assert (e.index < n) == (e.fifo in g.fifos)  # added control edges numbered after the graph's
        # every local actor has a repetition count; local TX/RX of control tokens fire as the CA
        q = sp.local_repetition(dict(rep.repetition))
        assert set(q) == {a.name for a in sp.local.actors}
    assert fingerprint(g) == fingerprint(vrprune.load(str(src)))  # the application graph is untouched


def test_fingerprint_ignores_spans_and_paths_but_not_content(tmp_path):
    g = vrprune.load(VEHICLE)
    text = open(VEHICLE).read()
    moved = tmp_path / "sub"
    moved.mkdir()
    (moved / "v.vpr").write_text("// moved and commented\n\n" + text)
    (moved / "vehicle_np.py").write_text("")  # another checkout: same file name, other folder
    assert fingerprint(vrprune.load(str(moved / "v.vpr"))) == fingerprint(g)
    (tmp_path / "vehicle_np.py").write_text("")
    (tmp_path / "v2.vpr").write_text(text.replace("param frames = 8", "param frames = 9"))
    assert fingerprint(vrprune.load(str(tmp_path / "v2.vpr"))) != fingerprint(g)
    assert len(fingerprint(g)) == 32


def test_parse_link():
    assert parse_link("ethernet100").bandwidth_Bps == 11.2e6
    s = parse_link("11.2MB/s,1.3ms")
    assert s.bandwidth_Bps == pytest.approx(11.2e6) and s.latency_s == pytest.approx(1.3e-3)
    assert parse_link("100Mb/s, 500us").bandwidth_Bps == pytest.approx(12.5e6)
    assert parse_link("2KB/s,1s").bandwidth_Bps == 2e3  # one unit table: what run takes, explore takes
    for bad in ("fast", "11.2,1.3", "11MB/s", "0MB/s,1ms"):
        with pytest.raises(LinkError):
            parse_link(bad)


# ---------------------------------------------------------------- handshake over a socket pair

def _handshake(tx_kw, rx_kw):
    a, b = socket.socketpair()
    out: dict[str, BaseException | None] = {}

    def rx():
        try:
            w.server_handshake(b, **rx_kw)
            out["rx"] = None
        except BaseException as exc:
            out["rx"] = exc

    t = threading.Thread(target=rx)
    t.start()
    try:
        w.client_handshake(a, **tx_kw)
        out["tx"] = None
    except BaseException as exc:
        out["tx"] = exc
    t.join(5)
    a.close()
    b.close()
    return out["tx"], out["rx"]


FP = bytes(range(32))
KEY = b"k" * 32


def _kw(fp=FP, psk=None, edge=2, tb=16, rate=1):
    return dict(edge=edge, token_bytes=tb, rate=rate, fp=fp, psk=psk)


def _rx(fp=FP, psk=None, edge=2, tb=16, rate=1):
    return dict(_kw(fp, psk, edge, tb, rate), edge_name="L2.y")


@pytest.mark.parametrize("tx,rx,match", [
    (_kw(), _rx(), None),
    (_kw(psk=KEY), _rx(psk=KEY), None),
    (_kw(fp=bytes(32)), _rx(), "graph fingerprint mismatch"),
    (_kw(edge=3), _rx(), "edge mismatch"),
    (_kw(tb=8), _rx(), "token size/rate mismatch"),
    (_kw(psk=KEY), _rx(psk=b"x" * 32), "pre-shared key"),
    (_kw(), _rx(psk=KEY), "requires a pre-shared key"),
    (_kw(psk=KEY), _rx(), "RX has none"),
])
def test_handshake(tx, rx, match):
    etx, erx = _handshake(tx, rx)
    if match is None:
        assert etx is None and erx is None
    else:
        assert isinstance(etx, Refused) and isinstance(erx, Refused), (etx, erx)
        assert match in str(etx) or match in str(erx)
        if "wrong" not in match and "pre-shared key" not in match:
            assert match in str(erx)  # the RX says why, in its log
            assert "refused by the peer: refused;" in str(etx)  # a TX not authenticated learns nothing more


# ---------------------------------------------------------------- frames: TX and RX back-ends, no runtime

def _pair(rate=2, tb=8):
    a, b = socket.socketpair()
    e = CrossEdge(0, None, Host("endpoint", "127.0.0.1", ()), Host("server", "127.0.0.1", ()), tb, rate,
                  "TX", "RX")  # type: ignore[arg-type]
    return a, b, e


def _edge(rate=2, tb=8):
    a, b, e = _pair(rate, tb)
    import dataclasses
    e = dataclasses.replace(e, fifo=type("F", (), {"name": "L2.y"})())  # type: ignore[arg-type]
    return a, b, e


def _c_call(be, ins, outs, atr=None):
    """One call of the back-end's C fire function (runtime/txrx.c), as the native loop makes
    it: (return code, the windows' token counts after the call: the outputs', or without
    outputs the inputs')."""
    from vrprune.exec import _native as core

    ffi = core.ffi
    bufs = []
    for arrs in (ins, outs):
        b = ffi.new("vrp_buf[]", max(len(arrs), 1))
        for slot, x in zip(b, arrs):
            slot.data = ffi.cast("void *", x.ctypes.data)
            slot.count, slot.token_bytes = x.shape[0], x.shape[1]
        bufs.append(b)
    fire = ffi.cast("vrp_fire_fn", be._fire)
    a = ffi.new("int32_t *", -1 if atr is None else atr)
    rc = fire(ffi.cast("void *", be._state), bufs[0], len(ins), bufs[1], len(outs), a)
    return rc, [bufs[1][i].count for i in range(len(outs))] if outs else [bufs[0][i].count for i in range(len(ins))]


def _c_fire(be, ins, outs, atr=None):
    """One firing through the C function; returns what the Python firing would: None, END, or
    raises its error."""
    rc, _ = _c_call(be, ins, outs, atr)
    if rc == 0:
        return None
    if rc == 1:
        return END
    raise be.native_failure()


FIRINGS = {"python": lambda be, ins, outs, atr=None: be.fire(ins, outs, atr), "c": _c_fire}


@pytest.mark.parametrize("engine", sorted(FIRINGS))
def test_frames_roundtrip_zero_copy_and_end(engine):
    fire = FIRINGS[engine]
    a, b, e = _edge()
    tx = TxBackend(None, Endpoint(e, 9300, a, False))  # type: ignore[arg-type]
    rx = RxBackend(None, Endpoint(e, 9300, b, False))  # type: ignore[arg-type]
    assert tx.link is not None and rx.link is not None  # gcc is there: plain sockets get C firings
    sent = [np.arange(16, dtype=np.uint8).reshape(2, 8) + 16 * i for i in range(5)]
    for x in sent:
        fire(tx, [x], [])
    tx.finish()
    assert tx.seq == 5 and tx.ep.frames == 5 and tx.ep.bytes == 80
    out = np.zeros((2, 8), np.uint8)
    for x in sent:
        assert fire(rx, [], [out]) is None
        assert np.array_equal(out, x)
    assert fire(rx, [], [out]) is END
    rx.finish()
    assert rx.seq == 5 and rx.ep.frames == 5 and rx.got_end
    # the steady stream: 4 frames of 16 B after the first, between its arrival and the last's
    assert rx.ep.b_first == 16 and 0 < rx.ep.t_last - rx.ep.t_first < 5
    assert rx.ep.stream_Bps == pytest.approx(64 / (rx.ep.t_last - rx.ep.t_first))


def test_c_and_python_firings_speak_the_same_frames():
    """A C TX to a Python RX and the other way round (one process may run either)."""
    for tx_fire, rx_fire in ((_c_fire, FIRINGS["python"]), (FIRINGS["python"], _c_fire)):
        a, b, e = _edge(rate=3, tb=5)
        tx = TxBackend(None, Endpoint(e, 9300, a, False))  # type: ignore[arg-type]
        rx = RxBackend(None, Endpoint(e, 9300, b, False))  # type: ignore[arg-type]
        sent = [np.random.default_rng(i).integers(0, 255, (3, 5), dtype=np.uint8) for i in range(4)]
        for x in sent:
            tx_fire(tx, [x], [])
        tx.finish()
        out = np.zeros((3, 5), np.uint8)
        for x in sent:
            assert rx_fire(rx, [], [out]) is None and np.array_equal(out, x)
        assert rx_fire(rx, [], [out]) is END


@pytest.mark.parametrize("header,payload,match", [
    (w.HEADER.pack(w.DATA, 2, 1 << 31, 0), b"", "malformed frame 0: atr 2, length 2147483648"),
    (w.HEADER.pack(w.DATA, 3, 24, 0), b"", "malformed frame 0: atr 3"),
    (w.HEADER.pack(9, 2, 16, 0), b"", "unknown frame type 9"),
    (w.HEADER.pack(w.DATA, 2, 16, 1), bytes(16), "out of sequence: got 1, expected 0"),
    (w.HEADER.pack(w.DATA, 2, 16, 0), bytes(5), "truncated frame 0"),
    (w.HEADER.pack(w.DATA, 2, 16, 0)[:7], b"", "disconnected mid-stream after 0 frames"),
    (w.HEADER.pack(w.ABORT, 0, 0, 0), b"", "aborted its run"),
    (w.HEADER.pack(w.END, 0, 0, 4), b"", "end of stream after 4 frames, but 0 arrived"),
])
@pytest.mark.parametrize("engine", sorted(FIRINGS))
def test_bad_frames_are_rejected(header, payload, match, engine):
    a, b, e = _edge()
    rx = RxBackend(None, Endpoint(e, 9300, b, False))  # type: ignore[arg-type]
    a.sendall(header + payload)
    a.close()
    out = np.zeros((2, 8), np.uint8)
    with pytest.raises(DistError, match=match) as ei:
        FIRINGS[engine](rx, [], [out])
    assert "edge 'L2.y'" in str(ei.value)
    b.close()


@pytest.mark.parametrize("engine", sorted(FIRINGS))
def test_variable_rate_frames_carry_atr_and_control_tokens_are_range_checked(engine):
    import dataclasses

    fire = FIRINGS[engine]
    a, b, e = _edge(rate=4, tb=8)
    ev = dataclasses.replace(e, kind="variable", lrl=0, url=4)
    tx = TxBackend(None, Endpoint(ev, 9300, a, False))  # type: ignore[arg-type]
    rx = RxBackend(None, Endpoint(ev, 9300, b, False))  # type: ignore[arg-type]
    for atr in (3, 0, 4):
        x = np.full((atr, 8), atr, np.uint8)
        fire(tx, [x], [], atr)
        out = np.zeros((atr, 8), np.uint8)
        assert fire(rx, [], [out], atr) is None and np.array_equal(out, x)
    fire(tx, [np.zeros((2, 8), np.uint8)], [], 2)
    with pytest.raises(DistError, match="atr 2, length 16; expected atr 1, length 8"):
        fire(rx, [], [np.zeros((1, 8), np.uint8)], 1)  # its control token says 1, the frame 2

    a, b, e = _edge(rate=1, tb=4)
    ec = dataclasses.replace(e, kind="control", lrl=1, url=3)
    tx = TxBackend(None, Endpoint(ec, 9300, a, False))  # type: ignore[arg-type]
    rx = RxBackend(None, Endpoint(ec, 9300, b, False))  # type: ignore[arg-type]
    out = np.zeros((1, 4), np.uint8)
    for v, ok in ((3, True), (1, True), (7, False)):
        fire(tx, [np.array([v], np.int32).view(np.uint8).reshape(1, 4)], [])
        if ok:
            assert fire(rx, [], [out]) is None and out.view(np.int32)[0, 0] == v
        else:
            with pytest.raises(DistError, match=r"control token atr 7 outside the DPG's rate range \[1, 3\]"):
                fire(rx, [], [out])


# ---------------------------------------------------------------- greedy windows (several frames per C call)

def _tokens(first, n, rate=2, tb=8):
    """n frames' worth of tokens, each frame's bytes its number (first, first + 1, ...)."""
    return np.repeat(np.arange(first, first + n, dtype=np.uint8), rate * tb).reshape(n * rate, tb)


def test_c_tx_sends_a_greedy_window_as_one_frame_per_firing():
    a, b, e = _edge(rate=2, tb=8)
    tx = TxBackend(None, Endpoint(e, 9300, a, False))  # type: ignore[arg-type]
    rx = RxBackend(None, Endpoint(e, 9300, b, False))  # type: ignore[arg-type]
    assert tx.native_greedy == rx.native_greedy == 64
    assert _c_call(tx, [_tokens(0, 3)], [])[0] == 0  # three firings' tokens in one call
    assert _c_call(tx, [_tokens(3, 1)], [])[0] == 0
    with pytest.raises(DistError, match="internal error: a TX window of 3 tokens is not whole frames of 2"):
        _c_fire(tx, [_tokens(0, 2)[:3]], [])
    tx.finish()
    assert tx.link.calls == 3 and tx.seq == 4 and tx.ep.frames == 4
    out = np.zeros((2, 8), np.uint8)
    for i in range(4):  # the Python RX checks every frame's header and sequence number
        assert rx.fire([], [out], None) is None and (out == i).all()
    assert rx.fire([], [out], None) is END


def test_c_rx_takes_every_complete_frame_into_a_greedy_window_and_never_waits_for_more():
    a, b, e = _edge(rate=2, tb=8)
    tx = TxBackend(None, Endpoint(e, 9300, a, False))  # type: ignore[arg-type]
    rx = RxBackend(None, Endpoint(e, 9300, b, False))  # type: ignore[arg-type]
    b.settimeout(None)
    for i in range(5):
        tx.fire([_tokens(i, 1)], [], None)  # Python TX: five single frames
    window = np.zeros((8, 8), np.uint8)  # room for four frames
    assert _c_call(rx, [], [window]) == (0, [8])  # four frames in one call
    assert np.array_equal(window, _tokens(0, 4))
    assert _c_call(rx, [], [window]) == (0, [2])  # the one left: no wait for more
    assert (window[:2] == 4).all()
    head = w.HEADER.pack(w.DATA, 2, 16, 5)
    a.sendall(head + bytes([5]) * 16 + head[:7])  # a frame and the start of the next
    assert _c_call(rx, [], [window]) == (0, [2])  # the partial frame is not waited for
    a.sendall(w.HEADER.pack(w.DATA, 2, 16, 6)[7:] + bytes([6]) * 16 + w.HEADER.pack(w.END, 0, 0, 7))
    assert _c_call(rx, [], [window]) == (0, [2]) and (window[:2] == 6).all()
    assert _c_call(rx, [], [window])[0] == 1  # END: never taken into a window
    assert rx.link.calls == 5 and rx.link.counters()[:2] == (7, 7)


def test_a_c_tx_on_a_full_socket_sends_what_goes_and_holds_at_most_one_frame():
    """A greedy window meets a full socket: the TX sends the frames that go without a wait, and
    the frame it had begun (waiting for it, as a single firing would), no more; the loop gets the
    rest back for its next call, so the sent tokens' room is handed back in between."""
    a, b, e = _edge(rate=1, tb=1 << 16)
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)
    tx = TxBackend(None, Endpoint(e, 9300, a, False))  # type: ignore[arg-type]
    rx = RxBackend(None, Endpoint(e, 9300, b, False))  # type: ignore[arg-type]
    window = _tokens(0, 8, rate=1, tb=1 << 16)  # eight frames of 64 KiB, more than the socket holds
    got: list[int] = []

    def read_later():
        threading.Event().wait(0.3)  # the TX meets a full socket first
        out = np.zeros((1, 1 << 16), np.uint8)
        while rx.fire([], [out], None) is None:
            assert (out == out[0, 0]).all()
            got.append(int(out[0, 0]))

    reader = threading.Thread(target=read_later)
    reader.start()
    rc, (sent,) = _c_call(tx, [window], [])
    assert rc == 0 and 1 <= sent < 8 and tx.link.counters()[0] == sent
    while sent < 8:  # the rest, as the loop's next calls would send it
        rc, (more,) = _c_call(tx, [window[sent:]], [])
        assert rc == 0 and more >= 1
        sent += more
    tx.finish()
    reader.join(30)
    assert got == list(range(8))


@pytest.mark.parametrize("bad,match", [
    (w.HEADER.pack(w.DATA, 2, 16, 9) + bytes(16), "frame out of sequence: got 9, expected 2"),
    (w.HEADER.pack(w.DATA, 3, 16, 2) + bytes(16), "malformed frame 2: atr 3, length 16"),
    (w.HEADER.pack(w.END, 0, 0, 2) + bytes(16), "malformed frame 2: 16 bytes after a frame of type 2"),
])
def test_a_bad_frame_in_a_greedy_window_comes_after_the_good_ones(bad, match):
    for last_call in (True, False):
        a, b, e = _edge(rate=2, tb=8)
        rx = RxBackend(None, Endpoint(e, 9300, b, False))  # type: ignore[arg-type]
        a.sendall(b"".join(w.HEADER.pack(w.DATA, 2, 16, i) + bytes([i]) * 16 for i in range(2)) + bad)
        window = np.zeros((8, 8), np.uint8)
        assert _c_call(rx, [], [window]) == (0, [4])  # the two good frames are delivered ...
        assert np.array_equal(window[:4], _tokens(0, 2))
        with pytest.raises(DistError, match=match):  # ... and the bad one fails the next call,
            if last_call:
                rx.finish()  # or the end of the RX's run when no call comes (its consumer ended)
            else:
                _c_fire(rx, [], [window])
        assert not rx.link.failed  # reported once
        a.close()
        b.close()


def test_the_native_loop_moves_several_frames_per_wake_and_keeps_every_token_in_order():
    """TX and RX in their C loops (greedy windows) between FIFOs, a slow consumer at the end:
    frames queue in the socket, and the RX takes several per call; every token arrives once, in
    order, and the RX stops at its firing limit."""
    from types import SimpleNamespace

    from vrprune.exec import _native as core

    n, rate, tb, cap = 60, 2, 8, 8
    a, b, e = _edge(rate=rate, tb=tb)
    tx = TxBackend(None, Endpoint(e, 9300, a, False))  # type: ignore[arg-type]
    rx = RxBackend(None, Endpoint(e, 9300, b, False))  # type: ignore[arg-type]
    f_in = core.NativeFifo("in", cap, tb, max_read=rate)
    f_out = core.NativeFifo("out", cap, tb, max_write=rate)
    stop = core.new_stop()

    def spec(be, ins, outs, limit):
        return SimpleNamespace(backend=be, in_specs=ins, out_specs=outs, ctrl_in=None, ctrl_outs=[], limit=limit,
                               is_ca=False, atr_bounds=None, replay=None)

    loops = [core.NativeLoop(spec(tx, [(f_in, rate)], [], -1), stop, False),
             core.NativeLoop(spec(rx, [], [(f_out, rate)], n - 5), stop, False)]
    rcs: list[int] = []
    threads = [threading.Thread(target=lambda lp=lp: rcs.append(lp.run())) for lp in loops]
    for t in threads:
        t.start()
    got = []

    def consume():
        for _ in range((n - 5) * rate):
            got.append(int(f_out.read_start(1)[0, 0]))
            f_out.read_end(1)
            if len(got) % 16 == 0:
                threading.Event().wait(0.002)  # the slow consumer: frames queue in the socket

    reader = threading.Thread(target=consume)
    reader.start()
    for i in range(n):
        f_in.write_start(rate)[:] = i
        f_in.write_end(rate)
    f_in.close_write()
    reader.join(30)
    for t in threads:
        t.join(30)
    assert sorted(rcs) == [core.A_DONE, core.A_EOS]
    assert got == [i for i in range(n - 5) for _ in range(rate)]  # once each, in order, no more than the limit
    assert tx.link.counters()[1] == n and rx.link.counters()[1] == n - 5
    assert rx.link.calls < n - 5  # several frames per call at least once
    a.close()
    b.close()


def test_rx_listens_on_this_hosts_platform_address_unless_listen_all():
    from vrprune.net._runner import listen_address

    assert listen_address("127.0.0.1", False) == "127.0.0.1"
    assert listen_address("10.77.0.2", False) == "10.77.0.2"
    assert listen_address("10.77.0.2", True) == "0.0.0.0"
    assert listen_address("::1", True) == "::"


def test_a_platform_address_not_of_this_machine_is_a_clear_error(tmp_path):
    """192.0.2.1 (TEST-NET-1) is nobody's: the server cannot listen there, and says what to do."""
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    app = os.path.join(root, "examples", "vehicle", "vehicle_np.vpr")
    (tmp_path / "platform.vpr").write_text(
        'platform lab {\n  host endpoint "127.0.0.1" { cpu c core 0 }\n  host server "192.0.2.1" { cpu c core 0 }\n}\n')
    place = "\n".join(f"  {a} -> {h}.c" for a, h in (("Input", "endpoint"), ("L1", "endpoint"), ("L2", "server"),
                                                     ("L3", "server"), ("L4L5", "server"), ("Output", "server")))
    (tmp_path / "server.map").write_text(f'import "platform.vpr"\nmapping m on lab.server {{\n{place}\n}}\n')
    p = subprocess.run([sys.executable, "-m", "vrprune", "run", app, "--mapping", str(tmp_path / "server.map"),
                        "--connect-timeout", "2"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    assert "cannot listen on 192.0.2.1:" in p.stderr and "--listen-all" in p.stderr, p.stderr


def test_socket_buffers_are_set_before_listen_and_connect():
    from vrprune.net._txrx import SOCKET_BUFFER, _kernel_cap, listen, set_buffers

    fresh = socket.socket()
    default = {o: fresh.getsockopt(socket.SOL_SOCKET, o) for o in (socket.SO_SNDBUF, socket.SO_RCVBUF)}
    fresh.close()

    def check(sock, opt, cap, want):
        got = sock.getsockopt(socket.SOL_SOCKET, opt)
        if want <= _kernel_cap(cap):
            assert got >= want  # Linux doubles the request (bookkeeping)
        else:  # above the kernel's cap: not set, so autotuning stays on
            assert got == default[opt]

    for want in (1 << 16, 1 << 20, 1 << 40):
        ls = listen("127.0.0.1", 0, want)
        try:
            check(ls, socket.SO_RCVBUF, "rmem_max", want)
        finally:
            ls.close()
        c = socket.socket()
        set_buffers(c, want)
        check(c, socket.SO_SNDBUF, "wmem_max", want)
        c.close()
    auto = socket.socket()
    set_buffers(auto, 0)  # 0: the kernel's autotuning, untouched
    assert auto.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == default[socket.SO_RCVBUF]
    auto.close()
    assert SOCKET_BUFFER == 4 << 20


@pytest.mark.parametrize("value,message", [("-1", "must be >= 0"), ("4MB", "expected a whole number of bytes")])
def test_socket_buffer_option_is_checked(tmp_path, value, message):
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    app = os.path.join(root, "examples", "vehicle", "vehicle_np.vpr")
    p = subprocess.run([sys.executable, "-m", "vrprune", "run", app, "--mapping",
                        os.path.join(root, "specs", "vehicle_server.map"), "--socket-buffer", value],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_without_a_compiler_tx_rx_fall_back_to_python_firings_and_say_so(tmp_path):
    import subprocess
    import sys

    code = ("import warnings; warnings.simplefilter('always')\n"
            "from vrprune.net._native import load\n"
            "print('lib', load())")
    env = dict(os.environ, VRPRUNE_CC=str(tmp_path / "no-such-cc"))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0 and "lib None" in p.stdout, p.stdout + p.stderr
    assert "TX/RX run their Python firings" in p.stderr and "VRPRUNE_CC" in p.stderr, p.stderr


def test_the_c_wire_header_says_what_wire_py_says():
    """vrprune/net/runtime/vrp_wire.h (used by txrx.c and the compiled programs' vrp_net.c) holds
    the same wire constants as vrprune/net/_wire.py, and neither C runtime defines its own."""
    import re

    text = open(os.path.join(ROOT, "vrprune", "net", "runtime", "vrp_wire.h"), encoding="utf-8").read()
    consts = {k: int(v) for k, v in re.findall(r"\bVRP_WIRE_(\w+) = (\d+)", text)}
    assert re.search(r'#define VRP_WIRE_MAGIC "(\w+)"', text).group(1).encode() == w.MAGIC
    assert consts == {
        "VERSION": w.VERSION, "FLAG_PSK": w.FLAG_PSK, "FLAG_HEARTBEAT": w.FLAG_HEARTBEAT,
        "RX_HEARTBEAT": w.RX_HEARTBEAT, "HELLO_N": w.HELLO.size, "REPLY_N": w.REPLY.size,
        "FINAL_N": w.FINAL.size, "HEADER_N": w.HEADER.size, "MAX_MESSAGE": w.MAX_MESSAGE,
        "DATA": w.DATA, "END": w.END, "ABORT": w.ABORT, "OK": w.OK, "REFUSED": w.REFUSED}
    for src in (("net", "runtime", "txrx.c"), ("compile", "runtime", "vrp_net.c")):
        c = open(os.path.join(ROOT, "vrprune", *src), encoding="utf-8").read()
        assert '#include "vrp_wire.h"' in c
        assert not re.search(r"\b(static\s+\w+\s+)?(put|get)(16|32|64)\s*\(", c), src  # only vrp_put32 & co.
        assert '"VRPR"' not in re.sub(r"/\*.*?\*/", "", c, flags=re.S), src
