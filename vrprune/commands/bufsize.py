"""`vrprune bufsize FILE`: provably minimal FIFO capacities, throughput and the Pareto front."""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
from typing import TextIO

from ..diagnostics import VrpruneError
from ..model import Graph

EXIT_CODES = """exit codes:
  0    minimal capacities found, optimality proved
  1    no capacities make the graph free of deadlock and overflow, or it breaks a design rule or is
       inconsistent
  2    usage or input error (also: --write cannot update the file)
  3    optimality not proven within the solver limit (the best capacities found are printed), or
       the Pareto search (--pareto, --max-throughput) stopped at --max-evals or --timeout before
       the maximal throughput (the front found so far is printed, marked incomplete)
"""


class WriteError(VrpruneError):
    """--write cannot update this file."""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("bufsize", help="compute provably minimal fifo capacities (and the throughput trade-off)",
                       description="Compute the smallest fifo capacities (total bytes, or tokens) that keep the graph "
                                   "free of deadlock and overflow for every admissible atr sequence, with a proof of "
                                   "optimality (docs/bufsize.md). Capacities written in the file are constraints "
                                   "unless --resize-all. Reads .vpr or SDF3 XML.")
    p.add_argument("file", help="the graph to size (.vpr or SDF3 XML)")
    p.add_argument("--graph", help="which graph, when the file defines several")
    p.add_argument("--objective", choices=["bytes", "tokens"], default="bytes",
                   help="minimise total bytes (token size x capacity, default) or total tokens")
    p.add_argument("--resize-all", action="store_true", help="size every fifo, also those with a capacity in the file")
    p.add_argument("--explain", action="store_true",
                   help="for each fifo, the deadlock (wait cycle, firings) that appears with one token less")
    p.add_argument("--pareto", action="store_true",
                   help="the throughput/buffer Pareto front (needs execution times: `time` in the actors or --profile)")
    p.add_argument("--max-throughput", action="store_true",
                   help="the smallest capacities reaching the throughput of unbounded fifos (these are written "
                        "with --write)")
    p.add_argument("--plot", metavar="OUT.png",
                   help="with --pareto: draw the front (total buffer size vs throughput, the printed capacities "
                        "marked) as a PNG file")
    p.add_argument("--profile", metavar="P.json", help="execution times: {\"schema\": \"vrprune/profile/1\", "
                                                       "\"actors\": {name: {\"mean_s\": seconds}}}")
    p.add_argument("--max-evals", type=int, default=200_000, metavar="N",
                   help="distributions evaluated by --pareto / --max-throughput at most (default 200000)")
    p.add_argument("--write", action="store_true", help="update the capacities in the .vpr in place (comments kept)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="solver time limit (default 60)")
    p.add_argument("--rlimit", type=int, default=None, metavar="N", help="solver resource limit (deterministic)")
    return p


def run(args, stdout: TextIO, stderr: TextIO) -> int:
    from .. import load
    from ..frontend import is_xml
    from ..render.bufsize_text import bufsize_json, bufsize_text
    from ..verify import size

    if args.write and is_xml(args.file):
        print(f"vrprune bufsize: error: --write updates .vpr files only; {args.file} is SDF3 XML "
              "(convert it first: `vrprune convert FILE.xml -o FILE.vpr`, or drop --write and use the table)",
              file=stderr)
        return 2
    if args.plot is not None:
        bad = _plot_path_error(args)
        if bad:
            print(f"vrprune bufsize: error: {bad}", file=stderr)
            return 2
    g = load(args.file, args.graph)
    res = size(g, args.objective, args.resize_all, timeout_s=args.timeout, rlimit=args.rlimit, explain=args.explain)
    caps = res.capacities
    tp: dict | None = None
    sized = res.status in ("optimal", "not-proven")
    if sized:
        tp = _throughput(args, g, res, stderr)
        if tp is not None and args.max_throughput and tp.get("max_throughput_capacities"):
            caps = tp["max_throughput_capacities"]
    if args.plot is not None and tp is not None and tp.get("pareto"):
        from ..render.pareto_plot import write_png

        try:
            write_png(tp, args.plot, title=f"graph {g.name}")
        except OSError as e:
            print(f"vrprune bufsize: error: cannot write the plot {args.plot}: {e.strerror or e}", file=stderr)
            return 2
        print(f"{args.plot}: Pareto front written", file=stderr)
    elif args.plot is not None:
        why = "the graph was not sized" if not sized else "no point found"
        print(f"vrprune bufsize: no Pareto front to plot ({why}); {args.plot} not written", file=stderr)
    if args.format == "json":
        json.dump(bufsize_json(res, tp), stdout, indent=2)
        stdout.write("\n")
    else:
        stdout.write(bufsize_text(res, tp, explain=args.explain))
    if args.write and sized:
        n = write_capacities(args.file, g, caps)
        print(f"{args.file}: {n} capacit{'y' if n == 1 else 'ies'} updated", file=stderr)
    if res.exit_code == 0 and tp is not None and tp.get("complete") is False:
        return 3  # the front asked for is not complete
    return res.exit_code


def _throughput(args, g: Graph, res, stderr: TextIO) -> dict | None:
    """Throughput at the sized capacities (when every actor has a time), the front, the max."""
    from ..verify import ThroughputError, exec_times, pareto, self_timed, to_ticks
    from ..verify import prepare_sizing as prepare

    want = args.pareto or args.max_throughput or args.profile
    try:
        times = exec_times(g, args.profile)
    except ThroughputError:
        if want:
            raise
        return None
    pb, _ = prepare(g, args.objective, args.resize_all)
    assert pb is not None
    ticks, unit = to_ticks([times[n] for n in pb.net.names])
    caps = [res.capacities[e.fifo.name] for e in pb.net.edges]
    at_sized = self_timed(pb.net, caps, ticks, unit).iterations_per_s
    out: dict = {"basis": "atr = url, the worst case" if pb.worst else "static rates",
                 "iterations_per_s": at_sized}
    if not (args.pareto or args.max_throughput):
        return out
    free = [not x for x in pb.fixed]
    start = [lo if f else e.cap for lo, f, e in zip(pb.lower, free, pb.net.edges)]
    stats: dict = {}
    pts, top, complete = pareto(pb.net, start, free, pb.weight, ticks, unit, max_evals=args.max_evals, stats=stats,
                                time_limit_s=args.timeout)
    names = [e.fifo.name for e in pb.net.edges]
    out["max_iterations_per_s"] = top.iterations_per_s
    out["complete"] = complete
    out["evaluations"] = stats.get("evaluations")
    out["chosen"] = {"cost": pb.cost(caps), "iterations_per_s": at_sized}
    if not complete:
        print(f"vrprune bufsize: the Pareto search stopped after {stats.get('evaluations')} distributions and "
              f"{stats.get('seconds', 0):.1f} s, before reaching the maximal throughput "
              f"(raise --max-evals / --timeout)",
              file=stderr)
    if args.pareto:
        out["pareto"] = [{"cost": p.cost, "objective": args.objective, "iterations_per_s": p.iterations_per_s,
                          "capacities": dict(zip(names, p.capacities))} for p in pts]
    if args.max_throughput and pts:
        out["max_throughput_capacities"] = dict(zip(names, pts[-1].capacities))
        out["max_throughput_cost"] = pts[-1].cost
        out["chosen"] = {"cost": pts[-1].cost, "iterations_per_s": pts[-1].iterations_per_s}
    return out


def _plot_path_error(args) -> str | None:
    """Why ``--plot`` cannot be honoured, before any work is done (None: it can)."""
    path = args.plot
    if not args.pareto:
        return "--plot draws the Pareto front: add --pareto"
    if os.path.isdir(path):
        return f"--plot {path}: is a directory; give a file name such as {os.path.join(path, 'front.png')}"
    if not path.lower().endswith(".png"):
        return f"--plot writes a PNG image: name the file *.png (got {path!r})"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return f"--plot {path}: the folder {folder} does not exist; create it first"
    if not os.access(folder, os.W_OK):
        return f"--plot {path}: the folder {folder} is not writable"
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return f"--plot {path}: the file exists and is not writable"
    return None


def _offset(line_starts: list[int], line: int, col: int) -> int:
    return line_starts[line - 1] + col - 1


def rewrite_capacities(text: str, path: str, g: Graph, caps: dict[str, int]) -> tuple[str, int]:
    """``text`` with the capacity clauses of ``g``'s fifos set to ``caps``: the capacity
    expression is replaced where one is written, else ` capacity N` is inserted after the
    destination endpoint. Everything else (comments, layout, constants) is kept."""
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)
    here = os.path.realpath(path)
    edits: list[tuple[int, int, str]] = []
    for f in g.fifos:
        new = caps.get(f.name)
        if new is None or new == f.capacity:
            continue
        if os.path.realpath(f.span.file) != here:
            raise WriteError(f"fifo {f.name} is defined in {f.span.file}, not in {path}; --write edits one file only")
        if f.capacity_span is not None:
            s = f.capacity_span
            a, b = _offset(starts, s.line, s.col), _offset(starts, s.end_line, s.end_col)
            # the span covers the expression, or (depending on the parser) the whole clause
            m = re.match(r"capacity\b\s*", text[a:b])
            edits.append((a, b, (text[a:a + m.end()] if m else "") + str(new)))
        else:
            s = f.dst.span
            b = _offset(starts, s.end_line, s.end_col)
            edits.append((b, b, f" capacity {new}"))
    for a, b, rep in sorted(edits, reverse=True):
        text = text[:a] + rep + text[b:]
    return text, len(edits)


def write_capacities(path: str, g: Graph, caps: dict[str, int]) -> int:
    """Rewrite ``path`` in place, atomically (a temporary file in the same folder, then rename)."""
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    new, n = rewrite_capacities(text, path, g, caps)
    if n == 0:
        return 0
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".bufsize-", suffix=".vpr", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(new)
        try:
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        except OSError:
            pass
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return n
