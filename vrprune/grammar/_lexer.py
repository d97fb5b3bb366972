"""The .vpr lexer: one regular expression over the text, keywords decided by the parser state.

Lark's own lexers try every terminal's pattern at each position; this one matches a whole
word, number or punctuation mark with one compiled pattern and then looks the word up. It
behaves as Lark's contextual lexer did for the grammar in vpr.lark:

- the hard keywords (``_HARD``) are never names;
- every other keyword (``c``, ``s``, ``f32``, ``spa``, ``on``, ``cpu`` ...) is its keyword
  where the parser accepts that keyword, and a name where it does not;
- a name in backquotes (`` `in` ``, `` `my actor` ``) is always a name, whatever it spells:
  the form that keeps a user's names (from SDF3, say) that clash with keywords;
- ``--``, ``..`` and ``->`` split into single characters where the parser does not accept
  them (``- -1``).

Comments are collected for the formatter. Positions are 1-based lines and columns in
characters, as Lark's; a column costs O(1) (the offset of the line start is kept).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from lark import Token
from lark.exceptions import UnexpectedCharacters
from lark.lexer import Lexer


@dataclass(frozen=True, slots=True)
class Comment:
    text: str
    line: int
    col: int
    end_line: int
    pos: int = 0  # offset of its first character


# words that are always keywords (the NAME terminal of vpr.lark excludes them)
_HARD = {w: w.upper() for w in (
    "control actor fifo dpg graph const import impl param time capacity initial host link "
    "mapping platform base_port bytes kernel").split()}
_HARD["in"] = _HARD["out"] = "DIR"
# words that are keywords only where the parser takes that keyword
_SOFT: dict[str, str] = {w: w.upper() for w in "c opencl python core device cpu bandwidth latency on".split()}
_SOFT.update({w: "KIND" for w in ("spa", "ca", "da", "dpa")})
_SOFT.update({w: "DTYPE" for w in "u8 i8 u16 i16 f16 u32 i32 f32 u64 i64 f64".split()})
_SOFT.update({w: "TIME_UNIT" for w in ("ns", "us", "ms", "s")})
KEYWORDS = frozenset(_HARD) | frozenset(_SOFT)

_PUNCT = {
    "=": "EQUAL", "{": "LBRACE", "}": "RBRACE", ":": "COLON", "@": "AT", ",": "COMMA", "[": "LSQB",
    "]": "RSQB", "(": "LPAR", ")": "RPAR", ".": "DOT", "+": "PLUS", "-": "MINUS", "*": "STAR",
    "/": "SLASH", "%": "PERCENT", "..": "__ANON_0", "->": "__ANON_1", "--": "__ANON_2",
}
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
QUOTABLE = re.compile(r"[^`\x00-\x1f\x7f]+\Z")  # what a backquoted name may hold

_MASTER = re.compile(r"""
    [ \t\f\r]*+(?:
      (?P<nl>\n)
    | (?P<id>(?P<word>[A-Za-z_][A-Za-z0-9_]*+)(?:/s\b)?)
    | (?P<num>[0-9]++(?P<frac>\.[0-9]++(?:[eE][-+]?[0-9]++)?|[eE][-+]?[0-9]++)?)
    | (?P<p>\.\.|->|--|[=:{}@,\[\]().+\-*%])
    | (?P<lc>//[^\n]*+)
    | (?P<bc>/\*(?:[^*]|\*(?!/))*+\*/)
    | (?P<sl>/)
    | (?P<str>"(?:[^"\\\n]|\\.)*+")
    | (?P<q>`[^`\x00-\x1f\x7f]++`)
    | (?P<end>\Z)
    )""", re.VERBOSE)
_BW_UNITS = frozenset(("B", "kB", "MB", "GB", "kb", "Mb", "Gb"))


_new_str = str.__new__


def _token(t: str, v: str, s: int, line: int, col: int, e: int) -> Token:
    """A Lark Token on one line, made without Token.__new__'s two calls and keyword checks."""
    tok = _new_str(Token, v)
    tok.type = t
    tok.value = v
    tok.start_pos = s
    tok.line = tok.end_line = line
    tok.column = col
    tok.end_column = col + e - s
    tok.end_pos = e
    return tok


def quote_name(name: str) -> str:
    """A name as .vpr text: as is when it is an identifier and no keyword, else in backquotes."""
    if IDENT.match(name) and name not in KEYWORDS:
        return name
    return f"`{name}`"


def tokens(text: str, states: dict, stack: list[int], comments: list[Comment] | None) -> Iterator[Token]:
    """The tokens of ``text``; ``states[stack[-1]]`` holds the terminals the parser accepts now
    (read lazily: the parser consumes each token before the next one is made)."""
    line = 1
    line_start = 0  # offset of the current line's first character
    pos = 0
    n = len(text)
    match = _MASTER.match
    hard = _HARD
    soft = _SOFT
    punct = _PUNCT
    new = _token
    while True:
        m = match(text, pos)
        if m is None:  # nothing matches here: skip the blanks and report the character
            k = pos
            while k < n and text[k] in " \t\f\r":
                k += 1
            raise UnexpectedCharacters(text, k, line, k - line_start + 1, state=None)
        kind = m.lastgroup
        if kind == "id":  # (lastgroup is the outermost group that closed last)
            s = m.start(kind)
            v = m.group("word")
            e = m.end("word")
            if e < m.end(kind) and v in _BW_UNITS and "BW_UNIT" in states[stack[-1]]:
                e = m.end(kind)
                v = text[s:e]
                t = "BW_UNIT"
            else:
                kw = hard.get(v)
                if kw is None:
                    kw = soft.get(v)
                    if kw is None or kw not in states[stack[-1]]:
                        kw = "NAME"
                t = kw
            pos = e
            col = s - line_start + 1
            yield new(t, v, s, line, col, e)
        elif kind == "p":
            s = m.start(kind)
            v = m.group(kind)
            if len(v) == 2 and punct[v] not in states[stack[-1]] and v[0] in punct:
                v = v[0]  # `--1` in an expression is two minus signs, as the contextual lexer read it
            e = s + len(v)
            pos = e
            col = s - line_start + 1
            yield new(punct[v], v, s, line, col, e)
        elif kind == "num":
            s = m.start(kind)
            v = m.group(kind)
            e = m.end(kind)
            t = "INT"
            if m.group("frac") is not None:
                if "FLOAT" in states[stack[-1]]:
                    t = "FLOAT"
                else:  # where only an integer fits, read the integer (then '.' or a name follows)
                    e = m.start("frac")
                    v = text[s:e]
            pos = e
            col = s - line_start + 1
            yield new(t, v, s, line, col, e)
        elif kind == "nl":
            pos = m.end()
            line += 1
            line_start = pos
        elif kind == "str":
            s = m.start(kind)
            v = m.group(kind)
            pos = m.end()
            col = s - line_start + 1
            yield new("STRING", v, s, line, col, pos)
        elif kind == "q":
            s = m.start(kind)
            raw = m.group(kind)
            pos = m.end()
            col = s - line_start + 1
            yield new("NAME", raw[1:-1], s, line, col, pos)
        elif kind == "lc":
            s = m.start(kind)
            pos = m.end()
            if comments is not None:
                comments.append(Comment(m.group(kind), line, s - line_start + 1, line, s))
        elif kind == "bc":
            s = m.start(kind)
            v = m.group(kind)
            pos = m.end()
            first, col = line, s - line_start + 1
            k = v.count("\n")
            if k:
                line += k
                line_start = s + v.rindex("\n") + 1
            if comments is not None:
                comments.append(Comment(v, first, col, line, s))
        elif kind == "sl":
            s = m.start(kind)
            pos = s + 1
            col = s - line_start + 1
            yield new("SLASH", "/", s, line, col, pos)
        else:  # end of text
            return


class VprLexer(Lexer):
    """:func:`tokens` as a Lark lexer (``Lark(..., lexer=VprLexer)``): Lark's own parser, used for
    syntax errors and their example matching, reads exactly the tokens the fast path reads."""

    __future_interface__ = 1

    def __init__(self, lexer_conf) -> None:
        pass

    def lex(self, lexer_state, parser_state) -> Iterator[Token]:
        text = lexer_state.text
        text = getattr(text, "text", text)  # Lark >= 1.2 passes a TextSlice
        return tokens(text, parser_state.parse_conf.states, parser_state.state_stack, None)
