"""Buffer sizing: time and result for the SSD spec, generated graphs of growing size, and SDF3
graphs of real applications, next to the classic per-edge lower bound
sum(p + c - gcd(p, c) + d mod gcd(p, c)) and to the capacities written in the files.

    python bench/bench_bufsize.py [--quick] [--no-throughput] [--fronts-only] [--naive-limit S]

Columns: total tokens / bytes of the minimal capacities (all fifos resized), the classic
bound's totals, the file's own capacities, the solver work (simulations, cuts, z3 calls), the
time. Then, for the SDF3 graphs (execution times from the XML), the exact throughput/buffer
Pareto front (bytes) under the executor's firing rule (docs/bufsize.md): its points, the
distributions evaluated and the time, next to a naive best-first search measured in the same
run (every fifo enlarged, not only those on a critical dependency cycle; stopped after
--naive-limit seconds, default 60) and the ratio of the two times.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

import gen  # noqa: E402  (from HERE, put on the path above)

import vrprune  # noqa: E402
from vrprune.verify import ThroughputError, exec_times, pareto, size, to_ticks  # noqa: E402
from vrprune.verify import prepare_sizing as prepare  # noqa: E402


def diamonds(n: int) -> str:
    """n/3 reconvergent blocks in series (fork -> join directly, and through a 3:3 block actor):
    the per-edge bounds deadlock, so the exact search (cuts + z3) has work to do."""
    lines = ["graph diamonds {", "  actor Src { out o: i32 }"]
    fifos = []
    prev = "Src.o"
    k = 0
    while 3 * (k + 1) + 2 <= n:
        r = 2 + k % 3
        lines.append(f"  actor F{k} {{ in i: i32  out a: i32  out b: i32 }}")
        lines.append(f"  actor B{k} {{ in x: i32 @ {r}  out y: i32 @ {r} }}")
        lines.append(f"  actor J{k} {{ in a: i32  in b: i32  out o: i32 }}")
        fifos += [f"  fifo {prev} -> F{k}.i", f"  fifo F{k}.a -> J{k}.a", f"  fifo F{k}.b -> B{k}.x",
                  f"  fifo B{k}.y -> J{k}.b"]
        prev = f"J{k}.o"
        k += 1
    lines.append("  actor Snk { in i: i32 }")
    fifos.append(f"  fifo {prev} -> Snk.i")
    return "\n".join(lines + fifos + ["}"]) + "\n"


def _load_text(text: str):
    with tempfile.NamedTemporaryFile("w", suffix=".vpr", delete=False) as f:
        f.write(text)
    try:
        return vrprune.load(f.name)
    finally:
        os.unlink(f.name)


def row(name: str, g) -> None:
    sized = all(f.capacity for f in g.fifos)
    file_b = sum((f.capacity or 0) * g.index().token_bytes(f) for f in g.fifos) if sized else None
    t0 = time.perf_counter()
    res = size(g, "bytes", resize_all=True, cross_check=False)
    dt = time.perf_counter() - t0
    t1 = time.perf_counter()
    from vrprune.verify import prove

    chk = prove(res.sized_graph(), timeout_s=60).verdict if res.status in ("optimal", "not-proven") else "-"
    dchk = time.perf_counter() - t1
    s = res.stats
    tok = res.total("tokens") if res.status in ("optimal", "not-proven") else "-"
    byt = res.total("bytes") if res.status in ("optimal", "not-proven") else "-"
    print(f"{name:<24} {len(g.actors):>5} {len(g.fifos):>5}  {res.status:<10} {tok:>9} "
          f"{res.classic_total('tokens'):>9} "
          f"{byt:>12} {res.classic_total('bytes'):>12} {file_b if file_b is not None else '-':>12}  "
          f"{s['simulations']:>4} {s['cuts']:>4} {s['master_calls']:>3}  {dt:>8.3f}s  check {chk} {dchk:.2f}s")


def front(name: str, g, naive_limit: float) -> None:
    """The exact Pareto front (bytes) of one graph, dependency-guided and naive."""
    try:
        times = exec_times(g)
    except ThroughputError:
        return
    pb, _ = prepare(g, "bytes", True)
    assert pb is not None
    ticks, unit = to_ticks([times[n] for n in pb.net.names])
    free = [True] * len(pb.lower)
    st: dict = {}
    try:
        pts, top, complete = pareto(pb.net, pb.lower, free, pb.weight, ticks, unit, stats=st, time_limit_s=600)
    except ThroughputError as e:
        print(f"{name:<24} throughput: {e}")
        return
    nv: dict = {}
    npts, _, ncomplete = pareto(pb.net, pb.lower, free, pb.weight, ticks, unit, stats=nv, guided=False, max_evals=10**9,
                                time_limit_s=naive_limit)
    if ncomplete and [(p.cost, p.exact) for p in npts] != [(p.cost, p.exact) for p in pts]:
        print(f"{name:<24} MISMATCH: the naive search found another front")
    ratio = nv["seconds"] / st["seconds"] if st["seconds"] > 0 else float("inf")
    first, last = (pts[0], pts[-1]) if pts else (None, None)
    print(f"{name:<24} {len(g.actors):>5} {len(g.fifos):>5}  {len(pts):>6}{'' if complete else '+'} "
          f"{st['evaluations']:>7} {st['seconds']:>8.2f}s  {nv['evaluations']:>7} "
          f"{('' if ncomplete else '>') + format(nv['seconds'], '.2f'):>9}s "
          f"{('' if ncomplete else '>') + format(ratio, '.1f'):>7}x  "
          + (f"{first.cost:>9,} B {first.iterations_per_s:>11,.5g} it/s -> {last.cost:>9,} B "
             f"{last.iterations_per_s:>11,.5g} it/s (max {top.iterations_per_s:,.5g})" if first else "no point"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller generated graphs")
    ap.add_argument("--no-throughput", action="store_true", help="skip the Pareto fronts")
    ap.add_argument("--fronts-only", action="store_true", help="only the Pareto fronts of the SDF3 graphs")
    ap.add_argument("--naive-limit", type=float, default=60.0, metavar="S",
                    help="seconds the naive front search may take per graph (default 60)")
    a = ap.parse_args(argv)
    if not a.fronts_only:
        print(f"{'graph':<24} {'act':>5} {'fifo':>5}  {'status':<10} {'tokens':>9} {'classicT':>9} {'bytes':>12} "
              f"{'classicB':>12} {'file B':>12}  {'sims':>4} {'cuts':>4} {'z3':>3}  {'time':>9}")
        row("specs/ssd.vpr", vrprune.load(os.path.join(ROOT, "specs", "ssd.vpr")))
        for name in ("feedback", "multi_dpg", "receiver", "vehicle", "vehicle_dual"):
            row(f"specs/{name}.vpr", vrprune.load(os.path.join(ROOT, "specs", f"{name}.vpr")))
        sizes = (50, 200) if a.quick else (100, 400, 1000, 2000)
        for kind in ("chain", "forkjoin", "cycle", "dpg", "mixed"):
            for n in sizes:
                row(f"gen {kind} {n}", _load_text(gen.KINDS[kind](n)))
        for n in ((30, 90) if a.quick else (30, 90, 300, 600)):
            row(f"diamonds {n}", _load_text(diamonds(n)))
    sdf3 = sorted(glob.glob(os.path.join(ROOT, "specs", "sdf3", "*.xml")))
    if not a.fronts_only:
        for path in sdf3:
            row("sdf3/" + os.path.basename(path), vrprune.load(path))
    if a.no_throughput:
        return 0
    print()
    print("Pareto fronts (bytes vs iterations/s, the executor's firing rule); '+'/'>': stopped by the time limit")
    print(f"{'graph':<24} {'act':>5} {'fifo':>5}  {'points':>6} {'evals':>7} {'time':>9}  {'naive':>7} {'naive t':>10} "
          f"{'ratio':>8}  first point -> last point")
    for path in sdf3:
        front("sdf3/" + os.path.basename(path), vrprune.load(path), a.naive_limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
