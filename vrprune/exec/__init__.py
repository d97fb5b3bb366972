"""Run verified VR-PRUNE graphs: one thread per actor, ring FIFOs, C/OpenCL/Python actors.

    from vrprune.exec import Runtime
    result = Runtime(graph, iterations=100).run()
    result.status, result.firings, result.wall_s

Python actors follow the convention documented in :mod:`vrprune.exec._python`;
:data:`END` ends a stream, :func:`view` reinterprets a token array as its port's type.
"""

from ._backend import END, ActorBackend, BackendError, BackendUnavailable, StubBackend, make_backend
from ._fifo import Aborted, EndOfStream, RingFifo
from ._python import view
from ..rates import InconsistentGraph, dpg_rate_ranges, repetition_vector
from ._options import RunOptions, make_runtime, outputs_written
from ._runtime import (ActorFailure, ActorStats, DeviceEmulation, RunResult, Runtime, RuntimeSetupError, Wait,
                       pinned_cores)
from ._trace import PROFILE_SCHEMA, profile_json, trace_json

__all__ = [
    "END", "ActorBackend", "BackendError", "BackendUnavailable", "StubBackend", "make_backend",
    "Aborted", "EndOfStream", "RingFifo", "view", "InconsistentGraph", "repetition_vector",
    "ActorFailure", "ActorStats", "DeviceEmulation", "RunResult", "Runtime", "RuntimeSetupError", "Wait",
    "dpg_rate_ranges", "RunOptions", "make_runtime", "outputs_written", "pinned_cores",
    "PROFILE_SCHEMA", "profile_json", "trace_json",
]
