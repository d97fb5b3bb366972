"""`vrprune import --exit NODE=HEAD.onnx[:THRESHOLD]`: early exits as proved DPGs. Models and
heads are built here with onnx.helper; every frame's output equals a reference that applies the
same exit rule (head confidence = largest softmax probability >= threshold) to onnxruntime runs
of the whole model and of the head, in one process and split over two processes on loopback."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from helpers.procs import finish, free_base, run_cmd, start, write_mappings  # noqa: E402
from test_import import IR_VERSION, OPSET, cli, max_rel  # noqa: E402

N_FRAMES = 8


def _w(rng, name: str, *shape: int, scale: float = 0.5):
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def _model(with_trunk_output: bool = False) -> onnx.ModelProto:
    """conv1+relu1 -> conv2+relu2 -> pool -> fc: logits f32[1, 5]; the exit goes after relu1."""
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
             helper.make_node("GlobalAveragePool", ["r2"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], name="fc", transB=1)]
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])]
    if with_trunk_output:
        outs.append(helper.make_tensor_value_info("r1", TensorProto.FLOAT, [1, 4, 8, 8]))
    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])], outs,
                          [_w(rng, "w1", 4, 3, 3, 3), _w(rng, "w2", 6, 4, 3, 3), _w(rng, "wf", 5, 6),
                           _w(rng, "bf", 5)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)


def _head(channels: int = 4) -> onnx.ModelProto:
    rng = np.random.default_rng(1)
    nodes = [helper.make_node("GlobalAveragePool", ["h"], ["g"]), helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "w", "b"], ["logits"], transB=1)]
    g = helper.make_graph(nodes, "head", [helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, channels, 8, 8])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 5])],
                          [_w(rng, "w", 5, channels, scale=4.0), _w(rng, "b", 5)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)


def _confidence(logits: np.ndarray) -> float:
    z = np.exp(logits - logits.max())
    return float((z / z.sum()).max())


class Case:
    """The model, its head and frames on disk; the reference outputs and exit pattern for a
    threshold between the head's confidences (half the frames exit)."""

    def __init__(self, tmp_path) -> None:
        self.d = tmp_path
        self.model, self.head = str(tmp_path / "m.onnx"), str(tmp_path / "head.onnx")
        onnx.save(_model(), self.model)
        onnx.save(_head(), self.head)
        onnx.save(_model(with_trunk_output=True), tmp_path / "ref.onnx")
        self.frames = np.random.default_rng(5).standard_normal((N_FRAMES, 1, 3, 8, 8)).astype(np.float32)
        np.save(tmp_path / "frames.npy", self.frames)
        whole = ort.InferenceSession(str(tmp_path / "ref.onnx"), providers=["CPUExecutionProvider"])
        head = ort.InferenceSession(self.head, providers=["CPUExecutionProvider"])
        self.late, self.early, conf = [], [], []
        for f in self.frames:
            y, r1 = whole.run(None, {"x": f})
            (logits,) = head.run(None, {"h": r1})
            self.late.append(y)
            self.early.append(logits)
            conf.append(_confidence(logits))
        c = sorted(conf)
        self.threshold = (c[N_FRAMES // 2 - 1] + c[N_FRAMES // 2]) / 2
        self.pattern = [0 if x >= self.threshold else 1 for x in conf]  # atr: 0 = exited
        assert 0 < sum(self.pattern) < N_FRAMES
        self.expected = np.stack([e if a == 0 else y for a, e, y in zip(self.pattern, self.early, self.late)])

    def imported(self, *extra: str) -> str:
        code, out, err = cli("import", self.model, "-o", str(self.d / "out"),
                             "--exit", f"relu1={self.head}:{self.threshold!r}", *extra)
        assert code == 0, out + err
        return str(self.d / "out" / "m.vpr")

    def params(self, out: str) -> list[str]:
        return ["--param", f"Input.path={self.d / 'frames.npy'}", "--param", f"Output.path={out}"]


def test_exit_graph_is_proved_and_every_frame_matches_the_reference(tmp_path):
    case = Case(tmp_path)
    vpr = case.imported()
    code, out, err = cli("check", vpr)
    assert code == 0 and "R1-R8 hold" in out and "for every atr sequence" in out, out + err
    assert cli("fmt", "--check", vpr)[0] == 0
    res = tmp_path / "y.npy"
    trace = tmp_path / "trace.json"
    code, out, err = cli("run", vpr, *case.params(str(res)), "--trace", str(trace))
    assert code == 0, out + err
    got = np.load(res)
    assert got.shape == case.expected.shape
    assert max_rel(got, case.expected) <= 1e-5
    assert json.load(open(trace))["otherData"]["atr"] == {"after_exit1": case.pattern}
    exited = case.pattern.count(0)
    assert f"chose atr 0 {exited} time" in out
    # the pruned layers do not fire: their firings that ran are the frames that continued
    assert f"Conv2               {N_FRAMES} firings, {exited} of them pruned" in out


def test_exit_graph_split_over_two_processes(tmp_path):
    """Endpoint: input, first layer, head, CA and both DAs, output; server: the rest of the
    network. Same outputs as in one process."""
    case = Case(tmp_path)
    vpr = case.imported()
    from vrprune import load

    rest = {a.name for a in load(vpr).actors if a.dpg and a.kind.value == "dpa"}
    assert rest == {"Conv2", "GlobalAveragePool1", "Gemm1"}
    res = tmp_path / "y_split.npy"
    trace = tmp_path / "endpoint.trace.json"  # a traced host runs its TX in the Python loop, the server in C
    _, text = _split_run(vpr, tmp_path, case.params(str(res)), endpoint_args=("--trace", str(trace)))
    assert max_rel(np.load(res), case.expected) <= 1e-5
    assert json.load(open(trace))["otherData"]["atr"] == {"after_exit1": case.pattern}
    exited = case.pattern.count(0)
    assert "Exit1Decide" in text and f"chose atr 0 {exited} time" in text  # the endpoint's summary
    assert re.search(rf"Conv2 +{N_FRAMES} firings, {exited} of them pruned", text)  # the server's


def _split_run(vpr: str, tmp_path, params: list[str], endpoint_args: tuple[str, ...] = ()
               ) -> tuple[dict[str, int], str]:
    """The rest of the network (the DPAs) on the server, everything else on the endpoint;
    returns the payload bytes each crossing edge sent ({edge name: bytes}) and both hosts'
    output."""
    from vrprune import load

    g = load(vpr)
    rest = {a.name for a in g.actors if a.dpg and a.kind.value == "dpa"}
    maps = write_mappings(tmp_path, {a.name: ("server" if a.name in rest else "endpoint") for a in g.actors})
    base = str(free_base())
    srv = start(run_cmd(vpr, maps["server"], "--port-base", base, *params), tmp_path)
    ep = start(run_cmd(vpr, maps["endpoint"], "--port-base", base, *params, *endpoint_args), tmp_path)
    sent: dict[str, int] = {}
    text = ""
    for rc, so, se in finish([srv, ep], timeout=120):
        assert rc == 0, so + se
        text += so
        for m in re.finditer(r"edge (\S+) \(port \d+\): sent (\d+) frames, (\d+) bytes", so):
            sent[m.group(1)] = int(m.group(3))
    return sent, text


def test_bytes_over_the_network_drop_with_the_exit_rate(tmp_path):
    """Split as above: the activation (endpoint -> server) and the late result (back) cross
    only for frames that continue; a frame that exits sends its control tokens alone."""
    case = Case(tmp_path)
    vpr = case.imported()
    sent, _ = _split_run(vpr, tmp_path, case.params(str(tmp_path / "y.npy")))
    act, late = 4 * 8 * 8 * 4, 5 * 4  # r1: f32[1, 4, 8, 8]; logits: f32[1, 5]
    ctrl = {k: v for k, v in sent.items() if k not in ("Exit1Entry.y0", "Gemm1.y")}
    assert ctrl and all(v == 4 * N_FRAMES for v in ctrl.values())  # one 4-byte atr a frame
    exit_rate = case.pattern.count(0) / N_FRAMES
    data_per_frame = (sent["Exit1Entry.y0"] + sent["Gemm1.y"]) / N_FRAMES
    assert data_per_frame == pytest.approx((1 - exit_rate) * (act + late), rel=0.01)
    total = sum(sent.values()) / N_FRAMES
    predicted = (1 - exit_rate) * (act + late) + 4 * len(ctrl)
    assert total == pytest.approx(predicted, rel=0.01)
    assert total < 0.6 * (act + late + 4 * len(ctrl))  # half the frames exit: about half the bytes


def test_threshold_one_never_exits_and_small_threshold_always_exits(tmp_path):
    case = Case(tmp_path)
    for thr, want in (("1", case.late), ("0.01", case.early)):
        out_dir = tmp_path / f"o{thr}"
        code, out, err = cli("import", case.model, "-o", str(out_dir), "--exit", f"relu1={case.head}:{thr}")
        assert code == 0, err
        res = tmp_path / f"y{thr}.npy"
        code, out, err = cli("run", str(out_dir / "m.vpr"), "-q", *case.params(str(res)))
        assert code == 0, out + err
        assert max_rel(np.load(res), np.stack(want)) <= 1e-5


@pytest.mark.parametrize("arg,message", [
    ("relux={head}:0.5", "has no node or tensor named 'relux'; did you mean"),
    ("relu2={head}:0.5", "the head's input 'h' is 1x4x8x8"),
    ("relu1={head}:1.5", "threshold 1.5 is outside (0, 1]"),
    ("relu1={head}:high", "threshold 'high' is not a number"),
    ("relu1={d}/nope.onnx", "nope.onnx: no such file"),
    ("relu1", "expected NODE=HEAD.onnx[:THRESHOLD]"),
    ("conv1={head}", "node 'conv1' is fused with the nodes after it into layer 'Conv1'"),
])
def test_bad_exit_arguments_are_clear_errors(arg, message, tmp_path):
    model, head = tmp_path / "m.onnx", tmp_path / "head.onnx"
    onnx.save(_model(), model)
    onnx.save(_head(), head)
    code, out, err = cli("import", str(model), "-o", str(tmp_path / "out"), "--exit",
                         arg.format(head=head, d=tmp_path))
    assert code == 2, out + err
    assert message in err and "Traceback" not in err
    assert not os.path.exists(tmp_path / "out" / "m.vpr")


def test_head_output_must_match_the_model_output(tmp_path):
    model, head = tmp_path / "m.onnx", tmp_path / "head.onnx"
    onnx.save(_model(), model)
    h = _head()
    h.graph.node[2].input[1] = "w7"
    h.graph.initializer.append(_w(np.random.default_rng(2), "w7", 7, 4))
    h.graph.initializer[1].CopyFrom(_w(np.random.default_rng(2), "b", 7))
    h.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 7
    onnx.save(h, head)
    code, out, err = cli("import", str(model), "-o", str(tmp_path / "out"), "--exit", f"relu1={head}")
    assert code == 2 and "the head outputs f32[1, 7] but the model outputs f32[1, 5]" in err, err


PRUNE = """graph g {{
  actor Src {{ out n: i32  out d: f32[2]  impl python "{py}:Src" }}
  dpg D {{
    actor Ca: ca {{ in n: i32  control out c0  control out c1  control out c2  impl python "{py}:Ca" }}
    actor Entry: da {{ control in c  in d: f32[2]  out x: f32[2] @ 0..1  impl python "{py}:Entry" }}
    actor Work: dpa {{ control in c  in x: f32[2] @ 0..1  out y: f32[2] @ 0..1  impl python "{py}:Work" }}
    actor Exit: da {{ control in c  in y: f32[2] @ 0..1  out z: f32[2]  impl python "{py}:Exit" }}
    fifo Ca.c0 -> Entry.c capacity 1
    fifo Ca.c1 -> Work.c capacity 1
    fifo Ca.c2 -> Exit.c capacity 1
    fifo Entry.x -> Work.x capacity 1
    fifo Work.y -> Exit.y capacity 1
  }}
  actor Sink {{ in z: f32[2]  impl python "{py}:Sink" }}
  fifo Src.n -> Ca.n capacity 1
  fifo Src.d -> Entry.d capacity 1
  fifo Exit.z -> Sink.z capacity 1
}}
"""

PRUNE_PY = """
import numpy as np
class Src:
    def __init__(self): self.k = 0
    def fire(self, ins, outs, atr):
        outs[0].view(np.int32)[0] = self.k % 2
        outs[1].view(np.float32)[0] = self.k
        self.k += 1
class Ca:
    def fire(self, ins, outs, atr): return int(ins[0].view(np.int32).ravel()[0])
class Entry:
    def fire(self, ins, outs, atr):
        if atr: outs[0][...] = ins[0]
class Work:
    def fire(self, ins, outs, atr):
        assert atr == 1, f"a pruned DPA fired with atr {atr}"
        outs[0][...] = ins[0]
class Exit:
    def fire(self, ins, outs, atr): outs[0][...] = ins[0] if atr else 0
class Sink:
    def fire(self, ins, outs, atr): pass
"""


def test_runtime_does_not_fire_a_dpa_pruned_by_atr_0(tmp_path):
    """A DPA whose every data port is variable-rate is not fired at atr 0 (its fire would be
    called with empty windows otherwise); the DAs still fire (R8)."""
    (tmp_path / "acts.py").write_text(PRUNE_PY)
    vpr = tmp_path / "g.vpr"
    vpr.write_text(PRUNE.format(py=tmp_path / "acts.py"))
    code, out, err = cli("run", str(vpr), "--iterations", "6")
    assert code == 0, out + err
    assert "Work   6 firings, 3 of them pruned" in out
    assert "chose atr 0 3 times, atr 1 3 times" in out


def test_fuzz_with_random_exit_patterns_agrees_with_the_proof(tmp_path):
    """`vrprune fuzz` replaces the CA's choices by random exits (atr 0 or 1) and runs every
    round twice: no deadlock, no overflow, the same tokens on every fifo (the proof holds)."""
    case = Case(tmp_path)
    vpr = case.imported()
    code, out, err = cli("fuzz", vpr, "--iterations", "40", "--round", "20", "--param", "Input.frames=0")
    assert code == 0 and "no findings" in out, out + err


def test_every_fifo_of_an_exit_graph_is_proved_at_capacity_1(tmp_path):
    """Every actor of an exit graph fires once a frame and moves at most one token a port, so
    capacity 1 everywhere is proved for every exit pattern (bufsize finds nothing smaller to
    refute: the language's least capacity already suffices)."""
    case = Case(tmp_path)
    vpr = case.imported()
    code, out, err = cli("bufsize", vpr, "--resize-all", "--write")
    assert code == 0, out + err
    text = open(vpr).read()
    assert "capacity 2" not in text and "capacity 1" in text
    code, out, err = cli("check", vpr)
    assert code == 0 and "for every atr sequence" in out, out + err


def test_mobilenetv2_exit_example_exits_the_documented_share(tmp_path, capsys):
    """examples/models/make_exit.py (at 32x32): the threshold it picks lets --share of the
    bundled frames exit; the graph is proved and the run prunes exactly those frames."""
    import importlib.util

    from helpers.procs import ROOT

    spec = importlib.util.spec_from_file_location("vrprune_example_make_exit",
                                                  os.path.join(ROOT, "examples", "models", "make_exit.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "mb"
    assert mod.main(["--out", str(out), "--size", "32", "--frames", "8", "--share", "0.25"]) == 0
    assert "2 of 8 frames exit early" in capsys.readouterr().out
    vpr = str(out / "mobilenetv2.vpr")
    assert cli("check", vpr)[0] == 0
    code, text, err = cli("run", vpr, "--param", f"Input.path={out / 'frames.npy'}")
    assert code == 0, text + err
    assert "chose atr 0 2 times, atr 1 6 times" in text
    assert os.path.isfile(out / "endpoint.map") and os.path.isfile(out / "server.map")


TILES = os.path.join(os.path.dirname(__file__), "..", "..", "specs", "exec", "exit_tiles.vpr")


def test_exit_dpg_with_too_small_a_capacity_is_refuted_and_its_exit_pattern_replays(tmp_path):
    """An exit whose rest takes the frame as 4 tiles (atr 0 exit, 4 continue) with a 2-token
    fifo: refuted; the counterexample's exit pattern (a frame that continues) deadlocks the
    run when replayed, while a pattern of exits alone runs through."""
    vpr = tmp_path / "tiles.vpr"  # specs/exec/exit_tiles.vpr (docs/early-exit.md)
    vpr.write_text(open(TILES).read())
    cx = tmp_path / "cx.json"
    code, out, err = cli("check", str(vpr), "--counterexample", str(cx))
    assert code == 1 and "Split.tile" in out, out + err
    doc = json.load(open(cx))
    assert doc["atr"]["rest"] and doc["atr"]["rest"][-1] == 4
    code, out, err = cli("run", str(vpr), "--replay", str(cx), "--stub-missing", "--iterations", "4", "--watchdog", "1")
    assert code == 1 and "deadlock" in out, out + err
    exits = tmp_path / "exits.json"
    exits.write_text(json.dumps({"atr": {"rest": [0]}}))
    code, out, err = cli("run", str(vpr), "--replay", str(exits), "--stub-missing", "--iterations", "4")
    assert code == 0 and "Work    4 firings, 4 of them pruned" in out, out + err


def test_explore_predicts_with_the_measured_or_given_exit_rate(tmp_path):
    """explore measures the exit rate in its fully local run (half of the bundled frames exit),
    or takes --exit-rate; the pruned DPAs' time scales with 1 - rate in the predictions, and
    results.json has every point predicted at exit rates 0 .. 1."""
    case = Case(tmp_path)
    vpr = case.imported()
    plat = os.path.join(os.path.dirname(__file__), "..", "..", "specs", "platform.vpr")
    common = ["--platform", plat, "--link", "ethernet100", "--frames", str(N_FRAMES), "--max-points", "4",
              "--predict-only", "--runner", "emulated", "--no-plot", "--param", f"Input.path={tmp_path / 'frames.npy'}"]
    code, out, err = cli("explore", vpr, *common, "--out", str(tmp_path / "s1"))
    assert code == 0, out + err
    doc = json.load(open(tmp_path / "s1" / "results.json"))
    assert doc["exit_rate"] == pytest.approx(case.pattern.count(0) / N_FRAMES)
    assert doc["exit_rate_source"] == "fully local run" and "exit rate: 0.50" in out
    code, out, err = cli("explore", vpr, *common, "--exit-rate", "0.25", "--out", str(tmp_path / "s2"))
    assert code == 0, out + err
    doc = json.load(open(tmp_path / "s2" / "results.json"))
    assert doc["exit_rate"] == 0.25 and doc["exit_rate_source"] == "--exit-rate"
    local = next(r for r in doc["rows"] if r["point"] == "local")
    by = local["predicted_by_exit_rate"]
    assert set(by) == {"0", "0.25", "0.5", "0.75", "1"}
    dpa_s = sum(doc["actor_times_s"][a] for a in ("Conv2", "GlobalAveragePool1", "Gemm1"))
    assert by["0"]["endpoint_s"] - by["1"]["endpoint_s"] == pytest.approx(dpa_s, rel=1e-6)
    assert local["predicted"]["endpoint_s"] == pytest.approx(by["0.25"]["endpoint_s"])
    assert cli("explore", vpr, *common, "--exit-rate", "1.5", "--out", str(tmp_path / "s3"))[0] == 2


def test_exit_with_fork_keeps_the_copier_of_the_exit_tensor_outside_the_dpg(tmp_path):
    """With --fork the exit tensor (read by the head and the rest) goes through a Fork actor,
    which stays before the DPG; the results are the same."""
    case = Case(tmp_path)
    vpr = case.imported("--fork")
    from vrprune import load

    g = load(vpr)
    fork = next(a for a in g.actors if a.name.startswith("Fork"))
    assert fork.dpg is None
    assert cli("check", vpr)[0] == 0
    res = tmp_path / "y.npy"
    code, out, err = cli("run", vpr, "-q", *case.params(str(res)))
    assert code == 0, out + err
    assert max_rel(np.load(res), case.expected) <= 1e-5
