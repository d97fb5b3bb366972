"""The actor back-end interface (docs/helpers-contract.md) and the dispatcher that picks one.

A back-end wraps one actor's implementation. The runtime calls ``init()`` once on the
actor's thread, ``fire(ins, outs, atr)`` once per firing, and ``finish()`` once at the end
(also after an error or a deadlock, so resources are released).
"""

from __future__ import annotations

import importlib
import sys
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


def _where(actor: Actor) -> str:
    return f"{actor.span}: " if actor.span.line else ""


def _lazy(module: str, cls: str, what: str, actor: Actor) -> type:
    try:
        mod = importlib.import_module(f"vrprune.exec.{module}")
    except ModuleNotFoundError as exc:
        if exc.name in (f"vrprune.exec.{module}",):
            raise BackendUnavailable(f"{_where(actor)}actor '{actor.name}': the {what} back-end is unavailable "
                                     f"(vrprune.exec.{module} is not installed in this version)") from None
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
                f"{_where(actor)}warning: actor '{actor.name}' has no implementation; using a stub that zero-fills its outputs")
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
