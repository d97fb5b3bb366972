"""Lark LALR parser for .vpr text, with located, example-driven syntax errors.

The grammar (vpr.lark) and its LALR tables are Lark's. Text is parsed by a small driver over
those tables (:func:`_fast_parse`) fed by the one-pattern lexer of ``_lexer.py``; it builds the
same trees as ``Lark.parse`` (placeholders included) and gives every node its first and last
token (:class:`Node`) in O(1), so spans cover keywords and brackets without rescanning text.
A syntax error is re-parsed by Lark itself (same lexer, same tables) for its error object and
the example matching.
"""

from __future__ import annotations

import functools
import gc
import os
from pathlib import Path

import lark
from lark import Lark, Token, Tree
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)
from lark.parsers.lalr_analysis import Shift

from ..diagnostics import Diagnostic, SpecSyntaxError
from ..model import Span
from ._lexer import Comment, VprLexer, tokens

_GRAMMAR = Path(__file__).with_name("vpr.lark")


def _cache_file() -> str | bool:
    """Where Lark keeps the parser tables it built (building them takes ~0.1 s, loading them
    ~5 ms): $VRPRUNE_CACHE/grammar/ (default ~/.cache/vrprune). Lark stores a hash of the
    grammar and its options in the file and rebuilds on any mismatch or damage; without a
    writable cache it builds the tables every time."""
    root = os.environ.get("VRPRUNE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "vrprune")
    path = os.path.join(root, "grammar")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return False
    return os.path.join(path, "vpr-fast.lark-cache")


@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(
        _GRAMMAR.read_text(encoding="utf-8"),
        parser="lalr",
        lexer=VprLexer,
        maybe_placeholders=True,
        cache=_cache_file(),
    )


class Node:
    """A parse tree node: Lark's ``Tree`` (``data``, ``children``, equal to a Lark tree with the
    same content) with its first and last token (keywords and brackets included) in slots, so
    that positions cost no extra object. ``meta`` answers ``line``, ``column``, ``end_line`` and
    ``end_column`` as Lark's ``propagate_positions`` would."""

    __slots__ = ("cfirst", "children", "clast", "data", "first", "last")

    def __init__(self, data: str, children: list, first: Token | None, last: Token | None) -> None:
        self.data = data
        self.children = children
        self.first = first
        self.last = last
        # the container: brackets around a node that a `?rule` handed up alone (`( expr )`);
        # a parent starts and ends at its children's containers, as with Lark's positions
        self.cfirst = first
        self.clast = last

    @property
    def meta(self) -> "Node":
        return self

    @property
    def empty(self) -> bool:
        return self.first is None

    @property
    def line(self) -> int:
        return getattr(self.first, "line", None) or 0

    @property
    def column(self) -> int:
        return getattr(self.first, "column", None) or 0

    @property
    def end_line(self) -> int:
        return getattr(self.last, "end_line", None) or 0

    @property
    def end_column(self) -> int:
        return getattr(self.last, "end_column", None) or 0

    def __eq__(self, other: object) -> bool:
        try:
            return self.data == other.data and self.children == other.children  # type: ignore[attr-defined]
        except AttributeError:
            return False

    __hash__ = None  # type: ignore[assignment]  # mutable, as Lark's Tree

    def __repr__(self) -> str:
        return f"Tree({self.data!r}, {self.children!r})"


def _ends(children: list) -> tuple[Token | None, Token | None]:
    """The first and last token of a reduction's children (their containers for nodes)."""
    first = children[0]
    last = children[-1]
    if type(first) is not Token:
        first = None if first is None else first.cfirst
    if type(last) is not Token:
        last = None if last is None else last.clast
    return first, last


def _reducer(rule, placeholders: bool = True):
    """The reduction of one grammar rule, building the node ``Lark.parse`` builds (Lark's
    ParseTreeBuilder with maybe_placeholders: anonymous tokens filtered out, ``None`` for a
    missing ``[optional]``, ``_rules`` inlined, ``?rules`` with one child replaced by it)."""
    exp = rule.expansion
    opts = rule.options
    empty = opts.empty_indices if placeholders else ()
    if empty:
        bits = "".join(str(int(b)) for b in empty)
        nones = [len(ones) for ones in bits.split("0")]
    else:
        nones = [0] * (len(exp) + 1)
    include: list[tuple[int, bool, int]] = []
    add = 0
    for i, sym in enumerate(exp):
        add += nones[i]
        if opts.keep_all_tokens or not (sym.is_term and sym.filter_out):
            include.append((i, not sym.is_term and sym.name.startswith("_"), add))
            add = 0
    tail = add + nones[len(exp)]
    name = rule.alias or opts.template_source or rule.origin.name
    expand1 = bool(opts.expand1 and not rule.alias)
    simple = not tail and all(not x and not k for _, x, k in include)
    idx = tuple(i for i, _, _ in include)

    def reduce(children: list) -> object:
        if simple:
            kids = [children[i] for i in idx]
        else:
            kids = []
            for i, expand, k in include:
                if k:
                    kids += [None] * k
                if expand:
                    if kids:
                        kids += children[i].children
                    else:  # left recursion (`item*`): grow the inner list in place, as Lark does
                        kids = children[i].children
                else:
                    kids.append(children[i])
            if tail:
                kids += [None] * tail
        if expand1 and len(kids) == 1:
            kid = kids[0]
            if len(children) > 1 and type(kid) is Node and kid.first is not None:
                first, last = _ends(children)
                if first is not None and last is not None:
                    kid.cfirst, kid.clast = first, last
            return kid
        if children:
            first, last = _ends(children)
            if first is None or last is None:
                first = last = None
            return Node(name, kids, first, last)
        return Node(name, kids, None, None)

    return reduce


@functools.lru_cache(maxsize=1)
def _tables():
    p = _parser()
    table = p.parser.parser.parser.parse_table
    reducers = {}
    for rule in p.rules:
        size = len(rule.expansion)
        opts = rule.options
        unit = (size == 1 and opts.expand1 and not rule.alias and not opts.empty_indices
                and not (rule.expansion[0].is_term and rule.expansion[0].filter_out)
                and not rule.expansion[0].name.startswith("_"))
        # a unit rule (`?sum: product`) hands its one child up unchanged: no call at all
        reducers[rule] = (size, rule.origin.name, None if unit else _reducer(rule))
    return table.states, table.start_states["start"], table.end_states["start"], reducers


class _Stuck(Exception):
    """The fast driver met a token the tables do not take: Lark re-parses for the error."""


def _fast_parse(text: str, comments: list[Comment], seen: list[Token] | None = None) -> Node:
    states, start, end, reducers = _tables()
    stack = [start]
    values: list = []
    shift = Shift
    for tok in tokens(text, states, stack, comments):
        if seen is not None:
            seen.append(tok)
        while True:
            try:
                action, arg = states[stack[-1]][tok.type]
            except KeyError:
                raise _Stuck() from None
            if action is shift:
                stack.append(arg)
                values.append(tok)
                break
            size, origin, reduce = reducers[arg]
            if reduce is None:
                stack[-1] = states[stack[-2]][origin][1]
                continue
            if size:
                kids = values[-size:]
                del stack[-size:]
                del values[-size:]
            else:
                kids = []
            values.append(reduce(kids))
            stack.append(states[stack[-1]][origin][1])
    while True:  # end of input
        try:
            action, arg = states[stack[-1]]["$END"]
        except KeyError:
            raise _Stuck() from None
        if action is shift:  # cannot happen with Lark's tables: $END only reduces
            raise _Stuck()
        size, origin, reduce = reducers[arg]
        if size:
            kids = values[-size:]
            del stack[-size:]
            del values[-size:]
        else:
            kids = []
        value = kids[0] if reduce is None else reduce(kids)
        nxt = states[stack[-1]][origin][1]
        if nxt == end:
            return value
        stack.append(nxt)
        values.append(value)


# Known-bad snippets -> message. Under LALR each is written both as the first
# item and after a dummy item, because matching depends on the stack depth.
_EXAMPLES: dict[str, list[str]] = {
    "a port needs a type after ':' (for example `in x: f32[4]` or `out y: bytes(16)`)": [
        "graph g { actor A { in x } }",
        "graph g { actor A { in x: } }",
        "graph g { actor B { } actor A { out y } }",
        "graph g { actor A { in x: f32 } actor B { in x: } }",
    ],
    "unknown token type; use one of u8 i8 u16 i16 f16 u32 i32 f32 u64 i64 f64, or bytes(N)": [
        "graph g { actor A { in x: float[3] } }",
        "graph g { actor B { } actor A { in x: int } }",
        "graph g { actor A { in x: f32 } actor B { in x: double } }",
    ],
    "a fifo connects two ports written `actor.port`, as in `fifo A.out -> B.in capacity 2`": [
        "graph g { fifo A -> B }",
        "graph g { fifo A.x -> B }",
        "graph g { actor A { } fifo A -> B }",
        "graph g { actor A { } fifo A.x -> B }",
        "graph g { fifo A.x B.y }",
        "graph g { actor A { } fifo A.x B.y }",
    ],
    "a variable rate is written `@ lrl..url`, for example `@ 0..8`": [
        "graph g { actor A { out x: f32 @ 0.. } }",
        "graph g { actor A { out x: f32 @ ..8 } }",
        "graph g { actor B { } actor A { out x: f32 @ 0.. } }",
        "graph g { actor B { } actor A { out x: f32 @ ..8 } }",
    ],
    "missing '}' : a block was opened but not closed before the end of the file": [
        "graph g {",
        "graph g { actor A {",
        "graph g { actor A { in x: f32 }",
        "const A = 1 graph g {",
        "const A = 1 graph g { actor A {",
    ],
    "an actor kind is one of spa, ca, da, dpa (for example `actor Count: ca { ... }`)": [
        "graph g { actor A: foo { } }",
        "graph g { actor B { } actor A: foo { } }",
    ],
    "a constant needs a value: `const N = 96`": [
        "const N",
        "const N =",
        "const M = 1 const N",
        "const M = 1 const N =",
    ],
    "an expression is missing an operand": [
        "const N = 1 +",
        "const N = 2 *",
        "const M = 1 const N = 1 +",
        "const M = 1 const N = 2 *",
    ],
}


def _span_of(path: str, line: int, col: int, length: int = 1) -> Span:
    return Span(path, line, col, line, col + max(length, 1))


def _expected_text(exc: UnexpectedInput) -> str:
    exp = getattr(exc, "expected", None) or getattr(exc, "allowed", None) or set()
    names = []
    pretty = {
        "LBRACE": "'{'", "RBRACE": "'}'", "COLON": "':'", "NAME": "a name", "INT": "an integer",
        "STRING": "a string", "DOT": "'.'", "EQUAL": "'='", "LPAR": "'('", "RPAR": "')'",
        "LSQB": "'['", "RSQB": "']'", "COMMA": "','", "AT": "'@'", "MINUS": "'-'",
        "DTYPE": "a dtype", "DIR": "'in' or 'out'", "KIND": "an actor kind", "FLOAT": "a number",
        "TIME_UNIT": "a time unit (ns, us, ms, s)", "BW_UNIT": "a bandwidth unit (MB/s, Mb/s, ...)",
        "$END": "end of file",
    }
    for e in sorted(exp):
        if e.startswith("__ANON"):
            continue
        if e in pretty:
            names.append(pretty[e])
        elif e.isupper():
            names.append(f"'{e.lower()}'")
        else:
            names.append(e)
    names = sorted(set(names))
    if not names:
        return ""
    if len(names) > 8:
        names = names[:8] + ["..."]
    return "expected " + ", ".join(names)


def parse_text(text: str, path: str, *, positions: bool = True,
               tokens_out: list[Token] | None = None) -> tuple[Node, list[Comment]]:
    """Parse .vpr text; raise :class:`SpecSyntaxError` with a located diagnostic.

    Every tree node is a :class:`Node` with its first and last token (``positions`` is
    accepted for compatibility; positions cost nothing now). ``tokens_out``: receives every
    token, in order (keywords and brackets too), for the formatter."""
    comments: list[Comment] = []
    gc_was = gc.isenabled()
    gc.disable()  # the parse builds many small objects; collections rescanning them dominate
    try:
        try:
            tree = _fast_parse(text, comments, tokens_out)
        except (_Stuck, UnexpectedCharacters):
            try:
                _parser().parse(text)  # Lark reports the error (same tokens, same tables)
            except UnexpectedInput as exc:
                raise SpecSyntaxError(_syntax_diag(exc, text, path)) from None
            raise AssertionError("the fast parser failed where Lark did not") from None
    except RecursionError:
        raise SpecSyntaxError(
            Diagnostic("E001", "the file is nested too deeply to parse", Span(path, 1, 1, 1, 2))
        ) from None
    finally:
        if gc_was:
            gc.enable()
    return tree, comments


def _syntax_diag(exc: UnexpectedInput, text: str, path: str) -> Diagnostic:
    line = getattr(exc, "line", None) or 1
    col = getattr(exc, "column", None) or 1
    at_end = isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END")
    if at_end or line < 1:
        lines = text.splitlines() or [""]
        line = len(lines)
        col = len(lines[-1]) + 1
    label = None
    try:
        label = exc.match_examples(_parser().parse, _EXAMPLES, use_accepts=True)
    except Exception:  # match_examples re-parses; never let it mask the real error
        label = None
    length = 1
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        length = len(str(tok)) if tok.type != "$END" else 1
        found = "end of file" if tok.type == "$END" else f"'{tok}'"
        msg = f"unexpected {found}"
    elif isinstance(exc, UnexpectedCharacters):
        ch = text[exc.pos_in_stream] if 0 <= exc.pos_in_stream < len(text) else "?"
        msg = f"unexpected character {ch!r}"
    else:
        msg = "unexpected end of file"
    exp = _expected_text(exc)
    if label:
        msg = f"{msg}: {label}"
    elif exp:
        msg = f"{msg}; {exp}"
    return Diagnostic("E001", msg, _span_of(path, line, col, length))


__all__ = ["Comment", "Node", "Token", "Tree", "lark", "parse_text"]
