"""Choose the right reader for a file and pick the graph or mapping asked for."""

from __future__ import annotations

import dataclasses
import math
import os
import stat
from collections.abc import Iterable

from .diagnostics import DiagnosticError, Note, VrpruneError, error
from .diagnostics import _loc as _where
from .model import Graph, Mapping, Param, Span


class ParamError(VrpruneError):
    """A ``--param ACTOR.NAME=VALUE`` that names no declared parameter, or a value of the wrong type."""


def is_xml(path: str) -> bool:
    if path.lower().endswith(".xml"):
        return True
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False  # a pipe would block here and a device never end: the reader refuses both
        with open(path, "rb") as f:
            head = f.read(256).lstrip()
    except OSError:
        return False
    return head.startswith(b"<?xml") or head.startswith(b"<sdf3")


def load_graph(path: str, name: str | None = None, params: Iterable[tuple[str, str, str]] = ()) -> Graph:
    g = _load_graph(path, name)
    return with_params(g, params) if params else g


def with_params(g: Graph, overrides: Iterable[tuple[str, str, str]]) -> Graph:
    """A new graph whose actor parameters take the values of ``overrides`` ((actor, name,
    value text) triples, as ``--param ACTOR.NAME=VALUE`` gives them). Each must name a parameter
    the actor declares; its text is read as the declared value's type (whole number, number or
    text). Spans stay those of the declarations. Raises :class:`ParamError`."""
    new: dict[tuple[str, str], int | float | str] = {}
    for actor_name, pname, text in overrides:
        arg = f"--param {actor_name}.{pname}={text}"
        a = g.actor(actor_name)
        if a is None:
            raise ParamError(f"{arg}: graph '{g.name}' ({_where(g.span)}) has no actor '{actor_name}'; "
                             f"its actors: {', '.join(x.name for x in g.actors)}")
        declared = next((p for p in a.params if p.name == pname), None)
        if declared is None:
            if not a.params:
                raise ParamError(f"{arg}: actor '{a.name}' ({_where(a.span)}) declares no parameters; --param "
                                 f"changes only a declared `param NAME = VALUE`")
            raise ParamError(f"{arg}: actor '{a.name}' ({_where(a.span)}) has no parameter '{pname}'; "
                             f"its parameters: {', '.join(p.name for p in a.params)}")
        if (a.name, pname) in new:
            raise ParamError(f"{arg}: {a.name}.{pname} is given twice")
        new[(a.name, pname)] = _param_value(arg, a.name, declared, text)
    actors = tuple(dataclasses.replace(a, params=tuple(dataclasses.replace(p, value=new[(a.name, p.name)])
                                                       if (a.name, p.name) in new else p for p in a.params))
                   if any(k[0] == a.name for k in new) else a for a in g.actors)
    return dataclasses.replace(g, actors=actors)


def _param_value(arg: str, actor: str, declared: Param, text: str) -> int | float | str:
    old = declared.value
    if isinstance(old, str):
        return text
    kind = "a whole number" if isinstance(old, int) else "a number"
    try:
        v: int | float = int(text) if isinstance(old, int) else float(text)
    except ValueError:
        v = math.nan
    if isinstance(v, float) and not math.isfinite(v):
        raise ParamError(f"{arg}: parameter '{declared.name}' of actor '{actor}' is {kind} (declared "
                         f"`param {declared.name} = {old!r}` at {_where(declared.span)}), got {text!r}")
    return v


def _load_graph(path: str, name: str | None) -> Graph:
    if is_xml(path):
        from .grammar import read_sdf3

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
                                    help="a mapping file holds "
                                         "`mapping NAME on PLATFORM.HOST { actor -> host.unit ... }`"))
    return mod.mappings[0]
