"""The C core of the runtime (``runtime/native.c``): FIFOs in C and a firing loop for C actors.

Why: a firing driven from Python costs a few microseconds of interpreter time under the GIL,
and a C actor's cffi call releases and re-takes the GIL on every firing; with ten C actors on
two cores that caps a copy chain below the rate of GNU Radio. So a C actor whose back-end
exposes its raw entry points runs its *whole loop* in C (``vrp_actor_run``, one cffi call
that releases the GIL for the entire run), and every FIFO touching such an actor is a
:class:`NativeFifo` (C counters, mutex and condition variables; same ring layout with a
mirror tail as :class:`RingFifo`, buffer owned by numpy). Python actors on the other end of a
NativeFifo use the same methods as on a RingFifo; each call is a cffi call.

The C back-end's object must offer ``_fire`` (a ``vrp_fire_fn`` cdata pointer or address),
``_state`` (set by ``init``) and ``_error_text()``; otherwise the actor runs the Python loop.
Optional: ``native_bind(actor, flush)`` (given the loop's actor and ``vrp_actor_flush``: a fire
that may wait outside the FIFOs -- on a socket -- must call ``flush(actor)`` itself before such
a wait, as the batched wake-ups require), ``native_greedy`` (the most firings its
fire may do in one call: runtime/vrp_fifo.h's greedy windows; the TX and RX of plain TCP edges)
and ``native_failure()`` (the exception of a failed firing).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import cffi
import numpy as np

from ._fifo import Aborted, EndOfStream
from ._toolchain import HEADER, header_cdef

A_DONE, A_END, A_EOS, A_ABORT, A_FIRE_ERROR, A_BAD_ATR, A_NO_ATR, A_BAD_END = range(8)

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runtime", "native.c")
ffi = cffi.FFI()
ffi.cdef(header_cdef(HEADER))  # vrp_buf, vrp_fire_fn (vrprune.h)
ffi.cdef(header_cdef(os.path.join(os.path.dirname(SOURCE), "vrp_native.h")))  # vrp_actor and the exports
_lib: Any = None
_lib_lock = threading.Lock()


def load() -> Any:
    """Compile (cached) and open the native core. Raises if no C compiler is available."""
    global _lib
    with _lib_lock:
        if _lib is None:
            from ._toolchain import build_shared

            _lib = ffi.dlopen(build_shared(SOURCE, extra_flags=("-pthread",)))
            _lib.vrp_install_crash_handler()  # names the C actor and firing that crash (native.c)
        return _lib


class CrashMark:
    """What a C actor fired by the Python loop calls around each firing, so that a crash inside
    it is named with the firing (native.c's handler); None where the C core is unavailable."""

    def __init__(self, actor: str) -> None:
        self.lib = load()
        self.name = ffi.new("char[]", actor.encode("utf-8", "replace")[:200])
        self.mark = self.lib.vrp_crash_mark
        self.null = ffi.NULL

    @classmethod
    def make(cls, actor: str) -> "CrashMark | None":
        try:
            return cls(actor)
        except Exception:  # no compiler for the C core: crashes go unnamed, nothing else changes
            return None


def native_capable(backend: Any) -> bool:
    return (all(hasattr(backend, n) for n in ("_fire", "_state", "_error_text"))
            and os.environ.get("VRPRUNE_NATIVE", "1") != "0")


class NativeFifo:
    """A FIFO in C with RingFifo's interface (see :mod:`._fifo`)."""

    def __init__(self, name: str, capacity: int, token_bytes: int, initial: int = 0,
                 max_read: int = 1, max_write: int = 1) -> None:
        self.lib = lib = load()
        self.name = name
        self.capacity = capacity
        self.token_bytes = token_bytes
        self.initial = initial
        tail = max(max_read, max_write, 1) - 1
        self.buf = np.zeros((capacity + tail, token_bytes), dtype=np.uint8)
        self.ptr = ffi.gc(lib.vrp_fifo_new(ffi.cast("void *", self.buf.ctypes.data), capacity, token_bytes, initial),
                          lib.vrp_fifo_free)
        self._st = ffi.new("int64_t[8]")
        self._wpos = 0
        self.fills: list[tuple[float, int]] | None = None  # not traced (tracing runs use RingFifo)
        self.reader_gate = self.writer_gate = None
        self._rviews: dict[tuple[int, int], np.ndarray] = {}
        self._wviews: dict[tuple[int, int], np.ndarray] = {}

    def _stat(self) -> list[int]:
        self.lib.vrp_fifo_stat(self.ptr, self._st)
        return list(self._st)

    @property
    def wr(self) -> int:
        return self._stat()[0]

    @property
    def rd(self) -> int:
        return self._stat()[1]

    @property
    def fill(self) -> int:
        s = self._stat()
        return s[0] - s[1]

    @property
    def aborted(self) -> bool:
        """Whether the run was stopped (error, deadlock, interrupt), as RingFifo.aborted."""
        return bool(self._stat()[6])

    @property
    def max_fill(self) -> int:
        return self._stat()[7]

    def __repr__(self) -> str:
        return f"<NativeFifo {self.name} {self.fill}/{self.capacity}>"

    def read_start(self, n: int) -> np.ndarray:
        pos = self.lib.vrp_fifo_read_start(self.ptr, n)
        if pos < 0:
            raise EndOfStream() if pos == -1 else Aborted()
        v = self._rviews.get((pos, n))
        if v is None:
            v = self.buf[pos:pos + n].view()
            v.flags.writeable = False
            self._rviews[(pos, n)] = v
        return v

    def peek_i32(self) -> int:
        pos = self.lib.vrp_fifo_read_start(self.ptr, 1)
        if pos < 0:
            raise EndOfStream() if pos == -1 else Aborted()
        return int(self.buf[pos, :4].view(np.int32)[0])

    def read_end(self, n: int) -> None:
        self.lib.vrp_fifo_read_end(self.ptr, n)

    def write_start(self, n: int) -> np.ndarray:
        pos = self.lib.vrp_fifo_write_start(self.ptr, n)
        if pos < 0:
            raise EndOfStream() if pos == -1 else Aborted()
        self._wpos = pos
        v = self._wviews.get((pos, n))
        if v is None:
            v = self._wviews[(pos, n)] = self.buf[pos:pos + n]
        return v

    def write_end(self, n: int) -> None:
        self.lib.vrp_fifo_write_end(self.ptr, n)

    def put_i32(self, value: int) -> None:
        """Fill the reserved one-token write window with a control token and publish it."""
        self.buf[self._wpos, :4].view(np.int32)[0] = value
        self.lib.vrp_fifo_write_end(self.ptr, 1)

    def close_write(self) -> None:
        self.lib.vrp_fifo_close_write(self.ptr)

    def close_read(self) -> None:
        self.lib.vrp_fifo_close_read(self.ptr)

    def abort(self) -> None:
        self.lib.vrp_fifo_abort(self.ptr)

    def waiting(self) -> list[tuple[str, int]]:
        s = self._stat()
        out = []
        if s[2]:
            out.append(("empty", s[2]))
        if s[3]:
            out.append(("full", s[3]))
        return out

    def stats(self) -> dict[str, Any]:
        wr, rd, *_rest, mx = self._stat()
        return {"capacity": self.capacity, "token_bytes": self.token_bytes, "initial": self.initial,
                "tokens_written": wr - min(self.initial, wr), "tokens_read": rd, "left": wr - rd, "max_fill": mx}


class NativeLoop:
    """The C firing loop of one C actor; built on the actor's thread after ``init``."""

    def __init__(self, t: Any, stop: Any, timed: bool) -> None:
        self.lib = load()
        be = t.backend
        a = self.a = ffi.new("vrp_actor *")
        keep: list[Any] = []

        def arr(ctype: str, values: list[Any]) -> Any:
            c = ffi.new(f"{ctype}[]", max(len(values), 1))
            for i, v in enumerate(values):
                c[i] = v
            keep.append(c)
            return c

        a.n_in, a.n_out, a.n_cout = len(t.in_specs), len(t.out_specs), len(t.ctrl_outs)
        setattr(a, "in", arr("vrp_fifo *", [f.ptr for f, _ in t.in_specs]))
        a.in_rate = arr("int32_t", [r for _, r in t.in_specs])
        a.out = arr("vrp_fifo *", [f.ptr for f, _ in t.out_specs])
        a.out_rate = arr("int32_t", [r for _, r in t.out_specs])
        a.cin = t.ctrl_in.ptr if t.ctrl_in is not None else ffi.NULL
        a.cout = arr("vrp_fifo *", [f.ptr for f in t.ctrl_outs])
        a.fire = ffi.cast("vrp_fire_fn", be._fire)
        a.state = ffi.cast("void *", be._state)
        inb = ffi.new("vrp_buf[]", max(len(t.in_specs), 1))
        outb = ffi.new("vrp_buf[]", max(len(t.out_specs), 1))
        for b, (f, _) in zip(inb, t.in_specs):
            b.token_bytes = f.token_bytes
        for b, (f, _) in zip(outb, t.out_specs):
            b.token_bytes = f.token_bytes
        keep += [inb, outb]
        a.inb, a.outb = inb, outb
        a.limit = t.limit
        a.is_ca = int(t.is_ca)
        a.is_source = int(not t.in_specs and t.ctrl_in is None)
        if t.atr_bounds is not None:
            a.check_atr, a.lo, a.hi = 1, t.atr_bounds[0], t.atr_bounds[1]
        if t.replay:
            a.replay = arr("int32_t", t.replay)
            a.n_replay = len(t.replay)
        a.timed = int(timed)
        bind = getattr(be, "native_bind", None)  # a back-end that waits on a socket flushes the loop itself
        if bind is not None:
            bind(int(ffi.cast("uintptr_t", a)), int(ffi.cast("uintptr_t", self.lib.vrp_actor_flush)))
        a.greedy = int(getattr(be, "native_greedy", 0) or 0)
        a.stop = stop
        a.min_s = float("inf")
        name = ffi.new("char[]", str(getattr(t, "name", "?")).encode("utf-8", "replace")[:200])
        keep.append(name)
        a.name = name
        self._keep = keep

    def run(self) -> int:
        return self.lib.vrp_actor_run(self.a)

    @property
    def firings(self) -> int:
        return int(self.a.firings)

    @property
    def in_fire(self) -> int:
        """The firing under way (1-based), 0 between firings (the watchdog reads it)."""
        return int(self.a.in_fire)


def new_stop() -> Any:
    return ffi.new("int32_t *", 0)
