"""Run verified VR-PRUNE graphs: one thread per actor, ring FIFOs, C/OpenCL/Python actors.

    from vrprune.exec import Runtime
    result = Runtime(graph, iterations=100).run()
    result.status, result.firings, result.wall_s

Python actors follow the convention documented in :mod:`vrprune.exec._python`;
:data:`END` ends a stream, :func:`view` reinterprets a token array as its port's type.
"""

from ..rates import InconsistentGraph, dpg_rate_ranges, repetition_vector
from ._backend import END, ActorBackend, BackendError, BackendUnavailable, SlowedBackend, StubBackend, make_backend
from ._fifo import Aborted, EndOfStream, Fifo, RingFifo
from ._options import RunOptions, make_runtime, outputs_written
from ._python import view
from ._runtime import (
    ActorFailure,
    ActorStats,
    DeviceEmulation,
    ExecPlan,
    RunResult,
    Runtime,
    RuntimeSetupError,
    Wait,
    pinned_cores,
)
from ._toolchain import HEADER as C_HEADER
from ._toolchain import ToolchainError, build_shared, cflags, find_cc, header_cdef, opencl_define
from ._trace import PROFILE_SCHEMA, profile_json, trace_json

__all__ = [
    "END", "ActorBackend", "BackendError", "BackendUnavailable", "StubBackend", "make_backend",
    "Aborted", "EndOfStream", "Fifo", "RingFifo", "ExecPlan", "view", "InconsistentGraph", "repetition_vector",
    "ActorFailure", "ActorStats", "DeviceEmulation", "RunResult", "Runtime", "RuntimeSetupError", "Wait",
    "dpg_rate_ranges", "RunOptions", "make_runtime", "outputs_written", "pinned_cores",
    "PROFILE_SCHEMA", "profile_json", "trace_json", "SlowedBackend",
    "C_HEADER", "ToolchainError", "build_shared", "cflags", "find_cc", "header_cdef", "opencl_define", "load_native",
]


def load_native() -> object:
    """The compiled firing loop of native (C) actors and FIFOs (a cffi library); built on first
    use, raises when it cannot be built."""
    from ._native import load

    return load()
