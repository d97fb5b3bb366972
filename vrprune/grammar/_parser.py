"""Lark LALR parser for .vpr text, with located, example-driven syntax errors."""

from __future__ import annotations

import functools
import gc
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import lark
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..diagnostics import Diagnostic, SpecSyntaxError
from ..model import Span

_GRAMMAR = Path(__file__).with_name("vpr.lark")


@dataclass(frozen=True, slots=True)
class Comment:
    text: str
    line: int
    col: int
    end_line: int


_local = threading.local()


def _keep_comment(tok: Token) -> Token:
    sink = getattr(_local, "comments", None)
    if sink is not None:
        sink.append(Comment(str(tok), tok.line or 0, tok.column or 0, tok.end_line or 0))
    return tok


def _cache_file(positions: bool) -> str | bool:
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
    return os.path.join(path, f"vpr{'-positions' if positions else ''}.lark-cache")


@functools.lru_cache(maxsize=2)
def _parser(positions: bool = False) -> Lark:
    # Without propagate_positions parsing is ~3x faster; tokens keep their positions and the
    # loader derives tree spans from them. The formatter needs line numbers on every node.
    return Lark(
        _GRAMMAR.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        propagate_positions=positions,
        maybe_placeholders=True,
        cache=_cache_file(positions),
        lexer_callbacks={"LINE_COMMENT": _keep_comment, "BLOCK_COMMENT": _keep_comment},
    )


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


def parse_text(text: str, path: str, *, positions: bool = False) -> tuple[Tree, list[Comment]]:
    """Parse .vpr text; raise :class:`SpecSyntaxError` with a located diagnostic.

    ``positions``: give every tree node ``meta`` line/column (the formatter needs them)."""
    comments: list[Comment] = []
    parser = _parser(positions)
    _local.comments = comments
    gc_was = gc.isenabled()
    gc.disable()  # the parse builds many small objects; collections rescanning them dominate
    try:
        tree = parser.parse(text)
    except UnexpectedInput as exc:
        raise SpecSyntaxError(_syntax_diag(exc, text, path)) from None
    except RecursionError:
        raise SpecSyntaxError(
            Diagnostic("E001", "the file is nested too deeply to parse", Span(path, 1, 1, 1, 2))
        ) from None
    finally:
        _local.comments = None
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


__all__ = ["parse_text", "Comment", "Tree", "Token", "lark"]
