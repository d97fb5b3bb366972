"""The OpenCL vehicle classifier on every OpenCL platform present: frames/s through the pipeline
(one thread per actor, OpenCL actors L1..L4L5) and the per-layer kernel times, PoCL (CPU) next to
any GPU platform, measured in the same run.

    python bench/bench_vehicle_gpu.py [--frames 64]

On the lent GPU machine (NVIDIA's OpenCL library present but not registered), register it first:
    mkdir -p /tmp/icd && echo /usr/local/nvidia/lib64/libnvidia-opencl.so.1 > /tmp/icd/nvidia.icd
    OCL_ICD_VENDORS=/tmp/icd python bench/bench_vehicle_gpu.py   (PoCL then is not listed: run twice)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "vehicle"))


def with_frames(g, frames: int):
    from vrprune.model import Param

    def fix(a):
        if a.name != "Input":
            return a
        ps = tuple(p for p in a.params if p.name != "frames") + (Param("frames", frames),)
        return dataclasses.replace(a, params=ps)

    return dataclasses.replace(g, actors=tuple(fix(a) for a in g.actors))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--save", help="save the class probabilities of the first platform (.npy)")
    ap.add_argument("--compare", help="compare against probabilities saved by --save")
    a = ap.parse_args()
    import numpy as np
    import pyopencl as cl

    import vrprune
    from vrprune.exec import Runtime

    plats = [p.name for p in cl.get_platforms()]
    print(f"OpenCL platforms: {plats}")
    g = with_frames(vrprune.load(str(ROOT / "examples" / "vehicle" / "vehicle_cl.vpr")), a.frames)
    ref = None
    for name in plats:
        os.environ["VRPRUNE_CL_PLATFORM"] = name
        dev = cl.get_platforms()[plats.index(name)].get_devices()[0].name
        Runtime(with_frames(g, 2), warn=lambda m: None).run()  # warm-up: kernel builds
        t = time.perf_counter()
        res = Runtime(g, warn=lambda m: None).run()
        wall = time.perf_counter() - t
        probs = np.fromfile("vehicle_probs.f32", np.float32).reshape(-1, 4)
        same = "" if ref is None else f"  max |dp| vs first platform {np.abs(probs - ref).max():.2e}"
        if ref is None and a.compare:
            ref = np.load(a.compare)
            same = f"  max |dp| vs saved run {np.abs(probs - ref).max():.2e}"
        ref = probs if ref is None else ref
        if a.save:
            np.save(a.save, probs)
        print(f"{name[:40]:<40} {dev[:34]:<34} {res.status:<6} {a.frames / wall:8.1f} frames/s{same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
