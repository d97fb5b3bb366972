"""How long loading a graph takes: specs/ssd.vpr and generated graphs of 100 to 10,000 actors.

For each file it prints the median of a few runs of ``vrprune.load`` next to a baseline
measured in the same run: the raw Lark LALR parse of the same text (``parse_text``), so the
ratio shows what resolving names, constants and checks costs on top of parsing. The last
column is the same load with Python's cyclic GC paused, the fix proposed for the loader.
Goals (issue 2): ssd.vpr under 0.3 s, 10,000 actors under 10 s.

    python bench/bench_load.py [--runs 5] [--sizes 100,1000,10000] [--kind mixed] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import gen  # noqa: E402

import vrprune  # noqa: E402
from vrprune.grammar import parse_text  # noqa: E402

GOALS = {"ssd.vpr": 0.3, 10000: 10.0}


def _median(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _no_gc(fn):
    """``fn`` with the cyclic garbage collector paused: what the loader would gain from
    pausing it itself (its parse tree and IR are hundreds of thousands of young objects,
    so every generation-2 collection rescans all of them)."""
    def run():
        gc.collect()
        gc.disable()
        try:
            fn()
        finally:
            gc.enable()
    return run


def measure(path: str, runs: int) -> tuple[float, float, float, int]:
    text = Path(path).read_text(encoding="utf-8")
    g = vrprune.load(path)  # warm-up (builds the Lark parser once) and the actor count
    t_parse = _median(lambda: parse_text(text, path), runs)
    t_load = _median(lambda: vrprune.load(path), runs)
    t_nogc = _median(_no_gc(lambda: vrprune.load(path)), runs)
    return t_load, t_parse, t_nogc, len(g.actors)


def _row(label: str, n: int, t_load: float, t_parse: float, t_nogc: float, goal: float | None) -> str:
    verdict = "" if goal is None else ("  ok" if t_load < goal else f"  MISSES goal {goal:g} s")
    return (f"{label:<22} {n:>7} {t_load:>10.3f} {t_parse:>10.3f} {t_load / t_parse:>7.2f}x"
            f" {t_nogc:>12.3f}{verdict}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--kind", default="mixed", choices=sorted(gen.KINDS))
    ap.add_argument("--profile", action="store_true", help="profile one load of the largest graph")
    a = ap.parse_args(argv)
    sizes = [int(s) for s in a.sizes.split(",") if s]

    print(f"python {sys.version.split()[0]}, median of {a.runs} runs; baseline = raw Lark parse of the same text")
    print(f"{'graph':<22} {'actors':>7} {'load s':>10} {'parse s':>10} {'ratio':>8} {'load, no gc':>12}")
    ssd = HERE.parent / "specs" / "ssd.vpr"
    if ssd.is_file():
        t_load, t_parse, t_nogc, n = measure(str(ssd), a.runs)
        print(_row("specs/ssd.vpr", n, t_load, t_parse, t_nogc, GOALS["ssd.vpr"]))
    else:
        print("specs/ssd.vpr: absent, skipped")

    largest = None
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = os.path.join(tmp, f"{a.kind}{n}.vpr")
            Path(path).write_text(gen.KINDS[a.kind](n), encoding="utf-8")
            runs = a.runs if n <= 1000 else max(3, a.runs // 2)
            t_load, t_parse, t_nogc, count = measure(path, runs)
            print(_row(f"{a.kind} {n}", count, t_load, t_parse, t_nogc, GOALS.get(n)))
            largest = path
        if a.profile and largest:
            prof = cProfile.Profile()
            prof.enable()
            vrprune.load(largest)
            prof.disable()
            print(f"\nprofile of one load of {os.path.basename(largest)} (top 15 by cumulative time):")
            pstats.Stats(prof).sort_stats("cumulative").print_stats(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
