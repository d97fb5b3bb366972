"""vrprune explore measured with real distributed runs (two `vrprune run` processes over loopback)."""

from __future__ import annotations

import io
import json
import os

from vrprune.cli import main_with

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_vehicle_sweep_two_frames_three_points_then_resume(tmp_path):
    out = tmp_path / "sweep"
    argv = ["explore", os.path.join(ROOT, "examples", "vehicle", "vehicle_np.vpr"),
            "--platform", os.path.join(ROOT, "specs", "platform.vpr"), "--link", "ethernet100",
            "--frames", "2", "--max-points", "3", "--slowdown", "2", "--private-input", "--out", str(out)]
    so, se = io.StringIO(), io.StringIO()
    code = main_with(argv, so, se)
    assert code == 0, se.getvalue() + so.getvalue()
    doc = json.loads((out / "results.json").read_text())
    assert doc["runner"] == "distributed"
    rows = [r for r in doc["rows"] if r["measured"]]
    assert len(rows) == 3  # fully local + 2 points over ethernet100
    for r in rows:
        m = r["measured"]
        assert m["status"] == "ok" and m["frames"] == 2 and m["runner"] == "distributed"
        assert m["per_frame_s"] > 0 and m["endpoint_s"] > 0
        if r["point"] != "local":
            assert m["server_s"] > 0 and m["link_s"] > 0
            # both processes really ran: their logs and profiles are there
            d = out / "points" / r["point"]
            assert (d / "ethernet100.endpoint.profile.json").exists()
            assert (d / "ethernet100.server.profile.json").exists()
            # the endpoint side is slowed by `vrprune run --slowdown` itself (no wrapper process), the
            # server side only records its firing spans
            ep_log = (d / "ethernet100.endpoint.log").read_text().splitlines()[0]
            sv_log = (d / "ethernet100.server.log").read_text().splitlines()[0]
            assert " -m vrprune run " in ep_log and "--slowdown 2.0 --endpoint-cores 1 --spans " in ep_log
            assert " -m vrprune run " in sv_log and "--slowdown" not in sv_log and "--spans " in sv_log
            for side, lo, hi in (("endpoint", 2.0, None), ("server", 1.0, 1.3)):
                spans = json.loads((d / f"ethernet100.{side}.spans.json").read_text())
                assert spans and not any(a.startswith(("TX_", "RX_")) for a in spans)  # TX/RX not wrapped
                for a, sp in spans.items():
                    assert len(sp["spans"]) == 2
                    busy = sum(e - s for s, e in sp["spans"])
                    assert busy >= lo * sp["inner_s"] * 0.99, (side, a)  # sleep (F - 1) t after t
                    assert hi is None or busy <= hi * sp["inner_s"] + 1e-3, (side, a)
            # the point's scripts repeat the same emulation by hand
            assert "--slowdown 2 --endpoint-cores 1" in (d / "run_endpoint.sh").read_text()
            assert "--slowdown" not in (d / "run_server.sh").read_text()
    assert "--slowdown 2 --endpoint-cores 1" in (out / "points" / "local" / "run.sh").read_text()
    assert doc["recommendation"]["ethernet100"]["source"] == "measured"
    assert "distributed (two processes" in so.getvalue()
    # a second call finds everything in results.jsonl and runs nothing
    n_lines = len((out / "results.jsonl").read_text().splitlines())
    so2 = io.StringIO()
    assert main_with(argv, so2, io.StringIO()) == 0
    assert len((out / "results.jsonl").read_text().splitlines()) == n_lines
    assert json.loads((out / "results.json").read_text())["rows"] == doc["rows"]
