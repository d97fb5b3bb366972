"""OpenCL C actors: ``impl opencl "file.cl" kernel NAME``.

Device
------
With a :class:`Unit` of kind ``opencl`` (from a mapping): the first platform whose name
contains ``unit.platform``, device ``unit.device`` of it. Otherwise ``$VRPRUNE_CL_PLATFORM``
(a name substring) or, by default, PoCL ("Portable Computing Language"; OpenCL on the CPU,
from pip), device ``$VRPRUNE_CL_DEVICE`` (default 0). Each actor keeps its own context,
queue, program, kernels and device buffers for its whole life (PoCL crashes when a
``cl.Buffer`` is freed while a kernel still refers to it); they are dropped in ``finish``
after ``queue.finish()``.

Kernel convention
-----------------
The kernel's arguments are, in this order:

1. one ``__global const`` buffer per data input port, in declaration order;
2. one ``__global`` buffer per data output port, in declaration order;
3. for a DA or DPA: ``int atr`` (this firing's active token rate);
   for a CA: ``__global int *atr``, one int, preset to -1; the kernel writes its chosen atr;
4. if the actor has ``param state_bytes = N``: ``__global`` state buffer of N bytes,
   persistent across firings (e.g. the weights of a layer).

Buffers hold the tokens contiguously (``count * token_bytes`` bytes; count = static rate or
atr). The NDRange is one-dimensional: ``param global_size`` if given, else the number of
elements of the first output port for this firing (``count * token elements``, bytes for
``bytes(n)`` tokens), else 1. A firing with global size 0 (atr = 0) launches nothing.

Every integer or float ``param NAME = V`` is also a build option ``-D NAME=V``, so kernels
can use the actor's parameters as compile-time constants.

State initialisation: if the program has a kernel named ``param init_kernel`` (default
``<kernel>_init``, optional) and ``state_bytes`` is given, it runs once in ``init()`` with
the state buffer as its only argument over ``state_bytes / 4`` work items (one per 32-bit
word), so weights can be generated on the device from a seed.

Host FIFOs and device FIFOs
---------------------------
Each element of ``ins``/``outs`` is either a numpy window of a host FIFO or a
:class:`~vrprune.exec._devfifo.DeviceWindow` of a device FIFO.

* Host window (a FIFO to or from a CPU actor -- C, Python, TX/RX -- or any FIFO of a run with
  device FIFOs off): the firing copies it host -> device into the actor's own buffer before
  the kernel, or device -> host after it, and waits for its queue (pyopencl releases the GIL
  while it waits). This is the transparent CPU <-> OpenCL hand-over.
* Device window: the runtime makes a FIFO a :class:`~vrprune.exec._devfifo.DeviceFifo` when
  both of its ends are OpenCL actors with the same device key (:meth:`OpenCLBackend.device_key`:
  the same platform and device, whether from one Unit, two Units naming it, or both default)
  and both ports are data ports. The window is bound as the kernel argument directly (a
  sub-buffer of the FIFO's device ring, or its staging buffer filled by a device-to-device
  copy when the window wraps or is misaligned): no host copy. The kernel waits for the events
  the window hands over (the producer's kernel that wrote those slots; for an output, the
  consumer's kernel that last read them), and the firing records its kernel's event in the
  window's slots.

A firing whose windows are all device windows (and that is not a CA) does not wait for its
kernel: the actor thread goes on to its next firing while the device works, and the events
carried by the FIFO slots order the kernels of neighbouring actors (set ``async_ok = False``
to make every firing wait; the runtime does so for timed runs, so that profiles measure
kernels). Any firing with a host window waits for its queue, so a host window is never used
after ``fire`` returns. ``finish`` drains the queue before dropping anything; the runtime
drops the device FIFOs' buffers only after every actor thread has joined.

``h2d``/``d2h`` count this actor's host <-> device copies per data port (instrumentation for
tests and benchmarks).

Turn device FIFOs off with ``Runtime(..., device_fifos=False)`` or
``VRPRUNE_CL_DEVICE_FIFOS=0`` (every FIFO then stays in host memory, as before).

OpenCL actors cannot end the stream (``END`` is for sources of the other back-ends).
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any

import numpy as np

from ..diagnostics import DiagnosticError, Note, VrpruneError, error
from ..model import DTYPE_BYTES, Actor, ActorKind, OpenCLImpl, Span, Unit, UnitKind
from ._backend import ActorBackend
from ._toolchain import ToolchainError, opencl_define

DEFAULT_PLATFORM = "Portable Computing Language"

# pyopencl's platform/device discovery and program builds are not safe to race from many
# actor threads on every ICD; serialise them (they happen once per actor).
_setup_lock = threading.Lock()

# One context per device (key: the cl_device_id), shared by every OpenCL actor of it and by
# the device FIFOs between them. Kept for the life of the process.
_contexts: dict[int, Any] = {}


def shared_context(device: Any) -> Any:
    """The process-wide context of ``device`` (call with ``_setup_lock`` held)."""
    ctx = _contexts.get(device.int_ptr)
    if ctx is None:
        ctx = _contexts[device.int_ptr] = _cl().Context([device])
    return ctx


class OpenCLActorError(VrpruneError, RuntimeError):
    """An OpenCL actor failed while firing."""


def _cl():
    from .._extras import require

    return require("pyopencl", "opencl", "an OpenCL actor")


def find_device(unit: Unit | None) -> Any:
    """The OpenCL device for ``unit`` (see the module docstring)."""
    cl = _cl()
    if unit is not None and unit.kind is UnitKind.OPENCL:
        want, index = unit.platform or DEFAULT_PLATFORM, unit.device
    else:
        want = os.environ.get("VRPRUNE_CL_PLATFORM", DEFAULT_PLATFORM)
        index = int(os.environ.get("VRPRUNE_CL_DEVICE", "0"))
    try:
        platforms = cl.get_platforms()
    except cl.Error as e:
        raise ToolchainError(f"no OpenCL platform available ({e}): `pip install pocl-binary-distribution` "
                             "for OpenCL on the CPU, or install your GPU vendor's OpenCL driver") from e
    names = [p.name for p in platforms]
    for p in platforms:
        if want.lower() in p.name.lower():
            devices = p.get_devices()
            if not 0 <= index < len(devices):
                raise ToolchainError(f"OpenCL platform {p.name!r} has {len(devices)} device(s); device {index} "
                                     f"asked for")
            return devices[index]
    raise ToolchainError(f"no OpenCL platform whose name contains {want!r} (found: {names}); name one in the "
                         "platform file (`opencl NAME \"platform\" device N`) or set VRPRUNE_CL_PLATFORM")


# clang style "file:6:16: error: msg" and PoCL's "error: file:6:16: msg"
_BUILD_RES = (
    re.compile(r"^(?P<file>[^:\n]*):(?P<line>\d+):(?P<col>\d+): (?P<sev>fatal error|error|warning|note): (?P<msg>.*)$"),
    re.compile(r"^(?P<sev>fatal error|error|warning|note): (?P<file>[^:\n]*):(?P<line>\d+):(?P<col>\d+): (?P<msg>.*)$"),
)


def _build_diagnostics(log: str, impl: OpenCLImpl) -> list:
    diags = []
    for raw in log.splitlines():
        m = _BUILD_RES[0].match(raw.strip()) or _BUILD_RES[1].match(raw.strip())
        if m and m["sev"] in ("error", "fatal error"):
            line, col = int(m["line"]), int(m["col"])
            notes = [Note(impl.span, "building the OpenCL actor declared here")] if impl.span.line else []
            diags.append(error("E103", f"OpenCL build error: {m['msg']}", Span(impl.path, line, col, line, col + 1),
                               *notes))
    if not diags:
        diags.append(error("E103", "OpenCL build failed", impl.span, help="build log:\n" + log.strip()))
    return diags


class OpenCLBackend(ActorBackend):
    """Runs one OpenCL kernel as an actor (convention in the module docstring)."""

    def __init__(self, actor: Actor, unit: Unit | None) -> None:
        super().__init__(actor, unit)
        cl = _cl()
        impl = actor.impl
        assert isinstance(impl, OpenCLImpl)
        self.impl = impl
        if not os.path.isfile(impl.path):
            raise DiagnosticError(error("E103", f"OpenCL source file not found: {impl.path}", impl.span,
                                        help="the path in `impl opencl \"...\"` is relative to the .vpr file"))
        with open(impl.path, encoding="utf-8") as f:
            source = f.read()
        options = [d for d in (opencl_define(p.name, p.value) for p in actor.params) if d]
        with _setup_lock:
            self.device = find_device(unit)
            self.ctx = shared_context(self.device)
            self.queue = cl.CommandQueue(self.ctx, self.device)
            try:
                self.program = cl.Program(self.ctx, source).build(options=options)
            except cl.Error as e:  # the message holds the build log
                raise DiagnosticError(_build_diagnostics(str(e), impl)) from None
        names = set(self.program.get_info(cl.program_info.KERNEL_NAMES).split(";"))
        if impl.kernel not in names:
            raise DiagnosticError(error("E103", f"actor '{actor.name}': {os.path.basename(impl.path)} has no kernel "
                                                f"'{impl.kernel}' "
                                                f"(kernels: {', '.join(sorted(n for n in names if n))})",
                                        impl.span))
        self.kernel = getattr(self.program, impl.kernel)

        self._ins = [p for p in actor.inputs if not p.is_control]
        self._outs = [p for p in actor.outputs if not p.is_control]
        mf = cl.mem_flags
        # device buffers sized for the upper rate bound, alive for the actor's life
        self._dins = [cl.Buffer(self.ctx, mf.READ_ONLY, max(p.url, 1) * p.token.nbytes) for p in self._ins]
        self._douts = [cl.Buffer(self.ctx, mf.READ_WRITE, max(p.url, 1) * p.token.nbytes) for p in self._outs]
        for k, b in enumerate(self._dins + self._douts):
            self.kernel.set_arg(k, b)
        nargs = len(self._dins) + len(self._douts)
        self._kind = actor.kind
        self._atr_host = np.full(1, -1, np.int32)
        self._atr_arg = None
        if actor.kind in (ActorKind.DA, ActorKind.DPA):
            self._atr_arg = nargs
            nargs += 1
        elif actor.kind is ActorKind.CA:
            self._datr = cl.Buffer(self.ctx, mf.READ_WRITE, 4)
            self.kernel.set_arg(nargs, self._datr)
            nargs += 1
        self.state = None
        state_bytes = actor.param("state_bytes")
        if state_bytes is not None:
            self.state = cl.Buffer(self.ctx, mf.READ_WRITE, int(state_bytes))
            self.kernel.set_arg(nargs, self.state)
            nargs += 1
        gs = actor.param("global_size")
        self._global_fixed = int(gs) if gs is not None else None
        if self._outs:
            tok = self._outs[0].token
            self._elems_per_token = tok.nbytes // DTYPE_BYTES[tok.dtype] if tok.dtype else tok.nbytes
        else:
            self._elems_per_token = 0
        init_name = actor.param("init_kernel", f"{impl.kernel}_init")
        self._init_kernel = None
        if self.state is not None and init_name in names:
            self._init_kernel = getattr(self.program, str(init_name))
        elif actor.param("init_kernel") is not None:
            raise DiagnosticError(error("E103", f"actor '{actor.name}': init kernel '{init_name}' not found "
                                                "(or no `param state_bytes`)", impl.span))
        self._finished = False
        # what is bound to each buffer argument now (a device window's buffer replaces the
        # actor's own buffer for that firing)
        self._bound: list[Any] = list(self._dins + self._douts)
        self.h2d = [0] * len(self._ins)  # host -> device copies per data input port
        self.d2h = [0] * len(self._outs)  # device -> host copies per data output port
        self.async_ok = True  # firings with only device windows do not wait for their kernel
        self._DeviceWindow: Any = None  # _devfifo.DeviceWindow, imported at the first firing

    def device_key(self) -> int:
        """Equal keys: same OpenCL device, so the actors can share device FIFOs."""
        return int(self.device.int_ptr)

    def init(self) -> None:
        if self._init_kernel is not None:
            cl = _cl()
            self._init_kernel.set_arg(0, self.state)
            words = int(self.actor.param("state_bytes") or 0) // 4
            cl.enqueue_nd_range_kernel(self.queue, self._init_kernel, (words,), None)
            self.queue.finish()

    def _bind(self, k: int, buf: Any) -> None:
        if self._bound[k] is not buf:
            self.kernel.set_arg(k, buf)
            self._bound[k] = buf

    def fire(self, ins: list[Any], outs: list[Any], atr: int | None) -> int | None:
        cl = _cl()
        q = self.queue
        if self._DeviceWindow is None:
            from ._devfifo import DeviceWindow

            self._DeviceWindow = DeviceWindow
        DW = self._DeviceWindow
        waits: list[Any] = []
        dev_wins: list[Any] = []
        host = False
        nin = len(self._dins)
        for k, (d, a) in enumerate(zip(self._dins, ins)):
            if type(a) is DW:
                if a.n:
                    buf, deps = a.bind(q)
                    self._bind(k, buf)
                    waits.extend(deps)
                    dev_wins.append(a)
                else:
                    self._bind(k, d)
            else:
                host = True
                self._bind(k, d)
                if a.size:
                    cl.enqueue_copy(q, d, a, is_blocking=False)
                    self.h2d[k] += 1
        for k, (d, a) in enumerate(zip(self._douts, outs)):
            if type(a) is DW:
                if a.n:
                    buf, deps = a.bind(q)
                    self._bind(nin + k, buf)
                    waits.extend(deps)
                    dev_wins.append(a)
                else:
                    self._bind(nin + k, d)
            else:
                host = True
                self._bind(nin + k, d)
        if self._atr_arg is not None:
            self.kernel.set_arg(self._atr_arg, np.int32(atr if atr is not None else 0))
        elif self._kind is ActorKind.CA:
            cl.enqueue_copy(q, self._datr, self._atr_host, is_blocking=False)
        if self._global_fixed is not None:
            gsize = self._global_fixed
        elif outs:
            gsize = len(outs[0]) * self._elems_per_token
        else:
            gsize = 1
        ev = None
        if gsize > 0:
            ev = cl.enqueue_nd_range_kernel(q, self.kernel, (gsize,), None, wait_for=waits or None)
        if dev_wins:
            if ev is None:  # nothing launched: a marker stands for the firing in the slots' events
                ev = cl.enqueue_marker(q, wait_for=waits or None)
            for w in dev_wins:
                w.release(q, ev)
        for k, (d, a) in enumerate(zip(self._douts, outs)):
            if type(a) is not DW and a.size:
                cl.enqueue_copy(q, a, d, is_blocking=False)
                self.d2h[k] += 1
        if self._kind is ActorKind.CA:
            got = np.empty(1, np.int32)
            cl.enqueue_copy(q, got, self._datr, is_blocking=True)
            if got[0] < 0:
                raise OpenCLActorError(f"configuration kernel {self.impl.kernel} did not write its atr")
            q.finish()
            return int(got[0])
        if host or not self.async_ok or not dev_wins:
            q.finish()
        return None

    def finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self.queue.finish()
        # Release in a safe order: nothing is queued any more.
        self.kernel = None
        self._init_kernel = None
        self.program = None
        self._dins = self._douts = []
        self._bound = []
        self.state = None
