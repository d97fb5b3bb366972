"""The `vrprune` command line. Each subcommand lives in vrprune/commands/<name>.py and
exposes ``add_parser(subparsers)`` and ``run(args, stdout, stderr) -> int``."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import TextIO

EXIT_CODES = """exit codes:
  0  proved / ok
  1  refuted: violations found (rule violations, inconsistency, deadlock, overflow)
  2  usage or input error (syntax errors, unknown names, missing files)
  3  inconclusive: a solver limit was reached; nothing unproved is ever reported as proved
"""

COMMANDS = ["check", "fmt", "dot", "convert", "bufsize", "run", "explore", "fuzz", "keygen", "compile"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2 without a traceback
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="vrprune", description="Prove VR-PRUNE dataflow graphs correct, size their FIFOs, and run them.",
                epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    from . import __version__

    p.add_argument("--version", action="version", version=f"vrprune {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"vrprune.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"vrprune.commands.{name}":
                continue
            raise
        sp = mod.add_parser(sub)
        sp.formatter_class = argparse.RawDescriptionHelpFormatter
        sp.epilog = EXIT_CODES
        sp.set_defaults(_run=mod.run)
    return p


def main_with(argv: list[str], stdout: TextIO, stderr: TextIO) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
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
