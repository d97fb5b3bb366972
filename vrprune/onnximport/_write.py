"""Writing an :class:`ImportPlan`: the .vpr text (a pure function of the plan), the .npz of
layer subgraphs and weights, and the small actor module next to them."""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass

import numpy as np

from ._analysis import ActorPlan, ImportPlan

ACTORS_FILE = "onnx_actors.py"
MARKER = "vrprune.onnximport.actors"  # how `vrprune compile` recognises an onnxruntime actor module

_ACTORS_TEXT = f'''"""Actors of the graphs `vrprune import` writes into this folder: onnxruntime runs each
layer's ONNX subgraph (see docs/import.md). Weight files named in the .vpr are found relative
to this folder."""

from {MARKER} import ExitDecision, ExitEntry, ExitMerge, Fork, bind

Input, Layer, Output = bind(__file__)
'''


@dataclass(frozen=True, slots=True)
class Written:
    vpr: str
    npz: str
    actors: str


def _fmt_bytes(n: int) -> str:
    return f"{n} B" if n < 10_000 else (f"{n / 1e3:.1f} kB" if n < 10_000_000 else f"{n / 1e6:.1f} MB")


def _fmt_count(n: int) -> str:
    for unit, f in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= f:
            return f"{n / f:.2f} {unit}"
    return str(n)


def _comment_list(label: str, items: list[str], indent: str) -> list[str]:
    body = textwrap.wrap(", ".join(items), width=100, break_long_words=False, break_on_hyphens=False)
    out = []
    for k, line in enumerate(body):
        out.append(f"{indent}// {label if k == 0 else ' ' * len(label)}{line}")
    return out


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_vpr(plan: ImportPlan, npz_name: str, capacity: int = 2) -> str:
    """The .vpr text of ``plan``: one actor per plan actor, one FIFO per edge, commented with
    the ONNX node names, layer FLOPs and tensor sizes."""
    src = os.path.basename(plan.source)
    layers = [a for a in plan.actors if a.kind == "layer"]
    ins = [a for a in plan.actors if a.kind == "input"]
    outs = [a for a in plan.actors if a.kind == "output"]
    run_params = " ".join([*(f"--param {a.name}.path=FRAMES.npy" for a in ins),
                           *(f"--param {a.name}.path=RESULT.npy" for a in outs)])
    lines = [
        (f"// Written by `vrprune import {src}`: {plan.n_nodes} ONNX nodes (opset {plan.opset}) in {len(layers)} "
         f"layer actors,"),
        f"// each running its ONNX subgraph with onnxruntime ({ACTORS_FILE}); subgraphs and weights are in {npz_name}.",
        "// Re-import rather than edit the actors; FIFO capacities may be resized (vrprune bufsize --write).",
        f"// Run: vrprune run {plan.graph_name}.vpr {run_params}",
        (f"//   ({', '.join(a.name for a in ins)}: .npy with frames on the first axis; without a path, "
         f"`frames` seeded random frames)"),
        "",
        f"graph {plan.graph_name} {{",
    ]
    dpg_of = {a.name: a.dpg for a in plan.actors}
    done: set[str] = set()
    for a in plan.actors:
        if not a.dpg:
            lines.extend(_render_actor(plan, a, npz_name))
            lines.append("")
        elif a.dpg not in done:  # the whole DPG where its first actor stands
            done.add(a.dpg)
            members = [x for x in plan.actors if x.dpg == a.dpg]
            lines.append(f"  // DPG '{a.dpg}': the network after an early exit; its CA prunes it frame by frame")
            lines.append(f"  dpg {a.dpg} {{")
            for x in members:
                lines.extend("  " + t if t else t for t in _render_actor(plan, x, npz_name))
                lines.append("")
            for e in plan.edges:
                if dpg_of.get(e.src) == a.dpg and dpg_of.get(e.dst) == a.dpg:
                    lines.append("  " + _render_fifo(plan, e, capacity))
            lines.append("  }")
            lines.append("")
    for e in plan.edges:
        if not (dpg_of.get(e.src) and dpg_of.get(e.src) == dpg_of.get(e.dst)):
            lines.append(_render_fifo(plan, e, capacity))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _render_fifo(plan: ImportPlan, e, capacity: int) -> str:
    if not e.tensor:
        return f"  fifo {e.src}.{e.src_port} -> {e.dst}.{e.dst_port} capacity {capacity}    // control: atr"
    t = plan.tensors[e.tensor]
    return (f"  fifo {e.src}.{e.src_port} -> {e.dst}.{e.dst_port} capacity {capacity}"
            f"    // {t.name}: {_fmt_bytes(t.nbytes)}")


_EXIT_KINDS = {"exit_decide": ("ExitDecision", "CA: the exit head's confidence (largest softmax probability) >= "
                               "threshold: atr 0 (exit, the rest is pruned), else atr 1"),
               "exit_entry": ("ExitEntry", "entry DA: the activation on at rate atr, the head's result at rate 1"),
               "exit_merge": ("ExitMerge", "exit DA: the late result when atr = 1, else the head's (early) result")}


def _rated(t: str, rate: str) -> str:
    return f"{t} @ {rate}" if rate else t


def _render_actor(plan: ImportPlan, a: ActorPlan, npz_name: str) -> list[str]:
    out: list[str] = []
    ind = "    "
    if a.kind in _EXIT_KINDS:
        cls, what = _EXIT_KINDS[a.kind]
        out.append(f"  // {what}")
        out.append(f"  actor {a.name}: {a.role} {{")
        for c in a.controls:
            out.append(f"{ind}control {'out' if a.role == 'ca' else 'in'} {c}")
        for ip in a.in_ports:
            out.append(f"{ind}in  {ip.name}: {_rated(plan.tensors[ip.tensor].vpr_type, ip.rate)}")
        for op in a.out_ports:
            out.append(f"{ind}out {op.name}: {_rated(plan.tensors[op.tensor].vpr_type, op.rate)}")
        out.append(f"{ind}impl python {_quote(f'{ACTORS_FILE}:{cls}')}")
        for k, v in a.params:
            out.append(f"{ind}param {k} = {v}")
        out.append("  }")
        return out
    if a.kind == "fork":
        readers = ", ".join(p.consumer for p in a.out_ports)
        out.append(f"  // '{a.tensor}' to each of its readers ({readers}): a cut before this actor sends it once")
    elif a.kind == "layer":
        nodes = [f"{n} ({op})" for n, op in zip(a.nodes, a.ops)]
        out.extend(_comment_list("ONNX: ", nodes, "  "))
        out.append(f"  //   {_fmt_count(a.flops)} FLOPs, {_fmt_count(a.n_params)} parameters")
    else:
        what = "model input" if a.kind == "input" else "model output"
        t = plan.tensors[a.tensor]
        out.append(f"  // {what} '{a.tensor}': {t.vpr_type}")
    out.append(f"  actor {a.name}{': ' + a.role if a.role else ''} {{")
    for c in a.controls:
        out.append(f"{ind}control in {c}")
    for ip in a.in_ports:
        out.append(f"{ind}in  {ip.name}: {_rated(plan.tensors[ip.tensor].vpr_type, ip.rate)}")
    for op in a.out_ports:
        out.append(f"{ind}out {op.name}: {_rated(plan.tensors[op.tensor].vpr_type, op.rate)}")
    kind = {"layer": "Layer", "input": "Input", "output": "Output", "fork": "Fork"}[a.kind]
    out.append(f"{ind}impl python {_quote(f'{ACTORS_FILE}:{kind}')}")
    if a.kind == "layer":
        out.append(f"{ind}param model = {_quote(npz_name)}")
        out.append(f"{ind}param layer = {_quote(a.name)}")
        out.append(f"{ind}param threads = {a.threads or plan.threads}")
    elif a.kind != "fork":
        out.append(f"{ind}param tensor = {_quote(a.tensor)}")
        out.append(f"{ind}param token = {_quote(plan.tensors[a.tensor].vpr_type)}")
        out.append(f"{ind}param path = \"\"")
        if a.kind == "input":
            idx = [x.name for x in plan.actors if x.kind == "input"].index(a.name)
            out.append(f"{ind}param frames = 4")
            out.append(f"{ind}param seed = {idx}")
    out.append("  }")
    return out


def write(plan: ImportPlan, out_dir: str, capacity: int = 2) -> Written:
    """Write NAME.vpr, NAME.npz and onnx_actors.py into ``out_dir`` (created if missing)."""
    os.makedirs(out_dir, exist_ok=True)
    name = plan.graph_name
    npz = os.path.join(out_dir, f"{name}.npz")
    vpr = os.path.join(out_dir, f"{name}.vpr")
    actors = os.path.join(out_dir, ACTORS_FILE)
    arrays = {a.name: np.frombuffer(a.subgraph, dtype=np.uint8) for a in plan.actors if a.kind == "layer"}
    tmp = f"{npz}.tmp{os.getpid()}.npz"
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, npz)
    _write_text(actors, _ACTORS_TEXT)
    _write_text(vpr, render_vpr(plan, os.path.basename(npz), capacity))
    return Written(vpr, npz, actors)


def _write_text(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
