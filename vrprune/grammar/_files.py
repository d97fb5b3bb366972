"""Reading input files safely: regular files only, and never more than a bounded size.

A device (``/dev/zero``) would be read until memory runs out and a named pipe would block
forever, so both are refused before anything is read; the size cap keeps one huge file from
exhausting memory with a clear error instead.
"""

from __future__ import annotations

import errno
import os
import stat

from ..diagnostics import DiagnosticError, error
from ..model import Span

MAX_INPUT_BYTES = 128 << 20  # ~1,000,000 actors of .vpr text; far beyond what the proofs handle


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def read_input(path: str, at: Span | None = None, what: str = "input file", limit: int | None = None) -> bytes:
    """The bytes of the regular file ``path``; :class:`DiagnosticError` (E000) for anything else.

    ``at``: where the file was named (an import statement), for the diagnostic."""
    where = at or Span(path, 0, 0, 0, 0)
    if limit is None:
        limit = MAX_INPUT_BYTES
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DiagnosticError(error("E000", f"file not found: {path}", where,
                                    help="check the path (imports are relative to the importing file)")) from None
    except OSError as exc:
        raise DiagnosticError(error("E000", f"cannot read {path}: {exc.strerror}", where)) from None
    if not stat.S_ISREG(st.st_mode):
        kind = _kind(st.st_mode)
        raise DiagnosticError(error("E000", f"{path} is {kind}, not a {what}", where,
                                    help="vrprune reads graphs from regular files only; save the text to a file first"))
    if st.st_size > limit:
        raise DiagnosticError(error("E000", f"{path} is {st.st_size:,} bytes; vrprune reads {what}s of at most "
                                            f"{limit:,} bytes", where,
                                    help="split the graph over several files, or check that this is the right file"))
    try:
        # O_NONBLOCK: if the path was swapped for a named pipe after the stat, do not wait for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise DiagnosticError(error("E000", f"cannot read {path}: {exc.strerror}", where)) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DiagnosticError(error("E000", f"{path} is not a regular file", where))
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                b = os.read(fd, 1 << 20)
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise DiagnosticError(error("E000", f"cannot read {path}: {exc.strerror}", where)) from None
            if not b:
                break
            size += len(b)
            if size > limit:  # the file grew after the stat
                raise DiagnosticError(error("E000", f"{path} is larger than the {limit:,} bytes vrprune reads", where))
            chunks.append(b)
        return b"".join(chunks)
    finally:
        os.close(fd)
