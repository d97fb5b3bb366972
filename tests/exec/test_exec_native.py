"""C actors in the runtime: the C firing loop (runtime/native.c), native FIFOs, mixed C/Python."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace

import pytest

import vrprune
from vrprune.exec import Runtime
from vrprune.model import Param, PythonImpl

SPECS = os.path.join(os.path.dirname(__file__), "..", "..", "specs", "exec")

pytestmark = pytest.mark.skipif(not (os.environ.get("VRPRUNE_CC") or shutil.which("cc") or shutil.which("gcc")),
                                reason="no C compiler")


def load(name: str):
    return vrprune.load(os.path.join(SPECS, f"{name}.vpr"))


def with_actor(g, name, **changes):
    return replace(g, actors=tuple(replace(a, **changes) if a.name == name else a for a in g.actors))


@pytest.mark.parametrize("native", [True, False])
def test_c_chain_keeps_the_sequence(native):
    rt = Runtime(load("cchain"), iterations=3000, watchdog_s=10, native=native)
    assert {t.name: t.native for t in rt.threads} == {"Src": native, "Cp": native, "Py": False,
                                                      "Chk": native, "Cp2": native}
    # the plan says the same, and every edge with a C-loop end gets a native FIFO
    kind = "native" if native else "thread"
    assert rt.plan.actors == {"Src": kind, "Cp": kind, "Py": "thread", "Chk": kind, "Cp2": kind}
    assert set(rt.plan.fifos.values()) == {"native" if native else "ring"}
    assert all(type(f).__name__ == ("NativeFifo" if native else "RingFifo") for f in rt.fifos.values())
    res = rt.run()
    assert res.status == "ok", res.describe()  # Chk fails on any gap or duplicate
    assert res.firings == {"Src": 6000, "Cp": 9000, "Py": 18000, "Chk": 18000, "Cp2": 18000}
    assert all(f["left"] == 0 for f in res.fifos.values())


def test_c_chain_profiled_in_c():
    res = Runtime(load("cchain"), iterations=50, profile=True, watchdog_s=10).run()
    st = res.actors["Cp"]
    assert st.firings == 150 and 0 <= st.min_s <= st.max_s and st.total_s > 0


def test_c_actor_error_from_native_loop():
    g = with_actor(load("cchain"), "Cp", params=(Param("at", 7),))
    res = Runtime(g, iterations=1000, watchdog_s=10).run()
    assert res.status == "error"
    (f,) = res.failures
    assert (f.actor, f.firing) == ("Cp", 7)
    assert "bad token 12" in f.message  # firing 7 of a rate-2 actor starts at token 12


def test_python_error_next_to_native_fifos_stops_c_threads():
    g = with_actor(load("cchain"), "Py", params=(Param("at", 50),),
                   impl=PythonImpl(os.path.abspath(os.path.join(SPECS, "actors", "seq.py")), "Boom"))
    res = Runtime(g, iterations=100000, watchdog_s=10).run()
    assert res.status == "error" and res.failures[0].actor == "Py" and res.failures[0].firing == 50
    assert res.firings["Chk"] <= 49  # the abort may overtake tokens still in flight


def test_watchdog_on_native_fifos():
    res = Runtime(load("ctoosmall"), iterations=3, watchdog_s=0.5).run()
    assert res.status == "deadlock"
    assert {(w.actor, w.side, w.need) for w in res.waits} == {("Src", "full", 3), ("Chk", "empty", 1)}


def test_source_end_in_c():
    g = with_actor(load("cchain"), "Src", params=(Param("stop", 10),))
    res = Runtime(g, iterations=None, watchdog_s=10).run()
    assert res.status == "ok", res.describe()
    assert res.firings["Src"] == 10 and res.firings["Chk"] == 30


def test_cffi_declarations_come_from_the_shipped_headers(tmp_path):
    """The executor's cffi declarations (the C core's vrp_actor and exports, the TX/RX vrp_link)
    are read from the shipped headers' cdef sections, not copied into Python by hand."""
    import inspect

    from vrprune.exec import _native as exec_native
    from vrprune.exec import header_cdef
    from vrprune.net import _native as net_native

    for mod, struct in ((exec_native, "vrp_actor"), (net_native, "vrp_link")):
        assert "typedef struct" not in inspect.getsource(mod), mod.__name__
        assert mod.ffi.typeof(struct).kind == "struct"
    bare = tmp_path / "bare.h"
    bare.write_text("typedef struct { int x; } t;\n")
    with pytest.raises(ValueError, match="no /\\* cdef begin"):
        header_cdef(str(bare))
