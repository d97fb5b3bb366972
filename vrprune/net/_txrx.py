"""TX and RX actor back-ends, and the connection set-up that precedes a distributed run.

A TX is a sink actor on the sending host: each firing sends one frame holding the window of
tokens the runtime granted it (``sendmsg`` of header + FIFO slot memoryview: no copy). An RX is
a source actor on the receiving host: each firing reads one frame header, checks it, and
``recv_into``\\s the payload straight into its output FIFO window. END travels as a frame;
the RX returns :data:`vrprune.exec.END` on it, so end of stream crosses hosts like any other.
"""

from __future__ import annotations

import errno
import functools
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..exec import END, ActorBackend
from ..model import Actor
from . import _wire as w
from ._auth import TlsFiles, client_context, peer_names, server_context
from ._link import LinkSpec, ShapedSender
from ._native import NativeLink
from ._native import load as load_native
from ._options import SOCKET_BUFFER
from ._split import CrossEdge


class LinkStopped(w.DistError):
    """A socket operation failed because this process is stopping (not the peer's fault)."""




def set_buffers(sock: socket.socket, size: int) -> None:
    """SO_SNDBUF and SO_RCVBUF of a socket before it connects or listens (so that TCP's window
    scale covers them; accepted connections inherit the listening socket's). 0 leaves the
    kernel's autotuning, whose buffers start small: with 73,728-byte tokens sender and receiver
    then wait on each other (bench/bench_txrx.py). A size above the kernel's cap
    (net.core.wmem_max / rmem_max) is not set: the kernel would cut it and turn autotuning off,
    which can grow further."""
    if size > 0:
        for opt, cap in ((socket.SO_SNDBUF, "wmem_max"), (socket.SO_RCVBUF, "rmem_max")):
            if size > _kernel_cap(cap):
                continue  # the kernel would cut it and switch autotuning off: keep autotuning
            try:
                sock.setsockopt(socket.SOL_SOCKET, opt, size)
            except OSError:
                pass


@functools.cache
def _kernel_cap(name: str) -> float:
    """net.core.wmem_max / rmem_max: the most SO_SNDBUF / SO_RCVBUF may ask (inf where unknown)."""
    try:
        with open(f"/proc/sys/net/core/{name}") as f:
            return int(f.read())
    except (OSError, ValueError):
        return float("inf")


# Liveness of the peer, not progress of the graph (docs/distributed.md, "Guarantees"): an RX
# sends a heartbeat byte every HEARTBEAT_S while its process lives, whatever its actors do; a TX
# that hears none for LINK_TIMEOUT_S, and whose segments the RX host no longer acknowledges,
# calls the RX host gone (a stopped RX process sends no heartbeat, but its kernel answers).
# TCP_USER_TIMEOUT (LINK_TIMEOUT_S) is set where unacknowledged bytes mean a dead peer: on RX
# sockets (their heartbeats) and on TX sockets whose RX sends no heartbeats (a compiled TLS
# program's); never on a TX socket with heartbeats, whose data may wait in a full window for as
# long as the RX's actors take.
HEARTBEAT_S = 1.0
LINK_TIMEOUT_S = 15.0


def _tune(sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for opt, val in (("TCP_KEEPIDLE", 5), ("TCP_KEEPINTVL", 2), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, opt):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, opt), val)
            except OSError:
                pass
    _user_timeout(sock, LINK_TIMEOUT_S)


def _user_timeout(sock: socket.socket, seconds: float) -> None:
    """TCP_USER_TIMEOUT: how long sent bytes may stay unacknowledged (or unsent behind a zero
    window) before the kernel drops the connection; 0: the kernel's default (no such limit)."""
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(seconds * 1000))
        except OSError:
            pass


def edge_label(e: CrossEdge, port: int) -> str:
    return f"edge '{e.name}' ({e.src_host.name} -> {e.dst_host.name}, port {port})"


@dataclass
class Endpoint:
    """One connected end of a crossing edge in this process."""

    edge: CrossEdge
    port: int
    sock: socket.socket
    tls: bool
    peer: str = ""
    frames: int = 0
    bytes: int = 0
    stopping: threading.Event = field(default_factory=threading.Event)
    heartbeats: bool = False  # RX: sends heartbeats; TX: expects them
    last_beat: float = field(default_factory=time.monotonic)  # RX: last heartbeat sent; TX: last one heard
    # RX: time.monotonic() when the first / latest DATA frame was complete; the first one's bytes
    t_first: float = 0.0
    t_last: float = 0.0
    b_first: int = 0

    @property
    def label(self) -> str:
        return edge_label(self.edge, self.port)

    @property
    def stream_Bps(self) -> float | None:
        """Received payload per second from the first DATA frame to the latest (the steady
        stream: the peer's start-up and the wait for the first frame excluded); None before
        two frames."""
        if self.frames < 2 or self.t_last <= self.t_first:
            return None
        return (self.bytes - self.b_first) / (self.t_last - self.t_first)

    def shutdown(self) -> None:
        self.stopping.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class _LinkBackend(ActorBackend):
    """What TX and RX share: the endpoint, and the C firing (runtime/txrx.c) that the runtime's
    native loop runs when ``link`` is set (plain TCP, a C compiler at hand)."""

    waits_on_peer = True  # a firing waits on the other host: the watchdog does not call it hung
    # a variable-rate TX/RX fires at atr 0 too (a header-only frame): the C loop always does, and
    # the two ends must agree whichever loop (Python or C) each host runs
    fires_when_pruned = True

    def __init__(self, actor: Actor, ep: Endpoint, tx: bool, native: bool) -> None:
        super().__init__(actor, None)
        self.ep = ep
        self.seq = 0
        self._tx = tx
        self.fifo: Any = None  # the local fifo (tells a stop from an end): see join_fifos
        self.run_stopping: Callable[[], bool] = lambda: False  # the Runtime's ``stopping``: see join_fifos
        self.link = _native_link(ep, tx) if native else None

    def join_fifos(self, ins: list[Any], outs: list[Any], stopping: Callable[[], bool]) -> None:
        """The Runtime, while it is built: the local FIFO this TX drains (its one input) or this
        RX fills (its one output), and whether the run is being stopped."""
        self.fifo = ins[0] if self._tx else outs[0]
        self.run_stopping = stopping

    def __getattr__(self, name: str) -> Any:
        """``_fire`` / ``_state`` / ``_error_text`` exist only with a C link, so that the
        runtime's ``native_capable`` test picks exactly those back-ends."""
        link = self.__dict__.get("link")
        if link is not None:
            if name == "_fire":
                return link.fire_addr
            if name == "_state":
                return link.state_addr
            if name == "_error_text":
                return lambda: link.err
        raise AttributeError(name)

    def native_bind(self, actor: int, flush: int) -> None:
        """The native loop's hook: the C firing flushes the loop's wake-ups itself, only before
        a socket call that would block (``before_wait`` in runtime/txrx.c)."""
        if self.link is not None:
            self.link.bind(actor, flush)

    @property
    def native_greedy(self) -> int:
        """The most frames one C firing sends or receives (the native loop's greedy windows)."""
        return self.link.greedy if self.link is not None else 0

    def _sync(self) -> None:
        """Counters of a native run into the back-end and its endpoint (the watcher calls this too)."""
        link = self.link  # once: a Python firing may set it to None meanwhile
        if link is not None:
            self.seq, self.ep.frames, self.ep.bytes, self.ep.t_first, self.ep.t_last, self.ep.b_first, end = \
                link.counters()
            if end:
                self.got_end = True

    def _end_native(self) -> None:
        self._sync()
        if self.link is not None:
            self.link.bind(0, 0)  # the loop's actor is gone

    def _fail(self, what: str) -> w.DistError:
        if self.ep.stopping.is_set():
            return LinkStopped(f"{self.ep.label}: stopped")
        return w.DistError(f"{self.ep.label}: {what}")


class TxBackend(_LinkBackend):
    """Sends each firing's window as one DATA frame."""

    def __init__(self, actor: Actor, ep: Endpoint, link: LinkSpec | None = None) -> None:
        super().__init__(actor, ep, tx=True, native=not ep.tls and link is None)
        self.length = ep.edge.rate * ep.edge.token_bytes
        self.hdr = bytearray(w.HEADER.size)
        self.sent_end = False
        self._direct = self._send_tls if ep.tls else self._send_plain
        self._shaper = ShapedSender(link, self._direct, ep.edge.name) if link is not None else None

    def native_failure(self) -> w.DistError:
        """The error of a failed C firing, worded as the Python firing words it."""
        self._sync()
        assert self.link is not None  # only the C firing fails this way
        return self._fail(f"sending frame {self.seq} failed: {self.link.err}; the RX side on "
                          f"host '{self.ep.edge.dst_host.name}' has gone away")

    def _send_plain(self, hdr: bytes | bytearray, payload: memoryview | bytes) -> None:
        sock = self.ep.sock
        total = len(hdr) + len(payload)
        n = sock.sendmsg([hdr, payload])
        if n < total:
            h = len(hdr)
            if n < h:
                sock.sendall(memoryview(hdr)[n:])
                n = h
            sock.sendall(memoryview(payload)[n - h:])

    def _send_tls(self, hdr: bytes | bytearray, payload: memoryview | bytes) -> None:
        self.ep.sock.sendall(hdr)
        if len(payload):
            self.ep.sock.sendall(payload)

    def _send(self, hdr: bytearray, payload: memoryview | bytes) -> None:
        try:
            if self._shaper is not None:
                self._shaper.submit(bytes(hdr), payload)
            else:
                self._direct(hdr, payload)
        except (OSError, w.DistError) as exc:
            if self.ep.stopping.is_set():
                raise LinkStopped(f"{self.ep.label}: stopped") from None
            raise w.DistError(f"{self.ep.label}: sending frame {self.seq} failed: "
                              f"{getattr(exc, 'strerror', None) or exc}; the RX side on host "
                              f"'{self.ep.edge.dst_host.name}' has gone away") from None

    def fire(self, ins: list[np.ndarray], outs: list[np.ndarray], atr: int | None) -> None:
        self.link = None  # the Python firing runs (no native loop): its counters are the truth
        x = ins[0]
        if atr is None:  # static edge (and control tokens: rate 1, the token as payload)
            a, length = self.ep.edge.rate, self.length
        else:  # variable-rate edge: atr tokens, atr in the header (0: a header-only frame)
            a, length = atr, atr * self.ep.edge.token_bytes
        w.HEADER.pack_into(self.hdr, 0, w.DATA, a, length, self.seq)
        self._send(self.hdr, memoryview(x).cast("B") if length else b"")  # type: ignore[arg-type]  # numpy buffer
        self.seq += 1
        self.ep.frames += 1
        self.ep.bytes += length

    def finish(self) -> None:
        self._end_native()
        # END only for a stream that really ended: never when this process is stopping (a
        # signal, an error elsewhere), whatever the order in which its threads noticed
        aborted = (self.ep.stopping.is_set() or bool(getattr(self.fifo, "aborted", False))
                   or self.run_stopping())
        kind = w.ABORT if aborted else w.END
        w.HEADER.pack_into(self.hdr, 0, kind, 0, 0, self.seq)
        try:
            if aborted:
                if self._shaper is not None:
                    self._shaper.abandon()
                self.ep.sock.settimeout(0.5)
                self._direct(self.hdr, b"")
            else:
                self.sent_end = True
                if self._shaper is not None:
                    self._shaper.submit(bytes(self.hdr), b"")
                    self._shaper.close()
                else:
                    self._direct(self.hdr, b"")
        except (OSError, w.DistError) as exc:
            if not aborted and not self.ep.stopping.is_set():
                raise w.DistError(f"{self.ep.label}: sending end of stream failed: {exc}") from None
        finally:
            self.ep.close()


class RxBackend(_LinkBackend):
    """Receives one frame per firing into the output window; END ends the stream."""

    def __init__(self, actor: Actor, ep: Endpoint) -> None:
        self.got_end = False
        super().__init__(actor, ep, tx=False, native=not ep.tls)
        self.rate = ep.edge.rate
        self.length = ep.edge.rate * ep.edge.token_bytes
        self.hbuf = bytearray(w.HEADER.size)
        self.hmv = memoryview(self.hbuf)
        self.kind = ep.edge.kind

    def native_failure(self) -> w.DistError:
        """The error of a failed C firing (worded in C as the Python firing words it)."""
        self._sync()
        assert self.link is not None  # only the C firing fails this way
        return self._fail(self.link.err)

    def fire(self, ins: list[np.ndarray], outs: list[np.ndarray], atr: int | None) -> object:
        self.link = None  # the Python firing runs (no native loop): its counters are the truth
        sock = self.ep.sock
        if atr is None:
            rate, want = self.rate, self.length
        else:  # variable-rate edge: this RX is a DPA and knows atr from its own control token
            rate, want = atr, atr * self.ep.edge.token_bytes
        slot = memoryview(outs[0]).cast("B") if want else memoryview(b"")  # type: ignore[arg-type]  # numpy buffer
        got = 0  # payload bytes already in the slot
        try:
            if self.ep.tls:
                w.recv_exact(sock, self.hmv)
            else:
                # one scatter read: header into its buffer, payload straight into the FIFO slot
                # (at most the expected length; rejected below if the header says otherwise)
                h = self.hmv
                n = sock.recvmsg_into([h, slot] if want else [h])[0]
                if not n:
                    raise w.PeerClosed("connection closed after 0 bytes")
                hn = len(h)
                if n < hn:
                    w.recv_exact(sock, h[n:])
                else:
                    got = n - hn
        except (OSError, w.PeerClosed) as exc:
            raise self._fail(f"the TX side on host '{self.ep.edge.src_host.name}' disconnected mid-stream after "
                             f"{self.seq} frames ({exc})") from None
        typ, a, length, seq = w.HEADER.unpack_from(self.hbuf)
        if typ != w.DATA and got:
            raise self._fail(f"malformed frame {self.seq}: {got} bytes after a frame of type {typ}")
        if typ == w.DATA:
            if a != rate or length != want:
                raise self._fail(f"malformed frame {self.seq}: atr {a}, length {length}; expected atr {rate}, "
                                 f"length {want} ({rate} x {self.ep.edge.token_bytes} B)")
            if seq != self.seq:
                raise self._fail(f"frame out of sequence: got {seq}, expected {self.seq} "
                                 f"(a token was lost, duplicated or reordered)")
            try:
                if got < length:
                    w.recv_exact(sock, slot[got:])
            except (OSError, w.PeerClosed) as exc:
                raise self._fail(f"truncated frame {self.seq}: the TX side disconnected mid-frame ({exc})") from None
            if self.kind == "control":
                v = int(outs[0].view(np.int32)[0, 0])
                if not self.ep.edge.lrl <= v <= self.ep.edge.url:
                    raise self._fail(f"malformed frame {self.seq}: control token atr {v} outside the DPG's rate "
                                     f"range [{self.ep.edge.lrl}, {self.ep.edge.url}]")
            ep = self.ep
            ep.t_last = time.monotonic()  # CLOCK_MONOTONIC, as in txrx.c
            if not ep.frames:
                ep.t_first, ep.b_first = ep.t_last, length
            self.seq += 1
            ep.frames += 1
            ep.bytes += length
            return None
        if typ == w.END:
            if seq != self.seq:
                raise self._fail(f"end of stream after {seq} frames, but {self.seq} arrived")
            self.got_end = True
            if atr is not None:  # a DPA ends when its control input ends, not here
                raise self._fail(f"end of stream after {seq} frames while its control token asked for atr {atr}")
            return END
        if typ == w.ABORT:
            raise self._fail(f"the TX side on host '{self.ep.edge.src_host.name}' aborted its run after "
                             f"{self.seq} frames")
        raise self._fail(f"malformed frame {self.seq}: unknown frame type {typ}")

    def finish(self) -> None:
        # An RX that ends before it has read the END frame (a variable-rate RX when its control
        # input ends; any RX at its --iterations limit) reads it now (the sequence check covers
        # the last frames), so that the TX never sees its peer vanish before its end of stream.
        link = self.link
        self._end_native()
        try:
            failure = link.take_failure() if link is not None and not self.ep.stopping.is_set() else None
            if failure:  # a bad frame behind good ones in the last greedy window, which no later firing reported
                raise self._fail(failure)
            if (not self.got_end and not self.ep.stopping.is_set()
                    and not getattr(self.fifo, "aborted", False)):
                self.ep.sock.settimeout(w.HANDSHAKE_TIMEOUT_S)
                hb = bytearray(w.HEADER.size)
                try:
                    w.recv_exact(self.ep.sock, memoryview(hb))
                except (OSError, w.PeerClosed) as exc:
                    if not self.ep.stopping.is_set():
                        raise self._fail(f"no end of stream from the TX side after {self.seq} frames ({exc})") from None
                    return
                typ, _a, _n, seq = w.HEADER.unpack_from(hb)
                if typ != w.END or seq != self.seq:
                    why = ("more tokens than control tokens" if self.kind == "variable"
                           else "the hosts run different --iterations?")
                    raise self._fail(f"expected end of stream after {self.seq} frames, got a frame of type {typ}, "
                                     f"sequence {seq} ({why})")
                self.got_end = True
        finally:
            self.ep.close()


def _native_link(ep: Endpoint, tx: bool) -> NativeLink | None:
    lib = load_native()
    if lib is None or ep.sock.gettimeout() is not None:  # the C firings need a blocking socket
        return None
    e = ep.edge
    return NativeLink(lib, tx, ep.sock.fileno(), e.kind, e.rate, e.token_bytes, e.lrl, e.url,
                      (e.dst_host if tx else e.src_host).name)


# ---------------------------------------------------------------------------- connection set-up


@dataclass
class Security:
    psk: bytes | None = None
    tls: TlsFiles | None = None


def listen(address: str, port: int, buffer: int = SOCKET_BUFFER) -> socket.socket:
    s = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    set_buffers(s, buffer)
    try:
        s.bind((address, port))
    except OSError as exc:
        s.close()
        if exc.errno == errno.EADDRINUSE:
            hint = " (another run still holds it? choose another --port-base)"
        elif exc.errno == errno.EADDRNOTAVAIL:
            hint = (" (the platform file gives this host that address, but it is not one of this machine's; "
                    "fix the address, or pass --listen-all to listen on every interface (behind NAT, in a "
                    "container))")
        else:
            hint = ""
        raise w.DistError(f"cannot listen on {address}:{port}: {exc.strerror or exc}{hint}") from None
    s.listen(4)
    return s


MAX_PENDING_HANDSHAKES = 64  # handshakes served at once per edge; more connections wait in the backlog


def accept_edge(lsock: socket.socket, e: CrossEdge, port: int, fp: bytes, sec: Security, deadline: float,
                cancel: threading.Event, log: Callable[[str], None]) -> Endpoint:
    """Accept connections on ``lsock`` until one passes the handshake (refusing and logging the
    rest) or ``deadline``. Handshakes run concurrently, each on its own thread and each within
    :data:`HANDSHAKE_TIMEOUT_S` in all (its socket is shut down at its deadline, whatever it is
    waiting for): idle or trickling connections cannot delay the real peer."""
    label = edge_label(e, port)
    ctx = server_context(sec.tls) if sec.tls else None
    if ctx is not None:
        ctx.num_tickets = 0  # no session resumption
    lock = threading.Lock()
    won: list[Endpoint | None] = []  # the handshake that claimed the edge (None: too late, the wait ended)
    ready: list[Endpoint] = []  # its endpoint, once its handshake is complete
    pending: dict[socket.socket, float] = {}  # connection -> the deadline of its handshake
    last = [""]

    def claim(ep: Endpoint) -> bool:
        with lock:
            if won or cancel.is_set():
                return False
            won.append(ep)
            pending.pop(ep.sock, None)  # no deadline from now on: it is the edge's connection
            return True

    def handshake(conn: socket.socket, peer: str, until: float) -> None:
        sock = conn
        try:
            _tune(conn)
            conn.settimeout(max(until - time.monotonic(), 0.001))
            refusal = None
            _refuse_other_security(conn, sec, until)
            if ctx is not None:
                sock = ctx.wrap_socket(conn, server_side=True)
                with lock:
                    pending[sock] = pending.pop(conn, until)
                names = peer_names(sock)  # type: ignore[arg-type]
                if e.src_host.name not in names:
                    refusal = (f"TLS certificate names {sorted(names)} do not include host "
                               f"'{e.src_host.name}', where the mapping puts the TX of this edge")
            ep = Endpoint(e, port, sock, ctx is not None, peer)
            ep.heartbeats = w.server_handshake(
                _Deadline(sock, until), edge=e.index, edge_name=e.name,  # type: ignore[arg-type]
                token_bytes=e.token_bytes, rate=e.rate, fp=fp, psk=sec.psk, refusal=refusal,
                authenticated=ctx is not None, claim=lambda: claim(ep), heartbeats=True)
            sock.settimeout(None)
            if ctx is not None:
                ep.sock = TlsLink(sock)  # type: ignore[arg-type,assignment]  # heartbeats beside the firings
            with lock:
                ready.append(ep)
        except (w.DistError, OSError, ssl.SSLError, ValueError) as exc:
            if isinstance(exc, (socket.timeout, ssl.SSLError, OSError)) and time.monotonic() >= until:
                why = f"no complete handshake within {w.HANDSHAKE_TIMEOUT_S:g} s"
            else:
                why = str(exc)
            with lock:
                pending.pop(sock, None)
                pending.pop(conn, None)
                if won and won[0] is not None and won[0].sock is sock:
                    won.clear()  # claimed, but the final OK did not go out: the edge is free again
                last[0] = f"{peer}: {why}"
            log(f"{label}: refused a connection from {peer}: {why}")
            _close(sock)

    try:
        while not cancel.is_set():
            now = time.monotonic()
            with lock:
                if ready:
                    return ready[0]  # (a cancel meanwhile: the caller closes what was returned)
                for c, until in pending.items():
                    if now >= until:
                        _shut(c)  # wakes its handshake thread, which refuses and logs it
                busy = len(pending) >= MAX_PENDING_HANDSHAKES
            if now >= deadline:
                raise w.DistError(f"{label}: no TX connected within the connect timeout"
                                  + (f" (last refusal: {last[0]})" if last[0] else ""))
            if busy:
                time.sleep(0.01)
                continue
            lsock.settimeout(min(deadline - now, 0.05))
            try:
                conn, addr = lsock.accept()
            except socket.timeout:
                continue
            until = time.monotonic() + w.HANDSHAKE_TIMEOUT_S
            with lock:
                pending[conn] = until
            threading.Thread(target=handshake, args=(conn, f"{addr[0]}:{addr[1]}", until), daemon=True,
                             name=f"vrprune:handshake:{e.name}").start()
        raise LinkStopped(f"{label}: cancelled")
    finally:
        with lock:
            rest = list(pending) + [ep.sock for ep in won if ep is not None and ep not in ready[:1]]
            if not ready:
                won[:] = [None]  # a late handshake must not claim the edge
        for c in rest:
            _shut(c)


class _Deadline:
    """A socket whose every read and write waits at most until one deadline (the handshake's)."""

    def __init__(self, sock: socket.socket, until: float) -> None:
        self.sock, self.until = sock, until

    def _left(self) -> None:
        left = self.until - time.monotonic()
        if left <= 0:
            raise socket.timeout("handshake deadline passed")
        self.sock.settimeout(left)

    def recv_into(self, mv, n: int = 0) -> int:
        self._left()
        return self.sock.recv_into(mv, n)

    def sendall(self, data) -> None:
        self._left()
        self.sock.sendall(data)


TLS_PEEK_GRACE_S = 0.1  # an RX's pause before it answers a TLS ClientHello in plain TCP


def _refuse_other_security(conn: socket.socket, sec: Security, until: float) -> None:
    """A TX whose first bytes show other security settings than this RX's (plain vrprune HELLO
    at a TLS RX; a TLS ClientHello at a plain RX) is told so in plain TCP, and refused, with
    what each side uses. Waits for the TX's first bytes (within the handshake's deadline)."""
    head = conn.recv(4, socket.MSG_PEEK | socket.MSG_WAITALL)
    if sec.tls is not None and head == w.MAGIC:
        hello = bytearray(w.HELLO.size)
        w.recv_exact(conn, memoryview(hello))
        flags = w.HELLO.unpack(hello)[2]
        tx = w.security_words(bool(flags & w.FLAG_PSK), False)
    elif sec.tls is None and head.startswith(w.TLS_HANDSHAKE_RECORD):
        tx = w.security_words(False, True)
        # the TX's TLS library reads right after its ClientHello: answer a moment later, so that it
        # finds nothing yet and looks at the answer itself (else it only sees "not TLS")
        time.sleep(TLS_PEEK_GRACE_S)
    else:
        return
    why = w.security_mismatch(w.security_words(sec.psk is not None, sec.tls is not None), tx)
    try:
        conn.setblocking(False)
        while conn.recv(65536):  # what the TX sent: a close with unread bytes would reset the connection
            pass
    except (BlockingIOError, InterruptedError):
        pass
    conn.settimeout(max(until - time.monotonic(), 0.001))
    try:
        w.refuse_in_plain(conn, why)
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(65536):  # until the TX has read the refusal and closed
            pass
    except OSError:
        pass
    raise w.Refused(why)


def _start_tls(s: ssl.SSLSocket, timeout: float) -> None:
    """The TX's TLS handshake. An RX that answers the ClientHello in plain TCP (its security
    settings differ) is read before TLS would misread it: :class:`Refused` with what it said."""
    s.setblocking(False)
    try:
        s.do_handshake()  # sends the ClientHello; the answer is seldom there yet (if it is, TLS took it)
        s.settimeout(timeout)
        return
    except ssl.SSLWantReadError:
        pass
    except ssl.SSLError as exc:
        raise w.Refused(_tls_refusal(exc)) from None
    s.settimeout(timeout)
    ready, _, _ = select.select([s], [], [], timeout)
    if ready:
        try:
            head = socket.socket.recv(s, 4, socket.MSG_PEEK)
        except BlockingIOError:
            head = b""
        if head[:1] == w.MAGIC[:1] and w.MAGIC.startswith(head):
            raise w.Refused(w.read_plain_refusal(_RawReader(s)))
    try:
        s.do_handshake()
    except ssl.SSLError as exc:
        raise w.Refused(_tls_refusal(exc)) from None


def _tls_refusal(exc: ssl.SSLError) -> str:
    if getattr(exc, "reason", None) in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"):
        return w.security_mismatch("no TLS (it answered in plain TCP)", w.security_words(False, True))
    return f"TLS handshake failed: {exc}"


class _RawReader:
    """The TCP bytes under a TLS socket whose TLS has not begun (the RX answered in plain TCP)."""

    def __init__(self, s: ssl.SSLSocket) -> None:
        self.s = s

    def recv_into(self, mv, n: int = 0) -> int:
        return socket.socket.recv_into(self.s, mv, n)


def _shut(sock: socket.socket) -> None:
    """Shut a socket down under a thread blocked on it (plain or TLS: the TCP socket itself)."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass


def connect_edge(e: CrossEdge, port: int, fp: bytes, sec: Security, deadline: float,
                 cancel: threading.Event, log: Callable[[str], None], buffer: int = SOCKET_BUFFER) -> Endpoint:
    """Connect to the RX of ``e``, retrying with exponential back-off until ``deadline``."""
    label = edge_label(e, port)
    addr = e.dst_host.address
    ctx = client_context(sec.tls) if sec.tls else None
    delay = 0.02
    last = ""
    while not cancel.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            raise w.DistError(f"{label}: cannot connect to {addr}:{port} within the connect timeout ({last}); "
                              f"is the process of host '{e.dst_host.name}' running?")
        s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
        set_buffers(s, buffer)
        try:
            s.settimeout(min(left, w.HANDSHAKE_TIMEOUT_S))
            s.connect((addr, port))
        except OSError as exc:
            s.close()
            last = exc.strerror or str(exc)
            time.sleep(min(delay, max(deadline - time.monotonic(), 0)))
            delay = min(delay * 2, 1.0)
            continue
        try:
            _tune(s)
            if ctx is not None:
                s = ctx.wrap_socket(s, server_hostname=e.dst_host.name, do_handshake_on_connect=False)
                _start_tls(s, max(min(deadline - time.monotonic(), w.HANDSHAKE_TIMEOUT_S), 0.001))
            beats = w.client_handshake(s, edge=e.index, token_bytes=e.token_bytes, rate=e.rate, fp=fp,
                                       psk=sec.psk, heartbeats=True)
            s.settimeout(None)
            if beats:
                _user_timeout(s, 0)  # the heartbeats tell a dead RX; a full window may last (a slow RX)
            link = TlsLink(s) if ctx is not None else s  # type: ignore[arg-type]
            return Endpoint(e, port, link, ctx is not None, f"{addr}:{port}", heartbeats=beats)  # type: ignore[arg-type]
        except ssl.SSLError as exc:
            s.close()
            raise w.Refused(f"{label}: TLS handshake with {addr}:{port} failed: {exc}") from None
        except w.PeerClosed as exc:
            s.close()
            raise w.Refused(f"{label}: the RX at {addr}:{port} closed the connection during the handshake "
                            f"({exc}); see its log") from None
        except w.Refused as exc:
            s.close()
            raise w.Refused(f"{label}: {exc}") from None
        except OSError as exc:
            s.close()
            raise w.DistError(f"{label}: handshake with {addr}:{port} failed: {exc}") from None
    raise LinkStopped(f"{label}: cancelled")


def peer_gone(ep: Endpoint) -> str | None:
    """Why the RX end of a TX connection is gone, or None while it lives: it closed or reset the
    connection, or (with heartbeats) sent none for :data:`LINK_TIMEOUT_S`. Reads and drops the
    heartbeats (the RX sends nothing else after the handshake)."""
    try:
        r, _, _ = select.select([ep.sock], [], [], 0)
    except (OSError, ValueError):
        return "closed the connection"
    if r:
        if ep.tls and not ep.heartbeats:
            return "closed the connection"  # the RX sends nothing after the handshake
        try:
            data = ep.sock.recv(4096, socket.MSG_DONTWAIT)
        except BlockingIOError:
            data = None
        except OSError as exc:
            return f"reset the connection ({exc.strerror or exc})"
        if data == b"":
            return "closed the connection"
        if data:
            ep.last_beat = time.monotonic()
    if ep.heartbeats and time.monotonic() - ep.last_beat > LINK_TIMEOUT_S and not _kernel_answers(ep.sock):
        return f"sent no heartbeat for {LINK_TIMEOUT_S:g} s, and its host answers no TCP segment (down or cut off)"
    return None


def _kernel_answers(sock: Any) -> bool:
    """Whether the peer's host still acknowledges what this socket sends (Linux TCP_INFO: fewer
    than two unanswered retransmissions and window probes in a row). A peer process that is
    stopped (SIGSTOP, a debugger) sends no heartbeats, but its kernel still answers: alive. A
    dead or cut-off host does not; one idle connection to it ends by TCP keep-alive instead."""
    if not hasattr(socket, "TCP_INFO"):
        return False
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
    except (OSError, ValueError):
        return False
    retransmits, probes = info[2], info[3]  # struct tcp_info: tcpi_retransmits, tcpi_probes
    return retransmits < 2 and probes < 2


class TlsLink:
    """A TLS connection that two threads use at once: the firing's (RX reads, TX writes) and the
    heartbeats' (RX writes, TX reads). OpenSSL allows one call at a time on a connection, so
    every TLS call runs under one lock, on a non-blocking socket; the waits for the socket happen
    outside the lock. Offers what the TX/RX back-ends and :func:`peer_gone` use of a socket."""

    def __init__(self, sock: ssl.SSLSocket) -> None:
        self.tls = sock
        self.lock = threading.Lock()
        self.timeout: float | None = None
        sock.setblocking(False)

    def fileno(self) -> int:
        return self.tls.fileno()

    def settimeout(self, t: float | None) -> None:
        self.timeout = t

    def gettimeout(self) -> float | None:
        return self.timeout

    def _call(self, fn: Callable[[], Any], reading: bool) -> Any:
        """``fn`` under the lock until it does not want to wait; the waits (for reading or
        writing, as TLS asks) outside it, within the timeout."""
        until = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            with self.lock:
                try:
                    return fn()
                except ssl.SSLWantReadError:
                    want_read = True
                except ssl.SSLWantWriteError:
                    want_read = False
            left = None if until is None else until - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError("timed out")
            fd = self.tls.fileno()
            if fd < 0:
                raise OSError(errno.EBADF, "connection closed")
            select.select([fd] if want_read else [], [] if want_read else [fd], [fd],
                          1.0 if left is None else min(left, 1.0))

    def recv_into(self, buf: Any, nbytes: int = 0) -> int:
        return self._call(lambda: self.tls.recv_into(buf, nbytes), True)

    def sendall(self, data: Any) -> None:
        mv = memoryview(data).cast("B")
        while len(mv):
            n = self._call(functools.partial(self.tls.send, mv), False)
            mv = mv[n:]

    def recv(self, n: int, flags: int = 0) -> bytes:
        """``flags`` with MSG_DONTWAIT: what is there now (BlockingIOError when nothing is)."""
        if flags & socket.MSG_DONTWAIT:
            with self.lock:
                try:
                    return self.tls.recv(n)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    raise BlockingIOError(errno.EAGAIN, "nothing to read") from None
        return self._call(lambda: self.tls.recv(n), True)

    def send(self, data: bytes, flags: int = 0) -> int:
        """``flags`` with MSG_DONTWAIT: send now or not at all (BlockingIOError)."""
        if flags & socket.MSG_DONTWAIT:
            with self.lock:
                try:
                    return self.tls.send(data)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    raise BlockingIOError(errno.EAGAIN, "no room") from None
        return self._call(lambda: self.tls.send(data), False)

    def getsockopt(self, *args: Any) -> Any:
        return self.tls.getsockopt(*args)

    def shutdown(self, how: int) -> None:
        """The TCP connection's shutdown (wakes a thread waiting on it); TLS state is left alone."""
        socket.socket.shutdown(self.tls, how)

    def close(self) -> None:
        with self.lock:
            self.tls.close()


class Heartbeats:
    """The thread that sends the heartbeats RX endpoints owe, each from the end of its handshake
    (:meth:`add`) until :meth:`stop`, whatever the actors do meanwhile (the other edges'
    handshakes, building C actors, a firing that takes minutes)."""

    def __init__(self) -> None:
        self.rx: list[Endpoint] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def add(self, ep: Endpoint) -> None:
        if not ep.heartbeats:
            return
        with self._lock:
            self.rx = self.rx + [ep]
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="vrprune:heartbeats", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(min(HEARTBEAT_S, 0.25)):
            for ep in self.rx:
                if not ep.stopping.is_set():
                    send_heartbeat(ep)

    def stop(self) -> None:
        self._stop.set()


def send_heartbeat(ep: Endpoint) -> None:
    """An RX's heartbeat, when one is due (never blocks; a full buffer skips it)."""
    now = time.monotonic()
    if ep.heartbeats and now - ep.last_beat >= HEARTBEAT_S:
        ep.last_beat = now
        try:
            ep.sock.send(b"\0", socket.MSG_DONTWAIT)
        except OSError:
            pass  # a broken connection is the RX firing's to report
