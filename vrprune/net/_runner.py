"""``vrprune run APP --mapping HOST.map``: run this host's share of a distributed graph."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from typing import Any, Callable, TextIO

from .._words import plural
from ..diagnostics import VrpruneError
from ..exec import RunOptions, make_runtime, outputs_written, pinned_cores, profile_json, trace_json
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


def run_distributed(graph: Graph, sp: Split, *, repetition: dict[str, int], proof_line: str | None,
                    link: LinkSpec | None, security: Security, net: NetOptions, run: RunOptions,
                    trace_path: str | None = None, profile_path: str | None = None, quiet: bool = False,
                    log: Callable[[str], None], stdout: TextIO, stderr: TextIO) -> int:
    """Run this host's share ``sp.local`` of the proved ``graph``: connect every TX/RX link,
    run, close; returns the exit status (0 ok, 1 failed, 2 setup error, 128+signal)."""
    g, m = graph, sp.mapping
    if run.pin:  # a core this process may not use: said before any connection
        try:
            pinned_cores(sp.local, sp.units)
        except VrpruneError as exc:
            log(f"error: {exc}")
            return 2

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
            log("interrupted while connecting")
            return 128 + (got_signal[0] if got_signal else signal.SIGINT)
        except w.DistError as exc:
            log(f"error: {exc}")
            return 1
        finally:
            for ls in listeners.values():
                ls.close()
        log("all links connected; running")
        return _execute(run, g, sp, endpoints, link, repetition, log, stdout, stderr, got_signal,
                        proof_line=proof_line, trace_path=trace_path, profile_path=profile_path, quiet=quiet)
    except KeyboardInterrupt:  # a signal outside the runtime's own handling (building the actors, ...)
        log("interrupted")
        return 128 + (got_signal[0] if got_signal else signal.SIGINT)
    finally:
        beats.stop()
        for ep in endpoints:
            ep.shutdown()
            ep.close()
        for s, h in old.items():
            signal.signal(s, h)


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


def _execute(run: RunOptions, g: Graph, sp: Split, endpoints: list[Endpoint], link, repetition, log, stdout,
             stderr, got_signal, *, proof_line: str | None, trace_path: str | None, profile_path: str | None,
             quiet: bool) -> int:
    by_edge_tx = {ep.edge.index: ep for ep in endpoints if ep.edge in sp.outgoing}
    by_edge_rx = {ep.edge.index: ep for ep in endpoints if ep.edge in sp.incoming}
    local = {a.name: a for a in sp.local.actors}
    backends: dict[str, Any] = {}
    txs: list[TxBackend] = []
    for e in sp.outgoing:
        be = TxBackend(local[e.tx], by_edge_tx[e.index], link)
        backends[e.tx] = be
        txs.append(be)
    rxs: list[RxBackend] = []
    for e in sp.incoming:
        backends[e.rx] = be = RxBackend(local[e.rx], by_edge_rx[e.index])
        rxs.append(be)
    warn = lambda msg: log(msg)  # noqa: E731
    try:
        rt = make_runtime(sp.local, run, repetition=repetition, backends=backends, units=sp.units, warn=warn)
    except VrpruneError as exc:
        if hasattr(exc, "diagnostics"):
            raise
        log(f"error: {exc}")
        return 2
    for be, e in zip(txs, sp.outgoing):
        be.fifo = rt.fifos.get(e.fifo.name)
        be.run_stopping = lambda: rt.stopping
    for rb, e in zip(rxs, sp.incoming):
        rb.fifo = rt.fifos.get(e.fifo.name)

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
    try:
        started = time.time()
        res = rt.run()
    except KeyboardInterrupt:  # a signal between the runtime's own handlers
        rt.abort()
        res = None
    done.set()
    for ep in endpoints:
        if not (ep.edge in sp.outgoing and backends[ep.edge.tx].sent_end):
            ep.shutdown()
    watcher.join(2.0)
    if res is None:
        log("interrupted")
        return 128 + (got_signal[0] if got_signal else signal.SIGINT)

    real = [f for f in res.failures if not f.message.endswith(": stopped")]
    for path, doc in ((trace_path, lambda: trace_json(res, g.name)), (profile_path, lambda: profile_json(res, g.name))):
        if path:
            d = doc()
            d.setdefault("otherData" if path == trace_path else "dist", {}).update(_dist_info(sp, endpoints, link))
            _write_json(path, d)
    code = 0
    if got_signal:
        log("interrupted: threads joined, sockets closed")
        code = 128 + got_signal[0]
    elif peer_errors or real:
        for msg in peer_errors:
            log(f"error: {msg}")
        for f in real:
            log(f"error: {f}")
            if f.traceback and not isinstance(backends.get(f.actor), (TxBackend, RxBackend)) and f.phase != "runtime":
                print("  " + f.traceback.rstrip().replace("\n", "\n  "), file=stderr)
        code = 1
    elif res.status == "deadlock":
        print(res.describe(), file=stderr)
        code = 1
    elif res.status != "ok":
        log(res.describe())
        code = res.exit_code
    if not quiet:
        stdout.write(_summary(g.name, sp, res, endpoints, code) + (f"  {proof_line}\n" if proof_line else "") +
                     "".join(f"  {line}\n" for line in outputs_written(sp.local, started)))
    return code


def _dist_info(sp: Split, endpoints: list[Endpoint], link) -> dict[str, Any]:
    here = sp.mapping.this_host
    return {"host": here, "mapping": sp.mapping.name,
            "link": None if link is None else {"bandwidth_Bps": link.bandwidth_Bps, "latency_s": link.latency_s},
            "edges": {ep.edge.name: {"index": ep.edge.index, "port": ep.port,
                                     "role": "tx" if ep.edge.src_host.name == here else "rx",
                                     "actor": ep.edge.tx if ep.edge.src_host.name == here else ep.edge.rx,
                                     "peer": ep.peer, "frames": ep.frames, "bytes": ep.bytes,
                                     "stream_Bps": ep.stream_Bps}
                      for ep in endpoints}}


def _summary(name: str, sp: Split, res, endpoints: list[Endpoint], code: int) -> str:
    total = sum(res.firings.values())
    status = res.status if code == 0 or res.status != "ok" else "error"
    lines = [f"graph {name} on host {sp.mapping.this_host}: {status} ({plural(total, 'firing')} in {res.wall_s:.3f} s)"]
    width = max((len(a) for a in res.firings), default=0)
    for a, n in res.firings.items():
        lines.append(f"  {a:<{width}}  {plural(n, 'firing')}")
    for ep in endpoints:
        role = "sent" if ep.edge.src_host.name == sp.mapping.this_host else "received"
        rate = ep.stream_Bps
        lines.append(f"  edge {ep.edge.name} (port {ep.port}): {role} {ep.frames} frames, {ep.bytes} bytes"
                     + (f" ({rate / 1e6:.1f} MB/s from the first frame to the last)" if rate else ""))
    return "\n".join(lines) + "\n"


def _write_json(path: str, doc: dict) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    os.replace(tmp, path)
