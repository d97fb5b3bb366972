"""External tools of the C back-end: finding the C compiler and building cached shared libraries.

The compiler is ``$VRPRUNE_CC`` if set (a command line, e.g. ``"clang -fcolor-diagnostics"``),
else ``cc``, ``gcc`` or ``clang`` from ``PATH``. Extra flags come from ``$VRPRUNE_CFLAGS``
(replacing the defaults :data:`DEFAULT_CFLAGS`). Libraries are cached under ``$VRPRUNE_CACHE``
(default ``~/.cache/vrprune``) in ``c/<hash>.so``, the hash covering the compiler command, the
flags, the source, ``vrprune.h`` and the files the source includes with ``#include "..."``.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading

from ..diagnostics import Diagnostic, DiagnosticError, Note, VrpruneError, error
from ..model import NO_SPAN, Span

INCLUDE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "include")
HEADER = os.path.join(INCLUDE_DIR, "vrprune.h")
DEFAULT_CFLAGS = ("-O3", "-march=native", "-std=gnu11", "-Wall", "-Wno-unused-function")
_BUILD_FLAGS = ("-shared", "-fPIC", "-fdiagnostics-plain-output", "-fno-diagnostics-color")


class ToolchainError(VrpruneError):
    """A needed external tool (C compiler, OpenCL platform) is missing or unusable."""


def find_cc() -> list[str]:
    """The C compiler command line, as a list (``$VRPRUNE_CC`` or the first of cc/gcc/clang on PATH)."""
    env = os.environ.get("VRPRUNE_CC")
    if env:
        cmd = shlex.split(env)
        if not cmd or shutil.which(cmd[0]) is None:
            raise ToolchainError(f"VRPRUNE_CC={env!r} does not name an executable C compiler; "
                                 "set it to a compiler command such as 'gcc' or '/usr/bin/clang'")
        return cmd
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return [path]
    raise ToolchainError("no C compiler found on PATH (looked for cc, gcc, clang): install one "
                         "(e.g. `apt-get install gcc`) or set VRPRUNE_CC to a compiler command")


def cache_dir() -> str:
    """The directory of cached build products (created on demand)."""
    root = os.environ.get("VRPRUNE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "vrprune")
    path = os.path.join(root, "c")
    os.makedirs(path, exist_ok=True)
    return path


def cflags() -> list[str]:
    env = os.environ.get("VRPRUNE_CFLAGS")
    return shlex.split(env) if env is not None else list(DEFAULT_CFLAGS)


_INCLUDE_RE = re.compile(rb'^\s*#\s*include\s*"([^"]+)"', re.M)


def _local_includes(path: str, seen: set[str]) -> None:
    """Add ``path`` and, recursively, the files it includes with quotes (those that exist)."""
    if path in seen or not os.path.isfile(path):
        return
    seen.add(path)
    with open(path, "rb") as f:
        text = f.read()
    for m in _INCLUDE_RE.finditer(text):
        name = m.group(1).decode(errors="replace")
        for d in (os.path.dirname(path), INCLUDE_DIR):
            cand = os.path.normpath(os.path.join(d, name))
            if os.path.isfile(cand):
                _local_includes(cand, seen)
                break


def header_cdef(path: str) -> str:
    """The declarations of the C header ``path`` between each ``/* cdef begin ... */`` and the next
    ``/* cdef end */`` marker, for cffi's ``cdef``: Python reads the shipped header's own
    definitions, never a copy kept in step by hand."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    parts, at = [], 0
    while (start := text.find("/* cdef begin", at)) >= 0:
        body = text.index("*/", start) + 2
        end = text.index("/* cdef end */", body)
        parts.append(text[body:end])
        at = end
    if not parts:
        raise ValueError(f"{path}: no /* cdef begin */ ... /* cdef end */ section")
    return "\n".join(parts)


def content_key(source: str, cc: list[str], flags: list[str]) -> str:
    files: set[str] = set()
    _local_includes(source, files)
    files.add(HEADER)
    h = hashlib.sha256()
    h.update(("\0".join(cc) + "\n" + "\0".join(flags) + "\n").encode())
    for p in sorted(files):
        # the source's own path is irrelevant to the result; its includes' contents matter
        with open(p, "rb") as f:
            data = f.read()
        h.update(hashlib.sha256(data).digest())
    return h.hexdigest()[:32]


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()
#: how many compiler runs this process has done (tests use it to see cache hits)
compile_count = 0

_DIAG_RE = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): "
                      r"(?P<sev>fatal error|error|warning|note): (?P<msg>.*)$")


def parse_cc_output(text: str, fallback: Span, source: str) -> list[Diagnostic]:
    """Turn gcc/clang diagnostics into vrprune diagnostics: one per error, later notes attached."""
    diags: list[Diagnostic] = []
    pending: list[tuple[str, Span, str, list[Note]]] = []
    for raw in text.splitlines():
        m = _DIAG_RE.match(raw)
        if not m:
            continue
        f = m["file"]
        if not os.path.isabs(f):
            f = os.path.abspath(f) if os.path.exists(f) else os.path.normpath(os.path.join(os.path.dirname(source), f))
        line, col = int(m["line"]), int(m["col"])
        span = Span(f, line, max(col, 1), line, max(col, 1) + 1)
        sev, msg = m["sev"], m["msg"]
        if sev in ("error", "fatal error"):
            pending.append(("error", span, msg, []))
        elif sev == "note" and pending:
            pending[-1][3].append(Note(span, msg))
    for _, span, msg, notes in pending:
        if fallback.line:
            notes.append(Note(fallback, "compiling the C actor declared here"))
        diags.append(error("E101", f"C compile error: {msg}", span, *notes))
    if not diags:  # linker errors and the like: no file:line of the user's
        lines = [ln for ln in text.strip().splitlines() if ln.strip()]
        msg = lines[-1] if lines else "the C compiler failed"
        where = fallback if fallback != NO_SPAN else Span(source, 0, 0, 0, 0)
        diags.append(error("E101", f"C compile error: {msg}", where, help="compiler output:\n" + text.strip()))
    return diags


def build_shared(source: str, span: Span = NO_SPAN, extra_flags: tuple[str, ...] = ()) -> str:
    """Compile ``source`` into a shared library and return its path (a cache hit if unchanged).

    Raises :class:`DiagnosticError` (code E101) pointing at the user's file:line:col on compile
    errors, :class:`ToolchainError` when no compiler is found.
    """
    global compile_count
    if not os.path.isfile(source):
        raise DiagnosticError(error("E101", f"C source file not found: {source}", span,
                                    help="the path in `impl c \"...\"` is relative to the .vpr file"))
    cc = find_cc()
    flags = cflags() + list(extra_flags)
    key = content_key(source, cc, flags)
    out = os.path.join(cache_dir(), f"{key}.so")
    if os.path.exists(out):
        return out
    with _locks_guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        if os.path.exists(out):
            return out
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=os.path.dirname(out))
        os.close(fd)
        cmd = cc + flags + list(_BUILD_FLAGS) + ["-I", INCLUDE_DIR, "-o", tmp, source, "-lm"]
        try:
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True)
            except OSError as e:
                raise ToolchainError(f"cannot run the C compiler {cc[0]!r}: {e}; set VRPRUNE_CC to a working "
                                     f"compiler") from e
            compile_count += 1
            if proc.returncode != 0:
                raise DiagnosticError(parse_cc_output(proc.stderr + proc.stdout, span, source))
            os.replace(tmp, out)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return out


def opencl_define(name: str, value: object) -> str | None:
    """The OpenCL build option ``-DNAME=VALUE`` of an actor parameter (floats with an ``f``
    suffix), or None for a text, boolean or non-finite parameter (those are not passed)."""
    if isinstance(value, (bool, str)):
        return None
    if isinstance(value, float):
        return f"-D{name}={value!r}f" if math.isfinite(value) else None
    return f"-D{name}={int(value)}"  # type: ignore[call-overload]
