"""`vrprune check FILE`: design rules, consistency, overflow and deadlock freedom for every atr."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from ..diagnostics import DiagnosticError, render_all

EXIT_CODES = """exit codes:
  0    proved: design rules, consistency, overflow and deadlock freedom all hold
  1    refuted: a rule violation, inconsistency, overflow or deadlock (with a counterexample)
  2    usage or input error (syntax errors, unknown names, missing files)
  3    inconclusive: a solver limit was reached (--timeout, --rlimit); nothing unproved is reported as proved
"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("check", help="prove a graph free of deadlock and overflow, or show a counterexample",
                       description="Check the VR-PRUNE design rules R1-R8, consistency, overflow and deadlock freedom "
                                   "for every admissible atr sequence (z3). Reads .vpr or SDF3 XML. The rules: "
                                   "docs/rules.md; what is proved: docs/verification.md.")
    p.add_argument("file", help="the graph to check (.vpr or SDF3 XML)")
    p.add_argument("--graph", help="which graph, when the file defines several")
    p.add_argument("--format", choices=["text", "json", "sarif"], default="text")
    p.add_argument("--explain", action="store_true", help="print the certificate: schedules and fill-level bounds")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="solver time limit (default 60)")
    p.add_argument("--rlimit", type=int, default=None, metavar="N", help="solver resource limit (deterministic)")
    p.add_argument("--engine", choices=["auto", "smt", "sim"], default="auto",
                   help="auto: z3 when atr choices exist or the graph is small, exact simulation for large static "
                        "graphs")
    p.add_argument("--counterexample", metavar="OUT.json", help="write the counterexample for `vrprune run --replay`")
    return p


def run(args, stdout: TextIO, stderr: TextIO) -> int:
    from .. import load
    from ..render import report_json, report_sarif, report_text
    from ..verify import prove

    try:
        g = load(args.file, args.graph)
    except DiagnosticError as e:
        if args.format == "sarif":
            json.dump(report_sarif(None, e.diagnostics), stdout, indent=2)
            stdout.write("\n")
            print(render_all(e.diagnostics), file=stderr)
            return 2
        raise
    rep = prove(g, timeout_s=args.timeout, rlimit=args.rlimit, engine=args.engine, explain=args.explain)
    if args.format == "json":
        json.dump(report_json(rep), stdout, indent=2)
        stdout.write("\n")
    elif args.format == "sarif":
        json.dump(report_sarif(rep), stdout, indent=2)
        stdout.write("\n")
    else:
        stdout.write(report_text(rep, explain=args.explain))
    if args.counterexample and rep.counterexample is not None:
        with open(args.counterexample, "w", encoding="utf-8") as f:
            doc = {"schema": "vrprune/counterexample/1", "graph": g.name, **rep.counterexample.to_json()}
            json.dump(doc, f, indent=2)
        print(f"counterexample written to {args.counterexample}", file=stderr)
    return rep.exit_code
