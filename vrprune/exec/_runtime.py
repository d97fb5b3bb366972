"""The threaded runtime: one thread per actor, blocking FIFOs, end-of-stream, watchdog.

Each actor thread repeats: (DA/DPA) peek the control token to learn atr; wait for every input
window (its rate, or atr on variable ports); wait for room on every output (control outputs
of a CA need 1); fire; commit all windows (consume inputs, control token included; publish
outputs; a CA writes its atr into every control output). Waiting never reserves anything
another actor needs (each FIFO has one reader and one writer, and a window only pins tokens
this actor will consume or slots only it will fill), so the order of waits cannot deadlock
the runtime by itself: only the graph can, and then the watchdog reports it.

Device FIFOs: a data FIFO whose two ends are OpenCL actors on the same device (equal
``backend.device_key()``) is a :class:`~._devfifo.DeviceFifo` (ring in device memory, windows
handed to the kernels as buffers; see ``_opencl.py``), unless ``device_fifos=False``,
``$VRPRUNE_CL_DEVICE_FIFOS=0`` or a ``fifo_factory`` is given. Their buffers are dropped only
after every actor thread has joined.

End of a run: an actor stops after ``limit`` firings (``q[a] * iterations``), when a source
returns END, when an input can never fill its window because its writer ended
(end-of-stream flows downstream), or when an output's reader ended (flows upstream).
Stopping closes the actor's FIFOs; ``finish`` is then called on the actor's own thread.
An exception in ``fire`` stops every actor (status "error"). When no actor fires for
``watchdog_s`` seconds and every running actor sleeps on a FIFO, the run stops with status
"deadlock" and the list of waits.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, TextIO

from .._words import plural, waits
from ..diagnostics import VrpruneError
from ..model import ActorKind, Graph, OpenCLImpl, Unit, UnitKind
from ..rates import dpg_rate_ranges, repetition_vector
from ._backend import END, ActorBackend, SlowedBackend, StubBackend, make_backend
from ._fifo import Aborted, EndOfStream, Fifo, RingFifo, _Gate


class RuntimeSetupError(VrpruneError):
    """The graph cannot be run as given (no capacity, inconsistent rates, ...)."""


@dataclass(frozen=True)
class ActorFailure:
    actor: str
    phase: str  # "init" | "fire" | "finish"
    firing: int | None  # 1-based number of the failing firing (phase "fire")
    message: str
    traceback: str = ""

    def __str__(self) -> str:
        where = f"in firing {self.firing}" if self.phase == "fire" else f"in {self.phase}"
        return f"actor '{self.actor}' failed {where}: {self.message}"


@dataclass(frozen=True)
class Wait:
    actor: str
    fifo: str
    side: str  # "empty" (reader lacks tokens) | "full" (writer lacks room)
    fill: int
    capacity: int
    need: int

    def __str__(self) -> str:  # the checker's wording (vrprune/_words.py)
        return waits(self.actor, self.fifo, self.side, self.need, self.fill, self.capacity)


@dataclass(frozen=True)
class Hung:
    """An actor that stayed inside one firing for ``seconds`` (the watchdog's limit or more)."""

    actor: str
    firing: int  # 1-based number of the firing it is inside
    seconds: float

    def __str__(self) -> str:
        return f"actor '{self.actor}' has been inside its firing {self.firing} for {self.seconds:.1f} s"


@dataclass
class ActorStats:
    firings: int = 0
    total_s: float = 0.0
    min_s: float = float("inf")
    max_s: float = 0.0
    pruned: int = 0  # of the firings, those skipped at atr 0 (a DPA whose every data port is variable)
    atr_counts: dict[int, int] = field(default_factory=dict)  # a CA: how often it chose each atr

    def to_json(self) -> dict[str, Any]:
        """Times are over the firings that ran: a pruned one (atr 0) is counted, not timed."""
        n = self.firings
        ran = n - self.pruned
        timed = self.total_s > 0 or self.max_s > 0
        return {"firings": n,
                "mean_s": (self.total_s / ran) if ran and timed else None,
                "min_s": self.min_s if ran and timed else None,
                "max_s": self.max_s if ran and timed else None,
                "total_s": self.total_s if timed else None,
                **({"pruned": self.pruned} if self.pruned else {}),
                **({"atr_counts": {str(k): v for k, v in sorted(self.atr_counts.items())}}
                   if self.atr_counts else {})}


@dataclass
class RunResult:
    status: str  # "ok" | "deadlock" | "error" | "interrupted"
    wall_s: float
    actors: dict[str, ActorStats]
    fifos: dict[str, dict[str, Any]]
    failures: list[ActorFailure] = field(default_factory=list)
    waits: list[Wait] = field(default_factory=list)
    stalled_s: float = 0.0
    slices: dict[str, list[tuple[float, float]]] | None = None  # per actor (start, end), when traced
    fills: dict[str, list[tuple[float, int]]] | None = None  # per fifo (time, fill), when traced
    t0: float = 0.0  # perf_counter at the start of firing
    repetition: dict[str, int] = field(default_factory=dict)
    hung: list[Hung] = field(default_factory=list)  # status "hung": the actors stuck inside a firing
    unstopped: list[str] = field(default_factory=list)  # actors whose thread was still running at the end
    atrs: dict[str, list[int]] | None = None  # per DPG, its CA's atr of each iteration, when traced

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def _unstopped_note(self) -> list[str]:
        if not self.unstopped:
            return []
        return [f"note: {', '.join(repr(a) for a in self.unstopped)} did not stop (still inside a firing); "
                f"its finish was not called"]

    @property
    def exit_code(self) -> int:
        return {"ok": 0, "interrupted": 130}.get(self.status, 1)

    @property
    def firings(self) -> dict[str, int]:
        return {k: v.firings for k, v in self.actors.items()}

    def describe(self) -> str:
        if self.status == "deadlock":
            lines = [f"deadlock: no actor can fire (none fired for {self.stalled_s:.1f} s); every running actor "
                     f"waits on a fifo:"]
            lines += [f"  {w}" for w in self.waits]
            return "\n".join(lines)
        if self.status == "error":
            return "\n".join(f"error: {f}" for f in self.failures)
        if self.status == "hung":
            lines = [f"watchdog: {h} (a firing that takes longer than --watchdog {self.stalled_s:g} s: an endless "
                     f"loop or a wait that never ends in the actor's code?)" for h in self.hung]
            return "\n".join(lines + self._unstopped_note())
        if self.status == "interrupted":
            return "\n".join(["interrupted"] + self._unstopped_note())
        return f"ok: {plural(sum(v.firings for v in self.actors.values()), 'firing')} in {self.wall_s:.3f} s"


class DeviceEmulation:
    """Emulate a slower device: the settings behind ``vrprune run --slowdown F --endpoint-cores C``.

    ``slowdown`` F >= 1: every firing that takes t seconds is stretched to F t (the actor sleeps
    (F - 1) t after it). ``cores`` C >= 0: at most C firings of the emulated device run at once
    (0: no bound). ``spans``: record every firing's (start, end) and the time inside the
    actor's own ``fire`` (see :meth:`spans_json`).

    Pass it as ``Runtime(graph, emulation=DeviceEmulation(3.0, cores=1))``: the runtime wraps
    every back-end it builds itself in a :class:`~._backend.SlowedBackend`; back-ends passed in
    ``backends`` (TX/RX actors of a distributed run, a caller's own wrappers) are left alone,
    wrap those with :meth:`wrap`. A wrapped C actor runs the Python firing loop (the C loop
    would bypass the sleep), a wrapped OpenCL actor host FIFOs. F = 1, C = 0 without spans
    wraps nothing.

    Profiles and traces of such a run time the slowed firings (what the emulated device would
    take); :attr:`SlowedBackend.inner_s` keeps the real time.
    """

    def __init__(self, slowdown: float = 1.0, cores: int = 0, *, spans: bool = False) -> None:
        try:
            f = float(slowdown)
        except (TypeError, ValueError):
            raise RuntimeSetupError(f"slowdown must be a number >= 1, got {slowdown!r}") from None
        if not f >= 1.0 or f == float("inf"):
            raise RuntimeSetupError(f"slowdown must be a finite number >= 1 (1 = full speed), got {slowdown!r}")
        if isinstance(cores, bool) or not isinstance(cores, int) or cores < 0:
            raise RuntimeSetupError(f"cores must be an integer >= 0 (0 = no bound), got {cores!r}")
        self.slowdown = f
        self.cores = cores
        self.record = bool(spans)
        self.gate = threading.Semaphore(cores) if cores > 0 else None
        self.wrapped: dict[str, SlowedBackend] = {}

    @property
    def active(self) -> bool:
        """Whether back-ends need wrapping at all."""
        return self.slowdown > 1.0 or self.cores > 0 or self.record

    def wrap(self, backend: Any) -> SlowedBackend:
        """Wrap one actor's back-end (keyed by its actor's name in :attr:`wrapped`)."""
        w = SlowedBackend(backend, self.slowdown, self.gate, record=self.record)
        self.wrapped[w.actor.name] = w
        return w

    def spans_json(self) -> dict[str, dict[str, Any]]:
        """{actor: {"spans": [[start, end], ...], "inner_s": seconds inside fire}}: what
        ``vrprune run --spans`` writes. Times are ``time.perf_counter`` (CLOCK_MONOTONIC on
        Linux: comparable between the processes of one machine); an end includes the
        slowdown's sleep, ``inner_s`` does not."""
        return {name: {"spans": [list(s) for s in (w.spans or [])], "inner_s": w.inner_s}
                for name, w in self.wrapped.items()}


class _Stop:
    __slots__ = ("flag",)

    def __init__(self) -> None:
        self.flag = False


class _ActorThread:
    """Runs one actor: the loop below is the runtime's hot path."""

    def __init__(self, rt: "Runtime", name: str, backend: ActorBackend) -> None:
        self.rt = rt
        self.name = name
        self.actor = rt.index.actors[name]
        self.backend = backend
        self.gate = _Gate()
        self.in_specs: list[tuple[Fifo, int]] = []  # (fifo, static rate or 0 = atr)
        self.out_specs: list[tuple[Fifo, int]] = []
        self.ctrl_in: Fifo | None = None
        self.ctrl_outs: list[Fifo] = []
        self.all_in: list[Fifo] = []
        self.all_out: list[Fifo] = []
        self.limit = -1
        self.stats = ActorStats()
        self.slices: list[tuple[float, float]] | None = None
        self.thread: threading.Thread | None = None
        self.done = False
        self.is_ca = self.actor.kind is ActorKind.CA
        self.native = False  # run the whole loop in C (runtime/native.c)
        self.nloop: Any = None
        self.atr_bounds: tuple[int, int] | None = None
        self.replay: list[int] | None = None
        self.atrs: list[int] | None = None  # a CA's choices in order, when traced
        self.cpu: int | None = None  # pin the thread to this core (Runtime(pin=True))
        self.in_fire = 0  # the number of the firing under way (0: between firings); read by the watchdog

    def firing_now(self) -> int:
        """The 1-based number of the firing this actor is inside now, 0 when it is not firing
        (it waits on a FIFO, or has ended)."""
        nl = self.nloop
        return nl.in_fire if nl is not None else self.in_fire

    def live_firings(self) -> int:
        nl = self.nloop
        return nl.firings if nl is not None else self.stats.firings

    # The loop keeps everything it touches per firing in locals; no allocation per firing
    # apart from what the actor itself does (the ins/outs lists are reused).
    def loop(self) -> None:
        in_specs, out_specs = self.in_specs, self.out_specs
        ctrl_in, ctrl_outs = self.ctrl_in, self.ctrl_outs
        ins: list[Any] = [None] * len(in_specs)
        outs: list[Any] = [None] * len(out_specs)
        n_in, n_out = range(len(in_specs)), range(len(out_specs))
        fire = self.backend.fire
        stop = self.rt._stop
        is_ca = self.actor.kind is ActorKind.CA
        is_source = not in_specs and ctrl_in is None
        # a DPA whose every data port is variable-rate is pruned at atr 0: it does not fire
        prunable = ctrl_in is not None and bool(in_specs or out_specs) and all(
            r == 0 for _, r in in_specs + out_specs) and not getattr(self.backend, "fires_when_pruned", False)
        stats = self.stats
        counts = stats.atr_counts
        atrs = self.atrs
        slices = self.slices
        timed = self.rt.timed
        perf = time.perf_counter
        limit = self.limit
        k = 0
        atr: int | None = None
        while k != limit and not stop.flag:
            if ctrl_in is not None:
                atr = ctrl_in.peek_i32()
            for i in n_in:
                f, r = in_specs[i]
                ins[i] = f.read_start(r or atr or 0)  # r 0: a variable port, atr set (ctrl_in)
            for i in n_out:
                f, r = out_specs[i]
                outs[i] = f.write_start(r or atr or 0)
            for f in ctrl_outs:
                f.write_start(1)
            k += 1
            self.in_fire = k
            if prunable and not atr:
                ret = None
                stats.pruned += 1
            elif timed:
                t0 = perf()
                try:
                    ret = fire(ins, outs, atr)
                except Exception as exc:
                    self._failed(k, exc)
                    return
                t1 = perf()
                d = t1 - t0
                stats.total_s += d
                if d < stats.min_s:
                    stats.min_s = d
                if d > stats.max_s:
                    stats.max_s = d
                if slices is not None:
                    slices.append((t0, t1))
            else:
                try:
                    ret = fire(ins, outs, atr)
                except Exception as exc:
                    self._failed(k, exc)
                    return
            self.in_fire = 0
            if ret is not None or is_ca:
                if ret is END:
                    if not is_source:
                        self._failed(k, VrpruneError("returned END, but only a source (an actor without data "
                                                     "inputs) may end the stream"))
                    stats.firings = k - 1
                    return
                if is_ca:
                    chosen = self._ca_atr(k, ret)
                    if chosen is None:
                        return
                    counts[chosen] = counts.get(chosen, 0) + 1
                    if atrs is not None:
                        atrs.append(chosen)
                    for f in ctrl_outs:
                        f.put_i32(chosen)
            for i in n_in:
                f, r = in_specs[i]
                f.read_end(r or atr or 0)
            if ctrl_in is not None:
                ctrl_in.read_end(1)
            for i in n_out:
                f, r = out_specs[i]
                f.write_end(r or atr or 0)
            stats.firings = k

    def run_native(self) -> None:
        from . import _native as nat

        nl = self.nloop = nat.NativeLoop(self, self.rt._native_stop, self.rt.timed)
        rc = nl.run()  # one cffi call: the GIL is released for the whole loop
        a = nl.a
        st = self.stats
        st.firings = int(a.firings)
        st.total_s, st.min_s, st.max_s = float(a.total_s), float(a.min_s), float(a.max_s)
        self.nloop = None
        k = st.firings + 1
        if rc == nat.A_FIRE_ERROR and hasattr(self.backend, "native_failure"):
            self._failed(k, self.backend.native_failure())  # a built-in back-end words its own errors
        elif rc == nat.A_FIRE_ERROR:
            c_backend: Any = self.backend  # a C back-end (see native_capable)
            msg = c_backend._error_text()
            self._failed(k, VrpruneError(f"{getattr(self.actor.impl, 'fire', 'fire')} returned {a.rc}"
                                         + (f": {msg}" if msg else "")))
        elif rc == nat.A_BAD_END:
            self._failed(k, VrpruneError("returned VRP_END, but only a source (no data inputs) may end the stream"))
        elif rc == nat.A_NO_ATR:
            self._failed(k, VrpruneError("a configuration actor must write its atr into *atr"))
        elif rc == nat.A_BAD_ATR:
            lo, hi = self.atr_bounds or (0, 0)
            self._failed(k, VrpruneError(f"returned atr {a.bad_atr}, outside the DPG's rate range [{lo}, {hi}]"))

    def _ca_atr(self, k: int, ret: Any) -> int | None:
        if self.replay:
            return self.replay[min(k - 1, len(self.replay) - 1)]
        if isinstance(ret, bool) or not isinstance(ret, int):
            try:
                import numpy as np

                if isinstance(ret, np.integer):
                    ret = int(ret)
                else:
                    raise TypeError
            except TypeError:
                self._failed(k, VrpruneError(f"a configuration actor must return its atr (an int), got {ret!r}"))
                return None
        if self.atr_bounds is not None:
            lo, hi = self.atr_bounds
            if not lo <= ret <= hi:
                self._failed(k, VrpruneError(f"returned atr {ret}, outside the DPG's rate range [{lo}, {hi}]"))
                return None
        return ret

    def _failed(self, k: int | None, exc: BaseException, phase: str = "fire") -> None:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        msg = str(exc) if isinstance(exc, VrpruneError) else f"{type(exc).__name__}: {exc}"
        self.rt._fail(ActorFailure(self.name, phase, k, msg, tb))

    def main(self) -> None:
        rt = self.rt
        inited = False
        try:
            try:
                if self.cpu is not None:
                    os.sched_setaffinity(0, {self.cpu})  # 0: this thread (Linux)
                self.backend.init()
                inited = True
            except Exception as exc:
                self._failed(None, exc, "init")
            try:
                rt._barrier.wait()
            except threading.BrokenBarrierError:
                return
            if inited and not rt._stop.flag:
                try:
                    if not self.native:
                        mark = getattr(self.backend, "name_crashes", None)  # a C actor in the Python loop
                        if mark is not None:
                            mark()
                    self.run_native() if self.native else self.loop()
                except (EndOfStream, Aborted):
                    pass
                except Exception as exc:  # a runtime bug must not hang the run
                    self._failed(self.stats.firings + 1, exc, "runtime")
        finally:
            for f in self.all_out:
                f.close_write()
            for f in self.all_in:
                f.close_read()
            if inited:
                try:
                    self.backend.finish()
                except Exception as exc:
                    self._failed(None, exc, "finish")
            self.done = True


def available_memory() -> int | None:
    """Bytes this process could still allocate: MemAvailable (Linux), capped by RLIMIT_AS;
    None where unknown. ``$VRPRUNE_MEMORY_LIMIT`` (bytes) overrides it (tests)."""
    env = os.environ.get("VRPRUNE_MEMORY_LIMIT")
    if env:
        try:
            return int(env)
        except ValueError:
            pass
    have: int | None = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    have = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if have is None and hasattr(os, "sysconf"):
        try:
            have = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            pass
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY and soft > 0:
            have = soft if have is None else min(have, soft)
    except (ImportError, OSError, ValueError):
        pass
    return have


def format_bytes(n: int) -> str:
    """1536 -> '1.5 KiB'."""
    v = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if v < 1024 or unit == "EiB":
            return f"{int(v)} bytes" if unit == "bytes" else f"{v:.1f} {unit}"
        v /= 1024
    return f"{n} bytes"


def pinned_cores(graph: Graph, units: dict[str, Unit]) -> dict[str, int]:
    """The core of each actor that ``--pin`` pins: those mapped to a CPU unit (``cpu NAME core
    N``), as compiled programs do with ``--pin``; TX/RX (no unit) and OpenCL actors are left to
    the scheduler. A core this process may not run on is a :class:`RuntimeSetupError` at the
    unit's line."""
    if not hasattr(os, "sched_setaffinity"):
        raise RuntimeSetupError("pinning actors to cores needs Linux (os.sched_setaffinity); run without --pin")
    allowed = os.sched_getaffinity(0)
    cores: dict[str, int] = {}
    for a in graph.actors:
        u = units.get(a.name)
        if u is None or u.kind is not UnitKind.CPU or isinstance(a.impl, OpenCLImpl):
            continue  # an OpenCL actor's runtime starts threads of its own: not one core
        if u.device not in allowed:
            raise RuntimeSetupError(
                f"{u.span}: unit '{u.name}' is core {u.device}, which this process may not run on (it may use "
                f"cores {_core_list(allowed)}); map '{a.name}' to another unit, or run without --pin")
        cores[a.name] = u.device
    return cores


def _core_list(cores: set[int]) -> str:
    """{0, 1, 2, 5} -> '0-2, 5'."""
    out: list[str] = []
    run: list[int] = []
    for c in sorted(cores):
        if run and c != run[-1] + 1:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
            run = []
        run.append(c)
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(out)


if TYPE_CHECKING:  # every FIFO kind of ExecPlan implements the Fifo protocol: mypy checks it here
    from ._devfifo import DeviceFifo
    from ._native import NativeFifo
    from ._shm import ShmFifo

    def _fifo_kinds(ring: RingFifo, device: DeviceFifo, native: NativeFifo, shm: ShmFifo) -> list[Fifo]:
        return [ring, device, native, shm]


@dataclass(frozen=True)
class ExecPlan:
    """What a Runtime decided before it built its FIFOs (:attr:`Runtime.plan`).

    ``actors``: how each actor runs: ``"thread"`` (the Python firing loop in a thread of this
    process), ``"native"`` (the C firing loop, runtime/native.c) or ``"worker"`` (a worker
    process, _worker.py). ``fifos``: the kind of each edge's FIFO, all behind the one
    :class:`~._fifo.Fifo` protocol: ``"ring"`` (:class:`RingFifo`), ``"native"`` (the C ring of
    _native.py, for an edge with a C-loop end), ``"device"`` (OpenCL device memory between two
    kernels on one device, _devfifo.py), ``"shm"`` (shared memory, for an edge with an end in a
    worker, _shm.py) or ``"custom"`` (the caller's ``fifo_factory``)."""

    actors: dict[str, str]
    fifos: dict[str, str]


class Runtime:
    """Run a graph with one thread per actor.

    ``iterations``: run that many graph iterations (actor a fires ``q[a] * iterations``
    times); None runs until the sources return END. ``backends``: prebuilt back-ends by actor
    name (the rest come from :func:`make_backend`). ``fifo_factory(fifo, token_bytes,
    max_read, max_write)`` builds each FIFO (default :class:`RingFifo`); a replacement must
    implement the :class:`~._fifo.Fifo` protocol. ``trace``: record firing slices and fill levels.
    ``profile``: time every firing. ``replay``: {dpg name: [atr, ...]} forced on the CAs
    (the last value repeats). ``emulation``: run the actors as on a slower device
    (:class:`DeviceEmulation`: slowdown factor, cores, firing spans); it applies to the
    back-ends the runtime builds, not to those given in ``backends``. ``pin``: run each
    actor whose ``units`` entry is a CPU unit on that unit's core only (Linux; TX/RX and
    OpenCL actors are not pinned). ``processes``: run Python actors in worker processes
    joined by shared-memory FIFOs (``"auto"``, ``"all"``, ``"none"`` or a list of actor or unit
    names; see :mod:`._worker`); default None: every actor is a thread of this process.
    """

    def __init__(self, graph: Graph, *, iterations: int | None = None,
                 backends: dict[str, ActorBackend] | None = None,
                 fifo_factory: Callable[..., Fifo] | None = None,
                 trace: bool = False, profile: bool = False, watchdog_s: float | None = 10.0,
                 replay: dict[str, list[int]] | None = None, stub_missing: bool = False,
                 units: dict[str, Unit] | None = None,
                 warn: Callable[[str], Any] | None = None,
                 progress: TextIO | None = None,
                 repetition: dict[str, int] | None = None,
                 native: bool | None = None,
                 device_fifos: bool | None = None,
                 emulation: DeviceEmulation | None = None,
                 pin: bool = False, processes: Any = None) -> None:
        self.graph = graph
        self.index = graph.index()
        self.iterations = iterations
        self.watchdog_s = watchdog_s
        self.trace = trace
        self.timed = trace or profile
        self.progress = progress
        self._warn = warn or (lambda m: print(m, file=sys.stderr))
        self._stop = _Stop()
        self._aborting = False
        self._hung: list[Hung] = []
        self._lock = threading.Lock()
        self._failures: list[ActorFailure] = []
        try:
            self.repetition = dict(repetition) if repetition else repetition_vector(graph)
        except VrpruneError as exc:
            raise RuntimeSetupError(str(exc)) from exc

        replay = replay or {}
        unknown = set(replay) - {d.name for d in graph.dpgs}
        if unknown:
            raise RuntimeSetupError(f"replay names DPGs not in graph '{graph.name}': {', '.join(sorted(unknown))}")

        self._check_fifo_memory()

        # the phases: back-ends, plan (how each actor runs, which FIFO each edge gets), FIFOs, wiring
        given = dict(backends or {})
        units = units or {}
        stubbed, stub_names = self._build_backends(given, units, replay, stub_missing=stub_missing,
                                                   emulation=emulation)
        if pin:
            self._pin(units)
        if len(stubbed) == 1:
            self._warn(stubbed[0])
        elif stubbed:
            self._warn(f"warning: {len(stub_names)} actors have no implementation; stubs zero-fill their outputs "
                       f"(a CA stub chooses its DPG's url): {', '.join(stub_names)}")
        self.plan = self._plan(given, units, processes=processes, native=native, device_fifos=device_fifos,
                               custom_fifos=fifo_factory is not None)
        self.fifos: dict[str, Fifo] = self._build_fifos(self.plan, fifo_factory)
        self._wire()
        self._barrier = threading.Barrier(len(self.threads) + 1)

    # ------------------------------------------------------------------ the phases of __init__
    def _build_backends(self, given: dict[str, ActorBackend], units: dict[str, Unit],
                        replay: dict[str, list[int]], *, stub_missing: bool,
                        emulation: DeviceEmulation | None) -> tuple[list[str], list[str]]:
        """Phase 1: one back-end and one thread per actor (``given`` ones as they are, the rest
        from :func:`make_backend`, wrapped by the device emulation), with each CA's rate bounds
        and replayed choices, each actor's firing limit and its trace slices. Returns the stub
        warnings and the stubbed actors (warned about by the caller, after pinning)."""
        dpg_bounds = self._dpg_bounds()
        for dpg, values in replay.items():  # a choice outside [lrl, url] would corrupt the FIFOs' counts
            lo, hi = dpg_bounds.get(dpg, (0, 0))
            bad = [v for v in values if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi]
            if bad:
                raise RuntimeSetupError(f"replay: rate choice {bad[0]!r} of DPG '{dpg}' is outside its rate range "
                                        f"[{lo}, {hi}]")
        self.threads: list[_ActorThread] = []
        self.emulation = emulation if emulation is not None and emulation.active else None
        stubbed: list[str] = []
        stub_names: list[str] = []
        for a in self.graph.actors:
            be = given.get(a.name)
            if be is None:
                stub_atr = dpg_bounds.get(a.dpg or "", (0, 0))[1]
                be = make_backend(a, units.get(a.name), stub_missing=stub_missing, warn=stubbed.append,
                                  stub_atr=stub_atr)
                if isinstance(be, StubBackend):
                    stub_names.append(a.name)
                if self.emulation is not None:
                    be = self.emulation.wrap(be)
            t = _ActorThread(self, a.name, be)
            if a.kind is ActorKind.CA and a.dpg is not None:
                t.atr_bounds = dpg_bounds.get(a.dpg)
                t.replay = list(replay[a.dpg]) if a.dpg in replay and replay[a.dpg] else None
            if self.iterations is not None:
                t.limit = self.repetition[a.name] * self.iterations
            if self.trace:
                t.slices = []
                if a.kind is ActorKind.CA:
                    t.atrs = []
            self.threads.append(t)
        return stubbed, stub_names

    def _plan(self, given: dict[str, ActorBackend], units: dict[str, Unit], *, processes: Any,
              native: bool | None, device_fifos: bool | None, custom_fifos: bool) -> ExecPlan:
        """Phase 2: how each actor runs (a thread's Python loop, the C loop, a worker process)
        and which kind of FIFO each edge gets (:class:`ExecPlan`)."""
        # Python actors in worker processes (_worker.py): every fifo touching one is a ShmFifo
        self._workers: Any = None
        if processes is not None and processes != "none":
            from ._worker import plan_workers

            self._workers = plan_workers(self, processes, units, given=set(given), custom_fifos=custom_fifos)

        # C actors whose back-end exposes its entry points run their loop in C; every fifo
        # touching one is a NativeFifo (see _native.py). Traced runs stay in Python, and so do
        # slowed actors: the C loop would call the C fire directly, bypassing the wrapper's sleep.
        if native is None:
            native = not self.trace and not custom_fifos
        native_names: set[str] = set()
        if native:
            from . import _native as nat

            cand = {t.name for t in self.threads
                    if nat.native_capable(t.backend) and not isinstance(t.backend, SlowedBackend)
                    and not (self._workers is not None and self._workers.next_to(t.name))}
            if cand:
                try:
                    nat.load()
                    native_names = cand
                except VrpruneError as exc:
                    self._warn(f"warning: C runtime core unavailable, C actors run the Python loop: {exc}")
            for t in self.threads:
                t.native = t.name in native_names
        self._native_stop = nat.new_stop() if native_names else None

        # OpenCL actors on one device: FIFOs between them stay in device memory (_devfifo.py)
        if device_fifos is None:
            device_fifos = not custom_fifos and os.environ.get("VRPRUNE_CL_DEVICE_FIFOS", "1") != "0"
        dev_keys: dict[str, Any] = {}
        if device_fifos:
            for t in self.threads:
                key = getattr(t.backend, "device_key", None)
                if callable(key) and t.name not in native_names:
                    dev_keys[t.name] = key()
                    if self.timed:
                        cl_backend: Any = t.backend  # an OpenCL back-end (it has a device_key)
                        cl_backend.async_ok = False  # profiles and traces time whole kernels

        actors = {t.name: "native" if t.name in native_names
                  else "worker" if self._workers is not None and t.name in self._workers.actors else "thread"
                  for t in self.threads}
        fifos: dict[str, str] = {}
        for f in self.graph.fifos:
            sp, dp = self.index.src_port(f), self.index.dst_port(f)
            if self._workers is not None and self._workers.touches(f):
                fifos[f.name] = "shm"
            elif f.src.actor in native_names or f.dst.actor in native_names:
                fifos[f.name] = "native"
            elif (dev_keys.get(f.src.actor) is not None and dev_keys.get(f.src.actor) == dev_keys.get(f.dst.actor)
                  and not sp.is_control and not dp.is_control):
                fifos[f.name] = "device"
            else:
                fifos[f.name] = "custom" if custom_fifos else "ring"
        return ExecPlan(actors, fifos)

    def _build_fifos(self, plan: ExecPlan, fifo_factory: Callable[..., Fifo] | None) -> dict[str, Fifo]:
        """Phase 3: every edge's FIFO, of the kind the plan gave it."""
        make = fifo_factory or (lambda f, tb, mr, mw: RingFifo(f.name, f.capacity, tb, f.initial, mr, mw))
        fifos: dict[str, Fifo] = {}
        by_backend = {t.name: t.backend for t in self.threads}
        for f in self.graph.fifos:
            if f.capacity is None:
                raise RuntimeSetupError(f"{f.span}: fifo '{f.name}' has no capacity; add `capacity N` "
                                        f"or compute one with `vrprune bufsize`")
            sp, dp = self.index.src_port(f), self.index.dst_port(f)
            tb = self.index.token_bytes(f)
            mr, mw = self._max_window(dp), self._max_window(sp)
            kind = plan.fifos[f.name]
            if kind == "shm":
                fifos[f.name] = self._workers.shm_fifo(f, tb, mw, mr)
            elif kind == "native":
                from . import _native as nat

                fifos[f.name] = nat.NativeFifo(f.name, f.capacity, tb, f.initial, mw, mr)
            elif kind == "device":
                from ._devfifo import DeviceFifo

                be: Any = by_backend[f.src.actor]  # an OpenCL back-end (it has a device_key)
                fifos[f.name] = DeviceFifo(f.name, f.capacity, tb, f.initial, max_read=mr, max_write=mw,
                                           context=be.ctx, device=be.device,
                                           rate=sp.rate if (not sp.is_variable and not dp.is_variable
                                                            and sp.rate == dp.rate) else None)
            else:
                fifos[f.name] = make(f, tb, mw, mr)
        if self.trace:
            for ff in fifos.values():
                ff.fills = []
        return fifos

    def _wire(self) -> None:
        """Phase 4: each thread's FIFOs in port declaration order (the gates that wake it), and
        back-ends that watch their FIFOs (TX/RX) joined to them, once."""
        by_name = {t.name: t for t in self.threads}
        for t in self.threads:
            for p in t.actor.ports:
                if p.direction.value == "in":
                    fm = self.index.by_dst.get((t.name, p.name))
                    if fm is None:
                        raise RuntimeSetupError(f"{p.span}: input port {t.name}.{p.name} is not connected")
                    ff = self.fifos[fm.name]
                    ff.reader_gate = t.gate
                    t.all_in.append(ff)
                    if p.is_control:
                        t.ctrl_in = ff
                    else:
                        t.in_specs.append((ff, 0 if p.is_variable else p.rate))
                else:
                    fm = self.index.by_src.get((t.name, p.name))
                    if fm is None:
                        raise RuntimeSetupError(f"{p.span}: output port {t.name}.{p.name} is not connected")
                    ff = self.fifos[fm.name]
                    ff.writer_gate = t.gate
                    t.all_out.append(ff)
                    if p.is_control:
                        t.ctrl_outs.append(ff)
                    else:
                        t.out_specs.append((ff, 0 if p.is_variable else p.rate))
            if any(r == 0 for _, r in t.in_specs + t.out_specs) and t.ctrl_in is None:
                raise RuntimeSetupError(f"{t.actor.span}: actor '{t.name}' has variable-rate ports but no control "
                                        f"input")
        for t in self.threads:
            join = getattr(t.backend, "join_fifos", None)
            if join is not None:
                join(list(t.all_in), list(t.all_out), lambda: self.stopping)
        self._by_name = by_name

    def _check_fifo_memory(self) -> None:
        """Say what the FIFOs need before allocating any, and refuse more than this machine can
        hold (a capacity of 10^12 tokens would otherwise end in a MemoryError deep in numpy)."""
        need, big = 0, None
        for f in self.graph.fifos:
            if f.capacity is None:
                raise RuntimeSetupError(f"{f.span}: fifo '{f.name}' has no capacity; add `capacity N` "
                                        f"or compute one with `vrprune bufsize`")
            tail = max(self._max_window(self.index.src_port(f)), self._max_window(self.index.dst_port(f))) - 1
            n = (f.capacity + tail) * self.index.token_bytes(f)
            need += n
            if big is None or n > big[1]:
                big = (f, n)
        have = available_memory()
        if have is None:
            have = 1 << 62  # unknown: at least what numpy can address
        if big is not None and need > have:
            f, n = big
            raise RuntimeSetupError(
                f"{f.span}: the FIFOs need {format_bytes(need)} of memory and this machine has "
                f"{format_bytes(have)} available; fifo '{f.name}' alone needs {format_bytes(n)} "
                f"(capacity {f.capacity} x {self.index.token_bytes(f)} bytes); lower its capacity "
                f"(`vrprune bufsize` computes the smallest that keeps the proofs)")
        if need >= 1 << 30:
            self._warn(f"note: the FIFOs of graph '{self.graph.name}' take {format_bytes(need)} of memory "
                       f"({format_bytes(have)} available)")

    @staticmethod
    def _max_window(p) -> int:
        return 1 if p.is_control else max(p.url, 1)

    def _dpg_bounds(self) -> dict[str, tuple[int, int]]:
        return dpg_rate_ranges(self.graph)

    # ------------------------------------------------------------------ control
    def _fail(self, failure: ActorFailure) -> None:
        with self._lock:
            self._failures.append(failure)
        self.abort()

    @property
    def stopping(self) -> bool:
        """True once :meth:`abort` has begun: an actor that ends from now on was stopped, its
        stream cut off (a TX then sends ABORT, never END)."""
        return self._aborting

    def abort(self) -> None:
        """Stop every actor (they end at their next wait or firing boundary).

        The order matters: ``stopping`` first, then every FIFO is marked aborted, and only then
        the stop flags. An actor that ends because of the flags (a source leaving its loop and
        closing its outputs, a TX seeing the flag) thus finds its FIFOs aborted: an end of
        stream downstream can never come from a stopped run."""
        self._aborting = True
        for f in self.fifos.values():
            f.abort()
        self._stop.flag = True
        if self._native_stop is not None:
            self._native_stop[0] = 1
        self._barrier.abort()

    def _waits(self) -> list[Wait]:
        out = []
        for name, f in self.fifos.items():
            fm = self.index.fifos[name]
            for side, need in f.waiting():
                actor = fm.dst.actor if side == "empty" else fm.src.actor
                out.append(Wait(actor, name, side, f.fill, f.capacity, need))
        return out

    @staticmethod
    def _inside_too_long(alive: list[_ActorThread], inside: dict[str, tuple[int, float]], now: float,
                         wd: float) -> list[Hung]:
        """The actors seen inside the same firing for ``wd`` seconds or more (``inside`` keeps,
        per actor, the firing it was first seen inside and when). TX/RX actors are left out: their
        firings wait on the peer host, whose own watchdog watches its actors."""
        out = []
        for t in alive:
            k = 0 if getattr(t.backend, "waits_on_peer", False) else t.firing_now()
            if not k:
                inside.pop(t.name, None)
                continue
            seen = inside.get(t.name)
            if seen is None or seen[0] != k:
                inside[t.name] = (k, now)
            elif now - seen[1] >= wd:
                out.append(Hung(t.name, k, now - seen[1]))
        return out

    def _stuck(self, firings: int) -> list[Wait] | None:
        """The waits when every running actor sleeps on a FIFO that cannot serve it (fewer
        tokens than it needs, or less room) and no firing happened since ``firings`` was counted:
        then no actor can ever fire again, and the run is deadlocked without waiting for the
        watchdog. None otherwise (an actor that is firing, waits on a socket or a core, or was
        just woken is not stuck)."""
        waits = self._waits()
        if sum(t.live_firings() for t in self.threads) != firings:
            return None
        blocked = {w.actor for w in waits if (w.fill < w.need if w.side == "empty" else w.capacity - w.fill < w.need)}
        running = [t.name for t in self.threads if not t.done]
        if not running or not all(n in blocked for n in running):
            return None
        return [w for w in waits if w.actor in running]

    # ------------------------------------------------------------------ run
    def _pin(self, units: dict[str, Unit]) -> None:
        cores = pinned_cores(self.graph, units)
        for t in self.threads:
            t.cpu = cores.get(t.name)

    def run(self) -> RunResult:
        """Run to the end (iterations reached, end of stream, error or deadlock)."""
        if self._workers is not None:
            self._workers.start()  # fork before any thread of the run exists
        for t in self.threads:
            t.thread = threading.Thread(target=t.main, name=f"vrprune:{t.name}", daemon=True)
            t.thread.start()
        status = "ok"
        waits: list[Wait] = []
        stalled = 0.0
        try:
            try:
                self._barrier.wait()
            except threading.BrokenBarrierError:
                pass
            t0 = time.perf_counter()
            status, waits, stalled = self._monitor(t0)
        except KeyboardInterrupt:
            status = "interrupted"
            self.abort()
            t0 = t0 if "t0" in locals() else time.perf_counter()
        # a stopped actor ends at its next wait; one stuck inside a firing cannot be made to: give
        # those a second in all (not 5 s each), then leave them (daemon threads) and say so
        grace = time.perf_counter() + (1.0 if status in ("hung", "interrupted") else 5.0)
        for t in self.threads:
            assert t.thread is not None
            t.thread.join(timeout=max(grace - time.perf_counter(), 0.01))
        if self._workers is not None:
            self._workers.close()  # none outlives the run: those still inside a firing are killed
        unstopped = [t.name for t in self.threads if t.thread.is_alive()]  # type: ignore[union-attr]
        for t in self.threads:
            if t.name in unstopped:
                t.stats.firings = t.live_firings()  # a C loop that never returned counted them in C
        if not unstopped:
            # every actor's finish drained its queue: no kernel can use a device FIFO now
            for f in self.fifos.values():
                rel = getattr(f, "release_buffers", None)
                if rel is not None:
                    rel()
        wall = time.perf_counter() - t0
        if self._failures and status == "ok":
            status = "error"
        elif self._failures and status == "deadlock":
            status = "error"
        return RunResult(
            status=status, wall_s=wall,
            actors={t.name: t.stats for t in self.threads},
            fifos={n: f.stats() for n, f in self.fifos.items()},
            failures=list(self._failures), waits=waits, stalled_s=stalled,
            slices={t.name: t.slices for t in self.threads if t.slices is not None} if self.trace else None,
            fills={n: (f.fills or []) for n, f in self.fifos.items()} if self.trace else None,
            t0=t0, repetition=dict(self.repetition), hung=list(self._hung), unstopped=unstopped,
            atrs={t.actor.dpg or t.name: t.atrs for t in self.threads if t.atrs is not None} if self.trace else None)

    def _monitor(self, t0: float) -> tuple[str, list[Wait], float]:
        wd = self.watchdog_s
        poll = 0.05 if wd is None else max(0.01, min(0.1, wd / 10))
        last_total = -1
        last_change = time.perf_counter()
        last_print = 0.0
        last_print_total = 0
        stuck_polls = 0
        threads = self.threads
        inside: dict[str, tuple[int, float]] = {}  # actor -> (the firing it was seen inside, since when)
        while True:
            alive = [t for t in threads if not t.done]
            if not alive:
                break
            alive[0].thread.join(timeout=poll)  # type: ignore[union-attr]
            now = time.perf_counter()
            total = sum(t.live_firings() for t in threads)
            if total != last_total:
                last_total, last_change = total, now
            if self._stop.flag:
                return "error" if self._failures else "interrupted", [], 0.0
            if self.progress is not None and now - last_print >= 0.5:
                rate = (total - last_print_total) / (now - last_print) if last_print else 0.0
                it = ""
                if self.iterations is not None:
                    done = min(t.live_firings() // max(self.repetition[t.name], 1) for t in threads)
                    it = f", iteration {done}/{self.iterations}"
                self.progress.write(f"\r[vrprune run] {now - t0:7.1f} s  {total} firings  {rate:,.0f} firings/s{it}   ")
                self.progress.flush()
                last_print, last_print_total = now, total
            if wd is not None:  # an actor inside one firing for wd seconds: hung
                hung = self._inside_too_long(alive, inside, now, wd)
                if hung:
                    self._hung = hung
                    self.abort()
                    return "hung", [], wd
            if wd is not None and now > last_change:  # no firing since the last poll: a certain deadlock?
                stuck = self._stuck(total)
                stuck_polls = stuck_polls + 1 if stuck is not None else 0
                if stuck is not None and stuck_polls >= 2:  # seen twice, with no firing in between
                    self.abort()
                    return "deadlock", stuck, now - last_change
            if wd is not None and now - last_change >= wd:
                waits = self._waits()
                waiting = {w.actor for w in waits}
                running = [t.name for t in threads if not t.done]
                if running and all(n in waiting for n in running):
                    self.abort()
                    return "deadlock", [w for w in waits if w.actor in running], now - last_change
        if self.progress is not None and last_print:
            self.progress.write("\n")
        return "ok", [], 0.0
