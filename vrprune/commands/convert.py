"""`vrprune convert graph.xml -o graph.vpr`: write an SDF3 (or .vpr) graph as .vpr text."""

from __future__ import annotations

import argparse
import os
import tempfile
from typing import TextIO

from ..diagnostics import DiagnosticError, error
from ..model import Graph, Span

_CONVENTIONS = """SDF3 conventions: tokenSize sz is in bits (token = bytes(ceil(sz/8)), 4 bytes when absent);
bufferSize sz is the capacity in tokens; executionTime is in cycles at an assumed 1 GHz
(time_s = cycles * 1e-9); names are kept as written (a keyword or a name that is no identifier is
written in backquotes: `in`);
CSDF actors are accepted only when every phase has the same rates (exactly SDF)."""

EXIT_CODES = """exit codes:
  0    converted
  2    usage or input error (including SDF3 that is not plain SDF, E015)
"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("convert", help="convert an SDF3 XML graph to .vpr",
                       description="Read FILE (SDF3 XML, <sdf3 type=\"sdf\">, or .vpr) and print the equivalent "
                                   ".vpr graph on stdout or into -o OUT.\n\n" + _CONVENTIONS,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", help="an SDF3 .xml file (or a .vpr file)")
    p.add_argument("-o", "--output", metavar="OUT", help="write the .vpr text here instead of stdout")
    p.add_argument("--graph", metavar="NAME", help="for a .vpr input with several graphs: the one to convert")
    return p


def run(args, stdout: TextIO, stderr: TextIO) -> int:
    from ..frontend import load_graph

    graph = load_graph(args.file, getattr(args, "graph", None))
    base_dir = os.path.dirname(os.path.abspath(args.output)) if args.output else os.getcwd()
    text = f"// converted from {os.path.basename(args.file)} by `vrprune convert`\n" + _format(graph, base_dir)
    if not args.output or args.output == "-":
        stdout.write(text)
        return 0
    out = os.path.abspath(args.output)
    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(out), prefix=".vrprune-convert-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, out)
    except OSError as exc:
        raise DiagnosticError(error("E000", f"cannot write {args.output}: {exc.strerror}",
                                    Span(out, 0, 0, 0, 0))) from None
    print(f"wrote {args.output}: graph '{graph.name}', {len(graph.actors)} actors, {len(graph.fifos)} fifos",
          file=stderr)
    return 0


def _format(graph: Graph, base_dir: str) -> str:
    from ..grammar import format_graph

    return format_graph(graph, base_dir)
