"""`vrprune run` end to end, through the CLI entry point."""

from __future__ import annotations

import io
import json
import os

from vrprune.cli import main_with

SPECS = os.path.join(os.path.dirname(__file__), "..", "specs", "exec")


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main_with(["run", *argv], out, err)
    return rc, out.getvalue(), err.getvalue()


def spec(name: str) -> str:
    return os.path.join(SPECS, f"{name}.vpr")


def test_runs_a_proved_graph():
    rc, out, err = cli(spec("chain"), "--iterations", "10")
    assert rc == 0, err
    assert "graph chain: ok" in out and "Sink" in out and "60 firings" in out
    assert "warning" not in err and "\r" not in err  # no progress line when stderr is not a terminal


def test_refuses_a_refuted_graph_and_unchecked_warns():
    rc, out, err = cli(spec("toosmall"), "--iterations", "1")
    assert rc == 1 and "refusing to run" in err and "D2" in err
    assert out == ""
    rc, out, err = cli(spec("toosmall"), "--iterations", "1", "--unchecked", "--watchdog", "0.5")
    assert rc == 1
    assert "warning: running graph 'toosmall' without proving it" in err
    assert "deadlock" in err and "'Src' waits on fifo 'Src.o': full, 0/2 tokens, needs room for 3" in err
    assert "'Sink' waits on fifo 'Src.o': empty" in err


def test_actor_error_exit_and_message():
    rc, out, err = cli(spec("boom"), "--iterations", "20", "-q")
    assert rc == 1 and out == ""
    assert "error: actor 'Bad' failed in firing 4: ValueError: boom at 4" in err
    assert "seq.py" in err  # the actor's own traceback frame


def test_source_running_dry_ends_run():
    rc, out, err = cli(spec("dry"))
    assert rc == 0, err
    assert "10 firings" in out


def test_trace_and_profile_are_well_formed(tmp_path):
    tr, pr = tmp_path / "t.json", tmp_path / "p.json"
    rc, out, err = cli(spec("boxes"), "--unchecked", "--iterations", "8", "--trace", str(tr), "--profile", str(pr))
    assert rc == 0, err
    t = json.loads(tr.read_text())
    ev = t["traceEvents"]
    names = {e["args"]["name"] for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
    assert names == {"Src", "Count", "Entry", "Mid", "Exit", "Sink"}
    tid_of = {e["args"]["name"]: e["tid"] for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
    slices = [e for e in ev if e["ph"] == "X"]
    assert len(slices) == 6 * 8
    for e in slices:
        assert e["dur"] >= 0 and e["ts"] >= 0 and tid_of[e["name"]] == e["tid"]
    counters = [e for e in ev if e["ph"] == "C"]
    assert {e["name"].split()[1] for e in counters} == {"Src.a", "Src.b", "Count.c1", "Count.c2", "Count.c3",
                                                         "Entry.box", "Mid.t", "Exit.n"}
    assert all(0 <= e["args"]["fill"] <= 4 for e in counters)
    p = json.loads(pr.read_text())
    assert p["schema"] == "vrprune/profile/1" and p["wall_s"] > 0
    for name, a in p["actors"].items():
        assert a["firings"] == 8
        assert 0 <= a["min_s"] <= a["mean_s"] <= a["max_s"] and abs(a["total_s"] - 8 * a["mean_s"]) < 1e-9
    assert p["fifos"]["Entry.box"]["capacity"] == 2


def test_replay_counterexample_from_check(tmp_path):
    cx = tmp_path / "cx.json"
    rc_check = main_with(["check", spec("boxes"), "--counterexample", str(cx)], io.StringIO(), io.StringIO())
    assert rc_check == 1 and cx.exists()
    rc, out, err = cli(spec("boxes"), "--replay", str(cx), "--iterations", "5", "--watchdog", "0.5")
    assert rc == 1
    assert "deadlock" in err and "'Entry' waits on fifo 'Entry.box': full" in err
    assert "rate choices forced" in err


def test_bad_replay_file_is_input_error(tmp_path):
    cx = tmp_path / "cx.json"
    cx.write_text('{"atr": {"det": "x"}}')
    rc, out, err = cli(spec("boxes"), "--replay", str(cx))
    assert rc == 2 and "atr" in err
