"""`vrprune import MODEL.onnx -o DIR`: an ONNX model becomes a .vpr graph of onnxruntime actors."""

from __future__ import annotations

import argparse
import os
import time
from typing import TextIO

from ..argtypes import whole_number

EXIT_CODES = """exit codes:
  0    DIR/NAME.vpr, DIR/NAME.npz and DIR/onnx_actors.py written
  2    usage or input error (not an ONNX model, symbolic dimensions without --shape, an unsupported
       operator, DIR cannot be written)
"""


def group_arg(text: str) -> int | None:
    """argparse type of ``--group``: ``layers`` (0), ``none`` (None) or a whole number N >= 1."""
    t = text.strip().lower()
    if t == "none":
        return None
    if t == "layers":
        return 0
    try:
        n = int(t)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a number of actors N >= 1, 'layers' or 'none', got {text!r}")
    return n


_threads = whole_number("a whole number >= 1", "intra-op threads per onnxruntime session")


def threads_arg(text: str) -> int:
    n = _threads(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1 (intra-op threads per onnxruntime session), got {text!r}")
    return n


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("import", help="turn an ONNX model into a .vpr graph of onnxruntime actors (one per layer)",
                       description="Read an ONNX model and write DIR/NAME.vpr (one actor per layer: a compute node "
                                   "and the element-wise nodes after it; branches, residual adds and concatenations "
                                   "become a DAG), DIR/NAME.npz (each layer's ONNX subgraph with its weights) and "
                                   "DIR/onnx_actors.py (the actors: onnxruntime, one session per actor). The graph "
                                   "is then checked, sized, run, split and explored like any other "
                                   "(docs/import.md).")
    p.add_argument("model", help="the ONNX model file (.onnx)")
    p.add_argument("-o", "--out", default=".", metavar="DIR", help="folder to write into (created; default: .)")
    p.add_argument("--name", help="graph and file name (default: the model file's name)")
    p.add_argument("--shape", action="append", default=[], metavar="NAME=D0xD1x...",
                   help="fix the shape of model input NAME (symbolic or unknown dimensions), e.g. "
                        "--shape input=1x3x224x224 (repeatable)")
    p.add_argument("--group", type=group_arg, default=0, metavar="N|layers|none",
                   help="layers (default): one actor per layer; N: at most N actors, runs of consecutive layers "
                        "balanced by --balance; none: one actor per ONNX node")
    p.add_argument("--balance", choices=["cost", "flops", "time"], default="cost",
                   help="what --group N balances: cost (default: FLOPs + 17 x activation bytes, so memory-bound "
                        "layers count), flops, or time (each layer timed with onnxruntime during the import; "
                        "not reproducible)")
    p.add_argument("--fork", action="store_true",
                   help="a tensor read by several actors goes to a Fork actor that copies it to each, so that a "
                        "partition point before the Fork sends it over the link once (default: the producer has "
                        "an output port per reader)")
    p.add_argument("--threads", type=threads_arg, default=None, metavar="T",
                   help="intra-op threads of each actor's onnxruntime session (default 1; written as param threads)")
    p.add_argument("--cores", type=threads_arg, default=None, metavar="C",
                   help="group for throughput on C cores: the runs of layers and each actor's threads are chosen "
                        "together (sum C) to make the slowest actor as fast as possible (instead of --group and "
                        "--threads)")
    p.add_argument("--exit", action="append", default=[], metavar="NODE=HEAD.onnx[:THRESHOLD]", dest="exits",
                   help="an early exit: after ONNX node NODE (or the node computing tensor NODE) the model HEAD.onnx "
                        "runs on its output; a frame whose head confidence (largest softmax probability) is at "
                        "least THRESHOLD (default 0.9) takes the head's result and the rest of the network is "
                        "pruned for it (a DPG; docs/early-exit.md)")
    return p


def run(args, stdout: TextIO, stderr: TextIO) -> int:
    from .._extras import require
    from ..onnximport import analyze, parse_exit, parse_shape_overrides, write

    require("onnx", "onnx", "vrprune import")

    t0 = time.perf_counter()
    shapes = parse_shape_overrides(args.shape)
    if args.cores and (args.group != 0 or args.threads is not None):
        print("vrprune import: error: --cores chooses the groups and their threads itself; leave out "
              "--group and --threads", file=stderr)
        return 2
    exits = [parse_exit(e) for e in args.exits]
    plan = analyze(args.model, shapes=shapes, group=args.group, threads=args.threads or 1, name=args.name,
                   balance=args.balance, cores=args.cores or 0, fork=args.fork, exits=exits)
    try:
        files = write(plan, args.out)
    except OSError as exc:
        print(f"vrprune import: error: cannot write into {args.out}: {exc.strerror or exc}", file=stderr)
        return 2
    dt = time.perf_counter() - t0
    for note in plan.notes:
        print(f"vrprune import: note: {note}", file=stderr)
    layers = sum(1 for a in plan.actors if a.kind == "layer")
    forks = sum(1 for a in plan.actors if a.kind == "fork")
    exit_actors = sum(1 for a in plan.actors if a.kind.startswith("exit_"))
    size = os.path.getsize(files.npz)
    folded = f", {plan.folded} constant nodes folded" if plan.folded else ""
    fork_text = f" + {forks} fork actors" if forks else ""
    if exit_actors:
        fork_text += f" + {exit_actors} early-exit actors (CA, entry and exit DA)"
    n_io = len(plan.actors) - layers - forks - exit_actors
    stdout.write(f"imported {args.model}: {plan.n_nodes} nodes{folded} -> {layers} layer actors{fork_text} + "
                 f"{n_io} input/output actors, {len(plan.edges)} fifos ({dt:.2f} s)\n"
                 f"  {files.vpr}\n  {files.npz} ({size / 1e6:.1f} MB: layer subgraphs and weights)\n"
                 f"  {files.actors}\n"
                 f"next: vrprune check {files.vpr}\n")
    return 0
