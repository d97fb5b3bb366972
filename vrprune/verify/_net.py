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
    edges: list[Edge] = []
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
    if not record and _static_at(net, atr):
        return _simulate_static(net, deadline)
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


def _static_at(net: Net, atr: dict[str, list[int]]) -> bool:
    """Does every firing have its static rates under ``atr``? So it is without DPGs, and with
    each DPG's atr fixed at its url (the worst case the proofs simulate): a variable edge then
    moves url tokens a firing, as its ``prod`` and ``cons`` say, and firing k times one at a time
    is firing a batch of k."""
    for d in {x for x in net.dpg_of if x is not None}:
        if list(atr.get(d, ())) != [net.dpgs[d].url]:
            return False
    for e in net.edges:
        if e.kind == VARIABLE:
            d = net.dpg_of[e.src]
            if d is None or net.dpg_of[e.dst] != d or e.prod != net.dpgs[d].url or e.cons != net.dpgs[d].url:
                return False
    return True


def _simulate_static(net: Net, deadline: float | None, accelerate_after: int | None = None) -> SimResult:
    """:func:`simulate` of a net whose rates are static (:func:`_static_at`), no trace kept: the
    same greedy firing, with rounds skipped where the run has become periodic.

    The firing order depends only on which visits fire, so two consecutive rounds (from one
    worklist content back to the same content) with the same (actor, batch) visits repeat as
    long as every batch stays the same. Each batch is a minimum of floors of fill levels and of
    the firings left, and those drift by a fixed amount per round; the number of further
    rounds for which every such floor keeps the value (or the side of the batch) it had is
    computed exactly, and that many rounds are applied at once: the cost follows the number of
    distinct regimes, not the firings (rates 10^7 and 10^7 - 1 make 2 * 10^7 firings in a
    few rounds of work). tests/verify/test_net_accel.py holds it against the step-by-step run."""
    n = net.size
    edges = net.edges
    q = net.q
    ins = [[(ei, edges[ei].cons) for ei in net.ins[a]] for a in range(n)]
    outs = [[(ei, edges[ei].cap, edges[ei].prod) for ei in net.outs[a]] for a in range(n)]
    nbrs = [[edges[ei].dst for ei in net.outs[a]] + [edges[ei].src for ei in net.ins[a]] for a in range(n)]
    counts = [0] * n
    fills = [e.init for e in edges]
    peak = list(fills)
    work = deque(range(n))
    queued = [True] * n
    import random

    weight = [random.Random(a).getrandbits(61) for a in range(n)]  # a hash of the worklist's content
    mhash = sum(weight)
    steps = 0
    start = (4 * (n + len(edges)) + 256) if accelerate_after is None else accelerate_after
    next_anchor = start
    limit = 50_000  # visits recorded per round at most
    anchor: tuple[int, ...] | None = None
    anchor_hash = 0
    phase = 0  # 1: recording the first round, 2: the second
    rec1: list[tuple[int, int]] = []
    rec2: list[tuple] = []
    fills1: list[int] = []
    counts1: list[int] = []
    peak2: list[int] = []
    while work:
        steps += 1
        if deadline is not None and not steps & 1023 and time.monotonic() > deadline:
            raise SimulationTimeout()
        if anchor is not None and mhash == anchor_hash and len(work) == len(anchor) and tuple(work) == anchor:
            if phase == 1 and rec1:
                phase, rec2 = 2, []
                fills1, counts1, peak2 = list(fills), list(counts), list(fills)
            elif phase == 2 and rec2:
                if [(v[0], v[1]) for v in rec2] == rec1:
                    j = _skippable(rec2, fills, fills1, counts, counts1, q)
                    if j > 0:
                        for i in range(n):
                            counts[i] += j * (counts[i] - counts1[i])
                        for i in range(len(fills)):
                            d = fills[i] - fills1[i]
                            if d > 0:
                                peak[i] = max(peak[i], peak2[i] + j * d)
                            fills[i] += j * d
                    anchor = None  # a new regime: look for the next period from here
                    next_anchor = steps + 1
                else:  # not periodic yet: the second round becomes the first
                    rec1 = [(v[0], v[1]) for v in rec2]
                    rec2 = []
                    fills1, counts1, peak2 = list(fills), list(counts), list(fills)
        if anchor is None and steps >= next_anchor:
            anchor, anchor_hash, phase, rec1, rec2 = tuple(work), mhash, 1, [], []
            next_anchor = 2 * steps
        elif phase and (len(rec1) if phase == 1 else len(rec2)) > limit:
            anchor, phase = None, 0
        a = work.popleft()
        mhash -= weight[a]
        queued[a] = False
        left = q[a] - counts[a]
        if left <= 0:
            if anchor is not None:
                (rec1 if phase == 1 else rec2).append((a, 0) if phase == 1 else (a, 0, None, None))
            continue
        k = left
        for ei, c in ins[a]:
            x = fills[ei] // c
            if x < k:
                k = x
        for ei, cap, p in outs[a]:
            x = (cap - fills[ei]) // p
            if x < k:
                k = x
        if anchor is not None:
            if phase == 1:
                rec1.append((a, max(k, 0)))
            else:
                rec2.append((a, max(k, 0), left, [(fills[ei], c, ei, 1) for ei, c in ins[a]] +
                             [(cap - fills[ei], p, ei, -1) for ei, cap, p in outs[a]]))
        if k <= 0:
            continue
        for ei, c in ins[a]:
            fills[ei] -= k * c
        for ei, _cap, p in outs[a]:
            f = fills[ei] + k * p
            fills[ei] = f
            if f > peak[ei]:
                peak[ei] = f
            if phase == 2 and f > peak2[ei]:
                peak2[ei] = f
        counts[a] += k
        for b in nbrs[a]:
            if not queued[b]:
                queued[b] = True
                work.append(b)
                mhash += weight[b]
        if not queued[a]:
            queued[a] = True
            work.append(a)
            mhash += weight[a]
    complete = all(counts[i] == q[i] for i in range(n))
    return SimResult(counts, fills, complete, [], peak)


def _skippable(rec: list[tuple], fills: list[int], fills1: list[int], counts: list[int], counts1: list[int],
               q: tuple[int, ...]) -> int:
    """How many more rounds repeat the recorded one exactly (see :func:`_simulate_static`)."""
    big = 1 << 62
    j = big
    for a, k, left, terms in rec:
        if terms is None:  # the actor had fired q times: it stays done
            continue
        dc = counts[a] - counts1[a]
        # the firings left: left - r * dc per round
        if k > 0:
            if left == k:
                if dc:
                    return 0  # the batch was all that was left: the next round differs
            elif dc:
                j = min(j, (left - k) // dc)
        for x, m, ei, sign in terms:
            d = sign * (fills[ei] - fills1[ei])  # the numerator's drift per round
            v = x // m
            if k > 0 and v == k:  # a binding floor must keep the value k
                if d > 0:
                    j = min(j, ((k + 1) * m - 1 - x) // d)
                elif d < 0:
                    j = min(j, (x - k * m) // -d)
            elif k > 0:  # a floor above k must stay at least k
                if d < 0:
                    j = min(j, (x - k * m) // -d)
            elif v <= 0:  # a blocked visit: each floor that blocked it must stay <= 0
                if d > 0:
                    j = min(j, (m - 1 - x) // d)
        if j <= 0:
            return 0
    return j if j < big else 0


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
