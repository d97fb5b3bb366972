"""Human-readable text for a verification report."""

from __future__ import annotations

from .._words import fill, plural
from ..diagnostics import render
from ..verify import Report


def _runs(trace, limit: int = 60) -> list[str]:
    out = []
    for a, k, r in trace[:limit]:
        s = a if k == 1 else f"{a}×{k}"
        if r is not None:
            s += f"[atr={r}]"
        out.append(s)
    if len(trace) > limit:
        out.append(f"... ({len(trace) - limit} more steps)")
    return out


def report_text(rep: Report, *, explain: bool = False) -> str:
    g = rep.graph
    lines: list[str] = []
    for d in rep.diagnostics:
        lines.append(render(d))
        lines.append("")
    cx = rep.counterexample
    if cx is not None:
        lines.append(f"counterexample ({cx.kind}):")
        if cx.atr:
            for dpg, seq in cx.atr.items():
                lines.append(f"  rate choices: DPG {dpg} chooses atr = {', '.join(map(str, seq))} in successive CA "
                             f"firings")
        fired = sum(cx.counts.values())
        if not cx.trace and fired:  # too many firings to replay one by one within the time limit
            done = ", ".join(f"{a} x{k}" for a, k in cx.counts.items() if k)
            lines.append(f"  firing sequence: omitted ({fired:,} firings lead there: {done})")
        else:
            lines.append(f"  firing sequence: {' '.join(_runs(cx.trace)) or '(none: stuck in the initial state)'}")
        lines.append("  fill levels at the stuck state:")
        for f, v in cx.fills.items():
            lines.append(f"    {f:<28} {fill(v, cx.capacities[f]):>9}")
        lines.append("  wait cycle:")
        for w in cx.cycle or cx.wait:
            lines.append(f"    {w.text(cx.capacities[w.fifo])}")
        lines.append("")
    verdict = rep.verdict
    head = {"proved": "proved", "refuted": "refuted", "inconclusive": "inconclusive"}[verdict]
    lines.append(f"graph {g.name}: {head} ({plural(len(g.actors), 'actor')}, {plural(len(g.fifos), 'fifo')}, "
                 f"{rep.stats.get('total_s', 0):.3f} s)")
    for p in rep.properties:
        lines.append(f"  {p.name:<18} {p.status:<9} {p.detail}")
    if rep.repetition and (explain or verdict == "proved"):
        rv = ", ".join(f"{a}={n}" for a, n in rep.repetition.items())
        lines.append(f"  repetition vector: {rv if len(rv) < 400 else rv[:400] + ' ...'}")
    cert = rep.certificate
    if explain and cert is not None:
        lines.append("")
        lines.append(f"certificate ({cert.method}):")
        for label, sched in cert.schedules.items():
            lines.append(f"  schedule of one iteration [{label}]: {' '.join(_runs(sched, 200))}")
        lines.append("  fill-level bounds (proved bound = capacity, since no firing ever needs more room; peak in the "
                     "schedules):")
        for f, (cap, peak) in cert.bounds.items():
            lines.append(f"    {f:<28} <= {cap:<6} peak {peak}")
        if cert.core:
            lines.append(f"  unsat core: the proof uses the fill-level invariant 0 <= fill <= capacity of: "
                         f"{', '.join(cert.core)}")
    return "\n".join(lines) + "\n"
