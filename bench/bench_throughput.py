"""Prediction against the runtime: every point of the throughput/buffer Pareto front of two small
graphs, run in the executor with actors that sleep their `time` (stretched --scale times), and
three partition points of a graph in `vrprune explore`'s emulated runner, each predicted by the
same model (docs/bufsize.md, "The firing rule").

    python bench/bench_throughput.py [--scale 6] [--seconds 1]

Columns: the point, predicted and measured iterations/s (or ms/frame), the error
(measured - predicted) / predicted. Sleeping actors need no CPU; what is left is the time the
threads take to wake up, which grows with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import vrprune  # noqa: E402  (from ROOT, put on the path above)
from vrprune.exec import ActorBackend, Runtime  # noqa: E402
from vrprune.verify import exec_times, pareto, to_ticks  # noqa: E402
from vrprune.verify import prepare_sizing as prepare  # noqa: E402
from vrprune.verify._bufsize import with_capacities  # noqa: E402

GRAPHS = {
    "pipe": """graph pipe {
  actor S { out y: i32  time 2 ms }
  actor U { in x: i32 @ 2  out y: i32 @ 3  time 5 ms }
  actor D { in x: i32  out y: i32  time 2 ms }
  actor K { in x: i32 @ 3  time 4 ms }
  fifo S.y -> U.x
  fifo U.y -> D.x
  fifo D.y -> K.x
}
""",
    "loop": """graph loop {
  actor A { in f: i32  out y: i32 @ 2  time 3 ms }
  actor B { in x: i32  out y: i32  time 2 ms }
  actor C { in x: i32 @ 2  out f: i32  time 4 ms }
  fifo A.y -> B.x
  fifo B.y -> C.x
  fifo C.f -> A.f initial 2
}
""",
}

SLEEP = '''import time


class SleepMs:
    def __init__(self, ms=1.0):
        self.s = ms / 1000.0

    def fire(self, ins, outs, atr):
        end = time.perf_counter() + self.s
        left = self.s
        while left > 0:
            time.sleep(left)
            left = end - time.perf_counter()
'''

EXPLORE = """graph g {
  actor S { out o: u8[1000]  impl python "%(m)s:SleepMs"  param ms = 10 }
  actor A { in i: u8[1000]  out o: u8[1000]  impl python "%(m)s:SleepMs"  param ms = 30 }
  actor T { in i: u8[1000]  impl python "%(m)s:SleepMs"  param ms = 15 }
  fifo S.o -> A.i capacity 2
  fifo A.o -> T.i capacity 2
}
"""


class Sleeper(ActorBackend):
    def __init__(self, actor, scale: float) -> None:
        super().__init__(actor, None)
        self.t = actor.time_s * scale
        self.ends: list[float] = []

    def fire(self, ins, outs, atr):
        end = time.perf_counter() + self.t
        left = self.t
        while left > 0:
            time.sleep(left)
            left = end - time.perf_counter()
        self.ends.append(time.perf_counter())


def measure(g, predicted: float, scale: float, seconds: float) -> float:
    iterations = max(8, round(seconds * predicted / scale))
    backends = {a.name: Sleeper(a, scale) for a in g.actors}
    res = Runtime(g, iterations=iterations, backends=backends, watchdog_s=5.0, native=False).run()
    if res.status != "ok":
        raise SystemExit(res.describe())
    last = g.actors[-1].name
    q = res.repetition[last]
    ends = backends[last].ends
    k0 = iterations // 5
    return (iterations - k0) / (ends[iterations * q - 1] - ends[k0 * q - 1]) * scale


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=6.0, help="stretch every firing this many times (default 6)")
    ap.add_argument("--seconds", type=float, default=1.0, help="length of each run (default 1)")
    a = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="bench_throughput_")
    errs: list[float] = []
    print(f"{'graph':<6} {'tokens':>6} {'capacities':<14} {'predicted it/s':>15} {'measured':>10} {'error':>8}")
    for name, text in GRAPHS.items():
        path = os.path.join(tmp, f"{name}.vpr")
        with open(path, "w") as f:
            f.write(text)
        g = vrprune.load(path)
        pb, _ = prepare(g, "tokens", resize_all=True)
        assert pb is not None
        times = exec_times(g)
        ticks, unit = to_ticks([times[n] for n in pb.net.names])
        pts, _top, _ = pareto(pb.net, pb.lower, [True] * len(pb.lower), pb.weight, ticks, unit)
        names = [e.fifo.name for e in pb.net.edges]
        for p in pts:
            got = measure(with_capacities(g, dict(zip(names, p.capacities))), p.iterations_per_s, a.scale, a.seconds)
            err = (got - p.iterations_per_s) / p.iterations_per_s
            errs.append(err)
            print(f"{name:<6} {p.cost:>6} {p.capacities!s:<14} {p.iterations_per_s:>15.2f} {got:>10.2f} {err:>+8.1%}")
    from vrprune.explore import Precedence
    from vrprune.explore._predict import predict
    from vrprune.explore._sweep import EmulatedRunner
    from vrprune.links import LinkSpec

    mod = os.path.join(tmp, "sleep_actor.py")
    with open(mod, "w") as f:
        f.write(SLEEP)
    path = os.path.join(tmp, "explore.vpr")
    with open(path, "w") as f:
        f.write(EXPLORE % {"m": mod})
    g = vrprune.load(path)
    prec = Precedence(g)
    times = {"S": 0.010, "A": 0.030, "T": 0.015}
    link = LinkSpec("x", 1e5, 0.004)
    print("\nexplore, emulated runner (slowdown 2, one endpoint core, link 100 kB/s + 4 ms):")
    print(f"{'point':<6} {'frames':>6} {'predicted ms/frame':>19} {'measured':>10} {'error':>8}")
    for pid in ("PP1", "PP2", "local"):
        p = next(x for x in prec.points() if x.id == pid)
        lk = None if p.local else link
        frames = max(4, round(a.seconds / predict(p, times, prec.q, lk, graph=g, slowdown=2.0, frames=10).period_s))
        want = predict(p, times, prec.q, lk, graph=g, slowdown=2.0, frames=frames, endpoint_cores=1).per_frame_s
        m = EmulatedRunner(slowdown=2.0, endpoint_cores=1).measure(g, p, lk, frames=frames,
                                                                    workdir=os.path.join(tmp, pid))
        err = (m.per_frame_s - want) / want
        print(f"{pid:<6} {frames:>6} {want * 1e3:>19.2f} {m.per_frame_s * 1e3:>10.2f} {err:>+8.1%}")
    print(f"\nfront points: error from {min(errs):+.1%} to {max(errs):+.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
