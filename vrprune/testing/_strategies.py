"""Hypothesis strategies for VR-PRUNE graphs (see the package docstring for a tour).

How graphs are built: a *skeleton* of nodes and static edges is drawn first, each node with a
repetition count q in [1, max_rate]; every edge u -> v then gets rates p = g * l / q_u and
c = g * l / q_v with l = lcm(q_u, q_v), so the balance equations hold by construction (any
topology, cycles included, is consistent). A node is an SPA or a whole DPG (CA, entry DA,
DPAs, exit DA; all with the node's q, rule R6). Capacities are then sized with the brute-force
explorer: raised from the obvious lower bounds until no firing blocks on a full fifo, and then
either lowered to a local minimum ("tight"), lowered by one below it on one fifo ("one-less",
a deadlock), or given some slack.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from math import gcd, lcm

from hypothesis import assume
from hypothesis import strategies as st

from ..model import (
    CONTROL_TOKEN_BYTES,
    NO_SPAN,
    Actor,
    ActorKind,
    Direction,
    Dpg,
    Fifo,
    Graph,
    Host,
    Link,
    Mapping,
    Placement,
    Platform,
    Port,
    PortKind,
    PortRef,
    TokenType,
    Unit,
    UnitKind,
)
from ..verify import brute_force as explore

CONTROL_TOKEN = TokenType("i32", (), CONTROL_TOKEN_BYTES)
TOKEN_TYPES: tuple[TokenType, ...] = (
    TokenType("f32", (2,), 8),
    TokenType("i32", (), 4),
    TokenType("u8", (4, 4), 16),
    TokenType("f64", (), 8),
    TokenType(None, (), 12),
)

# explorer budget while sizing capacities; a graph that needs more is rejected (assume)
_SIZING_STATES = 20_000


# ------------------------------------------------------------------ skeletons


@dataclass
class _Node:
    q: int
    dpg: tuple[int, int, int, tuple[tuple[int, int], ...], bool] | None = None
    """For a DPG node: (lrl, url, number of DPAs, internal variable edges between
    positions 0 = entry, 1..n = DPAs, n+1 = exit, whether the CA reads the first input)."""
    spas: tuple[tuple[int, int, int], ...] = ()
    """For a DPG node: SPAs inside the DPG, each (from position, to position, rate): a static
    path member[from] -> SPA -> member[to] with the same rate at both ends of both edges."""


@dataclass
class _Skeleton:
    nodes: list[_Node] = field(default_factory=list)
    edges: list[tuple[int, int, int]] = field(default_factory=list)  # (src, dst, initial-token share)


@st.composite
def _dpg_node(draw: st.DrawFn, q: int, max_rate: int, n_dpas: int, n_spas: int = 0,
              min_rate: int = 1) -> _Node:
    url = draw(st.integers(max(1, min_rate), max(1, max_rate)))
    lrl = draw(st.sampled_from(sorted({0, url, draw(st.integers(0, url))})))
    n = n_dpas
    edges: set[tuple[int, int]] = set()
    exit_ = n + 1
    for i in range(1, n + 1):  # each DPA gets a predecessor before it...
        edges.add((draw(st.integers(0, i - 1)), i))
    for i in range(1, n + 1):  # ...and a successor after it, so it lies on an entry-exit path
        if not any(s == i for s, _ in edges):
            edges.add((i, draw(st.integers(i + 1, exit_))))
    if n == 0 or draw(st.booleans()):
        a = draw(st.integers(0, n))
        edges.add((a, draw(st.integers(a + 1, exit_))))
    ca_reads = draw(st.booleans()) or draw(st.booleans())
    spas = []
    for _ in range(n_spas):  # a static bypass from an earlier member to a later one
        a = draw(st.integers(0, n))
        spas.append((a, draw(st.integers(a + 1, exit_)), draw(st.integers(1, max(1, max_rate)))))
    return _Node(q, (lrl, url, n, tuple(sorted(edges)), ca_reads), tuple(spas))


def _rates(qu: int, qv: int, g: int) -> tuple[int, int]:
    m = lcm(qu, qv)
    return g * m // qu, g * m // qv


@st.composite
def _skeleton(draw: st.DrawFn, shape: str, max_actors: int, max_rate: int, with_dpg: bool,
              min_rate: int = 1, dpg_spas: bool = True) -> _Skeleton:
    sk = _Skeleton()
    q_of = lambda: draw(st.integers(1, max_rate))  # noqa: E731
    if with_dpg:
        # one actor is kept for a sink SPA: the exit DA of the last DPG needs a static output (R8)
        n_dpg = 2 if max_actors >= 7 and not draw(st.integers(0, 3)) else 1
        sizes = []
        spare = max_actors - 3 * n_dpg - 1
        for _ in range(n_dpg):
            n_dpa = draw(st.integers(0, min(2, spare)))
            spare -= n_dpa
            n_spa = draw(st.integers(0, min(1, spare))) if dpg_spas and draw(st.booleans()) else 0
            spare -= n_spa
            sizes.append((n_dpa, n_spa))
        kinds = ["dpg"] * n_dpg + ["spa"] * draw(st.integers(min(1, spare), spare))
        order = draw(st.permutations(range(len(kinds))))
        dpas = iter(sizes)
        for i in order:
            q = q_of()
            if kinds[i] == "dpg":
                n_dpa, n_spa = next(dpas)
                sk.nodes.append(draw(_dpg_node(q, max_rate, n_dpa, n_spa, min_rate)))
            else:
                sk.nodes.append(_Node(q))
    else:
        for _ in range(draw(st.integers(2, max_actors))):
            sk.nodes.append(_Node(q_of()))
    n = len(sk.nodes)
    for i in range(1, n):
        src = i - 1 if shape == "chain" else draw(st.integers(0, i - 1))
        sk.edges.append((src, i, 0))
    if shape != "chain":
        for _ in range(draw(st.integers(0, 2))):  # fork/join extra forward edges
            if n < 2:
                break
            a = draw(st.integers(0, n - 2))
            sk.edges.append((a, draw(st.integers(a + 1, n - 1)), 0))
    # R8: every exit DA sends static output outside its DPG
    for k in range(n):
        if sk.nodes[k].dpg is None or any(s == k for s, _, _ in sk.edges):
            continue
        if k < n - 1:
            sk.edges.append((k, draw(st.integers(k + 1, n - 1)), 0))
        else:
            sk.nodes.append(_Node(q_of()))
            sk.edges.append((k, len(sk.nodes) - 1, 0))
    n = len(sk.nodes)
    if shape == "cycle":
        if n == 1:
            return sk
        for _ in range(draw(st.integers(1, 2))):  # back edges: feedback with initial tokens
            b = draw(st.integers(1, n - 1))
            sk.edges.append((b, draw(st.integers(0, b - 1)), draw(st.integers(1, 4))))
    return sk


# ---------------------------------------------------------------- materialise


class _Build:
    def __init__(self) -> None:
        self.ports: dict[str, list[Port]] = {}
        self.kinds: dict[str, ActorKind] = {}
        self.dpg_of: dict[str, str | None] = {}
        self.fifos: list[Fifo] = []
        self.caps: list[int] = []
        self.dpgs: list[Dpg] = []

    def actor(self, name: str, kind: ActorKind, dpg: str | None) -> str:
        self.ports[name] = []
        self.kinds[name] = kind
        self.dpg_of[name] = dpg
        return name

    def _port(self, actor: str, d: Direction, kind: PortKind, tok: TokenType, lrl: int, url: int) -> str:
        prefix = {PortKind.CONTROL: "c", PortKind.VARIABLE: "v", PortKind.STATIC: ""}[kind]
        prefix += "x" if d is Direction.IN else "y"
        name = f"{prefix}{sum(1 for p in self.ports[actor] if p.name.startswith(prefix))}"
        self.ports[actor].append(Port(name, d, kind, tok, lrl, url, NO_SPAN))
        return name

    def edge(self, src: str, dst: str, kind: PortKind, tok: TokenType, rates: tuple[int, int] = (1, 1),
             initial: int = 0, lrl: int = 1) -> None:
        if kind is PortKind.STATIC:
            sp = self._port(src, Direction.OUT, kind, tok, rates[0], rates[0])
            dp = self._port(dst, Direction.IN, kind, tok, rates[1], rates[1])
        else:
            sp = self._port(src, Direction.OUT, kind, tok, lrl, rates[0])
            dp = self._port(dst, Direction.IN, kind, tok, lrl, rates[1])
        name = f"e{len(self.fifos)}"
        self.fifos.append(Fifo(name, PortRef(src, sp), PortRef(dst, dp), None, initial, NO_SPAN))
        self.caps.append(max(1, initial, rates[0], rates[1]))

    def graph(self, caps: list[int]) -> Graph:
        actors = tuple(Actor(n, self.kinds[n], tuple(ps), dpg=self.dpg_of[n]) for n, ps in self.ports.items())
        fifos = tuple(replace(f, capacity=c) for f, c in zip(self.fifos, caps))
        return Graph("G", actors, fifos, tuple(self.dpgs))


def _materialise(draw: st.DrawFn, sk: _Skeleton, max_rate: int) -> _Build:
    b = _Build()
    ins: list[str] = []  # actor receiving the node's inputs
    outs: list[str] = []
    cas: dict[int, str] = {}
    spa_i = 0
    for k, node in enumerate(sk.nodes):
        if node.dpg is None:
            name = b.actor(f"A{spa_i}", ActorKind.SPA, None)
            spa_i += 1
            ins.append(name)
            outs.append(name)
            continue
        lrl, url, n, vedges, _ = node.dpg
        d = f"P{len(b.dpgs)}"
        ca = b.actor(f"{d}ca", ActorKind.CA, d)
        members = [b.actor(f"{d}en", ActorKind.DA, d)]
        members += [b.actor(f"{d}d{i}", ActorKind.DPA, d) for i in range(1, n + 1)]
        members.append(b.actor(f"{d}ex", ActorKind.DA, d))
        b.dpgs.append(Dpg(d, (ca, *members, *(f"{d}s{i}" for i in range(1, len(node.spas) + 1))), NO_SPAN))
        for m in members:
            b.edge(ca, m, PortKind.CONTROL, CONTROL_TOKEN)
        for s, t in vedges:
            b.edge(members[s], members[t], PortKind.VARIABLE, draw(st.sampled_from(TOKEN_TYPES)), (url, url), lrl=lrl)
        for i, (s, t, r) in enumerate(node.spas, start=1):
            spa = b.actor(f"{d}s{i}", ActorKind.SPA, d)
            b.edge(members[s], spa, PortKind.STATIC, draw(st.sampled_from(TOKEN_TYPES)), (r, r))
            b.edge(spa, members[t], PortKind.STATIC, draw(st.sampled_from(TOKEN_TYPES)), (r, r))
        cas[k] = ca
        ins.append(members[0])
        outs.append(members[-1])
    ca_fed: set[int] = set()
    for s, t, share in sk.edges:
        qs, qt = sk.nodes[s].q, sk.nodes[t].q
        p0, c0 = _rates(qs, qt, 1)
        g = draw(st.integers(1, max(1, max_rate // max(p0, c0))))
        p, c = p0 * g, c0 * g
        # share > 0: a back edge; give it between one and `share` firings' worth of the consumer
        init = 0 if share == 0 else draw(st.integers(1, max(1, c * min(share, qt))))
        tok = draw(st.sampled_from(TOKEN_TYPES))
        b.edge(outs[s], ins[t], PortKind.STATIC, tok, (p, c), init)
        node = sk.nodes[t]
        if node.dpg is not None and node.dpg[4] and t not in ca_fed:
            # the CA reads the same stream as the entry DA (a fork at the source)
            ca_fed.add(t)
            b.edge(outs[s], cas[t], PortKind.STATIC, draw(st.sampled_from(TOKEN_TYPES)), (p, c), init)
    return b


# ------------------------------------------------------------------ capacities


def _deadlocks(g: Graph) -> bool:
    r = explore(g, _SIZING_STATES, stop_at_deadlock=True)
    assume(r.verdict != "too-large")
    return r.verdict == "deadlock"


def _sized(draw: st.DrawFn, b: _Build, slack: tuple[int, int]) -> Graph:
    lower = list(b.caps)
    caps = list(lower)
    index = {f.name: i for i, f in enumerate(b.fifos)}
    for _ in range(200):  # raise every fifo some actor waits to write into
        r = explore(b.graph(caps), _SIZING_STATES, stop_at_deadlock=True)
        assume(r.verdict != "too-large")
        if r.verdict != "deadlock":
            break
        full = {index[f] for _a, f, why in r.wait if why == "full"}
        if not full:  # every actor waits for data: no capacity helps (too few initial tokens)
            return b.graph(caps)
        for i in full:
            caps[i] += 1
    else:
        assume(False)
    mode = draw(st.sampled_from(["tight", "one-less", "one-less", "slack"]))
    order = draw(st.permutations(range(len(caps))))
    if mode == "slack":
        return b.graph([c + draw(st.integers(*slack)) for c in caps])
    if mode == "tight":
        for i in order:
            while caps[i] > lower[i]:
                caps[i] -= 1
                if _deadlocks(b.graph(caps)):
                    caps[i] += 1
                    break
        return b.graph(caps)
    # one-less: one fifo just below the smallest capacity that keeps the rest live
    floor = [max(1, f.initial) for f in b.fifos]
    # fifos above their obvious lower bound first: their deadlocks are the interesting ones
    for i in sorted(order, key=lambda i: caps[i] <= lower[i]):
        if caps[i] <= floor[i]:
            continue
        while caps[i] > floor[i]:
            caps[i] -= 1
            if _deadlocks(b.graph(caps)):
                return b.graph(caps)
    return b.graph(caps)


@st.composite
def _graphs_of(draw: st.DrawFn, shape: str, max_actors: int, max_rate: int, with_dpg: bool,
               capacity_slack: tuple[int, int], dpg_spas: bool = True) -> Graph:
    sk = draw(_skeleton(shape, max_actors, max_rate, with_dpg, dpg_spas=dpg_spas))
    b = _materialise(draw, sk, max_rate)
    return _sized(draw, b, capacity_slack)


# ------------------------------------------------------------------ public


def sdf_chains(max_actors: int = 6, max_rate: int = 3,
               capacity_slack: tuple[int, int] = (0, 2)) -> st.SearchStrategy[Graph]:
    """Pipelines of SPAs, A0 -> A1 -> ..., with multi-rate edges (rates up to ``max_rate``)."""
    return _graphs_of("chain", max_actors, max_rate, False, capacity_slack)


def dags(max_actors: int = 6, max_rate: int = 3, capacity_slack: tuple[int, int] = (0, 2)) -> st.SearchStrategy[Graph]:
    """Connected acyclic SPA graphs with forks, joins and parallel edges."""
    return _graphs_of("dag", max_actors, max_rate, False, capacity_slack)


def cycles(max_actors: int = 6, max_rate: int = 3,
           capacity_slack: tuple[int, int] = (0, 2)) -> st.SearchStrategy[Graph]:
    """SPA graphs with one or two back edges, each carrying 1.. initial tokens (sometimes too
    few for a full iteration, which deadlocks whatever the capacities)."""
    return _graphs_of("cycle", max_actors, max_rate, False, capacity_slack)


def dpg_graphs(max_actors: int = 6, max_rate: int = 3, cycles: bool = True,
               capacity_slack: tuple[int, int] = (0, 2), dpg_spas: bool = True) -> st.SearchStrategy[Graph]:
    """Graphs with one or two DPGs (variable rates lrl..url, lrl = 0 included; two need
    ``max_actors >= 7``) embedded in a chain, a DAG or (with ``cycles``) a graph with feedback
    edges around or through them. Every exit DA has a static output to outside its DPG (R8);
    with ``dpg_spas`` about half of the DPGs hold an SPA on a static path between members."""
    if max_actors < 4:
        raise ValueError("dpg_graphs needs max_actors >= 4 (CA, two DAs and a sink)")
    shapes = ["chain", "dag"] + (["cycle"] if cycles else [])
    return st.sampled_from(shapes).flatmap(
        lambda s: _graphs_of(s, max_actors, max_rate, True, capacity_slack, dpg_spas))


def graphs(max_actors: int = 6, max_rate: int = 3, dpg: bool = True, cycles: bool = True,
           capacity_slack: tuple[int, int] = (0, 2), dpg_spas: bool = True) -> st.SearchStrategy[Graph]:
    """Well-formed graphs (load rules and R1-R8 hold, consistent, every capacity set, weakly
    connected, every directed cycle carries initial tokens), mixing :func:`sdf_chains`,
    :func:`dags`, :func:`cycles` and (with ``dpg``) :func:`dpg_graphs`.

    ``max_actors`` >= 3 bounds the number of actors; ``max_rate`` bounds static rates and url.
    Roughly half of the graphs deadlock: capacities are the smallest that keep the graph live,
    one token less on one fifo, or that plus ``capacity_slack`` (lo, hi) extra tokens per fifo.
    """
    if max_actors < 3:
        raise ValueError("max_actors must be at least 3")
    opts = [sdf_chains(max_actors, max_rate, capacity_slack), dags(max_actors, max_rate, capacity_slack)]
    if cycles:
        opts.append(_cycles(max_actors, max_rate, capacity_slack))
    if dpg and max_actors >= 4:
        d = dpg_graphs(max_actors, max_rate, cycles, capacity_slack, dpg_spas)
        opts += [d, d]
    return st.one_of(opts)


_cycles = cycles


# ------------------------------------------------------------------ mutations


def _fresh(taken: set[str], stem: str) -> str:
    i = 0
    while f"{stem}{i}" in taken:
        i += 1
    return f"{stem}{i}"


def _add_port(g: Graph, actor: str, port: Port) -> Graph:
    return replace(g, actors=tuple(replace(a, ports=a.ports + (port,)) if a.name == actor else a for a in g.actors))


def _connect(g: Graph, src: str, sport: Port, dst: str, dport: Port, cap: int, initial: int = 0) -> Graph:
    """Add an output port to src, an input port to dst and the fifo between them."""
    sa, da = g.actor(src), g.actor(dst)
    assert sa is not None and da is not None
    sport = replace(sport, name=_fresh({p.name for p in sa.ports}, "my"))
    g = _add_port(g, src, sport)
    da = g.actor(dst)
    assert da is not None
    dport = replace(dport, name=_fresh({p.name for p in da.ports}, "mx"))
    g = _add_port(g, dst, dport)
    name = _fresh({f.name for f in g.fifos}, "m")
    return replace(g, fifos=g.fifos + (Fifo(name, PortRef(src, sport.name), PortRef(dst, dport.name), cap, initial),))


def _static(d: Direction, rate: int = 1, tok: TokenType = TOKEN_TYPES[1]) -> Port:
    return Port("_", d, PortKind.STATIC, tok, rate, rate)


def _control(d: Direction) -> Port:
    return Port("_", d, PortKind.CONTROL, CONTROL_TOKEN, 1, 1)


def _dpg_parts(g: Graph, d: Dpg) -> tuple[Actor | None, list[Actor], list[Actor]]:
    """(CA, DAs, DPAs) of a DPG."""
    members = [a for a in g.actors if a.dpg == d.name]
    ca = next((a for a in members if a.kind is ActorKind.CA), None)
    return ca, [a for a in members if a.kind is ActorKind.DA], [a for a in members if a.kind is ActorKind.DPA]


def _entry_exit(g: Graph, d: Dpg) -> tuple[Actor | None, Actor | None]:
    _ca, das, _dpas = _dpg_parts(g, d)
    ix = g.index()
    entry = next((a for a in das if any(ix.src_port(f).is_variable for f in ix.outs[a.name])), None)
    exit_ = next((a for a in das if any(ix.dst_port(f).is_variable for f in ix.ins[a.name])), None)
    return entry, exit_


def _m_r1(draw: st.DrawFn, g: Graph) -> Graph:
    # a CA outside every DPG, fed by a new output of an SPA outside the DPGs
    spas = [a for a in g.actors if a.kind is ActorKind.SPA and a.dpg is None]
    src = draw(st.sampled_from(spas))
    name = _fresh({a.name for a in g.actors}, "Stray")
    g = replace(g, actors=g.actors + (Actor(name, ActorKind.CA, ()),))
    return _connect(g, src.name, _static(Direction.OUT), name, _static(Direction.IN), cap=4)


def _m_r2(draw: st.DrawFn, g: Graph) -> Graph:
    # a variable-rate edge between two SPAs outside any DPG
    spas = [a for a in g.actors if a.kind is ActorKind.SPA and a.dpg is None]
    src = draw(st.sampled_from(spas))
    name = _fresh({a.name for a in g.actors}, "Sink")
    g = replace(g, actors=g.actors + (Actor(name, ActorKind.SPA, ()),))
    tok = TOKEN_TYPES[0]
    v = lambda d: Port("_", d, PortKind.VARIABLE, tok, 0, 2)  # noqa: E731
    return _connect(g, src.name, v(Direction.OUT), name, v(Direction.IN), cap=4)


def _with_dpg(g: Graph) -> list[Dpg]:
    out = []
    for d in g.dpgs:
        ca, das, _ = _dpg_parts(g, d)
        entry, exit_ = _entry_exit(g, d)
        if ca is not None and len(das) == 2 and entry is not None and exit_ is not None:
            out.append(d)
    return out


def _m_r3(draw: st.DrawFn, g: Graph) -> Graph:
    # a second control edge from the CA to one of its DAs/DPAs (two control inputs)
    d = draw(st.sampled_from(_with_dpg(g)))
    ca, das, dpas = _dpg_parts(g, d)
    assert ca is not None
    target = draw(st.sampled_from(das + dpas))
    return _connect(g, ca.name, _control(Direction.OUT), target.name, _control(Direction.IN), cap=1)


def _m_r4(draw: st.DrawFn, g: Graph) -> Graph:
    # the CA reads data produced inside its DPG (by the entry DA); one initial token so that the
    # new cycle CA -> entry -> CA is not feedback without delay (R7)
    d = draw(st.sampled_from(_with_dpg(g)))
    ca, _, _ = _dpg_parts(g, d)
    entry, _ = _entry_exit(g, d)
    assert ca is not None and entry is not None
    return _connect(g, entry.name, _static(Direction.OUT), ca.name, _static(Direction.IN), cap=2, initial=1)


def _var_edges(g: Graph) -> list[Fifo]:
    ix = g.index()
    return [f for f in g.fifos if ix.src_port(f).is_variable and ix.dst_port(f).is_variable]


def _m_r5(draw: st.DrawFn, g: Graph) -> Graph:
    # the consumer end of one variable-rate edge gets a larger url than the producer end
    f = draw(st.sampled_from(_var_edges(g)))
    bump = draw(st.integers(1, 2))

    def fix(a: Actor) -> Actor:
        if a.name != f.dst.actor:
            return a
        return replace(a, ports=tuple(replace(p, url=p.url + bump) if p.name == f.dst.port else p for p in a.ports))

    return replace(g, actors=tuple(fix(a) for a in g.actors))


def _fed_cas(g: Graph) -> list[Fifo]:
    ix = g.index()
    out = []
    for d in _with_dpg(g):
        ca, _, _ = _dpg_parts(g, d)
        assert ca is not None
        out += [f for f in ix.ins[ca.name] if not ix.dst_port(f).is_control and not ix.dst_port(f).is_variable
                and _other_path(g, f)]
    return out


def _other_path(g: Graph, f: Fifo) -> bool:
    """Whether the source of f reaches the CA's DPG without f (ignoring direction, data edges)."""
    ix = g.index()
    ca = ix.actors[f.dst.actor]
    adj: dict[str, set[str]] = {a.name: set() for a in g.actors}
    for e in g.fifos:
        if e is f or ix.src_port(e).is_control:
            continue
        adj[e.src.actor].add(e.dst.actor)
        adj[e.dst.actor].add(e.src.actor)
    seen = {f.src.actor}
    todo = [f.src.actor]
    while todo:
        u = todo.pop()
        for v in adj[u]:
            if v not in seen:
                seen.add(v)
                todo.append(v)
    return any(ix.actors[n].dpg == ca.dpg and n != ca.name for n in seen)


def _m_r6(draw: st.DrawFn, g: Graph) -> Graph:
    # the CA consumes k times more per firing on a data input: it would fire 1/k as often as the
    # rest of its DPG (the whole graph is then also inconsistent)
    f = draw(st.sampled_from(_fed_cas(g)))
    k = draw(st.integers(2, 3))

    def fix(a: Actor) -> Actor:
        if a.name != f.dst.actor:
            return a
        return replace(a, ports=tuple(replace(p, lrl=p.lrl * k, url=p.url * k) if p.name == f.dst.port else p
                                      for p in a.ports))

    return replace(g, actors=tuple(fix(a) for a in g.actors))


def _m_r7(draw: st.DrawFn, g: Graph) -> Graph:
    d = draw(st.sampled_from(_with_dpg(g)))
    entry, exit_ = _entry_exit(g, d)
    ca, _, _ = _dpg_parts(g, d)
    assert entry is not None and exit_ is not None and ca is not None
    ix = g.index()
    vp = next(ix.src_port(f) for f in ix.outs[entry.name] if ix.src_port(f).is_variable)
    v = lambda dr: Port("_", dr, PortKind.VARIABLE, vp.token, vp.lrl, vp.url)  # noqa: E731
    if draw(st.booleans()):
        # a variable-rate back edge exit DA -> entry DA: a cycle through variable-rate edges
        return _connect(g, exit_.name, v(Direction.OUT), entry.name, v(Direction.IN), cap=max(1, vp.url))
    # a DPA that hangs off the entry DA but never reaches the exit DA
    name = _fresh({a.name for a in g.actors}, f"{d.name}dangle")
    g = replace(g, actors=g.actors + (Actor(name, ActorKind.DPA, (), dpg=d.name),),
                dpgs=tuple(replace(x, actors=x.actors + (name,)) if x.name == d.name else x for x in g.dpgs))
    g = _connect(g, ca.name, _control(Direction.OUT), name, _control(Direction.IN), cap=1)
    return _connect(g, entry.name, v(Direction.OUT), name, v(Direction.IN), cap=max(1, vp.url))


def _m_r8(draw: st.DrawFn, g: Graph) -> Graph:
    # the exit DA loses its static outputs: every fifo from it to outside its DPG goes, with the
    # ports at both ends (and an actor left without ports, e.g. the sink SPA)
    d = draw(st.sampled_from(_r8_able(g)))
    _, exit_ = _entry_exit(g, d)
    assert exit_ is not None
    ix = g.index()
    gone = [f for f in ix.outs[exit_.name] if ix.actors[f.dst.actor].dpg != d.name]
    drop = {(f.src.actor, f.src.port) for f in gone} | {(f.dst.actor, f.dst.port) for f in gone}
    actors = tuple(replace(a, ports=tuple(p for p in a.ports if (a.name, p.name) not in drop)) for a in g.actors)
    empty = {a.name for a in actors if not a.ports}
    return replace(g, actors=tuple(a for a in actors if a.name not in empty),
                   fifos=tuple(f for f in g.fifos if f not in gone),
                   dpgs=tuple(replace(x, actors=tuple(n for n in x.actors if n not in empty)) for x in g.dpgs))


def _r8_able(g: Graph) -> list[Dpg]:
    """DPGs whose exit DA only has its outside edges as static outputs."""
    ix = g.index()
    out = []
    for d in _with_dpg(g):
        _, exit_ = _entry_exit(g, d)
        assert exit_ is not None
        outs = ix.outs[exit_.name]
        if outs and all(ix.actors[f.dst.actor].dpg != d.name for f in outs if not ix.src_port(f).is_variable):
            out.append(d)
    return out


def mutations(graph: Graph, rules: tuple[str, ...] | None = None) -> st.SearchStrategy[tuple[Graph, str]]:
    """Break exactly one design rule of a well-formed ``graph``: draws ``(mutated, rule_id)``.

    The mutated graph still passes every load-time check (ports connected once, token sizes
    equal, capacities >= initial tokens) and breaks only ``rule_id``:

    - ``R1``: a new actor of kind ``ca`` outside every DPG, fed by a new output of an SPA;
    - ``R2``: a variable-rate edge (0..2) from an SPA to a new SPA, outside every DPG;
    - ``R3``: a second control edge from a CA to one of its DAs/DPAs;
    - ``R4``: the CA reads data from its own entry DA (with one initial token, so no new
      delay-free cycle);
    - ``R5``: the consumer end of one variable-rate edge gets url + 1 or + 2;
    - ``R6``: a CA data input consumes 2 or 3 times its rate (the CA would fire less often
      than its DPG; as control edges count 1:1, the graph is also inconsistent, C1);
    - ``R7``: a variable-rate back edge exit DA -> entry DA, or a new DPA fed by the entry DA
      that reaches no exit;
    - ``R8``: the exit DA loses every static output (the fifos to outside its DPG go, with
      the ports at both ends; an actor left without ports goes too).

    Which mutations apply depends on the graph (R3, R4, R7, R8 need a DPG, R5 a variable-rate
    edge, R6 a CA whose input stream also reaches its DPG); raises ``ValueError`` when none
    applies. ``rules`` restricts the choice to some rule ids (``ValueError`` when none of them
    applies).
    """
    has_spa = any(a.kind is ActorKind.SPA and a.dpg is None for a in graph.actors)
    options: list[tuple[str, object]] = []
    if has_spa:
        options += [("R1", _m_r1), ("R2", _m_r2)]
    if _with_dpg(graph):
        options += [("R3", _m_r3), ("R4", _m_r4), ("R7", _m_r7)]
    if _var_edges(graph):
        options.append(("R5", _m_r5))
    if _fed_cas(graph):
        options.append(("R6", _m_r6))
    if _r8_able(graph):
        options.append(("R8", _m_r8))
    if rules is not None:
        options = [o for o in options if o[0] in rules]
    if not options:
        raise ValueError(f"no mutation applies to graph {graph.name}")

    @st.composite
    def go(draw: st.DrawFn) -> tuple[Graph, str]:
        rule, fn = draw(st.sampled_from(options))
        return fn(draw, graph), rule  # type: ignore[operator]

    return go()


# ------------------------------------------------------------------ helpers


def repetition_counts(graph: Graph) -> dict[str, int]:
    """Smallest positive repetition counts per weakly connected component, with variable-rate
    and control edges counted 1:1. Raises ``ValueError`` when inconsistent."""
    ix = graph.index()
    adj: dict[str, list[tuple[str, Fraction]]] = {a.name: [] for a in graph.actors}
    for f in graph.fifos:
        sp, dp = ix.src_port(f), ix.dst_port(f)
        p, c = (1, 1) if sp.kind is not PortKind.STATIC or dp.kind is not PortKind.STATIC else (sp.rate, dp.rate)
        adj[f.src.actor].append((f.dst.actor, Fraction(p, c)))
        adj[f.dst.actor].append((f.src.actor, Fraction(c, p)))
    r: dict[str, Fraction] = {}
    out: dict[str, int] = {}
    for root in adj:
        if root in r:
            continue
        r[root] = Fraction(1)
        comp, todo = [root], [root]
        while todo:
            u = todo.pop()
            for v, k in adj[u]:
                want = r[u] * k
                if v not in r:
                    r[v] = want
                    comp.append(v)
                    todo.append(v)
                elif r[v] != want:
                    raise ValueError(f"inconsistent rates around {u} -> {v}")
        m = lcm(*(r[a].denominator for a in comp))
        ints = [int(r[a] * m) for a in comp]
        div = gcd(*ints)
        out.update({a: i // div for a, i in zip(comp, ints)})
    return out


# ------------------------------------------------------------------ mappings


def two_hosts(name: str = "lab", base_port: int = 9300) -> Platform:
    """A platform of two hosts on the loopback address, ``endpoint`` and ``server``, with
    two CPU units each (``core0``, ``core1``) and a loopback link."""
    units = (Unit("core0", UnitKind.CPU, None, 0), Unit("core1", UnitKind.CPU, None, 1))
    return Platform(name, (Host("endpoint", "127.0.0.1", units), Host("server", "127.0.0.1", units)),
                    (Link("endpoint", "server", "loopback"),), base_port)


def clusters(graph: Graph) -> list[list[str]]:
    """Actors that must share a host: each DPG (its variable-rate and control edges may not
    cross hosts) is one cluster, every actor outside a DPG its own."""
    out = [list(d.actors) for d in graph.dpgs]
    out += [[a.name] for a in graph.actors if a.dpg is None]
    return out


def mappings(graph: Graph, platform: Platform | None = None, *,
             both_hosts: bool = True) -> st.SearchStrategy[tuple[Mapping, Mapping]]:
    """Placements of ``graph`` on the first two hosts of ``platform`` (default
    :func:`two_hosts`): draws one :class:`~vrprune.model.Mapping` per host, the same placements
    seen from each side (``this_host`` differs). Every DPG lands whole on one host, so only
    static edges cross; each actor gets a random unit of its host. With ``both_hosts`` (and
    at least two clusters, see :func:`clusters`) each host gets at least one actor."""
    plat = platform or two_hosts()
    if len(plat.hosts) < 2:
        raise ValueError(f"platform {plat.name} has fewer than two hosts")
    h0, h1 = plat.hosts[0], plat.hosts[1]
    groups = clusters(graph)

    @st.composite
    def go(draw: st.DrawFn) -> tuple[Mapping, Mapping]:
        side = [draw(st.booleans()) for _ in groups]
        if both_hosts and len(groups) > 1 and len(set(side)) == 1:
            i = draw(st.integers(0, len(groups) - 1))
            side[i] = not side[i]
        pls = []
        for grp, s in zip(groups, side):
            h = h1 if s else h0
            for a in grp:
                pls.append(Placement(a, h.name, draw(st.sampled_from([u.name for u in h.units]))))
        pls.sort(key=lambda p: [a.name for a in graph.actors].index(p.actor))
        return (Mapping(f"{graph.name}_{h0.name}", plat, h0.name, tuple(pls)),
                Mapping(f"{graph.name}_{h1.name}", plat, h1.name, tuple(pls)))

    return go()
