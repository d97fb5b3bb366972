"""Human-readable text and the JSON form (schema vrprune/bufsize/1) of a buffer-sizing result."""

from __future__ import annotations

from ..diagnostics import render
from ..verify import BUFSIZE_SCHEMA as SCHEMA
from ..verify import SizeResult

_STATUS = {
    "optimal": "minimal capacities, optimality proved",
    "not-proven": "capacities are deadlock-free, optimality not proven",
    "infeasible": "no capacities make this graph deadlock-free",
    "unknown": "inconclusive: not sized within --timeout",
    "invalid": "cannot be sized: the graph breaks the design rules or is inconsistent",
}


def _num(x: float) -> str:
    if x == float("inf"):
        return "unbounded"
    return f"{x:,.6g}"


def _runs(trace, limit: int = 12) -> str:
    parts = [a if k == 1 else f"{a}×{k}" for a, k, _ in trace[-limit:]]
    pre = f"... ({len(trace) - limit} earlier) " if len(trace) > limit else ""
    return pre + (" ".join(parts) or "(none: stuck in the initial state)")


def bufsize_text(res: SizeResult, throughput: dict | None = None, *, explain: bool = False) -> str:
    g = res.graph
    out: list[str] = []
    for d in res.diagnostics:
        out += [render(d), ""]
    cx = res.counterexample
    if cx is not None:
        out.append("counterexample at the largest useful capacities (atr = url):")
        out.append(f"  firing sequence: {_runs(cx.trace, 40)}")
        for wait in cx.cycle or cx.wait:
            out.append(f"  {wait.text(cx.capacities[wait.fifo])}")
        out.append("")
    if res.fifos and res.status in ("optimal", "not-proven"):
        w = max([len("fifo")] + [len(f.name) for f in res.fifos])
        head = f"{'fifo':<{w}}  {'token B':>8}  {'before':>7}  {'minimal':>7}  {'classic':>7}  {'bytes':>12}"
        out += [head, "-" * len(head)]
        for f in res.fifos:
            before = "-" if f.before is None else str(f.before)
            mark = " (fixed)" if f.fixed else (" *" if f.capacity > f.lower else "")
            out.append(f"{f.name:<{w}}  {f.token_bytes:>8}  {before:>7}  {f.capacity:>7}  {f.classic:>7}  "
                       f"{f.bytes:>12,}{mark}")
        out.append("-" * len(head))
        tb = sum(f.before * f.token_bytes for f in res.fifos if f.before is not None)
        tt = sum(f.before for f in res.fifos if f.before is not None)
        all_given = all(f.before is not None for f in res.fifos)
        out.append(f"{'total tokens':<{w}}  {'':>8}  {tt if all_given else '-':>7}  {res.total('tokens'):>7}  "
                   f"{res.classic_total('tokens'):>7}")
        out.append(f"{'total bytes':<{w}}  {'':>8}  {'':>7}  {'':>7}  {'':>7}  {res.total('bytes'):>12,}")
        cb = res.classic_total("bytes")
        gain = res.total("bytes") - cb
        more = f"the whole graph needs {gain:,} bytes more" if gain > 0 else "reached"
        out.append(f"classic per-edge lower bound sum(p + c - gcd(p, c) + d mod gcd(p, c)): "
                   f"{res.classic_total('tokens')} tokens, {cb:,} bytes ({more})")
        if all_given:
            out.append(f"capacities in the file: {tt} tokens, {tb:,} bytes")
        if any(f.capacity > f.lower for f in res.fifos if not f.fixed):
            out.append("* above its per-edge bound: needed by the rest of the graph")
        out.append("")
    if explain and res.fifos:
        out.append("why each capacity cannot be smaller (one token less, all others as sized, atr = url):")
        for f in res.fifos:
            ol = f.one_less
            if f.fixed:
                out.append(f"  {f.name}: fixed in the file (--resize-all to size it)")
            elif ol is not None:
                out.append(f"  {f.name} at {ol.capacity}: {ol.kind}: {ol.message}")
                if ol.kind == "deadlock":
                    out.append(f"      firing sequence ends: {_runs(ol.trace)}")
        out.append("")
    if throughput:
        basis = throughput.get("basis", "")
        out.append(f"throughput (self-timed, {basis}):")
        if "iterations_per_s" in throughput:
            out.append(f"  at these capacities: {_num(throughput['iterations_per_s'])} iterations/s")
        if "max_iterations_per_s" in throughput:
            out.append(f"  with unbounded fifos: {_num(throughput['max_iterations_per_s'])} iterations/s")
        pts = throughput.get("pareto")
        if pts:
            limit = "" if throughput.get("complete") else " (incomplete: exploration limit)"
            out.append(f"  Pareto front ({res.objective} vs throughput){limit}:")
            for p in pts:
                out.append(f"    {p['cost']:>12,} {res.objective:<6} {_num(p['iterations_per_s']):>14} iterations/s")
        mc = throughput.get("max_throughput_capacities")
        if mc is not None:
            limit = "" if throughput.get("complete") else " (not reached within the exploration limit: best found)"
            out.append(f"  smallest capacities reaching the maximal throughput{limit}:")
            out.append("    " + ", ".join(f"{k}={v}" for k, v in mc.items()))
        out.append("")
    st = _STATUS[res.status]
    line = f"graph {g.name}: {st}"
    if res.status in ("optimal", "not-proven"):
        line += f" (total {res.total(res.objective):,} {res.objective}"
        if res.status == "not-proven" and res.lower_bound is not None:
            line += f", proved lower bound {res.lower_bound:,}"
        line += f", {res.stats.get('total_s', 0):.3f} s)"
    out.append(line)
    if res.status == "not-proven" and res.stats.get("reason"):
        out.append(f"  optimality not proven: {res.stats['reason']}; raise --timeout / --rlimit")
    if res.check_verdict:
        out.append(f"  the sized graph checks: {res.check_verdict}")
    return "\n".join(out) + "\n"


def bufsize_json(res: SizeResult, throughput: dict | None = None) -> dict:
    sized = res.status in ("optimal", "not-proven")
    fifos = []
    for f in res.fifos:
        d = {"name": f.name, "kind": f.kind, "token_bytes": f.token_bytes, "prod": f.prod, "cons": f.cons,
             "initial": f.initial, "before": f.before, "capacity": f.capacity if sized else None,
             "bytes": f.bytes if sized else None, "classic": f.classic, "lower": f.lower, "fixed": f.fixed}
        if f.one_less is not None:
            ol = f.one_less
            d["one_less"] = {"capacity": ol.capacity, "kind": ol.kind, "message": ol.message,
                             "cycle": [{"actor": w.actor, "fifo": w.fifo, "why": w.why, "have": w.have, "need": w.need}
                                       for w in ol.cycle],
                             "trace": [{"actor": a, "firings": k, "atr": r} for a, k, r in ol.trace],
                             "fills": ol.fills}
        fifos.append(d)
    return {
        "schema": SCHEMA,
        "graph": res.graph.name,
        "file": res.graph.span.file,
        "status": res.status,
        "optimal": res.status == "optimal",
        "objective": res.objective,
        "totals": {
            "tokens": res.total("tokens") if sized else None,
            "bytes": res.total("bytes") if sized else None,
            "classic_tokens": res.classic_total("tokens"),
            "classic_bytes": res.classic_total("bytes"),
        },
        "lower_bound": res.lower_bound,
        "fifos": fifos,
        "check": res.check_verdict,
        "diagnostics": [d.to_json() for d in res.diagnostics],
        "counterexample": res.counterexample.to_json() if res.counterexample is not None else None,
        "throughput": throughput,
        "stats": res.stats,
    }
