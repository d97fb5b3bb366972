"""Canonical printers: `format_source` (from the text's tokens and comments: what `vrprune fmt`
uses) and `format_graph` (from the IR: what convert and generators use)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from lark import Token

from ..model import ActorKind, CImpl, Graph, OpenCLImpl, Port, PortKind, PythonImpl
from ._lexer import Comment
from ._lexer import quote_name as q
from ._parser import Node, parse_text

INDENT = "  "


def _fmt_float(x: float) -> str:
    s = repr(float(x))
    return s


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


# ------------------------------------------------------------------ from the text

_BLOCKS = frozenset(("graph", "dpg", "actor", "platform", "host", "mapping"))
_NO_SPACE_BEFORE = frozenset(("COMMA", "COLON", "RSQB", "RPAR", "DOT", "__ANON_0"))
_NO_SPACE_AFTER = frozenset(("LSQB", "LPAR", "DOT", "__ANON_0"))
_VALUE_END = frozenset(("INT", "FLOAT", "NAME", "RPAR", "RSQB"))
_ARITH = frozenset(("PLUS", "MINUS", "STAR", "SLASH", "PERCENT"))


@dataclass(frozen=True, slots=True)
class _Piece:
    """A token or a comment, as the formatter sees it: where it is and what it is."""

    type: str  # the token's terminal, or "COMMENT"
    raw: str  # its text as written
    start: int  # offsets
    end: int
    line: int  # 1-based
    end_line: int
    col: int

    @property
    def comment(self) -> bool:
        return self.type == "COMMENT"


def _pieces(text: str, toks: list[Token], comments: list[Comment]) -> list[_Piece]:
    out = [_Piece(str(t.type), text[t.start_pos or 0:t.end_pos or 0], t.start_pos or 0, t.end_pos or 0,
                  t.line or 1, t.end_line or 1, t.column or 1) for t in toks]
    out += [_Piece("COMMENT", c.text, c.pos, c.pos + len(c.text), c.line, c.end_line, c.col) for c in comments]
    out.sort(key=lambda p: p.start)
    return out


def _gap(prev: _Piece, prev2: _Piece | None, tok: _Piece) -> int:
    """Canonical spaces between two tokens on one line."""
    t, p = tok.type, prev.type
    if t in _NO_SPACE_BEFORE or p in _NO_SPACE_AFTER:
        return 0
    if (t == "LSQB" and p == "DTYPE") or (t == "LPAR" and p == "BYTES"):
        return 0  # f32[4], bytes(16)
    if p == "MINUS" and (prev2 is None or prev2.type not in _VALUE_END):
        return 0  # a unary minus: -1
    return 1


def format_source(text: str, path: str = "<input>") -> str:
    """Canonical form of .vpr text, conservative: it keeps what authors write and align
    (docs/language.md, "Layout and `vrprune fmt`").

    Kept: the line breaks (a block written on one line stays on one line), a gap of two or
    more spaces between tokens or before a comment (alignment), one blank line where there
    were blank lines, comments where they are, and every token as written. Normalised:
    indentation (two spaces per block level), single spaces between tokens (`x: f32`,
    `A.o -> B.i`, `f32[N, 4]`), runs of blank lines and blank lines just inside braces,
    trailing blanks, and items that follow the `}` of a block spanning lines."""
    toks: list[Token] = []
    tree, comments = parse_text(text, path, tokens_out=toks)
    if not toks and not comments:
        return ""
    # structure from the tree: where items start, which braces open and close blocks
    starts: set[int] = set()
    closes: dict[int, bool] = {}  # offset of a block's '}' -> the block is broken over lines
    opens: dict[int, tuple[bool, bool]] = {}  # offset of a block's '{' -> (broken, items follow it on its line)
    offsets = [t.start_pos or 0 for t in toks]
    stack: list[Node] = [tree]
    while stack:
        node = stack.pop()
        is_block = node.data in _BLOCKS or node.data == "start"
        for c in node.children:
            if type(c) is Node:
                if is_block and c.first is not None:
                    starts.add(c.first.start_pos or 0)
                stack.append(c)
        if node.data in _BLOCKS and node.first is not None and node.last is not None:
            close = node.last
            first = node.first.start_pos or 0
            brace = next(t for t in toks[bisect.bisect_left(offsets, first):] if t.type == "LBRACE")
            broken = brace.line != close.line
            items = [c for c in node.children if type(c) is Node and c.first is not None]
            hanging = bool(items) and items[0].line == brace.line
            opens[brace.start_pos or 0] = (broken, hanging)
            closes[close.start_pos or 0] = broken

    lines: list[str] = []
    cur: list[str] = []
    depth = 0
    prev: _Piece | None = None
    prev_tok: _Piece | None = None
    prev_tok2: _Piece | None = None
    after_open = False  # just past a broken block's '{'
    after_close = False  # just past a broken block's '}'
    modes: list[tuple[bool, bool]] = []  # enclosing blocks: (broken over lines, hanging)
    step = len(INDENT)

    def newline(spaces: int, blank: bool) -> None:
        if cur:
            lines.append("".join(cur).rstrip())
        if blank and lines and lines[-1] != "":
            lines.append("")
        cur.clear()
        cur.append(" " * spaces)

    for e in _pieces(text, toks, comments):
        closing = not e.comment and e.start in closes
        if closing:
            modes.pop()
            if closes[e.start]:
                depth -= 1
        if prev is None:
            cur.append("")
        else:
            blank = e.line - prev.end_line >= 2 and not after_open
            item = not e.comment and e.start in starts
            if e.line > prev.end_line and not (not e.comment and e.start in opens):
                # the author's line break (kept); the indentation is normalised
                author = e.col - 1
                if closing:
                    newline(step * depth, False)
                elif item or e.comment:
                    hanging = bool(modes) and modes[-1][1]
                    newline(max(author, step * depth) if hanging else step * depth, blank)
                else:  # a statement continued on the next line
                    canon = step * (depth + 1)
                    newline(author if author >= canon else canon + step, blank)
            elif item and after_close:
                newline(step * depth, False)  # `} actor B {`: the next item on its own line
            else:
                # the same line: canonical spaces, or the author's when two or more (alignment)
                author = _spaces(text, prev, e) if e.line == prev.end_line else -1
                if e.comment:
                    want = 2 if e.raw.startswith("//") else 1
                    n = author if author >= 2 else want
                elif prev.comment or prev_tok is None:
                    n = author if author >= 2 else 1
                else:
                    want = _gap(prev_tok, prev_tok2, e)
                    if want == 1 and (e.type in _ARITH or prev_tok.type in _ARITH) and author == 0:
                        want = 0  # `S4*S4*A1`: the author's tight operators are kept
                    n = author if (author >= 2 and want >= 1) else want
                cur.append(" " * n)
        cur.append(e.raw)
        after_open = after_close = False
        if not e.comment:
            if e.start in opens:
                broken, hanging = opens[e.start]
                modes.append((broken, hanging))
                if broken:
                    depth += 1
                    after_open = True
            elif closing and closes[e.start]:
                after_close = True
            prev_tok2, prev_tok = prev_tok, e
        prev = e
    newline(0, False)
    while lines and lines[-1] == "":
        lines.pop()
    # no blank line right before a '}'
    out = [ln for i, ln in enumerate(lines) if not (ln == "" and i + 1 < len(lines) and lines[i + 1].strip() == "}")]
    return "\n".join(out) + "\n"


def _spaces(text: str, prev: _Piece, e: _Piece) -> int:
    """The author's spaces between two pieces on one line (-1 if anything else is there)."""
    gap = text[prev.end:e.start]
    return len(gap) if gap.strip(" \t") == "" else -1


# ----------------------------------------------------------------- from the IR

def _port_line(p: Port) -> str:
    if p.kind is PortKind.CONTROL:
        return f"control {p.direction.value} {q(p.name)}"
    s = f"{p.direction.value} {q(p.name)}: {p.token}"
    if p.kind is PortKind.VARIABLE:
        s += f" @ {p.lrl}..{p.url}"
    elif p.rate != 1:
        s += f" @ {p.rate}"
    return s


def _actor_lines(a, depth: int, base_dir: str | None) -> list[str]:
    import os

    ind = INDENT * depth
    head = f"actor {q(a.name)}" + (f": {a.kind.value}" if a.kind is not ActorKind.SPA else "")
    lines = [ind + head + " {"]
    for p in a.ports:
        lines.append(ind + INDENT + _port_line(p))
    impl = a.impl

    def rel(path: str) -> str:
        return os.path.relpath(path, base_dir) if base_dir else path

    if isinstance(impl, CImpl):
        entries = [f"{k} = {q(v)}" for k, v in (("init", impl.init), ("fire", impl.fire), ("finish", impl.finish)) if v]
        lines.append(ind + INDENT + f"impl c {_quote(rel(impl.path))} {{ {', '.join(entries)} }}")
    elif isinstance(impl, OpenCLImpl):
        lines.append(ind + INDENT + f"impl opencl {_quote(rel(impl.path))} kernel {q(impl.kernel)}")
    elif isinstance(impl, PythonImpl):
        mod = rel(impl.module) if impl.module.endswith(".py") else impl.module
        lines.append(ind + INDENT + f"impl python {_quote(mod + ':' + impl.callable)}")
    for prm in a.params:
        v = prm.value
        vs = _quote(v) if isinstance(v, str) else (_fmt_float(v) if isinstance(v, float) else str(v))
        lines.append(ind + INDENT + f"param {q(prm.name)} = {vs}")
    if a.time_s is not None:
        ns = round(a.time_s * 1e9)
        exact = ns > 0 and float(ns) * 1e-9 == a.time_s  # the loader computes N ns as N * 1e-9
        lines.append(ind + INDENT + (f"time {ns} ns" if exact else f"time {_fmt_float(a.time_s)} s"))
    lines.append(ind + "}")
    return lines


def _fifo_line(f) -> str:
    default = f"{f.src.actor}.{f.src.port}"
    s = ("fifo " + ("" if f.name == default else f"{q(f.name)}: ")
         + f"{q(f.src.actor)}.{q(f.src.port)} -> {q(f.dst.actor)}.{q(f.dst.port)}")
    if f.capacity is not None:
        s += f" capacity {f.capacity}"
    if f.initial:
        s += f" initial {f.initial}"
    return s


def format_graph(g: Graph, base_dir: str | None = None) -> str:
    """Print an IR graph as canonical .vpr text (constants appear as their values)."""
    out = [f"graph {q(g.name)} {{"]
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
        out.append(INDENT + f"dpg {q(d.name)} {{")
        for n in d.actors:
            out += _actor_lines(ix.actors[n], 2, base_dir)
        out += [INDENT * 2 + _fifo_line(f) for f in inner_fifos[d.name]]
        out.append(INDENT + "}")
    out.append("}")
    return "\n".join(out) + "\n"
