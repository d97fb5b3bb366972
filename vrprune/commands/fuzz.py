"""`vrprune fuzz FILE`: run a graph under random admissible rate choices and scheduling
perturbations; report deadlocks, capacity violations, crashes and non-determinism."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from typing import TextIO

from .run import add_param_argument

EXIT_CODES = """exit codes:
  0    no finding
  1    a finding (deadlock, capacity violation, crash, non-determinism, a sanitizer report), or the
       checker refutes the graph
  2    usage or input error
  3    the checker was inconclusive (nothing run)
"""

SANITIZE_FLAGS = ("-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g", "-O1")
_CHILD = "VRPRUNE_FUZZ_SANITIZED"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("fuzz", help="run a graph under random rate choices and delays; report deadlocks, "
                                    "crashes, capacity violations and non-determinism",
                       description="Run FILE's graph in the executor, in rounds: the CAs' rate choices are replaced "
                                   "by random admissible ones (lrl..url) drawn from the round's seed, and every round "
                                   "runs twice with different scheduling (--delays injects random sleeps around "
                                   "firings); the tokens written on every fifo must agree between the two runs. "
                                   "Every finding names the seed that reproduces it. See docs/fuzzing.md.")
    p.add_argument("file", help="the application graph (.vpr or SDF3 XML)")
    p.add_argument("--graph", help="which graph, when the file defines several")
    add_param_argument(p)
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--seconds", type=float, metavar="S", help="fuzz for about S seconds (whole rounds)")
    budget.add_argument("--iterations", type=int, metavar="N",
                        help="fuzz N graph iterations in all (default: one round)")
    p.add_argument("--round", type=int, default=20, metavar="N", dest="round_iterations",
                   help="graph iterations per round (default 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first round (round r uses SEED + r; default 0)")
    p.add_argument("--delays", action="store_true", help="inject random sleeps before and after firings")
    p.add_argument("--max-delay-us", type=float, default=500.0, metavar="US",
                   help="longest injected sleep, microseconds (default 500)")
    p.add_argument("--sanitize", action="store_true",
                   help="build C actors with -fsanitize=address,undefined (re-runs itself with libasan preloaded)")
    p.add_argument("--stub-missing", action="store_true",
                   help="actors without an implementation zero-fill their outputs")
    p.add_argument("--unchecked", action="store_true", help="fuzz without proving the graph first")
    p.add_argument("--watchdog", type=float, default=2.0, metavar="T",
                   help="report a deadlock when no actor fires for T seconds (default 2)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="checker time limit (default 60)")
    return p


def _cc_file(name: str) -> str | None:
    """``cc -print-file-name=NAME``, when that names an existing file."""
    from ..exec import ToolchainError, find_cc

    try:
        out = subprocess.run(find_cc() + [f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
    except (ToolchainError, OSError):
        return None
    return os.path.realpath(out) if out and os.path.isabs(out) and os.path.exists(out) else None


def _libasan() -> str | None:
    return _cc_file("libasan.so")


def _asan_loaded() -> bool:
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            return "libasan" in f.read()
    except OSError:
        return False


def _argv(args) -> list[str]:
    out = [args.file]
    for flag, val in (("--graph", args.graph), ("--seconds", args.seconds), ("--iterations", args.iterations)):
        if val is not None:
            out += [flag, str(val)]
    for actor, name, value in args.param:
        out += ["--param", f"{actor}.{name}={value}"]
    out += ["--round", str(args.round_iterations), "--seed", str(args.seed), "--max-delay-us", str(args.max_delay_us),
            "--watchdog", str(args.watchdog), "--timeout", str(args.timeout), "--sanitize"]
    out += [f for f, on in (("--delays", args.delays), ("--stub-missing", args.stub_missing),
                            ("--unchecked", args.unchecked)) if on]
    return out


def _sanitized_child(args, stdout: TextIO, stderr: TextIO) -> int:
    lib = _libasan()
    if lib is None:
        print("vrprune fuzz: error: --sanitize needs the compiler's libasan.so (`cc -print-file-name=libasan.so` "
              "found none); install it (e.g. `apt-get install libasan8`) or preload it yourself: "
              "LD_PRELOAD=/path/to/libasan.so vrprune fuzz --sanitize ...", file=stderr)
        return 2
    env = dict(os.environ)
    # libasan first; libstdc++ right after it, so that ASan can intercept C++ exceptions thrown
    # by libraries loaded later (z3 throws them: without it ASan aborts with a CHECK failure)
    pre = [lib] + [p for p in [_cc_file("libstdc++.so.6")] if p]
    env["LD_PRELOAD"] = " ".join(pre + env.get("LD_PRELOAD", "").split())
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    env[_CHILD] = "1"
    cmd = [sys.executable, "-m", "vrprune", "fuzz", *_argv(args)]
    print(f"vrprune fuzz: re-running with {os.path.basename(lib)} preloaded: {shlex.join(cmd)}", file=stderr)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    stdout.write(proc.stdout)
    stderr.write(proc.stderr)
    report = next((ln for ln in proc.stderr.splitlines()
                   if "ERROR: AddressSanitizer" in ln or "runtime error:" in ln or "SUMMARY: " in ln), None)
    if report is not None or proc.returncode not in (0, 1, 2):
        what = report.strip() if report else f"the run died (exit status {proc.returncode})"
        print(f"sanitizer: {what} (full report on stderr)\n"
              f"  reproduce: vrprune fuzz {args.file} --sanitize --seed {args.seed}", file=stdout)
        return 1
    return proc.returncode


def run(args, stdout: TextIO, stderr: TextIO) -> int:
    from ..fuzz import fuzz
    from ..pipeline import ProveOptions, load_app, prove_or_refuse
    from ._gate import refused

    if args.iterations is not None and args.iterations < 1 or args.round_iterations < 1:
        print("vrprune fuzz: error: --iterations and --round must be at least 1", file=stderr)
        return 2
    if args.sanitize:
        if not (_asan_loaded() or os.environ.get(_CHILD)):
            return _sanitized_child(args, stdout, stderr)
        from ..exec import cflags

        extra = [f for f in SANITIZE_FLAGS if f not in cflags()]
        os.environ["VRPRUNE_CFLAGS"] = shlex.join([f for f in cflags() if not f.startswith("-O")] + extra)
    from ..frontend import ParamError

    try:
        app = load_app(args.file, args.graph, args.param)
    except ParamError as exc:
        print(f"vrprune fuzz: error: {exc}", file=stderr)
        return 2
    g = app.graph
    gate = prove_or_refuse(app, ProveOptions(timeout_s=args.timeout, unchecked=args.unchecked))
    if not gate.ok:
        return refused(gate, stderr, f"vrprune fuzz: the checker's verdict on graph '{g.name}' is {gate.verdict}; "
                                     f"fix it first (see `vrprune check {args.file}`), or pass --unchecked")
    repetition = gate.repetition()
    tty = hasattr(stderr, "isatty") and stderr.isatty()
    progress = (lambda m: print(f"[vrprune fuzz] {m}", file=stderr)) if tty else None
    report = fuzz(g, seed=args.seed, seconds=args.seconds, iterations=args.iterations,
                  round_iterations=args.round_iterations, delays=args.delays, max_delay_us=args.max_delay_us,
                  stub_missing=args.stub_missing, watchdog_s=args.watchdog, repetition=repetition,
                  progress=progress)
    for f in report.findings:
        print(f.describe(args.file), file=stdout)
    from .._words import plural

    status = plural(len(report.findings), "finding") if report.findings else "no findings"
    print(f"graph {g.name}: {status} ({plural(report.rounds, 'round')}, {plural(report.runs, 'run')}, "
          f"{plural(report.firings, 'firing')}, "
          f"{report.wall_s:.2f} s, seeds {args.seed}..{args.seed + max(report.rounds - 1, 0)})", file=stdout)
    return 1 if report.findings else 0
