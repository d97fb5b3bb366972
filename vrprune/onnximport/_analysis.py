"""From an ONNX model to an import plan: static shapes, constants folded, nodes grouped into
layers, layers into actors, tensors into FIFOs. Nothing here writes files (see ``_write``)."""

from __future__ import annotations

import keyword
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..diagnostics import VrpruneError
from ..model import DTYPE_BYTES
from ._ops import FOLDABLE_ANYWAY, FOLLOWERS, REFUSED_WHY, SUPPORTED

if TYPE_CHECKING:
    from ._exits import ExitSpec, HeadInfo


class OnnxImportError(VrpruneError):
    """The model cannot be imported: not an ONNX file, unknown dimensions, an operator
    vrprune does not run, ... The message names the file, the node or the tensor."""


PORTS_PROP = "vrprune.out_ports"  # metadata of a layer subgraph: output index of each out port

# ONNX TensorProto element type -> .vpr dtype (bool travels as u8, one byte per element)
_ONNX_DTYPE = {1: "f32", 2: "u8", 3: "i8", 4: "u16", 5: "i16", 6: "i32", 7: "i64", 9: "u8", 10: "f16",
               11: "f64", 12: "u32", 13: "u64"}
_ONNX_TYPE_NAME = {0: "undefined", 8: "string", 14: "complex64", 15: "complex128", 16: "bfloat16"}

_VPR_KEYWORDS = {"import", "const", "graph", "dpg", "actor", "spa", "ca", "da", "dpa", "control", "in", "out",
                 "bytes", "impl", "c", "opencl", "python", "kernel", "param", "time", "fifo", "capacity",
                 "initial", "platform", "base_port", "host", "cpu", "core", "device", "link", "bandwidth",
                 "latency", "mapping", "on", "ns", "us", "ms", "s", *DTYPE_BYTES}


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """An activation tensor that travels between actors: one token per frame."""

    name: str
    dtype: str  # .vpr dtype
    shape: tuple[int, ...]
    elem: int  # ONNX element type (bool travels as u8)

    @property
    def nbytes(self) -> int:
        n = DTYPE_BYTES[self.dtype]
        for d in self.shape:
            n *= d
        return n

    @property
    def vpr_type(self) -> str:
        return f"{self.dtype}[{', '.join(map(str, self.shape))}]" if self.shape else self.dtype


@dataclass(frozen=True, slots=True)
class InPort:
    name: str
    tensor: str
    rate: str = ""  # "" static rate 1; "0..1" variable (inside an exit's DPG)


@dataclass(frozen=True, slots=True)
class OutPort:
    name: str
    tensor: str
    consumer: str  # the actor this port's FIFO goes to
    source: int  # index of the tensor among the actor's produced tensors (subgraph output)
    rate: str = ""  # "" static rate 1; "0..1" variable (inside an exit's DPG)


@dataclass(frozen=True, slots=True)
class ActorPlan:
    """One actor of the imported graph. ``kind``: "input", "output", "layer" or "fork" (copies
    one tensor to each of its readers); with early exits also "exit_decide" (the CA),
    "exit_entry" and "exit_merge" (the entry and exit DA of the DPG after an exit)."""

    name: str
    kind: str
    in_ports: tuple[InPort, ...]
    out_ports: tuple[OutPort, ...]
    nodes: tuple[str, ...] = ()  # ONNX node names, in order
    ops: tuple[str, ...] = ()  # their op types
    produced: tuple[str, ...] = ()  # tensors the subgraph outputs (OutPort.source indexes these)
    flops: int = 0
    n_params: int = 0
    subgraph: bytes = b""  # serialized ModelProto of the layer, weights included
    tensor: str = ""  # for input/output actors: the model tensor
    threads: int = 0  # intra-op threads of a layer (0: the plan's)
    role: str = ""  # "" (spa), "ca", "da" or "dpa"
    dpg: str = ""  # the DPG the actor belongs to ("" none)
    controls: tuple[str, ...] = ()  # control ports: a CA's outputs, a DA's or DPA's one input
    params: tuple[tuple[str, str], ...] = ()  # extra params (name, .vpr literal) of exit actors


@dataclass(frozen=True, slots=True)
class EdgePlan:
    src: str
    src_port: str
    dst: str
    dst_port: str
    tensor: str  # "" for a control edge
    rate: str = ""  # "0..1" on the variable-rate edges inside an exit's DPG


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """Everything `vrprune import` writes, decided: actors in topological order, edges, tensors."""

    source: str  # the .onnx path as given
    graph_name: str
    actors: tuple[ActorPlan, ...]
    edges: tuple[EdgePlan, ...]
    tensors: Mapping[str, TensorInfo]
    opset: int
    n_nodes: int
    threads: int
    folded: int = 0  # nodes folded into constants
    notes: tuple[str, ...] = field(default=())

    def actor(self, name: str) -> ActorPlan:
        for a in self.actors:
            if a.name == name:
                return a
        raise KeyError(name)


# ----------------------------------------------------------------------------- entry point

def parse_shape_overrides(items: Iterable[str]) -> dict[str, tuple[int, ...]]:
    """``NAME=1x3x224x224`` (repeatable) -> {NAME: (1, 3, 224, 224)}."""
    out: dict[str, tuple[int, ...]] = {}
    for item in items:
        name, sep, dims = item.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.lower().split("x"))
        except ValueError:
            shape = ()
        if not sep or not name or not shape or any(d < 1 for d in shape):
            raise OnnxImportError(f"--shape {item}: expected NAME=D0xD1x... with whole numbers >= 1 "
                                  f"(e.g. --shape input=1x3x224x224)")
        out[name] = shape
    return out


BALANCE = ("cost", "flops", "time")


def analyze(path: str, *, shapes: Mapping[str, Sequence[int]] | None = None, group: int | None = 0,
            threads: int = 1, name: str | None = None, balance: str = "cost", cores: int = 0,
            fork: bool = False, exits: Sequence[ExitSpec] = ()) -> ImportPlan:
    """Read the ONNX model at ``path`` and decide the actors, FIFOs and layer subgraphs.

    ``group``: 0 = one actor per layer (a compute node and the element-wise nodes after it);
    N > 0 = at most N actors, each a run of consecutive layers (in a topological order), the
    runs balanced by ``balance``: "cost" (FLOPs + 17 x bytes read and written: memory-bound
    layers such as depthwise convolutions count), "flops", or "time" (each layer's
    onnxruntime session timed here, with ``threads`` threads; not deterministic); None = one
    actor per ONNX node. ``cores`` C > 0 (instead of ``group`` and ``threads``): runs of layers
    and each run's intra-op threads chosen together for a C-core machine (see
    :func:`_runs_for_cores`). ``fork``: a tensor read by several actors goes to one Fork actor
    that copies it to each (else the producer has an output port per reader), so that a
    partition point cutting before the Fork sends it once. ``shapes`` fixes the dimensions of
    model inputs. ``exits``: early-exit heads (see :mod:`._exits`): each head's nodes join the
    model, and the network after its node becomes a DPG that its confidence prunes. Raises
    :class:`OnnxImportError`."""
    if balance not in BALANCE:
        raise OnnxImportError(f"balance must be one of {', '.join(BALANCE)}, got {balance!r}")
    if cores and (group is None or group > 0):
        raise OnnxImportError("--cores chooses the groups itself: give --cores or --group, not both")

    from .._extras import require

    require("onnx", "onnx", "vrprune import")
    model = _load(path)
    graph_name = _identifier(name or os.path.splitext(os.path.basename(path))[0], "model")
    model = _fix_input_shapes(model, {k: tuple(v) for k, v in (shapes or {}).items()}, path)
    from ._exits import attach_exits, head_starts, merge_heads

    heads: list[HeadInfo] = []
    if exits:
        if group != 0 or cores:
            raise OnnxImportError("--exit needs one actor per layer: leave out --group and --cores")
        model, heads = merge_heads(model, exits, path)
    model, folded = _fold_constants(model, path)
    model = _infer_shapes(model, path)
    g = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)

    consts = {t.name for t in g.initializer}
    tensors, uncarriable = _tensor_infos(model)
    nodes = list(g.node)
    _check_ops(nodes, path)
    names = _node_names(nodes)
    live = _live_nodes(nodes, [o.name for o in g.output], consts)
    nodes = [n for i, n in enumerate(nodes) if i in live]
    node_names = [names[i] for i in sorted(live)]
    model_inputs = [i.name for i in g.input if i.name not in consts]
    model_outputs = [o.name for o in g.output]
    read = {t for n in nodes for t in n.input} | set(model_outputs)
    notes = tuple(f"model input '{t}' is read by nothing the outputs need: no Input actor for it"
                  for t in model_inputs if t not in read)
    model_inputs = [t for t in model_inputs if t in read]
    if not model_inputs:
        raise OnnxImportError(f"{path}: the model's outputs depend on none of its inputs; vrprune import needs "
                              f"outputs computed from at least one input")
    for t in model_outputs:
        if t in consts:
            raise OnnxImportError(f"{path}: model output '{t}' is a constant; vrprune import needs outputs "
                                  f"computed from the inputs")

    layers = _layers(nodes, consts, fuse=group is not None, starts=head_starts(nodes, heads))
    inits = {t.name: t for t in g.initializer}
    layer_threads: list[int] | None = None
    if group or cores:
        if balance == "time":
            ungrouped, _ = _actors(model, nodes, node_names, layers, False, consts, inits, tensors, uncarriable,
                                   model_inputs, model_outputs, path)
            weights = _measured_times([a for a in ungrouped if a.kind == "layer"], threads)
        else:
            weights = [_layer_cost(nodes, lay, tensors, inits, balance) for lay in layers]
        layers, layer_threads = _group_layers(layers, weights, group or 0, cores)
    actors, edges = _actors(model, nodes, node_names, layers, bool(group or cores), consts, inits, tensors,
                            uncarriable, model_inputs, model_outputs, path, layer_threads, fork)
    used = {t for a in actors for t in [p.tensor for p in a.in_ports] + [p.tensor for p in a.out_ports]}
    for t in sorted(used):
        if t not in tensors:
            raise OnnxImportError(f"{path}: tensor '{t}' has no known type and shape after shape inference; "
                                  f"fix the model's input shapes with --shape NAME=D0xD1x...")
    plan = ImportPlan(source=path, graph_name=graph_name, actors=tuple(actors), edges=tuple(edges),
                      tensors={t: tensors[t] for t in sorted(used)}, opset=opset, n_nodes=len(nodes),
                      threads=threads, folded=folded, notes=notes)
    return attach_exits(plan, heads, path) if heads else plan


# ----------------------------------------------------------------------------- model-level phases

def file_problem(path: str) -> str | None:
    """Why ``path`` cannot be read as a model file, or None: a directory, pipe or device is not
    a missing file (onnx.load would block on a pipe or read a device without end)."""
    if os.path.isfile(path):
        return None
    if os.path.exists(path):
        return "not a regular file (give the path of the .onnx file itself)"
    return "no such file"


def _load(path: str):
    import onnx

    if (problem := file_problem(path)) is not None:
        raise OnnxImportError(f"{path}: {problem}")
    try:
        model = onnx.load(path)
    except Exception as exc:  # noqa: BLE001 -- protobuf DecodeError, external-data errors, ...
        raise OnnxImportError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {exc})") from None
    if not model.graph.node:
        raise OnnxImportError(f"{path}: the model's graph has no nodes")
    for o in model.opset_import:
        if o.domain not in ("", "ai.onnx"):
            used = sorted({n.op_type for n in model.graph.node if n.domain == o.domain})
            if used:
                raise OnnxImportError(f"{path}: operators of domain '{o.domain}' ({', '.join(used)}) are not "
                                      f"supported; export the model with standard ONNX operators only")
    return model


def _dims_text(dims) -> str:
    return "x".join(d.dim_param if d.HasField("dim_param") else (str(d.dim_value) if d.HasField("dim_value") else "?")
                    for d in dims)


def _fix_input_shapes(model, shapes: dict[str, tuple[int, ...]], path: str):
    g = model.graph
    consts = {t.name for t in g.initializer}
    inputs = [i for i in g.input if i.name not in consts]
    known = {i.name for i in inputs}
    for n in shapes:
        if n not in known:
            raise OnnxImportError(f"--shape {n}=...: the model has no input '{n}'; its inputs: "
                                  f"{', '.join(sorted(known)) or '(none)'}")
    bad = []
    for i in inputs:
        tt = i.type.tensor_type
        if not i.type.HasField("tensor_type"):
            raise OnnxImportError(f"{path}: model input '{i.name}' is not a tensor (sequences and maps are not "
                                  f"supported)")
        dims = tt.shape.dim
        if i.name in shapes:
            want = shapes[i.name]
            if tt.HasField("shape") and len(dims) != len(want):
                raise OnnxImportError(f"--shape {i.name}={'x'.join(map(str, want))}: input '{i.name}' has "
                                      f"{len(dims)} dimensions ({_dims_text(dims)}), not {len(want)}")
            for d, (k, v) in zip(list(dims), enumerate(want)):
                if d.HasField("dim_value") and d.dim_value != v:
                    raise OnnxImportError(f"--shape {i.name}={'x'.join(map(str, want))}: dimension {k} of input "
                                          f"'{i.name}' is fixed to {d.dim_value} by the model")
            tt.shape.Clear()
            for v in want:
                tt.shape.dim.add().dim_value = v
            continue
        if not tt.HasField("shape"):
            bad.append(f"'{i.name}' (shape unknown)")
            continue
        unknown = [(k, d.dim_param or "?") for k, d in enumerate(dims)
                   if not (d.HasField("dim_value") and d.dim_value > 0)]
        if unknown:
            bad.append(f"'{i.name}' ({_dims_text(dims)}: " +
                       ", ".join(f"dimension {k} is {'symbolic ' + repr(p) if p != '?' else 'unknown'}"
                                 for k, p in unknown) + ")")
    if bad:
        example = next(i for i in inputs if any(b.startswith(f"'{i.name}'") for b in bad))
        dims = example.type.tensor_type.shape.dim
        guess = "x".join(str(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else "1"
                         for d in dims) or "1x3x224x224"
        raise OnnxImportError(f"{path}: model inputs with symbolic or unknown dimensions: {'; '.join(bad)}. "
                              f"Tokens need static shapes: give each with --shape NAME=D0xD1x... "
                              f"(e.g. --shape {example.name}={guess}; a batch dimension is usually 1)")
    return model


def _infer_shapes(model, path: str):
    import onnx

    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except Exception as exc:  # noqa: BLE001 -- onnx raises InferenceError, ValidationError, RuntimeError
        msg = str(exc).strip().splitlines()
        why = msg[-1] if msg else type(exc).__name__
        raise OnnxImportError(f"{path}: ONNX shape inference failed: {why}") from None


def _fold_constants(model, path: str):
    """Evaluate, once, the nodes whose inputs are all constants (and Shape of tensors of known
    shape): the shape arithmetic of exported models. Returns (new model, number folded)."""
    import onnx
    from onnx import numpy_helper

    model = _infer_shapes(model, path)
    g = model.graph
    values: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    shapes = _static_shapes(model)
    keep, folded = [], 0
    for node in g.node:
        ins = [i for i in node.input if i]
        out = None
        if node.op_type in FOLDABLE_ANYWAY and node.domain in ("", "ai.onnx"):
            if node.op_type == "Shape" and ins and ins[0] in shapes:
                shp = np.array(shapes[ins[0]], dtype=np.int64)
                attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
                out = [shp[attrs.get("start", 0):attrs.get("end", len(shp))]]
            elif node.op_type == "Size" and ins and ins[0] in shapes:
                out = [np.array(int(np.prod(shapes[ins[0]])), dtype=np.int64)]
            elif all(i in values for i in ins) and (ins or node.op_type in ("Constant",)):
                out = _evaluate(node, {i: values[i] for i in ins}, model, path)
        if out is None:
            keep.append(node)
            continue
        folded += 1
        for name, v in zip(node.output, out):
            if name:
                values[name] = np.asarray(v)
    if not folded:
        return model, 0
    used = {i for n in keep for i in n.input} | {o.name for o in g.output}
    new_inits = [numpy_helper.from_array(values[n], n) for n in values if n in used]
    new_graph = onnx.helper.make_graph(keep, g.name, list(g.input), list(g.output), new_inits)
    new = onnx.helper.make_model(new_graph, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    return new, folded


def _evaluate(node, feeds: dict[str, np.ndarray], model, path: str) -> list[np.ndarray]:
    from onnx.reference import ReferenceEvaluator

    try:
        opsets = {o.domain or "": o.version for o in model.opset_import}
        return list(ReferenceEvaluator(node, opsets=opsets).run(None, feeds))
    except Exception as exc:  # noqa: BLE001 -- any failure of the reference evaluator
        raise OnnxImportError(f"{path}: node '{node.name or node.output[0]}' ({node.op_type}) has constant inputs "
                              f"but could not be evaluated: {type(exc).__name__}: {exc}") from None


def _static_shapes(model) -> dict[str, tuple[int, ...]]:
    out = {}
    g = model.graph
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        tt = vi.type.tensor_type
        if vi.type.HasField("tensor_type") and tt.HasField("shape"):
            dims = tt.shape.dim
            if all(d.HasField("dim_value") for d in dims):
                out[vi.name] = tuple(d.dim_value for d in dims)
    return out


def _tensor_infos(model) -> tuple[dict[str, TensorInfo], dict[str, str]]:
    """Static tensors by name, and the tensors of element types tokens cannot carry (type name)."""
    out: dict[str, TensorInfo] = {}
    bad: dict[str, str] = {}
    g = model.graph
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        if not vi.type.HasField("tensor_type"):
            continue
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            continue
        dims = tt.shape.dim
        if not all(d.HasField("dim_value") and d.dim_value > 0 for d in dims):
            continue
        dtype = _ONNX_DTYPE.get(tt.elem_type)
        if dtype is None:
            bad[vi.name] = _ONNX_TYPE_NAME.get(tt.elem_type, f"type {tt.elem_type}")
            continue
        out[vi.name] = TensorInfo(vi.name, dtype, tuple(d.dim_value for d in dims), tt.elem_type)
    return out, bad


def _check_ops(nodes, path: str) -> None:
    for n in nodes:
        who = f"node '{n.name}'" if n.name else f"the node computing '{n.output[0]}'"
        if n.domain not in ("", "ai.onnx"):
            raise OnnxImportError(f"{path}: {who} has op type {n.op_type} of domain '{n.domain}', which vrprune "
                                  f"import does not support (standard ONNX operators only; see docs/import.md)")
        if n.op_type not in SUPPORTED:
            why = REFUSED_WHY.get(n.op_type, "it is not in vrprune import's operator table")
            raise OnnxImportError(f"{path}: {who} has op type {n.op_type}, which vrprune import does not support: "
                                  f"{why} (docs/import.md lists the supported operators)")


def _node_names(nodes) -> list[str]:
    return [n.name or f"{n.op_type}({n.output[0]})" for n in nodes]


def _live_nodes(nodes, outputs: list[str], consts: set[str]) -> set[int]:
    producer = {o: i for i, n in enumerate(nodes) for o in n.output if o}
    live: set[int] = set()
    stack = [producer[o] for o in outputs if o in producer]
    while stack:
        i = stack.pop()
        if i in live:
            continue
        live.add(i)
        stack.extend(producer[t] for t in nodes[i].input if t in producer)
    return live


# ----------------------------------------------------------------------------- layers

def _layers(nodes, consts: set[str], fuse: bool, starts: frozenset[int] = frozenset()) -> list[list[int]]:
    """Node indexes per layer, layers in a topological order. ``fuse``: a follower node joins
    the layer that produces all of its activation inputs; else every node is a layer. A node
    in ``starts`` always starts a layer (an exit head's first nodes)."""
    producer: dict[str, int] = {}  # tensor -> layer index
    layers: list[list[int]] = []
    for i, n in enumerate(nodes):
        acts = [t for t in n.input if t and t not in consts]
        srcs = {producer.get(t, -1) for t in acts}
        if fuse and n.op_type in FOLLOWERS and acts and len(srcs) == 1 and -1 not in srcs and i not in starts:
            k = srcs.pop()
            layers[k].append(i)
        else:
            k = len(layers)
            layers.append([i])
        for o in n.output:
            if o:
                producer[o] = k
    return layers


def _group_layers(layers: list[list[int]], weights: list[int], group: int,
                  cores: int) -> tuple[list[list[int]], list[int] | None]:
    """Merge runs of consecutive layers: into at most ``group`` balanced runs, or, with
    ``cores``, into the runs and thread counts of :func:`_runs_for_cores` (returned too)."""
    threads: list[int] | None = None
    if cores:
        runs, threads = _runs_for_cores(weights, cores)
    else:
        runs = _balanced_runs(weights, group)
    return [[i for k in range(s, e) for i in layers[k]] for s, e in runs], threads


SPEEDUP_EXPONENT = 0.65  # an onnxruntime session with t intra-op threads runs about t ** 0.65 times
# faster than with one (whole MobileNetV2 on a 16-core x86 machine: 1.56x at 2, 2.6x at 4, 3.7x at 8)


def _runs_for_cores(weights: list[int], cores: int) -> tuple[list[tuple[int, int]], list[int]]:
    """Runs of consecutive layers and each run's thread count t (t >= 1, sum = at most
    ``cores``) that minimise the pipeline's period, the largest ``sum(weights of the run) /
    t ** SPEEDUP_EXPONENT`` (dynamic programming over layers and threads)."""
    m = len(weights)
    pre = np.concatenate([[0.0], np.cumsum(np.asarray(weights, dtype=np.float64))])
    speed = np.arange(cores + 1, dtype=np.float64) ** SPEEDUP_EXPONENT
    inf = np.inf
    # best[c, j]: the smallest period for layers[:j] with c threads in all; arg: (start, threads)
    best = np.full((cores + 1, m + 1), inf)
    best[:, 0] = 0.0
    arg = np.zeros((cores + 1, m + 1, 2), dtype=np.int64)
    for j in range(1, m + 1):
        run = pre[j] - pre[:j]  # cost of the run s..j for every start s
        for c in range(1, cores + 1):
            for t in range(1, c + 1):
                cand = np.maximum(best[c - t, :j], run / speed[t])
                s = int(np.argmin(cand))
                if cand[s] < best[c, j]:
                    best[c, j] = cand[s]
                    arg[c, j] = (s, t)
    c = int(np.argmin(best[:, m]))  # fewest threads reaching the best period (ties: fewer)
    c = int(np.flatnonzero(best[:, m] <= best[c, m] * (1 + 1e-12))[0])
    runs, threads = [], []
    j = m
    while j > 0:
        s, t = (int(v) for v in arg[c, j])
        runs.append((s, j))
        threads.append(t)
        j, c = s, c - t
    return runs[::-1], threads[::-1]


def _balanced_runs(weights: list[int], n: int) -> list[tuple[int, int]]:
    """Split ``weights`` into at most ``n`` contiguous runs minimising the largest run sum
    (linear partition by dynamic programming). Returns [start, end) pairs."""
    m = len(weights)
    n = max(1, min(n, m))
    pre = [0]
    for w in weights:
        pre.append(pre[-1] + w)
    inf = float("inf")
    # best[k][j]: the best max-sum splitting weights[:j] into k runs; cut[k][j] where the last run starts
    best = [[inf] * (m + 1) for _ in range(n + 1)]
    cut = [[0] * (m + 1) for _ in range(n + 1)]
    best[0][0] = 0
    for k in range(1, n + 1):
        for j in range(k, m + 1):
            bj, cj = inf, k - 1
            for s in range(k - 1, j):
                v = max(best[k - 1][s], pre[j] - pre[s])
                if v < bj:
                    bj, cj = v, s
            best[k][j], cut[k][j] = bj, cj
    runs = []
    j = m
    for k in range(n, 0, -1):
        s = cut[k][j]
        runs.append((s, j))
        j = s
    return runs[::-1]


# ----------------------------------------------------------------------------- actors

def _flops(node, tensors: dict[str, TensorInfo], inits) -> int:
    out = tensors.get(node.output[0]) if node.output else None
    n_out = int(np.prod(out.shape)) if out is not None else 1
    op = node.op_type
    if op in ("Conv", "ConvTranspose") and len(node.input) > 1 and node.input[1] in inits:
        w = inits[node.input[1]].dims
        return 2 * n_out * int(np.prod(w[1:]))
    if op in ("Gemm", "MatMul"):
        a = tensors.get(node.input[0])
        if a is not None and a.shape:
            k = a.shape[-1]
            if op == "Gemm":
                for at in node.attribute:
                    if at.name == "transA" and at.i:
                        k = a.shape[0]
            return 2 * n_out * k
    return n_out


BYTE_COST = 17  # FLOPs per byte of activations read or written ("cost" balance): one core's FLOP rate
# over its memory bandwidth for onnxruntime's CPU kernels, fitted on MobileNetV2's layers


def _layer_cost(nodes, lay: list[int], tensors: dict[str, TensorInfo], inits, balance: str) -> int:
    """FLOPs, plus BYTE_COST per byte of the activations the layer reads from outside and of
    its last node's output ("cost"). On a 16-core x86 machine this predicts each MobileNetV2
    layer's onnxruntime time within 13 % on average (fitted: 17 FLOPs per byte)."""
    flops = sum(_flops(nodes[i], tensors, inits) for i in lay)
    if balance == "flops":
        return max(1, flops)
    inside = {o for i in lay for o in nodes[i].output}
    read = {t for i in lay for t in nodes[i].input if t in tensors and t not in inside}
    last = [o for o in nodes[lay[-1]].output if o in tensors]
    moved = sum(tensors[t].nbytes for t in (*read, *last))
    return max(1, flops + BYTE_COST * moved)


def _measured_times(layers: list[ActorPlan], threads: int) -> list[int]:
    """Each layer's onnxruntime run time in ns (median of 5, after 2 warm-up runs)."""
    import time

    from .._extras import require

    ort = require("onnxruntime", "onnx", "vrprune import --balance time")

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.log_severity_level = 3
    rng = np.random.default_rng(0)
    out = []
    for a in layers:
        sess = ort.InferenceSession(a.subgraph, so, providers=["CPUExecutionProvider"])
        feed = {}
        for i in sess.get_inputs():
            dt = ORT_NP_TYPES.get(i.type, np.float32)
            feed[i.name] = (rng.standard_normal(i.shape).astype(dt) if np.dtype(dt).kind == "f"
                            else np.zeros(i.shape, dt))
        times = []
        for k in range(7):
            t = time.perf_counter_ns()
            sess.run(None, feed)
            if k >= 2:
                times.append(time.perf_counter_ns() - t)
        out.append(max(1, int(np.median(times))))
    return out


# onnxruntime's type strings -> numpy dtypes (shared with the runtime actors)
ORT_NP_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
              "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(int16)": np.int16,
              "tensor(uint16)": np.uint16, "tensor(int32)": np.int32, "tensor(uint32)": np.uint32,
              "tensor(int64)": np.int64, "tensor(uint64)": np.uint64, "tensor(bool)": np.bool_}


def _actors(model, nodes, node_names, layers, grouped, consts, inits, tensors, uncarriable, model_inputs,
            model_outputs, path, layer_threads: list[int] | None = None, fork: bool = False):
    import onnx

    flops = [sum(_flops(nodes[i], tensors, inits) for i in lay) for lay in layers]

    # actor names
    taken: set[str] = set()

    def fresh(base: str) -> str:
        base = _identifier(base, "actor")
        name, k = base, 1
        while name in taken or name.lower() in _VPR_KEYWORDS:
            k += 1
            name = f"{base}_{k}"
        taken.add(name)
        return name

    in_names = [fresh("Input" if len(model_inputs) == 1 else t) for t in model_inputs]
    out_names = [fresh("Output" if len(model_outputs) == 1 else t) for t in model_outputs]
    counts: dict[str, int] = {}
    layer_names = []
    for lay in layers:
        if grouped:
            base = "Group"
        else:
            base = nodes[lay[0]].op_type
        counts[base] = counts.get(base, 0) + 1
        layer_names.append(fresh(f"{base}{counts[base]}"))

    # who produces / consumes each tensor (actor names)
    producer: dict[str, str] = {t: a for t, a in zip(model_inputs, in_names)}
    for lay, an in zip(layers, layer_names):
        for i in lay:
            for o in nodes[i].output:
                if o:
                    producer[o] = an
    consumers: dict[str, list[str]] = {}

    def consume(t: str, a: str) -> None:
        lst = consumers.setdefault(t, [])
        if a not in lst:
            lst.append(a)

    layer_inputs: list[list[str]] = []
    for lay, an in zip(layers, layer_names):
        ins: list[str] = []
        for i in lay:
            for t in nodes[i].input:
                if t and t not in consts and producer.get(t) != an and t not in ins:
                    ins.append(t)
        for t in ins:
            if t not in producer:
                raise OnnxImportError(f"{path}: node '{node_names[lay[0]]}' reads tensor '{t}', which no node "
                                      f"computes and which is no model input")
            consume(t, an)
        layer_inputs.append(ins)
    for t, an in zip(model_outputs, out_names):
        if t not in producer:
            raise OnnxImportError(f"{path}: model output '{t}' is computed by no node")
        consume(t, an)

    for t in list(producer):
        if t in uncarriable and t in consumers:
            raise OnnxImportError(f"{path}: tensor '{t}' has element type {uncarriable[t]}, which vrprune tokens "
                                  f"cannot carry (float32, float16, float64 and the integer types; bool as u8)")

    # with fork: a tensor read by several actors goes to one Fork actor, which copies it to each
    forks: dict[str, tuple[str, list[str]]] = {}  # tensor -> (fork actor, its readers)
    if fork:
        for t in [t for t in producer if len(consumers.get(t, [])) > 1]:
            forks[t] = (fresh(f"Fork{len(forks) + 1}"), consumers[t])
            consumers[t] = [forks[t][0]]

    def out_ports(an: str, produced: list[str]) -> tuple[OutPort, ...]:
        ports = []
        multi = len(produced) > 1
        for k, t in enumerate(produced):
            cons = consumers.get(t, [])
            for c in cons:
                base = f"y{k}" if multi else "y"
                pname = f"{base}_{c}" if len(cons) > 1 else base
                ports.append(OutPort(pname, t, c, k))
        return tuple(ports)

    def in_ports(ins: list[str]) -> tuple[InPort, ...]:
        return tuple(InPort("x" if len(ins) == 1 else f"x{k}", t) for k, t in enumerate(ins))

    actors: list[ActorPlan] = []

    def add_forks(produced: Iterable[str]) -> None:  # right after their producer: the order stays topological
        for t in produced:
            if t in forks:
                name, readers = forks[t]
                actors.append(ActorPlan(name, "fork", (InPort("x", t),),
                                        tuple(OutPort(f"y_{c}", t, c, 0) for c in readers), produced=(t,), tensor=t))

    for t, an in zip(model_inputs, in_names):
        actors.append(ActorPlan(an, "input", (), out_ports(an, [t]), produced=(t,), tensor=t))
        add_forks([t])
    opsets = list(model.opset_import)
    per_layer = layer_threads or [0] * len(layers)
    for lay, an, ins, fl, nthreads in zip(layers, layer_names, layer_inputs, flops, per_layer):
        produced = [o for i in lay for o in nodes[i].output if o and o in consumers and
                    any(c != an for c in consumers[o])]
        ports = out_ports(an, produced)
        ports = tuple(p for p in ports if p.consumer != an)
        used_consts = sorted({t for i in lay for t in nodes[i].input if t in consts})
        sub = onnx.helper.make_graph(
            [nodes[i] for i in lay], an,
            [_value_info(tensors, t, path) for t in ins],
            [_value_info(tensors, t, path) for t in produced],
            [inits[c] for c in used_consts])
        sub_model = onnx.helper.make_model(sub, opset_imports=opsets, ir_version=model.ir_version,
                                           producer_name="vrprune import")
        # the actor's output ports, in order: which subgraph output each one carries
        onnx.helper.set_model_props(sub_model, {PORTS_PROP: ",".join(str(p.source) for p in ports)})
        n_params = sum(int(np.prod(inits[c].dims)) for c in used_consts)
        actors.append(ActorPlan(an, "layer", in_ports(ins), ports, nodes=tuple(node_names[i] for i in lay),
                                ops=tuple(nodes[i].op_type for i in lay), produced=tuple(produced), flops=fl,
                                n_params=n_params, subgraph=sub_model.SerializeToString(), threads=nthreads))
        add_forks(produced)
    for t, an in zip(model_outputs, out_names):
        actors.append(ActorPlan(an, "output", (InPort("x", t),), (), tensor=t))

    in_port_of = {(a.name, p.tensor): p.name for a in actors for p in a.in_ports}
    edges = [EdgePlan(a.name, p.name, p.consumer, in_port_of[(p.consumer, p.tensor)], p.tensor)
             for a in actors for p in a.out_ports]
    return actors, edges


def _value_info(tensors: dict[str, TensorInfo], t: str, path: str):
    import onnx

    info = tensors.get(t)
    if info is None:
        raise OnnxImportError(f"{path}: tensor '{t}' crosses actors but has no known type and static shape after "
                              f"shape inference; fix the input shapes with --shape NAME=D0xD1x...")
    return onnx.helper.make_tensor_value_info(t, info.elem, list(info.shape))


def _identifier(text: str, fallback: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_")
    if not s:
        s = fallback
    if s[0].isdigit():
        s = f"{fallback}_{s}"
    if keyword.iskeyword(s) or s.lower() in _VPR_KEYWORDS:
        s = f"{s}_"
    return s
