"""The fuzzing loop: rounds of two runs each, same random rate choices, different delays."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable

from .._words import plural
from ..exec import RunOptions, make_backend, make_runtime
from ..model import ActorKind, Graph
from ._wrap import FuzzBackend


@dataclass(frozen=True)
class Finding:
    kind: str  # "deadlock" | "capacity" | "crash" | "nondeterminism"
    seed: int  # the round seed: `vrprune fuzz FILE --seed SEED --iterations N` reproduces it
    iterations: int
    message: str
    details: tuple[str, ...] = ()
    atr: dict[str, list[int]] = field(default_factory=dict)

    def describe(self, file: str = "FILE") -> str:
        lines = [f"{self.kind}: {self.message}"]
        lines += [f"  {d}" for d in self.details]
        if self.atr:
            lines.append("  rate choices: " + ", ".join(f"{k} = {v[:12]}{' ...' if len(v) > 12 else ''}"
                                                       for k, v in self.atr.items()))
        lines.append(f"  reproduce: vrprune fuzz {file} --seed {self.seed} --iterations {self.iterations}")
        return "\n".join(lines)


@dataclass
class FuzzReport:
    rounds: int = 0
    runs: int = 0
    firings: int = 0
    wall_s: float = 0.0
    findings: list[Finding] = field(default_factory=list)


def _bounds(g: Graph) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for a in g.actors:
        for p in a.ports:
            if p.is_variable and a.dpg is not None:
                out.setdefault(a.dpg, (p.lrl, p.url))
    return out


def _one_run(g: Graph, seed: int, run: int, iterations: int, delays: bool, max_delay_us: float,
             stub_missing: bool, watchdog_s: float, repetition: dict[str, int] | None):
    ix = g.index()
    bounds = _bounds(g)
    wrappers: dict[str, FuzzBackend] = {}
    for a in g.actors:
        inner = make_backend(a, None, stub_missing=stub_missing, warn=lambda m: None,
                             stub_atr=bounds.get(a.dpg or "", (0, 0))[1])
        outs = [ix.by_src[(a.name, p.name)].name for p in a.outputs if not p.is_control]
        is_ca = a.kind is ActorKind.CA and a.dpg is not None
        wrappers[a.name] = FuzzBackend(
            inner, outs,
            atr=random.Random(f"{seed}:atr:{a.dpg}") if is_ca else None,
            bounds=bounds.get(a.dpg or "", (1, 1)),
            delays=random.Random(f"{seed}:delay:{run}:{a.name}") if delays else None,
            max_delay_us=max_delay_us)
    rt = make_runtime(g, RunOptions(iterations=iterations, watchdog_s=watchdog_s, native=False),
                      backends=dict(wrappers), repetition=repetition, warn=lambda m: None)
    return rt.run(), wrappers


def fuzz(g: Graph, *, seed: int = 0, seconds: float | None = None, iterations: int | None = None,
         round_iterations: int = 20, delays: bool = False, max_delay_us: float = 500.0,
         stub_missing: bool = False, watchdog_s: float = 2.0, repetition: dict[str, int] | None = None,
         progress: Callable[[str], None] | None = None) -> FuzzReport:
    """Fuzz ``g`` in rounds of ``round_iterations`` graph iterations until ``seconds`` have passed
    or ``iterations`` graph iterations in all have run (default: one round). Round ``r`` uses seed
    ``seed + r``: its rate choices come from that seed; it runs twice, with different delays
    (``delays``), and the token streams of the two runs must agree. Stops at the first round
    with findings."""
    rep = FuzzReport()
    t0 = time.perf_counter()
    total = 0
    r = 0
    if seconds is None and iterations is None:
        iterations = round_iterations
    while True:
        if seconds is not None and r > 0 and time.perf_counter() - t0 >= seconds:
            break
        if iterations is not None and total >= iterations:
            break
        n = round_iterations if iterations is None else min(round_iterations, iterations - total)
        s = seed + r
        found = _round(g, s, n, delays, max_delay_us, stub_missing, watchdog_s, repetition, rep)
        rep.rounds += 1
        total += n
        r += 1
        if progress is not None:
            what = "clean" if not found else plural(len(found), "finding")
            progress(f"round {r}: seed {s}, {plural(n, 'iteration')}, {what}")
        if found:
            rep.findings += found
            break
    rep.wall_s = time.perf_counter() - t0
    return rep


def _round(g, s, n, delays, max_delay_us, stub_missing, watchdog_s, repetition, rep) -> list[Finding]:
    found: list[Finding] = []
    results = []
    for run in (0, 1):
        res, wrappers = _one_run(g, s, run, n, delays, max_delay_us, stub_missing, watchdog_s, repetition)
        rep.runs += 1
        rep.firings += sum(res.firings.values())
        atr = {w.actor.dpg or w.actor.name: list(w.chosen) for w in wrappers.values() if w.chosen}
        if res.status == "deadlock":
            found.append(Finding("deadlock", s, n, f"no actor fired for {res.stalled_s:.1f} s (run {run + 1})",
                                 tuple(str(w) for w in res.waits), atr))
        elif res.status == "error":
            det: list[str] = []
            for f in res.failures:
                det.append(str(f))
                if f.traceback and f.phase != "runtime":
                    det += ["  " + ln for ln in f.traceback.rstrip().splitlines()[-8:]]
            found.append(Finding("crash", s, n, f"an actor failed (run {run + 1})", tuple(det), atr))
        for f in g.fifos:
            st = res.fifos.get(f.name, {})
            if f.capacity is not None and st.get("max_fill", 0) > f.capacity:
                found.append(Finding("capacity", s, n, f"fifo '{f.name}' held {st['max_fill']} tokens, "
                                                       f"capacity {f.capacity}", (), atr))
        results.append((res, wrappers, atr))
        if found:
            return found
    (ra, wa, atr), (rb, wb, _) = results
    da = {k: v for w in wa.values() for k, v in w.digests().items()}
    db = {k: v for w in wb.values() for k, v in w.digests().items()}
    differ = [f.name for f in g.fifos if f.name in da and da[f.name] != db.get(f.name)]
    if differ:
        ix = g.index()
        culprits = []
        for fname in differ:
            writer = ix.fifos[fname].src.actor
            ins = [f.name for f in ix.ins[writer] if f.name in da]
            if not any(i in differ for i in ins) and writer not in culprits:
                culprits.append(writer)
        det = [f"fifo '{f}': run 1 wrote {da[f][0]} tokens (sha256 {da[f][1][:12]}), "
               f"run 2 wrote {db[f][0]} tokens (sha256 {db[f][1][:12]})" for f in differ]
        who = (f"actor(s) {', '.join(repr(c) for c in culprits)} wrote different tokens from the same inputs"
               if culprits else "the token streams differ")
        found.append(Finding("nondeterminism", s, n, f"two runs with the same rate choices disagree: {who}",
                             tuple(det), atr))
    return found
