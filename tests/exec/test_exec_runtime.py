"""The threaded runtime on small Python graphs (specs/exec/)."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

import vrprune
from vrprune.exec import END, RingFifo, Runtime, RuntimeSetupError, repetition_vector, view
from vrprune.exec._backend import BackendError, SlowedBackend
from vrprune.exec._runtime import DeviceEmulation

SPECS = os.path.join(os.path.dirname(__file__), "..", "..", "specs", "exec")


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
    assert "Src waits for room for 3 tokens on Src.o (holds 0/2)" in res.describe()


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


# ---------------------------------------------------------------- slower-device emulation

WORK_C = r"""
#define _POSIX_C_SOURCE 200809L
#include <time.h>
#include "vrprune.h"
/* sleeps `us` microseconds per firing, then copies its input (if any) to its output (if any) */
typedef struct { int64_t us; } st_t;
void *work_init(const vrp_param *p, int n) {
    st_t *s = calloc(1, sizeof *s);
    s->us = vrp_param_int(p, n, "us", 0);
    return s;
}
void work_finish(void *s) { free(s); }
int work_fire(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    st_t *s = st;
    struct timespec d = { (time_t)(s->us / 1000000), (long)(s->us % 1000000) * 1000 };
    if (s->us) nanosleep(&d, NULL);
    if (n_in && n_out) memcpy(out[0].data, in[0].data, (size_t)in[0].count * in[0].token_bytes);
    else if (n_out) memset(out[0].data, 0, (size_t)out[0].count * out[0].token_bytes);
    return VRP_OK;
}
"""


def c_sleep_chain(tmp_path, us: int):
    (tmp_path / "work.c").write_text(WORK_C)
    impl = 'impl c "work.c" { init = work_init, fire = work_fire, finish = work_finish }'
    (tmp_path / "cwork.vpr").write_text(f"""graph cwork {{
  actor Src {{ out o: u8[8]  {impl}  param us = 0 }}
  actor W   {{ in i: u8[8]  out o: u8[8]  {impl}  param us = {us} }}
  actor Snk {{ in i: u8[8]  {impl}  param us = 0 }}
  fifo Src.o -> W.i capacity 2
  fifo W.o -> Snk.i capacity 2
}}
""")
    return vrprune.load(str(tmp_path / "cwork.vpr"))


def have_cc() -> bool:
    import shutil

    return bool(os.environ.get("VRPRUNE_CC") or shutil.which("cc") or shutil.which("gcc"))


@pytest.mark.skipif(not have_cc(), reason="no C compiler")
def test_slowed_c_actor_leaves_the_native_loop_and_is_slowed(tmp_path):
    g = c_sleep_chain(tmp_path, us=10_000)
    n = 10
    plain = Runtime(g, iterations=n, watchdog_s=10)
    assert {t.name: t.native for t in plain.threads} == {"Src": True, "W": True, "Snk": True}
    r1 = plain.run()
    assert r1.status == "ok", r1.describe()
    # the C loop would call work_fire directly and skip the sleep: slowed C actors run the Python loop
    emu = DeviceEmulation(3.0, spans=True)
    rt = Runtime(g, iterations=n, watchdog_s=10, emulation=emu)
    assert {t.name: t.native for t in rt.threads} == {"Src": False, "W": False, "Snk": False}
    assert all(isinstance(t.backend, SlowedBackend) for t in rt.threads)
    r3 = rt.run()
    assert r3.status == "ok", r3.describe()
    w = emu.spans_json()["W"]
    assert len(w["spans"]) == n and 0.0099 * n <= w["inner_s"] < 0.05 * n
    assert all(e - s >= 3 * 0.010 * 0.99 for s, e in w["spans"])
    assert r3.wall_s >= n * 3 * 0.010 * 0.99
    assert 2.2 <= r3.wall_s / r1.wall_s <= 4.5, (r1.wall_s, r3.wall_s)


def test_emulation_wraps_only_the_backends_the_runtime_builds():
    from vrprune.exec._python import PythonBackend

    g = load("dry")
    own = PythonBackend(g.actor("Cp"), None)
    emu = DeviceEmulation(2.0, cores=1)
    rt = Runtime(g, iterations=3, watchdog_s=5, backends={"Cp": own}, emulation=emu)
    assert rt._by_name["Cp"].backend is own  # e.g. TX/RX actors of a distributed run
    assert set(emu.wrapped) == {"Src", "Sink"} and rt._by_name["Src"].backend is emu.wrapped["Src"]
    assert rt.run().status == "ok"
    assert emu.wrapped["Sink"].inner.obj.values == [0, 1, 2]
    assert emu.spans_json()["Src"]["spans"] == []  # spans only when asked for
    # full speed, no bound and no spans: nothing is wrapped (C actors keep the C loop)
    rt = Runtime(g, iterations=1, emulation=DeviceEmulation(1.0, 0))
    assert not any(isinstance(t.backend, SlowedBackend) for t in rt.threads)


def test_the_plan_names_how_each_actor_runs_and_each_fifo_kind():
    """Runtime.plan: Python actors in threads on ring FIFOs; a caller's fifo_factory gives
    "custom" FIFOs; Python actors in worker processes get shared-memory FIFOs."""
    from vrprune.exec._shm import ShmFifo

    g = load("chain")
    rt = Runtime(g, iterations=1)
    assert set(rt.plan.actors.values()) == {"thread"} and set(rt.plan.fifos.values()) == {"ring"}
    made = []

    def factory(f, tb, mr, mw):
        made.append(f.name)
        return RingFifo(f.name, f.capacity, tb, f.initial, mr, mw)

    rt = Runtime(g, iterations=1, fifo_factory=factory)
    assert set(rt.plan.fifos.values()) == {"custom"} and made == [f.name for f in g.fifos]
    rt = Runtime(g, iterations=1, processes="all")
    assert set(rt.plan.actors.values()) == {"worker"} and set(rt.plan.fifos.values()) == {"shm"}
    assert all(isinstance(f, ShmFifo) for f in rt.fifos.values())


def test_backends_are_joined_to_their_fifos_while_the_runtime_is_built():
    """A back-end that watches its FIFOs (a TX or RX of a distributed run) gets them from the
    Runtime as it is built (ActorBackend.join_fifos), in port order, with the run's ``stopping``;
    a slowed (emulated) one passes them on to the back-end it wraps; nobody patches them in
    afterwards."""
    from vrprune.exec._python import PythonBackend

    class Watching(PythonBackend):
        joined: tuple | None = None

        def join_fifos(self, ins, outs, stopping):
            self.joined = (ins, outs, stopping)

    g = load("chain")
    own = Watching(g.actor("Pack"), None)
    emu = DeviceEmulation(2.0)
    inner = Watching(g.actor("Mid"), None)
    rt = Runtime(g, iterations=2, watchdog_s=5, backends={"Pack": own, "Mid": emu.wrap(inner)})
    for be, src, dst in ((own, "Src.o", "Pack.o"), (inner, "Unpack.o", "Mid.o")):
        assert be.joined is not None
        ins, outs, stopping = be.joined
        assert [f.name for f in ins] == [src] and [f.name for f in outs] == [dst]
        assert ins[0] is rt.fifos[src] and outs[0] is rt.fifos[dst]
        assert stopping() is False
    rt.abort()
    assert own.joined[2]() is True


@pytest.mark.parametrize("kw, msg", [({"slowdown": 0.5}, "slowdown must be a finite number >= 1"),
                                     ({"slowdown": float("nan")}, "slowdown must be a finite number >= 1"),
                                     ({"slowdown": float("inf")}, "slowdown must be a finite number >= 1"),
                                     ({"slowdown": "x"}, "slowdown must be a number"),
                                     ({"cores": -1}, "cores must be an integer >= 0"),
                                     ({"cores": 1.5}, "cores must be an integer >= 0")])
def test_device_emulation_rejects_bad_settings(kw, msg):
    with pytest.raises(RuntimeSetupError, match=msg):
        DeviceEmulation(**kw)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="pinning needs Linux")
def test_pin_runs_each_actor_mapped_to_a_cpu_unit_on_its_core_only():
    from vrprune.model import Unit, UnitKind

    allowed = os.sched_getaffinity(0)
    first, last = min(allowed), max(allowed)
    units = {"Src": Unit("hi", UnitKind.CPU, device=last), "Sink": Unit("lo", UnitKind.CPU, device=first)}
    rt = Runtime(load("chain"), iterations=5, watchdog_s=5, units=units, pin=True)
    seen: dict[str, set[int]] = {}
    for t in rt.threads:  # record, in each firing, the cores its thread may run on
        def rec(ins, outs, atr, fire=t.backend.fire, name=t.name):
            seen.setdefault(name, set()).update(os.sched_getaffinity(0))  # 0: the calling thread
            return fire(ins, outs, atr)
        t.backend.fire = rec
    res = rt.run()
    assert res.status == "ok", res.describe()
    assert seen["Src"] == {last} and seen["Sink"] == {first}
    assert seen["Mid"] == allowed  # no unit: left to the scheduler
    assert os.sched_getaffinity(0) == allowed  # the caller's thread is untouched
    # without pin, units name cores but nobody is pinned
    rt = Runtime(load("chain"), iterations=2, watchdog_s=5, units=units)
    assert all(t.cpu is None for t in rt.threads)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="pinning needs Linux")
def test_pin_to_a_core_this_process_may_not_use_is_a_setup_error():
    from vrprune.model import Unit, UnitKind

    far = max(os.sched_getaffinity(0)) + 64
    with pytest.raises(RuntimeSetupError, match=f"unit 'big' is core {far}, which this process may not run on "
                                                r"\(it may use cores [0-9, -]+\); map 'Src' to another unit"):
        Runtime(load("chain"), iterations=2, units={"Src": Unit("big", UnitKind.CPU, device=far)}, pin=True)
