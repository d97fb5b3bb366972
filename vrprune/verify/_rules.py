"""VR-PRUNE design rules R1-R8 (docs/rules.md), each violation a located diagnostic."""

from __future__ import annotations

from dataclasses import dataclass

from .._words import plural
from ..diagnostics import Diagnostic, Note, error
from ..model import ActorKind, Dpg, Fifo, Graph, GraphIndex

DYN = (ActorKind.DA, ActorKind.DPA)


@dataclass(frozen=True)
class DpgInfo:
    """The resolved structure of one well-formed DPG."""

    dpg: Dpg
    ca: str
    entry: str
    exit: str
    members: frozenset[str]
    lrl: int
    url: int
    has_variable: bool


def _dpg_of(ix: GraphIndex, name: str) -> str | None:
    return ix.actors[name].dpg


def check_rules(g: Graph, ix: GraphIndex | None = None) -> tuple[list[Diagnostic], dict[str, DpgInfo]]:
    """Structural rules R1-R5, R7, R8 (R6 needs the repetition vector: :func:`check_r6`)."""
    ix = ix or g.index()
    d: list[Diagnostic] = []
    infos: dict[str, DpgInfo] = {}

    # R1: CA/DA/DPA only inside DPGs
    for a in g.actors:
        if a.kind is not ActorKind.SPA and a.dpg is None:
            d.append(error("R1", f"{a.kind.value.upper()} '{a.name}' is outside any DPG; "
                                 f"configuration and dynamic actors belong inside a `dpg` block", a.span,
                           help="move it into a `dpg NAME { ... }` block, or make it an spa"))
    # R2: variable ports only on DA/DPA, edges within one DPG
    for a in g.actors:
        for p in a.ports:
            if p.is_variable and a.kind not in DYN:
                d.append(error("R2", f"variable-rate port '{a.name}.{p.name}' on a {a.kind.value} actor; "
                                     "only DAs and DPAs may have variable rates", p.span,
                               Note(a.span, f"'{a.name}' is a {a.kind.value}")))
    for f in g.fifos:
        sp, dp = ix.src_port(f), ix.dst_port(f)
        if (sp.is_variable or dp.is_variable):
            da, db = _dpg_of(ix, f.src.actor), _dpg_of(ix, f.dst.actor)
            if da is None or da != db:
                d.append(error("R2", f"variable-rate fifo {f.name} crosses a DPG boundary; dynamics must stay "
                                     "inside one DPG",
                               f.span, Note(sp.span, f"{f.src} ({'in DPG ' + da if da else 'outside any DPG'})"),
                               Note(dp.span, f"{f.dst} ({'in DPG ' + db if db else 'outside any DPG'})")))
        # R5: symmetric rates on variable edges
        if sp.is_variable != dp.is_variable and not (sp.is_control or dp.is_control):
            var, stat = (sp, dp) if sp.is_variable else (dp, sp)
            d.append(error("R5", f"fifo {f.name} has a variable rate at one end and a static rate at the other",
                           f.span, Note(var.span, f"variable rate {var.lrl}..{var.url}"),
                           Note(stat.span, f"static rate {stat.rate}"),
                           help="both ends of a variable-rate edge must declare the same `@ lrl..url`"))
        elif sp.is_variable and dp.is_variable and (sp.lrl, sp.url) != (dp.lrl, dp.url):
            d.append(error("R5", f"asymmetric rates on fifo {f.name}: {sp.lrl}..{sp.url} at {f.src} but "
                                 f"{dp.lrl}..{dp.url} at {f.dst}",
                           f.span, Note(sp.span, f"produces {sp.lrl}..{sp.url}"),
                           Note(dp.span, f"consumes {dp.lrl}..{dp.url}")))
        if (sp.is_variable or dp.is_variable) and f.initial:
            d.append(error("R5", f"variable-rate fifo {f.name} has initial tokens; their atr would be undefined",
                           f.span))
    # R3: control
    for a in g.actors:
        for p in a.ports:
            if p.is_control and p.direction.value == "out" and a.kind is not ActorKind.CA:
                d.append(error("R3", f"control output '{a.name}.{p.name}' on a {a.kind.value}; only a CA emits "
                                     "control tokens", p.span))
            if p.is_control and p.direction.value == "in" and a.kind not in DYN:
                d.append(error("R3", f"control input '{a.name}.{p.name}' on a {a.kind.value}; only DAs and DPAs "
                                     "read control tokens", p.span))
        if a.kind in DYN:
            ctl = [p for p in a.inputs if p.is_control]
            if not ctl:
                d.append(error("R3", f"{a.kind.value.upper()} '{a.name}' has no control input; it cannot learn its atr",
                               a.span, help="add `control in c` and a fifo from the DPG's CA"))
            for extra in ctl[1:]:
                d.append(error("R3", f"{a.kind.value.upper()} '{a.name}' has more than one control input", extra.span,
                               Note(ctl[0].span, "first control input")))
        if a.kind is ActorKind.CA:
            for p in a.outputs:
                if not p.is_control:
                    d.append(error("R3", f"CA '{a.name}' has a data output '{p.name}'; a CA emits only control "
                                         "tokens", p.span))
    for f in g.fifos:
        sp, dp = ix.src_port(f), ix.dst_port(f)
        if sp.is_control and dp.is_control:
            src, dst = ix.actors[f.src.actor], ix.actors[f.dst.actor]
            if src.kind is ActorKind.CA and dst.kind in DYN and (src.dpg is None or src.dpg != dst.dpg):
                d.append(error("R3", f"control fifo {f.name} goes from CA '{src.name}' to '{dst.name}' of another DPG",
                               f.span, Note(src.span, f"CA of DPG {src.dpg}"),
                               Note(dst.span, f"member of DPG {dst.dpg}")))
            if f.initial:
                d.append(error("R3", f"control fifo {f.name} has initial tokens; control tokens come only from the "
                                     "CA", f.span))

    # fifos with both ends in one DPG, per DPG (computed once: many DPGs must stay linear)
    inner_fifos: dict[str, list[Fifo]] = {dd.name: [] for dd in g.dpgs}
    for f in g.fifos:
        da_, db_ = ix.actors[f.src.actor].dpg, ix.actors[f.dst.actor].dpg
        if da_ is not None and da_ == db_ and da_ in inner_fifos:
            inner_fifos[da_].append(f)

    # per DPG: composition (R1), boundary (R4), control coverage (R3), ranges (R5), structure (R7),
    # pruning (R8)
    if g.dpgs:  # networkx only where there are DPGs: importing it doubles a static graph's check time
        import networkx as nx
    for dpg in g.dpgs:
        members = [ix.actors[n] for n in dpg.actors]
        cas = [a for a in members if a.kind is ActorKind.CA]
        das = [a for a in members if a.kind is ActorKind.DA]
        ok = True
        if len(cas) != 1:
            d.append(error("R1", f"DPG '{dpg.name}' has {plural(len(cas), 'configuration actor')}; it needs "
                                 "exactly one CA",
                           dpg.span, *[Note(a.span, "CA") for a in cas]))
            ok = False
        if len(das) != 2:
            d.append(error("R1", f"DPG '{dpg.name}' has {plural(len(das), 'dynamic actor')} (DA); it needs "
                                 "exactly two, an entry and an exit",
                           dpg.span, *[Note(a.span, "DA") for a in das]))
            ok = False
        mset = frozenset(dpg.actors)
        # R3 coverage: one control edge from the CA to each DA/DPA
        if len(cas) == 1:
            ca = cas[0]
            targets: dict[str, Fifo] = {}
            for f in ix.outs.get(ca.name, ()):
                if not ix.src_port(f).is_control:
                    continue
                if f.dst.actor in targets:
                    d.append(error("R3", f"CA '{ca.name}' has two control fifos to '{f.dst.actor}'", f.span,
                                   Note(targets[f.dst.actor].span, "the first one")))
                targets[f.dst.actor] = f
                if ix.actors[f.dst.actor].kind not in DYN:
                    d.append(error("R3", f"CA '{ca.name}' sends control tokens to '{f.dst.actor}', which is not a "
                                         "DA or DPA", f.span))
            for a in members:
                if a.kind in DYN and a.name not in targets and any(p.is_control for p in a.inputs):
                    cf = next((ff for ff in ix.ins.get(a.name, ()) if ix.dst_port(ff).is_control), None)
                    d.append(error("R3", f"{a.kind.value.upper()} '{a.name}' is not controlled by the CA "
                                         f"'{ca.name}' of its DPG",
                                   cf.span if cf else a.span, Note(ca.span, f"CA of DPG {dpg.name}")))
            # CA data inputs come from outside the DPG
            for f in ix.ins.get(ca.name, ()):
                if f.src.actor in mset:
                    d.append(error("R4", f"CA '{ca.name}' reads fifo {f.name} from inside its own DPG; a CA's "
                                         "inputs come from outside",
                                   f.span, Note(ix.actors[f.src.actor].span, f"'{f.src.actor}' is in DPG {dpg.name}")))
        # R5: one common range for every variable port of the DPG
        var_ports = [(a, p) for a in members for p in a.ports if p.is_variable]
        lrl, url = (var_ports[0][1].lrl, var_ports[0][1].url) if var_ports else (1, 1)
        for a, p in var_ports[1:]:
            if (p.lrl, p.url) != (lrl, url):
                d.append(error("R5", f"port '{a.name}.{p.name}' has range {p.lrl}..{p.url} but DPG '{dpg.name}' uses "
                                     f"{lrl}..{url}; one control token sets the same atr on every variable edge",
                               p.span, Note(var_ports[0][1].span, f"range {lrl}..{url} declared here")))
        # R4: boundary; decide entry/exit
        entry = exit_ = None
        if len(das) == 2:
            ins_from_out = {a.name: [f for f in ix.ins.get(a.name, ()) if f.src.actor not in mset] for a in members}
            outs_to_out = {a.name: [f for f in ix.outs.get(a.name, ()) if f.dst.actor not in mset] for a in members}
            cands_entry = [a for a in das if ins_from_out[a.name] or any(p.is_variable for p in a.outputs)]
            cands_exit = [a for a in das if outs_to_out[a.name] or any(p.is_variable for p in a.inputs)]
            for a in das:
                if ins_from_out[a.name] and outs_to_out[a.name]:
                    d.append(error("R4", f"DA '{a.name}' both receives from and sends to outside DPG '{dpg.name}'; "
                                         "the entry DA only receives, the exit DA only sends", a.span,
                                   *[Note(f.span, "boundary fifo")
                                     for f in ins_from_out[a.name] + outs_to_out[a.name]]))
                    ok = False
            if ok:
                e_only = [a for a in cands_entry if a not in cands_exit]
                x_only = [a for a in cands_exit if a not in cands_entry]
                if len(e_only) == 1 and len(x_only) == 1:
                    entry, exit_ = e_only[0].name, x_only[0].name
                elif len(e_only) == 1:
                    entry = e_only[0].name
                    exit_ = next(a.name for a in das if a.name != entry)
                elif len(x_only) == 1:
                    exit_ = x_only[0].name
                    entry = next(a.name for a in das if a.name != exit_)
                elif (sum(bool(outs_to_out[a.name]) for a in das) == 1
                      or sum(bool(ins_from_out[a.name]) for a in das) == 1):
                    # variable edges both ways (a variable back edge, R7): the boundary decides
                    bx = [a for a in das if outs_to_out[a.name]]
                    if len(bx) == 1:
                        exit_ = bx[0].name
                        entry = next(a.name for a in das if a.name != exit_)
                    else:
                        entry = next(a.name for a in das if ins_from_out[a.name])
                        exit_ = next(a.name for a in das if a.name != entry)
                else:
                    d.append(error("R4", f"cannot tell the entry DA from the exit DA of DPG '{dpg.name}'", dpg.span,
                                   *[Note(a.span, "DA") for a in das],
                                   help="the entry DA receives the DPG's input from outside and produces "
                                        "variable-rate tokens; the exit DA consumes variable-rate tokens and sends "
                                        "static output outside"))
                    ok = False
            for a in members:
                if a.kind is ActorKind.CA:
                    continue
                for f in ins_from_out[a.name]:
                    if a.name != entry:
                        d.append(error("R4", f"fifo {f.name} enters DPG '{dpg.name}' at '{a.name}'; edges enter a "
                                             "DPG only at its entry DA",
                                       f.span, *([Note(ix.actors[entry].span, "entry DA")] if entry else [])))
                    elif ix.dst_port(f).is_variable:
                        d.append(error("R4", f"fifo {f.name} enters DPG '{dpg.name}' on a variable-rate port", f.span))
                for f in outs_to_out[a.name]:
                    if a.name != exit_:
                        d.append(error("R4", f"fifo {f.name} leaves DPG '{dpg.name}' from '{a.name}'; edges leave a "
                                             "DPG only from its exit DA",
                                       f.span, *([Note(ix.actors[exit_].span, "exit DA")] if exit_ else [])))
                    elif ix.src_port(f).is_variable:
                        d.append(error("R4", f"fifo {f.name} leaves DPG '{dpg.name}' on a variable-rate port", f.span))
        # R7: every DPA on an entry -> exit path; no cycle through variable-rate edges
        inner = nx.DiGraph()
        inner.add_nodes_from(dpg.actors)
        for f in inner_fifos[dpg.name]:
            if not ix.src_port(f).is_control:
                inner.add_edge(f.src.actor, f.dst.actor)
        if entry and exit_:
            reach_from_entry = nx.descendants(inner, entry) | {entry}
            reach_to_exit = nx.ancestors(inner, exit_) | {exit_}
            for a in members:
                if a.kind is ActorKind.DPA and not (a.name in reach_from_entry and a.name in reach_to_exit):
                    d.append(error("R7", f"DPA '{a.name}' is not on a path from entry DA '{entry}' to exit DA "
                                         f"'{exit_}'",
                                   a.span, Note(ix.actors[entry].span, "entry DA"),
                                   Note(ix.actors[exit_].span, "exit DA")))
            # R8: the exit DA must still produce static output when atr = 0
            xa = ix.actors[exit_]
            if not any(not p.is_variable and not p.is_control for p in xa.outputs):
                d.append(error("R8", f"exit DA '{exit_}' has no static output; when atr = 0 prunes DPG '{dpg.name}' "
                                     "the exit DA must still produce its static outputs", xa.span,
                               help="give the exit DA a static output port connected outside the DPG"))
        if entry and exit_ and len(cas) == 1:
            infos[dpg.name] = DpgInfo(dpg, cas[0].name, entry, exit_, mset, lrl, url, bool(var_ports))
    # R7: no cycle through variable-rate edges inside a DPG (a cycle that leaves the DPG through
    # the exit DA and re-enters at the entry DA is ordinary feedback on static edges)
    for dpg in g.dpgs:
        inner = nx.DiGraph()
        inner.add_nodes_from(dpg.actors)
        for f in inner_fifos[dpg.name]:
            if not ix.src_port(f).is_control:
                inner.add_edge(f.src.actor, f.dst.actor)
        comp_of: dict[str, int] = {}
        for i, comp in enumerate(nx.strongly_connected_components(inner)):
            for a_ in comp:
                comp_of[a_] = i
        for f in inner_fifos[dpg.name]:
            if ix.src_port(f).is_variable and comp_of[f.src.actor] == comp_of[f.dst.actor]:
                d.append(error("R7", f"variable-rate fifo {f.name} lies on a cycle inside DPG '{dpg.name}'; "
                                     "feedback through variable-rate edges is not allowed", f.span,
                               help="close feedback loops outside the DPG, on static edges with initial tokens"))
    return d, infos


def check_r6(g: Graph, q: dict[str, int], infos: dict[str, DpgInfo]) -> list[Diagnostic]:
    """R6 homogeneity: every actor of a DPG fires as often as its CA."""
    d: list[Diagnostic] = []
    if not q:
        return d
    for info in infos.values():
        ca = g.actor(info.ca)
        assert ca is not None
        for n in info.dpg.actors:
            if q.get(n) != q.get(info.ca):
                a = g.actor(n)
                assert a is not None
                d.append(error("R6", f"'{n}' fires {plural(q[n], 'time')} per graph iteration but CA '{info.ca}' "
                                     f"fires {plural(q[info.ca], 'time')}; "
                                     f"every actor of DPG '{info.dpg.name}' must fire once per CA firing",
                               a.span, Note(ca.span, "the CA")))
    return d
