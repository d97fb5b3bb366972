"""The ONNX operators `vrprune import` accepts, and how it treats each.

* ``COMPUTE``: a node of these starts a layer (its own actor by default).
* ``FOLLOWERS``: element-wise and shape-only operators; a node of these joins the layer that
  produces all of its activation inputs (Conv + BatchNormalization + Relu, Gemm + Add, x *
  Sigmoid(x), ...). With its activation inputs from several layers it starts a layer itself
  (a residual Add, for instance).

Every other operator is refused with an error naming the node: its output shape would depend
on the data (NonZero, NonMaxSuppression, ...), it holds subgraphs (If, Loop, Scan), or it has
not been tried. docs/import.md lists the same table.
"""

from __future__ import annotations

COMPUTE: frozenset[str] = frozenset({
    "Conv", "ConvTranspose", "Gemm", "MatMul", "Einsum",
    "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool",
    "Concat", "Split", "Slice", "Gather", "Pad", "Resize", "Upsample", "DepthToSpace", "SpaceToDepth",
    "ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceProd", "ReduceL2",
    "ArgMax", "ArgMin", "LRN", "InstanceNormalization", "LayerNormalization", "GroupNormalization",
    "Tile", "Expand", "Where",
})

FOLLOWERS: frozenset[str] = frozenset({
    "BatchNormalization", "Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "LeakyRelu", "PRelu",
    "Elu", "Selu", "Celu", "Gelu", "Mish", "Softplus", "Tanh", "Erf", "Exp", "Log", "Sqrt", "Reciprocal",
    "Neg", "Abs", "Pow", "Floor", "Ceil", "Round", "Sign",
    "Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean",
    "Softmax", "LogSoftmax", "Dropout", "Identity", "Cast",
    "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Transpose",
    "Equal", "Less", "Greater", "Not", "And", "Or",
})

SUPPORTED: frozenset[str] = COMPUTE | FOLLOWERS

# Operators folded into constants at import time when every input is a constant (and Shape
# of a tensor whose shape is known): the shape arithmetic of exported models.
FOLDABLE_ANYWAY: frozenset[str] = frozenset({
    "Constant", "Shape", "Size", "ConstantOfShape", "Range", "Gather", "Unsqueeze", "Squeeze", "Concat",
    "Slice", "Cast", "Reshape", "Mul", "Add", "Sub", "Div", "Equal", "Where", "Expand", "Identity",
})

REFUSED_WHY: dict[str, str] = {
    "If": "it holds subgraphs (control flow)", "Loop": "it holds subgraphs (control flow)",
    "Scan": "it holds subgraphs (control flow)",
    "NonZero": "its output shape depends on the data", "NonMaxSuppression": "its output shape depends on the data",
    "Unique": "its output shape depends on the data", "TopK": "its output shape may depend on the data",
    "Compress": "its output shape depends on the data",
    "RandomNormal": "it is not deterministic", "RandomUniform": "it is not deterministic",
    "RandomNormalLike": "it is not deterministic", "RandomUniformLike": "it is not deterministic",
    "Multinomial": "it is not deterministic", "Bernoulli": "it is not deterministic",
}
