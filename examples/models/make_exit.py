"""MobileNetV2 with an early exit after block 6 (docs/early-exit.md), split endpoint/server.

Writes into OUT (default: examples/models/mobilenetv2_exit/):

* mobilenetv2.onnx (make_models.py's, seeded weights) and exit1_head.onnx: global average
  pooling, Flatten and a 1000-way Gemm on the output of /features/6/Add (1x32x28x28 at 224x224),
  seeded random weights;
* frames.npy: the bundled inputs, FRAMES seeded random frames;
* the import with `--exit /features/6/Add=exit1_head.onnx:T`, T chosen so that SHARE of the
  bundled frames exit early (the head's confidences, max softmax probability, are computed here
  with onnxruntime and T is put midway between two neighbouring ones);
* endpoint.map and server.map: the network after the exit (the DPG's DPAs) on the server,
  everything else on the endpoint (specs/platform.vpr, loopback).

    python examples/models/make_exit.py [--size 224] [--share 0.5] [--frames 16]

``--tiny-head`` writes only examples/models/tinycnn_exit_head.onnx, the small exit head that
docs/early-exit.md attaches to tinycnn.onnx after /block/Relu (kept in the repository).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
NODE = "/features/6/Add"  # block 6's residual Add: after it one tensor alone carries on (block 7 has none)


def _make_models():
    spec = importlib.util.spec_from_file_location("vrprune_example_make_models", os.path.join(HERE, "make_models.py"))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def head(channels: int, size: int, classes: int = 1000, seed: int = 1) -> onnx.ModelProto:
    """GlobalAveragePool -> Flatten -> Gemm: an exit head on a channels x size x size tensor."""
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((classes, channels)) * np.sqrt(8.0 / channels)).astype(np.float32)
    b = (0.01 * rng.standard_normal(classes)).astype(np.float32)
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["g"], name="pool"),
             helper.make_node("Flatten", ["g"], ["f"], name="flatten", axis=1),
             helper.make_node("Gemm", ["f", "w", "b"], ["logits"], name="fc", transB=1)]
    g = helper.make_graph(nodes, "exit1_head",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, size, size])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, classes])],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(m)
    return m


def tiny_head() -> onnx.ModelProto:
    """The exit head of tinycnn.onnx after /block/Relu (1x16x16x16): pooling and a 10-way Gemm."""
    m = head(16, 16, classes=10, seed=3)
    m.graph.name = "tinycnn_exit_head"
    return m


def confidences(model: onnx.ModelProto, head_model: onnx.ModelProto, frames: np.ndarray) -> np.ndarray:
    """The head's max softmax probability for each frame (onnxruntime)."""
    import onnxruntime as ort

    from vrprune.onnximport.actors import confidence

    trunk = onnx.ModelProto()
    trunk.CopyFrom(model)
    t = f"{NODE}_output_0"
    trunk.graph.output.append(helper.make_tensor_value_info(t, TensorProto.FLOAT, None))
    s = ort.InferenceSession(trunk.SerializeToString(), providers=["CPUExecutionProvider"])
    h = ort.InferenceSession(head_model.SerializeToString(), providers=["CPUExecutionProvider"])
    out = []
    for f in frames:
        act = s.run([t], {"input": f})[0]
        out.append(confidence(h.run(None, {"x": act})[0]))
    return np.array(out)


def threshold_for(conf: np.ndarray, share: float) -> float:
    """A threshold that lets round(share x frames) of the frames exit (confidence >= it)."""
    c = np.sort(conf)[::-1]
    k = int(round(share * len(c)))
    if k <= 0:
        return 1.0
    if k >= len(c):
        return float(c[-1]) * 0.99
    return float((c[k - 1] + c[k]) / 2)


def write_maps(vpr: str, out: str) -> None:
    from vrprune import load

    g = load(vpr)
    rest = {a.name for a in g.actors if a.dpg and a.kind.value == "dpa"}
    plat = os.path.relpath(os.path.join(HERE, "..", "..", "specs", "platform.vpr"), out)
    for host in ("endpoint", "server"):
        lines = [f"// {os.path.basename(vpr)} split after the early exit: the {len(rest)} actors after it (DPG "
                 f"after_exit1) on the server, the rest on the endpoint. Written by make_exit.py.",
                 f'import "{plat}"', "", f"mapping exit_{host} on lab.{host} {{"]
        width = max(len(a.name) for a in g.actors)
        for i, a in enumerate(g.actors):
            h = "server" if a.name in rest else "endpoint"
            lines.append(f"  {a.name:<{width}} -> {h}.core{i % 2}")
        lines.append("}")
        with open(os.path.join(out, f"{host}.map"), "w") as f:
            f.write("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "mobilenetv2_exit"), help="folder (default: %(default)s)")
    ap.add_argument("--size", type=int, default=224, help="input height and width (default 224)")
    ap.add_argument("--share", type=float, default=0.5, help="share of the bundled frames that exit (default 0.5)")
    ap.add_argument("--frames", type=int, default=16, help="bundled frames (default 16)")
    ap.add_argument("--tiny-head", action="store_true", help="write only tinycnn_exit_head.onnx (next to this file)")
    args = ap.parse_args(argv)
    if args.tiny_head:
        path = os.path.join(HERE, "tinycnn_exit_head.onnx")
        onnx.save(tiny_head(), path)
        print(f"wrote {path}")
        return 0
    if not 0 <= args.share <= 1:
        ap.error("--share must lie in [0, 1]")
    os.makedirs(args.out, exist_ok=True)
    model = _make_models().mobilenetv2(args.size)
    size = (args.size + 1) // 2  # /features/0 has stride 2, blocks 2 and 4 too: /8 at block 6
    size = (((size + 1) // 2) + 1) // 2
    head_model = head(32, size)
    frames = np.random.default_rng(7).standard_normal((args.frames, 1, 3, args.size, args.size)).astype(np.float32)
    conf = confidences(model, head_model, frames)
    thr = threshold_for(conf, args.share)
    paths = {n: os.path.join(args.out, n) for n in ("mobilenetv2.onnx", "exit1_head.onnx", "frames.npy")}
    onnx.save(model, paths["mobilenetv2.onnx"])
    onnx.save(head_model, paths["exit1_head.onnx"])
    np.save(paths["frames.npy"], frames)
    n_exit = int((conf >= thr).sum())
    print(f"head confidences of the {len(conf)} bundled frames: {np.round(np.sort(conf), 4).tolist()}")
    print(f"threshold {thr:.6g}: {n_exit} of {len(conf)} frames exit early")
    subprocess.run([sys.executable, "-m", "vrprune", "import", paths["mobilenetv2.onnx"], "-o", args.out,
                    "--exit", f"{NODE}={paths['exit1_head.onnx']}:{thr!r}"], check=True)
    write_maps(os.path.join(args.out, "mobilenetv2.vpr"), args.out)
    print(f"wrote {args.out}/endpoint.map and server.map")
    return 0


if __name__ == "__main__":
    sys.exit(main())
