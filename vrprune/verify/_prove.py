"""The verification pipeline: rules -> consistency -> capacities -> SMT deadlock proof."""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field

from .._words import plural
from ..diagnostics import Diagnostic, Note, error
from ..model import Graph, GraphIndex
from ._consistency import repetition_vector
from ._net import (
    Net,
    SimulationTimeout,
    Wait,
    blocked_reasons,
    build_net,
    simulate,
    wait_cycle,
)
from ._rules import check_r6, check_rules
from ._smt import find_stuck

SCHEMA = "vrprune/check/1"


@dataclass(frozen=True)
class Property:
    name: str  # "design-rules" | "consistency" | "capacities" | "overflow-freedom" | "deadlock-freedom"
    status: str  # "proved" | "refuted" | "unknown" | "skipped"
    detail: str = ""


@dataclass(frozen=True)
class Counterexample:
    """A deadlock in the user's vocabulary, replayable by `vrprune run --replay`."""

    kind: str  # "deadlock" | "overflow"
    atr: dict[str, list[int]]
    trace: tuple[tuple[str, int, int | None], ...]  # (actor, firings in a row, atr)
    counts: dict[str, int]
    fills: dict[str, int]
    capacities: dict[str, int]
    wait: tuple[Wait, ...]  # every blocked actor
    cycle: tuple[Wait, ...]  # the wait cycle

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "atr": self.atr,
            "trace": [{"actor": a, "firings": k, "atr": r} for a, k, r in self.trace],
            "counts": self.counts,
            "fills": self.fills,
            "capacities": self.capacities,
            "waits": [_wait_json(w) for w in self.wait],
            "cycle": [_wait_json(w) for w in self.cycle],
        }


def _wait_json(w: Wait) -> dict:
    return {"actor": w.actor, "fifo": w.fifo, "why": w.why, "have": w.have, "need": w.need}


@dataclass(frozen=True)
class Certificate:
    """Why the graph is proved: schedules of one iteration and the fill-level bounds."""

    schedules: dict[str, tuple[tuple[str, int, int | None], ...]]  # case label -> schedule
    bounds: dict[str, tuple[int, int]]  # fifo -> (proved bound = capacity, peak in the schedules)
    method: str
    core: tuple[str, ...] = ()


VERDICT_EXIT_CODES = {"proved": 0, "refuted": 1, "inconclusive": 3}  # the one verdict -> exit status map


@dataclass(frozen=True)
class Report:
    graph: Graph
    verdict: str  # "proved" | "refuted" | "inconclusive"
    diagnostics: tuple[Diagnostic, ...]
    repetition: dict[str, int]
    properties: tuple[Property, ...]
    counterexample: Counterexample | None = None
    certificate: Certificate | None = None
    stats: dict = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return VERDICT_EXIT_CODES[self.verdict]


SMT_ACTOR_LIMIT = 400  # above this size `auto` uses the exact simulation (docs/verification.md)


def prove(g: Graph, *, timeout_s: float | None = 30.0, rlimit: int | None = None, engine: str = "auto",
          explain: bool = False) -> Report:
    """Check design rules, consistency, overflow and deadlock freedom of ``g`` for every atr."""
    gc_was = gc.isenabled()
    gc.disable()  # large graphs: collections rescanning the IR would dominate; nothing here leaks cycles
    try:
        return _prove(g, timeout_s=timeout_s, rlimit=rlimit, engine=engine, explain=explain)
    finally:
        if gc_was:
            gc.enable()


def _prove(g: Graph, *, timeout_s: float | None, rlimit: int | None, engine: str, explain: bool) -> Report:
    t0 = time.perf_counter()
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    ix = GraphIndex.of(g)
    props: list[Property] = []
    diags, infos = check_rules(g, ix)
    q, cdiags = repetition_vector(g, ix)
    diags += cdiags
    r6 = check_r6(g, q, infos)
    diags += r6
    if r6:
        q = {}  # control edges disagree: no repetition vector satisfies every balance equation
    rule_diags = [d for d in diags if d.code.startswith("R")]
    props.append(Property("design-rules", "refuted" if rule_diags else "proved",
                          plural(len(rule_diags), "violation") if rule_diags else "R1-R8 hold"))
    props.append(Property("consistency", "refuted" if cdiags else "proved",
                          "no positive repetition vector" if cdiags else "repetition vector found"))
    stats: dict = {"actors": len(g.actors), "fifos": len(g.fifos)}
    if diags:
        props += [Property("overflow-freedom", "skipped", "needs a rule-abiding, consistent graph"),
                  Property("deadlock-freedom", "skipped", "needs a rule-abiding, consistent graph")]
        return _done(g, "refuted", diags, q, props, stats, t0)
    missing = [f for f in g.fifos if f.capacity is None]
    if missing:
        for f in missing:
            diags.append(error("D3", f"fifo {f.name} has no capacity; overflow and deadlock freedom need one",
                               f.span,
                               help="write `capacity N`, or let `vrprune bufsize FILE --write` choose minimal ones"))
        props += [Property("overflow-freedom", "skipped", "capacities missing"),
                  Property("deadlock-freedom", "skipped", "capacities missing")]
        return _done(g, "refuted", diags, q, props, stats, t0)

    # Overflow: a single firing that needs more room (or more tokens) than the fifo can ever hold.
    ovf: list[Diagnostic] = []
    for f in g.fifos:
        sp, dp = ix.src_port(f), ix.dst_port(f)
        assert f.capacity is not None
        for end, p, verb in ((f.src, sp, "produces"), (f.dst, dp, "consumes")):
            if p.rate > f.capacity:
                what = f"up to {plural(p.url, 'token')} (url)" if p.is_variable else plural(p.rate, "token")
                rates = f"{p.lrl}..{p.url}" if p.is_variable else f"{p.rate}"
                ovf.append(error("D2", f"fifo {f.name} holds {plural(f.capacity, 'token')} but one firing of "
                                       f"{end.actor} {verb} {what}",
                                 f.span, *([Note(f.capacity_span, "capacity given here")] if f.capacity_span else []),
                                 Note(p.span, f"{end} {verb} {rates}"),
                                 help=f"raise the capacity to at least {p.rate}"))
                break
    props.append(Property("overflow-freedom", "refuted" if ovf else "proved",
                          "a firing needs more room than a capacity" if ovf else
                          "every firing fits its fifos; fill levels never exceed capacities"))

    net = build_net(g, ix, q, infos)
    choice_dpgs = {d: i for d, i in infos.items() if i.has_variable}
    use_smt = engine == "smt" or (engine == "auto" and net.size <= SMT_ACTOR_LIMIT)
    stats["engine"] = "smt" if use_smt else "simulation"
    cex: Counterexample | None = None
    core: tuple[str, ...] = ()
    t1 = time.perf_counter()
    try:
        worst = {d: [i.url] for d, i in choice_dpgs.items()}
        if not use_smt:
            # Exact by docs/verification.md: determinacy (one simulation per atr sequence) and
            # monotonicity (every actor's enabling is antitone in atr, so atr = url is the worst case).
            res = simulate(net, worst, record=False, deadline=deadline)
            if not res.complete:
                cex = _counterexample(net, worst, _traced(net, worst, res, deadline), ovf)
        else:
            # cheap first: the worst case atr = url (a real deadlock if it sticks)
            res = simulate(net, worst, record=False, deadline=deadline)
            if not res.complete:
                cex = _counterexample(net, worst, _traced(net, worst, res, deadline), ovf)
            else:
                left = None if deadline is None else max(deadline - time.monotonic(), 0.001)
                out = find_stuck(net, timeout_s=left, rlimit=rlimit, want_core=explain and net.size <= 300)
                stats["solver"] = out.status
                if out.status == "unknown" and engine == "auto" and out.reason.startswith("the encoding would need"):
                    # too many DPG iterations to encode: the exact simulation at atr = url, which
                    # has just completed, decides (as auto does for large graphs)
                    use_smt = False
                    stats["engine"] = "simulation"
                    stats["solver"] = f"skipped: {out.reason}"
                elif out.status == "unknown":
                    stats["smt_s"] = round(time.perf_counter() - t1, 4)
                    props.append(Property("deadlock-freedom", "unknown", f"solver gave up: {out.reason}"))
                    now = "" if rlimit is None else f" (now {rlimit})"
                    diags.append(error("U1", f"deadlock freedom of graph '{g.name}' is unproved: the solver stopped "
                                             f"({out.reason})",
                                       g.span, help=f"raise the limits: --timeout SECONDS (now {timeout_s}) or "
                                                    f"--rlimit N{now}, or use --engine sim (exact, see "
                                                    "docs/verification.md)"))
                    return _done(g, "inconclusive", diags + ovf, q, props, stats, t0)
                if out.status == "sat":
                    assert out.atr is not None
                    res = simulate(net, out.atr, deadline=deadline)
                    if res.complete:  # the determinacy theorem says this cannot happen: never guess
                        props.append(Property("deadlock-freedom", "unknown",
                                              "internal disagreement between solver and simulation"))
                        diags.append(error("U2", "internal error: the solver's deadlock did not replay; please report "
                                                 "this graph", g.span))
                        return _done(g, "inconclusive", diags, q, props, stats, t0)
                    cex = _counterexample(net, out.atr, res, ovf)
                core = out.core
        stats["deadlock_s"] = round(time.perf_counter() - t1, 4)
        if cex is not None:
            props.append(Property("deadlock-freedom", "refuted", f"{cex.kind} reachable"))
            if ovf:
                diags += ovf
            else:
                diags.append(_deadlock_diag(g, ix, cex))
            return _done(g, "refuted", diags, q, props, stats, t0, cex)
        props.append(Property("deadlock-freedom", "proved",
                              "for every atr sequence (z3)" if use_smt else
                              "for every atr sequence (exact simulation at atr = url)"))
        if explain and not res.trace and net.size:
            res = simulate(net, worst, record=True, deadline=deadline)
        cert = _certificate(net, worst, "z3 (QF_LIA), every atr sequence" if use_smt else
                            "exact simulation at atr = url (determinacy + monotonicity)", core, res, explain)
        return _done(g, "proved", diags, q, props, stats, t0, None, cert)
    except SimulationTimeout:
        stats["deadlock_s"] = round(time.perf_counter() - t1, 4)
        props.append(Property("deadlock-freedom", "unknown", f"the simulation ran past --timeout {timeout_s:g} s"))
        if ovf:  # a firing that can never fit is proved already: refuted, whatever the simulation
            return _done(g, "refuted", diags + ovf, q, props, stats, t0)
        diags.append(error("U1", f"deadlock freedom of graph '{g.name}' is unproved: the simulation of one iteration "
                                 f"({sum(net.q):,} firings) ran past the time limit of {timeout_s:g} s", g.span,
                           help="raise the limit with --timeout SECONDS; the firings per iteration grow with the "
                                "ratios of the rates (the repetition vector)"))
        return _done(g, "inconclusive", diags + ovf, q, props, stats, t0)


TRACE_BUDGET_S = 2.0  # the step-by-step run that writes a deadlock's firing trace


def _traced(net: Net, worst: dict[str, list[int]], res, deadline: float | None):
    """The stuck run again, step by step, for its firing trace. The stuck state is known already
    (``res``, which may have skipped periodic rounds); when millions of firings lead there, the
    counterexample keeps that state and goes without the trace rather than delay the verdict."""
    limit = time.monotonic() + TRACE_BUDGET_S
    try:
        return simulate(net, worst, deadline=limit if deadline is None else min(deadline, limit))
    except SimulationTimeout:
        return res


def _done(g, verdict, diags, q, props, stats, t0, cex=None, cert=None) -> Report:
    stats["total_s"] = round(time.perf_counter() - t0, 4)
    return Report(g, verdict, tuple(diags), dict(q), tuple(props), cex, cert, stats)


def _counterexample(net: Net, atr: dict[str, list[int]], res, ovf) -> Counterexample:
    waits = blocked_reasons(net, res, atr)
    cyc = wait_cycle(net, waits)
    kind = "overflow" if ovf or any(w.why == "full" and w.need > next(e.cap for e in net.edges if e.fifo.name == w.fifo)
                                    for w in waits) else "deadlock"
    used = {}
    for d, seq in atr.items():
        ca = net.names.index(net.dpgs[d].ca)
        k = max(res.counts[ca], 1)
        used[d] = list(seq[:k]) if len(seq) >= k else list(seq) + [seq[-1]] * (k - len(seq))
    return Counterexample(
        kind=kind,
        atr=used,
        trace=tuple(res.trace),
        counts={net.names[i]: res.counts[i] for i in range(net.size)},
        fills={e.fifo.name: res.fills[i] for i, e in enumerate(net.edges)},
        capacities={e.fifo.name: e.cap for e in net.edges},
        wait=tuple(waits),
        cycle=tuple(cyc),
    )


def _deadlock_diag(g: Graph, ix: GraphIndex, cex: Counterexample) -> Diagnostic:
    first = cex.cycle[0] if cex.cycle else cex.wait[0]
    f = ix.fifos[first.fifo]
    notes = []
    for w in cex.cycle or cex.wait:
        notes.append(Note(ix.fifos[w.fifo].span, w.text(cex.capacities[w.fifo])))
    choice = ", ".join(f"{d}: atr = {seq}" for d, seq in cex.atr.items())
    msg = "deadlock: a reachable state where no actor can fire"
    if choice:
        msg += f" (with {choice})"
    return error("D1", msg, f.span, *notes,
                 help="add initial tokens on the cycle, or raise the capacities of the full fifos (vrprune bufsize "
                      "finds minimal ones)")


def _certificate(net: Net, worst: dict[str, list[int]], method: str, core: tuple[str, ...], res,
                 explain: bool) -> Certificate:
    """One schedule of one iteration at atr = url (``res``, the proof's own simulation at atr =
    url); by monotonicity (docs/verification.md) the same firing order is valid for every atr
    sequence, so it is the parametric schedule."""
    label = "every atr (computed at atr = url)" if worst else "static"
    bounds = {e.fifo.name: (e.cap, res.peak[i]) for i, e in enumerate(net.edges)}
    return Certificate({label: tuple(res.trace) if explain else ()}, bounds, method, core)
