"""Early exits: ``vrprune import MODEL.onnx --exit NODE=HEAD.onnx[:THRESHOLD]``.

After node NODE an exit head (a small classifier, its own ONNX model) runs on NODE's output.
The network after NODE becomes one dynamic processing graph (DPG):

* the configuration actor (CA) reads the head's logits, takes its confidence (the largest
  softmax probability) and chooses atr 0 (exit: the rest is pruned) when the confidence is at
  least THRESHOLD, else atr 1 (continue);
* the entry DA takes NODE's output and the head's logits; it passes the activation on at
  rate atr (0..1) and the logits on at rate 1 to the exit DA;
* the layers after NODE are the DPAs, every port at rate 0..1;
* the exit DA merges: the late result (rate atr) when the rest ran, else the head's logits.

So each frame leaves the DPG with exactly one result, in frame order, whatever the pattern of
exits (R8), and `vrprune check` proves the graph for every such pattern.

:func:`merge_heads` works on the ONNX model (the head's nodes join it, prefixed
``exitK/``); :func:`attach_exits` turns the import plan into the DPG above.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

from ._analysis import (
    ActorPlan,
    EdgePlan,
    ImportPlan,
    InPort,
    OnnxImportError,
    OutPort,
    _identifier,
    _infer_shapes,
    _load,
    _tensor_infos,
    file_problem,
)

DEFAULT_THRESHOLD = 0.9
RATE = "0..1"


@dataclass(frozen=True, slots=True)
class ExitSpec:
    """One ``--exit NODE=HEAD.onnx[:THRESHOLD]``: after node (or tensor) ``node`` the model
    ``head`` runs; a frame exits when the head's largest softmax probability >= ``threshold``."""

    node: str
    head: str
    threshold: float = DEFAULT_THRESHOLD


@dataclass(frozen=True, slots=True)
class HeadInfo:
    index: int  # 1-based
    spec: ExitSpec
    node: str  # the model node the head follows
    tensor: str  # that node's output, the head's input
    logits: str  # the head's output (read by the CA)
    copy: str  # a copy of it (read by the entry DA)
    prefix: str  # "exit1/": prefix of the head's node and tensor names


def parse_exit(text: str) -> ExitSpec:
    """``NODE=HEAD.onnx[:THRESHOLD]`` -> :class:`ExitSpec`; a clear error when malformed."""
    node, sep, rest = text.partition("=")
    if not sep or not node or not rest:
        raise OnnxImportError(f"--exit {text}: expected NODE=HEAD.onnx[:THRESHOLD] (e.g. --exit "
                              f"/features/6/Add=head.onnx:0.8)")
    head, threshold = rest, DEFAULT_THRESHOLD
    base, colon, tail = rest.rpartition(":")
    if colon and not tail.lower().endswith(".onnx") and base:
        head = base
        try:
            threshold = float(tail)
        except ValueError:
            raise OnnxImportError(f"--exit {text}: threshold {tail!r} is not a number; give a confidence in "
                                  f"(0, 1], e.g. {base}:0.8") from None
        if not (math.isfinite(threshold) and 0 < threshold <= 1):
            raise OnnxImportError(f"--exit {text}: threshold {tail} is outside (0, 1]; it is compared with the "
                                  f"head's largest softmax probability")
    if (problem := file_problem(head)) is not None:
        raise OnnxImportError(f"--exit {text}: head model {head}: {problem}")
    return ExitSpec(node, head, threshold)


def _find_node(g, name: str, path: str, text: str):
    for n in g.node:
        if n.name == name:
            return n
    for n in g.node:  # a tensor name: the node that computes it
        if name in n.output:
            return n
    names = [n.name for n in g.node if n.name]
    near = difflib.get_close_matches(name, names, n=4)
    hint = f"; did you mean {', '.join(repr(m) for m in near)}?" if near else \
        f" (its nodes: {', '.join(names[:6])}{', ...' if len(names) > 6 else ''})"
    raise OnnxImportError(f"--exit {text}: {path} has no node or tensor named '{name}'{hint}")


def merge_heads(model, exits: Sequence[ExitSpec], path: str):
    """The model with each head's nodes added (names prefixed ``exitK/``), the head's output
    and a copy of it as extra model outputs; and a :class:`HeadInfo` per exit."""
    import onnx

    if len(exits) > 1:
        raise OnnxImportError(f"--exit given {len(exits)} times: one exit per model is supported (the rest of "
                              f"the network after it is one DPG; DPGs cannot nest)")
    inferred = _infer_shapes(model, path)
    infos, _ = _tensor_infos(inferred)
    g = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if len(g.output) != 1:
        raise OnnxImportError(f"{path}: an early exit needs a model of one output (this one has {len(g.output)}): "
                              f"the exit's result stands in for it")
    heads: list[HeadInfo] = []
    for k, spec in enumerate(exits, start=1):
        text = f"{spec.node}={spec.head}:{spec.threshold:g}"
        node = _find_node(g, spec.node, path, text)
        tensor = node.output[0]
        t_info = infos.get(tensor)
        if t_info is None:
            raise OnnxImportError(f"--exit {text}: the output '{tensor}' of node '{node.name}' has no static shape")
        head = _load(spec.head)
        h_opset = next((o.version for o in head.opset_import if o.domain in ("", "ai.onnx")), 0)
        if h_opset != opset:
            try:
                from onnx import version_converter

                head = version_converter.convert_version(head, opset)
            except Exception as exc:  # noqa: BLE001 -- the converter raises many kinds
                raise OnnxImportError(f"--exit {text}: the head uses opset {h_opset} and the model opset {opset}; "
                                      f"converting failed ({exc}); export the head with opset {opset}") from None
        hg = head.graph
        h_consts = {t.name for t in hg.initializer}
        h_ins = [i for i in hg.input if i.name not in h_consts]
        if len(h_ins) != 1 or len(hg.output) != 1:
            raise OnnxImportError(f"--exit {text}: {spec.head} has {len(h_ins)} inputs and {len(hg.output)} "
                                  f"outputs; an exit head has one input (the node's output) and one output (logits)")
        h_in = h_ins[0]
        tt = h_in.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        elem_ok = tt.elem_type == t_info.elem
        shape_ok = len(dims) == len(t_info.shape) and all(d is None or d == s for d, s in zip(dims, t_info.shape))
        if not (elem_ok and shape_ok):
            got = "x".join("?" if d is None else str(d) for d in dims)
            raise OnnxImportError(f"--exit {text}: the head's input '{h_in.name}' is {got} (element type "
                                  f"{tt.elem_type}) but node '{node.name or tensor}' outputs '{tensor}' of shape "
                                  f"{'x'.join(map(str, t_info.shape))} (element type {t_info.elem}); give the "
                                  f"head an input of that shape")
        prefix = f"exit{k}/"
        ren = {h_in.name: tensor}

        def name(t: str, ren: dict[str, str] = ren, prefix: str = prefix) -> str:
            return "" if not t else ren.setdefault(t, prefix + t)

        for init in hg.initializer:
            new = onnx.TensorProto()
            new.CopyFrom(init)
            new.name = name(init.name)
            g.initializer.append(new)
        for i, n in enumerate(hg.node):
            new = onnx.NodeProto()
            new.CopyFrom(n)
            new.name = prefix + (n.name or f"{n.op_type}_{i}")
            del new.input[:]
            new.input.extend(name(t) for t in n.input)
            del new.output[:]
            new.output.extend(name(t) for t in n.output)
            g.node.append(new)
        logits = name(hg.output[0].name)
        copy = f"{prefix}logits_copy"
        g.node.append(onnx.helper.make_node("Identity", [logits], [copy], name=f"{prefix}copy"))
        for t in (logits, copy):
            vi = onnx.ValueInfoProto()
            vi.CopyFrom(hg.output[0])
            vi.name = t
            g.output.append(vi)
        heads.append(HeadInfo(k, spec, node.name or tensor, tensor, logits, copy, prefix))
    return model, heads


def head_starts(nodes, heads: Sequence[HeadInfo]) -> frozenset[int]:
    """Indexes of the head nodes that read a tensor of the model: each starts a layer, so
    that no head node is fused into the layer of the node it follows."""
    out = set()
    for i, n in enumerate(nodes):
        for h in heads:
            if n.name.startswith(h.prefix) and any(t and not t.startswith(h.prefix) for t in n.input):
                out.add(i)
    return frozenset(out)


def _is_head(a: ActorPlan, h: HeadInfo) -> bool:
    if a.kind == "fork":
        return a.tensor.startswith(h.prefix)
    return bool(a.nodes) and all(n.startswith(h.prefix) for n in a.nodes)


def attach_exits(plan: ImportPlan, heads: Sequence[HeadInfo], path: str) -> ImportPlan:
    """The plan with the network after each exit's node turned into a DPG (module docstring)."""
    for h in heads:
        plan = _attach(plan, h, path)
    return plan


def _attach(plan: ImportPlan, h: HeadInfo, path: str) -> ImportPlan:
    text = f"--exit {h.spec.node}={h.spec.head}"
    by_name = {a.name: a for a in plan.actors}
    edges = list(plan.edges)
    outputs = [a for a in plan.actors if a.kind == "output"]
    ca_out = next(a for a in outputs if a.tensor == h.logits)
    entry_out = next(a for a in outputs if a.tensor == h.copy)
    final = next(a for a in outputs if a.tensor not in (h.logits, h.copy))
    t_edges = [e for e in edges if e.tensor == h.tensor]
    producer = t_edges[0].src
    head = {a.name for a in plan.actors if _is_head(a, h)}
    for a in plan.actors:
        if a.kind == "layer" and a.name not in head and any(n.startswith(h.prefix) for n in a.nodes):
            raise OnnxImportError(f"{text}: layer '{a.name}' mixes the head's nodes with the model's; this is a bug, "
                                  f"please report it")
    preds: dict[str, set[str]] = {}
    for e in edges:
        preds.setdefault(e.dst, set()).add(e.src)
    before = {producer}
    stack = [producer]
    while stack:
        for p in preds.get(stack.pop(), ()):
            if p not in before:
                before.add(p)
                stack.append(p)
    before |= {a.name for a in plan.actors if a.kind == "fork" and a.tensor == h.tensor}  # --fork: its copier
    rest = [a.name for a in plan.actors if a.kind in ("layer", "fork") and a.name not in before
            and a.name not in head]
    rest_set = set(rest)
    if not rest:
        raise OnnxImportError(f"{text}: nothing of the network comes after node '{h.node}'; put the exit earlier")
    into = [e for e in edges if e.dst in rest_set and e.src not in rest_set]
    out_of = [e for e in edges if e.src in rest_set and e.dst not in rest_set]
    for e in into:
        if e.tensor != h.tensor and e.src == producer:
            layer = by_name[producer]
            raise OnnxImportError(f"{text}: node '{h.node}' is fused with the nodes after it into layer "
                                  f"'{producer}' ({', '.join(layer.nodes)}), which passes on '{e.tensor}'; put the "
                                  f"exit after the layer's last node, '{layer.nodes[-1]}'")
        if e.tensor != h.tensor:
            raise OnnxImportError(f"{text}: the network after node '{h.node}' also reads tensor '{e.tensor}' (from "
                                  f"actor '{e.src}'), not only '{h.tensor}'; an exit goes where one tensor alone "
                                  f"carries on (after the last node of a layer, between residual blocks)")
    if len(out_of) != 1 or out_of[0].dst != final.name:
        others = ", ".join(sorted({e.dst for e in out_of if e.dst != final.name}))
        raise OnnxImportError(f"{text}: the network after node '{h.node}' feeds {others or 'nothing'} besides the "
                              f"model output; an exit must come after every branch has joined")
    late = out_of[0]
    t_out = plan.tensors[final.tensor]
    t_head = plan.tensors[h.logits]
    if (t_out.dtype, t_out.shape) != (t_head.dtype, t_head.shape):
        raise OnnxImportError(f"{text}: the head outputs {t_head.vpr_type} but the model outputs {t_out.vpr_type}; "
                              f"an exit head's result stands in for the model's, so give it the same shape")
    if t_head.dtype not in ("f16", "f32", "f64"):
        raise OnnxImportError(f"{text}: the head outputs {t_head.vpr_type}; its confidence is the largest softmax "
                              f"probability of float logits")

    taken = set(by_name)

    def fresh(base: str) -> str:
        name, n = _identifier(base, "actor"), 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        return name

    k = h.index
    dpg = f"after_exit{k}"
    ca, entry, merge = fresh(f"Exit{k}Decide"), fresh(f"Exit{k}Entry"), fresh(f"Exit{k}Merge")
    ctrl_of = {a: f"c_{a}" for a in (entry, *rest, merge)}

    new_edges: list[EdgePlan] = []
    for e in edges:
        if e in into or e is late or e.dst in (ca_out.name, entry_out.name):
            continue
        if e.src in rest_set:  # inside the DPG
            new_edges.append(dataclasses.replace(e, rate=RATE))
        else:
            new_edges.append(e)
    head_last = {e.dst: e for e in edges if e.dst in (ca_out.name, entry_out.name)}
    e_logits, e_copy = head_last[ca_out.name], head_last[entry_out.name]
    new_edges.append(EdgePlan(e_logits.src, e_logits.src_port, ca, "x", h.logits))
    new_edges.append(EdgePlan(e_copy.src, e_copy.src_port, entry, "early", h.copy))
    entry_in, entry_out_ports = [], []
    for i, e in enumerate(into):
        new_edges.append(EdgePlan(e.src, e.src_port, entry, f"x{i}", h.tensor))
        new_edges.append(EdgePlan(entry, f"y{i}", e.dst, e.dst_port, h.tensor, RATE))
        entry_in.append(InPort(f"x{i}", h.tensor))
        entry_out_ports.append(OutPort(f"y{i}", h.tensor, e.dst, 0, RATE))
    new_edges.append(EdgePlan(entry, "early_fwd", merge, "early", h.copy))
    new_edges.append(EdgePlan(late.src, late.src_port, merge, "late", late.tensor, RATE))
    new_edges.append(EdgePlan(merge, "y", late.dst, late.dst_port, late.tensor))
    for member, c in ctrl_of.items():
        new_edges.append(EdgePlan(ca, c, member, "c", ""))

    token = plan.tensors[h.logits].vpr_type
    ca_plan = ActorPlan(ca, "exit_decide", (InPort("x", h.logits),), (), role="ca", dpg=dpg,
                        controls=tuple(ctrl_of.values()), tensor=h.logits,
                        params=(("threshold", repr(float(h.spec.threshold))), ("token", f'"{token}"'),
                                ("exit", str(k)), ("head", f'"{os.path.basename(h.spec.head)}"'),
                                ("node", _vpr_string(h.node))))
    entry_plan = ActorPlan(entry, "exit_entry", (*entry_in, InPort("early", h.copy)),
                           (*entry_out_ports, OutPort("early_fwd", h.copy, merge, 0)), role="da", dpg=dpg,
                           controls=("c",))
    merge_plan = ActorPlan(merge, "exit_merge", (InPort("late", late.tensor, RATE), InPort("early", h.copy)),
                           (OutPort("y", late.tensor, final.name, 0),), role="da", dpg=dpg, controls=("c",))
    actors: list[ActorPlan] = []
    for a in plan.actors:
        if a.name in (ca_out.name, entry_out.name):
            continue
        if a.name == rest[0]:
            actors.extend([ca_plan, entry_plan])
        if a.name == final.name:
            actors.append(merge_plan)
        if a.name in rest_set:
            a = dataclasses.replace(
                a, role="dpa", dpg=dpg, controls=("c",),
                in_ports=tuple(dataclasses.replace(p, rate=RATE) for p in a.in_ports),
                out_ports=tuple(dataclasses.replace(p, rate=RATE) for p in a.out_ports))
        actors.append(a)
    # head actors after the producer, before the DPG: move them up (the order stays topological)
    head_acts = [a for a in actors if a.name in head]
    actors = [a for a in actors if a.name not in head]
    at = next(i for i, a in enumerate(actors) if a.name == ca)
    actors[at:at] = head_acts
    notes = (*plan.notes, f"exit {k} after node '{h.node}': head {h.spec.head} ({len(head)} actors), "
             f"threshold {h.spec.threshold:g}; the {len(rest)} actors after it form DPG '{dpg}'")
    plan = dataclasses.replace(plan, actors=tuple(actors), edges=tuple(new_edges), notes=notes)
    return _renamed(plan, final.name, "Output") if "Output" not in taken else plan


def _renamed(plan: ImportPlan, old: str, new: str) -> ImportPlan:
    """The plan with actor ``old`` called ``new`` (the model output's actor is "Output" when
    the model has one output, as without exits)."""
    def ren(n: str) -> str:
        return new if n == old else n

    actors = tuple(dataclasses.replace(a, name=ren(a.name),
                                       out_ports=tuple(dataclasses.replace(p, consumer=ren(p.consumer))
                                                       for p in a.out_ports)) for a in plan.actors)
    edges = tuple(dataclasses.replace(e, src=ren(e.src), dst=ren(e.dst)) for e in plan.edges)
    return dataclasses.replace(plan, actors=actors, edges=edges)


def _vpr_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
