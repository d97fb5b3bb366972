"""`vrprune compile FILE -o DIR`: a proved graph -> a standalone C program (docs/compile.md)."""

from __future__ import annotations

import argparse
import os
from typing import TextIO

from ..diagnostics import VrpruneError, render_all
from .run import add_param_argument

EXIT_CODES = """exit codes:
  0    written (and built, with --build)
  1    the graph is refuted (nothing written)
  2    usage or input error, an actor that is neither C nor OpenCL, or the C compiler failed
  3    the checker was inconclusive (nothing written)
  (the compiled program's own: 0 ok; 1 an actor or a link failed; 2 usage error; 130 interrupted)
"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("compile", help="generate a standalone C program (one per device) for a proved graph",
                       description="Prove the graph (split by --mapping, with TX/RX inserted, when given), then "
                                   "write a readable top-level C file (one pthread per actor, FIFOs with the "
                                   "proved capacities, TX/RX sockets speaking the Python executor's wire "
                                   "protocol, optionally inside mutual TLS), the runtime library, the user's C "
                                   "and OpenCL actor sources unchanged, a "
                                   "Makefile and build.sh (one cc command). See docs/compile.md.")
    p.add_argument("file", help="the application graph (.vpr or SDF3 XML)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--graph", help="which graph, when the file defines several")
    add_param_argument(p)
    p.add_argument("--mapping", metavar="HOST.map",
                   help="compile this host's share: edges to other hosts become TX/RX endpoints")
    p.add_argument("--iterations", type=int, metavar="N",
                   help="default number of graph iterations of the program (its --iterations overrides); "
                        "default: until the sources return VRP_END")
    p.add_argument("--port-base", type=int, metavar="PORT",
                   help="default TCP port of edge 0 (the program's --port-base overrides); default: the platform's")
    p.add_argument("--build", action="store_true", help="also build the program (the Makefile's steps)")
    p.add_argument("--sanitize", choices=("thread", "address"),
                   help="with --build: build DIR/NAME-thread or DIR/NAME-address with that sanitizer")
    p.add_argument("--no-tls", action="store_true",
                   help="build the links without OpenSSL (the program then refuses --tls-*); the Makefile's TLS=0")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="checker time limit (default 60)")
    return p


def run(args, stdout: TextIO, stderr: TextIO) -> int:
    from ..compile import BuildError, CompileError, build, compile_app

    if args.sanitize and not args.build:
        args.build = True
    if args.iterations is not None and args.iterations < 0:
        print("vrprune compile: error: --iterations must be >= 0", file=stderr)
        return 2
    try:
        res = compile_app(args.file, args.output, graph=args.graph, mapping=args.mapping, iterations=args.iterations,
                          timeout_s=args.timeout, port_base=args.port_base, tls=not args.no_tls,
                          params=args.param)
    except CompileError as exc:
        print(f"vrprune compile: error: {exc}", file=stderr)
        return 2
    except VrpruneError as exc:
        if hasattr(exc, "diagnostics"):
            raise
        print(f"vrprune compile: error: {exc}", file=stderr)
        return 2
    if res.program is None:
        if res.report.diagnostics:
            print(render_all(list(res.report.diagnostics)), file=stderr)
        print(f"vrprune compile: refusing to compile {res.proved_graph}: the checker's verdict is {res.verdict} "
              f"(see `vrprune check {args.file}`); nothing written", file=stderr)
        return res.exit_code
    prog = res.program
    out = args.output
    files = [prog.main_c, "runtime/", "actors/", "Makefile", "build.sh"]
    stdout.write(f"vrprune compile: {res.proved_graph} proved; wrote {os.path.join(out, '')}: {', '.join(files)}\n")
    if prog.host:
        stdout.write(f"  host {prog.host}: {prog.n_tx} TX, {prog.n_rx} RX endpoint(s)\n")
    if args.build:
        try:
            exe = build(prog, sanitize=args.sanitize)
        except BuildError as exc:
            print(f"vrprune compile: error: {exc}\n{exc.output}", file=stderr)
            return 2
        except VrpruneError as exc:
            print(f"vrprune compile: error: {exc}", file=stderr)
            return 2
        if prog.warnings:
            stderr.write(prog.warnings)
        stdout.write(f"  built {exe}\n")
    else:
        stdout.write(f"  build: make -C {out}    (or: {os.path.join(out, 'build.sh')})\n")
    stdout.write(f"  run:   {os.path.join(out, prog.name if not args.sanitize else prog.name + '-' + args.sanitize)} "
                 f"[--iterations N]\n")
    return 0
