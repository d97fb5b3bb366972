"""A compact numeric view of a graph for the proofs, and its deterministic simulation.

Semantics (docs/verification.md): once the atr of every CA firing is fixed, a VR-PRUNE graph
with bounded FIFOs is a determinate (persistent) system: firing one enabled actor never disables
another, because every FIFO has exactly one reader and one writer and the k-th firing of a DA/DPA
always uses the atr of the k-th CA firing. Hence every maximal execution reaches the same firing
counts, and a greedy simulation decides whether one iteration can complete.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from .._words import waits
from ..model import Fifo, Graph, GraphIndex
from ._rules import DpgInfo

STATIC, VARIABLE, CONTROL = 0, 1, 2


@dataclass(frozen=True)
class Edge:
    fifo: Fifo
    src: int
    dst: int
    kind: int  # STATIC / VARIABLE / CONTROL
    prod: int  # static production (1 for control, url for variable)
    cons: int
    init: int
    cap: int


@dataclass(frozen=True)
class Net:
    graph: Graph
    names: tuple[str, ...]
    q: tuple[int, ...]
    edges: tuple[Edge, ...]
    ins: tuple[tuple[int, ...], ...]  # edge indices per actor
    outs: tuple[tuple[int, ...], ...]
    dpg_of: tuple[str | None, ...]  # DPG name of actors whose rates follow an atr
    dpgs: dict[str, DpgInfo] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.names)


def build_net(g: Graph, ix: GraphIndex, q: dict[str, int], dpgs: dict[str, DpgInfo]) -> Net:
    names = tuple(a.name for a in g.actors)
    pos = {n: i for i, n in enumerate(names)}
    edges = []
    ins: list[list[int]] = [[] for _ in names]
    outs: list[list[int]] = [[] for _ in names]
    for f in g.fifos:
        sp, dp = ix.src_port(f), ix.dst_port(f)
        if sp.is_control:
            kind, p, c = CONTROL, 1, 1
        elif sp.is_variable:
            kind, p, c = VARIABLE, sp.url, dp.url
        else:
            kind, p, c = STATIC, sp.rate, dp.rate
        assert f.capacity is not None
        e = Edge(f, pos[f.src.actor], pos[f.dst.actor], kind, p, c, f.initial, f.capacity)
        ins[e.dst].append(len(edges))
        outs[e.src].append(len(edges))
        edges.append(e)
    dpg_of = tuple(
        (a.dpg if a.dpg in dpgs and dpgs[a.dpg].has_variable else None) for a in g.actors
    )
    return Net(g, names, tuple(q[n] for n in names), tuple(edges), tuple(map(tuple, ins)),
               tuple(map(tuple, outs)), dpg_of, dpgs)


@dataclass
class SimResult:
    counts: list[int]
    fills: list[int]
    complete: bool
    trace: list[tuple[str, int, int | None]]  # (actor, number of firings in a row, atr)
    peak: list[int]


class SimulationTimeout(Exception):
    """The simulation ran past its deadline (``--timeout``): nothing was decided."""


def simulate(net: Net, atr: dict[str, list[int]], *, record: bool = True, deadline: float | None = None) -> SimResult:
    """Fire greedily, each actor at most q times, with the given atr per CA firing of each DPG.

    ``deadline``: a ``time.monotonic()`` value; past it, :class:`SimulationTimeout` is raised
    (the number of steps grows with the repetition vector, which rates can make huge)."""
    n = net.size
    steps = 0
    counts = [0] * n
    fills = [e.init for e in net.edges]
    peak = list(fills)
    trace: list[tuple[str, int, int | None]] = []
    edges = net.edges

    def atr_at(a: int, k: int) -> int:
        seq = atr[net.dpg_of[a]]  # type: ignore[index]
        return seq[k] if k < len(seq) else seq[-1]

    work = deque(range(n))
    queued = [True] * n
    while work:
        steps += 1
        if deadline is not None and not steps & 1023 and time.monotonic() > deadline:
            raise SimulationTimeout()
        a = work.popleft()
        queued[a] = False
        left = net.q[a] - counts[a]
        if left <= 0:
            continue
        dyn = net.dpg_of[a] is not None
        if dyn:
            # one firing at a time: the rate of each firing is its own atr
            k = 0
            while k < left:
                steps += 1
                if deadline is not None and not steps & 1023 and time.monotonic() > deadline:
                    raise SimulationTimeout()
                r = atr_at(a, counts[a])
                ok = True
                for ei in net.ins[a]:
                    e = edges[ei]
                    need = r if e.kind == VARIABLE else e.cons
                    if fills[ei] < need:
                        ok = False
                        break
                if ok:
                    for ei in net.outs[a]:
                        e = edges[ei]
                        put = r if e.kind == VARIABLE else e.prod
                        if e.cap - fills[ei] < put:
                            ok = False
                            break
                if not ok:
                    break
                for ei in net.ins[a]:
                    e = edges[ei]
                    fills[ei] -= r if e.kind == VARIABLE else e.cons
                for ei in net.outs[a]:
                    e = edges[ei]
                    fills[ei] += r if e.kind == VARIABLE else e.prod
                    if fills[ei] > peak[ei]:
                        peak[ei] = fills[ei]
                counts[a] += 1
                k += 1
                if record:
                    trace.append((net.names[a], 1, r))
            fired = k
        else:
            k = left
            for ei in net.ins[a]:
                e = edges[ei]
                k = min(k, fills[ei] // e.cons)
            for ei in net.outs[a]:
                e = edges[ei]
                k = min(k, (e.cap - fills[ei]) // e.prod)
            if k <= 0:
                continue
            for ei in net.ins[a]:
                fills[ei] -= k * edges[ei].cons
            for ei in net.outs[a]:
                fills[ei] += k * edges[ei].prod
                if fills[ei] > peak[ei]:
                    peak[ei] = fills[ei]
            counts[a] += k
            fired = k
            if record:
                trace.append((net.names[a], k, None))
        if fired:
            for ei in net.outs[a]:
                b = edges[ei].dst
                if not queued[b]:
                    queued[b] = True
                    work.append(b)
            for ei in net.ins[a]:
                b = edges[ei].src
                if not queued[b]:
                    queued[b] = True
                    work.append(b)
            if not queued[a]:
                queued[a] = True
                work.append(a)
    complete = all(counts[i] == net.q[i] for i in range(n))
    return SimResult(counts, fills, complete, trace, peak)


@dataclass(frozen=True)
class Wait:
    actor: str
    fifo: str
    why: str  # "empty" | "full"
    have: int  # "empty": tokens held; "full": free room
    need: int

    def text(self, capacity: int) -> str:
        """``Up waits for 2 tokens on state (holds 1/4)``: the one wording of a wait (_words.py)."""
        held = self.have if self.why == "empty" else capacity - self.have
        return waits(self.actor, self.fifo, self.why, self.need, held, capacity)


def blocked_reasons(net: Net, sim: SimResult, atr: dict[str, list[int]]) -> list[Wait]:
    """For every unfinished actor at the stuck state, each fifo that blocks it."""
    out: list[Wait] = []
    for a in range(net.size):
        if sim.counts[a] >= net.q[a]:
            continue
        r = None
        if net.dpg_of[a] is not None:
            seq = atr[net.dpg_of[a]]  # type: ignore[index]
            k = sim.counts[a]
            r = seq[k] if k < len(seq) else seq[-1]
        for ei in net.ins[a]:
            e = net.edges[ei]
            need = r if e.kind == VARIABLE and r is not None else e.cons
            if sim.fills[ei] < need:
                out.append(Wait(net.names[a], e.fifo.name, "empty", sim.fills[ei], need))
        for ei in net.outs[a]:
            e = net.edges[ei]
            put = r if e.kind == VARIABLE and r is not None else e.prod
            if e.cap - sim.fills[ei] < put:
                out.append(Wait(net.names[a], e.fifo.name, "full", e.cap - sim.fills[ei], put))
    return out


def wait_cycle(net: Net, waits: list[Wait]) -> list[Wait]:
    """A cycle in the wait-for graph (actor -> actor it waits on), or the chain ending at a
    firing that can never fit (rate above capacity)."""
    by_actor: dict[str, list[Wait]] = {}
    for w in waits:
        by_actor.setdefault(w.actor, []).append(w)
    fifo_ends = {e.fifo.name: (net.names[e.src], net.names[e.dst]) for e in net.edges}
    if not waits:
        return []
    start = waits[0].actor
    seen: dict[str, int] = {}
    path: list[Wait] = []
    cur = start
    while cur in by_actor and cur not in seen:
        seen[cur] = len(path)
        w = by_actor[cur][0]
        # prefer a wait on an unfinished actor
        for cand in by_actor[cur]:
            src, dst = fifo_ends[cand.fifo]
            other = src if cand.why == "empty" else dst
            if other in by_actor:
                w = cand
                break
        path.append(w)
        src, dst = fifo_ends[w.fifo]
        cur = src if w.why == "empty" else dst
    if cur in seen:
        return path[seen[cur]:]
    return path
