"""`vrprune bufsize --pareto --plot`: the front as a PNG, and clear errors for bad paths."""

from __future__ import annotations

import io
import json
import os
import stat

import pytest

from vrprune.cli import main_with

SPECS = os.path.join(os.path.dirname(__file__), "..", "..", "specs")
MODEM = os.path.join(SPECS, "sdf3", "modem.xml")


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main_with(["bufsize", *argv], out, err)
    return code, out.getvalue(), err.getvalue()


def test_plot_is_a_png_of_the_front(tmp_path):
    png = tmp_path / "front.png"
    code, out, err = _cli(MODEM, "--resize-all", "--pareto", "--plot", str(png), "--format", "json")
    assert code == 0, err
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    import matplotlib.image

    img = matplotlib.image.imread(str(png))  # decodes: a valid PNG, not just a header
    assert img.shape[0] > 100 and img.shape[1] > 100
    tp = json.loads(out)["throughput"]
    # the chosen point is the printed capacities: the sized minimum, the front's first point
    assert tp["chosen"]["cost"] == tp["pareto"][0]["cost"] == json.loads(out)["totals"]["bytes"]
    assert tp["complete"] and len(tp["pareto"]) > 1


def test_plot_marks_the_max_throughput_capacities(tmp_path):
    png = tmp_path / "max.png"
    code, out, err = _cli(MODEM, "--resize-all", "--pareto", "--max-throughput", "--plot", str(png), "--format", "json")
    assert code == 0, err
    tp = json.loads(out)["throughput"]
    assert tp["chosen"]["cost"] == tp["pareto"][-1]["cost"] == tp["max_throughput_cost"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("make,words", [
    (lambda d: str(d / "missing" / "f.png"), "does not exist"),
    (lambda d: str(d / "dir.png"), "is a directory"),
    (lambda d: str(d / "f.svg"), "PNG"),
])
def test_bad_plot_paths_are_usage_errors(tmp_path, make, words):
    path = make(tmp_path)
    (tmp_path / "dir.png").mkdir()
    code, out, err = _cli(MODEM, "--resize-all", "--pareto", "--plot", path)
    assert code == 2 and words in err and "Traceback" not in err
    assert out == ""  # refused before any work


def test_plot_needs_pareto(tmp_path):
    code, _, err = _cli(MODEM, "--plot", str(tmp_path / "f.png"))
    assert code == 2 and "--pareto" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_folder(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        code, _, err = _cli(MODEM, "--resize-all", "--pareto", "--plot", str(d / "f.png"))
        assert code == 2 and "not writable" in err
    finally:
        d.chmod(stat.S_IRWXU)


def test_incomplete_front_is_exit_3(tmp_path):
    code, out, err = _cli(os.path.join(SPECS, "sdf3", "samplerate.xml"), "--resize-all", "--pareto",
                          "--max-evals", "5", "--format", "json")
    assert code == 3 and "raise --max-evals" in err
    tp = json.loads(out)["throughput"]
    assert tp["complete"] is False and tp["evaluations"] == 5 and tp["pareto"]
