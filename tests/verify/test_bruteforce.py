"""The brute-force explorer on small hand-made graphs whose answers are known by hand."""

from __future__ import annotations

from dataclasses import replace
from string import Template

import pytest

from vrprune.frontend import load_graph
from vrprune.model import Graph
from vrprune.verify._bruteforce import explore


def fill(template: str, **kw: int) -> str:
    return Template(template).substitute(kw)


def vpr(tmp_path, body: str) -> Graph:
    p = tmp_path / "g.vpr"
    p.write_text("graph g {\n" + body + "\n}\n")
    return load_graph(str(p))


def with_cap(g: Graph, fifo: str, cap: int | None) -> Graph:
    return replace(g, fifos=tuple(replace(f, capacity=cap) if f.name == fifo else f for f in g.fifos))


RING = """
  actor A { in x: f32  out y: f32 }
  actor B { in x: f32  out y: f32 }
  fifo ab: A.y -> B.x capacity 1
  fifo ba: B.y -> A.x capacity 1 initial $init
"""


def test_two_actor_cycle_without_tokens_deadlocks_at_once(tmp_path):
    r = explore(vpr(tmp_path, fill(RING, init=0)))
    assert r.verdict == "deadlock"
    assert r.trace == [] and r.states == 1 and r.complete
    assert r.stuck_fills == {"ab": 0, "ba": 0}
    assert sorted(r.wait) == [("A", "ba", "empty"), ("B", "ab", "empty")]


def test_two_actor_cycle_with_one_token_is_live(tmp_path):
    r = explore(vpr(tmp_path, fill(RING, init=1)))
    assert r.verdict == "deadlock-free" and r.complete
    assert r.states == 2  # the token is either on ab or on ba
    assert r.max_fill == {"ab": 1, "ba": 1}
    assert r.trace == [] and r.atr_choices == {}


RATES = """
  actor P { out y: i32 @ 3 }
  actor C { in x: i32 @ 2 }
  fifo e: P.y -> C.x capacity $cap
"""


def test_rate_3_to_2_with_capacity_3_deadlocks(tmp_path):
    r = explore(vpr(tmp_path, fill(RATES, cap=3)))
    assert r.verdict == "deadlock"
    assert r.trace == [("P", None), ("C", None)]  # 3 tokens, then 1 left: P needs room 3, C needs 2
    assert r.stuck_fills == {"e": 1}
    assert sorted(r.wait) == [("C", "e", "empty"), ("P", "e", "full")]


def test_rate_3_to_2_with_capacity_4_is_live(tmp_path):
    r = explore(vpr(tmp_path, fill(RATES, cap=4)))
    assert r.verdict == "deadlock-free"
    assert r.max_fill == {"e": 4}
    assert r.states == 5  # fills 0, 3, 1, 4, 2


def test_capacity_below_rate_deadlocks_in_the_initial_state(tmp_path):
    r = explore(vpr(tmp_path, fill(RATES, cap=2)))
    assert r.verdict == "deadlock" and r.trace == []


DPG = """
  actor Src { out a: i32  out b: i32 }
  actor Snk { in x: i32 }
  dpg D {
    actor Ca: ca { in d: i32  control out c1  control out c2 }
    actor En: da { control in c  in d: i32  out v: f32 @ $lrl..$url }
    actor Ex: da { control in c  in v: f32 @ $lrl..$url  out o: i32 }
    fifo Ca.c1 -> En.c capacity 1
    fifo Ca.c2 -> Ex.c capacity 1
    fifo var: En.v -> Ex.v capacity $cap
  }
  fifo Src.a -> Ca.d capacity 1
  fifo Src.b -> En.d capacity 1
  fifo Ex.o -> Snk.x capacity 1
"""


def test_dpg_with_url_above_capacity_deadlocks_at_url(tmp_path):
    r = explore(vpr(tmp_path, fill(DPG, lrl=1, url=4, cap=3)))
    assert r.verdict == "deadlock"
    assert r.atr_choices == {"D": [4]}
    assert ("Ca", 4) in r.trace and ("En", 4) not in r.trace
    assert ("En", "var", "full") in r.wait
    assert r.stuck_control["Ca.c1"] == (4,)


def test_dpg_lower_atrs_alone_are_live(tmp_path):
    # the same graph is live when the CA can only choose atr <= capacity
    assert explore(vpr(tmp_path, fill(DPG, lrl=1, url=3, cap=3))).verdict == "deadlock-free"


def test_dpg_with_lrl_0_is_live(tmp_path):
    r = explore(vpr(tmp_path, fill(DPG, lrl=0, url=2, cap=2)))
    assert r.verdict == "deadlock-free" and r.complete
    assert r.max_fill["var"] == 2
    assert r.max_fill["Ca.c1"] == 1


def test_dpg_with_lrl_0_deadlocks_only_through_url(tmp_path):
    r = explore(vpr(tmp_path, fill(DPG, lrl=0, url=2, cap=1)))
    assert r.verdict == "deadlock"
    assert r.atr_choices == {"D": [2]}


# Two iterations in flight (the feedback Snk -> Src holds 2 tokens), url 4 above the capacity 3
# of the variable edge. The stuck state needs the CA to have used both of its input tokens: it
# fires twice, the first time with atr 4 (which blocks the entry DA for good), the second time
# with any atr (breadth-first order takes the smallest, 1). Note: in this model a deadlock never
# *needs* different atrs: every blocking condition is monotone in the atr values, so whatever
# deadlocks under some atr sequence also deadlocks with atr = url throughout (test below).
TWO = """
  actor Src { in r: i32  out a: i32  out b: i32 }
  actor Snk { in x: i32  out r: i32 }
  dpg D {
    actor Ca: ca { in d: i32  control out c1  control out c2 }
    actor En: da { control in c  in d: i32  out v: f32 @ 1..$url }
    actor Ex: da { control in c  in v: f32 @ 1..$url  out o: i32 }
    fifo Ca.c1 -> En.c capacity 2
    fifo Ca.c2 -> Ex.c capacity 2
    fifo var: En.v -> Ex.v capacity 3
  }
  fifo Src.a -> Ca.d capacity 2
  fifo Src.b -> En.d capacity 2
  fifo Ex.o -> Snk.x capacity 2
  fifo Snk.r -> Src.r capacity 2 initial 2
"""


def replay(g: Graph, trace: list[tuple[str, int | None]]) -> dict[str, int]:
    """Fire the trace by hand (no explorer code) and return the fill levels; fails on any
    firing that is not enabled."""
    ix = g.index()
    fill = {f.name: f.initial for f in g.fifos}
    ctl: dict[str, list[int]] = {f.name: [] for f in g.fifos if ix.src_port(f).is_control}
    for actor, atr in trace:
        a = ix.actors[actor]
        for f in ix.ins[actor]:
            p = ix.dst_port(f)
            n = 1 if p.is_control else atr if p.is_variable else p.rate
            if p.is_control:
                assert ctl[f.name] and ctl[f.name][0] == atr, (actor, f.name)
                ctl[f.name].pop(0)
            assert fill[f.name] >= n, (actor, f.name)
            fill[f.name] -= n
        for f in ix.outs[actor]:
            p = ix.src_port(f)
            n = 1 if p.is_control else atr if p.is_variable else p.rate
            assert f.capacity - fill[f.name] >= n, (actor, f.name)
            fill[f.name] += n
            if p.is_control:
                ctl[f.name].append(atr)
        assert a is not None
    return fill


def test_deadlock_after_two_ca_firings_with_different_atrs(tmp_path):
    g = vpr(tmp_path, fill(TWO, url=4))
    r = explore(g)
    assert r.verdict == "deadlock"
    assert r.atr_choices == {"D": [4, 1]}
    assert r.trace == [("Src", None), ("Src", None), ("Ca", 4), ("Ca", 1)]
    assert replay(g, r.trace) == r.stuck_fills
    assert r.stuck_control == {"Ca.c1": (4, 1), "Ca.c2": (4, 1)}
    assert ("En", "var", "full") in r.wait and ("Ex", "var", "empty") in r.wait
    # with url within the capacity the same graph is live
    assert explore(vpr(tmp_path, fill(TWO, url=3))).verdict == "deadlock-free"


def test_traces_replay_to_the_stuck_fills(tmp_path):
    for body in (fill(RATES, cap=3), fill(DPG, lrl=1, url=4, cap=3), fill(DPG, lrl=0, url=2, cap=1)):
        g = vpr(tmp_path, body)
        r = explore(g)
        assert r.verdict == "deadlock"
        assert replay(g, r.trace) == r.stuck_fills


def test_unbounded_when_a_capacity_is_missing(tmp_path):
    g = with_cap(vpr(tmp_path, fill(RATES, cap=4)), "e", None)
    r = explore(g)
    assert r.verdict == "unbounded" and r.states == 0


def test_too_large_when_the_state_limit_is_hit(tmp_path):
    g = vpr(tmp_path, fill(RATES, cap=4))
    r = explore(g, max_states=3)
    assert r.verdict == "too-large" and not r.complete and r.states == 3


def test_stop_at_deadlock_keeps_the_shortest_trace(tmp_path):
    g = vpr(tmp_path, fill(DPG, lrl=1, url=4, cap=3))
    full, first = explore(g), explore(g, stop_at_deadlock=True)
    assert first.verdict == "deadlock" and first.trace == full.trace
    assert first.states <= full.states


def test_undefined_semantics_is_refused(tmp_path):
    body = fill(DPG, lrl=1, url=2, cap=2).replace("in v: f32 @ 1..2", "in v: f32 @ 1..3")
    with pytest.raises(ValueError, match="R5"):
        explore(vpr(tmp_path, body))
