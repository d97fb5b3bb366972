"""`vrprune convert graph.xml -o graph.vpr`: write an SDF3 (or .vpr) graph as .vpr text."""

from __future__ import annotations

import argparse
import os
import tempfile
from typing import TextIO

from ..diagnostics import DiagnosticError, error
from ..model import ActorKind, CImpl, Graph, OpenCLImpl, Port, PortKind, PythonImpl, Span

_CONVENTIONS = """SDF3 conventions: tokenSize sz is in bits (token = bytes(ceil(sz/8)), 4 bytes when absent);
bufferSize sz is the capacity in tokens; executionTime is in cycles at an assumed 1 GHz
(time_s = cycles * 1e-9); renamed actors keep their SDF3 name in `param sdf3_name`;
CSDF actors are accepted only when every phase has the same rates (exactly SDF)."""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("convert", help="convert an SDF3 XML graph to .vpr",
                       description="Read FILE (SDF3 XML, <sdf3 type=\"sdf\">, or .vpr) and print the equivalent "
                                   ".vpr graph on stdout or into -o OUT.\n\n" + _CONVENTIONS,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", help="an SDF3 .xml file (or a .vpr file)")
    p.add_argument("-o", "--output", metavar="OUT", help="write the .vpr text here instead of stdout")
    p.add_argument("--graph", metavar="NAME", help="for a .vpr input with several graphs: the one to convert")
    return p


def run(args, stdout: TextIO, stderr: TextIO) -> int:
    from ..frontend import load_graph

    graph = load_graph(args.file, getattr(args, "graph", None))
    base_dir = os.path.dirname(os.path.abspath(args.output)) if args.output else os.getcwd()
    text = f"// converted from {os.path.basename(args.file)} by `vrprune convert`\n" + _format(graph, base_dir)
    if not args.output or args.output == "-":
        stdout.write(text)
        return 0
    out = os.path.abspath(args.output)
    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(out), prefix=".vrprune-convert-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, out)
    except OSError as exc:
        raise DiagnosticError(error("E000", f"cannot write {args.output}: {exc.strerror}", Span(out, 0, 0, 0, 0))) from None
    print(f"wrote {args.output}: graph '{graph.name}', {len(graph.actors)} actors, {len(graph.fifos)} fifos", file=stderr)
    return 0


def _format(graph: Graph, base_dir: str) -> str:
    try:
        from ..grammar import format_graph
    except ImportError:
        return _fallback_format(graph, base_dir)
    return format_graph(graph, base_dir)


# --------------------------------------------------------------------------
# A minimal printer, used only where vrprune.grammar.format_graph is missing.

def _q(s: str) -> str:
    if all(32 <= ord(c) < 127 and c not in '"\\' for c in s):
        return f'"{s}"'
    # the loader reads escapes with unicode_escape: escape everything non-ASCII too
    return '"' + s.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


def _num(x: float) -> str:
    return repr(float(x))  # "1e-05" and "0.5" both match the grammar's FLOAT


def _time(t: float) -> str:
    ns = round(t * 1e9)
    if ns > 0 and float(ns) * 1e-9 == t:  # exact as the loader computes it
        return f"time {ns} ns"
    return f"time {_num(t)} s"


def _port(p: Port) -> str:
    if p.kind is PortKind.CONTROL:
        return f"control {p.direction.value} {p.name}"
    s = f"{p.direction.value} {p.name}: {p.token}"
    if p.kind is PortKind.VARIABLE:
        return s + f" @ {p.lrl}..{p.url}"
    return s + (f" @ {p.rate}" if p.rate != 1 else "")


def _actor(a, ind: str, base_dir: str) -> list[str]:
    kind = "" if a.kind is ActorKind.SPA else f": {a.kind.value}"
    out = [f"{ind}actor {a.name}{kind} {{"]
    out += [f"{ind}  {_port(p)}" for p in a.ports]
    im = a.impl
    if isinstance(im, CImpl):
        ents = [f"{k} = {v}" for k, v in (("init", im.init), ("fire", im.fire), ("finish", im.finish)) if v]
        out.append(f"{ind}  impl c {_q(os.path.relpath(im.path, base_dir))} {{ {', '.join(ents)} }}")
    elif isinstance(im, OpenCLImpl):
        out.append(f"{ind}  impl opencl {_q(os.path.relpath(im.path, base_dir))} kernel {im.kernel}")
    elif isinstance(im, PythonImpl):
        mod = os.path.relpath(im.module, base_dir) if im.module.endswith(".py") else im.module
        out.append(f"{ind}  impl python {_q(mod + ':' + im.callable)}")
    for prm in a.params:
        v = prm.value
        vs = _q(v) if isinstance(v, str) else _num(v) if isinstance(v, float) else str(v)
        out.append(f"{ind}  param {prm.name} = {vs}")
    if a.time_s is not None:
        out.append(f"{ind}  {_time(a.time_s)}")
    out.append(f"{ind}}}")
    return out


def _fifo(f) -> str:
    s = "fifo " + ("" if f.name == f"{f.src.actor}.{f.src.port}" else f"{f.name}: ") + f"{f.src} -> {f.dst}"
    if f.capacity is not None:
        s += f" capacity {f.capacity}"
    return s + (f" initial {f.initial}" if f.initial else "")


def _fallback_format(g: Graph, base_dir: str) -> str:
    out = [f"graph {g.name} {{"]
    out += [f"  const {c.name} = {c.value}" for c in g.consts]
    members = {n for d in g.dpgs for n in d.actors}
    by_name = {a.name: a for a in g.actors}
    for a in g.actors:
        if a.name not in members:
            out += _actor(a, "  ", base_dir)
    for d in g.dpgs:
        out.append(f"  dpg {d.name} {{")
        for n in d.actors:
            out += _actor(by_name[n], "    ", base_dir)
        out.append("  }")
    out += [f"  {_fifo(f)}" for f in g.fifos]
    out.append("}")
    return "\n".join(out) + "\n"
