"""bufsize against the executor: at the computed capacities the real runtime runs N iterations;
with one FIFO one token smaller, the checker's counterexample deadlocks the runtime too."""

from pathlib import Path

import pytest

import vrprune
from vrprune.exec import Runtime
from vrprune.verify import prove, size
from vrprune.verify._bufsize import with_capacities

SPECS = Path(__file__).resolve().parents[2] / "specs"
CASES = ["feedback.vpr", "receiver.vpr", "multi_dpg.vpr", "sdf3/samplerate.xml", "sdf3/modem.xml"]


def _run(g, iterations=3, watchdog=1.0, replay=None):
    # stub actors zero-fill; a stub CA chooses url, the worst case (docs/verification.md)
    rt = Runtime(g, iterations=iterations, stub_missing=True, watchdog_s=watchdog, replay=replay,
                 warn=lambda m: None)
    return rt.run()


@pytest.mark.parametrize("spec", CASES)
def test_sized_graph_runs_and_one_less_deadlocks_in_the_runtime(spec):
    g = vrprune.load(str(SPECS / spec))
    res = size(g, resize_all=True)
    assert res.status == "optimal"
    sized = res.sized_graph()
    out = _run(sized)
    assert out.status == "ok", out.describe()
    assert all(n == 3 * res_q for n, res_q in zip(out.firings.values(), out.repetition.values()))
    # every FIFO above its isolated minimum: one token less must deadlock, in the checker and at run time
    shrunk = 0
    for f in res.fifos:
        if f.capacity <= 1:
            continue
        smaller = with_capacities(sized, {f.name: f.capacity - 1})
        rep = prove(smaller)
        assert rep.verdict == "refuted", f.name
        cx = rep.counterexample
        out = _run(smaller, watchdog=0.5, replay=cx.atr or None)
        assert out.status == "deadlock", (f.name, out.status)
        shrunk += 1
        if shrunk >= 4:
            break
    assert shrunk
