"""Run this host's share of a distributed graph (``vrprune run APP --mapping HOST.map``): connect
the links, run, close; returns a :class:`HostResult` that commands/run.py renders."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..diagnostics import VrpruneError
from ..exec import RunOptions, RunResult, make_runtime, pinned_cores
from ..links import LinkSpec, parse_link
from ..model import Graph
from . import _wire as w
from ._auth import TlsFiles, check_private, read_psk
from ._options import SOCKET_BUFFER, NetOptions
from ._split import Split
from ._txrx import (
    Endpoint,
    Heartbeats,
    LinkStopped,
    RxBackend,
    Security,
    TxBackend,
    accept_edge,
    connect_edge,
    listen,
    peer_gone,
)


def listen_address(host_address: str, listen_all: bool) -> str:
    """Where RX sockets listen: the address the platform file gives this host (the one its TX
    peers connect to), or every interface with --listen-all."""
    if listen_all:
        return "::" if ":" in host_address else "0.0.0.0"
    return host_address


def _link_spec(text: str | None, sp: Split) -> LinkSpec | None:
    if not text:
        return None
    if text != "platform":
        return parse_link(text)
    me = sp.mapping.this_host
    for e in sp.outgoing:
        for ln in sp.mapping.platform.links:
            if {ln.a, ln.b} == {me, e.dst_host.name} and ln.bandwidth_Bps:
                return LinkSpec(ln.preset or "platform", ln.bandwidth_Bps, ln.latency_s or 0.0)
    return None


def prepare(sp: Split, net: NetOptions, log: Callable[[str], None]) -> tuple[LinkSpec | None, Security]:
    """The link to emulate and the security of this host's connections, from ``net``, checked
    before anything connects (a key file others may read, a missing TLS file: VrpruneError)."""
    link = _link_spec(net.link, sp)
    sec = Security()
    if net.psk_file:
        sec.psk = read_psk(net.psk_file, warn=log, insecure=net.insecure_key_perms)
    tls_files = (net.tls_cert, net.tls_key, net.tls_ca)
    if any(tls_files):
        if not all(tls_files):
            raise VrpruneError("TLS needs all three of --tls-cert, --tls-key and --tls-ca")
        sec.tls = TlsFiles(*tls_files)  # type: ignore[arg-type]
        for f in tls_files:
            if not os.path.exists(f):  # type: ignore[arg-type]
                raise VrpruneError(f"TLS file {f} does not exist (see `vrprune keygen --tls DIR`)")
        check_private(net.tls_key, "TLS key file", net.insecure_key_perms, log)  # type: ignore[arg-type]
    return link, sec


@dataclass
class EdgeStats:
    """One crossing edge of this host after the run: who sent or received how much."""

    name: str
    index: int
    port: int
    role: str  # "tx": this host sent, "rx": it received
    actor: str  # the TX or RX actor on this host
    peer: str | None
    frames: int
    bytes: int
    stream_Bps: float | None  # from the first frame to the last

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "port": self.port, "role": self.role, "actor": self.actor, "peer": self.peer,
                "frames": self.frames, "bytes": self.bytes, "stream_Bps": self.stream_Bps}


@dataclass
class HostResult:
    """What :func:`run_distributed` returns: how this host's share ended, for the caller to render.

    ``outcome``: ``"ok"``; ``"setup"`` (a core this process may not use, a runtime that cannot be
    built: nothing ran); ``"link"`` (a link failed to connect); ``"interrupted"`` (a signal: see
    ``signal``, ``phase``); ``"failed"`` (an actor or a peer failed: ``errors``); or the run's own
    status (``"deadlock"``, ``"hung"``, ...: see ``run``). ``errors``: what went wrong, one message
    each; ``tracebacks``: for each error, the failed actor's traceback where it helps (None for a
    peer, a TX/RX, whose message says it all, and a failure of the runtime itself)."""

    outcome: str
    errors: list[str] = field(default_factory=list)
    tracebacks: list[str | None] = field(default_factory=list)
    signal: int | None = None
    phase: str = "run"  # where a signal arrived: "connecting", "setup" or "run"
    run: RunResult | None = None
    edges: list[EdgeStats] = field(default_factory=list)
    host: str = ""
    mapping: str = ""
    link: LinkSpec | None = None
    started: float = 0.0  # time.time() when the run started (outputs written since are this run's)

    def dist_info(self) -> dict[str, Any]:
        """The ``dist`` section of a profile (``otherData`` of a trace): host, link, edges."""
        return {"host": self.host, "mapping": self.mapping,
                "link": None if self.link is None else {"bandwidth_Bps": self.link.bandwidth_Bps,
                                                        "latency_s": self.link.latency_s},
                "edges": {e.name: e.to_json() for e in self.edges}}


def run_distributed(graph: Graph, sp: Split, *, repetition: dict[str, int], link: LinkSpec | None,
                    security: Security, net: NetOptions, run: RunOptions,
                    log: Callable[[str], None]) -> HostResult:
    """Run this host's share ``sp.local`` of the proved ``graph``: connect every TX/RX link,
    run, close. ``log`` gets the progress of the connections; what happened is in the result."""
    g, m = graph, sp.mapping
    res = HostResult("ok", host=m.this_host, mapping=m.name, link=link)
    if run.pin:  # a core this process may not use: said before any connection
        try:
            pinned_cores(sp.local, sp.units)
        except VrpruneError as exc:
            res.outcome, res.errors = "setup", [str(exc)]
            return res

    fp = w.fingerprint(g)
    base = net.port_base if net.port_base is not None else m.platform.base_port
    listen_addr = listen_address(sp.this_host.address, net.listen_all)
    log(f"graph '{g.name}' (fingerprint {fp.hex()[:12]}), {len(sp.local.actors)} local actors, "
        f"{len(sp.outgoing)} TX, {len(sp.incoming)} RX" + (f", link {link}" if link else ""))

    # signals: SIGTERM behaves as Ctrl-C; both stop the run cleanly
    got_signal: list[int] = []
    old: dict[int, Any] = {}

    def on_signal(signum, frame):  # noqa: ARG001
        got_signal.append(signum)
        raise KeyboardInterrupt

    def interrupted(phase: str) -> HostResult:
        res.outcome, res.phase = "interrupted", phase
        res.signal = got_signal[0] if got_signal else int(signal.SIGINT)
        return res

    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGINT, signal.SIGTERM):
            old[s] = signal.signal(s, on_signal)

    listeners: dict[int, Any] = {}
    endpoints: list[Endpoint] = []
    beats = Heartbeats()  # an RX's, from the end of its handshake
    try:
        try:
            endpoints = _connect(sp, base, listen_addr, fp, security, net.connect_timeout, listeners, log,
                                 net.socket_buffer, beats)
        except KeyboardInterrupt:
            return interrupted("connecting")
        except w.DistError as exc:
            res.outcome, res.errors = "link", [str(exc)]
            return res
        finally:
            for ls in listeners.values():
                ls.close()
        log("all links connected; running")
        _execute(res, run, sp, endpoints, link, repetition, log, got_signal)
        if res.outcome == "interrupted" and res.signal is None:
            return interrupted("run")
        return res
    except KeyboardInterrupt:  # a signal outside the runtime's own handling (building the actors, ...)
        return interrupted("setup")
    finally:
        beats.stop()
        for ep in endpoints:
            ep.shutdown()
            ep.close()
        for signum, h in old.items():
            signal.signal(signum, h)


def _connect(sp: Split, base: int, listen_addr: str, fp: bytes, sec: Security, timeout: float,
             listeners: dict[int, Any], log, buffer: int = SOCKET_BUFFER,
             beats: Heartbeats | None = None) -> list[Endpoint]:
    deadline = time.monotonic() + timeout
    for e in sp.incoming:  # listen first, so that peers' TX can connect at once
        listeners[e.index] = listen(listen_addr, e.port(base), buffer)
    cancel = threading.Event()
    results: dict[str, Endpoint] = {}
    errors: list[BaseException] = []

    def job(kind: str, e) -> None:
        try:
            if kind == "rx":
                ep = accept_edge(listeners[e.index], e, e.port(base), fp, sec, deadline, cancel, log)
                if beats is not None:
                    beats.add(ep)  # at once: the TX may start long before this host's other edges connect
            else:
                ep = connect_edge(e, e.port(base), fp, sec, deadline, cancel, log, buffer)
            results[f"{kind}{e.index}"] = ep
        except LinkStopped:
            pass
        except BaseException as exc:
            errors.append(exc)
            cancel.set()

    threads = [threading.Thread(target=job, args=("rx", e), daemon=True) for e in sp.incoming]
    threads += [threading.Thread(target=job, args=("tx", e), daemon=True) for e in sp.outgoing]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.1)
    except BaseException:
        cancel.set()
        for t in threads:
            t.join(1.0)
        for ep in results.values():
            ep.close()
        raise
    if errors:
        for ep in results.values():
            ep.close()
        first = errors[0]
        raise first if isinstance(first, w.DistError) else w.DistError(str(first))
    return list(results.values())


def _execute(res: HostResult, run: RunOptions, sp: Split, endpoints: list[Endpoint], link: LinkSpec | None,
             repetition: dict[str, int], log: Callable[[str], None], got_signal: list[int]) -> None:
    by_edge_tx = {ep.edge.index: ep for ep in endpoints if ep.edge in sp.outgoing}
    by_edge_rx = {ep.edge.index: ep for ep in endpoints if ep.edge in sp.incoming}
    local = {a.name: a for a in sp.local.actors}
    backends: dict[str, Any] = {}
    txs: list[TxBackend] = []
    for e in sp.outgoing:
        be = TxBackend(local[e.tx], by_edge_tx[e.index], link)
        backends[e.tx] = be
        txs.append(be)
    for e in sp.incoming:
        backends[e.rx] = RxBackend(local[e.rx], by_edge_rx[e.index])
    try:  # the Runtime joins every TX/RX back-end to its FIFO while it is built
        rt = make_runtime(sp.local, run, repetition=repetition, backends=backends, units=sp.units, warn=log)
    except VrpruneError as exc:
        if hasattr(exc, "diagnostics"):
            raise
        res.outcome, res.errors = "setup", [str(exc)]
        return

    # Watcher: a stopping run closes the sockets (wakes RX threads blocked in recv), and a TX
    # whose RX went away stops the run (a TX may otherwise sit waiting for input tokens).
    done = threading.Event()
    peer_errors: list[str] = []

    def watch() -> None:
        fifos = list(rt.fifos.values())
        while not done.wait(0.05):
            if any(getattr(f, "aborted", False) for f in fifos):
                break
            for be in txs:
                # sent_end again after peer_gone: the TX may have sent END, and the RX closed,
                # between the first test and the poll
                gone = None if be.sent_end or be.ep.stopping.is_set() else peer_gone(be.ep)
                if gone and not be.sent_end:
                    be._sync()
                    peer_errors.append(f"{be.ep.label}: the RX side on host '{be.ep.edge.dst_host.name}' "
                                       f"{gone} mid-stream after {be.seq} frames")
                    rt.abort()
                    break
            else:
                continue
            break
        if not done.is_set():
            for ep in endpoints:
                ep.shutdown()

    watcher = threading.Thread(target=watch, name="vrprune:dist-watch", daemon=True)
    watcher.start()
    rr: RunResult | None
    try:
        res.started = time.time()
        rr = rt.run()
    except KeyboardInterrupt:  # a signal between the runtime's own handlers
        rt.abort()
        rr = None
    done.set()
    for ep in endpoints:
        if not (ep.edge in sp.outgoing and backends[ep.edge.tx].sent_end):
            ep.shutdown()
    watcher.join(2.0)
    res.edges = _edge_stats(sp, endpoints)
    if rr is None:
        res.outcome = "interrupted"  # the caller fills in the signal
        return
    res.run = rr
    real = [f for f in rr.failures if not f.message.endswith(": stopped")]
    if got_signal:
        res.outcome, res.signal = "interrupted", got_signal[0]
    elif peer_errors or real:
        res.outcome = "failed"
        res.errors = peer_errors + [str(f) for f in real]
        none: list[str | None] = [None] * len(peer_errors)
        res.tracebacks = none + [
            f.traceback if f.traceback and f.phase != "runtime"
            and not isinstance(backends.get(f.actor), (TxBackend, RxBackend)) else None for f in real]
    else:
        res.outcome = rr.status


def _edge_stats(sp: Split, endpoints: list[Endpoint]) -> list[EdgeStats]:
    here = sp.mapping.this_host
    return [EdgeStats(ep.edge.name, ep.edge.index, ep.port, "tx" if ep.edge.src_host.name == here else "rx",
                      ep.edge.tx if ep.edge.src_host.name == here else ep.edge.rx, ep.peer, ep.frames, ep.bytes,
                      ep.stream_Bps)
            for ep in endpoints]


