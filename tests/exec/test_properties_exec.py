"""The executor against the checker, on random graphs.

* proved implies: K iterations run under random atr choices and random thread delays with no
  deadlock, no fifo above its capacity, and every token (numbered, checked on every read)
  consumed exactly once;
* refuted implies: the counterexample's rate choices (``prove(g).counterexample.atr``)
  replayed by the runtime deadlock it.
"""

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vrprune.exec import Runtime
from vrprune.testing import checking_backends, dpg_graphs, graphs
from vrprune.verify import prove

N = settings().max_examples
K = 3  # iterations per run


def _prove(g):
    rep = prove(g, timeout_s=20)
    assume(rep.verdict in ("proved", "refuted"))
    return rep


def _run_proved(g, seed):
    backends, log = checking_backends(g, seed=seed, max_delay_us=300)
    res = Runtime(g, iterations=K, backends=backends, watchdog_s=5.0).run()
    assert res.status == "ok", (res.describe(), [f.traceback for f in res.failures])
    q = res.repetition
    assert res.firings == {a: q[a] * K for a in q}
    for f in g.fifos:
        st_ = res.fifos[f.name]
        assert st_["max_fill"] <= f.capacity, (f.name, st_)
        assert st_["left"] == f.initial, (f.name, st_)
        if f.name in log.consumed:  # data fifos (control fifos are the runtime's)
            assert log.consumed[f.name] == log.produced[f.name], (f.name, log.consumed, log.produced)
    for d, choices in log.atr.items():
        assert len(choices) == K * q[next(a for a in g.dpg(d).actors if g.actor(a).kind.value == "ca")]


def _replay_deadlocks(g, rep, seed):
    cx = rep.counterexample
    assert cx is not None
    backends, _log = checking_backends(g, seed=seed, max_delay_us=100)
    res = Runtime(g, iterations=2, backends=backends, replay={d: v for d, v in cx.atr.items() if v},
                  watchdog_s=0.15).run()
    assert res.status == "deadlock", (res.describe(), cx.atr)
    assert res.waits


def _check(g, seed):
    rep = _prove(g)
    if rep.verdict == "proved":
        _run_proved(g, seed)
    else:
        _replay_deadlocks(g, rep, seed)
    return rep.verdict


@settings(max_examples=max(N // 2, 100))
@given(graphs(max_actors=6, max_rate=3), st.integers(0, 2**32 - 1))
def test_executor_agrees_with_checker(g, seed):
    """proved: a clean run of K iterations; refuted: the counterexample deadlocks the runtime."""
    _check(g, seed)


@settings(max_examples=max(N // 4, 50))
@given(dpg_graphs(max_actors=7, max_rate=3), st.integers(0, 2**32 - 1))
def test_executor_agrees_with_checker_on_dpgs(g, seed):
    _check(g, seed)
