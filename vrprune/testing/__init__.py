"""Hypothesis strategies for property-based tests of VR-PRUNE graphs.

Every graph drawn is a well-formed IR :class:`~vrprune.model.Graph`: it passes the load-time
checks and the design rules R1-R8, its rates are consistent, every fifo has a capacity, it is
weakly connected and every directed cycle holds initial tokens. Roughly half of them deadlock
(capacities one token short, or too few initial tokens on a cycle); the brute-force explorer
:func:`vrprune.verify._bruteforce.explore` tells which::

    from hypothesis import given
    from vrprune.testing import graphs, mutations
    from vrprune.verify._bruteforce import explore

    @given(graphs(max_actors=6, max_rate=3))
    def test_checker_agrees(g):
        truth = explore(g).verdict                  # "deadlock" | "deadlock-free"
        assert prove(g).verdict == ("proved" if truth == "deadlock-free" else "refuted")

    @given(st.data())
    def test_rules(data):
        g = data.draw(graphs())
        bad, rule = data.draw(mutations(g))         # breaks exactly one of R1..R7
        assert rule in {d.code for d in prove(bad).diagnostics}

Strategies: :func:`graphs` (the mix), :func:`sdf_chains`, :func:`dags`, :func:`cycles`,
:func:`dpg_graphs`, and :func:`mutations`. :func:`repetition_counts` gives the repetition
vector the generators were built around.

Names are .vpr identifiers: graph ``G``, SPAs ``A0..``, DPG ``P0`` with actors ``P0ca``
(CA), ``P0en`` / ``P0ex`` (entry / exit DA), ``P0d1..`` (DPAs); fifos ``e0..``; ports ``x0``
/ ``y0`` (static in/out), ``vx0`` / ``vy0`` (variable), ``cx0`` / ``cy0`` (control).
Generation calls the explorer while sizing capacities (graphs are small, ~10-50 ms each).
"""

from ._strategies import (
    TOKEN_TYPES,
    cycles,
    dags,
    dpg_graphs,
    graphs,
    mutations,
    repetition_counts,
    sdf_chains,
)

__all__ = ["TOKEN_TYPES", "cycles", "dags", "dpg_graphs", "graphs", "mutations", "repetition_counts", "sdf_chains"]
