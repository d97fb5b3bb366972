"""Optional parts of vrprune and the pip extras that install them.

``pip install vrprune`` carries what check, bufsize, fmt, dot, convert and runs of C and numpy
actors need. The rest comes with extras (``pip install 'vrprune[all]'`` installs every one):

- ``opencl``: pyopencl and PoCL, for OpenCL actors (``vrprune run``, ``fuzz``, ``explore``);
- ``plot``: matplotlib, for ``explore``'s plot and ``bufsize --plot``;
- ``tls``: cryptography, for ``vrprune keygen --tls`` (without it keygen prints openssl commands);
- ``onnx``: onnx and onnxruntime, for ``vrprune import`` and its actors;
- ``testing``: hypothesis, for :mod:`vrprune.testing`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .diagnostics import VrpruneError


class MissingExtra(VrpruneError, ImportError):
    """An optional package is not installed; the message names the extra that installs it."""


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtra` saying that ``purpose`` needs it and
    how to install it (``pip install 'vrprune[EXTRA]'``)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise MissingExtra(f"{purpose} needs the Python package `{top}`, which is not installed: "
                           f"pip install 'vrprune[{extra}]' (or pip install 'vrprune[all]')") from exc
