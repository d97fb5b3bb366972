"""How long `vrprune check` takes: specs/ssd.vpr and generated graphs of 100 to 10,000 actors.

For each graph it prints, measured in the same run: the load time (baseline), the proof time
with the default engine (auto: z3 up to 400 actors, the exact atr = url simulation above), the
z3 reference encoding (`--engine smt`, up to 1,000 actors), and the ratio proof/load. The
last rows give the growth factor per 10x actors. Goals (issue 3): ssd under 1 s; under 10 s
at 1,000 actors; near-linear growth.

    python bench/bench_check.py [--sizes 100,1000,10000] [--kinds chain,forkjoin,cycle,dpg] [--smt-max 1000]
"""

from __future__ import annotations

import argparse
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
from vrprune.verify import prove  # noqa: E402


def _time(fn, runs: int = 3):
    ts, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), out


def row(label: str, path: str, smt_max: int, runs: int) -> tuple[int, float]:
    t_load, g = _time(lambda: vrprune.load(path), runs)
    t_auto, rep = _time(lambda: prove(g), runs)
    n = len(g.actors)
    smt = "-"
    if n <= smt_max:
        t_smt, rep2 = _time(lambda: prove(g, engine="smt", timeout_s=120), 1)
        assert rep2.verdict == rep.verdict, (rep2.verdict, rep.verdict)
        smt = f"{t_smt:9.3f}"
    print(f"{label:<22} {n:>7} {len(g.fifos):>7} {rep.verdict:>8} {rep.stats.get('engine', '-'):>10} "
          f"{t_load:9.3f} {t_auto:9.3f} {smt:>9} {t_auto / t_load:8.2f}x", flush=True)
    return n, t_auto


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--kinds", default="chain,forkjoin,cycle,dpg")
    ap.add_argument("--smt-max", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args(argv)
    print(f"{'graph':<22} {'actors':>7} {'fifos':>7} {'verdict':>8} {'engine':>10} {'load s':>9} "
          f"{'check s':>9} {'z3 s':>9} {'chk/load':>9}")
    ssd = HERE.parent / "specs" / "ssd.vpr"
    row("specs/ssd.vpr", str(ssd), a.smt_max, max(a.runs, 3))
    growth: dict[str, list[tuple[int, float]]] = {}
    with tempfile.TemporaryDirectory() as d:
        for kind in a.kinds.split(","):
            for n in map(int, a.sizes.split(",")):
                p = Path(d) / f"{kind}{n}.vpr"
                p.write_text(getattr(gen, kind)(n))
                growth.setdefault(kind, []).append(row(f"{kind} {n}", str(p), a.smt_max, a.runs))
    print("\ngrowth of check time per 10x actors (1.0 = flat, 10 = linear):")
    for kind, pts in growth.items():
        steps = [f"{pts[i + 1][1] / max(pts[i][1], 1e-6):.1f}" for i in range(len(pts) - 1)]
        print(f"  {kind:<10} {' , '.join(steps)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
