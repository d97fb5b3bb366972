"""Provably minimal FIFO capacities (`vrprune bufsize`).

Exactness rests on docs/verification.md:

- *Feasibility oracle.* By determinacy and Theorem 2 (atr = url is the worst case) a graph with
  capacities C is deadlock-free for every atr sequence iff one greedy simulation of one
  iteration at atr = url completes (``_net.simulate``). Overflow freedom needs every capacity
  to be at least the largest rate of its two ends, which the lower bounds below include.
- *Cuts.* If that simulation sticks at the count vector n under C, part (d) of the theorem says
  that n is a stuck vector for every capacity assignment C' under which every unfinished actor
  is still blocked at n, reachable or not. An actor blocked by an empty input stays blocked
  whatever the capacities (tokens at n do not depend on them); an actor blocked only by full
  outputs stays blocked iff some full output e keeps ``C'_e < tok_e(n) + put_e``. So every
  deadlock-free C' satisfies  OR_{a blocked only by full} AND_{e full for a} C'_e >= tok_e(n) + put_e.
  (An empty disjunction: no capacity helps, the graph cannot be made deadlock-free.)
- *Master.* z3 ``Optimize`` minimises sum(w_e C_e) subject to necessary per-edge bounds and
  the cuts seen so far: a relaxation of the true problem, so its optimum is a lower bound. When
  its optimal candidate passes the oracle, it is a global optimum (CEGAR).
- *Bounds.* Per edge, the minimal deadlock-free capacity of the edge in isolation,
  ``max(d, p + c - gcd(p, c) + d mod gcd(p, c))`` (variable edges: url, control edges:
  max(1, d); a self-loop: d + p), is necessary in the whole graph: the firings of the edge's
  two actors in any complete execution of the graph form a complete execution of the isolated
  edge. Above ``d + p * q_src`` (every token of one iteration at once) a FIFO is never full,
  so larger values are never needed: an upper bound for the master and a feasible start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from math import gcd
from typing import TYPE_CHECKING

import z3

from .._words import plural
from ..diagnostics import Diagnostic, error
from ..model import Graph, GraphIndex
from ._consistency import repetition_vector
from ._net import (
    CONTROL,
    STATIC,
    VARIABLE,
    Net,
    SimResult,
    SimulationTimeout,
    Wait,
    blocked_reasons,
    build_net,
    simulate,
    wait_cycle,
)
from ._rules import check_r6, check_rules
from ._smt import check

if TYPE_CHECKING:
    from ._prove import Counterexample

SCHEMA = "vrprune/bufsize/1"
KIND_NAMES = {STATIC: "static", VARIABLE: "variable", CONTROL: "control"}


@dataclass(frozen=True)
class OneLess:
    """What goes wrong with one token less on one FIFO (all others at their sized values)."""

    capacity: int
    kind: str  # "deadlock" | "overflow" | "invalid"
    message: str
    cycle: tuple[Wait, ...] = ()
    trace: tuple[tuple[str, int, int | None], ...] = ()
    fills: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FifoSize:
    name: str
    kind: str  # static | variable | control
    token_bytes: int
    prod: int
    cons: int
    initial: int
    before: int | None  # the capacity written in the file
    capacity: int  # the sized capacity
    classic: int  # p + c - gcd(p, c) + d mod gcd(p, c)
    lower: int  # the necessary per-edge bound used (max(d, classic), exact for the isolated edge)
    fixed: bool  # kept from the file (a constraint)
    one_less: OneLess | None = None

    @property
    def bytes(self) -> int:
        return self.capacity * self.token_bytes


@dataclass(frozen=True)
class SizeResult:
    graph: Graph
    status: str  # "optimal" | "not-proven" | "unknown" (ran past --timeout) | "infeasible" | "invalid"
    objective: str  # "bytes" | "tokens"
    fifos: tuple[FifoSize, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    lower_bound: int | None = None  # proved lower bound on the objective (master optimum)
    counterexample: Counterexample | None = None  # when infeasible
    check_verdict: str | None = None  # prove() on the sized graph
    stats: dict = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return {"optimal": 0, "not-proven": 3, "unknown": 3, "infeasible": 1, "invalid": 1}[self.status]

    @property
    def capacities(self) -> dict[str, int]:
        return {f.name: f.capacity for f in self.fifos}

    def total(self, what: str = "bytes") -> int:
        return sum(f.capacity * (f.token_bytes if what == "bytes" else 1) for f in self.fifos)

    def classic_total(self, what: str = "bytes") -> int:
        return sum(f.classic * (f.token_bytes if what == "bytes" else 1) for f in self.fifos)

    def sized_graph(self) -> Graph:
        return with_capacities(self.graph, self.capacities)


def with_capacities(g: Graph, caps: dict[str, int]) -> Graph:
    """A copy of ``g`` with the given capacities (others unchanged)."""
    return replace(g, fifos=tuple(replace(f, capacity=caps.get(f.name, f.capacity)) for f in g.fifos))


def classic_bound(p: int, c: int, d: int) -> int:
    """The classic per-edge bound p + c - gcd(p, c) + d mod gcd(p, c)."""
    g = gcd(p, c)
    return p + c - g + d % g


def edge_lower_bound(p: int, c: int, d: int, self_loop: bool = False) -> int:
    """The minimal deadlock-free capacity of one edge in isolation (a necessary bound)."""
    if self_loop:
        return d + p if d >= c else max(p, c, d)
    return max(d, p, c, classic_bound(p, c, d))


# ------------------------------------------------------------------ analysis


@dataclass
class Problem:
    """A graph prepared for sizing: the net (capacities are placeholders), bounds, weights."""

    graph: Graph
    net: Net
    worst: dict[str, list[int]]
    lower: list[int]
    upper: list[int]
    classic: list[int]
    fixed: list[bool]
    weight: list[int]
    token_bytes: list[int]
    objective: str = "bytes"
    deadline: float | None = None  # time.monotonic() past which simulations stop (--timeout)

    def net_with(self, caps: list[int]) -> Net:
        return replace(self.net, edges=tuple(replace(e, cap=c) for e, c in zip(self.net.edges, caps)))

    def run(self, caps: list[int], record: bool = False) -> SimResult:
        return simulate(self.net_with(caps), self.worst, record=record, deadline=self.deadline)

    def cost(self, caps: list[int]) -> int:
        return sum(w * c for w, c in zip(self.weight, caps))


def prepare(g: Graph, objective: str = "bytes", resize_all: bool = False) -> tuple[Problem | None, list[Diagnostic]]:
    """Rules and consistency, then the numeric view with per-edge bounds."""
    ix = GraphIndex.of(g)
    diags, infos = check_rules(g, ix)
    q, cdiags = repetition_vector(g, ix)
    diags += cdiags
    diags += check_r6(g, q, infos)
    if diags:
        return None, diags
    placeholder = replace(g, fifos=tuple(replace(f, capacity=f.capacity if f.capacity is not None else 1)
                                         for f in g.fifos))
    net = build_net(placeholder, GraphIndex.of(placeholder), q, infos)
    worst = {d: [i.url] for d, i in infos.items() if i.has_variable}
    lower: list[int] = []
    upper: list[int] = []
    classic: list[int] = []
    fixed: list[bool] = []
    weight: list[int] = []
    tbytes: list[int] = []
    for e in net.edges:
        f = g.fifos[len(lower)]
        assert f.name == e.fifo.name
        tb = ix.token_bytes(f)
        lb = edge_lower_bound(e.prod, e.cons, e.init, e.src == e.dst)
        ub = max(lb, e.init + e.prod * net.q[e.src])
        fx = f.capacity is not None and not resize_all
        lower.append(lb)
        upper.append(ub)
        classic.append(classic_bound(e.prod, e.cons, e.init))
        fixed.append(fx)
        tbytes.append(tb)
        weight.append(tb if objective == "bytes" else 1)
    return Problem(g, net, worst, lower, upper, classic, fixed, weight, tbytes, objective), []


def _cut(pb: Problem, caps: list[int], res: SimResult) -> list[list[tuple[int, int]]]:
    """The disjuncts of the cut from a stuck simulation: per actor blocked only by full
    outputs, the list (edge, threshold) of its full outputs, all of which must reach the
    threshold to unblock it. An actor with a full *fixed* output can never be unblocked."""
    net = pb.net
    out: list[list[tuple[int, int]]] = []
    for a in range(net.size):
        if res.counts[a] >= net.q[a]:
            continue
        empty = False
        for ei in net.ins[a]:
            e = net.edges[ei]
            dpg = net.dpg_of[a]
            need = pb.worst[dpg][0] if (e.kind == VARIABLE and dpg is not None) else e.cons
            if res.fills[ei] < need:
                empty = True
                break
        if empty:
            continue
        conj: list[tuple[int, int]] = []
        dead = False
        for ei in net.outs[a]:
            e = net.edges[ei]
            put = e.prod
            if caps[ei] - res.fills[ei] < put:
                if pb.fixed[ei]:
                    dead = True
                    break
                conj.append((ei, res.fills[ei] + put))
        if dead:
            continue
        if conj:  # (an unfinished actor with neither can't exist at a stuck vector)
            out.append(conj)
    return out


def _strong_cut(pb: Problem, caps: list[int], res: SimResult, stats: dict,
                budget: int = 40) -> list[list[tuple[int, int]]] | None:
    """A cut with fewer edges: a cut from a stuck simulation is valid whatever capacities it
    ran under, so relax (to "never full") every free fifo whose raising does not remove the
    deadlock, then cut at the stuck vector of what is left. First all fifos off the wait
    cycle at once, then the remaining full ones one by one (up to ``budget`` simulations)."""
    net = pb.net
    waits = blocked_reasons(pb.net_with(caps), res, pb.worst)
    pos = {e.fifo.name: i for i, e in enumerate(net.edges)}
    on_cycle = {pos[w.fifo] for w in wait_cycle(pb.net_with(caps), waits)}
    cur, cres = list(caps), res
    trial = [c if (pb.fixed[i] or i in on_cycle) else max(c, pb.upper[i]) for i, c in enumerate(caps)]
    if trial != cur:
        stats["simulations"] += 1
        r = pb.run(trial)
        if not r.complete:
            cur, cres = trial, r
    for conj in _cut(pb, cur, cres):
        for ei, _thr in conj:
            if budget <= 0 or cur[ei] >= pb.upper[ei]:
                continue
            budget -= 1
            trial = list(cur)
            trial[ei] = pb.upper[ei]
            stats["simulations"] += 1
            r = pb.run(trial)
            if not r.complete:
                cur, cres = trial, r
    return _cut(pb, cur, cres)


def _counterexample(pb: Problem, caps: list[int]):
    from ._prove import _counterexample as cx

    n = pb.net_with(caps)
    return cx(n, pb.worst, simulate(n, pb.worst, deadline=pb.deadline), [])


def size(g: Graph, objective: str = "bytes", resize_all: bool = False, *, timeout_s: float | None = 60.0,
         rlimit: int | None = None, explain: bool = False, cross_check: bool = True, greedy: bool = True) -> SizeResult:
    """Minimal capacities (total bytes or tokens) keeping ``g`` free of deadlock and overflow for
    every atr sequence. Capacities written in ``g`` are kept fixed unless ``resize_all``."""
    if objective not in ("bytes", "tokens"):
        raise ValueError(f"objective must be 'bytes' or 'tokens', not {objective!r}")
    t0 = time.perf_counter()
    pb, diags = prepare(g, objective, resize_all)
    if pb is None:
        return SizeResult(g, "invalid", objective, diagnostics=tuple(diags))
    stats: dict = {"actors": len(g.actors), "fifos": len(g.fifos), "simulations": 0, "cuts": 0, "master_calls": 0}
    pb.deadline = None if timeout_s is None else time.monotonic() + timeout_s
    feasible: list[list[int]] = []  # capacities a simulation has shown deadlock-free
    try:
        return _size(pb, g, objective, stats, t0, timeout_s, rlimit, explain, cross_check, greedy, feasible)
    except SimulationTimeout:
        reason = f"a simulation ran past --timeout {timeout_s:g} s"
        if feasible:  # the best capacities verified so far: sized, minimality not proven
            return _finish(pb, "not-proven", feasible[-1], stats, t0, cross_check=False, reason=reason)
        stats["reason"] = reason
        stats["total_s"] = round(time.perf_counter() - t0, 4)
        d = error("U1", f"graph '{g.name}' was not sized: {reason} before any capacities were shown deadlock-free",
                  g.span, help="raise the limit with --timeout SECONDS; the firings per iteration grow with the "
                               "ratios of the rates (the repetition vector)")
        return SizeResult(g, "unknown", objective, diagnostics=(d,), stats=stats)


def _size(pb: Problem, g: Graph, objective: str, stats: dict, t0: float, timeout_s: float | None,
          rlimit: int | None, explain: bool, cross_check: bool, greedy: bool, feasible: list[list[int]]) -> SizeResult:
    m = len(pb.net.edges)
    # fixed capacities below the necessary per-edge bound: nothing to optimise
    bad = [i for i in range(m) if pb.fixed[i] and pb.net.edges[i].cap < pb.lower[i]]
    base = [pb.net.edges[i].cap if pb.fixed[i] else pb.lower[i] for i in range(m)]
    if bad:
        ds = []
        for i in bad:
            f = pb.net.edges[i].fifo
            ds.append(error("D3", f"fifo {f.name} is fixed at capacity {f.capacity}, below the "
                                  f"{plural(pb.lower[i], 'token')} it needs even on its own", f.capacity_span or f.span,
                            help="raise it, or let bufsize choose it: --resize-all, or delete the capacity clause"))
        return _finish(pb, "infeasible", base, stats, t0, diags=ds, cex=_counterexample(pb, base))

    cuts: list[list[list[tuple[int, int]]]] = []

    def oracle(caps: list[int]) -> bool | None:
        """True: feasible; False: a cut was added; None: infeasible (empty cut)."""
        stats["simulations"] += 1
        res = pb.run(caps)
        if res.complete:
            feasible.append(list(caps))
            return True
        cut = _cut(pb, caps, res)
        if not cut:
            return None
        strong = _strong_cut(pb, caps, res, stats)
        cuts.append(strong if strong else cut)
        stats["cuts"] = len(cuts)
        return False

    # 1. the per-edge bounds themselves
    ok = oracle(base)
    if ok:
        return _finish(pb, "optimal", base, stats, t0, lower_bound=pb.cost(base), explain=explain,
                       cross_check=cross_check)
    if ok is None:
        return _finish(pb, "infeasible", base, stats, t0, cex=_counterexample(pb, base))
    # 2. a feasible upper bound: every free fifo at "never full"
    top = [pb.net.edges[i].cap if pb.fixed[i] else pb.upper[i] for i in range(m)]
    ok = oracle(top)
    if ok is None:
        return _finish(pb, "infeasible", top, stats, t0, cex=_counterexample(pb, top))
    if ok is False:  # cannot happen: free fifos at `upper` are never full, fixed ones give empty cuts
        return _finish(pb, "infeasible", top, stats, t0, cex=_counterexample(pb, top))
    best = top
    # 3. a cheap greedy descent from the top: lower each free fifo as far as it stays feasible
    if greedy:
        best = _greedy(pb, best, oracle, t0, timeout_s)
    # 4. CEGAR: z3 master over the cuts
    status, cand, lb = _cegar(pb, cuts, oracle, best, t0, timeout_s, rlimit, stats)
    if status == "optimal":
        return _finish(pb, "optimal", cand, stats, t0, lower_bound=lb, explain=explain, cross_check=cross_check)
    return _finish(pb, "not-proven", best, stats, t0, lower_bound=lb, explain=explain, cross_check=cross_check,
                   reason=status)


def _greedy(pb: Problem, caps: list[int], oracle, t0: float, timeout_s: float | None) -> list[int]:
    """Lower free fifos one at a time (largest weight first) by bisection while feasible.
    Feasibility is monotone in capacities, so bisection per fifo is sound."""
    caps = list(caps)
    order = sorted((i for i in range(len(caps)) if not pb.fixed[i]),
                   key=lambda i: -pb.weight[i] * (caps[i] - pb.lower[i]))
    for i in order:
        if timeout_s is not None and time.perf_counter() - t0 > timeout_s / 2:
            break
        lo, hi = pb.lower[i], caps[i]  # hi feasible
        while lo < hi:
            mid = (lo + hi) // 2
            trial = list(caps)
            trial[i] = mid
            if oracle(trial):
                hi = mid
            else:
                lo = mid + 1
        caps[i] = hi
    return caps


def _cegar(pb: Problem, cuts, oracle, best: list[int], t0: float, timeout_s: float | None, rlimit: int | None,
           stats: dict) -> tuple[str, list[int], int | None]:
    m = len(best)
    ctx = z3.Context()
    opt = z3.Optimize(ctx=ctx)
    if rlimit is not None:
        opt.set("rlimit", int(rlimit))
    x: list[z3.ArithRef | None] = [z3.Int(f"cap!{pb.net.edges[i].fifo.name}", ctx) if not pb.fixed[i] else None
                                   for i in range(m)]
    opt.push()
    try:
        for i, xi in enumerate(x):
            if xi is not None:
                opt.add(xi >= pb.lower[i], xi <= max(pb.lower[i], pb.upper[i]))
        const = sum(pb.weight[i] * pb.net.edges[i].cap for i in range(m) if x[i] is None)
        terms = [pb.weight[i] * xi for i, xi in enumerate(x) if xi is not None]
        obj = z3.Sum(terms) if terms else z3.IntVal(0, ctx)
        # incumbent bound: never worse than the best feasible known
        best_cost = pb.cost(best)
        opt.add(obj + const <= best_cost)
        opt.minimize(obj)
        added = 0
        lb: int | None = None
        while True:
            for cut in cuts[added:]:
                opt.add(z3.Or([z3.And([x[ei] >= thr for ei, thr in conj]) for conj in cut]))
            added = len(cuts)
            if timeout_s is not None:
                left = timeout_s - (time.perf_counter() - t0)
                if left <= 0:
                    return "timeout", best, lb
                opt.set("timeout", max(1, int(left * 1000)))
            else:
                opt.set("timeout", 0)
            stats["master_calls"] += 1
            st = check(opt)
            if st == "unknown":
                return f"solver stopped: {opt.reason_unknown()}", best, lb
            if st == "unsat":  # only the incumbent bound excludes everything: cannot happen, be safe
                return "optimal", best, best_cost
            model = opt.model()
            cand = [pb.net.edges[i].cap if x[i] is None else model.eval(x[i], model_completion=True).as_long()
                    for i in range(m)]
            lb = pb.cost(cand)
            if lb >= best_cost:  # the relaxation cannot beat the incumbent: incumbent is optimal
                return "optimal", best, best_cost
            ok = oracle(cand)
            if ok:
                return "optimal", cand, lb
            if ok is None:  # cannot happen below a feasible incumbent (monotone), keep going safely
                return "optimal", best, best_cost
    finally:
        opt.pop()


def _finish(pb: Problem, status: str, caps: list[int], stats: dict, t0: float, *, diags=(), cex=None,
            lower_bound: int | None = None, explain: bool = False, cross_check: bool = True,
            reason: str = "") -> SizeResult:
    g = pb.graph
    fifos = []
    for i, e in enumerate(pb.net.edges):
        f = g.fifos[i]
        fifos.append(FifoSize(f.name, KIND_NAMES[e.kind], pb.token_bytes[i], e.prod, e.cons, e.init, f.capacity,
                              caps[i], pb.classic[i], pb.lower[i], pb.fixed[i]))
    verdict = None
    ds = list(diags)
    if status in ("optimal", "not-proven"):
        if explain:
            fifos = [replace(fs, one_less=one_less(pb, caps, i)) for i, fs in enumerate(fifos)]
        if cross_check:
            from ._prove import prove

            t1 = time.perf_counter()
            left = 30.0 if pb.deadline is None else max(pb.deadline - time.monotonic(), 1.0)
            rep = prove(with_capacities(g, {fs.name: fs.capacity for fs in fifos}), timeout_s=min(30.0, left))
            verdict = rep.verdict
            stats["cross_check_s"] = round(time.perf_counter() - t1, 4)
            if verdict == "refuted":  # the theorems say this cannot happen: never report it as sized
                ds.append(error("U2", "internal error: the sized graph does not check; please report this graph",
                                g.span))
                status = "not-proven"
                reason = "cross-check refuted the sized graph"
    if reason:
        stats["reason"] = reason
    if status == "infeasible" and cex is not None and not ds:
        w = cex.cycle or cex.wait
        first = w[0] if w else None
        stuck = g.fifo(first.fifo) if first else None
        ds.append(error("D1", "no capacities make this graph deadlock-free: the actors wait on empty fifos "
                              "(or on fifos whose capacity is fixed) in a cycle that more room cannot break",
                        (stuck.span if stuck else g.span),
                        help="add initial tokens on the cycle, or free the fixed capacities with --resize-all"))
    stats["total_s"] = round(time.perf_counter() - t0, 4)
    return SizeResult(g, status, pb.objective, tuple(fifos), tuple(ds),
                      lower_bound, cex, verdict, stats)


def one_less(pb: Problem, caps: list[int], i: int) -> OneLess | None:
    """The counterexample with one token less on fifo i (None for fixed fifos)."""
    if pb.fixed[i]:
        return None
    e = pb.net.edges[i]
    c = caps[i] - 1
    if c < e.init:
        return OneLess(c, "invalid", f"{plural(e.init, 'initial token')} do not fit in {c}")
    if c < max(e.prod, e.cons):
        who, r = (pb.net.names[e.src], e.prod) if e.prod >= e.cons else (pb.net.names[e.dst], e.cons)
        what = "url" if e.kind == VARIABLE else "rate"
        return OneLess(c, "overflow", f"one firing of {who} moves {plural(r, 'token')} ({what}) > {c}")
    trial = list(caps)
    trial[i] = c
    n = pb.net_with(trial)
    res = simulate(n, pb.worst, record=True, deadline=pb.deadline)
    if res.complete:  # only with a not-proven (non-minimal) assignment
        return OneLess(c, "none", "still deadlock-free: this capacity is not minimal")
    waits = blocked_reasons(n, res, pb.worst)
    cyc = wait_cycle(n, waits)
    cap_of = {x.fifo.name: x.cap for x in n.edges}
    msg = "; ".join(w.text(cap_of[w.fifo]) for w in (cyc or waits)[:6])
    return OneLess(c, "deadlock", msg, tuple(cyc or waits), tuple(res.trace),
                   {x.fifo.name: res.fills[k] for k, x in enumerate(n.edges)})
