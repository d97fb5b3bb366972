"""Import torchvision classification models exported to ONNX, prove them, run them with
`vrprune run`'s runtime and compare with onnxruntime's whole-model inference.

    python examples/models/check_torchvision.py [MODEL ...]

Needs torch and torchvision (not vrprune dependencies). The models are built with random
weights (``weights=None``: nothing is downloaded) and exported with the TorchScript exporter
(opset 17) and, for the first two, also with the dynamo exporter. One JSON line per export:
nodes, operators, actors, constant nodes folded, the checker's verdict, the run's status and
the largest relative difference from onnxruntime over two random frames.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import warnings

import numpy as np

CASES = [("resnet18", 96), ("mobilenet_v3_small", 96), ("shufflenet_v2_x0_5", 96), ("efficientnet_b0", 96),
         ("squeezenet1_0", 96), ("googlenet", 96), ("densenet121", 64), ("convnext_tiny", 64), ("mobilenet_v2", 96)]
BOTH_EXPORTERS = ("resnet18", "mobilenet_v3_small")


def export(name: str, size: int, exporter: str, path: str) -> None:
    import torch
    import torchvision

    kw = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
    model = getattr(torchvision.models, name)(weights=None, **kw).eval()
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        if exporter == "torchscript":
            torch.onnx.export(model, x, path, dynamo=False, opset_version=17, input_names=["input"],
                              output_names=["logits"])
        else:
            torch.onnx.export(model, (x,), path, dynamo=True, input_names=["input"], output_names=["logits"])


def check(path: str, size: int, out_dir: str) -> dict:
    import onnx
    import onnxruntime as ort

    from vrprune import load
    from vrprune.exec import Runtime
    from vrprune.onnximport import analyze, write
    from vrprune.verify import prove

    row: dict = {}
    m = onnx.load(path)
    row["nodes"], row["ops"] = len(m.graph.node), sorted({n.op_type for n in m.graph.node})
    plan = analyze(path)
    files = write(plan, out_dir)
    row["actors"], row["folded"] = len(plan.actors), plan.folded
    row["check"] = prove(load(files.vpr), timeout_s=60).verdict
    frames = np.random.default_rng(0).standard_normal((2, 1, 3, size, size)).astype(np.float32)
    x_npy, y_npy = os.path.join(out_dir, "x.npy"), os.path.join(out_dir, "y.npy")
    np.save(x_npy, frames)
    g = load(files.vpr, params=[("Input", "path", x_npy), ("Output", "path", y_npy)])
    res = Runtime(g, repetition={a.name: 1 for a in g.actors}).run()
    row["run"] = res.status
    if res.ok:
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        ref = np.stack([sess.run(None, {sess.get_inputs()[0].name: f})[0] for f in frames])
        row["max_rel"] = float(np.abs(np.load(y_npy) - ref).max() / np.abs(ref).max())
    else:
        row["failures"] = [str(f) for f in res.failures]
    return row


def main(argv: list[str]) -> int:
    warnings.filterwarnings("ignore")
    only = set(argv) or None
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, size in CASES:
            if only and name not in only:
                continue
            for exporter in ("torchscript", "dynamo") if name in BOTH_EXPORTERS else ("torchscript",):
                row = {"model": name, "size": size, "exporter": exporter}
                t0 = time.perf_counter()
                path = os.path.join(tmp, f"{name}_{exporter}.onnx")
                try:
                    export(name, size, exporter, path)
                    row.update(check(path, size, os.path.join(tmp, f"{name}_{exporter}")))
                except Exception as exc:  # noqa: BLE001 -- report and go on with the next model
                    row["error"] = f"{type(exc).__name__}: {exc}"
                row["s"] = round(time.perf_counter() - t0, 1)
                ok = row.get("check") == "proved" and row.get("run") == "ok" and row.get("max_rel", 1.0) <= 1e-5
                bad += not ok
                print(json.dumps(row), flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
