"""`vrprune run` end to end, through the CLI entry point."""

from __future__ import annotations

import io
import json
import os

from vrprune.cli import main_with

SPECS = os.path.join(os.path.dirname(__file__), "..", "..", "specs", "exec")


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
    assert "deadlock" in err and "Src waits for room for 3 tokens on Src.o (holds 0/2)" in err
    assert "Sink waits for 1 token on Src.o (holds 0/2)" in err


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
    p = json.loads(pr.read_text())
    assert p["actors"]["Mid"]["pruned"] == 2  # the CA's rates 0,1,2,1: atr 0 twice in 8 iterations
    assert len(slices) == 6 * 8 - 2  # a pruned DPA does not fire: no slice
    for e in slices:
        assert e["dur"] >= 0 and e["ts"] >= 0 and tid_of[e["name"]] == e["tid"]
    counters = [e for e in ev if e["ph"] == "C"]
    assert {e["name"].split()[1] for e in counters} == {"Src.a", "Src.b", "Count.c1", "Count.c2", "Count.c3",
                                                         "Entry.box", "Mid.t", "Exit.n"}
    assert all(0 <= e["args"]["fill"] <= 4 for e in counters)
    assert p["schema"] == "vrprune/profile/1" and p["wall_s"] > 0
    for a in p["actors"].values():
        assert a["firings"] == 8
        ran = 8 - a.get("pruned", 0)  # times are over the firings that ran
        assert 0 <= a["min_s"] <= a["mean_s"] <= a["max_s"] and abs(a["total_s"] - ran * a["mean_s"]) < 1e-9
    assert p["fifos"]["Entry.box"]["capacity"] == 2


def test_replay_counterexample_from_check(tmp_path):
    cx = tmp_path / "cx.json"
    rc_check = main_with(["check", spec("boxes"), "--counterexample", str(cx)], io.StringIO(), io.StringIO())
    assert rc_check == 1 and cx.exists()
    rc, out, err = cli(spec("boxes"), "--replay", str(cx), "--iterations", "5", "--watchdog", "0.5")
    assert rc == 1
    assert "deadlock" in err and "Entry waits for room for" in err and "on Entry.box (holds" in err
    assert "rate choices forced" in err


def test_bad_replay_file_is_input_error(tmp_path):
    cx = tmp_path / "cx.json"
    cx.write_text('{"atr": {"det": "x"}}')
    rc, out, err = cli(spec("boxes"), "--replay", str(cx))
    assert rc == 2 and "atr" in err


# ---------------------------------------------------------------- slower-device emulation

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLEEP = os.path.join(TESTS, "helpers", "explore_actors.py") + ":Sleep"


def sleep_chain(tmp_path, ms: int) -> str:
    """S -> A -> T; A sleeps `ms` per firing, S and T do nothing."""
    p = tmp_path / "sleepy.vpr"
    p.write_text(f"""graph sleepy {{
  actor S {{ out o: u8[16]  impl python "{SLEEP}"  param ms = 0 }}
  actor A {{ in i: u8[16]  out o: u8[16]  impl python "{SLEEP}"  param ms = {ms} }}
  actor T {{ in i: u8[16]  impl python "{SLEEP}"  param ms = 0 }}
  fifo S.o -> A.i capacity 2
  fifo A.o -> T.i capacity 2
}}
""")
    return str(p)


def sleep_fork(tmp_path, ms: int) -> str:
    """S -> A -> T and S -> B -> T: A and B (ms each) could fire at the same time."""
    p = tmp_path / "fork.vpr"
    p.write_text(f"""graph fork {{
  actor S {{ out a: u8[16]  out b: u8[16]  impl python "{SLEEP}"  param ms = 0 }}
  actor A {{ in i: u8[16]  out o: u8[16]  impl python "{SLEEP}"  param ms = {ms} }}
  actor B {{ in i: u8[16]  out o: u8[16]  impl python "{SLEEP}"  param ms = {ms} }}
  actor T {{ in a: u8[16]  in b: u8[16]  impl python "{SLEEP}"  param ms = 0 }}
  fifo S.a -> A.i capacity 2
  fifo S.b -> B.i capacity 2
  fifo A.o -> T.a capacity 2
  fifo B.o -> T.b capacity 2
}}
""")
    return str(p)


def max_overlap(spans: dict) -> int:
    """The most firings (over all actors) in progress at one instant."""
    ev = sorted([(s, 1) for d in spans.values() for s, _ in d["spans"]] +
                [(e, -1) for d in spans.values() for _, e in d["spans"]], key=lambda x: (x[0], x[1]))
    now = best = 0
    for _, k in ev:
        now += k
        best = max(best, now)
    return best


def test_slowdown_stretches_every_firing(tmp_path):
    app = sleep_chain(tmp_path, ms=30)
    n = 8
    walls = {}
    for f in ("1", "3"):
        prof, spans = tmp_path / f"p{f}.json", tmp_path / f"s{f}.json"
        rc, _, err = cli(app, "--iterations", str(n), "--slowdown", f, "--profile", str(prof), "--spans", str(spans))
        assert rc == 0, err
        p, s = json.loads(prof.read_text()), json.loads(spans.read_text())
        walls[f] = p["wall_s"]
        a = s["A"]
        assert len(a["spans"]) == n and set(s) == {"S", "A", "T"}
        # the actor's own time stays ~30 ms; the profile times the slowed firing (F x 30 ms)
        assert 0.029 <= a["inner_s"] / n < 0.060
        assert p["actors"]["A"]["mean_s"] >= int(f) * 0.030 * 0.99
        for t0, t1 in a["spans"]:
            assert t1 - t0 >= int(f) * 0.030 * 0.99  # time.sleep never returns early
    # A's firings are sequential: the run takes at least n * 3 * 30 ms, and about 3x the F = 1 run
    assert walls["3"] >= n * 3 * 0.030 * 0.99
    ratio = walls["3"] / walls["1"]
    assert 2.4 <= ratio <= 4.0, walls


def test_endpoint_cores_bounds_concurrent_firings(tmp_path):
    app = sleep_fork(tmp_path, ms=20)
    n = 6
    got = {}
    for c in ("1", "2"):
        spans = tmp_path / f"s{c}.json"
        rc, _, err = cli(app, "--iterations", str(n), "--endpoint-cores", c, "--spans", str(spans))
        assert rc == 0, err
        got[c] = json.loads(spans.read_text())
    assert max_overlap(got["1"]) == 1  # one core: A and B take turns, never overlap
    busy = sum(e - s for d in got["1"].values() for s, e in d["spans"])
    assert busy >= 2 * n * 0.020 * 0.99
    assert max_overlap(got["2"]) == 2  # two cores: A and B (20 ms each, fed together) overlap


def test_slowdown_without_spans_writes_no_file_and_default_runs_unwrapped(tmp_path):
    app = sleep_chain(tmp_path, ms=0)
    rc, out, err = cli(app, "--iterations", "3", "--slowdown", "1.5", "--endpoint-cores", "1")
    assert rc == 0, err
    assert "graph sleepy: ok" in out
    assert list(tmp_path.glob("*.json")) == []


def test_bad_slowdown_and_cores_are_usage_errors(capsys):
    cases = [(["--slowdown", "0.5"], "argument --slowdown: must be a finite number >= 1 (1 = full speed), got '0.5'"),
             (["--slowdown", "0"], "argument --slowdown: must be a finite number >= 1"),
             (["--slowdown", "nan"], "argument --slowdown: must be a finite number >= 1"),
             (["--slowdown", "inf"], "argument --slowdown: must be a finite number >= 1"),
             (["--slowdown", "fast"], ("argument --slowdown: expected a number >= 1 (a factor, such as 2 or 2.5), "
                                       "got 'fast'")),
             (["--endpoint-cores", "-1"], "argument --endpoint-cores: must be >= 0 (0 = no bound), got '-1'"),
             (["--endpoint-cores", "1.5"], "argument --endpoint-cores: expected a whole number >= 0"),
             (["--endpoint-cores", "two"], "argument --endpoint-cores: expected a whole number >= 0")]
    for extra, msg in cases:
        rc, out, err = cli(spec("chain"), "--iterations", "1", *extra)
        cap = capsys.readouterr()
        assert rc == 2, extra
        assert f"vrprune run: error: {msg}" in cap.err, (extra, cap.err)
        assert "Traceback" not in cap.err + err and out == ""
    # explore shares the option types
    rc = main_with(["explore", spec("chain"), "--platform", "x.vpr", "--slowdown", "0.9"], io.StringIO(), io.StringIO())
    assert rc == 2
    assert "vrprune explore: error: argument --slowdown: must be a finite number >= 1" in capsys.readouterr().err


def test_pin_takes_the_cores_from_the_mapping_and_names_a_core_not_there(tmp_path):
    import re

    import pytest

    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("pinning needs Linux")
    app = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "vehicle", "vehicle_np.vpr")
    first = min(os.sched_getaffinity(0))
    far = max(os.sched_getaffinity(0)) + 64
    (tmp_path / "platform.vpr").write_text(
        f'platform lab {{\n  host server "127.0.0.1" {{ cpu c0 core {first} cpu far core {far} }}\n}}\n')
    actors = ["Input", "L1", "L2", "L3", "L4L5", "Output"]
    for name, last in (("ok", "c0"), ("far", "far")):
        lines = [f"  {a} -> server.{'c0' if a != 'Output' else last}" for a in actors]
        (tmp_path / f"{name}.map").write_text('import "platform.vpr"\nmapping m on lab.server {\n'
                                              + "\n".join(lines) + "\n}\n")
    code, out, err = cli(app, "--mapping", str(tmp_path / "ok.map"), "--pin", "--iterations", "2")
    assert code == 0 and "Output  2 firings" in out, err
    code, out, err = cli(app, "--mapping", str(tmp_path / "far.map"), "--pin", "--iterations", "2")
    assert code == 2 and "Traceback" not in err
    assert re.search(rf"platform\.vpr:2:\d+: unit 'far' is core {far}, which this process may not run on", err), err
    assert "map 'Output' to another unit, or run without --pin" in err
    assert "local actors" not in err  # said before any connection is tried
    code, out, err = cli(app, "--pin", "--iterations", "2")
    assert code == 2 and "--pin takes the cores from a mapping; add --mapping HOST.map" in err
