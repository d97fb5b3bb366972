"""Self-timed throughput of a capacity assignment, and the throughput/buffer Pareto front.

Semantics (as SDF3's state-space throughput analysis, Ghamarian et al. 2006; buffer/throughput
exploration, Stuijk, Geilen and Basten, DAC 2006):

- every actor fires as soon as it is enabled, at most one firing at a time per actor;
- a firing takes the actor's execution time; input tokens are consumed at its start, output
  space is claimed at its start, output tokens appear at its end;
- variable rates are taken at atr = url and control fifos move one token per firing. That is the
  worst case for deadlock (docs/verification.md, Theorem 2); for throughput it is the
  heaviest workload per iteration, so the figures are those of the worst-case rate behaviour.

Execution is deterministic, the state (fill levels and remaining time of every running firing,
relative to now) ranges over a finite set once capacities are finite, so it eventually repeats:
throughput = iterations completed in the cycle / its duration, exact (rational arithmetic on
integer time ticks).
"""

from __future__ import annotations

import heapq
import json
from dataclasses import dataclass
from fractions import Fraction
from math import gcd, lcm

from ..diagnostics import VrpruneError
from ..model import Graph
from ._net import Net

PROFILE_SCHEMA = "vrprune/profile/1"


class ThroughputError(VrpruneError, ValueError):
    """Execution times are missing or unusable."""


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
        if not isinstance(profile, dict) or profile.get("schema") != PROFILE_SCHEMA or not isinstance(profile.get("actors"), dict):
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
    """Exact integer ticks for the given seconds, and the length of one tick in seconds."""
    fr = [Fraction(t).limit_denominator(10**12) for t in times]
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
    critical: tuple[int, ...]  # edge indices blocking a ready actor on full space in the periodic phase
    states: int

    @property
    def period_s(self) -> float:
        return 1.0 / self.iterations_per_s if self.iterations_per_s else float("inf")


def self_timed(net: Net, caps: list[int] | None, ticks: list[int], unit_s: Fraction, *,
               actors: list[int] | None = None, max_states: int = 2_000_000) -> Throughput:
    """Throughput of self-timed execution. ``caps`` None means unbounded fifos (only sensible
    within a strongly connected part); ``actors`` restricts the simulation to a sub-graph
    (edges with both ends inside)."""
    act = list(range(net.size)) if actors is None else list(actors)
    inside = set(act)
    eidx = [i for i, e in enumerate(net.edges) if e.src in inside and e.dst in inside]
    loc = {a: k for k, a in enumerate(act)}
    E = len(eidx)
    prod = [net.edges[i].prod for i in eidx]
    cons = [net.edges[i].cons for i in eidx]
    cap = [None if caps is None else caps[i] for i in eidx]
    ins: list[list[int]] = [[] for _ in act]
    outs: list[list[int]] = [[] for _ in act]
    for k, i in enumerate(eidx):
        ins[loc[net.edges[i].dst]].append(k)
        outs[loc[net.edges[i].src]].append(k)
    T = [ticks[a] for a in act]
    fills = [net.edges[i].init for i in eidx]
    occ = list(fills)  # fill + space claimed by running firings
    rem = [-1] * len(act)  # remaining ticks of the running firing, -1 idle
    ref = min(range(len(act)), key=lambda k: net.q[act[k]])
    q_ref = net.q[act[ref]]
    done_ref = 0
    now = 0
    seen: dict[tuple, tuple[int, int, int]] = {}
    blocked_log: list[frozenset[int]] = []
    limit_same_instant = 4 * sum(net.q[a] for a in act) + 16
    while True:
        # start every enabled idle actor; zero-time firings complete at once
        fired_now = 0
        full_blocked: set[int] = set()
        changed = True
        while changed:
            changed = False
            for k in range(len(act)):
                if rem[k] >= 0:
                    continue
                if any(fills[e] < cons[e] for e in ins[k]):
                    continue
                fulls = [e for e in outs[k] if cap[e] is not None and cap[e] - occ[e] < prod[e]]
                if fulls:
                    full_blocked.update(fulls)
                    continue
                for e in ins[k]:
                    fills[e] -= cons[e]
                    occ[e] -= cons[e]
                for e in outs[k]:
                    occ[e] += prod[e]
                if T[k] == 0:
                    for e in outs[k]:
                        fills[e] += prod[e]
                    if k == ref:
                        done_ref += 1
                    fired_now += 1
                    if fired_now > limit_same_instant:
                        return Throughput(float("inf"), None, (), len(seen))
                else:
                    rem[k] = T[k]
                changed = True
        # actors still blocked on full space (with their inputs ready) after the fixpoint
        full_now = frozenset(e for e in full_blocked
                             if any(rem[k] < 0 and e in outs[k] for k in range(len(act))))
        key = (tuple(fills), tuple(occ), tuple(rem))
        if key in seen:
            t0, d0, i0 = seen[key]
            if now == t0:
                return Throughput(float("inf"), None, (), len(seen))
            per_tick = Fraction(done_ref - d0, q_ref * (now - t0))
            crit: set[int] = set()
            for s in blocked_log[i0:]:
                crit |= s
            exact = per_tick / unit_s
            return Throughput(float(exact), exact, tuple(sorted(eidx[e] for e in crit)), len(seen))
        seen[key] = (now, done_ref, len(blocked_log))
        blocked_log.append(full_now)
        if len(seen) > max_states:
            raise ThroughputError(f"state space above {max_states} states; throughput not computed")
        busy = [r for r in rem if r > 0]
        if not busy:
            return Throughput(0.0, Fraction(0), tuple(sorted(eidx[e] for e in full_now)), len(seen))
        step = min(busy)
        now += step
        for k in range(len(act)):
            if rem[k] > 0:
                rem[k] -= step
                if rem[k] == 0:
                    rem[k] = -1
                    for e in outs[k]:
                        fills[e] += prod[e]
                    if k == ref:
                        done_ref += 1


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


@dataclass(frozen=True)
class ParetoPoint:
    cost: int  # total bytes or tokens
    iterations_per_s: float
    capacities: tuple[int, ...]


def next_capacity(c: int, d: int, p: int, q: int) -> int:
    """The next capacity above c that can change behaviour: occupancies are always
    d mod gcd(p, q) plus a multiple of gcd(p, q)."""
    g = gcd(p, q)
    return c + 1 + ((d - (c + 1)) % g)


def pareto(net: Net, start: list[int], free: list[bool], weight: list[int], ticks: list[int], unit_s: Fraction, *,
           max_evals: int = 2000) -> tuple[list[ParetoPoint], Throughput, bool]:
    """The throughput/buffer Pareto front from the minimal assignment ``start`` upwards: best
    first by total cost, each distribution's successors enlarge one critical fifo (a fifo on
    which a ready actor waited for space in the periodic phase) to its next useful capacity,
    until the throughput with unbounded fifos is reached (SDF3's exploration). Returns the
    points, the maximal throughput, and whether the front is complete (max reached)."""
    top = max_throughput(net, ticks, unit_s)
    cost = lambda cs: sum(w * c for w, c in zip(weight, cs))  # noqa: E731
    heap = [(cost(start), tuple(start))]
    seen = {tuple(start)}
    points: list[ParetoPoint] = []
    best = -1.0
    evals = 0
    while heap and evals < max_evals:
        c, caps = heapq.heappop(heap)
        evals += 1
        t = self_timed(net, list(caps), ticks, unit_s)
        if t.iterations_per_s > best * (1 + 1e-12) + 0.0:
            if points and points[-1].cost == c:
                points[-1] = ParetoPoint(c, t.iterations_per_s, caps)
            else:
                points.append(ParetoPoint(c, t.iterations_per_s, caps))
            best = t.iterations_per_s
            if top.exact is not None and t.exact is not None and t.exact >= top.exact:
                return points, top, True
            if top.exact is None and t.exact is None:
                return points, top, True
        for ei in t.critical:
            if not free[ei]:
                continue
            e = net.edges[ei]
            nc = list(caps)
            nc[ei] = next_capacity(caps[ei], e.init, e.prod, e.cons)
            tn = tuple(nc)
            if tn not in seen:
                seen.add(tn)
                heapq.heappush(heap, (cost(nc), tn))
    return points, top, False
