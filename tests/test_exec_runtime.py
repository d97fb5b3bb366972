"""The threaded runtime on small Python graphs (specs/exec/)."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

import vrprune
from vrprune.exec import END, RingFifo, Runtime, RuntimeSetupError, repetition_vector, view
from vrprune.exec._backend import BackendError

SPECS = os.path.join(os.path.dirname(__file__), "..", "specs", "exec")


def load(name: str):
    return vrprune.load(os.path.join(SPECS, f"{name}.vpr"))


def obj(rt: Runtime, actor: str):
    return rt._by_name[actor].backend.obj


def test_repetition_vector_multirate():
    assert repetition_vector(load("chain")) == {"Src": 2, "Pack": 3, "Unpack": 3, "Mid": 6, "Sink": 6}


def test_multirate_chain_every_token_once_in_order():
    rt = Runtime(load("chain"), iterations=50, watchdog_s=5)
    res = rt.run()
    assert res.status == "ok", res.describe()
    assert res.firings == {"Src": 100, "Pack": 150, "Unpack": 150, "Mid": 300, "Sink": 300}
    # capacities 4 and 3 with windows of 3 and 2 wrap around the ring: the sequence survives
    assert obj(rt, "Sink").values == list(range(300))
    assert all(f["left"] == 0 for f in res.fifos.values())
    assert obj(rt, "Sink").inited and obj(rt, "Sink").finished and obj(rt, "Src").finished


def test_variable_rates_through_dpg_counted_exactly():
    g = load("boxes")
    # capacity 2 on Entry.box with url 4 is refuted; rates 0..2 stay within it at run time
    rt = Runtime(g, iterations=40, watchdog_s=5)
    res = rt.run()
    assert res.status == "ok", res.describe()
    chosen = obj(rt, "Count").chosen
    assert chosen == [[0, 1, 2, 1][f % 4] for f in range(40)]
    assert obj(rt, "Mid").seen == sum(chosen)
    assert obj(rt, "Sink").values == chosen  # Exit emits the box count it received and checked
    assert res.fifos["Entry.box"]["tokens_read"] == sum(chosen)
    assert res.fifos["Mid.t"]["tokens_read"] == sum(chosen)


def test_lrl_zero_prunes_branch_but_exit_still_produces():
    g = load("boxes")
    rt = Runtime(g, iterations=12, watchdog_s=5, replay={"det": [0]})
    res = rt.run()
    assert res.status == "ok", res.describe()
    assert res.firings["Mid"] == 12 and obj(rt, "Mid").seen == 0  # fired with atr 0
    assert obj(rt, "Sink").values == [0] * 12
    assert res.fifos["Entry.box"]["tokens_written"] == 0


def test_end_of_stream_by_iterations_calls_finish_everywhere():
    rt = Runtime(load("dry"), iterations=3, watchdog_s=5)
    res = rt.run()
    assert res.status == "ok"
    assert res.firings == {"Src": 3, "Cp": 3, "Sink": 3}
    assert obj(rt, "Src").finished and obj(rt, "Sink").finished


def test_end_of_stream_by_source_running_dry():
    rt = Runtime(load("dry"), iterations=None, watchdog_s=5)
    res = rt.run()
    assert res.status == "ok", res.describe()
    assert res.firings == {"Src": 10, "Cp": 10, "Sink": 10}
    assert obj(rt, "Sink").values == list(range(10))
    assert obj(rt, "Sink").finished


def test_actor_error_names_actor_and_firing():
    rt = Runtime(load("boom"), iterations=100, watchdog_s=5)
    t = time.perf_counter()
    res = rt.run()
    assert time.perf_counter() - t < 5
    assert res.status == "error" and res.exit_code == 1
    (f,) = res.failures
    assert (f.actor, f.phase, f.firing) == ("Bad", "fire", 4)
    assert "boom at 4" in str(f) and "'Bad'" in str(f) and "firing 4" in str(f)
    assert obj(rt, "Sink").finished  # finish still runs after an error
    vals = obj(rt, "Sink").values  # the abort may overtake tokens still in flight
    assert vals == list(range(len(vals))) and len(vals) <= 3


def test_watchdog_reports_waits():
    rt = Runtime(load("toosmall"), iterations=5, watchdog_s=0.5)
    res = rt.run()
    assert res.status == "deadlock" and res.exit_code == 1
    waits = {(w.actor, w.fifo, w.side, w.fill, w.capacity, w.need) for w in res.waits}
    assert waits == {("Src", "Src.o", "full", 0, 2, 3), ("Sink", "Src.o", "empty", 0, 2, 1)}
    assert "full" in res.describe() and "0/2" in res.describe()


def test_replay_forces_rates_into_deadlock():
    rt = Runtime(load("boxes"), iterations=10, watchdog_s=0.5, replay={"det": [1, 2, 4]})
    res = rt.run()
    assert res.status == "deadlock"
    assert res.firings["Exit"] == 2  # the third CA firing chose atr 4 > capacity 2
    assert ("Entry", "Entry.box", "full") in {(w.actor, w.fifo, w.side) for w in res.waits}


def test_ca_atr_out_of_range_is_an_error():
    g = load("boxes")
    from dataclasses import replace

    count = g.actor("Count")
    bad = replace(count, params=tuple(replace(p, value="0,9") for p in count.params))
    g2 = replace(g, actors=tuple(bad if a.name == "Count" else a for a in g.actors))
    res = Runtime(g2, iterations=4, watchdog_s=5).run()
    assert res.status == "error"
    assert res.failures[0].actor == "Count" and res.failures[0].firing == 2
    assert "outside" in res.failures[0].message


def test_missing_impl_is_named_and_stub_runs():
    from dataclasses import replace

    g = load("dry")
    g2 = replace(g, actors=tuple(replace(a, impl=None) if a.name == "Cp" else a for a in g.actors))
    with pytest.raises(BackendError, match=r"actor 'Cp' has no implementation") as e:
        Runtime(g2, iterations=2)
    assert "dry.vpr:" in str(e.value)
    warned = []
    rt = Runtime(g2, iterations=4, stub_missing=True, warn=warned.append)
    assert rt.run().status == "ok"
    assert any("Cp" in w for w in warned)
    assert obj(rt, "Sink").values == [0, 0, 0, 0]


def test_missing_capacity_is_a_setup_error():
    from dataclasses import replace

    g = load("dry")
    g2 = replace(g, fifos=tuple(replace(f, capacity=None) for f in g.fifos))
    with pytest.raises(RuntimeSetupError, match="no capacity"):
        Runtime(g2, iterations=1)


def test_ring_fifo_wrapping_windows_keep_order():
    f = RingFifo("f", capacity=5, token_bytes=1, max_read=3, max_write=4)
    seq, out = 0, []
    for step in range(40):
        n = (step % 4) + 1
        if f.capacity - f.fill >= n:
            w = f.write_start(n)
            w[:, 0] = np.arange(seq, seq + n) % 256
            f.write_end(n)
            seq += n
        m = (step % 3) + 1
        if f.fill >= m:
            r = f.read_start(m)
            assert not r.flags.writeable
            out.extend(int(x) for x in r[:, 0])
            f.read_end(m)
    assert out == [x % 256 for x in range(len(out))] and len(out) > 30


def test_view_helper():
    a = np.zeros((3, 24), np.uint8)
    v = view(a, "f32[2, 3]")
    assert v.shape == (3, 2, 3) and v.dtype == np.float32
    v[1, 1, 2] = 1.5
    assert view(a, "f32[2,3]")[1, 1, 2] == 1.5
    assert view(a, "bytes(24)") is a
    with pytest.raises(ValueError):
        view(a, "i64")


def test_end_is_a_singleton():
    import pickle

    import vrprune.exec as ex

    assert ex.END is END and pickle.loads(pickle.dumps(END)) is END
