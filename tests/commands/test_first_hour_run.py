"""A new user's first hour with `vrprune run`, `fuzz`, `explore` and `compile` (issue 14):
--param, distributed options without --mapping, stub sources without --iterations, --replay
of a counterexample, and what every run says it proved and where its outputs went."""

from __future__ import annotations

import io
import os

import pytest

from vrprune import load
from vrprune.cli import main_with
from vrprune.frontend import ParamError, with_params

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
DRY = os.path.join(ROOT, "specs", "exec", "dry.vpr")


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main_with(list(argv), out, err)
    return rc, out.getvalue(), err.getvalue()


# ---------------------------------------------------------------- --param (item 10)


def test_with_params_returns_a_new_graph_with_the_declared_span():
    g = load(DRY)
    h = with_params(g, [("Src", "stop", "4")])
    src_g, src_h = g.actor("Src"), h.actor("Src")
    assert src_g is not None and src_h is not None
    assert src_g.param("stop") == 10 and src_h.param("stop") == 4  # the loaded graph is unchanged
    assert src_h.params[0].span == src_g.params[0].span
    assert h.actor("Cp") is g.actor("Cp")


def test_run_param_changes_a_source_parameter():
    rc, out, err = cli("run", DRY, "--param", "Src.stop=4")
    assert rc == 0, err
    assert "Src   4 firings" in out and "Sink  4 firings" in out


@pytest.mark.parametrize("arg, words", [
    ("Src.stp=4", ["actor 'Src'", "dry.vpr:3:", "has no parameter 'stp'", "its parameters: stop"]),
    ("Cp.x=1", ["actor 'Cp'", "declares no parameters"]),
    ("Foo.x=1", ["no actor 'Foo'", "its actors: Src, Cp, Sink"]),
    ("Src.stop=abc", ["'stop' of actor 'Src' is a whole number", "param stop = 10", "got 'abc'"]),
    ("Src.stop=1.5", ["is a whole number", "got '1.5'"]),
])
def test_run_param_names_what_exists(arg, words):
    rc, out, err = cli("run", DRY, "--param", arg)
    assert rc == 2 and out == ""
    assert err.startswith("vrprune run: error: --param " + arg)
    for w in words:
        assert w in err


def test_param_syntax_and_repeats_are_usage_errors(capsys):
    rc, _, _ = cli("run", DRY, "--param", "Srcstop=1")
    assert rc == 2 and "expected ACTOR.NAME=VALUE" in capsys.readouterr().err
    with pytest.raises(ParamError, match="given twice"):
        with_params(load(DRY), [("Src", "stop", "1"), ("Src", "stop", "2")])


def test_fuzz_and_compile_take_param(tmp_path):
    rc, _, err = cli("fuzz", DRY, "--param", "Src.stop=3", "--round", "2")
    assert rc == 0, err
    rc, _, err = cli("fuzz", DRY, "--param", "Src.stop=x")
    assert rc == 2 and "vrprune fuzz: error: --param Src.stop=x" in err and "is a whole number" in err
    vehicle_c = os.path.join(ROOT, "examples", "vehicle", "vehicle_c.vpr")
    rc, _, err = cli("compile", vehicle_c, "-o", str(tmp_path / "c"), "--param", "Input.frames=3")
    assert rc == 0, err
    assert '{"frames", VRP_PARAM_INT, 3, 3.0, NULL}' in (tmp_path / "c" / "vehicle.c").read_text()
    rc, _, err = cli("compile", vehicle_c, "-o", str(tmp_path / "d"), "--param", "Input.frame=3")
    assert rc == 2 and "has no parameter 'frame'; its parameters: seed, frames" in err
    assert not (tmp_path / "d").exists()


def test_explore_takes_param():
    rc, _, err = cli("explore", DRY, "--platform", os.path.join(ROOT, "specs", "platform.vpr"),
                       "--param", "Nope.stop=1")
    assert rc == 2 and "vrprune explore: error: --param Nope.stop=1: graph 'dry'" in err


# ---------------------------------------------------------------- --replay (item 2)


def test_replay_of_the_readme_counterexample_stubs_and_stops_at_once(tmp_path):
    # README section 2: feedback.vpr with 3 initial tokens deadlocks; its actors have no implementation
    spec = tmp_path / "feedback.vpr"
    with open(os.path.join(ROOT, "specs", "feedback.vpr"), encoding="utf-8") as f:
        spec.write_text(f.read().replace("initial 4", "initial 3"))
    cx = tmp_path / "cx.json"
    assert cli("check", str(spec), "--counterexample", str(cx))[0] == 1
    import time

    t0 = time.monotonic()
    rc, out, err = cli("run", str(spec), "--replay", str(cx))  # as the README writes it: no --stub-missing
    assert time.monotonic() - t0 < 5.0  # not after the 10 s watchdog
    assert rc == 1, err
    assert "graph feedback: deadlock" in out and "has no implementation" not in err
    assert "Up waits for 2 tokens on state (holds 1/4)" in err
    assert "reached the counterexample's stuck state (the same firing counts and fill levels)" in err
    assert "rate choices forced from" not in err  # nothing to force: no DPG, and no empty note
    assert "forces no rate choices (the graph has no DPG)" in err
    # the same counterexample against the fixed graph (4 initial tokens): no deadlock, and an end
    t0 = time.monotonic()
    rc, out, err = cli("run", os.path.join(ROOT, "specs", "feedback.vpr"), "--replay", str(cx))
    assert time.monotonic() - t0 < 5.0 and rc == 0, err
    assert ("note: the run did not end in the counterexample's stuck state: Src fired 6 times, the counterexample 4"
            in err)


# ---------------------------------------------------------------- distributed options (item 3)


@pytest.mark.parametrize("opts", [
    ["--link", "garbage", "--psk-file", "/nonexistent", "--tls-ca", "/nope", "--port-base", "1"],
    ["--listen-all"], ["--socket-buffer", "0"], ["--connect-timeout", "3"], ["--tls-cert", "c.pem"],
    ["--tls-key", "k.pem"],
])
def test_distributed_options_without_mapping_are_usage_errors(opts):
    rc, out, err = cli("run", DRY, *opts)
    assert rc == 2 and out == ""
    assert "only to a distributed run; add --mapping HOST.map" in err
    for flag in opts[::2] if len(opts) > 1 else opts:
        if flag.startswith("--"):
            assert flag in err


# ---------------------------------------------------------------- stub sources never end (item 4)


def test_stub_sources_need_iterations():
    feedback = os.path.join(ROOT, "specs", "feedback.vpr")
    rc, out, err = cli("run", feedback, "--stub-missing")
    assert rc == 2 and out == ""
    assert "source actor 'Src' has no implementation: a stub never ends the stream" in err
    assert "give --iterations N" in err
    rc, out, err = cli("run", feedback, "--stub-missing", "--iterations", "2")
    assert rc == 0 and "Src   12 firings" in out, err


# ---------------------------------------------------------------- what a run says (item 9)


def test_every_back_end_prints_the_classes_and_says_what_was_proved_and_where_outputs_went(tmp_path):
    import subprocess
    import sys

    frames = {}
    for backend in ("np", "c", "cl"):
        app = os.path.join(ROOT, "examples", "vehicle", f"vehicle_{backend}.vpr")
        d = tmp_path / backend
        d.mkdir()
        r = subprocess.run([sys.executable, "-m", "vrprune", "run", app, "--param", "Input.frames=2"], cwd=d,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        frames[backend] = [ln for ln in lines if ln.startswith("frame ")]
        assert len(frames[backend]) == 2 and frames[backend][0].startswith("frame 0: class "), r.stdout
        assert "  proved before the run: design rules, consistency, overflow freedom, deadlock freedom" in r.stdout
        assert f"  Output wrote {d / 'vehicle_probs.f32'} (32 bytes; param path)" in lines, r.stdout
    assert frames["np"] == frames["c"] == frames["cl"]


def test_an_unchecked_run_says_it_was_not_proved():
    rc, out, err = cli("run", DRY, "--unchecked")
    assert rc == 0, err
    assert "  not proved before the run (--unchecked): it may deadlock or overflow" in out.splitlines()
    assert " wrote " not in out  # dry's actors write no files
