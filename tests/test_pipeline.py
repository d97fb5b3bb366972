"""vrprune.pipeline: the one way from a file to a Runtime (load -> prove or refuse -> split ->
Runtime), with typed options."""

from __future__ import annotations

import os

import pytest

from vrprune.exec import RunOptions, make_runtime
from vrprune.pipeline import ProveOptions, load_app, prove_or_refuse
from vrprune.verify import VERDICT_EXIT_CODES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = os.path.join(ROOT, "specs")


def test_a_proved_graph_passes_the_gate_and_runs():
    app = load_app(os.path.join(SPECS, "exec", "chain.vpr"))
    gate = prove_or_refuse(app, ProveOptions(timeout_s=60))
    assert gate.ok and gate.verdict == "proved" and gate.exit_code == 0
    assert gate.repetition() == {"Src": 2, "Pack": 3, "Unpack": 3, "Mid": 6, "Sink": 6}
    assert gate.proof_line().startswith("proved before the run: ")
    res = make_runtime(app.local, RunOptions(iterations=2, watchdog_s=30), repetition=gate.repetition()).run()
    assert res.status == "ok" and res.firings["Sink"] == 12


@pytest.mark.parametrize("name, verdict", [("d1_cycle_without_tokens.vpr", "refuted"),
                                           ("d2_capacity_below_rate.vpr", "refuted")])
def test_a_refuted_graph_is_refused_with_the_checkers_exit_status(name, verdict):
    gate = prove_or_refuse(load_app(os.path.join(SPECS, "bad", name)))
    assert not gate.ok and gate.verdict == verdict
    assert gate.exit_code == VERDICT_EXIT_CODES[verdict] == 1
    assert gate.diagnostics and gate.repetition() is not None


def test_unchecked_runs_without_a_proof():
    app = load_app(os.path.join(SPECS, "bad", "d1_cycle_without_tokens.vpr"))
    gate = prove_or_refuse(app, ProveOptions(unchecked=True))
    assert gate.ok and gate.verdict == "unchecked" and gate.exit_code == 0 and gate.report is None
    assert gate.repetition() is None  # the runtime computes it
    assert gate.proof_line() == "not proved before the run (--unchecked): it may deadlock or overflow"


def test_with_a_mapping_the_split_graph_is_proved_and_this_hosts_share_runs():
    app = load_app(os.path.join(SPECS, "vehicle.vpr"), mapping=os.path.join(SPECS, "vehicle_client.map"),
                   dynamic=True)
    assert app.split is not None and app.mapping is not None
    assert app.proof_graph is app.split.proof and app.local is app.split.local
    assert "split by mapping" in app.describe()
    gate = prove_or_refuse(app)
    assert gate.verdict == "proved"
    assert gate.report is not None and gate.report.graph is app.split.proof
    assert set(gate.repetition() or {}) == {a.name for a in app.split.local.actors}
    assert "(the split graph, TX/RX inserted)" in gate.proof_line()
