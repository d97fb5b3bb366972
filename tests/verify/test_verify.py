"""The checker end to end: verdicts, exit codes, certificates, counterexamples, limits, formats."""

import io
import json
from pathlib import Path

import pytest

import vrprune
from vrprune.cli import main_with
from vrprune.verify import prove

SPECS = Path(__file__).resolve().parents[2] / "specs"


def cli(*args):
    out, err = io.StringIO(), io.StringIO()
    code = main_with(list(map(str, args)), out, err)
    return code, out.getvalue(), err.getvalue()


def write(tmp_path, text, name="g.vpr"):
    p = tmp_path / name
    p.write_text(text)
    return p


CYCLE = """graph g {
  actor A { out x: f32 @ 3  in fb: i32 @ 3 }
  actor B { in y: f32 @ 2  out fb: i32 @ 2 }
  fifo A.x -> B.y capacity CAP
  fifo back: B.fb -> A.fb capacity 6 initial INIT
}
"""

DPG = """graph g {
  actor S { out d: i32 }
  dpg D {
    actor C: ca { in d: i32 control out c1 control out c2 control out c3 }
    actor E: da { control in c out v: f32 @ 0..4 in d: i32 }
    actor P: dpa { control in c in v: f32 @ 0..4 out w: f32 @ 0..4 }
    actor X: da { control in c in w: f32 @ 0..4 out o: i32 }
    fifo C.c1 -> E.c capacity 2
    fifo C.c2 -> P.c capacity 2
    fifo C.c3 -> X.c capacity 2
    fifo E.v -> P.v capacity 4
    fifo P.w -> X.w capacity WCAP
  }
  actor S2 { out d: i32 }
  actor T { in o: i32 }
  fifo S.d -> C.d capacity 1
  fifo S2.d -> E.d capacity 1
  fifo X.o -> T.o capacity 1
}
"""


def test_multirate_cycle_proved_and_refuted(tmp_path):
    ok = write(tmp_path, CYCLE.replace("CAP", "4").replace("INIT", "6"))
    code, out, _ = cli("check", ok)
    assert code == 0 and "proved" in out
    bad = write(tmp_path, CYCLE.replace("CAP", "4").replace("INIT", "3"), "bad.vpr")
    code, out, _ = cli("check", bad)
    assert code == 1
    assert "error[D1]" in out and "wait cycle" in out
    assert "A waits for 3 tokens on back (holds 2/6)" in out


def test_json_schema_and_counterexample_file(tmp_path):
    bad = write(tmp_path, CYCLE.replace("CAP", "4").replace("INIT", "3"))
    cx = tmp_path / "cx.json"
    code, out, _ = cli("check", bad, "--format", "json", "--counterexample", cx)
    assert code == 1
    doc = json.loads(out)
    assert doc["schema"] == "vrprune/check/1" and doc["verdict"] == "refuted"
    assert doc["repetition_vector"] == {"A": 2, "B": 3}
    assert {p["name"]: p["status"] for p in doc["properties"]}["deadlock-freedom"] == "refuted"
    d1 = [d for d in doc["diagnostics"] if d["code"] == "D1"][0]
    assert d1["location"]["line"] == 5 and d1["location"]["column"] == 3
    saved = json.loads(cx.read_text())
    assert saved["schema"] == "vrprune/counterexample/1"
    assert saved["fills"] == {"A.x": 1, "back": 2}
    assert [s["actor"] for s in saved["trace"]] == ["A", "B"]


def test_sarif_has_code_flows(tmp_path):
    bad = write(tmp_path, DPG.replace("WCAP", "3"))
    code, out, _ = cli("check", bad, "--format", "sarif")
    assert code == 1
    sarif = json.loads(out)
    assert sarif["version"] == "2.1.0"
    res = sarif["runs"][0]["results"]
    d2 = [r for r in res if r["ruleId"] == "D2"][0]
    assert d2["locations"][0]["physicalLocation"]["region"]["startLine"] == 12
    assert d2["codeFlows"][0]["threadFlows"][0]["locations"]


def test_sarif_for_input_errors(tmp_path):
    bad = write(tmp_path, "graph g { actor A { out x: f32 } }")
    code, out, _ = cli("check", bad, "--format", "sarif")
    assert code == 2
    assert json.loads(out)["runs"][0]["results"][0]["ruleId"] == "E004"


def test_overflow_below_url_names_the_fifo(tmp_path):
    rep = prove(vrprune.load(str(write(tmp_path, DPG.replace("WCAP", "3")))))
    assert rep.verdict == "refuted"
    d2 = [d for d in rep.diagnostics if d.code == "D2"]
    assert d2 and "P.w" in d2[0].message
    assert rep.counterexample.atr == {"D": [4]}


def test_dpg_with_enough_room_is_proved_by_both_engines(tmp_path):
    g = vrprune.load(str(write(tmp_path, DPG.replace("WCAP", "4"))))
    for engine in ("smt", "sim"):
        rep = prove(g, engine=engine)
        assert rep.verdict == "proved", engine


def test_explain_prints_certificate(tmp_path):
    ok = write(tmp_path, DPG.replace("WCAP", "4"))
    code, out, _ = cli("check", ok, "--explain")
    assert code == 0
    assert "certificate" in out and "schedule of one iteration" in out
    assert "P.w" in out and "<= 4" in out


def test_solver_limit_is_inconclusive_never_proved(tmp_path):
    ok = write(tmp_path, DPG.replace("WCAP", "4"))
    code, out, _ = cli("check", ok, "--engine", "smt", "--rlimit", "1")
    assert code == 3
    assert "inconclusive" in out and "U1" in out and "--rlimit" in out


def test_missing_capacity_is_reported(tmp_path):
    p = write(tmp_path, "graph g { actor A { out x: f32 } actor B { in x: f32 } fifo A.x -> B.x }")
    code, out, _ = cli("check", p)
    assert code == 1 and "error[D3]" in out and "bufsize" in out


def test_inconsistent_names_cycle(tmp_path):
    p = write(tmp_path, CYCLE.replace("fb: i32 @ 3", "fb: i32 @ 2").replace("CAP", "4").replace("INIT", "6"))
    rep = prove(vrprune.load(str(p)))
    c1 = [d for d in rep.diagnostics if d.code == "C1"][0]
    assert len(c1.notes) == 2  # both edges of the cycle, each with its rates


@pytest.mark.parametrize("spec", sorted(p.name for p in SPECS.glob("*.vpr") if p.name != "platform.vpr"))
def test_engines_agree_on_specs(spec):
    g = vrprune.load(str(SPECS / spec))
    assert prove(g, engine="smt").verdict == prove(g, engine="sim").verdict == "proved"


def test_large_generated_graph_is_fast():
    import sys
    import time

    sys.path.insert(0, str(SPECS.parent / "bench"))
    from gen import mixed  # noqa: E402

    text = mixed(1000)
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".vpr", delete=False) as f:
        f.write(text)
    g = vrprune.load(f.name)
    t = time.perf_counter()
    rep = prove(g)
    assert rep.verdict == "proved"
    assert time.perf_counter() - t < 10
