"""The `vrprune` command line. Each subcommand lives in vrprune/commands/<name>.py and
exposes ``add_parser(subparsers)`` and ``run(args, stdout, stderr) -> int``."""

from __future__ import annotations

import argparse
import importlib
import sys
import textwrap
from typing import NoReturn, TextIO

EXIT_CODES = """exit codes (each command's --help lists the ones it returns):
  0    proved / ok
  1    refuted: violations found (rule violations, inconsistency, deadlock, overflow, failed runs)
  2    usage or input error (syntax errors, unknown names, missing files)
  3    inconclusive: a solver limit was reached; nothing unproved is ever reported as proved
"""

# every command: a bug (never an expected outcome) and Ctrl-C
COMMON_EXIT_CODES = """  70   internal error: a bug in vrprune (VRPRUNE_DEBUG=1 prints the traceback; please report it)
  130  interrupted (Ctrl-C)
"""

COMMANDS = ["check", "fmt", "dot", "convert", "bufsize", "run", "explore", "fuzz", "keygen", "compile", "import"]
_MODULE = {"import": "import_"}  # subcommands whose module name differs (a Python keyword)
_PARSING = frozenset(COMMANDS) - {"keygen", "import"}
_EXECUTING = frozenset({"run", "explore", "fuzz"})

# The environment variables vrprune reads: (name, meaning, the commands that read it).
ENVIRONMENT: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("VRPRUNE_CC", "C compiler command for C actors and compiled programs (default: cc, gcc or clang on PATH)",
     _EXECUTING | {"compile"}),
    ("VRPRUNE_CFLAGS",
     "flags for compiling C actors (default: -O3 -march=native -std=gnu11 -Wall -Wno-unused-function)", _EXECUTING),
    ("VRPRUNE_CACHE", "cache folder: parser tables, compiled C actors (default: ~/.cache/vrprune)", _PARSING),
    ("VRPRUNE_NATIVE", "0: C actors and TX/RX run in the Python loop instead of the C core (default 1)", _EXECUTING),
    ("VRPRUNE_CL_PLATFORM", ("OpenCL platform (name substring) where no mapping names one; compiled programs "
                             "read it too (default: PoCL, \"Portable Computing Language\")"), _EXECUTING | {"compile"}),
    ("VRPRUNE_CL_DEVICE", "OpenCL device index on that platform; compiled programs read it too (default 0)",
     _EXECUTING | {"compile"}),
    ("VRPRUNE_MEMORY_LIMIT", ("bytes a run's FIFOs may take (default: the memory available, MemAvailable capped "
                              "by RLIMIT_AS); a run that needs more stops before it allocates"), _EXECUTING),
    ("VRPRUNE_CL_DEVICE_FIFOS", "0: FIFOs between OpenCL actors of one device stay in host memory (default 1)",
     _EXECUTING),
    ("VRPRUNE_OPENCL_LIB", ("OpenCL loader that compiled programs link: a library path or linker flags "
                            "(default: pyopencl's)"), frozenset({"compile"})),
    ("VRPRUNE_DEBUG", "1: print the Python traceback of an internal error (exit 70)", frozenset(COMMANDS)),
)


def environment_help(command: str | None = None) -> str:
    """The "environment:" block of ``--help``: every variable ``command`` reads (all when None)."""
    rows = [(n, text) for n, text, cmds in ENVIRONMENT if command is None or command in cmds]
    width = max(len(n) for n, _ in rows)
    pad = " " * (width + 4)
    return "environment:\n" + "".join(
        textwrap.fill(text, 100, initial_indent=f"  {n:<{width}}  ", subsequent_indent=pad) + "\n" for n, text in rows)


DOCS = """documentation: README.md and docs/ of the vrprune repository (docs/rules.md: the design rules R1-R8;
docs/language.md: the .vpr language; docs/verification.md: what check proves)
"""


def command_epilog(command: str, exit_codes: str) -> str:
    """The epilog of a subcommand's --help: its exit codes, then the environment it reads."""
    return exit_codes + COMMON_EXIT_CODES + "\n" + environment_help(command)



class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Prose paragraphs are wrapped to the terminal; a paragraph with indented lines (exit
    codes, environment, examples) is printed as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paras = text.split("\n\n")
        def fill(p: str) -> str:
            return textwrap.fill(" ".join(p.split()), width, initial_indent=indent, subsequent_indent=indent)

        return "\n\n".join(p if any(ln.startswith(" ") for ln in p.splitlines()) else fill(p) for p in paras)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # usage errors exit 2 without a traceback
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="vrprune", description="Prove VR-PRUNE dataflow graphs correct, size their FIFOs, and run them.",
                epilog=EXIT_CODES + COMMON_EXIT_CODES + "\n" + environment_help() + "\n" + DOCS,
                formatter_class=_Formatter)
    from . import __version__

    p.add_argument("-V", "--version", action="version", version=f"vrprune {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"vrprune.commands.{_MODULE.get(name, name)}")
        except ModuleNotFoundError as exc:
            if exc.name == f"vrprune.commands.{_MODULE.get(name, name)}":
                continue
            raise
        sp = mod.add_parser(sub)
        sp.formatter_class = _Formatter
        sp.epilog = command_epilog(name, mod.EXIT_CODES)
        sp.set_defaults(_run=mod.run)
    return p


def main_with(argv: list[str], stdout: TextIO, stderr: TextIO) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        args._argv = list(argv)  # a command that re-runs itself (run --sanitize) needs them
    except SystemExit as e:  # argparse: --help (0) or usage error (2)
        return int(e.code or 0)
    if not getattr(args, "_run", None):
        parser.print_help(stdout)
        return 2
    from .diagnostics import DiagnosticError, VrpruneError, render_all

    try:
        return int(args._run(args, stdout, stderr))
    except DiagnosticError as e:
        if getattr(args, "format", "text") == "json":
            import json

            json.dump({"schema": "vrprune/diagnostics/1", "verdict": "input-error",
                       "diagnostics": [d.to_json() for d in e.diagnostics]}, stdout, indent=2)
            stdout.write("\n")
        print(render_all(e.diagnostics), file=stderr)
        return 2
    except KeyboardInterrupt:
        print("vrprune: interrupted", file=stderr)
        return 130
    except BrokenPipeError:
        return 0
    except VrpruneError as e:
        print(f"vrprune: error: {e}", file=stderr)
        return 2
    except Exception as e:  # a bug in vrprune: say so, without a traceback unless asked
        import os
        import traceback

        if os.environ.get("VRPRUNE_DEBUG"):
            traceback.print_exc(file=stderr)
        print(f"vrprune: internal error: {type(e).__name__}: {e}\n"
              "  this is a bug in vrprune; rerun with VRPRUNE_DEBUG=1 for the traceback and report it", file=stderr)
        return 70


def main() -> None:
    code = main_with(sys.argv[1:], sys.stdout, sys.stderr)
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. `vrprune dot x.vpr | head`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(code)


if __name__ == "__main__":
    main()
