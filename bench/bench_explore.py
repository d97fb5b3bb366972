"""vrprune explore: enumeration and prediction cost on the SSD spec and generated graphs, and
one vehicle point measured by the emulated and the distributed runner side by side.

    python bench/bench_explore.py [--quick]

Columns: partition points (down-sets) and the time to count them; the time to choose 32
points (every down-set scored by the prediction); per-run wall time of each runner on the
vehicle classifier (numpy actors), PP3 over ethernet100, 3 frames, endpoint slowdown x3.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

import vrprune  # noqa: E402
from vrprune.explore import Precedence, select_points  # noqa: E402
from vrprune.explore._predict import actor_times, predict  # noqa: E402
from vrprune.links import parse_links  # noqa: E402


def _heads_graph(tmp: str, n: int) -> str:
    """A backbone chain of n actors with a head branching off every actor, heads joined at the end."""
    lines = ["graph heads {", "  actor S { out o: u8[64] }"]
    for i in range(n):
        lines.append(f"  actor X{i} {{ in i: u8[64]  out o: u8[64]  out h: u8[64] }}")
        lines.append(f"  actor H{i} {{ in i: u8[64]  out o: u8[64] }}")
    lines.append("  actor J { " + " ".join(f"in j{i}: u8[64]" for i in range(n)) + " in x: u8[64] }")
    lines.append("  fifo S.o -> X0.i capacity 2")
    for i in range(n):
        nxt = f"X{i + 1}.i" if i + 1 < n else "J.x"
        lines.append(f"  fifo X{i}.o -> {nxt} capacity 2")
        lines.append(f"  fifo X{i}.h -> H{i}.i capacity 2")
        lines.append(f"  fifo H{i}.o -> J.j{i} capacity 2")
    lines.append("}")
    p = os.path.join(tmp, f"heads{n}.vpr")
    with open(p, "w") as f:
        f.write("\n".join(lines) + "\n")
    return p


def enumeration(quick: bool) -> None:
    links = parse_links(["ethernet100", "wifi16"])
    print(f"{'graph':<14} {'actors':>6} {'points':>9} {'count s':>8} {'select 32 s':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        files = [os.path.join(ROOT, "specs", "vehicle.vpr"), os.path.join(ROOT, "specs", "ssd.vpr")]
        files += [_heads_graph(tmp, n) for n in ((6, 10) if quick else (6, 10, 14))]
        for f in files:
            g = vrprune.load(f)
            t0 = time.perf_counter()
            prec = Precedence(g)
            n, exact = prec.count(limit=2_000_000)
            t1 = time.perf_counter()
            times, _ = actor_times(g, {a.name: 1e-3 for a in g.actors})
            def score(p, times=times, prec=prec):
                return min(predict(p, times, prec.q, lk, slowdown=3, frames=10).per_frame_s for lk in links)

            pts, _, _ = select_points(prec, 32, score=score)
            t2 = time.perf_counter()
            print(f"{g.name + ('' if f.startswith(ROOT) else ''):<14} {len(g.actors):>6} "
                  f"{n:>9}{'' if exact else '+'} {t1 - t0:>8.3f} {t2 - t1:>11.3f}")


def runners() -> None:
    from vrprune.explore import DistributedRunner, EmulatedRunner

    app = os.path.join(ROOT, "examples", "vehicle", "vehicle_np.vpr")
    plat_path = os.path.join(ROOT, "specs", "platform.vpr")
    g = vrprune.load(app)
    plat = vrprune.load_module(plat_path).platforms[0]
    pp3 = next(p for p in Precedence(g).points() if p.id == "PP3")
    link = parse_links(["ethernet100"])[0]
    rs = [("emulated", EmulatedRunner(slowdown=3)),
          ("distributed", DistributedRunner(app=app, graph_opt=None, platform=plat, platform_path=plat_path,
                                            endpoint="endpoint", server="server", slowdown=3))]
    print("\nvehicle PP3 over ethernet100, 3 frames, slowdown x3")
    print(f"{'runner':<12} {'run wall s':>10} {'ms/frame':>9} {'endpoint':>9} {'link':>6} {'server':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, r in rs:
            t0 = time.perf_counter()
            import contextlib
            import io

            with contextlib.redirect_stdout(io.StringIO()):
                m = r.measure(g, pp3, link, frames=3, workdir=os.path.join(tmp, name))
            t1 = time.perf_counter()
            print(f"{name:<12} {t1 - t0:>10.2f} {m.per_frame_s * 1e3:>9.1f} {m.endpoint_s * 1e3:>9.1f} "
                  f"{(m.link_s or 0) * 1e3:>6.1f} {m.server_s * 1e3:>7.1f}  {m.status}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    enumeration(a.quick)
    runners()


if __name__ == "__main__":
    main()
