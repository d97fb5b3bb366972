"""`vrprune import`: an ONNX model becomes a .vpr graph whose actors run its layers with
onnxruntime.

    from vrprune.onnximport import analyze, write
    plan = analyze("mobilenetv2.onnx", shapes={"input": (1, 3, 224, 224)}, group=0)
    files = write(plan, "out")      # out/mobilenetv2.vpr, out/mobilenetv2.npz, out/onnx_actors.py

:func:`analyze` decides everything (layers, actors, ports, FIFOs, subgraphs) and writes
nothing; :func:`write` and :func:`render_vpr` only render the plan. The runtime actors are in
:mod:`vrprune.onnximport.actors`.
"""

from __future__ import annotations

import os

from ..model import Actor, PythonImpl
from ._analysis import (
    ActorPlan,
    EdgePlan,
    ImportPlan,
    OnnxImportError,
    TensorInfo,
    analyze,
    parse_shape_overrides,
)
from ._exits import ExitSpec, parse_exit
from ._ops import COMPUTE, FOLLOWERS, SUPPORTED
from ._write import ACTORS_FILE, MARKER, Written, render_vpr, write


def is_onnxruntime_actor(actor: Actor) -> bool:
    """Whether ``actor`` runs an imported layer (or its Input/Output) with the actors of
    :mod:`vrprune.onnximport.actors`."""
    impl = actor.impl
    if not isinstance(impl, PythonImpl):
        return False
    if impl.module.startswith(MARKER):
        return True
    if impl.module.endswith(".py") and os.path.isfile(impl.module):
        try:
            with open(impl.module, encoding="utf-8", errors="replace") as f:
                return MARKER in f.read(4096)
        except OSError:
            return False
    return False


__all__ = ["ACTORS_FILE", "COMPUTE", "FOLLOWERS", "SUPPORTED", "ActorPlan", "EdgePlan", "ImportPlan",
           "OnnxImportError", "TensorInfo",
           "ExitSpec", "parse_exit", "Written", "analyze", "is_onnxruntime_actor", "parse_shape_overrides",
           "render_vpr", "write"]
