"""Start-up time of the command line: whole processes, measured side by side in one run.

    python bench/bench_startup.py [--repeat 15] [--graph specs/vehicle.vpr]

Prints the median wall time of `python -c pass`, `vrprune --help` and `vrprune check GRAPH`
(a 6-actor graph by default), each with its ratio to `python -c pass`, and the slowest imports of
the check (`python -X importtime`). Goal: the check of a small graph under 0.25 s.

Two settings: bytecode cached (what `pip install` gives: compiled .pyc files; here in a temporary
PYTHONPYCACHEPREFIX after one warm-up run) and no bytecode (PYTHONDONTWRITEBYTECODE=1, as some
development shells set: every module is compiled at every start).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def wall(cmd: list[str], env: dict[str, str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - t0)
        if p.returncode not in (0, 1):
            sys.exit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode()[-500:]}")
    return statistics.median(times)


def slowest_imports(cmd: list[str], env: dict[str, str], n: int = 8) -> list[tuple[float, str]]:
    """Top-level imports by cumulative time (ms) from `python -X importtime`."""
    p = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], cwd=ROOT, env=env, capture_output=True, text=True)
    rows = []
    for line in p.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cum, name = line.split("|")
            if cum.strip().isdigit() and len(name) - len(name.lstrip()) <= 3:  # depth 0-1
                rows.append((int(cum) / 1000, name.strip()))
    return sorted(rows, reverse=True)[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--graph", default="specs/vehicle.vpr")
    a = ap.parse_args()
    py = sys.executable
    vr = [py, "-m", "vrprune"]
    cases = [("python -c pass", [py, "-c", "pass"]), ("vrprune --help", [*vr, "--help"]),
             (f"vrprune check {a.graph}", [*vr, "check", a.graph])]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; median of {a.repeat} runs, whole process")
    with tempfile.TemporaryDirectory() as pyc:
        base = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
        settings = [("bytecode cached (as installed)", dict(base, PYTHONPYCACHEPREFIX=pyc)),
                    ("no bytecode (PYTHONDONTWRITEBYTECODE=1)", dict(base, PYTHONDONTWRITEBYTECODE="1"))]
        for title, env in settings:
            for _, cmd in cases:  # warm-up: .pyc files, the parser-table cache, the OS's file cache
                subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True)
            print(f"\n{title}:")
            ref = None
            for name, cmd in cases:
                t = wall(cmd, env, a.repeat)
                ref = ref or t
                goal = "  (goal < 0.250 s: " + ("met)" if t < 0.25 else "not met)") if "check" in name else ""
                print(f"  {name:<34} {t:6.3f} s  {t / ref:5.1f}x python -c pass{goal}")
        print(f"\nslowest imports of `vrprune check {a.graph}` (bytecode cached, cumulative ms):")
        for ms, name in slowest_imports(cases[2][1], settings[0][1]):
            print(f"  {ms:7.1f}  {name}")


if __name__ == "__main__":
    main()
