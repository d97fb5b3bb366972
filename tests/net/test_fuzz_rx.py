"""The RX side never crashes on what arrives from the network: random bytes and mutated valid
frames into a real RX back-end on a socket, random bytes into the RX handshake. Only the
project's own errors (DistError) or a clean end of stream come out; never another exception,
and the payload is read only into the FIFO slot (no allocation from a peer's length field)."""

import socket
import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vrprune.exec import END
from vrprune.model import Actor, ActorKind, Fifo, Host, PortRef
from vrprune.net import _wire as w
from vrprune.net._split import CrossEdge
from vrprune.net._txrx import Endpoint, RxBackend

N = settings().max_examples


def _edge(tb: int, rate: int) -> CrossEdge:
    f = Fifo("e0", PortRef("A", "y"), PortRef("B", "x"), 4, 0)
    return CrossEdge(0, f, Host("endpoint", "127.0.0.1", ()), Host("server", "127.0.0.1", ()), tb, rate, "tx", "rx")


def _frame(typ: int, atr: int, length: int, seq: int, payload: bytes = b"") -> bytes:
    return w.HEADER.pack(typ, atr, length, seq) + payload


@st.composite
def streams(draw):
    tb = draw(st.sampled_from([1, 4, 12, 16]))
    rate = draw(st.integers(1, 3))
    n = tb * rate
    frames = []
    for seq in range(draw(st.integers(0, 4))):
        frames.append(_frame(w.DATA, rate, n, seq, draw(st.binary(min_size=n, max_size=n))))
    if draw(st.booleans()):
        frames.append(_frame(w.END, 0, 0, len(frames)))
    data = bytearray(b"".join(frames))
    how = draw(st.sampled_from(["random", "flip", "cut", "splice", "header"]))
    if how == "random":
        data = bytearray(draw(st.binary(max_size=200)))
    elif how == "flip" and data:
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
    elif how == "cut" and data:
        data = data[:draw(st.integers(0, len(data) - 1))]
    elif how == "splice":
        i = draw(st.integers(0, len(data)))
        data[i:i] = draw(st.binary(max_size=40))
    elif how == "header":  # a header with any fields, e.g. a huge length
        data += struct.pack("<B3xIIQ", draw(st.integers(0, 255)), draw(st.integers(0, 2**32 - 1)),
                            draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**64 - 1)))
        data += draw(st.binary(max_size=20))
    return tb, rate, bytes(data)


@settings(max_examples=max(N, 200))
@given(streams())
def test_rx_never_crashes_on_random_frames(s):
    tb, rate, data = s
    a, b = socket.socketpair()
    try:
        a.sendall(data)
        a.shutdown(socket.SHUT_WR)
        b.settimeout(2.0)
        rx = RxBackend(Actor("rx", ActorKind.SPA, ()), Endpoint(_edge(tb, rate), 9300, b, False))
        out = np.zeros((rate, tb), dtype=np.uint8)
        for _ in range(len(data) // w.HEADER.size + 2):
            try:
                r = rx.fire([], [out], None)
            except w.DistError:
                return
            assert r is None or r is END
            if r is END:
                return
        raise AssertionError("the RX kept accepting frames from a closed stream")
    finally:
        a.close()
        b.close()


@settings(max_examples=max(N // 2, 100))
@given(st.one_of(st.binary(max_size=200),
                 st.builds(lambda fields, tail: w.HELLO.pack(w.MAGIC, *fields) + tail,
                           st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 2), st.integers(0, 20),
                                     st.integers(0, 3), st.binary(min_size=32, max_size=32),
                                     st.binary(min_size=16, max_size=16)),
                           st.binary(max_size=40))),
       st.booleans())
def test_rx_handshake_never_crashes_on_random_bytes(data, psk):
    a, b = socket.socketpair()
    try:
        a.sendall(data)
        a.shutdown(socket.SHUT_WR)
        b.settimeout(2.0)
        try:
            w.server_handshake(b, edge=0, edge_name="e0", token_bytes=4, rate=1, fp=bytes(32),
                               psk=b"k" * 32 if psk else None)
        except w.DistError:
            return
        # accepted: only a hello that matches this edge exactly, with no PSK
        magic, version, flags, edge, tb, rate, fp, _ = w.HELLO.unpack(data[:w.HELLO.size])
        assert not psk and (magic, version, flags, edge, tb, rate, fp) == (w.MAGIC, w.VERSION, 0, 0, 4, 1, bytes(32))
    finally:
        a.close()
        b.close()
