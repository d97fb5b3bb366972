"""Partition points: which actors stay on the endpoint, which go to the server.

A *partition point* is a set E of actors kept on the endpoint; every other actor runs on
the server. E must be **precedence-closed** (a down-set, or order ideal): if an actor is on
the endpoint, so is everything it needs within one graph iteration. Data only ever flows
endpoint -> server, as in the Edge-PRUNE paper's sweeps.

How the precedence order is built:

* an edge u -> v with no initial tokens makes u a predecessor of v; edges with initial
  tokens (feedback, delays) do not order the iteration and are ignored;
* every DPG moves as a whole (a cut never splits the CA from its DAs/DPAs: variable-rate
  and control edges always stay on one host), and actors on a common cycle are merged too:
  the order is taken on the condensation, a DAG of *blocks*;
* the sources (actors with no input port: the camera) are pinned to the endpoint.

Enumeration: the blocks are visited in a fixed topological order (ties by declaration
order); each block is either taken (when all its predecessors were taken) or left out
(which leaves out everything after it). Every leaf of that binary recursion is one down-set,
so the cost is O(blocks x points). For a chain of n actors that gives n points
(k = 1..n actors on the endpoint; k = n is fully local). For a graph with branches the count
is the number of down-sets containing the sources, which grows exponentially with the width
of the graph (independent branches multiply). :func:`count_points` stops counting at a
limit and says so; :func:`select_points` keeps a deterministic subset (see there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import networkx as nx

from ..model import Graph


@dataclass(frozen=True, slots=True)
class CutEdge:
    """A FIFO that crosses from the endpoint to the server."""

    fifo: str
    src: str
    dst: str
    bytes_per_iteration: int  # token bytes x tokens per graph iteration


@dataclass(frozen=True, slots=True)
class PartitionPoint:
    """One endpoint/server split. ``endpoint`` in topological order; ``local`` when every
    actor stays on the endpoint (no server, no link)."""

    id: str
    endpoint: tuple[str, ...]
    server: tuple[str, ...]
    frontier: tuple[str, ...]  # the last endpoint actors (maximal elements of E)
    cut: tuple[CutEdge, ...]

    @property
    def local(self) -> bool:
        return not self.server

    @property
    def cut_bytes(self) -> int:
        return sum(c.bytes_per_iteration for c in self.cut)

    @property
    def label(self) -> str:
        if self.local:
            return "fully local"
        return "after " + "+".join(self.frontier)

    def to_json(self) -> dict:
        return {"id": self.id, "label": self.label, "local": self.local, "endpoint": list(self.endpoint),
                "server": list(self.server), "frontier": list(self.frontier), "cut_bytes": self.cut_bytes,
                "cut": [{"fifo": c.fifo, "src": c.src, "dst": c.dst, "bytes": c.bytes_per_iteration}
                        for c in self.cut]}


class Precedence:
    """The block DAG of a graph (see the module docstring) and its down-sets."""

    def __init__(self, graph: Graph, repetition: dict[str, int] | None = None) -> None:
        from ..exec import repetition_vector

        self.graph = graph
        self.index = graph.index()
        self.q = dict(repetition) if repetition else repetition_vector(graph)
        order = {a.name: i for i, a in enumerate(graph.actors)}
        self.decl = order

        g = nx.DiGraph()
        g.add_nodes_from(order)
        for f in graph.fifos:
            if f.initial == 0 and f.src.actor != f.dst.actor:
                g.add_edge(f.src.actor, f.dst.actor)
        # merge each DPG into one node, then cycles
        for d in graph.dpgs:
            members = [m for m in d.actors if m in order]
            for m in members[1:]:
                g.add_edge(members[0], m)
                g.add_edge(m, members[0])
        cond = nx.condensation(g)
        blocks: dict[int, tuple[str, ...]] = {
            n: tuple(sorted(cond.nodes[n]["members"], key=order.__getitem__)) for n in cond.nodes}
        topo = list(nx.lexicographical_topological_sort(cond, key=lambda n: order[blocks[n][0]]))
        self.blocks: list[tuple[str, ...]] = [blocks[n] for n in topo]
        pos = {n: i for i, n in enumerate(topo)}
        self.preds: list[frozenset[int]] = [frozenset(pos[p] for p in cond.predecessors(n)) for n in topo]
        self.succs: list[frozenset[int]] = [frozenset(pos[s] for s in cond.successors(n)) for n in topo]
        self.block_of = {a: i for i, b in enumerate(self.blocks) for a in b}
        self.pinned = frozenset(self.block_of[a.name] for a in graph.actors
                                if not a.ports or all(p.direction.value == "out" for p in a.ports))
        self.actor_order = [a for b in self.blocks for a in b]
        self.is_chain = all(len(b) == 1 for b in self.blocks) and all(
            len(s) <= 1 for s in self.succs) and all(len(p) <= 1 for p in self.preds)

    # ------------------------------------------------------------------ enumeration
    def ideals(self) -> Iterator[frozenset[int]]:
        """Every down-set of blocks that contains the pinned blocks (non-empty), in a
        deterministic order: smaller endpoint sets first along the topological order."""
        n = len(self.blocks)
        preds, pinned = self.preds, self.pinned
        if not n:
            return

        # iterative DFS: (position, taken, banned)
        stack: list[tuple[int, frozenset[int], frozenset[int]]] = [(0, frozenset(), frozenset())]
        while stack:
            i, taken, banned = stack.pop()
            while i < n and i in banned:
                i += 1
            if i == n:
                if taken:
                    yield taken
                continue
            # order: "leave out" is explored first (pushed last) so small sets come first
            if preds[i] <= taken:
                stack.append((i + 1, taken | {i}, banned))
            if i not in pinned:
                stack.append((i + 1, taken, banned | self._descendants(i)))

    def _descendants(self, i: int) -> frozenset[int]:
        cache = self.__dict__.setdefault("_desc", {})
        if i not in cache:
            out = {i}
            todo = [i]
            while todo:
                for s in self.succs[todo.pop()]:
                    if s not in out:
                        out.add(s)
                        todo.append(s)
            cache[i] = frozenset(out)
        return cache[i]

    def count(self, limit: int = 1_000_000) -> tuple[int, bool]:
        """(number of partition points, exact). Stops at ``limit`` (then exact is False)."""
        k = 0
        for _ in self.ideals():
            k += 1
            if k >= limit:
                return k, False
        return k, True

    def prefix_ideals(self) -> list[frozenset[int]]:
        """The cuts of the canonical topological order that are down-sets containing the
        pinned blocks (for a chain: all of them)."""
        out = []
        for k in range(1, len(self.blocks) + 1):
            s = frozenset(range(k))
            if self.pinned <= s and all(self.preds[i] <= s for i in s):
                out.append(s)
        return out

    # ------------------------------------------------------------------ points
    def point(self, ideal: frozenset[int], pid: str = "") -> PartitionPoint:
        ep = {a for i in ideal for a in self.blocks[i]}
        endpoint = tuple(a for a in self.actor_order if a in ep)
        server = tuple(a for a in self.actor_order if a not in ep)
        cut = []
        has_ep_succ: set[str] = set()
        for f in self.graph.fifos:
            if f.src.actor in ep and f.dst.actor in ep and f.src.actor != f.dst.actor:
                has_ep_succ.add(f.src.actor)
            if (f.src.actor in ep) != (f.dst.actor in ep):
                p = self.index.src_port(f)
                nbytes = self.index.token_bytes(f) * p.rate * self.q[f.src.actor]
                cut.append(CutEdge(f.name, f.src.actor, f.dst.actor, nbytes))
        frontier = tuple(a for a in endpoint if a not in has_ep_succ) if server else ()
        return PartitionPoint(pid, endpoint, server, frontier, tuple(cut))

    def points(self, limit: int | None = None) -> list[PartitionPoint]:
        """Every partition point (at most ``limit``), with ids (see :func:`name_points`)."""
        ideals = []
        for s in self.ideals():
            ideals.append(s)
            if limit is not None and len(ideals) >= limit:
                break
        return name_points([self.point(s) for s in ideals])


def name_points(points: Sequence[PartitionPoint]) -> list[PartitionPoint]:
    """Ids ``PPk`` (k = actors on the endpoint) as in the paper; ``PPk.j`` when several
    points keep k actors; ``local`` for the point with no server."""
    from dataclasses import replace

    by_k: dict[int, int] = {}
    for p in points:
        by_k[len(p.endpoint)] = by_k.get(len(p.endpoint), 0) + 1
    seen: dict[int, int] = {}
    out = []
    for p in sorted(points, key=lambda p: (p.local, len(p.endpoint))):
        k = len(p.endpoint)
        seen[k] = seen.get(k, 0) + 1
        if p.local:
            pid = "local"
        elif by_k[k] == 1:
            pid = f"PP{k}"
        else:
            pid = f"PP{k}.{seen[k]}"
        out.append(replace(p, id=pid))
    return out


def privacy_ok(point: PartitionPoint, graph: Graph, *, min_local: int = 0, private_input: bool = False) -> bool:
    """The privacy floor: at least ``min_local`` actors on the endpoint; with
    ``private_input`` no edge leaving a source actor (the raw input) crosses the link."""
    if len(point.endpoint) < min_local:
        return False
    if private_input:
        sources = {a.name for a in graph.actors if all(p.direction.value == "out" for p in a.ports)}
        if any(c.src in sources for c in point.cut):
            return False
    return True


def select_points(prec: Precedence, max_points: int,
                  score: Callable[[PartitionPoint], float] | None = None,
                  keep: Callable[[PartitionPoint], bool] | None = None,
                  scan_limit: int = 200_000) -> tuple[list[PartitionPoint], int, bool]:
    """At most ``max_points`` partition points, chosen deterministically.

    Always kept: fully local, then the cuts of the canonical topological order (for a
    chain these are all the points; when they exceed the budget, evenly spaced ones,
    first and last included). The rest of the budget goes to the other
    down-sets with the lowest ``score`` (default: bytes crossing the link per iteration;
    :mod:`._predict` passes the predicted time), ties broken by fewer endpoint actors and
    then by the topological positions. ``keep`` filters points out first (e.g. the privacy
    floor). At most ``scan_limit`` down-sets are looked at. Returns (points, total count
    seen, exact).
    """
    score = score or (lambda p: float(p.cut_bytes))
    keep = keep or (lambda p: True)
    prefix = prec.prefix_ideals()
    full = frozenset(range(len(prec.blocks)))
    prefix = [s for s in prefix if s != full]
    room = max(0, max_points - 1)
    if len(prefix) > room:  # evenly spaced, first and last included
        if room <= 1:
            prefix = prefix[:room]
        else:
            idx = sorted({round(i * (len(prefix) - 1) / (room - 1)) for i in range(room)})
            prefix = [prefix[i] for i in idx]
    chosen: list[frozenset[int]] = ([full] if max_points >= 1 else []) + prefix
    others: list[tuple[float, int, tuple[int, ...], frozenset[int]]] = []
    total = 0
    exact = True
    chosen_set = set(chosen)
    for s in prec.ideals():
        total += 1
        if total > scan_limit:
            exact = False
            total -= 1
            break
        if s in chosen_set:
            continue
        p = prec.point(s)
        if not keep(p):
            continue
        others.append((score(p), len(s), tuple(sorted(s)), s))
    others.sort(key=lambda t: t[:3])
    for *_, s in others[: max(0, max_points - len(chosen))]:
        chosen.append(s)
    return name_points([prec.point(s) for s in chosen]), total, exact
