"""Diagnostics: located errors with notes, and their text rendering.

Format::

    file:line:col: error[CODE]: message
       12 |     fifo A.out -> B.in capacity 0
          |                                 ^
    file:line:col: note: related place
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .model import NO_SPAN, Span


class VrpruneError(Exception):
    """Root of every error vrprune raises on purpose."""


@dataclass(frozen=True, slots=True)
class Note:
    span: Span
    message: str


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    message: str
    span: Span
    notes: tuple[Note, ...] = ()
    severity: str = "error"
    help: str | None = None

    def to_json(self) -> dict:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "location": span_json(self.span),
            "notes": [{"message": n.message, "location": span_json(n.span)} for n in self.notes],
            "help": self.help,
        }


def span_json(s: Span) -> dict:
    return {"file": s.file, "line": s.line, "column": s.col, "end_line": s.end_line, "end_column": s.end_col}


class DiagnosticError(VrpruneError):
    """One or more diagnostics that stop loading or checking."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        super().__init__("\n".join(f"{d.span}: error[{d.code}]: {d.message}" for d in self.diagnostics))


class SpecSyntaxError(DiagnosticError, SyntaxError):
    """A syntax error in a .vpr or SDF3 file."""

    def __init__(self, diagnostic: Diagnostic):
        DiagnosticError.__init__(self, [diagnostic])


def error(code: str, message: str, span: Span, *notes: Note, help: str | None = None) -> Diagnostic:
    return Diagnostic(code, message, span, tuple(notes), "error", help)


# --------------------------------------------------------------- rendering

_source_cache: dict[str, list[str]] = {}


def register_source(path: str, text: str) -> None:
    """Remember a file's text so diagnostics can quote it even if it changes on disk."""
    _source_cache[path] = text.splitlines()


def _source_line(path: str, line: int) -> str | None:
    lines = _source_cache.get(path)
    if lines is None and os.path.isfile(path):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            lines = []
        _source_cache[path] = lines
    if not lines or line < 1 or line > len(lines):
        return None
    return lines[line - 1]


def _display_path(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("../..") else path


def _loc(span: Span) -> str:
    if span == NO_SPAN or span.line == 0:
        return _display_path(span.file)
    return f"{_display_path(span.file)}:{span.line}:{span.col}"


SNIPPET_WIDTH = 100  # characters of a source line shown; longer lines are cut around the column
_CARET_MAX = 60


def _snippet(span: Span) -> list[str]:
    text = _source_line(span.file, span.line) if span.line else None
    if text is None:
        return []
    text = text.replace("\t", " ").rstrip("\r")
    width = len(str(span.line))
    start = max(span.col - 1, 0)
    if span.end_line == span.line and span.end_col > span.col:
        length = span.end_col - span.col
    else:
        length = max(len(text.rstrip()) - start, 1)
    length = max(1, min(length, max(len(text) - start, 1)))
    if len(text) > SNIPPET_WIDTH:
        # a window of the line around the column (a one-line XML file would otherwise be
        # printed whole for every diagnostic)
        length = min(length, _CARET_MAX)
        lo = max(0, start - (SNIPPET_WIDTH - _CARET_MAX) // 2)
        hi = min(len(text), lo + SNIPPET_WIDTH)
        lo = max(0, min(lo, hi - SNIPPET_WIDTH))
        head = "..." if lo > 0 else ""
        text = head + text[lo:hi] + ("..." if hi < len(text) else "")
        start = start - lo + len(head)
    return [
        f" {span.line:>{width}} | {text}",
        f" {'':>{width}} | {' ' * start}{'^' * length}",
    ]


def render(diag: Diagnostic) -> str:
    out = [f"{_loc(diag.span)}: {diag.severity}[{diag.code}]: {diag.message}"]
    out += _snippet(diag.span)
    for n in diag.notes:
        out.append(f"{_loc(n.span)}: note: {n.message}")
        if n.span.file != diag.span.file or n.span.line != diag.span.line:
            out += _snippet(n.span)
    if diag.help:
        out.append(f"  help: {diag.help}")
    return "\n".join(out)


def render_all(diags: list[Diagnostic]) -> str:
    return "\n\n".join(render(d) for d in diags)
