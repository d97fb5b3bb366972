"""Rates of a graph, without a solver: the balance equations and the repetition vector (exact
rational arithmetic), and each DPG's rate bounds. The checker (vrprune.verify), the runtime
(vrprune.exec), the distributed runner and the explorer all take them from here.

Variable-rate edges and control edges count as 1:1 (every actor of a DPG fires once per CA
firing, rule R6), so the balance equations are those of the static rates.
"""

from __future__ import annotations

from collections import deque
from fractions import Fraction
from math import gcd, lcm

from .diagnostics import Diagnostic, Note, VrpruneError, error
from .model import Fifo, Graph, GraphIndex


class InconsistentGraph(VrpruneError):
    """The balance equations have no positive solution."""


def repetition_vector(graph: Graph) -> dict[str, int]:
    """q[a] for every actor: the smallest positive solution of the balance equations (per
    connected component, joined by control edges). Raises :class:`InconsistentGraph` (with the
    C1 diagnostics' text) when there is none; :func:`solve_balance` returns them instead."""
    q, diags = solve_balance(graph)
    if diags:
        raise InconsistentGraph("; ".join(f"{d.span}: {d.message}" for d in diags))
    return q


def dpg_rate_ranges(graph: Graph) -> dict[str, tuple[int, int]]:
    """{dpg: (lrl, url)}: the rate range of each DPG's variable-rate ports (the range its CA's
    atr must lie in)."""
    out: dict[str, tuple[int, int]] = {}
    for a in graph.actors:
        if a.dpg is None:
            continue
        for p in a.ports:
            if p.is_variable and a.dpg not in out:
                out[a.dpg] = (p.lrl, p.url)
    return out



def balance_rates(ix: GraphIndex, f: Fifo) -> tuple[int, int]:
    """(production, consumption) per firing used in the balance equations."""
    sp, dp = ix.src_port(f), ix.dst_port(f)
    if sp.is_control or dp.is_control or sp.is_variable or dp.is_variable:
        return 1, 1
    return sp.rate, dp.rate


def solve_balance(g: Graph, ix: GraphIndex | None = None) -> tuple[dict[str, int], list[Diagnostic]]:
    """Smallest positive integer solution per connected component, or C1 diagnostics.

    Data edges (static and variable) form the balance equations. Control edges (CA -> DA/DPA,
    1:1) then join components; a control edge whose ends already disagree is not reported here
    as C1 but left for rule R6 (homogeneity), which names the actor that fires too often."""
    ix = ix or g.index()
    adj: dict[str, list[tuple[Fifo, bool]]] = {a.name: [] for a in g.actors}
    control: list[Fifo] = []
    for f in g.fifos:
        if ix.src_port(f).is_control or ix.dst_port(f).is_control:
            control.append(f)
            continue
        adj[f.src.actor].append((f, True))
        adj[f.dst.actor].append((f, False))
    r: dict[str, Fraction] = {}
    via: dict[str, Fifo | None] = {}
    parent: dict[str, str | None] = {}
    comp_of: dict[str, int] = {}
    comps: list[list[str]] = []
    diags: list[Diagnostic] = []
    for root in (a.name for a in g.actors):
        if root in r:
            continue
        cid = len(comps)
        comp = [root]
        r[root] = Fraction(1)
        via[root] = None
        parent[root] = None
        comp_of[root] = cid
        todo = deque([root])
        bad = False
        while todo:
            u = todo.popleft()
            for f, outgoing in adj[u]:
                p, c = balance_rates(ix, f)
                v = f.dst.actor if outgoing else f.src.actor
                want = r[u] * p / c if outgoing else r[u] * c / p
                if v not in r:
                    r[v] = want
                    via[v] = f
                    parent[v] = u
                    comp_of[v] = cid
                    comp.append(v)
                    todo.append(v)
                elif r[v] != want and not bad:
                    bad = True
                    diags.append(_conflict(ix, f, u, v, via, parent))
        comps.append(comp)
    if diags:
        return {}, diags
    # join components through control edges (1:1)
    for f in control:
        u, v = f.src.actor, f.dst.actor
        cu, cv = comp_of[u], comp_of[v]
        if cu == cv:
            continue  # a disagreement here is an R6 violation, reported by check_r6
        scale = r[u] / r[v]
        for x in comps[cv]:
            r[x] *= scale
            comp_of[x] = cu
        comps[cu] += comps[cv]
        comps[cv] = []
    q: dict[str, int] = {}
    for comp in comps:
        if not comp:
            continue
        den = 1
        for a in comp:
            den = lcm(den, r[a].denominator)
        ints = {a: int(r[a] * den) for a in comp}
        g_ = 0
        for n in ints.values():
            g_ = gcd(g_, n)
        for a, n in ints.items():
            q[a] = n // g_
    return {a.name: q[a.name] for a in g.actors}, diags


def _path_to_root(x: str, via: dict, parent: dict) -> list[tuple[str, Fifo]]:
    out = []
    while parent[x] is not None:
        out.append((x, via[x]))
        x = parent[x]
    return out


def _conflict(ix: GraphIndex, f: Fifo, u: str, v: str, via: dict, parent: dict) -> Diagnostic:
    pu = _path_to_root(u, via, parent)
    pv = _path_to_root(v, via, parent)
    nodes_u = [u] + [parent[x] for x, _ in pu]
    nodes_v = [v] + [parent[x] for x, _ in pv]
    common = next(x for x in nodes_u if x in set(nodes_v))
    cycle_edges: list[Fifo] = []
    for x, e in pu:
        if x == common:
            break
        cycle_edges.append(e)
    for x, e in pv:
        if x == common:
            break
        cycle_edges.append(e)
    notes = []
    for e in [f] + cycle_edges:
        p, c = balance_rates(ix, e)
        notes.append(Note(e.span, f"{e.src} produces {p}, {e.dst} consumes {c} per firing"))
    return error(
        "C1",
        f"inconsistent rates: the balance equations have no positive solution on the cycle through fifo {f.name}",
        f.span,
        *notes,
        help="along any undirected cycle the products of production/consumption ratios must equal 1; fix one rate",
    )
