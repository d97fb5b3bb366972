"""Device FIFOs: the FIFO between two OpenCL actors on the same device (see ``_opencl.py``).

A :class:`DeviceFifo` has the counting, blocking, end-of-stream and abort protocol of
:class:`RingFifo` (it subclasses it and inherits every method that does not touch the
tokens), but its ring lives in device memory: one ``cl.Buffer`` of ``capacity`` token slots
in the context shared by every OpenCL actor of that device (token ``k`` in slot
``k % capacity``, as in RingFifo). ``read_start``/``write_start`` return a
:class:`DeviceWindow` instead of a numpy view; the OpenCL back-end binds it as a kernel
argument, so the tokens never travel through host memory.

Layouts. *Slotted* (both sides move the same static number r of tokens; capacity and initial
tokens multiples of r -- every rate-1 edge): ``capacity / r`` separate buffers, each window is
exactly one of them, never a copy. Otherwise one ring buffer:

Windows. A window of n tokens at slot p that does not wrap and starts on the device's
``CL_DEVICE_MEM_BASE_ADDR_ALIGN`` is a sub-buffer of the ring (cached per (p, n)): no copy at
all. Any other window (it wraps around the ring end, or its byte offset is misaligned, e.g.
400-byte tokens at slot 1) goes through a per-FIFO staging buffer with device-to-device
copies (``clEnqueueCopyBuffer``, one or two pieces) -- never through the host:

* a reader's staged window: copies ring -> staging on the reader's queue before its kernel;
* a writer's staged window: the kernel writes staging, then copies staging -> ring on the
  writer's queue after it.

Ordering. Every slot remembers two events: ``wev`` (the last command that wrote it: the
producer's kernel or its staging copy) and ``rev`` (the last command that read it: the
consumer's kernel). Binding a reader window returns the ``wev`` of its slots as the kernel's
``wait_for`` (read after write); binding a writer window returns the ``rev`` of its slots
(write after read: a slot freed by ``read_end`` may still be read by a kernel in flight).
``release(queue, event)`` records the event of the command that used the window. Actors
keep their own in-order queues, so two adjacent actors run concurrently; the FIFO counts
(``wr``/``rd``) may run ahead of the device, the events keep the data right.

Lifetime. The ring, sub-buffers and staging buffers are referenced by the FIFO until
:meth:`release_buffers`, which the runtime calls after every actor thread has joined (every
actor's ``finish`` has drained its queue first), so no buffer is freed while a kernel may
still use it (PoCL crashes otherwise).

Counters. ``copies`` counts the device-to-device copies this FIFO enqueued (staged windows);
host transfers are never made here.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ._fifo import RingFifo, _Gate

_ZERO_BYTE: Any = np.uint8(0)  # the fill pattern (pyopencl takes a numpy scalar; its stubs ask for an array)

class DeviceWindow:
    """n tokens at ring slot ``pos`` of a :class:`DeviceFifo`, for one firing.

    The back-end calls ``bind(queue)`` -> (buffer to pass as the kernel argument, events the
    kernel must wait for) before enqueueing its kernel, then ``release(queue, event)`` with
    the kernel's event (or a marker's) afterwards. Windows are cached and reused by the FIFO:
    do not keep one past the firing."""

    __slots__ = ("fifo", "pos", "n", "writable", "sub", "__weakref__")

    def __init__(self, fifo: "DeviceFifo", pos: int, n: int, writable: bool) -> None:
        self.fifo = fifo
        self.pos = pos
        self.n = n
        self.writable = writable
        self.sub = fifo._subbuffer(pos, n)  # None: staged (wraps or misaligned)

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        return f"<DeviceWindow {self.fifo.name} slots {self.pos}+{self.n}{' w' if self.writable else ''}>"

    @property
    def nbytes(self) -> int:
        return self.n * self.fifo.token_bytes

    @property
    def staged(self) -> bool:
        return self.sub is None

    def bind(self, queue: Any) -> tuple[Any, list[Any]]:
        f = self.fifo
        if self.writable:
            deps = f._events(f.rev, self.pos, self.n)
            if self.sub is not None:
                return self.sub, deps
            return f._staging(True), []  # the staging -> ring copy in release waits for deps
        deps = f._events(f.wev, self.pos, self.n)
        if self.sub is not None:
            return self.sub, deps
        st = f._staging(False)
        f._copy(queue, st, f.ring, 0, self.pos, self.n, deps, to_ring=False)
        return st, []  # in-order queue: the kernel runs after the copy

    def release(self, queue: Any, event: Any) -> None:
        f = self.fifo
        pos, n, cap = self.pos, self.n, f.capacity
        if self.writable:
            if self.sub is None:
                event = f._copy(queue, f.ring, f._staging(True), 0, pos, n, f._events(f.rev, pos, n), to_ring=True)
            evs = f.wev
        else:
            evs = f.rev
        for i in range(pos, pos + n):
            evs[i % cap] = event


class DeviceFifo(RingFifo):
    """A RingFifo whose token slots are device memory (module docstring)."""

    def __init__(self, name: str, capacity: int, token_bytes: int, initial: int = 0,
                 max_read: int = 1, max_write: int = 1, *, context: Any, device: Any,
                 rate: int | None = None) -> None:
        import pyopencl as cl

        if capacity < 1:
            raise ValueError(f"fifo {name}: capacity must be >= 1, got {capacity}")
        self._cl = cl
        self.name = name
        self.capacity = capacity
        self.token_bytes = token_bytes
        self.initial = initial
        self.context = context
        self.device = device
        self.align = max(int(device.mem_base_addr_align) // 8, 1)
        size = max(capacity * token_bytes, 1)
        q = cl.CommandQueue(context, device)
        # Slotted layout: both sides move the same static number of tokens r, capacity and
        # initial tokens are multiples of r: every window is exactly one of capacity/r buffers
        # (no sub-buffer, no staging, and no two windows share a cl_mem, so PoCL never orders
        # the producer's kernel after the consumer's through a common parent buffer).
        self.rate = rate if rate and capacity % rate == 0 and initial % rate == 0 else None
        self.slots: list[Any] | None = None
        self.ring = None
        if self.rate is not None:
            nb = max(self.rate * token_bytes, 1)
            self.slots = [cl.Buffer(context, cl.mem_flags.READ_WRITE, nb) for _ in range(capacity // self.rate)]
            for b in self.slots:
                cl.enqueue_fill_buffer(q, b, _ZERO_BYTE, 0, nb)
        else:
            self.ring = cl.Buffer(context, cl.mem_flags.READ_WRITE, size)
            cl.enqueue_fill_buffer(q, self.ring, _ZERO_BYTE, 0, size)  # initial tokens are zeros, as in RingFifo
        q.finish()
        self.buf = None  # type: ignore[assignment]  # no host ring (RingFifo's buf; one Fifo protocol: issue 16)
        self.wev: list[Any] = [None] * capacity  # last writer command per slot
        self.rev: list[Any] = [None] * capacity  # last reader command per slot
        self._max_read, self._max_write = max(max_read, 1), max(max_write, 1)
        self._stage_tokens = max(max_read, max_write, 1)  # staging holds any window of either side
        self._rstage = self._wstage = None
        self._subs: dict[tuple[int, int], Any] = {}
        self._rwins: dict[tuple[int, int], DeviceWindow] = {}
        self._wwins: dict[tuple[int, int], DeviceWindow] = {}
        self.copies = 0  # device-to-device copies (staged windows)
        self.released = False
        # RingFifo's synchronisation state
        self.wr = initial
        self.rd = 0
        self.mutex = threading.Lock()
        self.rneed = 0
        self.wneed = 0
        self.reader_gate: _Gate = _Gate()
        self.writer_gate: _Gate = _Gate()
        self.wclosed = False
        self.rclosed = False
        self.aborted = False
        self.max_fill = self.wr
        self.fills: list[tuple[float, int]] | None = None

    def __repr__(self) -> str:
        return f"<DeviceFifo {self.name} {self.fill}/{self.capacity}>"

    # ------------------------------------------------------------------ buffers
    def _subbuffer(self, pos: int, n: int) -> Any:
        if n <= 0:
            return None
        if self.slots is not None:
            if n == self.rate and pos % n == 0:
                return self.slots[pos // n]
            raise ValueError(f"fifo {self.name}: window of {n} tokens at slot {pos} in a slotted device FIFO "
                             f"of rate {self.rate}")
        key = (pos, n)
        sub = self._subs.get(key)
        if sub is None:
            off = pos * self.token_bytes
            if pos + n > self.capacity or off % self.align:
                return None
            whole = off == 0 and n == self.capacity
            assert self.ring is not None  # a ring-mode FIFO (no fixed rate)
            sub = self.ring if whole else self.ring.get_sub_region(off, n * self.token_bytes)
            self._subs[key] = sub
        return sub

    def _staging(self, writable: bool) -> Any:
        cl = self._cl
        if writable:
            if self._wstage is None:
                self._wstage = cl.Buffer(self.context, cl.mem_flags.READ_WRITE, self._stage_tokens * self.token_bytes)
            return self._wstage
        if self._rstage is None:
            self._rstage = cl.Buffer(self.context, cl.mem_flags.READ_WRITE, self._stage_tokens * self.token_bytes)
        return self._rstage

    @staticmethod
    def _events(evs: list[Any], pos: int, n: int) -> list[Any]:
        cap = len(evs)
        if n == 1:
            e = evs[pos]
            return [] if e is None else [e]
        out: list[Any] = []
        for i in range(pos, pos + n):
            e = evs[i % cap]
            if e is not None and not any(e is x for x in out):
                out.append(e)
        return out

    def _copy(self, queue: Any, dst: Any, src: Any, stage_off: int, pos: int, n: int, deps: list[Any],
              to_ring: bool) -> Any:
        """Copy n tokens between the staging buffer and ring slots pos.. (wrapping); returns the last event."""
        cl, tb, cap = self._cl, self.token_bytes, self.capacity
        first = min(n, cap - pos)
        pieces = [(pos, stage_off, first)] + ([(0, stage_off + first, n - first)] if n > first else [])
        ev = None
        for ring_slot, st_slot, k in pieces:
            if to_ring:
                ev = cl.enqueue_copy(queue, dst, src, byte_count=k * tb, src_offset=st_slot * tb,
                                     dst_offset=ring_slot * tb, wait_for=deps or None)
            else:
                ev = cl.enqueue_copy(queue, dst, src, byte_count=k * tb, src_offset=ring_slot * tb,
                                     dst_offset=st_slot * tb, wait_for=deps or None)
            self.copies += 1
        return ev

    def release_buffers(self) -> None:
        """Drop the device buffers and events (call only when no queue can still use them)."""
        self.released = True
        self._rwins.clear()
        self._wwins.clear()
        self._subs.clear()
        self.wev = [None] * self.capacity
        self.rev = [None] * self.capacity
        self._rstage = self._wstage = None
        self.ring = None
        self.slots = None

    # ------------------------------------------------------------------ windows
    def _window(self, cache: dict, pos: int, n: int, writable: bool) -> DeviceWindow:
        w = cache.get((pos, n))
        if w is None:
            w = cache[(pos, n)] = DeviceWindow(self, pos, n, writable)
        return w

    def read_start(self, n: int) -> DeviceWindow:  # type: ignore[override]
        """Wait until n tokens are readable; return their device window."""
        if self.wr - self.rd < n:
            self._sleep_read(n)
        return self._window(self._rwins, self.rd % self.capacity, n, False)

    def write_start(self, n: int) -> DeviceWindow:  # type: ignore[override]
        """Wait until there is room for n tokens; return their device window."""
        if self.capacity - (self.wr - self.rd) < n:
            self._sleep_write(n)
        return self._window(self._wwins, self.wr % self.capacity, n, True)

    def write_end(self, n: int) -> None:
        """Publish the n tokens of the current write window (no mirror tail to copy)."""
        import time

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

    def peek_i32(self) -> int:
        raise TypeError(f"fifo {self.name}: a device FIFO carries data tokens, not control tokens")

    def put_i32(self, value: int) -> None:
        raise TypeError(f"fifo {self.name}: a device FIFO carries data tokens, not control tokens")

    def stats(self) -> dict[str, Any]:
        s = super().stats()
        s["device"] = True
        s["d2d_copies"] = self.copies
        return s
