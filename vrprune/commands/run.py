"""`vrprune run FILE`: execute a proved graph, one thread per actor."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, TextIO

from ..argtypes import param_override, whole_number
from ..diagnostics import VrpruneError
from ..pipeline import ProveOptions, load_app, prove_or_refuse
from ._gate import refused

if TYPE_CHECKING:
    from ..exec import DeviceEmulation, RunOptions
    from ..net import HostResult, NetOptions, Split

EXIT_CODES = """exit codes:
  0    the run ended cleanly
  1    the graph is refuted (not run), or the run deadlocked or an actor hung (watchdog) or failed
  2    usage or input error
  3    the checker was inconclusive (not run)
  143  stopped by SIGTERM, as by Ctrl-C (130): the actors stop, outputs, trace and profile are written
"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("run", help="run a proved graph: one thread per actor (C, OpenCL C or Python actors)",
                       description="Run a graph that `vrprune check` proves free of deadlock and overflow: one thread "
                                   "per actor, bounded FIFOs with the capacities of the graph. The run ends after "
                                   "--iterations graph iterations, or when the sources return END.")
    p.add_argument("file", help="the application graph (.vpr or SDF3 XML)")
    p.add_argument("--graph", help="which graph, when the file defines several")
    add_param_argument(p)
    p.add_argument("--iterations", type=int, metavar="N",
                   help="run N graph iterations (actor a fires q[a]*N times); default: until the sources end")
    p.add_argument("--unchecked", action="store_true", help="run without proving the graph first (warns)")
    p.add_argument("--trace", metavar="OUT.json", help="write a Chrome/Perfetto trace (firings, fifo fill levels)")
    p.add_argument("--profile", metavar="OUT.json", help="write per-actor firing times (schema vrprune/profile/1)")
    p.add_argument("--watchdog", type=float, default=10.0, metavar="T",
                   help="stop the run and report it when no actor fires for T seconds (a deadlock: the waits are "
                        "listed) or when one actor stays inside one firing for T seconds (a hung actor: named, with "
                        "its firing) (default 10; 0 turns it off)")
    p.add_argument("--replay", metavar="CX.json",
                   help="force the rate choices of a `vrprune check --counterexample` file (implies --unchecked)")
    p.add_argument("--stub-missing", action="store_true",
                   help="actors without an implementation zero-fill their outputs (structural runs)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="checker time limit (default 60)")
    p.add_argument("--quiet", "-q", action="store_true", help="no summary on stdout")
    p.add_argument("--sanitize", action="store_true",
                   help="build C actors with -fsanitize=address,undefined and re-run with libasan preloaded: an "
                        "actor reading or writing past its buffers is reported (as `vrprune fuzz --sanitize`)")
    p.add_argument("--processes", type=processes_choice, default="auto", metavar="auto|none|all|NAME,...",
                   help="run Python actors in worker processes joined by shared-memory FIFOs, so they use every "
                        "core: auto (default: Python actors with 64 KiB or more of tokens per firing, when two or "
                        "more qualify and this process may use 2+ cores: a process each, or cores+1 processes of "
                        "consecutive actors on few cores; docs/processes.md), all Python actors, none (threads "
                        "only), or a list of actors and mapping units (A+B: one process for both; a unit: one "
                        "process for its actors)")
    e = p.add_argument_group("slower-device emulation (docs/explore.md)")
    e.add_argument("--slowdown", type=slowdown_factor, default=1.0, metavar="F",
                   help="emulate a device F times slower: after each actor firing that took t s, the actor sleeps "
                        "(F-1)*t (F >= 1, default 1; TX/RX actors of a --mapping run are not slowed)")
    e.add_argument("--endpoint-cores", type=core_count, default=0, metavar="C",
                   help="emulate a device with C cores: at most C actor firings at a time (default 0: no bound)")
    e.add_argument("--spans", metavar="OUT.json",
                   help="write every actor firing's start and end (time.perf_counter: CLOCK_MONOTONIC, comparable "
                        "between processes of one machine) and each actor's time inside fire before the slowdown; "
                        "`vrprune explore` measures with it")
    dist = _add_dist_arguments(p)  # --mapping, --link, --port-base, --listen-all, --psk-file, --tls-*
    # what a run without --mapping must not be given (each would be ignored)
    p.set_defaults(_dist_only=[(a.option_strings[-1], a.dest, a.default) for a in dist if a.dest != "mapping"])
    return p


def _add_dist_arguments(p) -> list[argparse.Action]:
    """The options of distributed runs (docs/distributed.md); returns their actions."""
    from ..net import SOCKET_BUFFER

    g = p.add_argument_group("distributed runs (docs/distributed.md)")
    return [
        g.add_argument("--mapping", metavar="HOST.map",
                       help="run only the actors this mapping places on its host; edges to other hosts become "
                            "TX/RX socket pairs"),
        g.add_argument("--port-base", type=int, metavar="PORT",
                       help="TCP port of edge 0 (edge i uses PORT+i); default: the platform's base_port"),
        g.add_argument("--listen-all", action="store_true",
                       help="RX sockets listen on all interfaces (default: only on this host's address in the "
                            "platform file)"),
        g.add_argument("--socket-buffer", type=whole_number("a whole number of bytes, such as 4194304",
                                                            "0 = the kernel's autotuning"),
                       default=SOCKET_BUFFER, metavar="BYTES",
                       help="send and receive buffer of each TX/RX socket (default 4194304; 0: the kernel's "
                            "autotuning; Linux caps it at net.core.wmem_max/rmem_max)"),
        g.add_argument("--pin", action="store_true",
                       help="run each actor on the CPU core its mapping's unit names (`cpu NAME core N`), as "
                            "compiled programs do with --pin (Linux; TX/RX and OpenCL actors are left to the "
                            "scheduler)"),
        g.add_argument("--connect-timeout", type=float, default=30.0, metavar="SECONDS",
                       help="how long RX waits for its TX and TX retries its RX (default 30)"),
        g.add_argument("--link", metavar="PRESET|BW,LAT",
                       help="emulate a link on TX: ethernet100, wifi16, wifi72, loopback, platform, or e.g. "
                            "11.2MB/s,1.3ms"),
        g.add_argument("--psk-file", metavar="FILE", help="pre-shared key (HMAC-SHA256 challenge-response); "
                                                          "`vrprune keygen --psk FILE` writes one"),
        g.add_argument("--tls-cert", metavar="PEM", help="this host's certificate (TLS with mutual authentication)"),
        g.add_argument("--tls-key", metavar="PEM", help="this host's private key"),
        g.add_argument("--tls-ca", metavar="PEM", help="the CA that signed every host's certificate"),
        g.add_argument("--insecure-key-perms", action="store_true",
                       help="use a --psk-file or --tls-key that other users may read (refused by default; "
                            "chmod 600 it instead)"),
    ]


def add_param_argument(p) -> None:
    """``--param ACTOR.NAME=VALUE`` (repeatable), shared by run, fuzz, explore and compile."""
    p.add_argument("--param", type=param_override, action="append", default=[], metavar="ACTOR.NAME=VALUE",
                   help="give the declared parameter NAME of ACTOR this value instead of the file's (repeatable; "
                        "the file is not changed), e.g. --param Src.frames=100")


def processes_choice(text: str) -> str | list[str]:
    """argparse type of ``--processes``: auto, none, all, or a comma-separated list of names."""
    t = text.strip()
    if t in ("auto", "none", "all"):
        return t
    items = [s.strip() for s in t.split(",")]
    if not t or any(not s or any(not n.strip() for n in s.split("+")) for s in items):
        raise argparse.ArgumentTypeError(f"expected auto, none, all or a comma-separated list of actor or unit "
                                         f"names (A+B runs A and B in one process), got {text!r}")
    return [s.replace(" ", "") for s in items]


def slowdown_factor(text: str) -> float:
    """argparse type of ``--slowdown``: a finite number >= 1."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 1 (a factor, such as 2 or 2.5), got {text!r}") from None
    if not math.isfinite(v) or v < 1.0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 1 (1 = full speed), got {text!r}")
    return v


core_count = whole_number("a whole number >= 0", "0 = no bound")  # argparse type of --endpoint-cores


def emulation_of(args) -> DeviceEmulation | None:
    """The :class:`~vrprune.exec.DeviceEmulation` of ``--slowdown``, ``--endpoint-cores`` and
    ``--spans``, or None when none is given (local and distributed runs alike)."""
    from ..exec import DeviceEmulation

    emu = DeviceEmulation(getattr(args, "slowdown", 1.0), getattr(args, "endpoint_cores", 0),
                          spans=bool(getattr(args, "spans", None)))
    return emu if emu.active else None


@dataclass(frozen=True)
class Replay:
    """What ``--replay CX.json`` gives: the rate choices to force and, for a deadlock, the stuck
    state the checker found (firing counts and fill levels), to compare the run with."""

    path: str
    atr: dict[str, list[int]]
    kind: str | None
    counts: dict[str, int] | None
    fills: dict[str, int] | None


def _read_replay(path: str) -> Replay:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        raise VrpruneError(f"cannot read counterexample {path}: {exc}") from exc
    atr = data.get("atr") if isinstance(data, dict) else None
    if not isinstance(atr, dict) or not all(isinstance(v, list) and all(isinstance(x, int) for x in v)
                                            for v in atr.values()):
        raise VrpruneError(f"{path}: expected {{\"atr\": {{dpg: [atr, ...]}}}}, as `vrprune check --counterexample` "
                           f"writes")

    def table(key: str) -> dict[str, int] | None:
        t = data.get(key)
        ok = isinstance(t, dict) and all(isinstance(v, int) for v in t.values())
        return dict(t) if ok else None

    kind = data.get("kind")
    return Replay(path, {k: list(v) for k, v in atr.items()}, kind if isinstance(kind, str) else None,
                  table("counts"), table("fills"))


def _check_replay(path: str, atr: dict[str, list[int]], g: Any) -> None:
    """Every rate choice of a replay file lies in its DPG's [lrl, url] (a choice outside would
    corrupt the FIFOs' counts, and one beyond 64 bits cannot even be stored)."""
    from ..exec import dpg_rate_ranges

    ranges = dpg_rate_ranges(g)
    for dpg, values in atr.items():
        if dpg not in ranges:
            known = ", ".join(sorted(ranges)) or "none"
            raise VrpruneError(f"{path}: rate choices for DPG '{dpg}', which graph '{g.name}' does not have "
                               f"(its DPGs: {known}); was the counterexample written for another graph?")
        lo, hi = ranges[dpg]
        for i, v in enumerate(values):
            if isinstance(v, bool) or not lo <= v <= hi:
                shown = repr(v) if isinstance(v, bool) or abs(v) < 10**30 else f"a number of {len(str(abs(v)))} digits"
                raise VrpruneError(f"{path}: rate choice {i + 1} of DPG '{dpg}' is {shown}, outside the DPG's "
                                   f"rate range [{lo}, {hi}]; fix the file or write it again with "
                                   f"`vrprune check --counterexample`")


def _replay_iterations(g: Any, rp: Replay) -> int | None:
    """Iterations enough for every actor to fire more often than in the counterexample's stuck
    state: the replay reaches that state before any actor stops at its limit (firing counts never
    pass it: every schedule of the same choices ends there), and it ends even where it would not."""
    from ..exec import InconsistentGraph, repetition_vector

    if rp.kind != "deadlock" or not rp.counts:
        return None
    try:
        q = repetition_vector(g)
    except InconsistentGraph:
        return None
    return max([1] + [n // max(q.get(a, 1), 1) + 1 for a, n in rp.counts.items()])


def _replay_outcome(rp: Replay, res: Any) -> str:
    """How the run's end compares with the counterexample's stuck state."""
    forced = ", ".join(f"{k}={v}" for k, v in rp.atr.items())
    forced = f"rate choices forced from {rp.path}: {forced}" if forced else \
        f"{rp.path} forces no rate choices (the graph has no DPG)"
    if rp.kind != "deadlock" or rp.counts is None:
        return f"note: {forced}"
    counts = res.firings
    fills = {n: f.get("left") for n, f in res.fifos.items()}
    diff = [f"{a} fired {counts.get(a, 0)} times, the counterexample {n}" for a, n in rp.counts.items()
            if counts.get(a, 0) != n]
    diff += [f"fifo {n} holds {fills.get(n)}, the counterexample {v}" for n, v in (rp.fills or {}).items()
             if fills.get(n) != v]
    if res.status == "deadlock" and not diff:
        return (f"replayed {rp.path}: the run reached the counterexample's stuck state (the same firing counts "
                f"and fill levels)\nnote: {forced}")
    return ("note: the run did not end in the counterexample's stuck state: " + "; ".join(diff or [res.status]) +
            f"\nnote: {forced}")


def run_options(args, **given: Any) -> RunOptions:
    """The typed :class:`~vrprune.exec.RunOptions` of run's arguments (``given`` overrides,
    such as the ``emulation`` made once by :func:`emulation_of`)."""
    opts = dict(iterations=args.iterations, trace=bool(args.trace), profile=bool(args.profile),
                watchdog_s=args.watchdog if args.watchdog and args.watchdog > 0 else None,
                stub_missing=args.stub_missing, processes=args.processes, pin=getattr(args, "pin", False))
    opts.update(given)
    from ..exec import RunOptions

    return RunOptions(**opts)


def run(args, stdout: TextIO, stderr: TextIO) -> int:
    from ..exec import make_runtime, outputs_written, profile_json, trace_json

    if getattr(args, "sanitize", False):
        code = _sanitize(args, stdout, stderr)
        if code is not None:
            return code
    emu = emulation_of(args)
    if getattr(args, "mapping", None):
        code = _run_mapped(args, emu, stdout, stderr)
        _write_spans(args, emu)
        return code
    if getattr(args, "pin", False):
        print("vrprune run: error: --pin takes the cores from a mapping; add --mapping HOST.map", file=stderr)
        return 2
    given = [flag for flag, dest, default in getattr(args, "_dist_only", ()) if getattr(args, dest, default) != default]
    if given:
        print(f"vrprune run: error: {', '.join(given)} {'applies' if len(given) == 1 else 'apply'} only to a "
              f"distributed run; add --mapping HOST.map (docs/distributed.md), or leave "
              f"{'it' if len(given) == 1 else 'them'} out", file=stderr)
        return 2
    from ..frontend import ParamError

    try:
        app = load_app(args.file, args.graph, args.param)
    except ParamError as exc:
        print(f"vrprune run: error: {exc}", file=stderr)
        return 2
    g = app.graph
    warn = lambda m: print(m, file=stderr)  # noqa: E731

    replay = None
    try:
        if args.replay:
            replay = _read_replay(args.replay)
            _check_replay(args.replay, replay.atr, g)
    except VrpruneError as exc:
        print(f"vrprune run: error: {exc}", file=stderr)
        return 2
    # a counterexample is about the graph's structure: actors without an implementation are stubbed
    stub_missing = args.stub_missing or replay is not None
    stub_sources = [a.name for a in g.actors if a.impl is None and not a.inputs] if stub_missing else []
    iterations = args.iterations
    if iterations is None and replay is not None:
        iterations = _replay_iterations(g, replay)
    if stub_sources and iterations is None:
        print(f"vrprune run: error: {_names('source', stub_sources)} no implementation: a stub never ends the "
              f"stream, so this run would never end; give --iterations N", file=stderr)
        return 2

    if args.unchecked or replay is not None:
        why = "--unchecked" if args.unchecked else "--replay (a counterexample's graph is refuted)"
        warn(f"warning: running graph '{g.name}' without proving it ({why}): it may deadlock or overflow")
    gate = prove_or_refuse(app, ProveOptions(timeout_s=args.timeout, unchecked=args.unchecked or replay is not None))
    if not gate.ok:
        return refused(gate, stderr, f"vrprune run: refusing to run graph '{g.name}': the checker's verdict is "
                                     f"{gate.verdict} (see `vrprune check {args.file}`; --unchecked runs it anyway)")
    proof = gate.proof_line() if not (replay is not None and not args.unchecked) else \
        "not proved before the run (--replay): it may deadlock or overflow"

    progress = stderr if (not args.quiet and hasattr(stderr, "isatty") and stderr.isatty()) else None
    try:
        rt = make_runtime(g, run_options(args, iterations=iterations, replay=replay.atr if replay else None,
                                         stub_missing=stub_missing, emulation=emu),
                          repetition=gate.repetition(), warn=warn, progress=progress)
    except VrpruneError as exc:
        if hasattr(exc, "diagnostics"):
            raise
        print(f"vrprune run: error: {exc}", file=stderr)
        return 2
    if args.iterations is None and not any(not t.in_specs and t.ctrl_in is None for t in rt.threads):
        warn("warning: no --iterations and no source actor: the run ends only by end of stream or Ctrl-C")

    started = time.time()
    with _sigterm_as_interrupt() as got_sigterm:
        res = rt.run()

    for path, doc in ((args.trace, lambda: trace_json(res, g.name)), (args.profile, lambda: profile_json(res, g.name))):
        if path:
            _write_json(path, doc())
    _write_spans(args, emu)
    if res.status in ("deadlock", "hung"):
        print(res.describe(), file=stderr)
    elif res.status == "error":
        for f in res.failures:
            print(f"error: {f}", file=stderr)
            if f.traceback and f.phase != "runtime" and not f.message.startswith("returned"):
                print("  " + f.traceback.rstrip().replace("\n", "\n  "), file=stderr)
    elif res.status == "interrupted":
        print("vrprune run: " + res.describe(), file=stderr)
    if replay is not None:
        print(_replay_outcome(replay, res), file=stderr)
    if not args.quiet:
        stdout.write(_summary(g.name, res, args.iterations) + f"  {proof}\n" +
                     "".join(f"  {line}\n" for line in outputs_written(g, started)))
    if got_sigterm and res.status == "interrupted":
        return 128 + signal.SIGTERM
    return res.exit_code


class _HostLog:
    """stderr lines of a distributed run, prefixed with this host's name (one writer at a time)."""

    def __init__(self, stream: TextIO, host: str) -> None:
        self.stream, self.host, self.lock = stream, host, threading.Lock()

    def __call__(self, msg: str) -> None:
        with self.lock:
            print(f"vrprune run [{self.host}]: {msg}", file=self.stream, flush=True)


def net_options(args) -> NetOptions:
    """The typed :class:`~vrprune.net.NetOptions` of run's distributed arguments."""
    from ..net import NetOptions

    return NetOptions(link=args.link, port_base=args.port_base, listen_all=args.listen_all,
                      socket_buffer=args.socket_buffer, connect_timeout=args.connect_timeout,
                      psk_file=args.psk_file, tls_cert=args.tls_cert, tls_key=args.tls_key, tls_ca=args.tls_ca,
                      insecure_key_perms=args.insecure_key_perms)


def _run_mapped(args, emu: DeviceEmulation | None, stdout: TextIO, stderr: TextIO) -> int:
    """``run --mapping``: this host's share of the graph, through the same gate, proving the
    split graph (TX/RX inserted; every host proves the same one)."""
    from ..exec import repetition_vector
    from ..net import prepare, run_distributed

    try:
        app = load_app(args.file, args.graph, args.param, args.mapping, dynamic=True)
    except VrpruneError as exc:
        if hasattr(exc, "diagnostics"):
            raise
        print(f"vrprune run: error: {exc}", file=stderr)
        return 2
    g, sp = app.graph, app.split
    assert sp is not None and app.mapping is not None
    log = _HostLog(stderr, app.mapping.this_host)
    net = net_options(args)
    try:
        link, sec = prepare(sp, net, log)
        if args.replay:
            raise VrpruneError("--replay is not supported with --mapping")
    except VrpruneError as exc:
        print(f"vrprune run: error: {exc}", file=stderr)
        return 2
    if args.unchecked:
        log(f"warning: running graph '{g.name}' without proving it (--unchecked): it may deadlock or overflow")
    gate = prove_or_refuse(app, ProveOptions(timeout_s=args.timeout, unchecked=args.unchecked))
    if not gate.ok:
        return refused(gate, stderr, f"vrprune run: refusing to run graph '{g.name}' split by mapping "
                                     f"'{app.mapping.name}': the checker's verdict on the split graph (TX/RX "
                                     f"inserted) is {gate.verdict}")
    repetition = gate.repetition() or sp.local_repetition(repetition_vector(sp.proof))
    res = run_distributed(g, sp, repetition=repetition, link=link, security=sec, net=net,
                          run=run_options(args, emulation=emu), log=log)
    return _host_report(res, args, g.name, sp, gate.proof_line(), log, stdout, stderr)


def _host_report(res: HostResult, args, name: str, sp: Split, proof_line: str | None, log: _HostLog,
                 stdout: TextIO, stderr: TextIO) -> int:
    """``run --mapping``'s output (trace, profile, errors, the summary) and exit status, from
    what this host's run returned."""
    from ..exec import outputs_written, profile_json, trace_json

    rr = res.run
    if res.outcome == "interrupted" and (rr is None or res.phase != "run"):
        log("interrupted while connecting" if res.phase == "connecting" else "interrupted")
        return 128 + (res.signal or signal.SIGINT)
    if rr is None:  # nothing ran: a setup error (2) or a link that did not connect (1)
        for msg in res.errors:
            log(f"error: {msg}")
        return 2 if res.outcome == "setup" else 1
    for path, doc, key in ((args.trace, lambda: trace_json(rr, name), "otherData"),
                           (args.profile, lambda: profile_json(rr, name), "dist")):
        if path:
            d = doc()
            d.setdefault(key, {}).update(res.dist_info())
            _write_json(path, d)
    code = 0
    if res.outcome == "interrupted":
        log("interrupted: threads joined, sockets closed")
        code = 128 + (res.signal or signal.SIGINT)
    elif res.outcome == "failed":
        for msg, tb in zip(res.errors, res.tracebacks):
            log(f"error: {msg}")
            if tb:
                print("  " + tb.rstrip().replace("\n", "\n  "), file=stderr)
        code = 1
    elif rr.status == "deadlock":
        print(rr.describe(), file=stderr)
        code = 1
    elif rr.status != "ok":
        log(rr.describe())
        code = rr.exit_code
    if not args.quiet:
        stdout.write(_host_summary(name, sp, res, code) + (f"  {proof_line}\n" if proof_line else "") +
                     "".join(f"  {line}\n" for line in outputs_written(sp.local, res.started)))
    return code


def _host_summary(name: str, sp: Split, res: HostResult, code: int) -> str:
    from .._words import plural

    rr = res.run
    assert rr is not None
    total = sum(rr.firings.values())
    status = rr.status if code == 0 or rr.status != "ok" else "error"
    lines = [f"graph {name} on host {sp.mapping.this_host}: {status} ({plural(total, 'firing')} in {rr.wall_s:.3f} s)"]
    width = max((len(a) for a in rr.firings), default=0)
    for a, n in rr.firings.items():
        lines.append(f"  {a:<{width}}  {plural(n, 'firing')}{_dpg_words(rr.actors.get(a))}")
    for e in res.edges:
        rate = e.stream_Bps
        role = "sent" if e.role == "tx" else "received"
        lines.append(f"  edge {e.name} (port {e.port}): {role} {e.frames} frames, {e.bytes} bytes"
                     + (f" ({rate / 1e6:.1f} MB/s from the first frame to the last)" if rate else ""))
    return "\n".join(lines) + "\n"


_SANITIZED = "VRPRUNE_RUN_SANITIZED"


def _sanitize(args, stdout: TextIO, stderr: TextIO) -> int | None:
    """--sanitize: in a process with libasan loaded, build C actors with the sanitizers (None:
    go on with the run); otherwise re-run this command with libasan preloaded and return its
    exit code (1 when the sanitizer reported something)."""
    import shlex
    import subprocess
    import sys

    from ..exec import cflags
    from .fuzz import SANITIZE_FLAGS, _asan_loaded, _cc_file, _libasan

    if _asan_loaded() or os.environ.get(_SANITIZED):
        extra = [f for f in SANITIZE_FLAGS if f not in cflags()]
        os.environ["VRPRUNE_CFLAGS"] = shlex.join([f for f in cflags() if not f.startswith("-O")] + extra)
        return None
    lib = _libasan()
    argv = getattr(args, "_argv", None)
    if lib is None or argv is None:
        print("vrprune run: error: --sanitize needs the compiler's libasan.so (`cc -print-file-name=libasan.so` "
              "found none); install it (e.g. `apt-get install libasan8`) or preload it yourself: "
              "LD_PRELOAD=/path/to/libasan.so vrprune run --sanitize ...", file=stderr)
        return 2
    env = dict(os.environ)
    env["LD_PRELOAD"] = " ".join([lib] + [p for p in [_cc_file("libstdc++.so.6")] if p]
                                 + env.get("LD_PRELOAD", "").split())
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    env[_SANITIZED] = "1"
    cmd = [sys.executable, "-m", "vrprune", *argv]
    print(f"vrprune run: re-running with {os.path.basename(lib)} preloaded: {shlex.join(cmd)}", file=stderr)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    stdout.write(proc.stdout)
    stderr.write(proc.stderr)
    report = next((ln for ln in proc.stderr.splitlines()
                   if "ERROR: AddressSanitizer" in ln or "runtime error:" in ln or "SUMMARY: " in ln), None)
    if report is not None or proc.returncode < 0:
        what = report.strip() if report else f"the run died (signal {-proc.returncode})"
        print(f"vrprune run: sanitizer: {what} (full report above)", file=stderr)
        return 1
    return proc.returncode


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[list[int]]:
    """SIGTERM (a service manager's, `kill`'s) stops the run as Ctrl-C does: the runtime stops
    every actor, and the outputs, trace and profile are written; the list yielded holds the
    signal once it came (exit 143 then). Only in the main thread (where Python runs handlers)."""
    got: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield got
        return

    def on_sigterm(signum, frame):
        got.append(signum)
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield got
    finally:
        signal.signal(signal.SIGTERM, old)


def _names(what: str, names: list[str]) -> str:
    """"source actor 'A' has" / "source actors 'A', 'B' have"."""
    quoted = ", ".join(f"'{n}'" for n in names)
    return f"{what} actor {quoted} has" if len(names) == 1 else f"{what} actors {quoted} have"


def _summary(name: str, res: Any, iterations: int | None) -> str:
    total = sum(res.firings.values())
    from .._words import plural

    it = f"{plural(iterations, 'iteration')}, " if iterations is not None and res.ok else ""
    lines = [f"graph {name}: {res.status} ({it}{plural(total, 'firing')} in {res.wall_s:.3f} s)"]
    width = max((len(a) for a in res.firings), default=0)
    for a, n in res.firings.items():
        lines.append(f"  {a:<{width}}  {plural(n, 'firing')}{_dpg_words(res.actors.get(a))}")
    return "\n".join(lines) + "\n"


def _dpg_words(st: Any) -> str:
    """What an actor's firings did in a DPG: a CA's choices, a DPA's pruned firings."""
    from .._words import plural

    if st is not None and st.atr_counts:
        return "; chose " + ", ".join(f"atr {k} {plural(v, 'time')}" for k, v in sorted(st.atr_counts.items()))
    if st is not None and st.pruned:
        return f", {st.pruned} of them pruned (atr 0: not fired)"
    return ""


def _write_spans(args, emu: DeviceEmulation | None) -> None:
    if getattr(args, "spans", None) and emu is not None:
        _write_json(args.spans, emu.spans_json())


def _write_json(path: str, doc: dict) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    os.replace(tmp, path)
