"""Self-timed throughput of a capacity assignment, and the throughput/buffer Pareto front.

The firing rule is the executor's (``vrprune/exec``: ``RingFifo.read_start`` ... ``read_end``
and ``write_start`` ... ``write_end``; the Python firing loop in ``_runtime.py`` and the C loop
in ``runtime/vrp_fifo.h`` take every input and output window, fire, then commit them all):

- an idle actor starts a firing as soon as every input holds its rate of tokens and every
  output has room for its rate (capacity - tokens in the fifo >= rate); one firing at a time per
  actor (one thread per actor);
- at the start the output room is taken (the writer's window) and the input tokens are pinned
  (the reader's zero-copy window): nothing another actor can see changes;
- at the end, the actor's execution time later, the input tokens are removed, which frees their
  space, and the output tokens appear.

That is plain timed SDF semantics (tokens taken at the start of a firing, produced at its end)
on the graph in which every fifo of capacity c with d initial tokens gets a reverse edge of
c - d "space" tokens that its producer takes at the start of a firing and its consumer gives
back at the end, and every actor a self-loop with one token.

Variable rates are taken at atr = url and control fifos move one token per firing: the worst
case for deadlock (docs/verification.md, Theorem 2); for throughput it is the heaviest
workload per iteration.

Execution is deterministic; with finite capacities the state (tokens per fifo, remaining time
of every running firing) ranges over a finite set, so it eventually repeats (Ghamarian et al.,
ACSD 2006): throughput = iterations completed in the cycle / its duration, exact (rational
arithmetic on integer time ticks). States are stored only when a reference actor ends a firing.

The Pareto front (:func:`pareto`) is searched as Stuijk, Geilen and Basten (DAC 2006) propose:
a capacity increase can raise the throughput only on a fifo that delayed a firing for lack of
room on a cycle of the periodic phase's dependencies (a storage dependency of the critical
cycle; for a deadlock, a fifo a blocked actor waits on for room), which makes a best-first
search by cost from the per-fifo lower bounds exact.

:func:`timed_run` runs the same rule for a finite number of iterations, with devices that run a
bounded number of firings at a time: `vrprune explore` predicts its partition points with it.
"""

from __future__ import annotations

import heapq
import json
import time
from dataclasses import dataclass
from fractions import Fraction
from math import gcd, lcm

from ..diagnostics import VrpruneError
from ..model import Graph
from ._net import Net

PROFILE_SCHEMA = "vrprune/profile/1"
_UNBOUNDED = 1 << 62


class ThroughputError(VrpruneError, ValueError):
    """Execution times are missing or unusable, or the analysis ran past its budget."""


def exec_times(g: Graph, profile: dict | str | None = None) -> dict[str, float]:
    """Seconds per firing of every actor: the profile's ``mean_s`` where given, else the
    ``time`` annotation. Raises :class:`ThroughputError` naming the actors without a time."""
    prof: dict[str, float] = {}
    if isinstance(profile, str):
        try:
            with open(profile, encoding="utf-8") as f:
                profile = json.load(f)
        except (OSError, ValueError) as e:
            raise ThroughputError(f"cannot read profile {profile}: {e}") from None
    if profile is not None:
        if (not isinstance(profile, dict) or profile.get("schema") != PROFILE_SCHEMA
                or not isinstance(profile.get("actors"), dict)):
            raise ThroughputError(f"a profile must be a JSON object with \"schema\": \"{PROFILE_SCHEMA}\" "
                                  "and \"actors\": {name: {\"mean_s\": seconds}}")
        for name, v in profile["actors"].items():
            if isinstance(v, dict) and isinstance(v.get("mean_s"), (int, float)) and v["mean_s"] >= 0:
                prof[name] = float(v["mean_s"])
    out: dict[str, float] = {}
    missing = []
    for a in g.actors:
        t = prof.get(a.name, a.time_s)
        if t is None:
            missing.append(a.name)
        else:
            out[a.name] = float(t)
    if missing:
        raise ThroughputError(f"no execution time for {len(missing)} actor(s): {', '.join(missing[:10])}"
                              f"{' ...' if len(missing) > 10 else ''}; annotate `time 2 ms` in the actor or pass "
                              "--profile P.json")
    return out


def to_ticks(times: list[float]) -> tuple[list[int], Fraction]:
    """Exact integer ticks for the given seconds, and the length of one tick in seconds. Each
    time is taken as the decimal number it prints as (2e-3 is exactly 2 ms)."""
    fr = [Fraction(repr(float(t))) for t in times]
    den = 1
    for f in fr:
        den = lcm(den, f.denominator)
    ticks = [int(f * den) for f in fr]
    g = 0
    for t in ticks:
        g = gcd(g, t)
    g = g or 1
    return [t // g for t in ticks], Fraction(g, den)


@dataclass(frozen=True)
class Throughput:
    iterations_per_s: float  # 0.0: deadlock; inf: no time passes (all times zero)
    exact: Fraction | None  # iterations per second, exact; None when infinite
    critical: tuple[int, ...]  # fifos (edge indices) that delayed a firing for lack of room in the periodic phase
    states: int

    @property
    def period_s(self) -> float:
        return 1.0 / self.iterations_per_s if self.iterations_per_s else float("inf")


# ------------------------------------------------------------------ the firing rule


class Model:
    """A net (or a part of it) ready to simulate: per actor its input (edge, rate) and output
    (edge, rate) lists in local numbering, its execution time in ticks, and which actors to look
    at again when it ends a firing (itself, the consumers of its outputs, the producers of its
    inputs: only the end of a firing changes what others can see)."""

    def __init__(self, edges: list[tuple[int, int, int, int, int]], ticks: list[int], q: list[int],
                 edge_ids: list[int] | None = None) -> None:
        """``edges``: (src actor, dst actor, tokens per src firing, per dst firing, initial)
        over actors 0 .. len(ticks) - 1; ``edge_ids``: what :attr:`edges` reports for them."""
        n = len(ticks)
        self.size = n
        self.edges = list(range(len(edges))) if edge_ids is None else list(edge_ids)
        self.ins: list[list[tuple[int, int]]] = [[] for _ in range(n)]
        self.outs: list[list[tuple[int, int]]] = [[] for _ in range(n)]
        nbr: list[set[int]] = [{k} for k in range(n)]
        for j, (a, b, p, c, _) in enumerate(edges):
            self.ins[b].append((j, c))
            self.outs[a].append((j, p))
            nbr[a].add(b)
            nbr[b].add(a)
        self.nbr = [sorted(x) for x in nbr]
        self.T = list(ticks)
        self.init = [d for *_, d in edges]
        self.src = [a for a, *_ in edges]
        self.dst = [b for _, b, *_ in edges]
        self.q = list(q)

    @classmethod
    def of_net(cls, net: Net, ticks: list[int], actors: list[int] | None = None) -> Model:
        """The part of ``net`` on ``actors`` (all by default; edges with both ends inside)."""
        act = list(range(net.size)) if actors is None else list(actors)
        loc = {a: k for k, a in enumerate(act)}
        ids = [i for i, e in enumerate(net.edges) if e.src in loc and e.dst in loc]
        edges = [(loc[net.edges[i].src], loc[net.edges[i].dst], net.edges[i].prod, net.edges[i].cons,
                  net.edges[i].init) for i in ids]
        return cls(edges, [ticks[a] for a in act], [net.q[a] for a in act], ids)

    def room(self, k: int, tok: list[int], cap: list[int]) -> list[int] | None:
        """None when actor k may start a firing now (the executor's rule, module docstring);
        else the outputs that lack room while every input is ready ([] when an input is not)."""
        for e, r in self.ins[k]:
            if tok[e] < r:
                return []
        full = None
        for e, r in self.outs[k]:
            if tok[e] + r > cap[e]:
                if full is None:
                    full = [e]
                else:
                    full.append(e)
        return full

    def end(self, k: int, tok: list[int]) -> None:
        """The end of a firing of actor k: its input tokens leave (their space is free), its
        output tokens appear."""
        for e, r in self.ins[k]:
            tok[e] -= r
        for e, r in self.outs[k]:
            tok[e] += r


def self_timed(net: Net, caps: list[int] | None, ticks: list[int], unit_s: Fraction, *,
               actors: list[int] | None = None, max_states: int = 200_000,
               max_events: int = 50_000_000) -> Throughput:
    """Throughput of self-timed execution under the executor's firing rule. ``caps`` None means
    unbounded fifos (only sensible within a strongly connected part); ``actors`` restricts the
    simulation to a sub-graph (edges with both ends inside)."""
    m = Model.of_net(net, ticks, actors)
    if m.size == 0:  # nothing to fire (an empty graph): no time passes per iteration
        return Throughput(float("inf"), None, (), 0)
    cap = [_UNBOUNDED if caps is None else caps[i] for i in m.edges]
    return _periodic(m, cap, unit_s, max_states, max_events)


def _periodic(m: Model, cap: list[int], unit_s: Fraction, max_states: int, max_events: int) -> Throughput:
    n = m.size
    T, nbr, room, end = m.T, m.nbr, m.room, m.end
    # per actor: the fifos its end changes; what a start may have waited for (see `deps`)
    touch = [[e for e, _ in m.ins[k]] + [e for e, _ in m.outs[k]] for k in range(n)]
    waits_in = [[(e, r, m.src[e]) for e, r in m.ins[k]] for k in range(n)]
    waits_out = [[(e, r, m.dst[e]) for e, r in m.outs[k]] for k in range(n)]
    tok = list(m.init)
    busy = [False] * n
    fin = [0] * n  # end time of the running firing
    heap: list[tuple[int, int]] = []
    push, pop = heapq.heappush, heapq.heappop
    ref = min(range(n), key=lambda k: (m.q[k], -T[k]))
    q_ref = m.q[ref]
    # Causal dependencies of the firings started since the last stored state: (a, b, e) = a
    # firing of b waited for the end of a firing of a: for its tokens (e = -1; a = b: its own
    # previous firing) or for room on fifo e (a consumes from e, b produces into it). A start
    # waited for exactly the conditions that were false before this instant.
    deps: set[tuple[int, int, int]] = set()
    segs: list[set[tuple[int, int, int]]] = []
    seen: dict[tuple, tuple[int, int, int]] = {}
    now = done = events = 0
    zero_limit = 4 * sum(m.q) + 16
    dirty: list[int] = list(range(n))
    before: dict[int, int] = {}  # tokens of the fifos changed at this instant, as they were before it
    ended: set[int] = set()  # actors whose firing ended at this instant
    ref_ended = False
    while True:
        zero = 0
        stack = dirty
        while stack:
            k = stack.pop()
            if busy[k] or room(k, tok, cap) is not None:
                continue
            if before:
                if k in ended:
                    deps.add((k, k, -1))
                for e, r, a in waits_in[k]:
                    b = before.get(e)
                    if b is not None and b < r:
                        deps.add((a, k, -1))
                for e, r, a in waits_out[k]:
                    b = before.get(e)
                    if b is not None and b + r > cap[e]:
                        deps.add((a, k, e))
            if T[k]:
                busy[k] = True
                fin[k] = now + T[k]
                push(heap, (fin[k], k))
            else:  # a zero-time firing ends at once
                for e in touch[k]:
                    if e not in before:
                        before[e] = tok[e]
                end(k, tok)
                ended.add(k)
                if k == ref:
                    done += 1
                    ref_ended = True
                zero += 1
                if zero > zero_limit:
                    return Throughput(float("inf"), None, (), len(seen))
                stack.extend(nbr[k])
        if ref_ended:
            ref_ended = False
            key = (tuple(tok), tuple(fin[k] - now if busy[k] else -1 for k in range(n)))
            hit = seen.get(key)
            if hit is not None:
                t0, d0, i0 = hit
                if now == t0:
                    return Throughput(float("inf"), None, (), len(seen))
                exact = Fraction(done - d0, q_ref * (now - t0)) / unit_s
                return Throughput(float(exact), exact, _on_cycles(m, segs[i0:] + [deps]), len(seen))
            seen[key] = (now, done, len(segs))
            segs.append(deps)
            deps = set()
            if len(seen) > max_states:
                raise ThroughputError(f"the state space has more than {max_states} states before it repeats; "
                                      "throughput not computed")
        if not heap:  # deadlock: the fifos that a blocked actor with its inputs ready waits on for room
            full = {m.edges[e] for k in range(n) for e in (room(k, tok, cap) or ())}
            return Throughput(0.0, Fraction(0), tuple(sorted(full)), len(seen))
        now = heap[0][0]
        dirty = []
        before.clear()
        ended.clear()
        while heap and heap[0][0] == now:
            _, k = pop(heap)
            busy[k] = False
            for e in touch[k]:
                if e not in before:
                    before[e] = tok[e]
            end(k, tok)
            ended.add(k)
            if k == ref:
                done += 1
                ref_ended = True
            dirty.extend(nbr[k])
            events += 1
        if events > max_events:
            raise ThroughputError(f"more than {max_events} firings before the execution repeats; "
                                  "throughput not computed")


def _on_cycles(m: Model, deps: list[set[tuple[int, int, int]]]) -> tuple[int, ...]:
    """The fifos (net edge indices) of the room dependencies that lie on a cycle of the
    periodic phase's dependency graph between actors (Stuijk, Geilen, Basten, DAC 2006). Every
    firing waited for something, so following what it waited for backwards through the
    repeating phase runs into a cycle; the critical one, which sets the throughput, is among
    them, and only a fifo on it can raise the throughput."""
    succ: dict[int, set[int]] = {}
    for s in deps:
        for a, b, _ in s:
            succ.setdefault(a, set()).add(b)
    comp = _scc(m.size, succ)
    return tuple(sorted({m.edges[e] for s in deps for a, b, e in s if e >= 0 and comp[a] == comp[b]}))


def _scc(n: int, succ: dict[int, set[int]]) -> list[int]:
    """Strongly connected component number of each of n nodes (Tarjan, iterative)."""
    index = [-1] * n
    low = [0] * n
    comp = [-1] * n
    on: list[bool] = [False] * n
    stack: list[int] = []
    counter = 0
    ncomp = 0
    for root in range(n):
        if index[root] >= 0:
            continue
        work = [(root, iter(succ.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on[root] = True
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if index[w] < 0:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on[w] = True
                    work.append((w, iter(succ.get(w, ()))))
                elif on[w]:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                while True:
                    w = stack.pop()
                    on[w] = False
                    comp[w] = ncomp
                    if w == v:
                        break
                ncomp += 1
    return comp


def timed_run(m: Model, cap: list[int], limit: list[int], group: list[int] | None = None,
              slots: list[int] | None = None) -> list[list[tuple[int, int]]]:
    """A finite self-timed run under the executor's firing rule: actor k fires ``limit[k]``
    times (the runtime's ``iterations`` x q), each firing as soon as it may (:meth:`Model.room`).
    ``group[k]`` >= 0 puts actor k on a device that runs at most ``slots[group]`` (>= 1) firings
    at a time (the runtime's ``DeviceEmulation`` cores: an actor takes its windows, then waits for
    a core, first come first served; its firing time runs once it has one). Returns per actor
    the (start, end) ticks of every firing, start = when it got its core. Stops early on a
    deadlock (fewer firings than asked)."""
    n = m.size
    T, nbr, room, end = m.T, m.nbr, m.room, m.end
    group = group or [-1] * n
    free = list(slots or [])
    waiting: list[list[int]] = [[] for _ in free]
    tok = list(m.init)
    busy = [False] * n
    fired = [0] * n
    spans: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    begun = [0] * n
    heap: list[tuple[int, int, int]] = []
    seq = 0
    now = 0
    dirty = list(range(n))

    def run(k: int) -> None:
        nonlocal seq
        begun[k] = now
        heapq.heappush(heap, (now + T[k], seq, k))
        seq += 1

    while True:
        for k in sorted(set(dirty)):  # claims at one instant: lowest actor first
            if busy[k] or fired[k] >= limit[k] or room(k, tok, cap) is not None:
                continue
            busy[k] = True
            fired[k] += 1
            g = group[k]
            if g < 0:
                run(k)
            elif free[g] > 0:
                free[g] -= 1
                run(k)
            else:
                waiting[g].append(k)
        if not heap:
            return spans
        now = heap[0][0]
        dirty = []
        while heap and heap[0][0] == now:
            _, _, k = heapq.heappop(heap)
            busy[k] = False
            end(k, tok)
            spans[k].append((begun[k], now))
            g = group[k]
            if g >= 0:
                if waiting[g]:
                    run(waiting[g].pop(0))
                else:
                    free[g] += 1
            dirty.extend(nbr[k])


def max_throughput(net: Net, ticks: list[int], unit_s: Fraction) -> Throughput:
    """Throughput with unbounded fifos: the minimum over strongly connected parts, each
    simulated on its own with unbounded fifos (its token counts stay bounded: every edge lies
    on a cycle), and of every actor alone (one firing at a time)."""
    import networkx as nx

    dg = nx.DiGraph()
    dg.add_nodes_from(range(net.size))
    for e in net.edges:
        dg.add_edge(e.src, e.dst)
    best: Throughput | None = None
    for comp in nx.strongly_connected_components(dg):
        members = sorted(comp)
        if len(members) == 1 and not dg.has_edge(members[0], members[0]):
            a = members[0]
            if ticks[a] == 0:
                continue
            exact = Fraction(1, net.q[a] * ticks[a]) / unit_s
            t = Throughput(float(exact), exact, (), 1)
        else:
            t = self_timed(net, None, ticks, unit_s, actors=members)
        if best is None or t.iterations_per_s < best.iterations_per_s:
            best = t
    return best or Throughput(float("inf"), None, (), 0)


# ------------------------------------------------------------------ the Pareto front


@dataclass(frozen=True)
class ParetoPoint:
    cost: int  # total bytes or tokens
    iterations_per_s: float
    capacities: tuple[int, ...]
    exact: Fraction | None = None  # iterations per second, exact


def next_capacity(c: int, d: int, p: int, q: int) -> int:
    """The next capacity above c that can change behaviour: the tokens in a fifo are always
    d mod gcd(p, q) plus a multiple of gcd(p, q), and so is every rate."""
    g = gcd(p, q)
    return c + 1 + ((d - (c + 1)) % g)


def pareto(net: Net, start: list[int], free: list[bool], weight: list[int], ticks: list[int], unit_s: Fraction, *,
           max_evals: int = 100_000, time_limit_s: float | None = None, guided: bool = True,
           stats: dict | None = None) -> tuple[list[ParetoPoint], Throughput, bool]:
    """The exact throughput/buffer Pareto front: for every throughput reachable, the cheapest
    capacities reaching it (one point per cost at which the best throughput rises).

    ``start``: the per-fifo lower bounds (fixed fifos at their capacity). Best-first by cost,
    each distribution's successors enlarge one fifo to its next useful capacity: with ``guided``
    only the fifos that delayed a firing for lack of room in its periodic phase (or that a
    deadlocked actor waits on), as Stuijk, Geilen and Basten (DAC 2006); without, every free
    fifo (a naive search, for comparison). Throughput is monotone in capacities and cannot rise
    unless such a fifo grows, so from every cheaper distribution on the way to a Pareto point
    some successor stays below that point: the search meets every point in cost order. It ends
    when the throughput of unbounded fifos is reached.

    Returns the points, the maximal throughput, and whether the front is complete (False when
    ``max_evals`` or ``time_limit_s`` stopped it first)."""
    t_start = time.perf_counter()
    top = max_throughput(net, ticks, unit_s)

    def cost(cs) -> int:
        return sum(w * c for w, c in zip(weight, cs))

    heap = [(cost(start), tuple(start))]
    seen = {tuple(start)}
    points: list[ParetoPoint] = []
    best = Fraction(0)
    evals = 0
    complete = False
    try:
        while heap:
            if evals >= max_evals or (time_limit_s is not None and time.perf_counter() - t_start > time_limit_s):
                return points, top, False
            c, caps = heapq.heappop(heap)
            evals += 1
            t = self_timed(net, list(caps), ticks, unit_s)
            if t.exact is None:  # no time passes at all
                points.append(ParetoPoint(c, t.iterations_per_s, caps, None))
                complete = True
                return points, top, True
            if t.exact > best:
                p = ParetoPoint(c, t.iterations_per_s, caps, t.exact)
                if points and points[-1].cost == c:
                    points[-1] = p
                else:
                    points.append(p)
                best = t.exact
                if top.exact is not None and best >= top.exact:
                    complete = True
                    return points, top, True
            for ei in (t.critical if guided else range(len(caps))):
                if not free[ei]:
                    continue
                e = net.edges[ei]
                nc = list(caps)
                nc[ei] = next_capacity(caps[ei], e.init, e.prod, e.cons)
                tn = tuple(nc)
                if tn not in seen:
                    seen.add(tn)
                    heapq.heappush(heap, (c + weight[ei] * (nc[ei] - caps[ei]), tn))
        # nothing left to enlarge: every distribution reachable was seen
        complete = True
        return points, top, True
    finally:
        if stats is not None:
            stats.update(evaluations=evals, generated=len(seen), seconds=time.perf_counter() - t_start,
                         complete=complete)
