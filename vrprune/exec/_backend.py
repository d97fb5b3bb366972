"""The actor back-end interface (docs/helpers-contract.md) and the dispatcher that picks one.

A back-end wraps one actor's implementation. The runtime calls ``init()`` once on the
actor's thread, ``fire(ins, outs, atr)`` once per firing, and ``finish()`` once at the end
(also after an error or a deadlock, so resources are released).
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from typing import Any, Callable

import numpy as np

from ..diagnostics import VrpruneError
from ..model import Actor, ActorKind, CImpl, OpenCLImpl, PythonImpl, Unit


class _EndOfStream:
    """Type of :data:`END`, the value a source's ``fire`` returns to end the stream."""

    _instance: "_EndOfStream | None" = None

    def __new__(cls) -> "_EndOfStream":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "vrprune.exec.END"

    def __reduce__(self) -> str:
        return "END"


END = _EndOfStream()
"""Returned by a source actor's ``fire`` (an actor with no data inputs) to end the stream.
The outputs of that firing are discarded; end-of-stream then travels down every FIFO."""


class BackendError(VrpruneError):
    """An actor implementation cannot be loaded or set up."""


class BackendUnavailable(BackendError):
    """The back-end for an implementation kind is not installed or not built."""


class ActorBackend:
    """One actor's implementation, as the runtime sees it.

    ``ins``: one C-contiguous uint8 array of shape (n_tokens, token_bytes) per *data* input
    port, in declaration order (control ports excluded); n_tokens is the static rate, or atr
    for variable ports. ``outs``: the same for data output ports, writable; fill them.
    The arrays are views into the FIFO rings: valid only during the call, do not keep them.
    ``atr``: for DA/DPA the active token rate of this firing; None otherwise.
    Return: a CA returns its chosen atr (int); a source may return :data:`END`;
    everything else returns None.
    """

    def __init__(self, actor: Actor, unit: Unit | None) -> None:
        self.actor = actor
        self.unit = unit

    def init(self) -> None:
        pass

    def fire(self, ins: list[np.ndarray], outs: list[np.ndarray], atr: int | None) -> int | None | object:
        raise NotImplementedError

    def finish(self) -> None:
        pass

    def join_fifos(self, ins: list[Any], outs: list[Any], stopping: Callable[[], bool]) -> None:
        """Called once while the Runtime is built, after its FIFOs exist: ``ins`` / ``outs`` are
        the FIFOs of every input / output port (control ports included) in declaration order,
        ``stopping()`` tells whether the run is being stopped. A back-end that must tell a stop
        from an end (the TX and RX of a distributed run) keeps them; the rest ignore them."""


class StubBackend(ActorBackend):
    """Built-in stand-in for an actor without an implementation (``--stub-missing``):
    zero-fills its outputs; as a CA it chooses the DPG's upper rate bound."""

    def __init__(self, actor: Actor, unit: Unit | None, atr: int = 0) -> None:
        super().__init__(actor, unit)
        self._atr = atr

    def fire(self, ins: list[np.ndarray], outs: list[np.ndarray], atr: int | None) -> int | None:
        for o in outs:
            o.fill(0)
        return self._atr if self.actor.kind is ActorKind.CA else None


class SlowedBackend(ActorBackend):
    """Wraps one actor's back-end to emulate a slower device (``Runtime(emulation=...)``).

    ``slowdown`` F >= 1: after a firing that took t seconds, sleep (F - 1) t, so the firing
    takes F t. ``gate``: a semaphore shared by the device's actors, held around the firing and
    its sleep: at most that many firings of the device run at once (its cores).
    ``record``: keep every firing's (start, end) in :attr:`spans` (``time.perf_counter``; the
    start is taken once the gate is held, the end after the sleep; a source's END firing is not
    kept) and the time spent inside the wrapped ``fire`` in :attr:`inner_s`.

    Deliberately exposes nothing of the wrapped back-end but init / fire / finish: the runtime
    sees no C entry points (``_fire``, ``_state``), so a wrapped C actor runs the Python firing
    loop, where the sleep happens, instead of the C loop, which would bypass it; and no
    ``device_key``, so a wrapped OpenCL actor uses host FIFOs and every firing waits for its
    kernel (the time t includes the kernel).
    """

    def __init__(self, inner: Any, slowdown: float = 1.0, gate: threading.Semaphore | None = None,
                 record: bool = True) -> None:
        super().__init__(inner.actor, getattr(inner, "unit", None))
        self.inner = inner
        self.slowdown = float(slowdown)
        self.gate = gate
        self.spans: list[tuple[float, float]] | None = [] if record else None
        self.inner_s = 0.0

    def init(self) -> None:
        self.inner.init()

    def fire(self, ins: list[np.ndarray], outs: list[np.ndarray], atr: int | None) -> int | None | object:
        perf = time.perf_counter
        gate = self.gate
        if gate is not None:
            gate.acquire()
        try:
            t0 = perf()
            ret = self.inner.fire(ins, outs, atr)
            t1 = perf()
            if self.slowdown > 1.0:
                time.sleep((self.slowdown - 1.0) * (t1 - t0))
            t2 = perf()
        finally:
            if gate is not None:
                gate.release()
        if ret is not END:
            self.inner_s += t1 - t0
            if self.spans is not None:
                self.spans.append((t0, t2))
        return ret

    def finish(self) -> None:
        self.inner.finish()

    def join_fifos(self, ins: list[Any], outs: list[Any], stopping: Callable[[], bool]) -> None:
        join = getattr(self.inner, "join_fifos", None)
        if join is not None:
            join(ins, outs, stopping)


def _where(actor: Actor) -> str:
    return f"{actor.span}: " if actor.span.line else ""


def _lazy(module: str, cls: str, what: str, actor: Actor) -> type:
    """The back-end class, imported on first use (an optional package it needs may be missing)."""
    try:
        mod = importlib.import_module(f"vrprune.exec.{module}")
    except ModuleNotFoundError as exc:
        raise BackendUnavailable(f"{_where(actor)}actor '{actor.name}': the {what} back-end is unavailable: "
                                 f"missing module {exc.name!r}") from exc
    return getattr(mod, cls)


def make_backend(actor: Actor, unit: Unit | None = None, *, stub_missing: bool = False,
                 warn: Callable[[str], Any] | None = None, stub_atr: int = 0) -> ActorBackend:
    """Build the back-end for ``actor`` from the type of ``actor.impl``.

    PythonImpl -> ``_python.PythonBackend``, CImpl -> ``_c.CBackend``,
    OpenCLImpl -> ``_opencl.OpenCLBackend``. An actor without an implementation is an error,
    unless ``stub_missing``: then it gets a :class:`StubBackend` and a warning.
    """
    impl = actor.impl
    if impl is None:
        if stub_missing:
            (warn or (lambda m: print(m, file=sys.stderr)))(
                f"{_where(actor)}warning: actor '{actor.name}' has no implementation; using a stub that zero-fills "
                f"its outputs")
            return StubBackend(actor, unit, stub_atr)
        raise BackendError(f"{_where(actor)}actor '{actor.name}' has no implementation "
                           f"(add `impl python \"file.py:Name\"`, `impl c ...` or `impl opencl ...`, "
                           f"or run with --stub-missing for a structural run)")
    if isinstance(impl, PythonImpl):
        from ._python import PythonBackend

        return PythonBackend(actor, unit)
    if isinstance(impl, CImpl):
        return _lazy("_c", "CBackend", "C", actor)(actor, unit)
    if isinstance(impl, OpenCLImpl):
        return _lazy("_opencl", "OpenCLBackend", "OpenCL", actor)(actor, unit)
    raise BackendError(f"{_where(actor)}actor '{actor.name}': unknown implementation type {type(impl).__name__}")
