"""`vrprune import`: ONNX models built here with onnx.helper are imported, proved, run and
compared with onnxruntime's whole-model inference (max relative difference 1e-5)."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from vrprune.cli import main_with  # noqa: E402

OPSET = 17
IR_VERSION = 8  # onnx.helper writes its newest IR version, which older onnxruntime releases refuse


# ----------------------------------------------------------------------------- model builders

class _B:
    """A tiny graph builder: seeded weights, named nodes."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list = []
        self.inits: list = []
        self.k = 0

    def w(self, *shape: int, scale: float = 0.2, positive: bool = False) -> str:
        self.k += 1
        name = f"w{self.k}"
        a = self.rng.standard_normal(shape).astype(np.float32) * scale
        if positive:
            a = np.abs(a) + 0.5
        self.inits.append(numpy_helper.from_array(a, name))
        return name

    def node(self, op: str, ins: list[str], n_out: int = 1, name: str | None = None, **attrs) -> list[str]:
        self.k += 1
        name = name or f"{op.lower()}_{self.k}"
        outs = [f"{name}_out{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, ins, outs, name=name, **attrs))
        return outs

    def conv_bn_relu(self, x: str, cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1,
                     act: str = "Relu") -> str:
        p = k // 2
        (y,) = self.node("Conv", [x, self.w(cout, cin // groups, k, k)], pads=[p] * 4, strides=[stride] * 2,
                         group=groups)
        (y,) = self.node("BatchNormalization", [y, self.w(cout, positive=True), self.w(cout), self.w(cout),
                                                self.w(cout, positive=True)])
        if act == "Relu":
            (y,) = self.node("Relu", [y])
        elif act == "Clip":
            lo = self.const(np.float32(0.0))
            hi = self.const(np.float32(6.0))
            (y,) = self.node("Clip", [y, lo, hi])
        elif act == "SiLU":
            (s,) = self.node("Sigmoid", [y])
            (y,) = self.node("Mul", [y, s])
        return y

    def const(self, value: np.ndarray) -> str:
        self.k += 1
        name = f"c{self.k}"
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def model(self, inputs: list[tuple[str, list]], outputs: list[tuple[str, list]],
              in_type: int = TensorProto.FLOAT) -> onnx.ModelProto:
        g = helper.make_graph(self.nodes, "test",
                              [helper.make_tensor_value_info(n, in_type, s) for n, s in inputs],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
                              self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
        onnx.checker.check_model(m)
        return m


def conv_chain() -> onnx.ModelProto:
    b = _B(1)
    y = b.conv_bn_relu("x", 3, 8)
    y = b.conv_bn_relu(y, 8, 8, groups=8, act="Clip")  # depthwise + ReLU6
    y = b.conv_bn_relu(y, 8, 16, k=1, stride=2, act="SiLU")
    (y,) = b.node("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])
    (out,) = b.node("Identity", [y], name="out")
    b.nodes[-1].output[0] = "y"
    del out
    return b.model([("x", [1, 3, 16, 16])], [("y", [1, 16, 4, 4])])


def residual_block() -> onnx.ModelProto:
    b = _B(2)
    x = b.conv_bn_relu("x", 3, 8)
    y = b.conv_bn_relu(x, 8, 8)
    (y,) = b.node("Conv", [y, b.w(8, 8, 3, 3)], pads=[1] * 4)
    (s,) = b.node("Add", [x, y], name="residual_add")
    (r,) = b.node("Relu", [s])
    (g,) = b.node("GlobalAveragePool", [r])
    (f,) = b.node("Flatten", [g])
    (m,) = b.node("MatMul", [f, b.w(8, 5)])
    b.nodes.append(helper.make_node("Add", [m, b.w(5)], ["y"], name="bias"))
    return b.model([("x", [1, 3, 12, 12])], [("y", [1, 5])])


def branch_concat() -> onnx.ModelProto:
    b = _B(3)
    x = b.conv_bn_relu("x", 3, 6)
    l1 = b.conv_bn_relu(x, 6, 4, k=1)
    l2 = b.conv_bn_relu(x, 6, 4, k=3)
    (p,) = b.node("AveragePool", [x], kernel_shape=[3, 3], strides=[1, 1], pads=[1] * 4)
    l3 = b.conv_bn_relu(p, 6, 4, k=1)
    (c,) = b.node("Concat", [l1, l2, l3], axis=1, name="concat")
    (g,) = b.node("GlobalAveragePool", [c])
    (f,) = b.node("Flatten", [g])
    b.nodes.append(helper.make_node("Gemm", [f, b.w(3, 12), b.w(3)], ["y"], name="fc", transB=1))
    return b.model([("x", [1, 3, 10, 10])], [("y", [1, 3])])


def two_in_two_out() -> onnx.ModelProto:
    b = _B(4)
    a = b.conv_bn_relu("image", 3, 4)
    (g,) = b.node("GlobalAveragePool", [a])
    (f,) = b.node("Flatten", [g])
    (h,) = b.node("Gemm", ["meta", b.w(6, 4)], transB=0)
    (s,) = b.node("Add", [f, h])
    b.nodes.append(helper.make_node("Softmax", [s], ["probs"], name="softmax", axis=1))
    b.nodes.append(helper.make_node("Sigmoid", [f], ["feat"], name="feat_sigmoid"))
    return b.model([("image", [1, 3, 8, 8]), ("meta", [1, 6])], [("probs", [1, 4]), ("feat", [1, 4])])


MODELS = {"conv_chain": conv_chain, "residual": residual_block, "branch_concat": branch_concat,
          "two_in_two_out": two_in_two_out}


# ----------------------------------------------------------------------------- helpers

def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main_with(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def frames_for(model: onnx.ModelProto, n: int, seed: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {i.name: rng.standard_normal((n, *[d.dim_value for d in i.type.tensor_type.shape.dim])).astype(np.float32)
            for i in model.graph.input}


def reference(path: str, frames: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    n = len(next(iter(frames.values())))
    res = [sess.run(None, {k: v[f] for k, v in frames.items()}) for f in range(n)]
    return {o.name: np.stack([r[k] for r in res]) for k, o in enumerate(sess.get_outputs())}


def max_rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))


def import_model(model: onnx.ModelProto, tmp_path, *extra: str, name: str = "m") -> str:
    path = str(tmp_path / f"{name}.onnx")
    onnx.save(model, path)
    code, out, err = cli("import", path, "-o", str(tmp_path / "out"), *extra)
    assert code == 0, err
    vpr = str(tmp_path / "out" / f"{name}.vpr")
    assert os.path.isfile(vpr), out
    return vpr


def io_actor_names(model: onnx.ModelProto) -> tuple[dict[str, str], dict[str, str]]:
    ins = [i.name for i in model.graph.input]
    outs = [o.name for o in model.graph.output]
    return ({t: "Input" if len(ins) == 1 else t for t in ins}, {t: "Output" if len(outs) == 1 else t for t in outs})


def run_and_compare(model: onnx.ModelProto, vpr: str, tmp_path, n: int = 3, extra: tuple[str, ...] = ()) -> None:
    onnx_path = str(tmp_path / "ref.onnx")
    onnx.save(model, onnx_path)
    frames = frames_for(model, n)
    in_names, out_names = io_actor_names(model)
    params: list[str] = []
    for t, arr in frames.items():
        p = str(tmp_path / f"in_{t}.npy")
        np.save(p, arr)
        params += ["--param", f"{in_names[t]}.path={p}"]
    for t, a in out_names.items():
        params += ["--param", f"{a}.path={tmp_path / f'out_{t}.npy'}"]
    code, out, err = cli("run", vpr, "-q", *params, *extra)
    assert code == 0, err + out
    ref = reference(onnx_path, frames)
    for t in out_names:
        got = np.load(tmp_path / f"out_{t}.npy")
        assert got.shape == ref[t].shape
        assert max_rel(got, ref[t]) <= 1e-5, t


# ----------------------------------------------------------------------------- tests

@pytest.mark.parametrize("name", sorted(MODELS))
def test_imported_model_is_proved_and_matches_onnxruntime(name, tmp_path):
    model = MODELS[name]()
    vpr = import_model(model, tmp_path, name=name)
    code, out, err = cli("check", vpr)
    assert code == 0, out + err
    assert cli("fmt", "--check", vpr)[0] == 0  # written in the canonical layout
    run_and_compare(model, vpr, tmp_path)


@pytest.mark.parametrize("group", ["none", "2", "1"])
def test_grouping_keeps_the_results(group, tmp_path):
    model = residual_block()
    vpr = import_model(model, tmp_path, "--group", group)
    from vrprune import load

    g = load(vpr)
    layers = [a for a in g.actors if a.name not in ("Input", "Output")]
    n_nodes = len(model.graph.node)
    if group == "none":
        assert len(layers) == n_nodes
    else:
        assert len(layers) == int(group)
    assert cli("check", vpr)[0] == 0
    run_and_compare(model, vpr, tmp_path, n=2)


@pytest.mark.parametrize("balance", ["flops", "time"])
def test_balance_choices_keep_the_results(balance, tmp_path):
    model = branch_concat()
    vpr = import_model(model, tmp_path, "--group", "3", "--balance", balance)
    assert cli("check", vpr)[0] == 0
    run_and_compare(model, vpr, tmp_path, n=2)


def test_balanced_runs_minimise_the_largest_run():
    import itertools

    from vrprune.onnximport._analysis import _balanced_runs

    rng = np.random.default_rng(3)
    for _ in range(40):
        w = [int(x) for x in rng.integers(1, 50, rng.integers(1, 8))]
        n = int(rng.integers(1, 5))
        runs = _balanced_runs(w, n)
        assert runs[0][0] == 0 and runs[-1][1] == len(w) and all(a[1] == b[0] for a, b in itertools.pairwise(runs))
        got = max(sum(w[s:e]) for s, e in runs)
        k = min(n, len(w))
        best = min(max(sum(w[s:e]) for s, e in zip((0, *cuts), (*cuts, len(w))))
                   for cuts in itertools.combinations(range(1, len(w)), k - 1))
        assert got == best


def test_layers_fuse_elementwise_followers(tmp_path):
    vpr = import_model(conv_chain(), tmp_path)
    from vrprune import load

    g = load(vpr)
    names = [a.name for a in g.actors]
    # Conv+BN+Relu, Conv+BN+Clip, Conv+BN+Sigmoid+Mul, MaxPool+Identity
    assert names == ["Input", "Conv1", "Conv2", "Conv3", "MaxPool1", "Output"]
    with open(vpr, encoding="utf-8") as f:
        text = f.read()
    assert "(BatchNormalization)" in text and "(Sigmoid)" in text and "(Clip)" in text  # node names in comments
    assert ".npz" in text and "Conv" in text


def test_fanout_gets_a_port_per_consumer(tmp_path):
    vpr = import_model(branch_concat(), tmp_path)
    from vrprune import load

    g = load(vpr)
    first = g.actor("Conv1")
    assert len(first.outputs) == 3  # three branches read the stem's output
    srcs = [(f.src.actor, f.src.port) for f in g.fifos]
    assert len(srcs) == len(set(srcs))


def test_run_from_another_directory_finds_the_weights(tmp_path, monkeypatch):
    model = conv_chain()
    vpr = import_model(model, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run_and_compare(model, os.path.relpath(vpr), tmp_path, n=2)


def test_random_frames_without_a_path(tmp_path):
    vpr = import_model(conv_chain(), tmp_path)
    out = tmp_path / "y.npy"
    code, _, err = cli("run", vpr, "-q", "--param", "Input.frames=3", "--param", f"Output.path={out}")
    assert code == 0, err
    assert np.load(out).shape == (3, 1, 16, 4, 4)


def test_bufsize_sizes_the_imported_fifos(tmp_path):
    vpr = import_model(residual_block(), tmp_path)
    code, out, err = cli("bufsize", vpr, "--resize-all")
    assert code == 0, out + err
    assert "Input.y" in out


def test_symbolic_dimension_is_named_and_shape_fixes_it(tmp_path):
    model = conv_chain()
    dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    dim.Clear()
    dim.dim_param = "batch"
    path = str(tmp_path / "sym.onnx")
    onnx.save(model, path)
    code, _, err = cli("import", path, "-o", str(tmp_path / "o"))
    assert code == 2
    assert "'x'" in err and "'batch'" in err and "--shape x=" in err and "Traceback" not in err
    code, _, err = cli("import", path, "-o", str(tmp_path / "o"), "--shape", "x=1x3x16x16")
    assert code == 0, err
    assert cli("check", str(tmp_path / "o" / "sym.vpr"))[0] == 0
    code, _, err = cli("import", path, "-o", str(tmp_path / "o"), "--shape", "nope=1x3")
    assert code == 2 and "no input 'nope'" in err and "x" in err
    code, _, err = cli("import", path, "-o", str(tmp_path / "o"), "--shape", "x=1x3xAx16")
    assert code == 2 and "NAME=D0xD1" in err


def test_unsupported_operator_names_the_node(tmp_path):
    b = _B(0)
    y = b.conv_bn_relu("x", 3, 4)
    b.nodes.append(helper.make_node("NonZero", [y], ["y"], name="find_nonzero"))
    g = helper.make_graph(b.nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.INT64, None)], b.inits)
    path = str(tmp_path / "nz.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION), path)
    code, _, err = cli("import", path, "-o", str(tmp_path / "o"))
    assert code == 2
    assert "find_nonzero" in err and "NonZero" in err and "docs/import.md" in err


def test_not_an_onnx_file(tmp_path):
    p = tmp_path / "junk.onnx"
    p.write_bytes(b"\x00\xffnot a model at all" * 10)
    code, _, err = cli("import", str(p), "-o", str(tmp_path / "o"))
    assert code == 2 and "junk.onnx" in err and "Traceback" not in err
    code, _, err = cli("import", str(tmp_path / "missing.onnx"))
    assert code == 2 and "no such file" in err
    # a folder or a named pipe is not a missing file, and a pipe must not block the import
    (tmp_path / "folder.onnx").mkdir()
    os.mkfifo(tmp_path / "pipe.onnx")
    for name in ("folder.onnx", "pipe.onnx"):
        code, _, err = cli("import", str(tmp_path / name), "-o", str(tmp_path / "o2"))
        assert code == 2 and f"{name}: not a regular file" in err, err


def test_compile_refuses_onnxruntime_actors(tmp_path):
    vpr = import_model(conv_chain(), tmp_path)
    code, _, err = cli("compile", vpr, "-o", str(tmp_path / "prog"))
    assert code == 2
    assert "onnxruntime actors cannot be compiled to C" in err


def test_bad_input_file_is_a_clear_error(tmp_path):
    vpr = import_model(conv_chain(), tmp_path)
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((2, 5), np.float32))
    code, _, err = cli("run", vpr, "-q", "--param", f"Input.path={bad}")
    assert code != 0
    assert "(frames, 1, 3, 16, 16)" in err and "Traceback" not in err


def torchvision_patterns() -> onnx.ModelProto:
    """Squeeze-and-excitation with HardSigmoid (MobileNetV3), a channel shuffle (ShuffleNet:
    Reshape, Transpose, Reshape, Split into two outputs), a flatten whose shape is computed
    with Shape/Gather/Unsqueeze/Concat (folded at import), ReduceMean, and an ArgMax (int64)
    model output."""
    b = _B(6)
    x = b.conv_bn_relu("x", 3, 8)
    (p,) = b.node("GlobalAveragePool", [x])
    (s,) = b.node("Conv", [p, b.w(4, 8, 1, 1)])
    (s,) = b.node("Relu", [s])
    (s,) = b.node("Conv", [s, b.w(8, 4, 1, 1)])
    (s,) = b.node("HardSigmoid", [s], alpha=1 / 6, beta=0.5)
    (x,) = b.node("Mul", [x, s], name="se_scale")
    (r,) = b.node("Reshape", [x, b.const(np.array([1, 2, 4, 6, 6], np.int64))])
    (r,) = b.node("Transpose", [r], perm=[0, 2, 1, 3, 4])
    (r,) = b.node("Reshape", [r, b.const(np.array([1, 8, 6, 6], np.int64))])
    left, right = b.node("Split", [r, b.const(np.array([4, 4], np.int64))], n_out=2, axis=1, name="split")
    right = b.conv_bn_relu(right, 4, 4, k=1)
    (c,) = b.node("Concat", [left, right], axis=1)
    (m,) = b.node("ReduceMean", [c], axes=[2, 3], keepdims=0)
    (shp,) = b.node("Shape", [m])
    (n0,) = b.node("Gather", [shp, b.const(np.array(0, np.int64))], axis=0)
    (n0,) = b.node("Unsqueeze", [n0, b.const(np.array([0], np.int64))])
    (newshape,) = b.node("Concat", [n0, b.const(np.array([-1], np.int64))], axis=0)
    (f,) = b.node("Reshape", [m, newshape])
    b.nodes.append(helper.make_node("Gemm", [f, b.w(5, 8), b.w(5)], ["y"], name="fc", transB=1))
    b.nodes.append(helper.make_node("ArgMax", ["y"], ["cls"], name="argmax", axis=1, keepdims=0))
    g = helper.make_graph(b.nodes, "tv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5]),
                           helper.make_tensor_value_info("cls", TensorProto.INT64, [1])], b.inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    onnx.checker.check_model(m)
    return m


def test_torchvision_patterns(tmp_path):
    model = torchvision_patterns()
    vpr = import_model(model, tmp_path, name="tv")
    assert cli("check", vpr)[0] == 0
    from vrprune import load

    g = load(vpr)
    assert not any("Shape" in a.name or "Gather" in a.name for a in g.actors)  # folded into a constant
    split = next(a for a in g.actors if a.name.startswith("Split"))
    assert len(split.outputs) == 2  # one port per output tensor
    assert g.actor("cls").inputs[0].token.dtype == "i64"
    onnx.save(model, tmp_path / "ref.onnx")
    frames = frames_for(model, 2)
    np.save(tmp_path / "x.npy", frames["x"])
    code, _, err = cli("run", vpr, "-q", "--param", f"Input.path={tmp_path / 'x.npy'}",
                       "--param", f"y.path={tmp_path / 'y.npy'}", "--param", f"cls.path={tmp_path / 'cls.npy'}")
    assert code == 0, err
    ref = reference(str(tmp_path / "ref.onnx"), frames)
    assert max_rel(np.load(tmp_path / "y.npy"), ref["y"]) <= 1e-5
    assert np.array_equal(np.load(tmp_path / "cls.npy"), ref["cls"])


def test_fuzz_finds_nothing_in_an_imported_graph(tmp_path):
    vpr = import_model(residual_block(), tmp_path)
    code, out, err = cli("fuzz", vpr, "--iterations", "2", "--delays")
    assert code == 0, out + err
    assert "no findings" in out


def test_unused_input_scalar_output_and_input_passed_through(tmp_path):
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], name="sum", keepdims=0),
             helper.make_node("Relu", ["s"], ["y"], name="relu"),
             helper.make_node("Identity", ["x"], ["xo"], name="ident")]
    g = helper.make_graph(nodes, "edge", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4]),
                                          helper.make_tensor_value_info("unused", TensorProto.FLOAT, [1, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, []),
                           helper.make_tensor_value_info("xo", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    path = str(tmp_path / "edge.onnx")
    onnx.save(model, path)
    code, _, err = cli("import", path, "-o", str(tmp_path / "out"))
    assert code == 0, err
    assert "model input 'unused' is read by nothing" in err
    vpr = str(tmp_path / "out" / "edge.vpr")
    assert cli("check", vpr)[0] == 0
    x = np.arange(12, dtype=np.float32).reshape(3, 1, 4) - 5
    np.save(tmp_path / "x.npy", x)
    code, _, err = cli("run", vpr, "-q", "--param", f"Input.path={tmp_path / 'x.npy'}",
                       "--param", f"y.path={tmp_path / 'y.npy'}", "--param", f"xo.path={tmp_path / 'xo.npy'}")
    assert code == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), np.maximum(x.sum(axis=(1, 2)), 0))
    np.testing.assert_array_equal(np.load(tmp_path / "xo.npy"), x)


def test_cores_chooses_runs_and_threads(tmp_path):
    import itertools

    from vrprune.onnximport._analysis import SPEEDUP_EXPONENT, _runs_for_cores

    def period(w, runs, threads):
        return max(sum(w[s:e]) / t ** SPEEDUP_EXPONENT for (s, e), t in zip(runs, threads))

    rng = np.random.default_rng(4)
    for _ in range(25):  # against every split and thread assignment
        w = [int(x) for x in rng.integers(1, 40, rng.integers(1, 6))]
        cores = int(rng.integers(1, 5))
        runs, threads = _runs_for_cores(w, cores)
        assert runs[0][0] == 0 and runs[-1][1] == len(w) and all(a[1] == b[0] for a, b in itertools.pairwise(runs))
        assert sum(threads) <= cores and min(threads) >= 1
        best = min(period(w, list(zip((0, *cuts), (*cuts, len(w)))), ts)
                   for k in range(1, min(cores, len(w)) + 1)
                   for cuts in itertools.combinations(range(1, len(w)), k - 1)
                   for ts in itertools.product(range(1, cores + 1), repeat=k) if sum(ts) <= cores)
        assert period(w, runs, threads) <= best * (1 + 1e-9)
    model = branch_concat()
    vpr = import_model(model, tmp_path, "--cores", "3")
    from vrprune import load

    g = load(vpr)
    layers = [a for a in g.actors if a.name.startswith("Group")]
    assert 1 <= len(layers) <= 3 and sum(int(a.param("threads")) for a in layers) <= 3
    assert cli("check", vpr)[0] == 0
    run_and_compare(model, vpr, tmp_path, n=2)
    code, _, err = cli("import", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "o2"), "--cores", "2", "--group", "2")
    assert code == 2 and "--cores" in err


def test_random_frames_without_end_stop_at_the_iterations(tmp_path):
    vpr = import_model(conv_chain(), tmp_path)
    out = tmp_path / "y.npy"
    code, _, err = cli("run", vpr, "-q", "--param", "Input.frames=0", "--iterations", "11",
                       "--param", f"Output.path={out}")
    assert code == 0, err
    y = np.load(out)
    assert y.shape == (11, 1, 16, 4, 4)
    np.testing.assert_array_equal(y[8], y[0])  # a pool of 8 distinct frames, sent in turn
    assert not np.array_equal(y[1], y[0])
    code, _, err = cli("run", vpr, "-q", "--param", "Input.frames=-1")
    assert code != 0 and "frames must be a whole number >= 0" in err


def test_fork_sends_a_tensor_with_several_readers_once_over_a_cut(tmp_path):
    model = branch_concat()  # the stem's output has three readers
    vpr = import_model(model, tmp_path, "--fork")
    assert cli("check", vpr)[0] == 0
    from vrprune import load
    from vrprune.explore import Precedence

    g = load(vpr)
    fork = g.actor("Fork1")
    assert fork is not None and len(fork.inputs) == 1 and len(fork.outputs) == 3
    for a in g.actors:  # every other actor writes each tensor to one port
        if a.name != "Fork1":
            assert len(a.outputs) <= 1, a.name
    stem_bytes = g.actor("Conv1").outputs[0].token.nbytes
    cuts = [p.cut for p in Precedence(g).points() if "Conv1" in p.endpoint and "Fork1" not in p.endpoint]
    assert cuts and all(len(c) == 1 and c[0].src == "Conv1" and c[0].bytes_per_iteration == stem_bytes for c in cuts)
    run_and_compare(model, vpr, tmp_path, n=2)
