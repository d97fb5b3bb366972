"""vrprune: prove VR-PRUNE dataflow graphs correct, size their FIFOs, and run them."""

from __future__ import annotations

from collections.abc import Iterable

from .diagnostics import Diagnostic, DiagnosticError, SpecSyntaxError, VrpruneError
from .model import Graph, Mapping, Module, Platform

__version__ = "0.1.0"


def load_module(path: str) -> Module:
    """Load a .vpr file (with its imports) into a :class:`Module`."""
    from .grammar import Loader

    return Loader().load_module(path)


def load(path: str, graph: str | None = None, params: Iterable[tuple[str, str, str]] = ()) -> Graph:
    """Load the application graph of a .vpr file (or SDF3 XML) into the IR.

    ``params``: (actor, name, value text) overrides of declared actor parameters, as
    ``--param ACTOR.NAME=VALUE`` gives them (see :func:`vrprune.frontend.with_params`).
    Raises :class:`DiagnosticError` with located diagnostics on any error, and
    :class:`VrpruneError` for a parameter the actor does not declare or a value of the wrong type.
    """
    from .frontend import load_graph

    return load_graph(path, graph, params)


def load_mapping(path: str) -> Mapping:
    """Load the single mapping of a mapping file."""
    from .frontend import load_mapping as _lm

    return _lm(path)


__all__ = ["Diagnostic", "DiagnosticError", "SpecSyntaxError", "VrpruneError", "Graph", "Mapping",
           "Module", "Platform", "load", "load_module", "load_mapping", "__version__"]
