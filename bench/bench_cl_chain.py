"""A chain of OpenCL copy actors (PoCL on the CPU): device FIFOs on the inner edges vs the
host-copy path, tokens/s and MB/s, for a few token sizes.

    python bench/bench_cl_chain.py [--actors 4] [--tokens 400] [--sizes 4096,1048576,8388608]

Source and sink are Python actors (host FIFOs at both ends); the ``--actors`` OpenCL actors in
between each copy their token (one float per work item). With device FIFOs the inner edges
never touch host memory; with ``device_fifos=False`` every inner edge costs a device -> host
and a host -> device copy. Runs alternate between the two modes; the best of ``--repeats``
is kept. Steady state is measured differentially (long run minus short run).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

KERNEL = "__kernel void cp(__global const float *x, __global float *y) { size_t i = get_global_id(0); y[i] = x[i]; }\n"
ACTORS = '''
import numpy as np
from vrprune.exec import END
class Source:
    def __init__(self, n=10):
        self.n, self.k = n, 0
    def fire(self, ins, outs, atr):
        if self.k == self.n:
            return END
        self.k += 1
        outs[0][0, :8] = self.k & 255
class Sink:
    def fire(self, ins, outs, atr):
        pass
'''


def graph(where: str, actors: int, nbytes: int, tokens: int) -> str:
    e = nbytes // 4
    lines = ["graph chain {", f'  actor Src {{ out o: f32[{e}]  impl python "a.py:Source"  param n = {tokens} }}']
    prev = "Src.o"
    for i in range(actors):
        lines.append(f'  actor C{i} {{ in x: f32[{e}]  out y: f32[{e}]  impl opencl "k.cl" kernel cp }}')
        lines.append(f"  fifo {prev} -> C{i}.x capacity 2")
        prev = f"C{i}.y"
    lines += [f'  actor Sink {{ in i: f32[{e}]  impl python "a.py:Sink" }}', f"  fifo {prev} -> Sink.i capacity 2", "}"]
    path = os.path.join(where, f"chain_{actors}_{nbytes}_{tokens}.vpr")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def run_once(path: str, device: bool) -> float:
    import vrprune
    from vrprune.exec import Runtime

    rt = Runtime(vrprune.load(path), iterations=None, watchdog_s=60, device_fifos=device, warn=lambda m: None)
    t = time.perf_counter()
    res = rt.run()
    assert res.ok, res.describe()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--actors", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=400)
    ap.add_argument("--sizes", default="4096,1048576,8388608")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "k.cl"), "w") as f:
            f.write(KERNEL)
        with open(os.path.join(tmp, "a.py"), "w") as f:
            f.write(ACTORS)
        print(f"{args.actors} OpenCL copy actors between a Python source and sink, {os.cpu_count()} CPUs (PoCL)")
        print(f"  {'token bytes':>12} {'device FIFOs':>22} {'host-copy edges':>22} {'ratio':>7}")
        for nbytes in (int(s) for s in args.sizes.split(",")):
            n, short = args.tokens, max(args.tokens // 5, 4)
            long_p, short_p = graph(tmp, args.actors, nbytes, n), graph(tmp, args.actors, nbytes, short)
            best = {True: float("inf"), False: float("inf")}
            for dev in (True, False):
                run_once(short_p, dev)  # warm: kernel build cache
            for _ in range(args.repeats):
                for dev in (True, False):
                    per = (run_once(long_p, dev) - run_once(short_p, dev)) / (n - short)
                    best[dev] = min(best[dev], per) if per > 0 else best[dev]
            cells = [f"{1 / best[d]:9.0f} tok/s {nbytes / best[d] / 1e6:6.0f} MB/s" for d in (True, False)]
            print(f"  {nbytes:>12} {cells[0]:>22} {cells[1]:>22} {best[False] / best[True]:6.2f}x")


if __name__ == "__main__":
    main()
