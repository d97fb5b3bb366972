"""The bundled models of examples/models (MobileNetV2, ResNet-18; at a reduced resolution to
keep CI short) imported, proved and run in one process and split over two processes on
loopback; outputs equal onnxruntime's whole-model inference (max relative difference 1e-5)."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from helpers.procs import ROOT, finish, free_base, run_cmd, start, write_mappings  # noqa: E402
from test_import import (  # noqa: E402
    cli,
    frames_for,
    import_model,
    max_rel,
    reference,
    residual_block,
    two_in_two_out,
)


def _make_models():
    spec = importlib.util.spec_from_file_location("vrprune_example_make_models",
                                                  os.path.join(ROOT, "examples", "models", "make_models.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


MAKE = _make_models()


def _inputs(model, tmp_path, n: int) -> tuple[dict[str, np.ndarray], list[str]]:
    frames = frames_for(model, n)
    names = [i.name for i in model.graph.input]
    params = []
    for t, arr in frames.items():
        p = tmp_path / f"in_{t}.npy"
        np.save(p, arr)
        params += ["--param", f"{'Input' if len(names) == 1 else t}.path={p}"]
    return frames, params


@pytest.mark.parametrize("name,size", [("mobilenetv2", 64), ("resnet18", 32)])
def test_bundled_model_matches_onnxruntime(name, size, tmp_path):
    model = MAKE.MODELS[name](size)
    vpr = import_model(model, tmp_path, name=name)
    code, out, err = cli("check", vpr)
    assert code == 0, out + err
    frames, params = _inputs(model, tmp_path, 2)
    out_npy = tmp_path / "y.npy"
    code, out, err = cli("run", vpr, "-q", *params, "--param", f"Output.path={out_npy}")
    assert code == 0, out + err
    onnx.save(model, tmp_path / "ref.onnx")
    ref = reference(str(tmp_path / "ref.onnx"), frames)["logits"]
    got = np.load(out_npy)
    assert got.shape == ref.shape == (2, 1, 1000)
    assert max_rel(got, ref) <= 1e-5


def test_mobilenetv2_layer_table():
    model = MAKE.mobilenetv2(224)
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    adds = [n for n in model.graph.node if n.op_type == "Add"]
    assert len(convs) == 52 and len(adds) == 10  # 1 + 17 bottlenecks (16 with expansion) x 3 - 1 + 1
    n_params = sum(int(np.prod(t.dims)) for t in model.graph.initializer if "bn" not in t.name and "clip" not in t.name)
    assert 3.4e6 < n_params < 3.6e6  # MobileNetV2 1.0: 3.47 M weights (BN excluded)


def _split_run(vpr: str, placement: dict[str, str] | None, tmp_path, params: list[str]) -> None:
    """Server and endpoint processes; ``placement`` None: the example's shipped mappings."""
    if placement is None:
        here = os.path.join(ROOT, "examples", "models")
        maps = {h: os.path.join(here, f"mobilenetv2_{n}.map")
                for h, n in (("server", "server"), ("endpoint", "client"))}
    else:
        maps = write_mappings(tmp_path, placement)
    base = str(free_base())
    srv = start(run_cmd(vpr, maps["server"], "--port-base", base, *params), tmp_path)
    ep = start(run_cmd(vpr, maps["endpoint"], "--port-base", base, *params), tmp_path)
    for rc, so, se in finish([srv, ep], timeout=120):
        assert rc == 0, so + se


@pytest.mark.parametrize("which", ["residual", "two_in_two_out", "mobilenetv2"])
def test_split_over_two_processes_matches_onnxruntime(which, tmp_path):
    """The first half of the actors on the endpoint; MobileNetV2 (at 32x32) with the example's
    mapping files (examples/models/mobilenetv2_client.map and _server.map)."""
    model = {"residual": residual_block, "two_in_two_out": two_in_two_out,
             "mobilenetv2": lambda: MAKE.mobilenetv2(32)}[which]()
    vpr = import_model(model, tmp_path, name=which)
    from vrprune import load

    g = load(vpr)
    names = [a.name for a in g.actors]  # topological order: the first half on the endpoint
    half = len(names) // 2
    placement = {a: ("endpoint" if i < half else "server") for i, a in enumerate(names)}
    frames, params = _inputs(model, tmp_path, 2)
    outs = [o.name for o in model.graph.output]
    sinks = {t: ("Output" if len(outs) == 1 else t) for t in outs}
    for t, a in sinks.items():
        params += ["--param", f"{a}.path={tmp_path / f'out_{t}.npy'}"]
    _split_run(vpr, None if which == "mobilenetv2" else placement, tmp_path, params)
    onnx.save(model, tmp_path / "ref.onnx")
    ref = reference(str(tmp_path / "ref.onnx"), frames)
    for t in outs:
        got = np.load(tmp_path / f"out_{t}.npy")
        assert got.shape == ref[t].shape
        assert max_rel(got, ref[t]) <= 1e-5


def test_split_hosts_open_only_their_own_files(tmp_path):
    """docs/import.md: the same relative --param paths on both hosts; the endpoint reads the
    frames in its folder, the server writes the outputs in its own."""
    model = residual_block()
    vpr = import_model(model, tmp_path, name="res")
    from vrprune import load

    names = [a.name for a in load(vpr).actors]
    placement = {a: ("endpoint" if i < 3 else "server") for i, a in enumerate(names)}
    maps, base = write_mappings(tmp_path, placement), str(free_base())
    ep_dir, srv_dir = tmp_path / "ep", tmp_path / "srv"
    ep_dir.mkdir()
    srv_dir.mkdir()
    frames = frames_for(model, 2)
    np.save(ep_dir / "x.npy", frames["x"])
    common = ["--param", "Input.path=x.npy", "--param", "Output.path=y.npy"]
    srv = start(run_cmd(vpr, maps["server"], "--port-base", base, *common), srv_dir)
    ep = start(run_cmd(vpr, maps["endpoint"], "--port-base", base, *common), ep_dir)
    for rc, so, se in finish([srv, ep], timeout=120):
        assert rc == 0, so + se
    assert not (ep_dir / "y.npy").exists()
    onnx.save(model, tmp_path / "ref.onnx")
    ref = reference(str(tmp_path / "ref.onnx"), frames)["y"]
    assert max_rel(np.load(srv_dir / "y.npy"), ref) <= 1e-5
