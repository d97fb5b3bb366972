"""Mapping -> split graphs: every edge whose ends land on different hosts becomes
``src -> TX ⇢ RX -> dst``.

Two graphs come out of one application graph and one mapping:

* the *proof graph*: every actor of the application, each crossing edge replaced by
  ``src -> TX -> RX -> dst`` where TX and RX are static relay actors at the source port's
  rate and all three FIFOs have the original capacity (``TX -> RX`` models the tokens in
  flight on the link; the original initial tokens sit on ``RX -> dst``, next to their
  consumer). ``prove()`` runs on it before anything starts;
* the *local graph* of this process: the actors placed on ``mapping.this_host``, a TX sink for
  each outgoing crossing edge, an RX source for each incoming one.

Edge numbers are the positions of the FIFOs in the application graph (declaration order),
so every process of one run agrees on them; edge ``i`` listens on ``base_port + i``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..diagnostics import VrpruneError
from ..model import (
    CONTROL_TOKEN_BYTES,
    Actor,
    ActorKind,
    Direction,
    Fifo,
    Graph,
    Host,
    Mapping,
    Port,
    PortKind,
    PortRef,
    TokenType,
    Unit,
)


class MappingError(VrpruneError):
    """The mapping does not fit the graph or the platform, or places an edge the wire cannot carry."""


STATIC, VARIABLE, CONTROL = "static", "variable", "control"


@dataclass(frozen=True)
class CrossEdge:
    """One edge that crosses hosts: an application edge, or a control edge the split adds
    (CA -> the TX or RX of a variable-rate crossing, on another host than the CA)."""

    index: int  # position of the fifo in the application graph; added control edges: len(fifos) + k
    fifo: Fifo  # the application fifo (added control edges: the fifo of the proof graph)
    src_host: Host
    dst_host: Host
    token_bytes: int
    rate: int  # tokens per frame: the source port's rate (variable-rate edges: url, the most per frame)
    tx: str  # name of the TX actor
    rx: str  # name of the RX actor
    kind: str = STATIC  # STATIC | VARIABLE | CONTROL
    lrl: int = 0  # VARIABLE, CONTROL: the DPG's rate range (a control token's value lies in it)
    url: int = 0

    @property
    def name(self) -> str:
        return self.fifo.name

    def port(self, base: int) -> int:
        return base + self.index


@dataclass(frozen=True)
class Split:
    graph: Graph  # the application graph
    mapping: Mapping
    edges: tuple[CrossEdge, ...]  # every crossing edge of the run
    proof: Graph  # whole application with TX/RX relays (what prove() checks)
    local: Graph  # what this process runs
    outgoing: tuple[CrossEdge, ...]  # edges whose TX runs here
    incoming: tuple[CrossEdge, ...]  # edges whose RX runs here
    units: dict[str, Unit]  # local actor -> unit
    # local actors that are not in the proof graph (control TX/RX) -> the proof actor whose
    # repetition count they share (the CA of their DPG)
    fires_as: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def this_host(self) -> Host:
        h = self.mapping.platform.host(self.mapping.this_host)
        assert h is not None
        return h

    def local_repetition(self, q: dict[str, int]) -> dict[str, int]:
        """The repetition vector of the local graph from that of the proof graph."""
        return {a.name: q[self.fires_as.get(a.name, a.name)] for a in self.local.actors}


def _fresh(name: str, taken: set[str]) -> str:
    out, i = name, 2
    while out in taken:
        out, i = f"{name}_{i}", i + 1
    taken.add(out)
    return out


def _relay(name: str, proto: Port, rate: int, *, inp: bool, out: bool) -> Actor:
    ports = []
    if inp:
        ports.append(Port("x", Direction.IN, PortKind.STATIC, proto.token, rate, rate))
    if out:
        ports.append(Port("y", Direction.OUT, PortKind.STATIC, proto.token, rate, rate))
    return Actor(name, ActorKind.SPA, tuple(ports))


def _dyn_relay(name: str, proto: Port, dpg: str | None, *, inp: bool = True, out: bool = True) -> Actor:
    """TX/RX of a variable-rate edge: a DPA of the edge's DPG, with a control input from its CA."""
    ports = [Port("c", Direction.IN, PortKind.CONTROL, proto.token if proto.is_control else _CTRL_TOKEN, 1, 1)]
    if inp:
        ports.append(Port("x", Direction.IN, PortKind.VARIABLE, proto.token, proto.lrl, proto.url))
    if out:
        ports.append(Port("y", Direction.OUT, PortKind.VARIABLE, proto.token, proto.lrl, proto.url))
    return Actor(name, ActorKind.DPA, tuple(ports), dpg=dpg)


_CTRL_TOKEN = TokenType("i32", (), CONTROL_TOKEN_BYTES)


def _dpg_bounds(graph: Graph, dpg: str | None) -> tuple[int, int]:
    for a in graph.actors:
        if a.dpg == dpg and dpg is not None:
            for p in a.ports:
                if p.is_variable:
                    return p.lrl, p.url
    return 0, 0


def split(graph: Graph, mapping: Mapping, *, dynamic: bool = False) -> Split:
    """Split ``graph`` as ``mapping`` places it; raise :class:`MappingError` when it cannot.

    ``dynamic``: variable-rate and control edges may cross hosts (the Python runtime, `vrprune
    run`); False (the default, for back-ends that carry static edges only) refuses them."""
    plat = mapping.platform
    idx = graph.index()
    host_of: dict[str, Host] = {}
    units: dict[str, Unit] = {}
    missing = [a.name for a in graph.actors if mapping.placement(a.name) is None]
    if missing:
        raise MappingError(f"{mapping.span}: mapping '{mapping.name}' does not place actor(s) "
                           f"{', '.join(missing)} of graph '{graph.name}'; add `ACTOR -> host.unit` lines")
    for pl in mapping.placements:
        if pl.actor not in idx.actors:
            raise MappingError(f"{pl.span}: mapping '{mapping.name}' places '{pl.actor}', "
                               f"which is not an actor of graph '{graph.name}'")
        h = plat.host(pl.host)
        assert h is not None  # the loader checked it
        host_of[pl.actor] = h
        if pl.host == mapping.this_host:
            u = h.unit(pl.unit)
            if u is not None:
                units[pl.actor] = u

    taken = {a.name for a in graph.actors}
    ca_of = {a.dpg: a.name for a in graph.actors if a.kind is ActorKind.CA and a.dpg is not None}
    edges: list[CrossEdge] = []
    for i, f in enumerate(graph.fifos):
        sh, dh = host_of[f.src.actor], host_of[f.dst.actor]
        if sh.name == dh.name:
            continue
        sp, dp = idx.src_port(f), idx.dst_port(f)
        if sp.kind is not PortKind.STATIC or dp.kind is not PortKind.STATIC:
            what = "a control edge" if sp.is_control else "a variable-rate edge"
            if not dynamic:
                raise MappingError(f"{f.span}: fifo '{f.name}' is {what} and crosses from host '{sh.name}' to "
                                   f"'{dh.name}'; this back-end carries only static-rate edges across hosts: "
                                   f"place both ends of every DPG on one host")
            a = idx.actors[f.dst.actor]
            if sp.is_control != dp.is_control or a.dpg is None or idx.actors[f.src.actor].dpg != a.dpg:
                raise MappingError(f"{f.span}: fifo '{f.name}' is {what} outside a DPG; run `vrprune check`")
        if f.capacity is None:
            raise MappingError(f"{f.span}: fifo '{f.name}' crosses hosts but has no capacity; "
                               f"add `capacity N` (or run `vrprune bufsize`)")
        kind = CONTROL if sp.is_control else VARIABLE if sp.is_variable else STATIC
        lo, hi = _dpg_bounds(graph, idx.actors[f.dst.actor].dpg) if kind != STATIC else (0, 0)
        tx = _fresh(f"TX_{f.src.actor}_{f.src.port}", taken)
        rx = _fresh(f"RX_{f.dst.actor}_{f.dst.port}", taken)
        edges.append(CrossEdge(i, f, sh, dh, sp.token.nbytes, sp.rate, tx, rx, kind, lo, hi))

    by_index = {e.index: e for e in edges}
    n_app = len(graph.fifos)

    # proof graph: every actor, relays on crossing data edges. A variable-rate crossing gets
    # TX and RX as DPAs of its DPG, each controlled by the CA through a new control edge.
    # A crossing control edge stays one edge: its tokens cross as frames (TX/RX of control
    # tokens are static relays, which the model does not allow on control edges); the link
    # only adds room on that edge, and more room never removes a schedule (see docs).
    extra_ctrl: dict[str, list[Port]] = {}  # CA -> new control outputs
    dpg_extra: dict[str, list[str]] = {}
    p_actors: list[Actor] = []
    p_fifos: list[Fifo] = []
    added: list[tuple[int, Fifo, str]] = []  # (edge index, control fifo, dpg)
    for i, f in enumerate(graph.fifos):
        e = by_index.get(i)
        if e is None or e.kind == CONTROL:
            p_fifos.append(f)
            continue
        sp = idx.src_port(f)
        if e.kind == STATIC:
            p_actors += [_relay(e.tx, sp, e.rate, inp=True, out=True), _relay(e.rx, sp, e.rate, inp=True, out=True)]
        else:
            dpg = idx.actors[f.src.actor].dpg
            assert dpg is not None
            ca = ca_of[dpg]
            p_actors += [_dyn_relay(e.tx, sp, dpg), _dyn_relay(e.rx, sp, dpg)]
            dpg_extra.setdefault(dpg, []).extend([e.tx, e.rx])
            ca_ports = {p.name for p in idx.actors[ca].ports} | {p.name for p in extra_ctrl.get(ca, [])}
            for relay in (e.tx, e.rx):
                pn = _fresh(f"ctl_{relay}", ca_ports)
                extra_ctrl.setdefault(ca, []).append(Port(pn, Direction.OUT, PortKind.CONTROL, _CTRL_TOKEN, 1, 1))
                cf = Fifo(f"{ca}.{pn}", PortRef(ca, pn), PortRef(relay, "c"), 1, 0, f.span)
                p_fifos.append(cf)
                added.append((n_app + len(added), cf, dpg))
        p_fifos += [
            dataclasses.replace(f, dst=PortRef(e.tx, "x"), initial=0),
            Fifo(f"{f.name}~link", PortRef(e.tx, "y"), PortRef(e.rx, "x"), f.capacity, 0, f.span),
            dataclasses.replace(f, name=f"{f.name}~rx", src=PortRef(e.rx, "y")),
        ]
    apps = [dataclasses.replace(a, ports=a.ports + tuple(extra_ctrl[a.name])) if a.name in extra_ctrl else a
            for a in graph.actors]
    p_actors = apps + p_actors
    p_dpgs = tuple(dataclasses.replace(d, actors=d.actors + tuple(dpg_extra.get(d.name, ()))) for d in graph.dpgs)
    proof = dataclasses.replace(graph, actors=tuple(p_actors), fifos=tuple(p_fifos), dpgs=p_dpgs)

    # where every proof actor runs: TX with the source, RX with the destination
    for e in edges:
        host_of[e.tx], host_of[e.rx] = e.src_host, e.dst_host
    # added control edges (CA -> TX/RX of a variable-rate crossing) that cross hosts
    for k, cf, dpg in added:
        sh, dh = host_of[cf.src.actor], host_of[cf.dst.actor]
        if sh.name != dh.name:
            lo, hi = _dpg_bounds(graph, dpg)
            tx = _fresh(f"TX_{cf.src.actor}_{cf.src.port}", taken)
            rx = _fresh(f"RX_{cf.dst.actor}_{cf.dst.port}", taken)
            edges.append(CrossEdge(k, cf, sh, dh, CONTROL_TOKEN_BYTES, 1, tx, rx, CONTROL, lo, hi))
    ctrl_cross = {e.fifo.name: e for e in edges if e.kind == CONTROL}

    # local graph: this host's share of the proof graph; data links dropped (TX keeps its
    # inputs, RX its outputs and control input), crossing control edges end in a TX sink / start
    # at an RX source of control tokens (static 4-byte relays: the token is copied as is)
    me = mapping.this_host
    pidx = proof.index()
    data_tx = {e.tx for e in edges if e.kind != CONTROL}
    data_rx = {e.rx for e in edges if e.kind != CONTROL}
    l_actors: list[Actor] = []
    for a in p_actors:
        if host_of[a.name].name != me:
            continue
        if a.name in data_tx:
            a = dataclasses.replace(a, ports=tuple(p for p in a.ports if p.direction is Direction.IN))
        elif a.name in data_rx:
            a = dataclasses.replace(a, ports=tuple(p for p in a.ports if p.direction is Direction.OUT or p.is_control))
        l_actors.append(a)
    l_fifos: list[Fifo] = []
    fires_as: dict[str, str] = {}
    link_names = {f"{e.fifo.name}~link" for e in edges if e.kind != CONTROL}
    rx_names = {f"{e.fifo.name}~rx": e.fifo.name for e in edges if e.kind != CONTROL}
    for f in p_fifos:
        if f.name in link_names:
            continue
        ce = ctrl_cross.get(f.name)
        if ce is None:
            if host_of[f.src.actor].name == me:  # RX -> dst keeps the application fifo's name
                l_fifos.append(dataclasses.replace(f, name=rx_names[f.name]) if f.name in rx_names else f)
            continue
        sp = pidx.src_port(f)
        static = Port("t", Direction.IN, PortKind.STATIC, sp.token, 1, 1)
        if ce.src_host.name == me:
            l_actors.append(_relay(ce.tx, static, 1, inp=True, out=False))
            l_fifos.append(dataclasses.replace(f, dst=PortRef(ce.tx, "x"), initial=0))
            fires_as[ce.tx] = f.src.actor
        if ce.dst_host.name == me:
            l_actors.append(_relay(ce.rx, static, 1, inp=False, out=True))
            l_fifos.append(dataclasses.replace(f, src=PortRef(ce.rx, "y")))
            fires_as[ce.rx] = f.src.actor
    local_names = {a.name for a in l_actors}
    dpgs = tuple(dataclasses.replace(d, actors=tuple(a for a in d.actors if a in local_names))
                 for d in p_dpgs if any(a in local_names for a in d.actors))
    local = dataclasses.replace(graph, actors=tuple(l_actors), fifos=tuple(l_fifos), dpgs=dpgs)
    outgoing = tuple(e for e in edges if e.src_host.name == me)
    incoming = tuple(e for e in edges if e.dst_host.name == me)
    return Split(graph, mapping, tuple(edges), proof, local, outgoing, incoming, units, fires_as)
