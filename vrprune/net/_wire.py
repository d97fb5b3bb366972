"""The TX/RX wire protocol: graph fingerprint, handshake, frames.

Handshake (TX connects, RX answers; inside TLS when TLS is on)::

    TX -> RX  HELLO  magic "VRPR", version u16, flags u16 (bit 0: PSK), edge u32,
                     token_bytes u32, rate u32, fingerprint 32 B, nonce_tx 16 B
    RX -> TX  REPLY  magic, version u16, status u8, rx flags u8 (bit 0: heartbeats), nonce_rx 16 B, mac_rx 32 B,
                     message length u16, message (UTF-8, refusals only)
    TX -> RX  AUTH   mac_tx 32 B
    RX -> TX  FINAL  status u8, message length u16, message

with ``mac_rx = HMAC-SHA256(psk, "vrprune-rx" | HELLO | nonce_rx)`` and
``mac_tx = HMAC-SHA256(psk, "vrprune-tx" | HELLO | nonce_rx | mac_rx)`` (zeros without a PSK).
Each side proves it holds the key over a fresh nonce of the other; the labels stop one side's
answer being replayed as the other's. Any mismatch (magic, version, unknown flag bits, PSK on
one side only, fingerprint, edge, token size, rate, MAC) is refused. The RX tells the reason
only to a peer it has authenticated (a verified TLS certificate, or a PSK MAC checked: then
the reason travels in FINAL); anyone else gets "refused", and the reason goes to the RX's log
only: the graph's fingerprint, edge names, token sizes and rates are never told to a stranger.
A peer's message is printed escaped and shortened (:func:`peer_text`).

The whole handshake has a deadline (:data:`HANDSHAKE_TIMEOUT_S`), not each read: a peer that
trickles bytes cannot hold a connection open longer.

Frames (TX -> RX), little-endian 20-byte header then the payload::

    type u8 (1 DATA, 2 END, 3 ABORT), pad 3, atr u32, length u32, seq u64

After the handshake, when the TX asked for them (HELLO flag bit 1) and the RX agreed (REPLY
flags bit 0), the RX sends one heartbeat byte (0) a second, RX -> TX, for as long as its process
lives; the TX reads and drops them, and calls its RX gone after ``LINK_TIMEOUT_S`` without one
(see ``_txrx.py``).

``length`` must equal ``atr * token_bytes`` and ``atr`` the edge's rate (static edges);
``seq`` counts DATA frames from 0 and must arrive in order. The receiver checks the header
before it reads a byte of payload, and reads the payload straight into the FIFO slot
(``recv_into``): nothing is ever allocated from a length the peer sent.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import struct
from typing import Any, Callable

from ..diagnostics import VrpruneError
from ..model import CImpl, Graph, OpenCLImpl, PythonImpl, without_spans

MAGIC = b"VRPR"
VERSION = 1
FLAG_PSK = 1
FLAG_HEARTBEAT = 2  # HELLO: the TX reads heartbeats (a byte from the RX every HEARTBEAT_S)
KNOWN_FLAGS = FLAG_PSK | FLAG_HEARTBEAT
RX_HEARTBEAT = 1  # REPLY's flags byte (offset 7): this RX sends heartbeats
REPLY_FLAGS_AT = 7

HELLO = struct.Struct("<4sHHIII32s16s")
REPLY = struct.Struct("<4sHBx16s32sH")
AUTH = struct.Struct("<32s")
FINAL = struct.Struct("<BH")
HEADER = struct.Struct("<B3xIIQ")
MAX_MESSAGE = 1024

DATA, END, ABORT = 1, 2, 3
OK, REFUSED = 0, 1
HANDSHAKE_TIMEOUT_S = 5.0  # the whole handshake, from accept to FINAL
PEER_TEXT_MAX = 200  # characters of a peer's message that are printed
REFUSED_TEXT = "refused"  # all that a peer not authenticated learns


class DistError(VrpruneError):
    """A distributed run failed: connection, handshake, protocol or peer failure."""


class Refused(DistError):
    """The peer (or we) refused the handshake."""


class PeerClosed(DistError):
    """The connection ended where more bytes were due."""


def fingerprint(graph: Graph) -> bytes:
    """SHA-256 of the canonical text of the application graph, spans stripped and implementation
    paths cut to their file names (so hosts with different checkouts agree)."""
    import dataclasses

    from ..grammar import format_graph

    g = without_spans(graph)
    actors = []
    for a in g.actors:
        impl = a.impl
        if isinstance(impl, (CImpl, OpenCLImpl)):
            impl = dataclasses.replace(impl, path=os.path.basename(impl.path))
        elif isinstance(impl, PythonImpl) and impl.module.endswith(".py"):
            impl = dataclasses.replace(impl, module=os.path.basename(impl.module))
        actors.append(dataclasses.replace(a, impl=impl))
    g = dataclasses.replace(g, actors=tuple(actors))
    return hashlib.sha256(format_graph(g).encode("utf-8")).digest()


def recv_exact(sock: socket.socket, mv: memoryview) -> None:
    """Fill ``mv`` from ``sock`` (recv_into, no copies); PeerClosed on end of stream."""
    n, got = len(mv), 0
    while got < n:
        k = sock.recv_into(mv[got:], n - got)
        if not k:
            raise PeerClosed(f"connection closed after {got} of {n} bytes")
        got += k


def _recv_struct(sock: socket.socket, st: struct.Struct) -> tuple[Any, ...]:
    buf = bytearray(st.size)
    recv_exact(sock, memoryview(buf))
    return st.unpack(buf)


def _recv_message(sock: socket.socket, n: int) -> str:
    n = min(n, MAX_MESSAGE)
    buf = bytearray(n)
    recv_exact(sock, memoryview(buf))
    return peer_text(bytes(buf))


def peer_text(data: bytes, limit: int = PEER_TEXT_MAX) -> str:
    """A peer's message as it may be printed: decoded, every character that is not printable
    (terminal escapes, control and format characters) written as ``\\xNN`` / ``\\uNNNN``, cut
    to ``limit`` characters."""
    text = data.decode("utf-8", "replace")
    out = []
    n = 0
    for c in text:
        e = c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
        if n + len(e) > limit:
            out.append("…")
            break
        out.append(e)
        n += len(e)
    return "".join(out)


def _mac(psk: bytes | None, *parts: bytes) -> bytes:
    if psk is None:
        return bytes(32)
    return hmac.new(psk, b"".join(parts), hashlib.sha256).digest()


def _short(fp: bytes) -> str:
    return fp.hex()[:12]


_NOT_TOLD = ("; the RX tells the reason only after authentication, its log says it (different graph, edge, "
             "token size or rate, --port-base, or a pre-shared key or certificate on one side only?)")


def client_handshake(sock: socket.socket, *, edge: int, token_bytes: int, rate: int, fp: bytes,
                     psk: bytes | None, heartbeats: bool = False) -> bool:
    """TX side. Raises :class:`Refused` with the reason on any mismatch. ``heartbeats``: ask
    the RX for heartbeats (this TX reads them); returns whether the RX will send them."""
    flags = (FLAG_PSK if psk is not None else 0) | (FLAG_HEARTBEAT if heartbeats else 0)
    hello = HELLO.pack(MAGIC, VERSION, flags, edge, token_bytes, rate, fp, os.urandom(16))
    sock.sendall(hello)
    raw = bytearray(REPLY.size)
    recv_exact(sock, memoryview(raw))
    magic, _version, status, nonce_rx, mac_rx, mlen = REPLY.unpack(raw)
    if magic != MAGIC:
        raise Refused("the peer is not a vrprune RX (bad magic in its reply)")
    if status != OK:
        raise Refused(_refused(_recv_message(sock, mlen)))
    if psk is not None and not hmac.compare_digest(mac_rx, _mac(psk, b"vrprune-rx", hello, nonce_rx)):
        sock.sendall(AUTH.pack(bytes(32)))
        raise Refused("the peer failed authentication: it does not hold our pre-shared key (wrong --psk-file?)")
    sock.sendall(AUTH.pack(_mac(psk, b"vrprune-tx", hello, nonce_rx, mac_rx)))
    status, mlen = _recv_struct(sock, FINAL)
    if status != OK:
        raise Refused(_refused(_recv_message(sock, mlen)))
    return bool(heartbeats and raw[REPLY_FLAGS_AT] & RX_HEARTBEAT)


def _refused(msg: str) -> str:
    return f"refused by the peer: {msg}" + (_NOT_TOLD if msg == REFUSED_TEXT else "")


def server_handshake(sock: socket.socket, *, edge: int, edge_name: str, token_bytes: int, rate: int, fp: bytes,
                     psk: bytes | None, refusal: str | None = None, authenticated: bool = False,
                     claim: Callable[[], bool] | None = None, heartbeats: bool = False) -> bool:
    """RX side; returns whether this RX is to send heartbeats (``heartbeats``: it can, and the
    TX asked for them). Raises :class:`Refused` with the full reason (for the RX's log) on any mismatch,
    after telling the peer: the reason itself only when the peer is authenticated (``authenticated``:
    TLS verified its certificate; else once its PSK MAC is checked), else just "refused".
    ``refusal``: refuse anyway, for that reason (e.g. a TLS certificate of the wrong host).
    ``claim()``: called just before the final OK; False refuses (another TX took the edge)."""
    buf = bytearray(HELLO.size)
    recv_exact(sock, memoryview(buf))
    hello = bytes(buf)
    magic, version, flags, p_edge, p_tb, p_rate, p_fp, _nonce_tx = HELLO.unpack(hello)
    nonce_rx = os.urandom(16)

    def send(data: bytes) -> None:
        try:
            sock.sendall(data)
        except OSError:
            pass

    def reply_refusal(why: str, told: str) -> None:
        msg = told.encode("utf-8")[:MAX_MESSAGE]
        send(REPLY.pack(MAGIC, VERSION, REFUSED, bytes(16), bytes(32), len(msg)) + msg)
        raise Refused(why)

    def final_refusal(why: str, told: str) -> None:
        msg = told.encode("utf-8")[:MAX_MESSAGE]
        send(FINAL.pack(REFUSED, len(msg)) + msg)
        raise Refused(why)

    if magic != MAGIC:
        raise Refused("not a vrprune TX (bad magic)")
    # what can be said before the peer proves its key: nothing (unless TLS proved who it is)
    early = None
    if refusal:
        early = refusal
    elif version != VERSION:
        early = f"protocol version mismatch: RX speaks {VERSION}, TX speaks {version}"
    elif flags & ~KNOWN_FLAGS:
        early = f"unknown HELLO flags 0x{flags & ~KNOWN_FLAGS:04x} (a newer or foreign TX?)"
    elif bool(flags & FLAG_PSK) != (psk is not None):
        early = "authentication mismatch: " + (
            "RX requires a pre-shared key (--psk-file) and TX has none" if psk is not None else
            "TX uses a pre-shared key but RX has none (--psk-file on both sides)")
    mismatch = _mismatch(edge, edge_name, token_bytes, rate, fp, p_edge, p_tb, p_rate, p_fp)
    if early is None and psk is None and mismatch is not None:
        early = mismatch  # no key to check first: refused at once
        mismatch = None
    if early is not None:
        reply_refusal(early, early if authenticated else REFUSED_TEXT)
    mac_rx = _mac(psk, b"vrprune-rx", hello, nonce_rx)
    reply = bytearray(REPLY.pack(MAGIC, VERSION, OK, nonce_rx, mac_rx, 0))
    if flags & FLAG_HEARTBEAT and heartbeats:
        reply[REPLY_FLAGS_AT] = RX_HEARTBEAT
    sock.sendall(reply)
    (mac_tx,) = _recv_struct(sock, AUTH)
    if psk is not None and not hmac.compare_digest(mac_tx, _mac(psk, b"vrprune-tx", hello, nonce_rx, mac_rx)):
        final_refusal("TX failed authentication: it does not hold our pre-shared key (wrong --psk-file?)",
                      "authentication failed: wrong pre-shared key")
    # authenticated now (PSK checked, or TLS): the reason may be told
    if mismatch is not None:
        final_refusal(mismatch, mismatch)
    if claim is not None and not claim():
        final_refusal("another TX connected to this edge first", "another TX connected to this edge first")
    sock.sendall(FINAL.pack(OK, 0))
    return bool(flags & FLAG_HEARTBEAT and heartbeats)


def _mismatch(edge: int, edge_name: str, token_bytes: int, rate: int, fp: bytes,
              p_edge: int, p_tb: int, p_rate: int, p_fp: bytes) -> str | None:
    if p_fp != fp:
        return (f"graph fingerprint mismatch: RX runs graph {_short(fp)}…, TX runs {_short(p_fp)}…; "
                f"both sides must run the same application graph")
    if p_edge != edge:
        return (f"edge mismatch: this port carries edge {edge} ('{edge_name}'), TX sends edge {p_edge} "
                f"(different --port-base or platform base_port?)")
    if p_tb != token_bytes or p_rate != rate:
        return (f"edge '{edge_name}': token size/rate mismatch: RX expects {rate} x {token_bytes} B, "
                f"TX sends {p_rate} x {p_tb} B")
    return None


# ---------------------------------------------------------------- security settings that differ

TLS_HANDSHAKE_RECORD = b"\x16\x03"  # how a TLS client's first bytes (a ClientHello record) begin


def security_words(psk: bool, tls: bool) -> str:
    """A side's security settings in words, with the options that set them."""
    if tls:
        return "TLS (--tls-*)" + (" and a pre-shared key (--psk-file)" if psk else "")
    return "a pre-shared key without TLS (--psk-file)" if psk else "neither TLS nor a pre-shared key"


def security_mismatch(rx: str, tx: str) -> str:
    """Why a TX and an RX whose security settings differ cannot talk (said to both sides: what
    each side uses is no secret, every connection attempt shows it)."""
    return (f"the peers' security settings differ: the RX uses {rx}, the TX uses {tx}; give both hosts the "
            f"same --tls-* and --psk-file options")


def refuse_in_plain(sock: Any, why: str) -> None:
    """Tell a TX, in plain TCP, that its security settings differ from this RX's (a REFUSED
    REPLY; a TX that began TLS looks for it before its TLS handshake goes on)."""
    msg = why.encode("utf-8")[:MAX_MESSAGE]
    sock.sendall(REPLY.pack(MAGIC, VERSION, REFUSED, bytes(16), bytes(32), len(msg)) + msg)


def read_plain_refusal(sock: Any) -> str:
    """The refusal an RX sent in plain TCP (see :func:`refuse_in_plain`), as :class:`Refused` says it."""
    magic, _version, status, _nonce, _mac, mlen = _recv_struct(sock, REPLY)
    if magic != MAGIC or status != REFUSED:
        return "the RX answered in plain TCP, not TLS"
    return _refused(_recv_message(sock, mlen))
