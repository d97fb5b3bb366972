"""The fast .vpr parser (one-pattern lexer + a driver over Lark's LALR tables) against Lark
itself: the same trees, the same positions, the same accepted language (issue 19 goal 1)."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lark import Lark, Token, Tree

from vrprune.diagnostics import SpecSyntaxError
from vrprune.grammar._lexer import KEYWORDS, quote_name
from vrprune.grammar._parser import _GRAMMAR, Node, parse_text

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(p for p in [*ROOT.glob("specs/**/*.vpr"), *ROOT.glob("specs/**/*.map"), *ROOT.glob("examples/**/*.vpr")])
TEXTS = [p.read_bytes().decode("utf-8", errors="replace") for p in FILES]


@functools.lru_cache(maxsize=1)
def _reference() -> Lark:
    """Lark's own contextual lexer and tree builder, positions on: what the fast path replaces."""
    return Lark(_GRAMMAR.read_text(encoding="utf-8"), parser="lalr", lexer="contextual",
                propagate_positions=True, maybe_placeholders=True)


def _ref(text: str):
    try:
        return _reference().parse(text)
    except Exception:  # noqa: BLE001 -- any Lark error: the text is not in the language
        return None


def _fast(text: str):
    try:
        return parse_text(text, "<t>")[0]
    except SpecSyntaxError:
        return None


def _same_positions(a: Tree, b: Tree) -> None:
    """Every node of the fast tree has Lark's propagate_positions line/column range."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if isinstance(x, Node):
            assert isinstance(y, Tree) and x.data == y.data
            if not y.meta.empty:
                assert x.first is not None, x.data
                assert (x.meta.line, x.meta.column, x.meta.end_line, x.meta.end_column) == \
                    (y.meta.line, y.meta.column, y.meta.end_line, y.meta.end_column), x.data
            stack.extend(zip(x.children, y.children))
        elif isinstance(x, Token):
            assert (x.type, str(x), x.line, x.column, x.end_column) == (y.type, str(y), y.line, y.column, y.end_column)


@pytest.mark.parametrize("text", TEXTS, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_bundled_files_parse_as_lark_parses_them(text: str) -> None:
    ref = _ref(text)
    fast = _fast(text)
    assert (ref is None) == (fast is None)
    if ref is not None:
        assert fast == ref
        _same_positions(fast, ref)


# Token-level mutations of the bundled files: words, numbers, punctuation moved about.
_WORDS = sorted(KEYWORDS) + ["A", "x", "N", "0", "1", "8", "1.5", "2e3", "{", "}", ":", "@", "..", "->", "--",
                             ".", ",", "=", "(", ")", "[", "]", "-", "+", "*", "/", "%", '"s"', "MB/s", "B / s",
                             "// c\n", "/* c */", "\n"]


@st.composite
def _mutated(draw) -> str:
    text = draw(st.sampled_from(TEXTS))
    parts = text.split(" ")
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(parts) - 1))
        op = draw(st.sampled_from(["replace", "insert", "delete", "dup"]))
        if op == "replace":
            parts[i] = draw(st.sampled_from(_WORDS))
        elif op == "insert":
            parts.insert(i, draw(st.sampled_from(_WORDS)))
        elif op == "delete" and len(parts) > 1:
            del parts[i]
        else:
            parts.insert(i, parts[i])
    return " ".join(parts)


@given(_mutated())
def test_mutated_files_parse_as_lark_parses_them(text: str) -> None:
    ref = _ref(text)
    fast = _fast(text)
    assert (ref is None) == (fast is None), text
    if ref is not None:
        assert fast == ref
        _same_positions(fast, ref)


@given(st.lists(st.sampled_from(_WORDS + [" ", "graph g { ", "actor A { ", "out o: f32 ", "in i: f32 @ ",
                                          "fifo A.o -> B.i ", "const N = ", "time 1 ", "impl c \"a.c\" "]),
                max_size=25).map(" ".join))
def test_token_soup_parses_as_lark_parses_it(text: str) -> None:
    ref = _ref(text)
    fast = _fast(text)
    assert (ref is None) == (fast is None), text
    if ref is not None:
        assert fast == ref


# ----------------------------------------------------- backquoted names (issue 14 item 6)

@pytest.mark.parametrize("name", ["in", "out", "c", "s", "graph", "f32", "spa", "my actor", "x-1", "é"])
def test_a_backquoted_name_is_a_name_whatever_it_spells(name: str) -> None:
    q = quote_name(name)
    assert q == f"`{name}`"
    tree, _ = parse_text(f"graph {q} {{ actor {q} {{ out {q}: f32 }} fifo {q}.{q} -> B.i }}", "<t>")
    g = tree.children[0]
    assert str(g.children[0]) == name
    actor, fifo = g.children[1], g.children[2]
    assert str(actor.children[0]) == name and str(actor.children[2].children[1]) == name
    src = fifo.children[1]
    assert (str(src.children[0]), str(src.children[1])) == (name, name)
    # the span of a backquoted name covers its quotes
    tok = g.children[0]
    assert tok.end_column - tok.column == len(q)


def test_plain_names_stay_unquoted() -> None:
    assert quote_name("Src") == "Src" and quote_name("in_") == "in_" and quote_name("_2") == "_2"


@pytest.mark.parametrize("bad", ["graph `` { }", "graph `a\tb` { }", "graph `a` `b` { }", "graph `a { }"])
def test_malformed_backquotes_are_syntax_errors(bad: str) -> None:
    with pytest.raises(SpecSyntaxError) as info:
        parse_text(bad, "<t>")
    assert info.value.diagnostics[0].code == "E001"
