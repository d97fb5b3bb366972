"""Graphviz DOT of an application graph: token sizes and rates on edges, DPGs as clusters,
and (optionally) a mapping as fill colours per host."""

from __future__ import annotations

from ..model import Graph, Mapping, Port, PortKind

_COLOURS = ["#a6cee3", "#fdbf6f", "#b2df8a", "#fb9a99", "#cab2d6", "#ffff99", "#1f78b4", "#33a02c"]


def _rate(p: Port) -> str:
    if p.kind is PortKind.CONTROL:
        return "ctl"
    if p.kind is PortKind.VARIABLE:
        return f"{p.lrl}..{p.url}"
    return str(p.rate)


def _q(s: str) -> str:
    return '"' + s.replace('"', '\\"') + '"'


def graph_dot(g: Graph, mapping: Mapping | None = None) -> str:
    ix = g.index()
    host_colour: dict[str, str] = {}
    if mapping is not None:
        for i, h in enumerate(mapping.platform.hosts):
            host_colour[h.name] = _COLOURS[i % len(_COLOURS)]
    lines = [f"digraph {_q(g.name)} {{", "  rankdir=LR;",
             "  node [shape=box, style=\"rounded,filled\", fillcolor=white];"]

    def node(a, ind: str) -> str:
        label = a.name if a.kind.value == "spa" else a.name + "\\n" + a.kind.value.upper()
        attrs = [f"label={_q(label)}"]
        if mapping is not None:
            pl = mapping.placement(a.name)
            if pl is not None:
                attrs.append(f"fillcolor={_q(host_colour.get(pl.host, 'white'))}")
                attrs.append(f"tooltip={_q(pl.host + '.' + pl.unit)}")
        return f"{ind}{_q(a.name)} [{', '.join(attrs)}];"

    members = {n for d in g.dpgs for n in d.actors}
    for a in g.actors:
        if a.name not in members:
            lines.append(node(a, "  "))
    for d in g.dpgs:
        lines.append(f"  subgraph {_q('cluster_' + d.name)} {{")
        lines.append(f"    label={_q('DPG ' + d.name)}; style=dashed;")
        for n in d.actors:
            lines.append(node(ix.actors[n], "    "))
        lines.append("  }")
    for f in g.fifos:
        sp, dp = ix.src_port(f), ix.dst_port(f)
        label = f"{sp.token} ({sp.token.nbytes} B)\\n{_rate(sp)} → {_rate(dp)}"
        if f.capacity is not None:
            label += f"\\ncap {f.capacity}"
        if f.initial:
            label += f", init {f.initial}"
        style = ", style=dotted" if sp.is_control else (", style=bold" if sp.is_variable else "")
        cross = ""
        if mapping is not None:
            pa, pb = mapping.placement(f.src.actor), mapping.placement(f.dst.actor)
            if pa and pb and pa.host != pb.host:
                cross = ", color=red, penwidth=2"
        lines.append(f"  {_q(f.src.actor)} -> {_q(f.dst.actor)} [label={_q(label)}{style}{cross}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
