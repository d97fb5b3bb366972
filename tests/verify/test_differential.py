"""The z3 encoding, the atr=url simulation and the brute-force explorer agree on every verdict.

The `ci` profile runs the three properties on 510 random small graphs in all (chains, DAGs, cycles
with delays, DPGs with variable rates incl. lrl = 0, capacities at and one below the limit).
"""

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vrprune.grammar import format_graph
from vrprune.testing import cycles, dags, dpg_graphs, graphs, sdf_chains
from vrprune.verify import prove
from vrprune.verify._bruteforce import explore

N = settings().max_examples


def _truth(g):
    r = explore(g, max_states=60_000)
    assume(r.verdict in ("deadlock", "deadlock-free"))
    return r


def _replay(g, cx):
    """Replay the counterexample's firing sequence under the plain semantics; return fills."""
    ix = g.index()
    fills = {f.name: f.initial for f in g.fifos}
    for actor, k, atr in cx.trace:
        a = ix.actors[actor]
        for _ in range(k):
            for f in ix.ins[actor]:
                p = ix.dst_port(f)
                need = atr if p.is_variable else (1 if p.is_control else p.rate)
                assert fills[f.name] >= need, f"{actor} fired without {need} tokens on {f.name}"
                fills[f.name] -= need
            for f in ix.outs[actor]:
                p = ix.src_port(f)
                put = atr if p.is_variable else (1 if p.is_control else p.rate)
                assert f.capacity - fills[f.name] >= put, f"{actor} fired without room on {f.name}"
                fills[f.name] += put
        del a
    return fills


def _agree(g):
    truth = _truth(g)
    rep = prove(g, engine="smt")
    assert rep.verdict in ("proved", "refuted")
    want = "proved" if truth.verdict == "deadlock-free" else "refuted"
    assert rep.verdict == want, (
        f"checker {rep.verdict} {[d.code + ': ' + d.message for d in rep.diagnostics]}, explorer {truth.verdict} "
        f"{truth.trace} {truth.atr_choices}\n{format_graph(g)}")
    sim = prove(g, engine="sim")
    assert sim.verdict == rep.verdict
    if rep.verdict == "refuted":
        assert {d.code for d in rep.diagnostics} & {"D1", "D2"}
        cx = rep.counterexample
        assert cx is not None
        fills = _replay(g, cx)
        assert fills == cx.fills
        # the stuck state is really stuck: every unfinished actor is blocked
        assert cx.wait and cx.cycle
    return rep, truth


@settings(max_examples=max(N, 330))
@given(graphs(max_actors=6, max_rate=3))
def test_checker_agrees_with_explorer_on_mixed_graphs(g):
    _agree(g)


@settings(max_examples=max(N // 2, 120))
@given(dpg_graphs(max_actors=7, max_rate=3))
def test_checker_agrees_with_explorer_on_dpgs(g):
    rep, truth = _agree(g)


@settings(max_examples=max(N // 4, 60))
@given(st.one_of(sdf_chains(max_actors=5), dags(max_actors=6), cycles(max_actors=5)))
def test_checker_agrees_with_explorer_on_sdf(g):
    _agree(g)
