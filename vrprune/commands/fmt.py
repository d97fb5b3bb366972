"""`vrprune fmt FILE`: the canonical layout of a .vpr file, comments kept."""

from __future__ import annotations

import argparse
import os
import tempfile
from typing import TextIO

from ..diagnostics import DiagnosticError, error
from ..model import Span

EXIT_CODES = """exit codes:
  0    printed or rewritten; with --check: FILE is canonical
  1    with --check: FILE is not canonical
  2    usage or input error (syntax errors, missing file, FILE cannot be written)
"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("fmt", help="print a .vpr file in canonical layout (comments kept)",
                       description="Print FILE in canonical layout. --check: exit 1 if it is not canonical; "
                                   "--write: rewrite it in place.")
    p.add_argument("file", help="a .vpr file")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--check", action="store_true", help="exit 1 (and name the file) if FILE is not canonical")
    g.add_argument("--write", action="store_true", help="rewrite FILE in place")
    return p


def run(args, stdout: TextIO, stderr: TextIO) -> int:
    from ..grammar import Loader, format_source

    path = os.path.abspath(args.file)
    text = Loader()._read(path, None)
    out = format_source(text, path)
    if args.check:
        if out != text:
            print(f"{args.file}: not canonical; run `vrprune fmt --write {args.file}`", file=stderr)
            return 1
        return 0
    if args.write:
        if out != text:
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".vrprune-fmt-")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(out)
                os.replace(tmp, path)
            except OSError as exc:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise DiagnosticError(error("E000", f"cannot write {path}: {exc.strerror}",
                                            Span(path, 0, 0, 0, 0))) from None
        return 0
    stdout.write(out)
    return 0
