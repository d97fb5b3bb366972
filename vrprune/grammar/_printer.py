"""Canonical printers: `format_source` (from the parse tree, comments and constant expressions
kept: what `vrprune fmt` uses) and `format_graph` (from the IR: what convert and generators use)."""

from __future__ import annotations

from lark import Token, Tree

from ..model import ActorKind, CImpl, Graph, OpenCLImpl, Port, PortKind, PythonImpl
from ._parser import Comment, parse_text

INDENT = "  "
_PREC = {"add": 1, "sub": 1, "mul": 2, "div": 2, "mod": 2, "neg": 3}
_OPS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "mod": "%"}


def _expr(node: Tree | Token, parent_prec: int = 0, right: bool = False) -> str:
    if isinstance(node, Token):
        return str(node)
    d = node.data
    if d in ("int_lit", "name_ref"):
        return str(node.children[0])
    if d == "neg":
        s = "-" + _expr(node.children[0], 3)
        return f"({s})" if parent_prec > 3 else s
    p = _PREC[d]
    s = f"{_expr(node.children[0], p)} {_OPS[d]} {_expr(node.children[1], p, True)}"
    if p < parent_prec or (right and p == parent_prec):
        return f"({s})"
    return s


def _fmt_float(x: float) -> str:
    s = repr(float(x))
    return s


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


class _TreePrinter:
    def __init__(self, comments: list[Comment]):
        self.comments = sorted(comments, key=lambda c: (c.line, c.col))
        self.ci = 0
        self.out: list[str] = []

    # comments -------------------------------------------------------
    def _leading(self, before_line: int, depth: int) -> None:
        while self.ci < len(self.comments) and self.comments[self.ci].line < before_line:
            self.out.append(INDENT * depth + self.comments[self.ci].text)
            self.ci += 1

    def _trailing(self, line: int) -> str:
        parts = []
        while self.ci < len(self.comments) and self.comments[self.ci].line == line:
            parts.append(self.comments[self.ci].text)
            self.ci += 1
        return ("  " + " ".join(parts)) if parts else ""

    def emit(self, node: Tree, text: str, depth: int) -> None:
        self._leading(node.meta.line, depth)
        # comments inside a one-line statement (rare) move to its end
        end = node.meta.end_line
        extra = []
        while self.ci < len(self.comments) and self.comments[self.ci].line < end:
            extra.append(self.comments[self.ci].text)
            self.ci += 1
        tail = self._trailing(end)
        if extra:
            tail = "  " + " ".join(extra) + tail
        self.out.append(INDENT * depth + text + tail)

    def open_block(self, node: Tree, header: str, depth: int, first_child_line: int | None) -> None:
        self._leading(node.meta.line, depth)
        tail = self._trailing(node.meta.line) if (first_child_line is None or first_child_line > node.meta.line) else ""
        self.out.append(INDENT * depth + header + " {" + tail)

    def close_block(self, node: Tree, depth: int) -> None:
        self._leading(node.meta.end_line, depth + 1)
        self.out.append(INDENT * depth + "}" + self._trailing(node.meta.end_line))

    # items ----------------------------------------------------------
    def module(self, tree: Tree) -> str:
        prev = None
        for item in tree.children:
            kind = item.data
            if prev is not None and (kind in ("graph", "platform", "mapping") or prev != kind):
                self.out.append("")
            self.item(item, 0)
            prev = kind
        self._leading(10**9, 0)
        text = "\n".join(self.out).rstrip() + "\n"
        return text

    def item(self, node: Tree, depth: int) -> None:
        d = node.data
        if d == "import_stmt":
            self.emit(node, f"import {node.children[0]}", depth)
        elif d == "const_decl":
            self.emit(node, f"const {node.children[0]} = {_expr(node.children[1])}", depth)
        elif d == "graph":
            self.block(node, f"graph {node.children[0]}", node.children[1:], depth)
        elif d == "dpg":
            self.block(node, f"dpg {node.children[0]}", node.children[1:], depth)
        elif d == "actor":
            name, kind, *items = node.children
            head = f"actor {name}" + (f": {kind}" if kind is not None and str(kind) != "spa" else "")
            self.block(node, head, items, depth)
        elif d == "platform":
            self.block(node, f"platform {node.children[0]}", node.children[1:], depth)
        elif d == "host":
            self.block(node, f"host {node.children[0]} {node.children[1]}", node.children[2:], depth)
        elif d == "mapping":
            n, p, h, *places = node.children
            self.block(node, f"mapping {n} on {p}.{h}", places, depth)
        else:
            self.emit(node, self.line(node), depth)

    def block(self, node: Tree, header: str, children: list, depth: int) -> None:
        kids = [c for c in children if isinstance(c, Tree)]
        self.open_block(node, header, depth, kids[0].meta.line if kids else None)
        prev = None
        for c in kids:
            if prev is not None and depth == 0 and node.data == "graph" and (c.data == "dpg" or prev == "dpg" or
                                                                            (prev != c.data)):
                self.out.append("")
            self.item(c, depth + 1)
            prev = c.data
        self.close_block(node, depth)

    def line(self, node: Tree) -> str:
        d = node.data
        ch = node.children
        if d == "port":
            dir_, name, ttype, rate = ch
            s = f"{dir_} {name}: {self.ttype(ttype)}"
            if rate is not None:
                if rate.data == "static_rate":
                    s += f" @ {_expr(rate.children[0])}"
                else:
                    s += f" @ {_expr(rate.children[0])}..{_expr(rate.children[1])}"
            return s
        if d == "control_port":
            return f"control {ch[0]} {ch[1]}"
        if d == "c_impl":
            entries = [e for e in ch[1:] if e is not None]
            s = f"impl c {ch[0]}"
            if entries:
                s += " { " + ", ".join(f"{e.children[0]} = {e.children[1]}" for e in entries) + " }"
            return s
        if d == "opencl_impl":
            return f"impl opencl {ch[0]} kernel {ch[1]}"
        if d == "python_impl":
            return f"impl python {ch[0]}"
        if d == "param":
            v = ch[1]
            return f"param {ch[0]} = {v if isinstance(v, Token) else _expr(v)}"
        if d == "time":
            return f"time {ch[0]} {ch[1]}"
        if d == "fifo":
            name, src, dst, *attrs = ch
            s = "fifo " + (f"{name}: " if name is not None else "")
            s += f"{src.children[0]}.{src.children[1]} -> {dst.children[0]}.{dst.children[1]}"
            for kind in ("capacity", "initial"):
                for a in attrs:
                    if a.data == kind:
                        s += f" {kind} {_expr(a.children[0])}"
            return s
        if d == "base_port":
            return f"base_port {_expr(ch[0])}"
        if d == "cpu_unit":
            return f"cpu {ch[0]}" + (f" core {_expr(ch[1])}" if ch[1] is not None else "")
        if d == "opencl_unit":
            return f"opencl {ch[0]} {ch[1]}" + (f" device {_expr(ch[2])}" if ch[2] is not None else "")
        if d == "link":
            a, b, spec = ch
            if spec.data == "link_preset":
                return f"link {a} -- {b} {spec.children[0]}"
            bw, bu, lat, lu = spec.children
            return f"link {a} -- {b} bandwidth {bw} {bu} latency {lat} {lu}"
        if d == "placement":
            return f"{ch[0]} -> {ch[1]}.{ch[2]}"
        raise AssertionError(d)

    def ttype(self, node: Tree) -> str:
        if node.data == "bytes_type":
            return f"bytes({_expr(node.children[0])})"
        dims = [c for c in node.children[1:] if c is not None]
        return str(node.children[0]) + (f"[{', '.join(_expr(x) for x in dims)}]" if dims else "")


def format_source(text: str, path: str = "<input>") -> str:
    """Canonical form of .vpr text: layout normalised, comments and expressions kept."""
    tree, comments = parse_text(text, path, positions=True)
    return _TreePrinter(comments).module(tree)


# ----------------------------------------------------------------- from the IR

def _port_line(p: Port) -> str:
    if p.kind is PortKind.CONTROL:
        return f"control {p.direction.value} {p.name}"
    s = f"{p.direction.value} {p.name}: {p.token}"
    if p.kind is PortKind.VARIABLE:
        s += f" @ {p.lrl}..{p.url}"
    elif p.rate != 1:
        s += f" @ {p.rate}"
    return s


def _actor_lines(a, depth: int, base_dir: str | None) -> list[str]:
    import os

    ind = INDENT * depth
    head = f"actor {a.name}" + (f": {a.kind.value}" if a.kind is not ActorKind.SPA else "")
    lines = [ind + head + " {"]
    for p in a.ports:
        lines.append(ind + INDENT + _port_line(p))
    impl = a.impl

    def rel(path: str) -> str:
        return os.path.relpath(path, base_dir) if base_dir else path

    if isinstance(impl, CImpl):
        entries = [f"{k} = {v}" for k, v in (("init", impl.init), ("fire", impl.fire), ("finish", impl.finish)) if v]
        lines.append(ind + INDENT + f"impl c {_quote(rel(impl.path))} {{ {', '.join(entries)} }}")
    elif isinstance(impl, OpenCLImpl):
        lines.append(ind + INDENT + f"impl opencl {_quote(rel(impl.path))} kernel {impl.kernel}")
    elif isinstance(impl, PythonImpl):
        mod = rel(impl.module) if impl.module.endswith(".py") else impl.module
        lines.append(ind + INDENT + f"impl python {_quote(mod + ':' + impl.callable)}")
    for prm in a.params:
        v = prm.value
        vs = _quote(v) if isinstance(v, str) else (_fmt_float(v) if isinstance(v, float) else str(v))
        lines.append(ind + INDENT + f"param {prm.name} = {vs}")
    if a.time_s is not None:
        ns = round(a.time_s * 1e9)
        exact = ns > 0 and float(ns) * 1e-9 == a.time_s  # the loader computes N ns as N * 1e-9
        lines.append(ind + INDENT + (f"time {ns} ns" if exact else f"time {_fmt_float(a.time_s)} s"))
    lines.append(ind + "}")
    return lines


def _fifo_line(f) -> str:
    default = f"{f.src.actor}.{f.src.port}"
    s = "fifo " + ("" if f.name == default else f"{f.name}: ") + f"{f.src} -> {f.dst}"
    if f.capacity is not None:
        s += f" capacity {f.capacity}"
    if f.initial:
        s += f" initial {f.initial}"
    return s


def format_graph(g: Graph, base_dir: str | None = None) -> str:
    """Print an IR graph as canonical .vpr text (constants appear as their values)."""
    out = [f"graph {g.name} {{"]
    dpg_members = {n for d in g.dpgs for n in d.actors}
    ix = g.index()
    for a in g.actors:
        if a.name not in dpg_members:
            out += _actor_lines(a, 1, base_dir)
    inner_fifos: dict[str, list] = {d.name: [] for d in g.dpgs}
    outer = []
    for f in g.fifos:
        da, db = ix.actors[f.src.actor].dpg, ix.actors[f.dst.actor].dpg
        if da is not None and da == db:
            inner_fifos[da].append(f)
        else:
            outer.append(f)
    if outer:
        out.append("")
    out += [INDENT + _fifo_line(f) for f in outer]
    for d in g.dpgs:
        out.append("")
        out.append(INDENT + f"dpg {d.name} {{")
        for n in d.actors:
            out += _actor_lines(ix.actors[n], 2, base_dir)
        out += [INDENT * 2 + _fifo_line(f) for f in inner_fifos[d.name]]
        out.append(INDENT + "}")
    out.append("}")
    return "\n".join(out) + "\n"
