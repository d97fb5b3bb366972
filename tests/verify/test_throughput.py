"""The throughput model (vrprune/verify/_throughput.py) against an independent brute force.

``des_throughput`` below is a discrete-event simulation written from the executor's firing
rule alone (it shares no code with the model: rates, repetition counts and the state are taken
from the IR here): a heap of firing ends, every instant's state kept, the throughput read off
the first repeated state. The Pareto front is checked against exhaustive enumeration of every
capacity vector (not only those the model's search visits) up to the model's last point.
"""

from __future__ import annotations

import heapq
import itertools
import os
from fractions import Fraction
from math import lcm

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import vrprune
from vrprune.model import Graph
from vrprune.testing import graphs
from vrprune.verify._bufsize import prepare
from vrprune.verify._throughput import max_throughput, pareto, self_timed, to_ticks

SPECS = os.path.join(os.path.dirname(__file__), "..", "..", "specs")


# ------------------------------------------------------------ the brute force (independent)


def _rates(g: Graph) -> list[tuple[str, str, str, int, int, int]]:
    """(fifo, src actor, dst actor, tokens per firing of src, of dst, initial) from the IR:
    control ports move 1 token, variable ports url (the worst case the model takes)."""
    acts = {a.name: a for a in g.actors}
    out = []
    for f in g.fifos:
        sp = next(p for p in acts[f.src.actor].ports if p.name == f.src.port)
        dp = next(p for p in acts[f.dst.actor].ports if p.name == f.dst.port)
        def rate(p):
            return 1 if p.is_control else p.url

        out.append((f.name, f.src.actor, f.dst.actor, rate(sp), rate(dp), f.initial))
    return out


def _repetitions(g: Graph, rates) -> dict[str, int]:
    q: dict[str, Fraction] = {g.actors[0].name: Fraction(1)}
    changed = True
    while changed:
        changed = False
        for _, s, d, p, c, _ in rates:
            if s in q and d not in q:
                q[d] = q[s] * p / c
                changed = True
            elif d in q and s not in q:
                q[s] = q[d] * c / p
                changed = True
    m = lcm(*(x.denominator for x in q.values()))
    return {a: int(x * m) for a, x in q.items()}


def des_throughput(g: Graph, caps: dict[str, int], ticks: dict[str, int]) -> Fraction:
    """Iterations per tick of self-timed execution under the executor's rule: an actor starts
    when idle, its inputs hold their rates and its outputs have room for theirs; at the end of
    the firing its inputs are removed and its outputs appear."""
    rates = _rates(g)
    q = _repetitions(g, rates)
    names = [a.name for a in g.actors]
    tokens = {f: d for f, _, _, _, _, d in rates}
    running: dict[str, int] = {}  # actor -> end time
    ends: list[tuple[int, int, str]] = []
    counter = itertools.count()
    fired = {a: 0 for a in names}
    history: dict[tuple, tuple[int, int]] = {}
    now = 0
    while True:
        started = True
        while started:  # start whatever can start now (starting changes no token count)
            started = False
            for a in names:
                if a in running:
                    continue
                if all(tokens[f] >= c for f, _, d, _, c, _ in rates if d == a) and \
                        all(caps[f] - tokens[f] >= p for f, s, _, p, _, _ in rates if s == a):
                    running[a] = now + ticks[a]
                    heapq.heappush(ends, (now + ticks[a], next(counter), a))
                    started = True
        state = (tuple(sorted(tokens.items())), tuple(sorted((a, t - now) for a, t in running.items())))
        if state in history:
            t0, n0 = history[state]
            a0 = names[0]
            return Fraction(fired[a0] - n0, q[a0] * (now - t0))
        history[state] = (now, fired[names[0]])
        if not ends:
            return Fraction(0)
        now = ends[0][0]
        while ends and ends[0][0] == now:
            _, _, a = heapq.heappop(ends)
            del running[a]
            fired[a] += 1
            for f, s, d, p, c, _ in rates:
                if d == a:
                    tokens[f] -= c
                if s == a:
                    tokens[f] += p


def brute_front(g: Graph, lo: dict[str, int], budget: int) -> list[tuple[int, Fraction]]:
    """(total tokens, throughput) where the best throughput over every capacity vector >= lo of
    that total or less rises, for totals up to ``budget``."""
    names = [f.name for f in g.fifos]
    slack = budget - sum(lo.values())
    best_at: dict[int, Fraction] = {}
    ticks = {a.name: round(a.time_s * 1000) for a in g.actors}
    for extra in itertools.product(range(slack + 1), repeat=len(names)):
        if sum(extra) > slack:
            continue
        caps = {n: lo[n] + x for n, x in zip(names, extra)}
        th = des_throughput(g, caps, ticks)
        tot = sum(caps.values())
        if th > best_at.get(tot, Fraction(-1)):
            best_at[tot] = th
    front, best = [], Fraction(0)
    for tot in sorted(best_at):
        if best_at[tot] > best:
            best = best_at[tot]
            front.append((tot, best))
    return front


# ------------------------------------------------------------ helpers


def _timed(g: Graph, ms: list[int]) -> Graph:
    from dataclasses import replace

    return replace(g, actors=tuple(replace(a, time_s=t / 1000) for a, t in zip(g.actors, ms)))


def _model(g: Graph):
    pb, diags = prepare(g, "tokens", resize_all=True)
    assert pb is not None, diags
    ticks, unit = to_ticks([a.time_s for a in g.actors])
    assert [a.name for a in g.actors] == list(pb.net.names)
    return pb, ticks, unit


@st.composite
def timed_graphs(draw, max_actors=5, max_rate=3):
    g = draw(graphs(max_actors=max_actors, max_rate=max_rate))
    return _timed(g, draw(st.lists(st.integers(1, 5), min_size=len(g.actors), max_size=len(g.actors))))


# ------------------------------------------------------------ hand-checked figures

CYCLE = """\
graph cyc {
  actor A { in x: i32  out y: i32  time 1 ms }
  actor B { in x: i32  out y: i32  time 2 ms }
  fifo A.y -> B.x capacity %d
  fifo B.y -> A.x capacity %d initial %d
}
"""


@pytest.mark.parametrize("caps,tokens,expected", [
    ((1, 1), 1, Fraction(1000, 3)),  # one token goes round: (1 + 2) ms per iteration
    ((1, 2), 2, Fraction(1000, 3)),  # A's output slot stays taken until B's firing ends: no overlap
    ((2, 2), 2, Fraction(500)),      # room for both: B (2 ms, one firing at a time) is the bottleneck
    ((4, 4), 3, Fraction(500)),
])
def test_two_actor_cycle(tmp_path, caps, tokens, expected):
    p = tmp_path / "c.vpr"
    p.write_text(CYCLE % (caps[0], caps[1], tokens))
    g = vrprune.load(str(p))
    pb, ticks, unit = _model(g)
    assert self_timed(pb.net, [e.cap for e in pb.net.edges], ticks, unit).exact == expected
    assert des_throughput(g, {f.name: f.capacity for f in g.fifos}, {"A": 1, "B": 2}) * 1000 == expected


def test_modem_needs_more_than_the_minimal_total_for_its_maximum():
    """The issue's example: on SDF3's modem the minimal total gives less than the maximum."""
    g = vrprune.load(os.path.join(SPECS, "sdf3", "modem.xml"))
    pb, _diags = prepare(g, "bytes", resize_all=True)
    assert pb is not None
    ticks, unit = to_ticks([a.time_s for a in g.actors])
    pts, top, complete = pareto(pb.net, pb.lower, [True] * len(pb.lower), pb.weight, ticks, unit)
    assert complete and len(pts) > 1 and pts[0].exact < top.exact == pts[-1].exact


# ------------------------------------------------------------ properties


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], deadline=None)
@given(timed_graphs())
def test_model_equals_brute_force_at_given_capacities(g):
    pb, ticks, unit = _model(g)
    got = self_timed(pb.net, [e.cap for e in pb.net.edges], ticks, unit)
    ms = {a.name: round(a.time_s * 1000) for a in g.actors}
    want = des_throughput(g, {f.name: f.capacity for f in g.fifos}, ms) * 1000  # per tick = per ms
    assert got.exact == want


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                  HealthCheck.filter_too_much], deadline=None)
@given(timed_graphs(max_actors=4, max_rate=2))
def test_pareto_front_equals_exhaustive_search(g):
    pb, ticks, unit = _model(g)
    pts, top, complete = pareto(pb.net, pb.lower, [True] * len(pb.lower), pb.weight, ticks, unit, max_evals=5000)
    assert complete
    if not pts:  # no capacities help (a cycle without enough initial tokens)
        assume(False)
    budget = pts[-1].cost
    assume(budget - sum(pb.lower) <= 6 and len(g.fifos) <= 6)
    # the brute force starts below the model's per-fifo bounds: at the overflow minimum max(p, c, d)
    lo = {f.name: max(e.prod, e.cons, e.init, 1) for f, e in zip(g.fifos, pb.net.edges)}
    assume(budget - sum(lo.values()) <= 8)
    want = brute_front(g, lo, budget)
    assert [(p.cost, p.exact / 1000) for p in pts] == want
    # the last point reaches the maximum: more room anywhere does not help
    names = [f.name for f in g.fifos]
    ms = {a.name: round(a.time_s * 1000) for a in g.actors}
    more = {n: c + 2 * max(e.prod, e.cons) for n, c, e in zip(names, pts[-1].capacities, pb.net.edges)}
    assert des_throughput(g, more, ms) * 1000 == top.exact == pts[-1].exact


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], deadline=None)
@given(timed_graphs(max_actors=5, max_rate=2))
def test_guided_search_equals_naive_search(g):
    pb, ticks, unit = _model(g)
    free = [True] * len(pb.lower)
    a = pareto(pb.net, pb.lower, free, pb.weight, ticks, unit, max_evals=3000)
    b = pareto(pb.net, pb.lower, free, pb.weight, ticks, unit, max_evals=3000, guided=False)
    assume(a[2] and b[2])
    assert [(p.cost, p.exact) for p in a[0]] == [(p.cost, p.exact) for p in b[0]]
    assert a[1].exact == max_throughput(pb.net, ticks, unit).exact


def test_explore_prediction_of_a_deadlocking_graph_is_infinite_and_strict_json(tmp_path):
    import json

    from vrprune.explore import Precedence
    from vrprune.explore._predict import predict

    p = tmp_path / "d.vpr"
    p.write_text("graph d {\n  actor A { out y: i32 @ 2  time 1 ms }\n  actor B { in x: i32 @ 3  time 1 ms }\n"
                 "  fifo A.y -> B.x capacity 3\n}\n")  # needs 2 + 3 - 1 = 4
    g = vrprune.load(str(p))
    prec = Precedence(g)
    local = next(x for x in prec.points() if x.local)
    pr = predict(local, {"A": 0.001, "B": 0.001}, prec.q, None, graph=g, frames=3)
    assert pr.per_frame_s == float("inf")
    assert json.loads(json.dumps(pr.to_json(), allow_nan=False))["per_frame_s"] is None
