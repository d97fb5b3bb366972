"""`vrprune explore` as a new user meets it (issue 14 item 1): the README's command with a
relative --out run from another folder, failed runs reported as failures (exit 1, naming the
log), failed points retried on resume, nothing recommended or plotted from failures."""

from __future__ import annotations

import io
import json
import os
import re

from vrprune.cli import main_with

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLATFORM = os.path.join(ROOT, "specs", "platform.vpr")
BOOM = os.path.join(ROOT, "specs", "exec", "boom.vpr")  # actor Bad raises in firing `at` (param)


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main_with(list(argv), out, err)
    return rc, out.getvalue(), err.getvalue()


def test_readme_command_with_a_relative_out_from_another_folder(tmp_path, monkeypatch):
    # README section 7, with small settings; every path relative to a folder that is not the repository's
    monkeypatch.chdir(tmp_path)
    rel = os.path.relpath(ROOT, tmp_path)
    rc, out, err = cli("explore", f"{rel}/examples/vehicle/vehicle_c.vpr", "--platform", f"{rel}/specs/platform.vpr",
                       "--link", "ethernet100", "--slowdown", "2", "--frames", "2", "--max-points", "2",
                       "--private-input", "--out", "sweep")
    assert rc == 0, out + err
    doc = json.loads((tmp_path / "sweep" / "results.json").read_text())
    measured = [r["measured"] for r in doc["rows"] if r["measured"]]
    assert len(measured) == 2 and all(m["status"] == "ok" and m["frames"] == 2 for m in measured)
    assert doc["recommendation"]["ethernet100"]["source"] == "measured"
    assert "FAILED" not in out and (tmp_path / "sweep" / "explore.png").exists()
    assert "wrote sweep/results.csv" in out


def test_failed_runs_are_reported_retried_and_never_recommended_or_plotted(tmp_path):
    out_dir = tmp_path / "sw"
    (out_dir).mkdir()
    (out_dir / "explore.png").write_bytes(b"an old sweep's plot")
    argv = ["explore", BOOM, "--platform", PLATFORM, "--link", "ethernet100", "--frames", "2", "--max-points", "2",
            "--param", "Bad.at=1", "--out", str(out_dir)]
    rc, out, err = cli(*argv)
    assert rc == 1, out + err
    assert re.search(r"\b[0-9]+ runs? FAILED", out) and "no point meets the privacy floor" not in out
    assert "recommended over ethernet100: none (every run of a point that meets the privacy floor failed)" in out
    log = out_dir / "points" / "local" / "local.local.log"
    assert f"fully local (the profiling run): error: local side exited 1 (the run failed) (see {log.parent}" in out
    assert "--param Bad.at=1" in log.read_text()  # the children get --param too
    assert "ValueError: boom at 1" in log.read_text()
    assert not (out_dir / "explore.png").exists() and "no plot: every run failed" in out
    doc = json.loads((out_dir / "results.json").read_text())
    assert doc["recommendation"]["ethernet100"] is None and doc["failures"] == 2
    n = len((out_dir / "results.jsonl").read_text().splitlines())
    # resume tries the failed runs again (here they fail again) instead of reading them back
    rc, out, err = cli(*argv)
    assert rc == 1 and "the fully local run failed before" in err
    assert len((out_dir / "results.jsonl").read_text().splitlines()) == n + 2
    # a prediction without compute times (the profiling run failed) recommends nothing
    rc, out, err = cli(*argv, "--predict-only")
    assert rc == 1
    assert "the prediction has no actor compute times (the fully local profiling run failed)" in out
    assert json.loads((out_dir / "results.json").read_text())["recommendation"]["ethernet100"] is None
