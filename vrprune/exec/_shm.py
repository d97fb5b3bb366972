"""FIFOs between processes: the ring of :mod:`._fifo` in anonymous shared memory.

Same layout, window and firing rule as :class:`~._fifo.RingFifo` (and runtime/vrp_fifo.h): one
buffer of ``capacity + tail`` rows of ``token_bytes``, token k in row ``k % capacity``, a mirror
tail of ``max_window - 1`` rows so every window is one contiguous zero-copy view; a reader's
window is released by ``read_end`` (end of its firing), a writer's room is claimed by
``write_start`` (start of its firing) and published by ``write_end``. Only where the ring lives
and how the two sides wait differ:

* The header (``wr``, ``rd``, the sleepers' needs, the closed/aborted flags, ``max_fill``) and
  the rows live in one ``mmap(-1, ...)`` made before the worker processes are forked
  (:mod:`._worker`): anonymous, so nothing is named in /dev/shm and nothing can leak; the
  kernel frees it when the last process holding it ends.
* Every operation takes the FIFO's lock (a POSIX semaphore from ``multiprocessing``, forked
  with the ring): the lock orders the rows before the counters on every CPU architecture,
  and costs about 0.1 us uncontended. A side that must wait records its need under the lock
  and sleeps on its own semaphore (``rsem``/``wsem``); the other side, after committing under
  the lock, posts it when the need is met. Abort and close post both semaphores. Sleeps
  re-check after every wake, so an extra post is only a spurious wake-up.
* A process killed while it holds the lock (``kill -9``) cannot hang the others: every wait for
  the lock gives up after :data:`_LOCK_POLL_S` to look at the ``aborted`` flag, which the
  parent's :meth:`abort` sets without the lock once it has seen the death.
"""

from __future__ import annotations

import mmap
import multiprocessing
from typing import Any

import numpy as np

from ._fifo import Aborted, EndOfStream

_WR, _RD, _RNEED, _WNEED, _WCLOSED, _RCLOSED, _ABORTED, _MAXFILL = range(8)
_HEADER = 128  # bytes before the rows (64-byte aligned rows)
_LOCK_POLL_S = 0.2
_SLEEP_POLL_S = 1.0  # a sleeper re-checks at least this often (a lost post cannot hang it)


def fork_context() -> Any:
    """The ``multiprocessing`` context of the workers (fork: the rings are inherited)."""
    return multiprocessing.get_context("fork")


class ShmFifo:
    """A bounded FIFO of fixed-size tokens between processes; RingFifo's interface."""

    def __init__(self, name: str, capacity: int, token_bytes: int, initial: int = 0,
                 max_read: int = 1, max_write: int = 1) -> None:
        if capacity < 1:
            raise ValueError(f"fifo {name}: capacity must be >= 1, got {capacity}")
        self.name = name
        self.capacity = capacity
        self.token_bytes = token_bytes
        self.initial = initial
        rows = capacity + max(max_read, max_write, 1) - 1
        self._mm = mmap.mmap(-1, _HEADER + max(rows * token_bytes, 1))
        self._h = memoryview(self._mm).cast("B")[:_HEADER].cast("q")
        self.buf = np.frombuffer(self._mm, dtype=np.uint8, count=rows * token_bytes,
                                 offset=_HEADER).reshape(rows, token_bytes)
        self._h[_WR] = self._h[_MAXFILL] = initial
        ctx = fork_context()
        self._lock = ctx.Lock()
        self._rsem = ctx.Semaphore(0)
        self._wsem = ctx.Semaphore(0)
        self.fills: list[tuple[float, int]] | None = None  # fill tracing is not offered across processes
        self.reader_gate: Any = None  # the runtime's wiring sets these; the semaphores above are used
        self.writer_gate: Any = None
        self._rviews: dict[tuple[int, int], np.ndarray] = {}
        self._wviews: dict[tuple[int, int], np.ndarray] = {}

    # ------------------------------------------------------------------ the lock
    def _acquire(self) -> None:
        lk = self._lock
        if lk.acquire(True, _LOCK_POLL_S):
            return
        while not lk.acquire(True, _LOCK_POLL_S):
            if self._h[_ABORTED]:
                raise Aborted()

    # ------------------------------------------------------------------ inspection
    @property
    def wr(self) -> int:
        return self._h[_WR]

    @property
    def rd(self) -> int:
        return self._h[_RD]

    @property
    def fill(self) -> int:
        return self._h[_WR] - self._h[_RD]

    @property
    def aborted(self) -> bool:
        return bool(self._h[_ABORTED])

    @property
    def max_fill(self) -> int:
        return self._h[_MAXFILL]

    def __repr__(self) -> str:
        return f"<ShmFifo {self.name} {self.fill}/{self.capacity}>"

    def _view(self, cache: dict[tuple[int, int], np.ndarray], pos: int, n: int, writable: bool) -> np.ndarray:
        v = cache.get((pos, n))
        if v is None:
            v = self.buf[pos:pos + n]
            if not writable:
                v = v.view()
                v.flags.writeable = False
            cache[(pos, n)] = v
        return v

    # ------------------------------------------------------------------ reader side
    def read_start(self, n: int) -> np.ndarray:
        """Wait until n tokens are readable and return them as an (n, token_bytes) view."""
        h = self._h
        self._acquire()
        try:
            if h[_ABORTED]:
                raise Aborted()
            rd = h[_RD]
            if h[_WR] - rd < n:
                self._lock.release()
                try:
                    self._sleep_read(n)
                finally:
                    self._acquire()
            cap = self.capacity
            pos = rd % cap
            if pos + n > cap:  # wraps: bring the head rows into the mirror tail
                k = pos + n - cap
                self.buf[cap:cap + k] = self.buf[:k]
        finally:
            self._lock.release()
        return self._view(self._rviews, pos, n, False)

    def peek_i32(self) -> int:
        """Wait for one (control) token and return it as an int, without consuming it."""
        v = self.read_start(1)
        return int(v[0, :4].view(np.int32)[0])

    def read_end(self, n: int) -> None:
        """Consume the n tokens of the current read window."""
        h = self._h
        self._acquire()
        post = False
        try:
            h[_RD] = rd = h[_RD] + n
            need = h[_WNEED]
            if need and self.capacity - (h[_WR] - rd) >= need:
                h[_WNEED] = 0
                post = True
        finally:
            self._lock.release()
        if post:
            self._wsem.release()

    def _sleep_read(self, n: int) -> None:
        h = self._h
        while True:
            self._acquire()
            try:
                if h[_WR] - h[_RD] >= n:
                    h[_RNEED] = 0
                    return
                if h[_ABORTED]:
                    raise Aborted()
                if h[_WCLOSED]:
                    raise EndOfStream()
                h[_RNEED] = n
            finally:
                self._lock.release()
            self._rsem.acquire(True, _SLEEP_POLL_S)

    def close_read(self) -> None:
        """The reader ends: a writer waiting for room (or coming later) ends too."""
        self._set(_RCLOSED)

    # ------------------------------------------------------------------ writer side
    def write_start(self, n: int) -> np.ndarray:
        """Wait until there is room for n tokens and return the (n, token_bytes) window."""
        h = self._h
        self._acquire()
        try:
            if h[_ABORTED]:
                raise Aborted()
            wr = h[_WR]
            if self.capacity - (wr - h[_RD]) < n:
                self._lock.release()
                try:
                    self._sleep_write(n)
                finally:
                    self._acquire()
        finally:
            self._lock.release()
        self._wpos = pos = wr % self.capacity
        return self._view(self._wviews, pos, n, True)

    def write_end(self, n: int) -> None:
        """Publish the n tokens of the current write window."""
        h = self._h
        cap = self.capacity
        self._acquire()
        post = False
        try:
            wr = h[_WR]
            pos = wr % cap
            if pos + n > cap:  # wrapped into the mirror tail: copy to the ring head
                k = pos + n - cap
                self.buf[:k] = self.buf[cap:cap + k]
            h[_WR] = wr = wr + n
            fill = wr - h[_RD]
            h[_MAXFILL] = max(h[_MAXFILL], fill)
            need = h[_RNEED]
            if need and fill >= need:
                h[_RNEED] = 0
                post = True
        finally:
            self._lock.release()
        if post:
            self._rsem.release()

    def put_i32(self, value: int) -> None:
        """Fill the reserved one-token write window with a control token and publish it."""
        self.buf[self._wpos, :4].view(np.int32)[0] = value
        self.write_end(1)

    def _sleep_write(self, n: int) -> None:
        h = self._h
        while True:
            self._acquire()
            try:
                if h[_ABORTED]:
                    raise Aborted()
                if self.capacity - (h[_WR] - h[_RD]) >= n:
                    h[_WNEED] = 0
                    return  # room: write even if the reader has ended (the tokens are dropped)
                if h[_RCLOSED]:
                    raise EndOfStream()
                h[_WNEED] = n
            finally:
                self._lock.release()
            self._wsem.acquire(True, _SLEEP_POLL_S)

    def close_write(self) -> None:
        """The writer ends: once the remaining tokens cannot fill a window, the reader ends."""
        self._set(_WCLOSED)

    # ------------------------------------------------------------------ run control
    def _set(self, flag: int) -> None:
        """Raise a flag and wake both sides; never blocks for long (the lock may be held by a
        dead process: then the flag is set without it, which is what waiters poll for)."""
        locked = self._lock.acquire(True, _LOCK_POLL_S)
        try:
            self._h[flag] = 1
            self._h[_RNEED] = self._h[_WNEED] = 0
        finally:
            if locked:
                self._lock.release()
        self._rsem.release()
        self._wsem.release()

    def abort(self) -> None:
        """Wake both sides with :class:`Aborted` (in every process)."""
        self._h[_ABORTED] = 1  # first, without the lock: a waiter for a dead holder's lock sees it
        self._set(_ABORTED)

    def waiting(self) -> list[tuple[str, int]]:
        """Who sleeps on this FIFO now: [("empty", need)] for the reader, [("full", need)] for the writer."""
        h = self._h
        out = []
        if h[_RNEED]:
            out.append(("empty", h[_RNEED]))
        if h[_WNEED]:
            out.append(("full", h[_WNEED]))
        return out

    def stats(self) -> dict[str, Any]:
        h = self._h
        wr, rd = h[_WR], h[_RD]
        return {"capacity": self.capacity, "token_bytes": self.token_bytes, "initial": self.initial,
                "tokens_written": wr - min(self.initial, wr), "tokens_read": rd,
                "left": wr - rd, "max_fill": h[_MAXFILL]}
