"""C actors: ``impl c "file.c" { init = f, fire = g, finish = h }``.

The C API is documented in ``vrprune/exec/include/vrprune.h``. The file is compiled by
:mod:`._toolchain` (system compiler, content-hash cache) into a shared library, opened with
cffi in ABI mode, and its entry points are called through cffi function pointers, which
release the GIL: C actors on different threads run in parallel.

Per firing the back-end only writes the data pointer and count of each prebuilt ``vrp_buf``
(``ffi.from_buffer`` on the FIFO views, ~0.3 us each) and makes one foreign call.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import cffi
import numpy as np

from ..diagnostics import DiagnosticError, VrpruneError, error
from ..model import Actor, ActorKind, CImpl, Unit
from . import _toolchain
from ._backend import END, ActorBackend

_CDEF = """
typedef struct { void *data; int32_t count; int32_t token_bytes; } vrp_buf;
typedef struct { const char *name; int32_t kind; int64_t i; double f; const char *s; } vrp_param;
typedef void *(*vrp_init_fn)(const vrp_param *params, int n_params);
typedef int (*vrp_fire_fn)(void *state, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr);
typedef void (*vrp_finish_fn)(void *state);
typedef const char *(*vrp_errfn)(void);
typedef void (*vrp_clearfn)(void);
"""
ffi = cffi.FFI()
ffi.cdef(_CDEF)

VRP_OK = 0
VRP_END = 1
_PARAM_INT, _PARAM_FLOAT, _PARAM_STR = 0, 1, 2

# One ctypes handle per library path (dlopen returns the same handle anyway); kept forever so
# function pointers stay valid.
_libs: dict[str, ctypes.CDLL] = {}
_libs_lock = threading.Lock()


class CActorError(VrpruneError, RuntimeError):
    """A C actor's init or fire reported an error (the message comes from ``vrp_error``)."""


def _open(path: str) -> ctypes.CDLL:
    with _libs_lock:
        lib = _libs.get(path)
        if lib is None:
            lib = _libs[path] = ctypes.CDLL(path)
        return lib


def _symbol(lib: ctypes.CDLL, name: str, ctype: str) -> Any | None:
    try:
        fn = getattr(lib, name)
    except AttributeError:
        return None
    return ffi.cast(ctype, ctypes.cast(fn, ctypes.c_void_p).value)


class CBackend(ActorBackend):
    """Runs one C actor. Compiles (or finds in the cache) at construction, so compile errors
    surface before the run starts."""

    def __init__(self, actor: Actor, unit: Unit | None) -> None:
        super().__init__(actor, unit)
        impl = actor.impl
        assert isinstance(impl, CImpl)
        self.impl = impl
        self.library = _toolchain.build_shared(impl.path, impl.span)
        lib = _open(self.library)
        fire = _symbol(lib, impl.fire, "vrp_fire_fn")
        if fire is None:
            raise DiagnosticError(error("E102", f"actor '{actor.name}': {impl.path} defines no function '{impl.fire}'",
                                        impl.span,
                                        help=f"define `int {impl.fire}(void *state, const vrp_buf *in, int n_in, "
                                             "vrp_buf *out, int n_out, int32_t *atr)` (see vrprune.h)"))
        self._fire = fire
        self._init = self._entry(lib, impl.init, f"{actor.name}_init", "vrp_init_fn")
        self._finish = self._entry(lib, impl.finish, f"{actor.name}_finish", "vrp_finish_fn")
        self._last_error: Any = _symbol(lib, "vrp__last_error", "vrp_errfn")
        self._clear_error: Any = _symbol(lib, "vrp__clear_error", "vrp_clearfn")

        # parameters, kept alive for the actor's life (init may keep the string pointers)
        self._keep: list[Any] = []
        self._params = ffi.new("vrp_param[]", max(len(actor.params), 1))
        for k, p in enumerate(actor.params):
            name = ffi.new("char[]", p.name.encode())
            self._keep.append(name)
            slot = self._params[k]
            slot.name = name
            if isinstance(p.value, str):
                s = ffi.new("char[]", p.value.encode())
                self._keep.append(s)
                slot.kind, slot.s = _PARAM_STR, s
            elif isinstance(p.value, float):
                slot.kind, slot.f, slot.i = _PARAM_FLOAT, p.value, int(p.value)
            else:
                slot.kind, slot.i, slot.f = _PARAM_INT, int(p.value), float(p.value)
        self._n_params = len(actor.params)

        ins = [p for p in actor.inputs if not p.is_control]
        outs = [p for p in actor.outputs if not p.is_control]
        self._n_in, self._n_out = len(ins), len(outs)
        self._inb = ffi.new("vrp_buf[]", max(self._n_in, 1))
        self._outb = ffi.new("vrp_buf[]", max(self._n_out, 1))
        for b, port in zip(self._inb, ins):
            b.token_bytes, b.count = port.token.nbytes, port.rate
        for b, port in zip(self._outb, outs):
            b.token_bytes, b.count = port.token.nbytes, port.rate
        self._in_slots = [self._inb[k] for k in range(self._n_in)]
        self._out_slots = [self._outb[k] for k in range(self._n_out)]
        self._atr = ffi.new("int32_t *", -1)
        self._is_ca = actor.kind is ActorKind.CA
        self._is_source = self._n_in == 0
        self._state = ffi.NULL
        self._started = False
        self._finished = False
        self._crash: Any = None
        self._k = 0

    def _entry(self, lib: ctypes.CDLL, named: str | None, default: str, ctype: str) -> Any | None:
        if named is None:
            return _symbol(lib, default, ctype)
        fn = _symbol(lib, named, ctype)
        if fn is None:
            raise DiagnosticError(error("E102", f"actor '{self.actor.name}': {self.impl.path} defines no function "
                                                f"'{named}'", self.impl.span))
        return fn

    def _error_text(self) -> str:
        if self._last_error is None:
            return ""
        msg = ffi.string(self._last_error()).decode(errors="replace")
        self._clear_error()
        return msg

    def name_crashes(self) -> None:
        """Before the Python loop fires this actor: mark each firing (native.c's crash handler
        then names the actor and the firing if it crashes; the C loop marks its own)."""
        from ._native import CrashMark

        self._crash = CrashMark.make(self.actor.name)
        self._k = 0

    def init(self) -> None:
        self._started = True
        if self._init is not None:
            state = self._init(self._params, self._n_params)
            msg = self._error_text()
            if msg:
                raise CActorError(f"init failed: {msg}")
            self._state = state

    def fire(self, ins: list[np.ndarray], outs: list[np.ndarray], atr: int | None) -> int | None | object:
        from_buffer = ffi.from_buffer
        # the cdata objects from from_buffer must stay alive until the call returns: `keep`
        keep = []
        for b, a in zip(self._in_slots, ins):
            b.data = d = from_buffer(a)
            b.count = len(a)
            keep.append(d)
        for b, a in zip(self._out_slots, outs):
            b.data = d = from_buffer(a, require_writable=True)
            b.count = len(a)
            keep.append(d)
        self._atr[0] = -1 if atr is None else atr
        crash = self._crash
        if crash is not None:
            self._k += 1
            crash.mark(crash.name, self._k)
            rc = self._fire(self._state, self._inb, self._n_in, self._outb, self._n_out, self._atr)
            crash.mark(crash.null, 0)
        else:
            rc = self._fire(self._state, self._inb, self._n_in, self._outb, self._n_out, self._atr)
        if rc == VRP_OK:
            if self._is_ca:
                chosen = self._atr[0]
                if chosen < 0:
                    raise CActorError(f"configuration actor's {self.impl.fire} did not write its atr into *atr")
                return int(chosen)
            return None
        if rc == VRP_END and self._is_source:
            return END
        msg = self._error_text()
        if rc == VRP_END:
            raise CActorError(f"{self.impl.fire} returned VRP_END, but only a source (no data inputs) may end the "
                              f"stream")
        raise CActorError(f"{self.impl.fire} returned {rc}" + (f": {msg}" if msg else ""))

    def finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if self._finish is not None and self._started:
            self._finish(self._state)
        self._state = ffi.NULL
