"""FIFOs between actor threads: preallocated rings of token slots with zero-copy windows.

Layout. One numpy uint8 buffer of ``capacity + tail`` rows of ``token_bytes``. Token number
``k`` (counting from the start of the run) lives in row ``k % capacity``. ``tail`` is
``max_window - 1`` extra rows after the ring end (a "mirror tail"): a window of n tokens
starting at row p is always the contiguous slice ``buf[p:p+n]``, even when it wraps
around the ring end. Windows that do not wrap (all of them when the rates divide the
capacity, e.g. every rate-1 edge) cost nothing beyond a cached view; a wrapping window costs
one copy of the wrapped part:

* a writer whose window wraps fills rows ``capacity..p+n-1`` of the tail; ``write_end``
  copies them to rows ``0..`` where readers expect them;
* a reader whose window wraps gets rows ``0..`` copied into the tail by ``read_start``.

A reader's window holds filled tokens and a writer's window empty slots; a wrapping window
contains row ``capacity-1``, so the two windows never wrap at the same time and never touch
the tail together.

Synchronisation. Each FIFO has exactly one writer thread and one reader thread. ``wr`` (tokens
written) is changed only by the writer, ``rd`` (tokens read) only by the reader, so the fast
path -- enough tokens / enough room -- reads two ints and takes no lock (each bytecode sees a
consistent int under the GIL). Only a thread that has to sleep takes the FIFO's mutex: it
records what it needs (``rneed``/``wneed``), re-checks, and blocks on its actor's private wake
lock. The other side, after publishing its count, looks at the need flag (no lock) and, only
when it is set, takes the mutex, re-checks and wakes the sleeper. Every wake clears the flag
under the mutex, so each sleep gets exactly one wake (the wake lock is a binary semaphore).
Publish-then-check on both sides means no wake-up is lost: either the sleeper sees the new
count when it re-checks, or the waker sees the flag.

``read_start``/``write_start`` block until the window is available; they raise
:class:`EndOfStream` when the other side has closed and the window can never be filled, and
:class:`Aborted` when the run is being stopped.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

import numpy as np


class EndOfStream(Exception):
    """The other side of the FIFO ended; this window can never be granted."""


class Aborted(Exception):
    """The run is being stopped (actor error, deadlock, interrupt)."""


class _Gate:
    """An actor's private wake-up: a lock used as a binary semaphore, initially taken."""

    __slots__ = ("lock",)

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()


class Fifo(Protocol):
    """What the runtime asks of every FIFO between two actors: :class:`RingFifo` (and its
    OpenCL subclass DeviceFifo, _devfifo.py), NativeFifo (the C ring of _native.py) and ShmFifo
    (shared memory between processes, _shm.py) implement it; a ``fifo_factory`` given to the
    Runtime must too. One writer and one reader; windows of up to the widths given when built.

    ``read_start(n)`` / ``write_start(n)`` block until n tokens / n free slots are there and
    return them as a window (a ``(n, token_bytes)`` uint8 array; a device window for
    DeviceFifo), raising :class:`EndOfStream` when the other side closed and :class:`Aborted`
    when the run stops; ``read_end(n)`` / ``write_end(n)`` commit them. ``peek_i32`` /
    ``put_i32`` carry a control token's atr. ``reader_gate`` / ``writer_gate`` are set by the
    runtime's wiring (the actors' wake-ups; None or ignored where the FIFO wakes its own);
    ``fills`` collects (time, fill) after each commit when the run is traced (None: not)."""

    name: str
    capacity: int
    token_bytes: int
    reader_gate: Any
    writer_gate: Any
    fills: list[tuple[float, int]] | None

    @property
    def fill(self) -> int: ...

    @property
    def max_fill(self) -> int: ...

    @property
    def aborted(self) -> bool: ...

    def read_start(self, n: int) -> Any: ...

    def read_end(self, n: int) -> None: ...

    def peek_i32(self) -> int: ...

    def write_start(self, n: int) -> Any: ...

    def write_end(self, n: int) -> None: ...

    def put_i32(self, value: int) -> None: ...

    def close_read(self) -> None: ...

    def close_write(self) -> None: ...

    def abort(self) -> None: ...

    def waiting(self) -> list[tuple[str, int]]: ...

    def stats(self) -> dict[str, Any]: ...


class RingFifo:
    """A bounded FIFO of fixed-size tokens; see the module docstring. Implements :class:`Fifo`."""

    def __init__(self, name: str, capacity: int, token_bytes: int, initial: int = 0,
                 max_read: int = 1, max_write: int = 1) -> None:
        if capacity < 1:
            raise ValueError(f"fifo {name}: capacity must be >= 1, got {capacity}")
        self.name = name
        self.capacity = capacity
        self.token_bytes = token_bytes
        self.initial = initial
        tail = max(max_read, max_write, 1) - 1
        self.buf = np.zeros((capacity + tail, token_bytes), dtype=np.uint8)
        self.wr = initial  # tokens written; the initial tokens (zeros) count as written
        self.rd = 0
        self.mutex = threading.Lock()
        self.rneed = 0  # tokens the sleeping reader waits for (0: not sleeping)
        self.wneed = 0  # room the sleeping writer waits for
        self.reader_gate: _Gate = _Gate()  # replaced by the runtime with the actors' gates
        self.writer_gate: _Gate = _Gate()
        self.wclosed = False  # writer ended: no more tokens will come
        self.rclosed = False  # reader ended: nobody will consume
        self.aborted = False
        self.max_fill = self.wr
        self.fills: list[tuple[float, int]] | None = None  # (perf_counter, fill) after each commit, when tracing
        self._rviews: dict[int, list[np.ndarray | None]] = {}
        self._wviews: dict[int, list[np.ndarray | None]] = {}

    # ------------------------------------------------------------------ inspection
    @property
    def fill(self) -> int:
        return self.wr - self.rd

    def __repr__(self) -> str:
        return f"<RingFifo {self.name} {self.fill}/{self.capacity}>"

    def _view(self, cache: dict[int, list[np.ndarray | None]], pos: int, n: int, writable: bool) -> np.ndarray:
        views = cache.get(n)
        if views is None:
            views = cache[n] = [None] * self.capacity
        v = views[pos]
        if v is None:
            v = self.buf[pos:pos + n]
            if not writable:
                v = v.view()
                v.flags.writeable = False
            views[pos] = v
        return v

    # ------------------------------------------------------------------ reader side
    def read_start(self, n: int) -> np.ndarray:
        """Wait until n tokens are readable and return them as an (n, token_bytes) view."""
        if self.wr - self.rd < n:
            self._sleep_read(n)
        cap = self.capacity
        pos = self.rd % cap
        if pos + n > cap:  # wraps: bring the head rows into the mirror tail
            k = pos + n - cap
            self.buf[cap:cap + k] = self.buf[:k]
        v = self._rviews.get(n)
        if v is not None:
            w = v[pos]
            if w is not None:
                return w
        return self._view(self._rviews, pos, n, False)

    def peek_i32(self) -> int:
        """Wait for one (control) token and return it as an int, without consuming it."""
        if self.wr - self.rd < 1:
            self._sleep_read(1)
        return int(self.buf[self.rd % self.capacity, :4].view(np.int32)[0])

    def read_end(self, n: int) -> None:
        """Consume the n tokens of the current read window."""
        self.rd += n
        if self.fills is not None:
            self.fills.append((time.perf_counter(), self.wr - self.rd))
        if self.wneed:
            with self.mutex:
                if self.wneed and self.capacity - (self.wr - self.rd) >= self.wneed:
                    self.wneed = 0
                    self.writer_gate.lock.release()

    def _sleep_read(self, n: int) -> None:
        gate = self.reader_gate.lock
        while True:
            with self.mutex:
                if self.wr - self.rd >= n:
                    return
                if self.aborted:
                    raise Aborted()
                if self.wclosed:
                    raise EndOfStream()
                self.rneed = n
            gate.acquire()

    def close_read(self) -> None:
        """The reader ends: a writer waiting for room (or coming later) ends too."""
        with self.mutex:
            self.rclosed = True
            if self.wneed:
                self.wneed = 0
                self.writer_gate.lock.release()

    # ------------------------------------------------------------------ writer side
    def write_start(self, n: int) -> np.ndarray:
        """Wait until there is room for n tokens and return the (n, token_bytes) window."""
        if self.capacity - (self.wr - self.rd) < n:
            self._sleep_write(n)
        pos = self.wr % self.capacity
        v = self._wviews.get(n)
        if v is not None:
            w = v[pos]
            if w is not None:
                return w
        return self._view(self._wviews, pos, n, True)

    def write_end(self, n: int) -> None:
        """Publish the n tokens of the current write window."""
        cap = self.capacity
        pos = self.wr % cap
        if pos + n > cap:  # wrapped into the mirror tail: copy to the ring head
            k = pos + n - cap
            self.buf[:k] = self.buf[cap:cap + k]
        self.wr += n
        fill = self.wr - self.rd
        if fill > self.max_fill:
            self.max_fill = fill
        if self.fills is not None:
            self.fills.append((time.perf_counter(), fill))
        if self.rneed:
            with self.mutex:
                if self.rneed and self.wr - self.rd >= self.rneed:
                    self.rneed = 0
                    self.reader_gate.lock.release()

    def put_i32(self, value: int) -> None:
        """Fill the reserved one-token write window with a control token and publish it."""
        self.buf[self.wr % self.capacity, :4].view(np.int32)[0] = value
        self.write_end(1)

    def _sleep_write(self, n: int) -> None:
        gate = self.writer_gate.lock
        while True:
            with self.mutex:
                if self.aborted:
                    raise Aborted()
                if self.capacity - (self.wr - self.rd) >= n:
                    return  # room: write even if the reader has ended (the tokens are dropped)
                if self.rclosed:
                    raise EndOfStream()
                self.wneed = n
            gate.acquire()

    def close_write(self) -> None:
        """The writer ends: once the remaining tokens cannot fill a window, the reader ends."""
        with self.mutex:
            self.wclosed = True
            if self.rneed:
                self.rneed = 0
                self.reader_gate.lock.release()

    # ------------------------------------------------------------------ run control
    def abort(self) -> None:
        """Wake both sides with :class:`Aborted`."""
        with self.mutex:
            self.aborted = True
            if self.rneed:
                self.rneed = 0
                self.reader_gate.lock.release()
            if self.wneed:
                self.wneed = 0
                self.writer_gate.lock.release()

    def waiting(self) -> list[tuple[str, int]]:
        """Who sleeps on this FIFO now: [("empty", need)] for the reader, [("full", need)] for the writer."""
        with self.mutex:
            out = []
            if self.rneed:
                out.append(("empty", self.rneed))
            if self.wneed:
                out.append(("full", self.wneed))
            return out

    def stats(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "token_bytes": self.token_bytes, "initial": self.initial,
                "tokens_written": self.wr - min(self.initial, self.wr), "tokens_read": self.rd,
                "left": self.wr - self.rd, "max_fill": self.max_fill}
