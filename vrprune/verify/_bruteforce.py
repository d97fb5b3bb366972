"""A brute-force explicit-state explorer: the ground truth the SMT encoding is tested against.

No solver and no shortcuts: breadth-first search over every interleaving of actor firings,
written straight from the semantics in ``docs/helpers-contract.md``:

- a state is the fill level of every data fifo and the queue of atr values in every control
  fifo (initial control tokens count as atr = url of the source CA's DPG);
- an actor fires when every input holds its (active) rate of tokens and every output has room
  (capacity - fill) for its (active) rate; control ports move one token;
- a CA firing branches over every atr in [lrl, url] of its DPG (the common range of the DPG's
  variable-rate ports; [1, 1] when it has none) and pushes it on every control output;
- a DA/DPA fires only with a token in its control input; atr is its head, which it pops;
- a deadlock is a reachable state where no actor can fire.

Only for small graphs: the number of states grows with the product of the capacities.
This module must stay independent of the SMT verifier.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from ..model import ActorKind, Direction, Graph, PortKind

Verdict = Literal["deadlock-free", "deadlock", "too-large", "unbounded"]

# A state: (fill of every data fifo, queue of atr values of every control fifo).
_State = tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]


@dataclass
class BruteResult:
    """What :func:`explore` found.

    ``verdict`` is ``"deadlock"`` as soon as a stuck state is reachable (even when the search
    was cut at ``max_states``); ``"too-large"`` when the limit was hit first; ``"unbounded"``
    when some fifo has no capacity (nothing is explored then).
    """

    verdict: Verdict
    trace: list[tuple[str, int | None]] = field(default_factory=list)
    """Firings (actor, atr or None for SPAs) from the initial state to the stuck state; a
    shortest one. Empty unless the verdict is ``"deadlock"``."""
    atr_choices: dict[str, list[int]] = field(default_factory=dict)
    """DPG name -> atr chosen by its CA, in order, along ``trace`` (every DPG with a CA)."""
    stuck_fills: dict[str, int] = field(default_factory=dict)
    """Fifo name -> tokens held at the stuck state (control fifos: queue length)."""
    stuck_control: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """Control fifo name -> atr values queued at the stuck state, head first."""
    wait: list[tuple[str, str, str]] = field(default_factory=list)
    """At the stuck state, (actor, fifo, "empty" | "full") for every fifo that blocks an actor
    (for a CA: blocks it even at atr = lrl, hence at every atr)."""
    states: int = 0
    """Number of distinct states reached."""
    max_fill: dict[str, int] = field(default_factory=dict)
    """Fifo name -> largest fill over the states reached (all reachable states unless the
    search stopped early)."""
    complete: bool = False
    """True when every reachable state was explored."""


@dataclass(frozen=True)
class _Act:
    name: str
    kind: ActorKind
    dpg: str | None
    ctl_in: int | None  # index of its control input fifo
    ctl_outs: tuple[int, ...]
    static_in: tuple[tuple[int, int], ...]  # (data fifo index, rate)
    static_out: tuple[tuple[int, int], ...]
    var_in: tuple[int, ...]
    var_out: tuple[int, ...]
    atrs: tuple[int, ...]  # CA: the choices; others: ()


def _dpg_range(g: Graph, dpg: str | None) -> tuple[int, int]:
    if dpg is None:
        return 1, 1
    ranges = {(p.lrl, p.url) for a in g.actors if a.dpg == dpg for p in a.ports if p.kind is PortKind.VARIABLE}
    if not ranges:
        return 1, 1
    if len(ranges) > 1:
        raise ValueError(f"dpg {dpg!r}: variable-rate ports disagree on [lrl, url]: {sorted(ranges)} (rule R5)")
    return next(iter(ranges))


def _compile(g: Graph) -> tuple[list[_Act], list[str], list[int], list[int], list[str], list[int],
                                list[tuple[int, ...]]]:
    ix = g.index()
    data_names: list[str] = []
    data_cap: list[int] = []
    data_init: list[int] = []
    ctl_names: list[str] = []
    ctl_cap: list[int] = []
    ctl_init: list[tuple[int, ...]] = []
    where: dict[str, tuple[bool, int]] = {}  # fifo name -> (is control, index)
    for f in g.fifos:
        assert f.capacity is not None
        sp, dp = ix.src_port(f), ix.dst_port(f)
        if sp.is_control != dp.is_control:
            raise ValueError(f"fifo {f.name} connects a control port with a data port")
        if sp.is_control:
            url = _dpg_range(g, ix.actors[f.src.actor].dpg)[1]
            where[f.name] = (True, len(ctl_names))
            ctl_names.append(f.name)
            ctl_cap.append(f.capacity)
            ctl_init.append((url,) * f.initial)
        else:
            where[f.name] = (False, len(data_names))
            data_names.append(f.name)
            data_cap.append(f.capacity)
            data_init.append(f.initial)
    acts: list[_Act] = []
    for a in g.actors:
        ctl_in: list[int] = []
        ctl_outs: list[int] = []
        s_in: list[tuple[int, int]] = []
        s_out: list[tuple[int, int]] = []
        v_in: list[int] = []
        v_out: list[int] = []
        for p in a.ports:
            pf = ix.by_src.get((a.name, p.name)) if p.direction is Direction.OUT else ix.by_dst.get((a.name, p.name))
            if pf is None:
                raise ValueError(f"port {a.name}.{p.name} is not connected")
            is_ctl, i = where[pf.name]
            if p.kind is PortKind.CONTROL:
                (ctl_outs if p.direction is Direction.OUT else ctl_in).append(i)
            elif p.kind is PortKind.VARIABLE:
                (v_out if p.direction is Direction.OUT else v_in).append(i)
            else:
                (s_out if p.direction is Direction.OUT else s_in).append((i, p.rate))
        if len(ctl_in) > 1:
            raise ValueError(f"actor {a.name} has {len(ctl_in)} control inputs")
        atrs: tuple[int, ...] = ()
        if a.kind is ActorKind.CA:
            if ctl_in:
                raise ValueError(f"CA {a.name} has a control input")
            lo, hi = _dpg_range(g, a.dpg)
            atrs = tuple(range(lo, hi + 1))
        elif (v_in or v_out) and not ctl_in:
            raise ValueError(f"actor {a.name} has variable-rate ports but no control input to set atr")
        elif a.kind in (ActorKind.DA, ActorKind.DPA) and not ctl_in:
            raise ValueError(f"{a.kind.value} {a.name} has no control input")
        acts.append(_Act(a.name, a.kind, a.dpg, ctl_in[0] if ctl_in else None, tuple(ctl_outs),
                         tuple(s_in), tuple(s_out), tuple(v_in), tuple(v_out), atrs))
    return acts, data_names, data_cap, data_init, ctl_names, ctl_cap, ctl_init


def explore(graph: Graph, max_states: int = 200_000, *, stop_at_deadlock: bool = False) -> BruteResult:
    """Explore every interleaving of ``graph`` breadth-first and look for a deadlock.

    ``max_states`` bounds the number of distinct states; with ``stop_at_deadlock`` the search
    ends at the first stuck state (then ``max_fill`` and ``states`` cover only what was seen).
    Raises ``ValueError`` for graphs whose firing semantics is undefined (a DA/DPA without a
    control input, disagreeing variable ranges in a DPG, an unconnected port).
    """
    if any(f.capacity is None for f in graph.fifos):
        return BruteResult("unbounded")
    acts, dnames, dcap, dinit, cnames, ccap, cinit = _compile(graph)
    init: _State = (tuple(dinit), tuple(cinit))
    parent: dict[_State, tuple[_State, int, int | None] | None] = {init: None}
    dmax = list(dinit)
    cmax = [len(q) for q in cinit]
    todo: deque[_State] = deque([init])
    stuck: _State | None = None
    complete = True
    while todo:
        state = todo.popleft()
        fills, queues = state
        fired = False
        for ai, a in enumerate(acts):
            if a.ctl_in is not None:
                q = queues[a.ctl_in]
                if not q:
                    continue
                choices: tuple[int | None, ...] = (q[0],)
            elif a.atrs:
                choices = a.atrs
            else:
                choices = (None,)
            if any(fills[i] < r for i, r in a.static_in) or any(dcap[i] - fills[i] < r for i, r in a.static_out):
                continue
            if any(len(queues[j]) >= ccap[j] for j in a.ctl_outs):
                continue
            for atr in choices:
                n = atr or 0
                if any(fills[i] < n for i in a.var_in) or any(dcap[i] - fills[i] < n for i in a.var_out):
                    continue
                fired = True
                nf = list(fills)
                for i, r in a.static_in:
                    nf[i] -= r
                for i in a.var_in:
                    nf[i] -= n
                for i, r in a.static_out:
                    nf[i] += r
                for i in a.var_out:
                    nf[i] += n
                if a.ctl_in is not None or a.ctl_outs:
                    nq = list(queues)
                    if a.ctl_in is not None:
                        nq[a.ctl_in] = nq[a.ctl_in][1:]
                    for j in a.ctl_outs:
                        nq[j] = nq[j] + (n,)
                    new: _State = (tuple(nf), tuple(nq))
                else:
                    new = (tuple(nf), queues)
                if new in parent:
                    continue
                if len(parent) >= max_states:
                    complete = False
                    todo.clear()
                    break
                parent[new] = (state, ai, atr)
                todo.append(new)
                for i in range(len(nf)):
                    if nf[i] > dmax[i]:
                        dmax[i] = nf[i]
                for j in a.ctl_outs:
                    if len(new[1][j]) > cmax[j]:
                        cmax[j] = len(new[1][j])
            if not complete:
                break
        if not fired and stuck is None:
            stuck = state
            if stop_at_deadlock:
                complete = not todo
                break
    max_fill = {n: m for n, m in zip(dnames, dmax)} | {n: m for n, m in zip(cnames, cmax)}
    max_fill = {f.name: max_fill[f.name] for f in graph.fifos}
    if stuck is None:
        return BruteResult("deadlock-free" if complete else "too-large", states=len(parent),
                           max_fill=max_fill, complete=complete)
    # rebuild the shortest trace
    steps: list[tuple[int, int | None]] = []
    s: _State = stuck
    while (link := parent[s]) is not None:
        s, ai, atr = link
        steps.append((ai, atr))
    steps.reverse()
    trace = [(acts[ai].name, atr) for ai, atr in steps]
    atr_choices: dict[str, list[int]] = {a.dpg: [] for a in acts if a.kind is ActorKind.CA and a.dpg is not None}
    for ai, atr in steps:
        a = acts[ai]
        if a.kind is ActorKind.CA and a.dpg is not None and atr is not None:
            atr_choices[a.dpg].append(atr)
    fills, queues = stuck
    by_name = {n: fills[i] for i, n in enumerate(dnames)} | {n: len(queues[j]) for j, n in enumerate(cnames)}
    stuck_fills = {f.name: by_name[f.name] for f in graph.fifos}
    stuck_control = {n: queues[j] for j, n in enumerate(cnames)}
    wait: list[tuple[str, str, str]] = []
    for a in acts:
        if a.ctl_in is not None:
            if not queues[a.ctl_in]:
                wait.append((a.name, cnames[a.ctl_in], "empty"))
                continue
            n = queues[a.ctl_in][0]
        else:
            n = a.atrs[0] if a.atrs else 0
        for i, r in a.static_in:
            if fills[i] < r:
                wait.append((a.name, dnames[i], "empty"))
        for i in a.var_in:
            if fills[i] < n:
                wait.append((a.name, dnames[i], "empty"))
        for i, r in a.static_out:
            if dcap[i] - fills[i] < r:
                wait.append((a.name, dnames[i], "full"))
        for i in a.var_out:
            if dcap[i] - fills[i] < n:
                wait.append((a.name, dnames[i], "full"))
        for j in a.ctl_outs:
            if len(queues[j]) >= ccap[j]:
                wait.append((a.name, cnames[j], "full"))
    return BruteResult("deadlock", trace, atr_choices, stuck_fills, stuck_control, wait,
                       states=len(parent), max_fill=max_fill, complete=complete)
