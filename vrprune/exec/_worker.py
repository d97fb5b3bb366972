"""Python actors in worker processes: each on its own interpreter (its own GIL), joined by
shared-memory FIFOs (:mod:`._shm`).

Why: numpy actors spend much of a firing in short numpy calls, each taking the GIL; with one
thread per actor they take turns on one interpreter and a pipeline of them barely beats a
sequential run. In worker processes they run on every core.

How a run with workers goes (``Runtime(processes=...)``, ``vrprune run --processes``):

1. :func:`plan_workers` picks the actors and their groups (one worker process per group, the
   group's actors on threads inside it) and turns their parent-side ``_ActorThread`` into a
   :class:`ProcessActorThread`. Every FIFO touching such an actor is a :class:`~._shm.ShmFifo`;
   a C actor on the other end of one runs the Python firing loop (its fire is still a C call
   without the GIL).
2. :meth:`Workers.start` (in ``Runtime.run``, before any actor thread starts) forks the workers.
   The fork carries the built back-ends (a Python actor's object is made once, in the parent,
   as in a threaded run: set-up errors are reported before anything starts) and the rings.
3. In a worker, each actor runs the threaded runtime's own loop (``_ActorThread.main``): ``init``
   on its thread, then a barrier that spans every process (the worker reports "ready" when its
   actors' ``init`` returned, and fires only after the parent's "go": nothing fires before every
   actor of the run is initialised), the loop, closing its FIFOs, ``finish``.
4. In the parent, one :class:`ProcessActorThread` per actor stands in for it: the group's first
   relays messages (a failure as soon as it happens, the statistics at the end) and watches the
   process. Firing counts are live in shared memory, so progress and the watchdog's deadlock
   report see every actor, in any process.

Errors. An exception in ``fire``/``init``/``finish`` is reported as in a threaded run, naming
the actor. A worker that dies (crash, ``kill -9``) is reported naming its actors and the
signal, and stops the run. Abort (error, deadlock, Ctrl-C) aborts every FIFO: each worker ends
at its next FIFO operation; one still inside a firing after :data:`GRACE_S` is killed. Workers
ignore SIGINT (the parent tears them down) and exit by themselves when the parent dies (they
watch a pipe only the parent holds). No shared memory is named: nothing can be left behind.

The automatic choice (``processes="auto"``, the CLI's default): see :func:`plan_workers`.
"""

from __future__ import annotations

import mmap
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import wait as _wait_ready
from typing import Any

from ..model import Unit
from ._backend import StubBackend
from ._python import PythonBackend
from ._runtime import ActorFailure, ActorStats, RuntimeSetupError, _ActorThread
from ._shm import ShmFifo, fork_context

GRACE_S = 3.0  # after an abort, how long a worker may take to end before it is killed
AUTO_MIN_BYTES = 64 * 1024  # auto: an actor's tokens per firing (in + out) for it to get a process
AUTO_PER_CORE = 8  # auto: more qualifying actors than this many per core are grouped (cores + 1 processes)


# ---------------------------------------------------------------------------------- planning
def _python_like(backend: Any) -> bool:
    return isinstance(backend, (PythonBackend, StubBackend))


def _firing_bytes(rt: Any, name: str) -> int:
    """Bytes an actor reads and writes per firing (variable ports at their upper bound)."""
    total = 0
    for p in rt.index.actors[name].ports:
        if p.is_control:
            continue
        total += max(p.url if p.is_variable else p.rate, 1) * p.token.nbytes
    return total


def auto_workers(rt: Any, given: set[str], custom_fifos: bool) -> tuple[list[list[str]], str]:
    """The automatic choice: (groups, why). Each Python actor gets its own process when

    * the platform forks (Linux: ``os.fork`` and ``os.sched_getaffinity``) and this process may
      use at least 2 cores;
    * the run is neither traced nor emulating a slower device (those time every firing in the
      parent), and no ``fifo_factory`` was given;
    * the actor moves at least :data:`AUTO_MIN_BYTES` (64 KiB) of tokens per firing, in and out
      together: numpy work on that much data takes tens of microseconds or more, against the
      few microseconds a shared-memory FIFO operation and a wake-up cost;
    * it is not next to a C actor (which keeps its C firing loop);
    * and at least two actors qualify (one Python actor alone has no GIL to share).

    Otherwise (and for every other actor) threads, as before. When more than
    :data:`AUTO_PER_CORE` (8) actors per usable core qualify, they share ``cores + 1`` processes
    instead, each a run of consecutive actors (topological order) with about the same tokens per
    firing: on a busy 2-core machine, 39 processes of the SSD tracker lost to threads, 3 won."""
    if not hasattr(os, "fork") or not hasattr(os, "sched_getaffinity") or sys.platform != "linux":
        return [], "processes need Linux (fork)"
    if len(os.sched_getaffinity(0)) < 2:
        return [], "one core"
    if rt.trace or rt.emulation is not None or custom_fifos:
        return [], "traced, emulated or custom-FIFO run"
    native_like = {t.name for t in rt.threads if hasattr(t.backend, "_fire")}
    near_c = {f.dst.actor for f in rt.graph.fifos if f.src.actor in native_like}
    near_c |= {f.src.actor for f in rt.graph.fifos if f.dst.actor in native_like}
    chosen = []
    for t in rt.threads:
        if t.name in given or not isinstance(t.backend, PythonBackend) or t.name in near_c:
            continue
        if _firing_bytes(rt, t.name) < AUTO_MIN_BYTES:
            continue
        chosen.append(t.name)
    if len(chosen) < 2:
        return [], "fewer than two Python actors with large tokens"
    cores = len(os.sched_getaffinity(0))
    if len(chosen) > AUTO_PER_CORE * cores:
        groups = _balanced_chains(rt, chosen, cores + 1)
        return groups, f"{len(chosen)} Python actors in {len(groups)} processes"
    return [[n] for n in chosen], f"{len(chosen)} Python actors"


def _balanced_chains(rt: Any, chosen: list[str], k: int) -> list[list[str]]:
    """``chosen`` cut into ``k`` runs of consecutive actors in a topological order of the graph
    (edges with initial tokens left out), each with about the same tokens per firing: on few
    cores, a few processes with short hand-offs inside beat one process per actor."""
    order = _topological(rt)
    seq = sorted(chosen, key=order.__getitem__)
    weight = {n: _firing_bytes(rt, n) for n in seq}
    target = sum(weight.values()) / k
    groups: list[list[str]] = [[]]
    acc = 0
    for n in seq:
        if groups[-1] and acc >= target * len(groups) and len(groups) < k:
            groups.append([])
        groups[-1].append(n)
        acc += weight[n]
    return groups


def _topological(rt: Any) -> dict[str, int]:
    """Actor -> position in a topological order (Kahn; declaration order breaks ties and cycles)."""
    names = [t.name for t in rt.threads]
    succ: dict[str, list[str]] = {n: [] for n in names}
    indeg = dict.fromkeys(names, 0)
    for f in rt.graph.fifos:
        if not f.initial and f.src.actor != f.dst.actor:
            succ[f.src.actor].append(f.dst.actor)
            indeg[f.dst.actor] += 1
    pos: dict[str, int] = {}
    ready = [n for n in names if indeg[n] == 0]
    while len(pos) < len(names):
        if not ready:  # a cycle without initial tokens: take the next unplaced actor
            ready = [next(n for n in names if n not in pos)]
        nxt = []
        for n in ready:
            if n in pos:
                continue
            pos[n] = len(pos)
            for m in succ[n]:
                indeg[m] -= 1
                if indeg[m] == 0:
                    nxt.append(m)
        ready = nxt
    return pos


def parse_processes(text: str) -> str | list[str]:
    """``--processes`` value: 'auto', 'none', 'all' or a comma-separated list of ACTOR, UNIT or
    ACTOR+ACTOR+... (those share one process)."""
    t = text.strip()
    if t in ("auto", "none", "all"):
        return t
    items = [s.strip() for s in t.split(",")]
    if not t or any(not s for s in items):
        raise ValueError(f"expected auto, none, all or a comma-separated list of actor or unit names, got {text!r}")
    return items


def plan_workers(rt: Any, spec: Any, units: dict[str, Unit], *, given: set[str] = frozenset(),  # type: ignore[assignment]
                 custom_fifos: bool = False) -> Workers | None:
    """Decide which actors run in worker processes (``spec``: None/'none', 'auto', 'all', or a
    list of names: an actor, ``A+B`` (one process for both) or a unit name (one process for
    the unit's actors)), make their FIFOs shared and their parent-side threads stand-ins.
    Returns None when every actor stays a thread."""
    if spec is None or spec == "none":
        return None
    if isinstance(spec, str) and spec not in ("auto", "all"):
        spec = parse_processes(spec)
    if spec == "auto":
        groups, _why = auto_workers(rt, given, custom_fifos)
    else:
        if not hasattr(os, "fork") or sys.platform != "linux":
            raise RuntimeSetupError("actors in worker processes need Linux (os.fork); run without --processes")
        if rt.trace or rt.emulation is not None or custom_fifos:
            raise RuntimeSetupError("actors in worker processes cannot be traced, emulated (--slowdown, "
                                    "--endpoint-cores, --spans) or given a fifo_factory; leave out --processes "
                                    "(or use --processes none) for such runs")
        groups = _explicit_groups(rt, spec, units, given)
    if not groups:
        return None
    return Workers(rt, groups)


def _explicit_groups(rt: Any, spec: Any, units: dict[str, Unit], given: set[str]) -> list[list[str]]:
    by_name = {t.name: t for t in rt.threads}
    if spec == "all":
        return [[t.name] for t in rt.threads if _python_like(t.backend) and t.name not in given]
    unit_names: dict[str, list[str]] = {}
    for a, u in units.items():
        unit_names.setdefault(u.name, []).append(a)
    groups: list[list[str]] = []
    seen: set[str] = set()
    for item in spec:
        names = item.split("+") if "+" in item else ([item] if item in by_name else
                                                     sorted(unit_names.get(item, []),
                                                            key=[t.name for t in rt.threads].index))
        if not names:
            names_all = sorted(set(by_name) | set(unit_names))
            known = ", ".join(names_all[:12]) + (f" and {len(names_all) - 12} more" if len(names_all) > 12 else "")
            raise RuntimeSetupError(f"--processes: '{item}' is neither an actor of graph '{rt.graph.name}' nor a "
                                    f"unit of its mapping (actors and units: {known})")
        for n in names:
            t = by_name.get(n)
            if t is None:
                raise RuntimeSetupError(f"--processes: '{n}' is not an actor of graph '{rt.graph.name}'")
            if n in seen:
                raise RuntimeSetupError(f"--processes: actor '{n}' is named twice")
            if n in given or not _python_like(t.backend):
                kind = "has a back-end given by the caller (TX/RX, wrapper)" if n in given else \
                    f"is a {type(t.backend).__name__.replace('Backend', '')} actor"
                raise RuntimeSetupError(f"{t.actor.span}: actor '{n}' {kind}; only Python actors run in worker "
                                        f"processes (C and OpenCL actors run without the GIL already)")
            seen.add(n)
        groups.append(names)
    return groups


# ---------------------------------------------------------------------------------- parent side
class _Group:
    """One worker process and the actors it runs."""

    def __init__(self, index: int, names: list[str]) -> None:
        self.index = index
        self.names = names
        self.proc: Any = None
        self.conn: Any = None
        self.finished = threading.Event()
        self.results: dict[str, tuple[ActorStats, Any]] = {}
        self.killed = False  # by the parent, once the run was stopping


class Workers:
    """The worker processes of one run (see the module docstring)."""

    def __init__(self, rt: Any, groups: list[list[str]]) -> None:
        self.rt = rt
        self.groups = [_Group(i, g) for i, g in enumerate(groups)]
        self.actors = frozenset(n for g in groups for n in g)
        names = [n for g in groups for n in g]
        # per actor: [firings, the firing under way (0: none)], live in every process
        self._slots_mm = mmap.mmap(-1, 16 * max(len(names), 1))
        self._slots = memoryview(self._slots_mm).cast("q")
        self.slot = {n: 2 * i for i, n in enumerate(names)}
        self.threads = {t.name: t for t in rt.threads}
        for g in self.groups:
            for n in g.names:
                t = self.threads[n]
                t.__class__ = ProcessActorThread  # same state; main/live_firings/in_fire become the stand-in's
                t.group = g
                t.workers = self
        self._lifeline_w: int | None = None
        self.pids: list[int] = []  # every worker started (for tests and diagnostics)
        self._next: set[str] | None = None

    def shm_fifo(self, fifo: Any, token_bytes: int, max_read: int, max_write: int) -> ShmFifo:
        return ShmFifo(fifo.name, fifo.capacity, token_bytes, fifo.initial, max_read, max_write)

    def touches(self, fifo: Any) -> bool:
        """Whether ``fifo`` has an end in a worker (then it is a ShmFifo)."""
        return fifo.src.actor in self.actors or fifo.dst.actor in self.actors

    def next_to(self, name: str) -> bool:
        """Whether actor ``name`` has a FIFO to or from an actor in a worker."""
        if self._next is None:
            self._next = {f.src.actor for f in self.rt.graph.fifos if self.touches(f)}
            self._next |= {f.dst.actor for f in self.rt.graph.fifos if self.touches(f)}
        return name in self._next

    def start(self) -> None:
        """Fork the workers (before any actor thread of the run starts)."""
        import gc
        import warnings

        ctx = fork_context()
        r, w = os.pipe()
        self._lifeline_w = w
        # the workers never collect (nor write the GC headers of) what they inherit: no
        # copy-on-write of the parent's whole heap, no scans of it (Python's gc.freeze advice)
        gc.freeze()
        try:
            with warnings.catch_warnings():  # Python 3.12 warns about fork() in a threaded process
                warnings.simplefilter("ignore", DeprecationWarning)
                for g in self.groups:
                    parent_conn, child_conn = ctx.Pipe(duplex=True)
                    g.conn = parent_conn
                    g.proc = ctx.Process(target=_child_main, args=(self, g, child_conn, r, w),
                                         name=f"vrprune:{'+'.join(g.names)}", daemon=True)
                    try:
                        g.proc.start()
                    except OSError as exc:  # no memory or process slots left to fork
                        g.proc = None
                        parent_conn.close()
                        self.close(grace_s=0.0)
                        raise RuntimeSetupError(f"cannot start the worker process of {', '.join(g.names)}: {exc}; "
                                                f"run with fewer processes (--processes none: threads only)") from exc
                    finally:
                        child_conn.close()
                    self.pids.append(g.proc.pid)
        finally:
            gc.unfreeze()
            os.close(r)

    def close(self, grace_s: float | None = None) -> None:
        """Make sure no worker outlives the run: kill those still running after the grace
        time (default :data:`GRACE_S`), wait for the stand-ins, reap, close the lifeline
        (called by ``Runtime.run``)."""
        deadline = time.monotonic() + (GRACE_S if grace_s is None else grace_s)
        for g in self.groups:
            if g.proc is not None:
                g.proc.join(timeout=max(deadline - time.monotonic(), 0.0))
                if g.proc.exitcode is None:
                    g.killed = True
                    g.proc.kill()
        for g in self.groups:
            th = self.threads[g.names[0]].thread
            if th is not None:
                th.join(timeout=2.0)
        for g in self.groups:
            if g.proc is not None:
                g.proc.join(timeout=5.0)
                g.conn.close()
                if g.proc.exitcode is not None:
                    g.proc.close()
                g.proc = None
        if self._lifeline_w is not None:
            os.close(self._lifeline_w)
            self._lifeline_w = None

    def live(self, name: str, what: int) -> int:
        return self._slots[self.slot[name] + what]


def _signal_name(code: int) -> str:
    try:
        return f"signal {-code} ({signal.Signals(-code).name})"
    except ValueError:
        return f"signal {-code}"


class ProcessActorThread(_ActorThread):
    """The parent's stand-in for an actor that runs in a worker process (and, in the worker,
    the actor itself: its ``in_fire`` is a shared slot there too)."""

    group: _Group
    workers: Workers

    @property  # type: ignore[override]
    def in_fire(self) -> int:
        return self.workers._slots[self.workers.slot[self.name] + 1]

    @in_fire.setter
    def in_fire(self, k: int) -> None:
        ws = self.__dict__.get("workers")
        if ws is not None:
            ws._slots[ws.slot[self.name] + 1] = k

    def live_firings(self) -> int:
        return self.workers.live(self.name, 0)

    def main(self) -> None:  # the parent-side thread; the worker runs _ActorThread.main
        rt, g = self.rt, self.group
        try:
            if self.name != g.names[0]:
                try:
                    rt._barrier.wait()
                except threading.BrokenBarrierError:
                    pass
                g.finished.wait()
                return
            try:
                if self._relay(until="ready") == "ready":
                    try:
                        rt._barrier.wait()
                        go = not rt._stop.flag
                    except threading.BrokenBarrierError:
                        go = False
                    try:
                        g.conn.send("go" if go else "stop")
                    except OSError:
                        pass
                    self._relay(until="done")
                else:
                    try:
                        rt._barrier.wait()  # broken already by the failure (a worker that ended early)
                    except threading.BrokenBarrierError:
                        pass
            finally:
                g.finished.set()
        finally:
            res = g.results.get(self.name)
            if res is not None:
                self.stats = res[0]
                if self.slices is not None and res[1] is not None:
                    self.slices[:] = res[1]
            else:
                self.stats.firings = self.live_firings()
            self.done = True

    def _relay(self, until: str) -> str:
        """Handle the worker's messages until ``until`` ('ready' or 'done'); returns what ended
        the wait: 'ready', 'done' or 'dead' (the worker ended without saying so: a crash, a
        kill, or the kill of :meth:`Workers.close` / the grace time after an abort)."""
        rt, g = self.rt, self.group
        proc, conn = g.proc, g.conn
        deadline = None
        while True:
            if deadline is None and rt._stop.flag:
                deadline = time.monotonic() + GRACE_S
            ready = _wait_ready([conn, proc.sentinel], timeout=0.1)
            if conn in ready:
                try:
                    msg = conn.recv()
                except (EOFError, OSError):
                    msg = None
                if msg is not None:
                    if msg[0] == "fail":
                        rt._fail(msg[1])
                    elif msg[0] == "done":
                        g.results.update(msg[1])
                        return "done"
                    elif msg[0] == until:
                        return until
                    continue
            elif proc.sentinel not in ready:
                if deadline is not None and time.monotonic() > deadline and proc.exitcode is None:
                    g.killed = True
                    proc.kill()  # still inside a firing after the abort: the run is stopping anyway
                continue
            proc.join(timeout=1.0)
            code = proc.exitcode
            if not g.killed:
                how = (_signal_name(code) if code < 0 else f"exit status {code}") if code is not None else "hangs"
                others = [n for n in g.names if n != self.name]
                also = f", which also ran {', '.join(repr(n) for n in others)}" if others else ""
                rt._fail(ActorFailure(self.name, "fire", self.live_firings() + 1,
                                      f"its worker process (pid {proc.pid}{also}) died: {how}"))
            return "dead"


# ---------------------------------------------------------------------------------- worker side
class _LiveStats:
    """ActorStats whose ``firings`` is a shared-memory slot the parent reads live."""

    __slots__ = ("_i", "_slots", "atr_counts", "max_s", "min_s", "pruned", "total_s")

    def __init__(self, slots: Any, i: int) -> None:
        self._slots, self._i = slots, i
        self.total_s, self.min_s, self.max_s = 0.0, float("inf"), 0.0
        self.pruned = 0
        self.atr_counts: dict[int, int] = {}

    @property
    def firings(self) -> int:
        return self._slots[self._i]

    @firings.setter
    def firings(self, k: int) -> None:
        self._slots[self._i] = k

    def plain(self) -> ActorStats:
        return ActorStats(self.firings, self.total_s, self.min_s, self.max_s, self.pruned, dict(self.atr_counts))


class _LocalStop:
    __slots__ = ("flag",)

    def __init__(self) -> None:
        self.flag = False


class _Handshake:
    """The run's start barrier as a worker's actors see it: every local ``init`` done, then
    the parent's "go" (which comes once every actor of the run, in any process, is ready)."""

    def __init__(self, n: int) -> None:
        self.local = threading.Barrier(n + 1)
        self.go = threading.Event()
        self.ok = False

    def wait(self) -> None:
        self.local.wait()
        self.go.wait()
        if not self.ok:
            raise threading.BrokenBarrierError

    def abort(self) -> None:
        self.local.abort()
        self.go.set()


class _WorkerRuntime:
    """What an actor's loop sees of the runtime inside a worker (the rest: the parent's copy)."""

    def __init__(self, parent_rt: Any, conn: Any, n: int) -> None:
        self._parent = parent_rt
        self._conn = conn
        self._send_lock = threading.Lock()
        self._stop = _LocalStop()
        self._native_stop = None
        self._barrier = _Handshake(n)
        self.timed = parent_rt.timed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parent, name)

    def send(self, msg: Any) -> None:
        with self._send_lock:
            try:
                self._conn.send(msg)
            except OSError:
                pass

    def _fail(self, failure: ActorFailure) -> None:
        self.send(("fail", failure))
        self.abort()

    def abort(self) -> None:
        self._stop.flag = True
        for f in self._parent.fifos.values():
            if isinstance(f, ShmFifo):
                f.abort()
        self._barrier.abort()


def _watch_parent(fd: int) -> None:
    try:
        while os.read(fd, 1):
            pass
    except OSError:
        pass
    os._exit(70)  # the parent is gone: nobody will read our results


def _child_main(workers: Workers, g: _Group, conn: Any, lifeline_r: int, lifeline_w: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent aborts the run and ends us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler
    os.close(lifeline_w)
    threading.Thread(target=_watch_parent, args=(lifeline_r,), daemon=True).start()
    rt = workers.rt
    wrt = _WorkerRuntime(rt, conn, len(g.names))
    ts = [workers.threads[n] for n in g.names]
    for t in ts:
        t.rt = wrt
        t.stats = _LiveStats(workers._slots, workers.slot[t.name])
        t.in_fire = 0
        t.thread = threading.Thread(target=_ActorThread.main, args=(t,), name=f"vrprune:{t.name}", daemon=True)
        t.thread.start()
    hs = wrt._barrier
    try:
        hs.local.wait()
        wrt.send(("ready",))
        msg = conn.recv()
        hs.ok = msg == "go"
    except (threading.BrokenBarrierError, EOFError, OSError):
        hs.ok = False
    hs.go.set()
    for t in ts:
        t.thread.join()
    wrt.send(("done", {t.name: (t.stats.plain(), t.slices) for t in ts}))
    conn.close()
