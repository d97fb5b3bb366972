"""`vrprune dot FILE`: Graphviz DOT of the graph (pipe into `dot -Tsvg`)."""

from __future__ import annotations

import argparse
from typing import TextIO

EXIT_CODES = """exit codes:
  0    printed
  2    usage or input error
"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("dot", help="print the graph as Graphviz DOT", description="Print FILE's graph as Graphviz DOT: "
                       "token sizes and rates on edges, DPGs as clusters; with --mapping, hosts as colours and "
                       "cross-host edges in red.")
    p.add_argument("file", help="the graph (.vpr or SDF3 XML)")
    p.add_argument("--graph", help="which graph, when the file defines several")
    p.add_argument("--mapping", help="a mapping file: colour actors by host")
    return p


def run(args, stdout: TextIO, stderr: TextIO) -> int:
    from .. import load, load_mapping
    from ..render.dot import graph_dot

    g = load(args.file, args.graph)
    m = load_mapping(args.mapping) if args.mapping else None
    stdout.write(graph_dot(g, m))
    return 0
