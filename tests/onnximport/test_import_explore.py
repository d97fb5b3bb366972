"""`vrprune explore` on an imported model: its partition points are the DAG's down-sets
(branches multiply them), each is run and timed from the onnxruntime actors' profile."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from helpers.procs import ROOT
from test_import import branch_concat, cli, conv_chain, import_model


def _explore(vpr: str, tmp_path, *extra: str) -> dict:
    out = tmp_path / "sweep"
    code, so, se = cli("explore", vpr, "--platform", f"{ROOT}/specs/platform.vpr", "--link", "ethernet100",
                       "--frames", "2", "--out", str(out), "--no-plot", "--format", "json", *extra)
    assert code == 0, so + se
    return json.loads(so)


def test_explore_sweeps_every_down_set_of_an_imported_dag(tmp_path):
    vpr = import_model(branch_concat(), tmp_path, name="bc")
    from vrprune import load
    from vrprune.explore import Precedence

    g = load(vpr)
    total, exact = Precedence(g).count()
    assert exact and total > len(g.actors)  # three branches after the stem: more points than a chain
    doc = _explore(vpr, tmp_path, "--runner", "emulated", "--max-points", str(total))
    assert doc["partition_points"] == {"total": total, "exact": True, "swept": total}
    assert not doc["failures"]
    measured = [r for r in doc["rows"] if r["measured"] and r["measured"]["status"] == "ok"]
    assert len(measured) == total
    # actor times come from the onnxruntime actors' own firings
    assert set(doc["actor_times_s"]) == {a.name for a in g.actors}
    assert all(t > 0 for t in doc["actor_times_s"].values())
    ids = {p["id"] for p in doc["points"]}
    assert any("." in i for i in ids)  # PPk.j: several down-sets with k endpoint actors


def test_explore_runs_an_imported_chain_over_two_processes(tmp_path):
    vpr = import_model(conv_chain(), tmp_path, name="chain")
    doc = _explore(vpr, tmp_path, "--runner", "distributed", "--max-points", "2")
    assert not doc["failures"]
    rows = [r for r in doc["rows"] if r["measured"]]
    assert rows and all(r["measured"]["status"] == "ok" and r["measured"]["runner"] == "distributed" for r in rows)
    assert any(r["point"] != "local" for r in rows)
