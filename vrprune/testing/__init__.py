"""Hypothesis strategies for property-based tests of VR-PRUNE graphs.

Every graph drawn is a well-formed IR :class:`~vrprune.model.Graph`: it passes the load-time
checks and the design rules R1-R8 (every exit DA sends a static output outside its DPG), its
rates are consistent, every fifo has a capacity, it is weakly connected and every directed
cycle holds initial tokens. Roughly half of them deadlock (capacities one token short, or too
few initial tokens on a cycle); the brute-force explorer
:func:`vrprune.verify.brute_force` tells which::

    from hypothesis import given, strategies as st
    from vrprune.testing import graphs, mappings, mutations
    from vrprune.verify import prove
    from vrprune.verify import brute_force

    @given(graphs(max_actors=6, max_rate=3))
    def test_checker_agrees(g):
        truth = brute_force(g).verdict                  # "deadlock" | "deadlock-free"
        assert prove(g).verdict == ("proved" if truth == "deadlock-free" else "refuted")

    @given(st.data())
    def test_rules(data):
        g = data.draw(graphs())
        bad, rule = data.draw(mutations(g))         # breaks exactly one of R1..R8
        assert rule in {d.code for d in prove(bad).diagnostics}

    @given(st.data())
    def test_split(data):
        g = data.draw(dpg_graphs())
        endpoint, server = data.draw(mappings(g))   # DPGs stay whole on one host
        split(g, endpoint); split(g, server)

Strategies: :func:`graphs` (the mix), :func:`sdf_chains`, :func:`dags`, :func:`cycles`,
:func:`dpg_graphs`, :func:`mutations` and :func:`mappings` (with :func:`two_hosts`, a
ready-made platform). :func:`repetition_counts` gives the repetition vector the generators
were built around; :func:`clusters` the groups of actors that must share a host.
:func:`checking_backends` gives generic actors for the executor: numbered tokens checked on
every read (lost, duplicated or misrouted tokens fail the run), random admissible atr choices,
random delays::

    backends, log = checking_backends(g, seed=1, max_delay_us=200)
    res = Runtime(g, iterations=3, backends=backends).run()
    assert res.status == "ok" and log.consumed == {f: log.produced[f] for f in log.consumed}

Knobs (keyword arguments of every graph strategy):

- ``max_actors`` (default 6, >= 3): size. A DPG counts its CA, two DAs, DPAs and inner SPAs;
  one actor is kept for the sink SPA that takes the last exit DA's output (R8), so two DPGs
  need ``max_actors >= 7``.
- ``max_rate`` (default 3): the rate range. Static rates are ``1..max_rate``; a DPG's
  ``url`` is ``1..max_rate`` and its ``lrl`` is 0, ``url`` or anything between.
- ``capacity_slack`` (default ``(0, 2)``): extra tokens per fifo drawn in ``lo..hi`` for the
  graphs sized "with slack" (the others are sized tight, or one token short).
- ``dpg_spas`` (:func:`dpg_graphs`, :func:`graphs`; default True): about half of the DPGs
  get an SPA inside, on a static path between two members (equal rates at both ends, R6).

Names are .vpr identifiers: graph ``G``, SPAs ``A0..``, DPG ``P0`` with actors ``P0ca``
(CA), ``P0en`` / ``P0ex`` (entry / exit DA), ``P0d1..`` (DPAs), ``P0s1..`` (SPAs inside);
fifos ``e0..``; ports ``x0`` / ``y0`` (static in/out), ``vx0`` / ``vy0`` (variable),
``cx0`` / ``cy0`` (control). Generation calls the explorer while sizing capacities (graphs
are small, ~10-50 ms each). More in docs/fuzzing.md.
"""

try:
    import hypothesis  # noqa: F401
except ImportError as _exc:
    from .._extras import MissingExtra

    raise MissingExtra("vrprune.testing needs the Python package `hypothesis`, which is not installed: "
                       "pip install 'vrprune[testing]'") from _exc

from ._actors import CheckingActor, CheckLog, TokenCheckError, checking_backends
from ._strategies import (
    TOKEN_TYPES,
    clusters,
    cycles,
    dags,
    dpg_graphs,
    graphs,
    mappings,
    mutations,
    repetition_counts,
    sdf_chains,
    two_hosts,
)

__all__ = ["CheckLog", "CheckingActor", "TokenCheckError", "checking_backends", "TOKEN_TYPES", "clusters", "cycles",
           "dags", "dpg_graphs", "graphs", "mappings", "mutations", "repetition_counts", "sdf_chains", "two_hosts"]
