"""Build two classification CNNs as ONNX files with seeded random weights (no download), and
import them with `vrprune import`.

    python examples/models/make_models.py                 # 224x224: mobilenetv2.onnx, resnet18.onnx
    python examples/models/make_models.py --size 96 --out /tmp/models

writes OUT/mobilenetv2.onnx and OUT/resnet18.onnx, then runs `vrprune import` on each:
OUT/mobilenetv2/mobilenetv2.vpr (+ .npz, onnx_actors.py) and OUT/resnet18/resnet18.vpr.

* MobileNetV2 (Sandler et al., CVPR 2018, Table 2): conv 3x3/2 32, seven inverted-residual
  bottleneck stages (t, c, n, s) = (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1)
  (6,160,3,2) (6,320,1,1), conv 1x1 1280, global average pool, fully connected 1000.
  Every convolution is followed by BatchNormalization and (except the projections) ReLU6
  (Clip 0..6), as torchvision exports it; residual Adds where stride is 1 and the channels
  match. 3.5 M parameters, about 0.6 GFLOPs at 224x224.
* ResNet-18 (He et al., CVPR 2016): conv 7x7/2 64, max pool 3x3/2, four stages of two basic
  blocks (64, 128, 256, 512 channels; 1x1 projection shortcuts where the shape changes),
  global average pool, fully connected 1000. 11.7 M parameters, about 3.6 GFLOPs.
* tinycnn (32x32, 10 classes, 9 k parameters): a stem, a residual block and two branches
  joined by Concat; `--models tinycnn` writes the tinycnn.onnx kept in the repository.

The weights are He-initialised from a seeded generator, so the activations keep a sensible
range; the models compute nothing meaningful, but exactly what a trained model of the same
architecture computes per operation.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # what opset 17 needs: older onnxruntime releases refuse newer IR versions

MOBILENETV2_TABLE = [  # t, c, n, s
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
]


class _Net:
    """Nodes and initializers of one model, named like a torchvision export."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def param(self, name: str, a: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(a.astype(np.float32), name))
        return name

    def node(self, op: str, name: str, ins: list[str], **attrs) -> str:
        out = f"{name}_output_0"
        self.nodes.append(helper.make_node(op, ins, [out], name=name, **attrs))
        return out

    def conv_bn(self, x: str, name: str, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1,
                act: str | None = "relu") -> str:
        fan_in = cin // groups * k * k
        w = self.param(f"{name}.weight", self.rng.standard_normal((cout, cin // groups, k, k)) * np.sqrt(2.0 / fan_in))
        y = self.node("Conv", f"{name}/Conv", [x, w], kernel_shape=[k, k], pads=[k // 2] * 4, strides=[stride] * 2,
                      group=groups)
        bn = [self.param(f"{name}.bn.{p}", v) for p, v in (
            ("weight", 1.0 + 0.1 * self.rng.standard_normal(cout)), ("bias", 0.1 * self.rng.standard_normal(cout)),
            ("running_mean", 0.1 * self.rng.standard_normal(cout)),
            ("running_var", 1.0 + 0.1 * np.abs(self.rng.standard_normal(cout))))]
        y = self.node("BatchNormalization", f"{name}/BatchNormalization", [y, *bn], epsilon=1e-5)
        if act == "relu":
            y = self.node("Relu", f"{name}/Relu", [y])
        elif act == "relu6":
            lo = self.param(f"{name}.clip_min", np.array(0.0))
            hi = self.param(f"{name}.clip_max", np.array(6.0))
            y = self.node("Clip", f"{name}/Clip", [y, lo, hi])
        return y

    def head(self, x: str, cin: int, classes: int) -> str:
        y = self.node("GlobalAveragePool", "/GlobalAveragePool", [x])
        y = self.node("Flatten", "/Flatten", [y], axis=1)
        w = self.param("fc.weight", self.rng.standard_normal((classes, cin)) * np.sqrt(1.0 / cin))
        b = self.param("fc.bias", 0.01 * self.rng.standard_normal(classes))
        self.nodes.append(helper.make_node("Gemm", [y, w, b], ["logits"], name="/fc/Gemm", transB=1))
        return "logits"

    def model(self, name: str, size: int, classes: int) -> onnx.ModelProto:
        g = helper.make_graph(self.nodes, name,
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, classes])],
                              self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                              producer_name="vrprune examples")
        onnx.checker.check_model(m)
        return m


def mobilenetv2(size: int = 224, classes: int = 1000, seed: int = 0) -> onnx.ModelProto:
    """MobileNetV2 (width 1.0) for ``size`` x ``size`` RGB input, as ONNX."""
    net = _Net(seed)
    x = net.conv_bn("input", "/features/0", 3, 32, 3, stride=2, act="relu6")
    cin, block = 32, 1
    for t, c, n, s in MOBILENETV2_TABLE:
        for i in range(n):
            stride = s if i == 0 else 1
            name = f"/features/{block}"
            hidden = cin * t
            y = x
            if t != 1:
                y = net.conv_bn(y, f"{name}/expand", cin, hidden, 1, act="relu6")
            y = net.conv_bn(y, f"{name}/depthwise", hidden, hidden, 3, stride=stride, groups=hidden, act="relu6")
            y = net.conv_bn(y, f"{name}/project", hidden, c, 1, act=None)
            if stride == 1 and cin == c:
                y = net.node("Add", f"{name}/Add", [x, y])
            x, cin, block = y, c, block + 1
    x = net.conv_bn(x, f"/features/{block}", cin, 1280, 1, act="relu6")
    net.head(x, 1280, classes)
    return net.model("mobilenetv2", size, classes)


def resnet18(size: int = 224, classes: int = 1000, seed: int = 0) -> onnx.ModelProto:
    """ResNet-18 for ``size`` x ``size`` RGB input, as ONNX."""
    net = _Net(seed)
    x = net.conv_bn("input", "/conv1", 3, 64, 7, stride=2)
    x = net.node("MaxPool", "/maxpool/MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4)
    cin = 64
    for stage, cout in enumerate((64, 128, 256, 512), start=1):
        for b in range(2):
            stride = 2 if (b == 0 and stage > 1) else 1
            name = f"/layer{stage}/layer{stage}.{b}"
            y = net.conv_bn(x, f"{name}/conv1", cin, cout, 3, stride=stride)
            y = net.conv_bn(y, f"{name}/conv2", cout, cout, 3, act=None)
            short = x
            if stride != 1 or cin != cout:
                short = net.conv_bn(x, f"{name}/downsample", cin, cout, 1, stride=stride, act=None)
            y = net.node("Add", f"{name}/Add", [y, short])
            x = net.node("Relu", f"{name}/Relu", [y])
            cin = cout
    net.head(x, 512, classes)
    return net.model("resnet18", size, classes)


def tinycnn(size: int = 32, classes: int = 10, seed: int = 0) -> onnx.ModelProto:
    """A small CNN with the same kinds of structure (a residual block, two branches joined by
    Concat), small enough to keep in the repository: examples/models/tinycnn.onnx."""
    net = _Net(seed)
    x = net.conv_bn("input", "/stem", 3, 16, 3, stride=2)
    y = net.conv_bn(x, "/block/conv1", 16, 16, 3)
    y = net.conv_bn(y, "/block/conv2", 16, 16, 3, act=None)
    y = net.node("Add", "/block/Add", [x, y])
    x = net.node("Relu", "/block/Relu", [y])
    a = net.conv_bn(x, "/branch/a", 16, 8, 1)
    b = net.conv_bn(x, "/branch/b", 16, 8, 3)
    x = net.node("Concat", "/branch/Concat", [a, b], axis=1)
    net.head(x, 16, classes)
    return net.model("tinycnn", size, classes)


MODELS = {"mobilenetv2": mobilenetv2, "resnet18": resnet18, "tinycnn": tinycnn}
DEFAULT_SIZE = {"mobilenetv2": 224, "resnet18": 224, "tinycnn": 32}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)), help="folder (default: this one)")
    ap.add_argument("--size", type=int, help="input height and width (default 224; tinycnn 32)")
    ap.add_argument("--models", default="mobilenetv2,resnet18", help="comma-separated (default: both)")
    ap.add_argument("--no-import", action="store_true", help="only write the .onnx files")
    ap.add_argument("import_args", nargs="*", help="more arguments for vrprune import (after --), e.g. -- --group 8")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for name in args.models.split(","):
        path = os.path.join(args.out, f"{name}.onnx")
        onnx.save(MODELS[name](args.size or DEFAULT_SIZE[name]), path)
        print(f"wrote {path}")
        if not args.no_import:
            subprocess.run([sys.executable, "-m", "vrprune", "import", path, "-o", os.path.join(args.out, name),
                            *args.import_args], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
