"""Choose the right reader for a file and pick the graph or mapping asked for."""

from __future__ import annotations

import os

from .diagnostics import DiagnosticError, Note, error
from .model import Graph, Mapping, Span


def _is_xml(path: str) -> bool:
    if path.lower().endswith(".xml"):
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(256).lstrip()
    except OSError:
        return False
    return head.startswith(b"<?xml") or head.startswith(b"<sdf3")


def load_graph(path: str, name: str | None = None) -> Graph:
    if _is_xml(path):
        from .grammar._sdf3 import read_sdf3

        return read_sdf3(path)
    from .grammar import Loader

    mod = Loader().load_module(path)
    own = [g for g in mod.graphs]
    where = Span(os.path.abspath(path), 1, 1, 1, 2)
    if name is not None:
        for g in own:
            if g.name == name:
                return g
        raise DiagnosticError(error("E014", f"no graph named '{name}' in {path}", where,
                                    *[Note(g.span, f"graph '{g.name}'") for g in own]))
    if not own:
        raise DiagnosticError(error("E014", f"{path} defines no graph", where,
                                    help="a .vpr application file needs `graph NAME { ... }`"))
    if len(own) > 1:
        raise DiagnosticError(error("E014", f"{path} defines {len(own)} graphs; choose one with --graph", where,
                                    *[Note(g.span, f"graph '{g.name}'") for g in own]))
    return own[0]


def load_mapping(path: str) -> Mapping:
    from .grammar import Loader

    mod = Loader().load_module(path)
    where = Span(os.path.abspath(path), 1, 1, 1, 2)
    if len(mod.mappings) != 1:
        raise DiagnosticError(error("E014", f"{path} must define exactly one mapping, found {len(mod.mappings)}", where,
                                    help="a mapping file holds `mapping NAME on PLATFORM.HOST { actor -> host.unit ... }`"))
    return mod.mappings[0]
