"""The front end at C speed (issue 19, goal 1): `vrprune check` as a whole process, and loading
per actor as graphs grow, for .vpr text and SDF3 XML. Everything is measured in one run, next
to its baseline:

1. whole process: `vrprune check FILE` on generated graphs of 1,000 and 10,000 actors (.vpr:
   the `mixed` kind, with DPGs, and the static `forkjoin`; SDF3: `forkjoin`), wall time and CPU
   time (user + sys) of the child, median of --runs, next to `python -c pass` measured the
   same way. Goals: under 0.4 s at 1,000 actors, under 2 s at 10,000.
2. loading in-process (`vrprune.load`, median of --runs) at 1,000 / 10,000 / 100,000 actors:
   microseconds per actor, which should stay flat (linear loading), and the raw parse of the
   same text (lexer + LALR driver, no resolution) as its baseline.

On a shared machine compare CPU times: wall time there includes waiting for a core.

    python bench/bench_load.py [--runs 3] [--sizes 1000,10000,100000] [--check-sizes 1000,10000] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import resource
import statistics
import subprocess
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

GOALS_S = {1000: 0.4, 10000: 2.0}
VPR_KIND, XML_KIND = "mixed", "forkjoin"


def _child(argv: list[str], runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of a child process."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def _median(fn, runs: int) -> float:
    """Median CPU seconds of this process (wall time on a shared machine counts the waits too)."""
    times = []
    for _ in range(runs):
        gc.collect()
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def _write(d: str, kind: str, n: int, xml: bool) -> str:
    path = os.path.join(d, f"{kind}{n}.{'xml' if xml else 'vpr'}")
    if not os.path.exists(path):
        Path(path).write_text(gen.sdf3(kind, n) if xml else gen.KINDS[kind](n), encoding="utf-8")
    return path


def whole_process(d: str, sizes: list[int], runs: int) -> None:
    env_py = [sys.executable]
    base_wall, base_cpu = _child([*env_py, "-c", "pass"], runs)
    _child([*env_py, "-m", "vrprune", "--help"], 1)  # warm the parser-table cache
    print(f"baseline `python -c pass`: wall {base_wall:.3f} s, cpu {base_cpu:.3f} s")
    print(f"{'vrprune check':<24} {'actors':>7} {'wall s':>8} {'cpu s':>8} {'cpu - pass':>11}  goal")
    for n in sizes:
        for kind, xml in ((VPR_KIND, False), (XML_KIND, False), (XML_KIND, True)):
            path = _write(d, kind, n, xml)
            wall, cpu = _child([*env_py, "-m", "vrprune", "check", path], runs)
            goal = GOALS_S.get(n)
            verdict = "" if goal is None else (f"< {goal:g} s: " + ("ok" if cpu < goal else "MISSES (cpu)") +
                                               ("" if wall < goal else f", wall {wall:.2f} s"))
            print(f"{os.path.basename(path):<24} {n:>7} {wall:>8.3f} {cpu:>8.3f} {cpu - base_cpu:>11.3f}  {verdict}",
                  flush=True)


def loading(d: str, sizes: list[int], runs: int, profile: bool) -> None:
    print(f"\nloading in-process, CPU time (median of {runs}; the parse baseline is the lexer + LALR driver alone)")
    print(f"{'graph':<24} {'actors':>7} {'load s':>8} {'us/actor':>9} {'parse s':>8} {'us/actor':>9}")
    per: dict[str, list[float]] = {}
    largest = None
    for xml in (False, True):
        for n in sizes:
            path = _write(d, XML_KIND if xml else VPR_KIND, n, xml)
            g = vrprune.load(path)  # warm-up, and the actor count
            count = len(g.actors)
            del g
            k = runs if n <= 10000 else 1
            t_load = _median(lambda p=path: vrprune.load(p), k)
            if xml:
                t_parse, parse_col = float("nan"), "-"
            else:
                text = Path(path).read_text(encoding="utf-8")
                t_parse = _median(lambda t=text, p=path: parse_text(t, p), k)
                parse_col = f"{t_parse / count * 1e6:9.1f}"
            us = t_load / count * 1e6
            per.setdefault("SDF3" if xml else ".vpr", []).append(us)
            print(f"{os.path.basename(path):<24} {count:>7} {t_load:>8.3f} {us:>9.1f} "
                  f"{t_parse:>8.3f} {parse_col:>9}", flush=True)
            largest = path
    for what, us in per.items():
        print(f"{what}: time per actor from {sizes[0]:,} to {sizes[-1]:,} actors: "
              f"{' -> '.join(f'{u:.1f}' for u in us)} us (max/min {max(us) / min(us):.2f}; 1.0 = linear loading)")
    if profile and largest:
        prof = cProfile.Profile()
        prof.enable()
        vrprune.load(largest)
        prof.disable()
        print(f"\nprofile of one load of {os.path.basename(largest)} (top 15 by own time):")
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sizes", default="1000,10000,100000", help="loading: actor counts")
    ap.add_argument("--check-sizes", default="1000,10000", help="whole process: actor counts")
    ap.add_argument("--profile", action="store_true", help="profile one load of the largest graph")
    a = ap.parse_args(argv)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus; .vpr graphs: bench/gen.py {VPR_KIND}, "
          f"SDF3: bench/gen.py {XML_KIND} --sdf3")
    with tempfile.TemporaryDirectory() as d:
        whole_process(d, [int(s) for s in a.check_sizes.split(",") if s], a.runs)
        loading(d, [int(s) for s in a.sizes.split(",") if s], a.runs, a.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
