"""Compiled program vs the Python executor: source -> 10 copy actors -> sink, 73,728-byte tokens.

    python bench/bench_compile_chain.py [--tokens N] [--copies 10] [--capacity 8] [--repeat 3]

Both run the same C actor source (bench_exec_chain.C_SOURCE) and the same graph: the compiled
program (`vrprune compile --build`, one pthread per actor, runtime library in C) and
`vrprune run` (Python executor, C actors, its C firing loop). Prints tokens/s and GB/s of each,
measured in this run, their ratio, and GNU Radio 3.10's figure through 10 copy blocks
(/usr/bin/python3 ../shared/anchors/gnuradio_chain.py, beside the repository, when gnuradio is
installed; else the figure measured earlier on this kind of machine, about 29,000 items/s). Goal:
the compiled chain beats 29,000 tokens/s.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_exec_chain import ANCHOR, C_SOURCE, TOKEN  # noqa: E402

GNURADIO_FIGURE = 29_000


def chain_vpr(copies: int, capacity: int) -> str:
    impl = 'impl c "copy.c" {{ fire = {} }}'
    lines = ["graph chain {", f"  actor src {{ out o: bytes({TOKEN})  {impl.format('src_fire')} }}"]
    for i in range(copies):
        lines.append(f"  actor cp{i} {{ in i: bytes({TOKEN})  out o: bytes({TOKEN})  {impl.format('copy_fire')} }}")
    lines.append(f"  actor sink {{ in i: bytes({TOKEN})  {impl.format('sink_fire')} }}")
    names = ["src"] + [f"cp{i}" for i in range(copies)] + ["sink"]
    for a, b in zip(names, names[1:]):
        lines.append(f"  fifo {a}.o -> {b}.i capacity {capacity}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def run_compiled(exe: str, tokens: int) -> tuple[float, float]:
    """(tokens/s, CPU microseconds per token: user + system of all its threads)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run([exe, "--iterations", str(tokens)], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    m = re.search(r"firings in ([0-9.]+) s", r.stdout)
    assert m, r.stdout
    cpu = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) / tokens * 1e6
    return tokens / float(m.group(1)), cpu


def run_python(app: str, tokens: int) -> tuple[float, float]:
    from vrprune import load
    from vrprune.exec import Runtime

    rt = Runtime(load(app), iterations=tokens, watchdog_s=30)
    c0 = time.process_time()
    res = rt.run()
    cpu = (time.process_time() - c0) / tokens * 1e6
    assert res.ok, res.describe()
    return tokens / res.wall_s, cpu


def gnuradio(copies: int) -> str:
    probe = subprocess.run(["/usr/bin/python3", "-c", "import gnuradio"], capture_output=True) \
        if os.path.exists("/usr/bin/python3") else None
    if probe is None or probe.returncode != 0 or not os.path.exists(ANCHOR):
        return (f"GNU Radio 3.10: not installed here (or no {ANCHOR}); measured earlier on this kind of machine: "
                f"~{GNURADIO_FIGURE:,} items/s (~2.1 GB/s)")
    r = subprocess.run(["/usr/bin/python3", ANCHOR, str(TOKEN), str(copies), "50000"], capture_output=True, text=True,
                       timeout=600)
    return f"GNU Radio 3.10 (same machine, same run): {r.stdout.strip() or r.stderr.strip()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=20000)
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--capacity", type=int, default=8, help="fifo capacity in tokens")
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs")
    a = ap.parse_args()
    from vrprune.compile import build, compile_app

    print(f"chain: source -> {a.copies} copy actors -> sink, {TOKEN:,}-byte tokens, fifo capacity {a.capacity}, "
          f"{a.tokens:,} tokens, best of {a.repeat} interleaved; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "copy.c"), "w") as f:
            f.write(C_SOURCE)
        app = os.path.join(d, "chain.vpr")
        with open(app, "w") as f:
            f.write(chain_vpr(a.copies, a.capacity))
        t0 = time.perf_counter()
        res = compile_app(app, os.path.join(d, "build"))
        assert res.verdict == "proved"
        exe = build(res.program)
        print(f"  vrprune compile --build: {time.perf_counter() - t0:.1f} s")
        cs, ps = [], []
        for _ in range(a.repeat):  # interleaved, so both see the same machine load
            cs.append(run_compiled(exe, a.tokens))
            ps.append(run_python(app, a.tokens))
        (c, c_cpu), (py, py_cpu) = max(cs), max(ps)
    row = lambda label, tps, cpu: (f"  {label:<40} {tps:>9,.0f} tokens/s {tps * TOKEN / 1e9:5.2f} GB/s "  # noqa: E731
                                   f"{cpu:6.1f} CPU-us/token")
    print(row("compiled program (vrprune compile)", c, c_cpu))
    print(row("Python executor (vrprune run, C actors)", py, py_cpu))
    print(f"  CPU-bound ceiling of the compiled chain on {os.cpu_count()} idle cores: "
          f"{(os.cpu_count() or 1) * 1e6 / c_cpu:,.0f} tokens/s (wall-clock rates depend on the machine's load)")
    print(f"  ratio compiled / Python executor: {c / py:.2f}x")
    print(f"  compiled / GNU Radio's ~{GNURADIO_FIGURE:,} items/s: {c / GNURADIO_FIGURE:.2f}x; goal (beat it): "
          f"{'met' if c > GNURADIO_FIGURE else 'not met'}")
    print("  " + gnuradio(a.copies))


if __name__ == "__main__":
    main()
