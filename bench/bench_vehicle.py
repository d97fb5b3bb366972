"""Vehicle classifier throughput: the sequential numpy reference vs each back-end's layers
and vs the pipelined `vrprune run` of each .vpr (one thread per actor), in one process.

    python bench/bench_vehicle.py [--frames 40] [--blas-threads 1]

BLAS threads: numpy's OpenBLAS spins its own threads; with one thread per actor on 2 cores
they oversubscribe the CPU (x@W 18432x100 takes 0.7 ms with 1 BLAS thread, ~16 ms with 2
on a busy 2-core machine). The bench sets OPENBLAS_NUM_THREADS (default 1) before numpy is
imported, for the reference and the pipelines alike, and also times the reference in a
subprocess with OpenBLAS's default thread count, so the pipelines are compared with the
better of the two.

`--variants cl,clhost` compares the OpenCL classifier with device-resident inner edges
(device FIFOs between L1, L2, L3, L4L5) with the host-copy path; the last line gives the ratio.

Pipelined frames/s are measured differentially, (frames_long - frames_short) / (t_long - t_short),
so compilation, kernel builds and weight generation at start-up cancel out.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import re
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(ROOT, "examples", "vehicle")
VARIANTS = {"np": "numpy actors", "c": "C actors", "cl": "OpenCL actors (PoCL)",
            "clhost": "OpenCL, host-copy edges"}
# variant -> (.vpr variant, VRPRUNE_CL_DEVICE_FIFOS): "cl" keeps the L1 -> L2 -> L3 -> L4L5 edges
# in device memory (device FIFOs, the default); "clhost" turns them off, so every edge makes a
# device -> host -> device round trip (the pre-device-FIFO behaviour)
SOURCE = {"np": ("np", None), "c": ("c", None), "cl": ("cl", "1"), "clhost": ("cl", "0")}


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_vehicle_{name}", os.path.join(HERE, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def variant_with_frames(variant: str, frames: int, where: str) -> str:
    """A copy of vehicle_<variant>.vpr producing ``frames`` frames, with absolute impl paths."""
    variant = SOURCE.get(variant, (variant, None))[0]
    text = open(os.path.join(HERE, f"vehicle_{variant}.vpr")).read()
    text = re.sub(r"param frames = \d+", f"param frames = {frames}", text)
    text = re.sub(r'impl (c|opencl|python) "([^"]+)"', lambda m: f'impl {m[1]} "{os.path.join(HERE, m[2])}"', text)
    path = os.path.join(where, f"vehicle_{variant}_{frames}.vpr")
    with open(path, "w") as f:
        f.write(text)
    return path


def time_run(path: str) -> float:
    """Wall time of one `vrprune run` in this process (checker skipped)."""
    from vrprune.cli import main_with

    out, err = io.StringIO(), io.StringIO()
    t = time.perf_counter()
    rc = main_with(["run", path, "--unchecked", "--quiet"], out, err)
    dt = time.perf_counter() - t
    if rc != 0:
        raise SystemExit(f"vrprune run {path} failed ({rc}):\n{err.getvalue()}")
    return dt


def time_reference(n: int) -> float:
    ref = _load("reference")
    p = ref.weights(1)
    ref.forward(p, ref.frame(7, 0))
    t = time.perf_counter()
    for f in range(n):
        ref.forward(p, ref.frame(7, f))
    return (time.perf_counter() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--variants", default="np,c,cl,clhost")
    ap.add_argument("--repeats", type=int, default=3, help="runs per length (the minimum is kept)")
    ap.add_argument("--blas-threads", default="1", help="OPENBLAS_NUM_THREADS for this run ('default': leave unset)")
    ap.add_argument("--reference-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.blas_threads != "default":
        os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = args.blas_threads
    n = args.frames
    if args.reference_only:
        print(time_reference(n))
        return
    import subprocess

    import numpy as np

    seq = _load("sequential")
    print(f"vehicle classifier, {os.cpu_count()} CPUs, {n} frames, OPENBLAS_NUM_THREADS={args.blas_threads}")
    t_ref = time_reference(n)
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    t_ref_dflt = float(subprocess.run([sys.executable, __file__, "--reference-only", "--frames", str(n),
                                       "--blas-threads", "default"], env=env, capture_output=True, text=True,
                                      check=True).stdout.split()[-1])
    print("\nnumpy reference, sequential (frame generation included):")
    print(f"  OPENBLAS_NUM_THREADS={args.blas_threads:<8} {t_ref * 1e3:7.2f} ms/frame  {1 / t_ref:6.1f} frames/s")
    print(f"  OpenBLAS default threads {t_ref_dflt * 1e3:7.2f} ms/frame  {1 / t_ref_dflt:6.1f} frames/s")
    t_ref = min(t_ref, t_ref_dflt)

    variants = [v for v in args.variants.split(",") if v]
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # Output actors write vehicle_probs.f32 here
        print("\nper-layer ms/firing, back-ends fired in sequence in one thread (contract interface):")
        print(f"  {'variant':<22}" + "".join(f"{a:>8}" for a in ("Input", "L1", "L2", "L3", "L4L5", "Output", "sum")))
        for v in variants:
            if v == "clhost":  # the same back-ends as "cl" when fired in sequence
                continue
            _, spent = seq.run_sequential(variant_with_frames(v, n, tmp))
            row = [spent[a] * 1e3 for a in ("Input", "L1", "L2", "L3", "L4L5", "Output")]
            print(f"  {VARIANTS[v]:<22}" + "".join(f"{x:8.2f}" for x in row) + f"{sum(row):8.2f}")

        print("\npipelined `vrprune run` (one thread per actor), steady state:")
        short = max(4, n // 5)
        per_frame: dict[str, float] = {}
        for v in variants:
            env = SOURCE.get(v, (v, None))[1]
            if env is None:
                os.environ.pop("VRPRUNE_CL_DEVICE_FIFOS", None)
            else:
                os.environ["VRPRUNE_CL_DEVICE_FIFOS"] = env
            time_run(variant_with_frames(v, short, tmp))  # warm: imports, compiler and kernel caches
            t_short = min(time_run(variant_with_frames(v, short, tmp)) for _ in range(args.repeats))
            t_long = min(time_run(variant_with_frames(v, n, tmp)) for _ in range(args.repeats))
            got = np.fromfile(os.path.join(tmp, "vehicle_probs.f32"), np.float32).reshape(-1, 4)
            assert got.shape == (n, 4), f"{v}: {got.shape[0]} frames came out, expected {n}"
            per = (t_long - t_short) / (n - short)
            per_frame[v] = per
            print(f"  {VARIANTS[v]:<22} {per * 1e3:7.2f} ms/frame  {1 / per:6.1f} frames/s   "
                  f"x{t_ref / per:4.2f} vs best sequential numpy reference   (start-up {t_short - short * per:5.2f} s)")
        os.environ.pop("VRPRUNE_CL_DEVICE_FIFOS", None)
        if "cl" in per_frame and "clhost" in per_frame:
            print(f"\n  OpenCL device-resident inner edges vs host-copy edges: "
                  f"{1 / per_frame['cl']:.1f} vs {1 / per_frame['clhost']:.1f} frames/s, "
                  f"x{per_frame['clhost'] / per_frame['cl']:.2f}")
        os.chdir(ROOT)


if __name__ == "__main__":
    main()
