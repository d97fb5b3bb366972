"""Building a generated program: the Makefile's steps, run directly with the compiler that the
Python executor uses (``$VRPRUNE_CC`` or cc/gcc/clang from PATH; see vrprune/exec/_toolchain.py)."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

from ..exec import ToolchainError, find_cc
from ._gen import ACTOR_WARN_FLAGS, OPT_FLAGS, SANITIZE_FLAGS, WARN_FLAGS, CompileError, Program

SANITIZERS = ("thread", "address")


class BuildError(CompileError):
    """The C compiler failed; ``output`` holds what it printed."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


def binary_name(prog: Program, sanitize: str | None = None) -> str:
    return prog.name if not sanitize else f"{prog.name}-{sanitize}"


def build(prog: Program, *, sanitize: str | None = None, werror: bool = False, extra_cflags: tuple[str, ...] = (),
          jobs: int | None = None) -> str:
    """Compile and link ``prog``; returns the binary's path. Raises :class:`BuildError` with the
    compiler's output on failure, :class:`ToolchainError` when there is no compiler."""
    if sanitize is not None and sanitize not in SANITIZERS:
        raise CompileError(f"--sanitize {sanitize!r}: expected one of {', '.join(SANITIZERS)}")
    cc = find_cc()
    d = prog.out_dir
    obj = "obj" if not sanitize else f"obj-{sanitize}"  # relative to d, where the compiler runs
    os.makedirs(os.path.join(d, obj), exist_ok=True)
    san = [f"-fsanitize={sanitize}", *SANITIZE_FLAGS] if sanitize else []
    inc = [f"-I{x}" for x in ["runtime", *prog.include_dirs]]
    warn = list(WARN_FLAGS) + (["-Werror"] if werror else [])
    steps: list[tuple[str, list[str]]] = []
    objects = []
    gen = [prog.main_c, *prog.runtime_sources]
    for src in gen + prog.actor_sources:
        o = os.path.join(obj, os.path.splitext(src)[0].replace("/", "__") + ".o")
        objects.append(o)
        flags = warn if src in gen else list(ACTOR_WARN_FLAGS)
        flags = flags + prog.source_cflags(src)
        steps.append((src, cc + list(OPT_FLAGS) + flags + san + list(extra_cflags) + inc +
                      ["-fdiagnostics-plain-output", "-c", "-o", o, src]))

    def run(step: tuple[str, list[str]]) -> tuple[str, subprocess.CompletedProcess]:
        try:
            return step[0], subprocess.run(step[1], cwd=d, capture_output=True, text=True)
        except OSError as exc:
            raise ToolchainError(f"cannot run the C compiler {cc[0]!r}: {exc}; set VRPRUNE_CC to a working "
                                 f"compiler") from exc

    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 2) as ex:
        results = list(ex.map(run, steps))
    failed = [(s, r) for s, r in results if r.returncode != 0]
    if failed:
        out = "\n".join(f"$ {' '.join(cmd)}\n{r.stderr}{r.stdout}" for (s, r), (_, cmd) in
                        zip(failed, [st for st in steps if st[0] in {f[0] for f in failed}]))
        raise BuildError(f"compiling {', '.join(s for s, _ in failed)} failed", out)
    binary = binary_name(prog, sanitize)
    link = cc + list(OPT_FLAGS) + san + list(extra_cflags) + ["-pthread", "-o", binary] + \
        objects + prog.ldlibs
    r = subprocess.run(link, cwd=d, capture_output=True, text=True)
    if r.returncode != 0:
        raise BuildError("linking failed", f"$ {' '.join(link)}\n{r.stderr}{r.stdout}")
    warnings = "".join(r.stderr for _, r in results if r.stderr)
    prog.warnings = warnings
    return os.path.join(d, binary)
