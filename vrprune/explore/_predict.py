"""Prediction of every partition point from profiled actor times, with the throughput model
of `vrprune bufsize` (vrprune/verify/_throughput.py: the executor's firing rule).

What is simulated is what the emulated runner runs (``_sweep.EmulatedRunner``): the graph with
every cut edge ``src -> dst`` split into ``src -> TX -> RX -> dst`` (each new fifo of the cut
fifo's capacity, at least one firing's tokens), for ``frames`` iterations (actor a fires
q_a x frames times), every actor firing as soon as the executor's rule lets it:

- an endpoint actor's firing takes F t_a (t_a = profiled seconds per firing on the reference
  machine, F = ``slowdown``); at most ``endpoint_cores`` endpoint firings run at a time (0: no
  bound), first come first served, as the runtime's device emulation does;
- a server actor's firing takes t_a, one firing at a time per actor (its own thread);
- a TX firing takes bytes / bandwidth and holds the link (one TX at a time: the link is shared);
  an RX firing takes the latency;
- fifos have the capacities written in the graph (unbounded where none is written).

From the firing spans, as the runner reads its measured ones: latency = mean over frames of
(last sink firing of the frame ends - first source firing of the frame starts), wall = last
end - first start, per frame = wall / frames, period = mean gap between frames' ends (from a
two-frame run when ``frames`` is 1). Busy times: endpoint E = F sum_{endpoint} q_a t_a,
server S = sum_{server} q_a t_a, transfer X = cut bytes per frame / bandwidth, link C =
latency + X. Neurosurgeon (Kang et al., ASPLOS 2017) predicts only the latency E + C + S of
a chain; the paper's Fig. 4 plots wall time per frame, which is what is compared here.

Early exits (``exit_rate`` P, the share of iterations in which a DPG's CA chooses atr 0): a
DPA whose every data port is variable-rate is pruned in those iterations, so its time per
frame is (1 - P) t_a, and a variable-rate fifo carries (1 - P) x url tokens a frame on
average (cut bytes and TX time scaled alike). This is the expectation over frames; the
simulation runs the averaged frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping as TMapping
from dataclasses import dataclass

from ..links import LinkSpec
from ..model import Graph
from ._partition import PartitionPoint


@dataclass(frozen=True, slots=True)
class Prediction:
    endpoint_s: float
    server_s: float
    transfer_s: float
    link_s: float
    latency_s: float
    period_s: float
    per_frame_s: float

    cut_bytes: float = 0.0  # bytes over the link per frame (expected, with early exits)

    def to_json(self) -> dict:
        """Seconds; None where the model deadlocks (no frame ends), so that JSON stays strict."""
        return {k: (v if math.isfinite(v) else None) for k in self.__slots__ for v in [getattr(self, k)]}


def actor_times(graph: Graph, profile: TMapping | None = None) -> tuple[dict[str, float], list[str]]:
    """Seconds per firing for every actor: the profile's ``mean_s`` (schema
    vrprune/profile/1, or a plain {actor: seconds}), else the spec's ``time`` annotation,
    else 0. Returns (times, actors with no figure)."""
    prof = {}
    if profile:
        acts = profile.get("actors", profile) if isinstance(profile, dict) else {}
        for k, v in acts.items():
            if isinstance(v, dict):
                v = v.get("mean_s")
            if isinstance(v, (int, float)):
                prof[k] = float(v)
    out: dict[str, float] = {}
    missing = []
    for a in graph.actors:
        if a.name in prof:
            out[a.name] = prof[a.name]
        elif a.time_s is not None:
            out[a.name] = a.time_s
        else:
            out[a.name] = 0.0
            missing.append(a.name)
    return out, missing


_BASES: dict[int, tuple[Graph, _Base]] = {}


@dataclass(frozen=True)
class _Base:
    """A graph's numeric view for the simulation (actors in declaration order)."""

    names: tuple[str, ...]
    pos: dict[str, int]
    fifos: tuple[tuple[str, int, int, int, int, int, int | None, int], ...]  # name, src, dst, p, c, d, cap, bytes
    sources: tuple[int, ...]
    sinks: tuple[int, ...]
    prunable: frozenset[str]  # DPAs whose every data port is variable-rate: pruned at atr 0
    variable: frozenset[str]  # variable-rate fifos


def exit_scales(graph: Graph, exit_rate: float) -> tuple[dict[str, float], dict[str, float]]:
    """Per actor and per fifo, the share of its work or bytes left at ``exit_rate`` (1 for all
    but the prunable DPAs and the variable-rate fifos, which get 1 - exit_rate)."""
    b = _base(graph)
    keep = 1.0 - exit_rate
    return ({n: (keep if n in b.prunable else 1.0) for n in b.names},
            {f[0]: (keep if f[0] in b.variable else 1.0) for f in b.fifos})


def _base(graph: Graph) -> _Base:
    hit = _BASES.get(id(graph))
    if hit is not None and hit[0] is graph:
        return hit[1]
    ix = graph.index()
    names = tuple(a.name for a in graph.actors)
    pos = {n: i for i, n in enumerate(names)}
    fifos = []
    def rate(p) -> int:
        return 1 if p.is_control else (p.url if p.is_variable else p.rate)

    for f in graph.fifos:
        sp, dp = ix.src_port(f), ix.dst_port(f)
        fifos.append((f.name, pos[f.src.actor], pos[f.dst.actor], rate(sp), rate(dp), f.initial, f.capacity,
                      ix.token_bytes(f)))
    prunable = frozenset(a.name for a in graph.actors if a.dpg is not None and any(p.is_control for p in a.inputs)
                         and any(not p.is_control for p in a.ports)
                         and all(p.is_variable for p in a.ports if not p.is_control))
    variable = frozenset(f.name for f in graph.fifos if ix.src_port(f).is_variable)
    b = _Base(names, pos, tuple(fifos), tuple(i for i, a in enumerate(graph.actors) if not a.inputs),
              tuple(i for i, a in enumerate(graph.actors) if not a.outputs), prunable, variable)
    if len(_BASES) > 8:
        _BASES.clear()
    _BASES[id(graph)] = (graph, b)
    return b


def _simulate(graph: Graph, point: PartitionPoint, times: TMapping[str, float], q: TMapping[str, int],
              link: LinkSpec | None, slowdown: float, endpoint_cores: int, frames: int, exit_rate: float = 0.0
              ) -> tuple[float, float, float | None] | None:
    """(wall, mean latency, period or None) of ``frames`` frames; None on a deadlock."""
    from ..verify import ThroughputModel as Model
    from ..verify import timed_run, to_ticks

    b = _base(graph)
    ep = set(point.endpoint)
    split = link is not None and not point.local
    cut = {c.fifo for c in point.cut} if split else set()
    a_scale, f_scale = exit_scales(graph, exit_rate) if exit_rate else ({}, {})
    secs = [times.get(n, 0.0) * (slowdown if n in ep else 1.0) * a_scale.get(n, 1.0) for n in b.names]
    group = [0 if (n in ep and endpoint_cores > 0) else -1 for n in b.names]
    slots = [max(endpoint_cores, 1), 1]  # the endpoint's cores, the link
    qs = [q[n] for n in b.names]
    edges: list[tuple[int, int, int, int, int]] = []
    caps: list[int] = []
    unbounded = 1 << 62
    for name, s, d, p, c, init, cap, tb in b.fifos:
        if name not in cut:
            edges.append((s, d, p, c, init))
            caps.append(cap if cap is not None else unbounded)
            continue
        assert link is not None
        k = max(cap or 1, p)
        tx, rx = len(secs), len(secs) + 1
        secs += [p * tb * f_scale.get(name, 1.0) / link.bandwidth_Bps, link.latency_s]
        group += [1, -1]
        qs += [qs[s], qs[s]]
        edges += [(s, tx, p, p, init), (tx, rx, p, p, 0), (rx, d, p, c, 0)]
        caps += [k, k, k]
    ticks, unit = to_ticks(secs)
    m = Model(edges, ticks, qs)
    spans = timed_run(m, caps, [x * frames for x in qs], group, slots)
    if any(len(spans[k]) < qs[k] * frames for k in b.sinks):
        return None
    u = float(unit)
    starts = [min(spans[k][f * qs[k]][0] for k in b.sources) * u for f in range(frames)] if b.sources else None
    ends = [max(spans[k][(f + 1) * qs[k] - 1][1] for k in b.sinks) * u for f in range(frames)]
    if starts is None:
        starts = [0.0] * frames
    wall = ends[-1] - starts[0]
    lat = sum(e - s for s, e in zip(starts, ends)) / frames
    period = (ends[-1] - ends[0]) / (frames - 1) if frames > 1 else None
    return wall, lat, period


def predict(point: PartitionPoint, times: TMapping[str, float], q: TMapping[str, int],
            link: LinkSpec | None, *, graph: Graph, slowdown: float = 1.0, frames: int = 1,
            endpoint_cores: int = 1, exit_rate: float = 0.0) -> Prediction:
    """Predict one partition point over one link (see the module docstring); ``exit_rate``:
    the share of frames whose DPGs are pruned (early exits)."""
    a_scale, f_scale = exit_scales(graph, exit_rate)
    ep = slowdown * sum(q[a] * times.get(a, 0.0) * a_scale[a] for a in point.endpoint)
    sv = sum(q[a] * times.get(a, 0.0) * a_scale[a] for a in point.server)
    cut_b = sum(c.bytes_per_iteration * f_scale.get(c.fifo, 1.0) for c in point.cut)
    if point.local or link is None:
        x = c = 0.0
        cut_b = 0.0
    else:
        x = cut_b / link.bandwidth_Bps
        c = link.latency_s + x
    n = max(frames, 1)
    inf = float("inf")
    run = _simulate(graph, point, times, q, link, slowdown, endpoint_cores, n, exit_rate)
    if run is None:
        return Prediction(ep, sv, x, c, inf, inf, inf, cut_b)
    wall, latency, period = run
    if period is None:
        two = _simulate(graph, point, times, q, link, slowdown, endpoint_cores, 2, exit_rate)
        period = two[2] if two is not None and two[2] is not None else inf
    return Prediction(ep, sv, x, c, latency, period, wall / n, cut_b)


def estimate(point: PartitionPoint, times: TMapping[str, float], q: TMapping[str, int],
             link: LinkSpec | None, *, graph: Graph, slowdown: float = 1.0, frames: int = 1,
             endpoint_cores: int = 1) -> float:
    """A quick estimate of :func:`predict`'s time per frame, for ranking thousands of down-sets
    (``select_points``): (L + (N - 1) R) / N with R the busiest resource of the same model per
    frame (the endpoint's cores, each actor, the link, each RX) and L one frame's latency along
    the longest path (the endpoint's work in series when it has one core)."""
    b = _base(graph)
    ep = set(point.endpoint)
    split = link is not None and not point.local
    cut = {c.fifo for c in point.cut} if split else set()
    w = [q[n] * times.get(n, 0.0) * (slowdown if n in ep else 1.0) for n in b.names]
    e_total = sum(w[i] for i, n in enumerate(b.names) if n in ep)
    res = [x for i, x in enumerate(w) if b.names[i] not in ep]
    if endpoint_cores > 0:
        res.append(e_total / endpoint_cores)
    else:
        res += [w[i] for i, n in enumerate(b.names) if n in ep]
    hop = 0.0
    if split:
        assert link is not None
        res.append(point.cut_bytes / link.bandwidth_Bps)
        for name, s, _d, _p, _c, _init, _cap, _tb in b.fifos:
            if name in cut:
                res.append(q[b.names[s]] * link.latency_s)
        hop = link.latency_s + point.cut_bytes / link.bandwidth_Bps
    # longest paths of one frame over the fifos without initial tokens (declaration order is
    # not topological in general: relax until stable, at most once per actor)
    def longest(inside) -> float:
        best = [x if inside(i) else 0.0 for i, x in enumerate(w)]
        for _ in range(len(w)):
            changed = False
            for name, s, d, _p, _c, init, _cap, _tb in b.fifos:
                if init or not (inside(s) and inside(d)):
                    continue
                v = best[s] + (hop if name in cut else 0.0) + w[d]
                if v > best[d] + 1e-15:
                    best[d] = v
                    changed = True
            if not changed:
                break
        return max(best, default=0.0)

    lat = longest(lambda i: True)
    if endpoint_cores == 1 and ep:  # the endpoint's firings run one after the other
        lat = max(lat, e_total + (hop + longest(lambda i: b.names[i] not in ep) if split else 0.0))
    n = max(frames, 1)
    return (lat + (n - 1) * max(res, default=0.0)) / n
