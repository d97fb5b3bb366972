"""The hypothesis strategies of vrprune.testing: well-formed, varied, small enough to explore.

The rule checker below is written independently of vrprune.verify (and of the generators) from
docs/rules.md and docs/helpers-contract.md.
"""

from __future__ import annotations

import time
from dataclasses import replace
from fractions import Fraction

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from vrprune.grammar import Loader
from vrprune.model import ActorKind, Graph, PortKind
from vrprune.testing import cycles, dags, dpg_graphs, graphs, mutations, repetition_counts, sdf_chains
from vrprune.verify._bruteforce import explore

KEYWORDS = set("in out control actor fifo dpg graph const import impl param time capacity initial host link "
               "mapping platform base_port bytes kernel spa ca da dpa c opencl python cpu core device "
               "bandwidth latency on ns us ms s".split()) | {"u8", "i8", "u16", "i16", "f16", "u32", "i32",
                                                             "f32", "u64", "i64", "f64"}
FAST = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


# ------------------------------------------------------------------ helpers


def render(g: Graph) -> str:
    """The graph as .vpr text."""
    def port(p) -> str:
        if p.kind is PortKind.CONTROL:
            return f"control {p.direction.value} {p.name}"
        rate = f" @ {p.rate}" if p.kind is PortKind.STATIC else f" @ {p.lrl}..{p.url}"
        return f"{p.direction.value} {p.name}: {p.token}{rate}"

    def actor(a) -> str:
        return f"  actor {a.name}: {a.kind.value} {{ " + "  ".join(port(p) for p in a.ports) + " }"

    lines = [f"graph {g.name} {{"]
    lines += [actor(a) for a in g.actors if a.dpg is None]
    for d in g.dpgs:
        lines.append(f"  dpg {d.name} {{")
        lines += ["  " + actor(a) for a in g.actors if a.dpg == d.name]
        lines.append("  }")
    for f in g.fifos:
        lines.append(f"  fifo {f.name}: {f.src} -> {f.dst} capacity {f.capacity} initial {f.initial}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def load_text(tmp_path_factory, text: str) -> Graph:
    p = tmp_path_factory.mktemp("g") / "g.vpr"
    p.write_text(text)
    (g,) = Loader().load_module(str(p)).graphs
    return g


def ends(g: Graph, f):
    ix = g.index()
    return ix.actors[f.src.actor], ix.src_port(f), ix.actors[f.dst.actor], ix.dst_port(f)


def violations(g: Graph) -> set[str]:
    """Design rules R1-R8 broken by g (plus "init" for initial tokens on a variable or control
    edge and "C1" for data edges whose balance equations have no solution)."""
    bad: set[str] = set()
    ix = g.index()
    members = {d.name: [a for a in g.actors if a.dpg == d.name] for d in g.dpgs}
    # R1 composition
    for a in g.actors:
        if a.kind is not ActorKind.SPA and a.dpg is None:
            bad.add("R1")
        if a.dpg is not None and (g.dpg(a.dpg) is None or a.name not in g.dpg(a.dpg).actors):
            bad.add("R1")
    for ms in members.values():
        if [a.kind for a in ms].count(ActorKind.CA) != 1 or [a.kind for a in ms].count(ActorKind.DA) != 2:
            bad.add("R1")
    # R2 variable ports only on DA/DPA, on edges inside one DPG
    for a in g.actors:
        if any(p.is_variable for p in a.ports) and a.kind not in (ActorKind.DA, ActorKind.DPA):
            bad.add("R2")
    for f in g.fifos:
        sa, sp, da, dp = ends(g, f)
        if (sp.is_variable or dp.is_variable) and (sa.dpg is None or sa.dpg != da.dpg):
            bad.add("R2")
        if (sp.is_variable or sp.is_control) and f.initial:
            bad.add("init")
    # R3 control
    for a in g.actors:
        cins = [f for f in ix.ins[a.name] if ix.dst_port(f).is_control]
        couts = [f for f in ix.outs[a.name] if ix.src_port(f).is_control]
        if a.kind in (ActorKind.DA, ActorKind.DPA):
            if len(cins) != 1 or ix.actors[cins[0].src.actor].kind is not ActorKind.CA \
                    or ix.actors[cins[0].src.actor].dpg != a.dpg:
                bad.add("R3")
        elif cins:
            bad.add("R3")
        if a.kind is ActorKind.CA:
            targets = sorted(f.dst.actor for f in couts)
            want = sorted(m.name for m in members.get(a.dpg, []) if m.kind in (ActorKind.DA, ActorKind.DPA))
            if targets != want:
                bad.add("R3")
        elif couts:
            bad.add("R3")
    # R4 boundary; R5 symmetric rates; R7 structure
    entry: dict[str, set[str]] = {d: set() for d in members}
    exit_: dict[str, set[str]] = {d: set() for d in members}
    ranges: dict[str, set[tuple[int, int]]] = {d: set() for d in members}
    for f in g.fifos:
        sa, sp, da, dp = ends(g, f)
        if sp.is_variable and sa.kind is ActorKind.DA:
            entry.setdefault(sa.dpg, set()).add(sa.name)
        if dp.is_variable and da.kind is ActorKind.DA:
            exit_.setdefault(da.dpg, set()).add(da.name)
        for a, p in ((sa, sp), (da, dp)):
            if p.is_variable and a.dpg in ranges:
                ranges[a.dpg].add((p.lrl, p.url))
        if sp.is_variable != dp.is_variable or (sp.is_variable and (sp.lrl, sp.url) != (dp.lrl, dp.url)):
            bad.add("R5")
    for d in members:
        if len(ranges[d]) > 1:
            bad.add("R5")
        if len(entry[d]) != 1 or len(exit_[d]) != 1 or entry[d] == exit_[d]:
            bad.add("R7")
    for f in g.fifos:
        sa, sp, da, dp = ends(g, f)
        if sp.is_control:
            continue
        if sa.dpg != da.dpg:
            if da.dpg is not None and (da.name not in entry[da.dpg] and da.kind is not ActorKind.CA or dp.is_variable):
                bad.add("R4")
            if sa.dpg is not None and (sa.name not in exit_[sa.dpg] or sp.is_variable):
                bad.add("R4")
        elif sa.dpg is not None and da.kind is ActorKind.CA:
            bad.add("R4")  # a CA reads only from outside its DPG
        # (static edges between two members of one DPG are allowed: SPAs inside a DPG)
    # R8: the exit DA sends static output outside its DPG
    for d in members:
        for x in (exit_[d] if len(exit_[d]) == 1 else ()):  # else R7 (below) already
            if not any(ix.actors[f.dst.actor].dpg != d and ix.src_port(f).kind is PortKind.STATIC
                       for f in ix.outs[x]):
                bad.add("R8")
    # R7: DPAs on an entry-exit path (data edges inside the DPG); no cycle through variable
    # edges; every directed cycle holds initial tokens
    var_adj: dict[str, set[str]] = {a.name: set() for a in g.actors}
    inner_adj: dict[str, set[str]] = {a.name: set() for a in g.actors}
    for f in g.fifos:
        if ix.src_port(f).is_variable:
            var_adj[f.src.actor].add(f.dst.actor)
        if not ix.src_port(f).is_control and ix.actors[f.src.actor].dpg is not None \
                and ix.actors[f.src.actor].dpg == ix.actors[f.dst.actor].dpg:
            inner_adj[f.src.actor].add(f.dst.actor)

    def reach(starts, adj) -> set[str]:
        seen, todo = set(starts), list(starts)
        while todo:
            for v in adj[todo.pop()]:
                if v not in seen:
                    seen.add(v)
                    todo.append(v)
        return seen

    rev: dict[str, set[str]] = {a.name: set() for a in g.actors}
    for u, vs in inner_adj.items():
        for v in vs:
            rev[v].add(u)
    for d, ms in members.items():
        fwd, back = reach(entry[d], inner_adj), reach(exit_[d], rev)
        if any(m.kind is ActorKind.DPA and not (m.name in fwd and m.name in back) for m in ms):
            bad.add("R7")
    if has_cycle(var_adj):
        bad.add("R7")
    no_delay: dict[str, set[str]] = {a.name: set() for a in g.actors}
    for f in g.fifos:
        if f.initial == 0:
            no_delay[f.src.actor].add(f.dst.actor)
    if has_cycle(no_delay):
        bad.add("R7")
    # R6: data edges alone must give every actor of a DPG the same repetition count
    q = data_balance(g)
    if q is None:
        bad.add("C1")
    else:
        for ms in members.values():
            if len({q[m.name] for m in ms}) > 1:
                bad.add("R6")
    return bad


def has_cycle(adj: dict[str, set[str]]) -> bool:
    state: dict[str, int] = {}

    def visit(u: str) -> bool:
        state[u] = 1
        for v in adj[u]:
            if state.get(v) == 1 or (v not in state and visit(v)):
                return True
        state[u] = 2
        return False

    return any(u not in state and visit(u) for u in adj)


def data_balance(g: Graph) -> dict[str, Fraction] | None:
    """Relative firing rates from data edges only (variable edges 1:1); each weakly connected
    component of the data graph gets its own scale, so compare within a DPG only when connected:
    DPG members are always connected to each other by variable edges, and the CA through its
    inputs (unconnected CA: scaled to its DPG)."""
    ix = g.index()
    adj: dict[str, list[tuple[str, Fraction]]] = {a.name: [] for a in g.actors}
    for f in g.fifos:
        sp, dp = ix.src_port(f), ix.dst_port(f)
        if sp.is_control:
            continue
        p, c = (1, 1) if sp.is_variable or dp.is_variable else (sp.rate, dp.rate)
        adj[f.src.actor].append((f.dst.actor, Fraction(p, c)))
        adj[f.dst.actor].append((f.src.actor, Fraction(c, p)))
    r: dict[str, Fraction] = {}
    comp_of: dict[str, str] = {}
    for root in adj:
        if root in r:
            continue
        r[root] = Fraction(1)
        comp_of[root] = root
        todo = [root]
        while todo:
            u = todo.pop()
            for v, k in adj[u]:
                if v not in r:
                    r[v] = r[u] * k
                    comp_of[v] = root
                    todo.append(v)
                elif r[v] != r[u] * k:
                    return None
    # an isolated CA (no data inputs) takes its DPG's rate
    for a in g.actors:
        if a.kind is ActorKind.CA and not adj[a.name] and a.dpg is not None:
            others = [m for m in g.actors if m.dpg == a.dpg and m.name != a.name]
            if others:
                r[a.name] = r[others[0].name]
    return r


def atr_range(g: Graph) -> dict[str, tuple[int, int]]:
    out = {}
    for a in g.actors:
        for p in a.ports:
            if p.is_variable:
                out[a.dpg] = (p.lrl, p.url)
    return out


# ------------------------------------------------------------------ well-formedness


@FAST
@given(graphs())
def test_generated_graphs_are_well_formed(g):
    ix = g.index()
    names = [g.name] + [a.name for a in g.actors] + [f.name for f in g.fifos] + [d.name for d in g.dpgs]
    for n in names + [p.name for a in g.actors for p in a.ports]:
        assert n.isidentifier() and n not in KEYWORDS, n
    assert len({a.name for a in g.actors}) == len(g.actors) <= 6
    assert len({f.name for f in g.fifos}) == len(g.fifos)
    uses = {}
    for f in g.fifos:
        uses[(f.src.actor, f.src.port)] = uses.get((f.src.actor, f.src.port), 0) + 1
        uses[(f.dst.actor, f.dst.port)] = uses.get((f.dst.actor, f.dst.port), 0) + 1
        sp, dp = ix.src_port(f), ix.dst_port(f)
        assert sp.token.same_as(dp.token) and sp.is_control == dp.is_control
        assert f.capacity is not None and f.capacity >= max(1, f.initial)
        assert sp.rate <= 3 and dp.rate <= 3
    assert all(uses.get((a.name, p.name)) == 1 for a in g.actors for p in a.ports)
    assert violations(g) == set()
    q = repetition_counts(g)  # consistent, control edges included
    for d in g.dpgs:
        assert len({q[m] for m in d.actors}) == 1
    assert len(set(atr_range(g))) == len(atr_range(g))
    # weakly connected
    adj = {a.name: set() for a in g.actors}
    for f in g.fifos:
        adj[f.src.actor].add(f.dst.actor)
        adj[f.dst.actor].add(f.src.actor)
    seen, todo = {g.actors[0].name}, [g.actors[0].name]
    while todo:
        for v in adj[todo.pop()] - seen:
            seen.add(v)
            todo.append(v)
    assert seen == set(adj)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(g=graphs())
def test_generated_graphs_load_from_their_vpr_text(tmp_path_factory, g):
    back = load_text(tmp_path_factory, render(g))

    def strip(x):
        return sorted((a.name, a.kind, a.dpg, tuple((p.name, p.kind, p.lrl, p.url, p.token.nbytes) for p in a.ports))
                      for a in x.actors)

    assert strip(back) == strip(g)
    assert sorted((f.name, str(f.src), str(f.dst), f.capacity, f.initial) for f in back.fifos) == \
        sorted((f.name, str(f.src), str(f.dst), f.capacity, f.initial) for f in g.fifos)


def test_the_rule_checker_accepts_the_language_example():
    # the DPG of docs/language.md, as a sanity check of violations()
    import tempfile
    from pathlib import Path
    text = """graph g {
  actor Src { out a: i32  out b: i32 }
  actor Snk { in f: i32 }
  dpg boxes {
    actor Count: ca  { in d: i32  control out c_in  control out c_trk  control out c_out }
    actor Entry: da  { control in c  in d: i32  out box: f32[6] @ 0..8 }
    actor Track: dpa { control in c  in box: f32[6] @ 0..8  out t: f32[6] @ 0..8 }
    actor Exit:  da  { control in c  in t: f32[6] @ 0..8  out frame: i32 }
    fifo Count.c_in -> Entry.c capacity 1
    fifo Count.c_trk -> Track.c capacity 1
    fifo Count.c_out -> Exit.c capacity 1
    fifo Entry.box -> Track.box capacity 8
    fifo Track.t -> Exit.t capacity 8
  }
  fifo Src.a -> Count.d capacity 1
  fifo Src.b -> Entry.d capacity 1
  fifo Exit.frame -> Snk.f capacity 1
}"""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "g.vpr"
        p.write_text(text)
        (g,) = Loader().load_module(str(p)).graphs
    assert violations(g) == set()
    assert explore(g).verdict == "deadlock-free"


# ------------------------------------------------------------------ mutations


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_mutations_break_exactly_the_named_rule(tmp_path_factory, data):
    g = data.draw(graphs())
    bad, rule = data.draw(mutations(g))
    assert violations(bad) == {rule}
    back = load_text(tmp_path_factory, render(bad))  # still passes every load-time check
    assert len(back.fifos) == len(bad.fifos)


def test_every_documented_mutation_is_generated():
    # a graph to which every mutation applies: an SPA outside, a DPG with a DPA and a fed CA
    g = find(dpg_graphs(), lambda g: any(a.kind is ActorKind.DPA for a in g.actors)
             and any(a.kind is ActorKind.SPA for a in g.actors)
             and any(f.dst.actor.endswith("ca") for f in g.fifos))
    seen: set[str] = set()

    @settings(max_examples=200, deadline=None, database=None)
    @given(mutations(g))
    def collect(m):
        assert violations(m[0]) == {m[1]}
        seen.add(m[1])

    collect()
    assert seen == {"R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8"}


# ------------------------------------------------------------------ variety

class _Found(Exception):
    pass


def find(strat, pred, settings=None, max_examples: int = 1000) -> Graph:
    """Some example of strat satisfying pred, searched without shrinking (which would run the
    capacity sizing again and again). Derandomized: a rare structure (one in ~150 graphs) once
    went unfound in 1000 random tries; a fixed seed makes the search the same on every run."""
    hit: list[Graph] = []

    @settings_(max_examples=max_examples, deadline=None, suppress_health_check=list(HealthCheck),
               database=None, phases=[Phase.generate], derandomize=True)
    @given(strat)
    def search(x):
        if pred(x):
            hit.append(x)
            raise _Found

    try:
        search()
    except _Found:
        return hit[0]
    raise AssertionError(f"no example satisfies {pred} in {max_examples} tries")


settings_ = settings
NEAR = None


def verdict(g: Graph) -> str:
    return explore(g).verdict


def test_both_verdicts_appear_in_every_family():
    for strat in (sdf_chains(), dags(), cycles(), dpg_graphs()):
        assert verdict(find(strat, lambda g: verdict(g) == "deadlock", settings=NEAR)) == "deadlock"
        assert verdict(find(strat, lambda g: verdict(g) == "deadlock-free", settings=NEAR)) == "deadlock-free"


def test_verdicts_are_roughly_balanced():
    counts = {"deadlock": 0, "deadlock-free": 0}

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(graphs())
    def count(g):
        counts[verdict(g)] += 1

    count()
    assert min(counts.values()) >= 0.25 * sum(counts.values()), counts


def test_structures_of_interest_are_generated():
    def multirate(g):
        return any(p.kind is PortKind.STATIC and p.rate > 1 for a in g.actors for p in a.ports)

    def fork_join(g):
        ix = g.index()
        return any(len(ix.outs[a.name]) > 1 for a in g.actors if a.kind is ActorKind.SPA) and \
            any(len(ix.ins[a.name]) > 1 for a in g.actors if a.kind is ActorKind.SPA)

    def delayed_cycle(g):
        return any(f.initial > 0 for f in g.fifos) and has_cycle(
            {a.name: {f.dst.actor for f in g.fifos if f.src.actor == a.name} for a in g.actors})

    find(sdf_chains(), multirate, settings=NEAR)
    find(dags(), fork_join, settings=NEAR)
    find(cycles(), lambda g: delayed_cycle(g) and verdict(g) == "deadlock-free", settings=NEAR)
    find(dpg_graphs(), lambda g: any(lo == 0 for lo, _ in atr_range(g).values()) and verdict(g) == "deadlock-free",
         settings=NEAR)
    find(dpg_graphs(max_actors=7), lambda g: len(g.dpgs) == 2, settings=NEAR)
    find(dpg_graphs(), lambda g: any(a.dpg and a.kind is ActorKind.SPA for a in g.actors), settings=NEAR)
    find(dpg_graphs(), lambda g: any(a.kind is ActorKind.DPA for a in g.actors) and delayed_cycle(g), settings=NEAR)
    # a deadlock that needs an atr choice: the graph is live when the CA may only pick lrl
    find(dpg_graphs(), lambda g: verdict(g) == "deadlock" and all(lo > 0 for lo, _ in atr_range(g).values())
         and verdict(pin_atr(g, "lrl")) == "deadlock-free",
         settings=NEAR)


def pin_atr(g: Graph, which: str) -> Graph:
    """g with every variable port fixed to lrl..lrl or url..url (lrl must be >= 1 for "lrl")."""
    def fix(p):
        if not p.is_variable:
            return p
        v = p.lrl if which == "lrl" else p.url
        return replace(p, lrl=v, url=v)
    return replace(g, actors=tuple(replace(a, ports=tuple(fix(p) for p in a.ports)) for a in g.actors))


# ------------------------------------------------------------------ semantics and speed


@FAST
@given(dpg_graphs())
def test_deadlock_under_some_atrs_iff_under_url(g):
    # every blocking condition is monotone in the atr values (docs/verification.md): whatever
    # deadlocks for some atr sequence also deadlocks with atr = url throughout
    assert (verdict(g) == "deadlock") == (verdict(pin_atr(g, "url")) == "deadlock")


@FAST
@given(graphs())
def test_exploring_a_generated_graph_is_fast(g):
    best = float("inf")
    for _ in range(3):  # the best of three, in CPU time: the machine is shared and noisy
        t = time.process_time()
        r = explore(g)
        best = min(best, time.process_time() - t)
    assert best < 0.2 and r.states <= 5_000
    assert r.complete and r.verdict in ("deadlock", "deadlock-free")
