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
from ..model import (Actor, ActorKind, Direction, Fifo, Graph, Host, Mapping, Port, PortKind, PortRef,
                     Unit)


class MappingError(VrpruneError):
    """The mapping does not fit the graph or the platform, or places an edge the wire cannot carry."""


@dataclass(frozen=True)
class CrossEdge:
    """One application edge that crosses hosts."""

    index: int  # position of the fifo in the application graph
    fifo: Fifo  # the application fifo
    src_host: Host
    dst_host: Host
    token_bytes: int
    rate: int  # tokens per frame: the source port's rate
    tx: str  # name of the TX actor
    rx: str  # name of the RX actor

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

    @property
    def this_host(self) -> Host:
        h = self.mapping.platform.host(self.mapping.this_host)
        assert h is not None
        return h


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


def split(graph: Graph, mapping: Mapping) -> Split:
    """Split ``graph`` as ``mapping`` places it; raise :class:`MappingError` when it cannot."""
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
    edges: list[CrossEdge] = []
    for i, f in enumerate(graph.fifos):
        sh, dh = host_of[f.src.actor], host_of[f.dst.actor]
        if sh.name == dh.name:
            continue
        sp, dp = idx.src_port(f), idx.dst_port(f)
        if sp.kind is not PortKind.STATIC or dp.kind is not PortKind.STATIC:
            what = "a control edge" if sp.is_control else "a variable-rate edge"
            raise MappingError(f"{f.span}: fifo '{f.name}' is {what} and crosses from host '{sh.name}' to "
                               f"'{dh.name}'; place both ends of every DPG on one host (only static-rate "
                               f"edges cross the network in this version)")
        if f.capacity is None:
            raise MappingError(f"{f.span}: fifo '{f.name}' crosses hosts but has no capacity; "
                               f"add `capacity N` (or run `vrprune bufsize`)")
        tx = _fresh(f"TX_{f.src.actor}_{f.src.port}", taken)
        rx = _fresh(f"RX_{f.dst.actor}_{f.dst.port}", taken)
        edges.append(CrossEdge(i, f, sh, dh, sp.token.nbytes, sp.rate, tx, rx))

    by_index = {e.index: e for e in edges}
    # proof graph: every actor, relays on crossing edges
    p_actors = list(graph.actors)
    p_fifos: list[Fifo] = []
    for i, f in enumerate(graph.fifos):
        e = by_index.get(i)
        if e is None:
            p_fifos.append(f)
            continue
        sp = idx.src_port(f)
        p_actors += [_relay(e.tx, sp, e.rate, inp=True, out=True), _relay(e.rx, sp, e.rate, inp=True, out=True)]
        p_fifos += [
            dataclasses.replace(f, dst=PortRef(e.tx, "x"), initial=0),
            Fifo(f"{f.name}~link", PortRef(e.tx, "y"), PortRef(e.rx, "x"), f.capacity, 0, f.span),
            dataclasses.replace(f, name=f"{f.name}~rx", src=PortRef(e.rx, "y")),
        ]
    proof = dataclasses.replace(graph, actors=tuple(p_actors), fifos=tuple(p_fifos))

    # local graph: this host's actors, TX sinks and RX sources
    me = mapping.this_host
    l_actors = [a for a in graph.actors if host_of[a.name].name == me]
    l_fifos: list[Fifo] = []
    outgoing, incoming = [], []
    for i, f in enumerate(graph.fifos):
        e = by_index.get(i)
        if e is None:
            if host_of[f.src.actor].name == me:
                l_fifos.append(f)
            continue
        sp = idx.src_port(f)
        if e.src_host.name == me:
            outgoing.append(e)
            l_actors.append(_relay(e.tx, sp, e.rate, inp=True, out=False))
            l_fifos.append(dataclasses.replace(f, dst=PortRef(e.tx, "x"), initial=0))
        if e.dst_host.name == me:
            incoming.append(e)
            l_actors.append(_relay(e.rx, sp, e.rate, inp=False, out=True))
            l_fifos.append(dataclasses.replace(f, src=PortRef(e.rx, "y")))
    dpgs = tuple(dataclasses.replace(d, actors=tuple(a for a in d.actors if host_of[a].name == me))
                 for d in graph.dpgs if any(host_of[a].name == me for a in d.actors))
    local = dataclasses.replace(graph, actors=tuple(l_actors), fifos=tuple(l_fifos), dpgs=dpgs)
    return Split(graph, mapping, tuple(edges), proof, local, tuple(outgoing), tuple(incoming), units)
