"""The static simulation that skips periodic rounds (verify/_net.py `_simulate_static`) against
the step-by-step one: the same firing counts, fill levels, verdict and peaks on random static
graphs (cycles, multirate edges, tight capacities, initial tokens), and rounds skipped where
rates make millions of firings (issue 20 item 13)."""

from __future__ import annotations

import math
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import vrprune
from vrprune.model import GraphIndex
from vrprune.verify._consistency import repetition_vector
from vrprune.verify._net import _simulate_static, build_net, simulate


@st.composite
def static_graphs(draw) -> str:
    n = draw(st.integers(2, 6))
    q = [draw(st.integers(1, 6)) for _ in range(n)]
    edges = []
    for v in range(1, n):  # a random spanning tree, then extra edges (cycles too), all consistent
        u = draw(st.integers(0, v - 1))
        edges.append((u, v) if draw(st.booleans()) else (v, u))
    for _ in range(draw(st.integers(0, 4))):
        edges.append((draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))))
    lines = ["graph g {"]
    ports: dict[int, list[str]] = {a: [] for a in range(n)}
    fifos = []
    for i, (u, v) in enumerate(edges):
        g = math.gcd(q[u], q[v])
        t = draw(st.integers(1, 3))
        p, c = q[v] // g * t, q[u] // g * t  # q[u] * p == q[v] * c
        ports[u].append(f"out o{i}: u8 @ {p}")
        ports[v].append(f"in i{i}: u8 @ {c}")
        init = draw(st.integers(0, 2 * max(p, c)))
        cap = max(p, c, init) + draw(st.integers(0, p + c))
        fifos.append(f"  fifo A{u}.o{i} -> A{v}.i{i} capacity {cap} initial {init}")
    for a in range(n):
        lines.append(f"  actor A{a} {{ {'  '.join(ports[a])} }}")
    return "\n".join(lines + fifos + ["}"]) + "\n"


def _net(path: Path):
    g = vrprune.load(str(path))
    ix = GraphIndex.of(g)
    q, diags = repetition_vector(g, ix)
    assert not diags
    return build_net(g, ix, q, {})


@settings(max_examples=300, deadline=None)
@given(static_graphs(), st.integers(0, 40))
def test_skipping_rounds_changes_nothing(tmp_path_factory, text: str, after: int) -> None:
    p = tmp_path_factory.mktemp("accel") / "g.vpr"
    p.write_text(text)
    net = _net(p)
    slow = simulate(net, {}, record=True)  # the step-by-step run
    fast = _simulate_static(net, None, accelerate_after=after)  # skipping from visit `after` on
    assert (fast.complete, fast.counts, fast.fills, fast.peak) == (slow.complete, slow.counts, slow.fills, slow.peak)


def test_coprime_rates_take_rounds_not_firings(tmp_path: Path) -> None:
    p = tmp_path / "coprime.vpr"
    cases = ((10**7, 2 * 10**7, True), (10**7, 2 * 10**7 - 2, True), (10**7, 2 * 10**7 - 3, False),
             (2**32, 2**33, True))
    for rate, cap, done in cases:
        p.write_text(f"graph g {{ actor A {{ out o: u8 @ {rate} }} actor B {{ in i: u8 @ {rate - 1} }}\n"
                     f"  fifo A.o -> B.i capacity {cap} }}\n")
        net = _net(p)
        t = time.perf_counter()
        res = _simulate_static(net, None)
        assert time.perf_counter() - t < 2.0
        assert res.complete is done  # p + c - gcd(p, c) = 2 * rate - 2 tokens are needed, and enough
        if done:
            assert res.counts == [rate - 1, rate] and res.fills == [0] and res.peak[0] <= cap
    # the same answers step by step, on rates small enough to wait for
    for rate, cap, done in ((1000, 1998, True), (1000, 1997, False)):
        p.write_text(f"graph g {{ actor A {{ out o: u8 @ {rate} }} actor B {{ in i: u8 @ {rate - 1} }}\n"
                     f"  fifo A.o -> B.i capacity {cap} }}\n")
        net = _net(p)
        slow, fast = simulate(net, {}, record=True), _simulate_static(net, None, accelerate_after=0)
        assert slow.complete is fast.complete is done and slow.peak == fast.peak and slow.counts == fast.counts


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_dpgs_at_url_run_as_static_graphs(data) -> None:
    """With every DPG's atr at its url (the worst case the proofs simulate), DPG actors fire in
    batches and periodic rounds are skipped: the same outcome as one firing at a time."""
    from vrprune.testing import dpg_graphs
    from vrprune.verify._net import _static_at
    from vrprune.verify._rules import check_rules

    g = data.draw(dpg_graphs(max_actors=7, max_rate=4))
    ix = GraphIndex.of(g)
    diags, infos = check_rules(g, ix)
    q, cdiags = repetition_vector(g, ix)
    if diags or cdiags:
        return
    net = build_net(g, ix, q, infos)
    worst = {d: [i.url] for d, i in infos.items() if i.has_variable}
    assert _static_at(net, worst)
    slow = simulate(net, worst, record=True)  # one firing at a time for DPG actors
    for after in (0, 7):
        fast = _simulate_static(net, None, accelerate_after=after)
        assert (fast.complete, fast.counts, fast.fills, fast.peak) == \
            (slow.complete, slow.counts, slow.fills, slow.peak)
    # an atr other than url is not static: those runs keep their own path
    if worst:
        d = next(iter(worst))
        assert not _static_at(net, {**worst, d: [max(infos[d].lrl, 0), infos[d].url]})
