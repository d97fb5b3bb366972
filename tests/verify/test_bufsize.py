"""vrprune bufsize: minimal capacities held against exhaustive search with the brute-force
explorer (independent of the simulation the sizer uses), the checker, --write and throughput."""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import shutil
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

import vrprune
from vrprune.cli import main_with
from vrprune.testing import cycles, dags, dpg_graphs, graphs, sdf_chains
from vrprune.verify import prove
from vrprune.verify._bruteforce import explore
from vrprune.verify._bufsize import classic_bound, edge_lower_bound, prepare, size, with_capacities
from vrprune.verify._throughput import exec_times, max_throughput, pareto, self_timed, to_ticks

HERE = os.path.dirname(os.path.abspath(__file__))
SPECS = os.path.join(os.path.dirname(os.path.dirname(HERE)), "specs")
N = min(settings().max_examples, 40)

DIAMOND = """\
// reconvergent paths: the direct fifo must buffer while B collects its block
graph diamond {
  actor F { out a: i32  out b: i32 }     /* fork */
  actor B { in x: i32 @ 3  out y: i32 @ 3 }
  actor J { in a: i32  in b: i32 }
  fifo F.a -> J.a          // sized by bufsize
  fifo F.b -> B.x capacity 3
  fifo B.y -> J.b /* keep me */ initial 0
}
"""


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main_with(["bufsize", *argv], out, err)
    return code, out.getvalue(), err.getvalue()


def _write(tmp_path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


# ------------------------------------------------------------ per-edge bound


def _two_actor_ok(p: int, c: int, d: int, cap: int) -> bool:
    """One edge alone, greedy, one local iteration (an independent little simulation)."""
    from math import gcd

    g = gcd(p, c)
    qu, qv = c // g, p // g
    fill, nu, nv = d, 0, 0
    while nu < qu or nv < qv:
        if nv < qv and fill >= c:
            fill -= c
            nv += 1
        elif nu < qu and cap - fill >= p:
            fill += p
            nu += 1
        else:
            return False
    return True


@pytest.mark.parametrize("p", range(1, 7))
@pytest.mark.parametrize("c", range(1, 7))
def test_edge_lower_bound_is_the_isolated_minimum(p, c):
    for d in range(0, 12):
        lb = edge_lower_bound(p, c, d)
        assert lb >= max(p, c, d, classic_bound(p, c, d)) or lb == d
        assert _two_actor_ok(p, c, d, lb), (p, c, d, lb)
        if lb - 1 >= max(p, c, d):
            assert not _two_actor_ok(p, c, d, lb - 1), (p, c, d, lb)


# ------------------------------------------------------------ exhaustive search


def _box(g):
    """Per fifo: every capacity from the plain safe bound max(p, c, d) to d + p * q_src
    (above it a fifo is never full)."""
    pb, diags = prepare(g, "tokens", True)
    # the strategies may draw graphs that a newer design rule rejects (e.g. R8): not sizable
    assume(pb is not None and not diags)
    out = []
    for e in pb.net.edges:
        lo = max(e.prod, e.cons, e.init, 1)
        out.append(range(lo, max(lo, pb.upper[len(out)]) + 1))
    return out


def _free_of_deadlock(g, caps) -> bool | None:
    r = explore(with_capacities(g, caps), max_states=20_000)
    return {"deadlock-free": True, "deadlock": False}.get(r.verdict)


def _exhaustive_matches(g, objective: str):
    box = _box(g)
    res = size(g, objective, resize_all=True, cross_check=False)
    total = 1
    for r in box:
        total *= len(r)
    assume(total <= 6000)
    names = [f.name for f in g.fifos]
    ix = g.index()
    w = [ix.token_bytes(f) if objective == "bytes" else 1 for f in g.fifos]
    if res.status == "infeasible":
        # no point of the box is deadlock-free (the top corner is the most generous useful point)
        top = {n: r[-1] for n, r in zip(names, box)}
        v = _free_of_deadlock(g, top)
        assume(v is not None)
        event("infeasible")
        assert v is False
        return
    assert res.status == "optimal"
    best = res.total(objective)
    event(f"optimum above the per-edge bounds: {any(f.capacity > f.lower for f in res.fifos)}")
    v = _free_of_deadlock(g, res.capacities)
    assume(v is not None)
    assert v is True, "the sizer's capacities deadlock"
    for caps in itertools.product(*box):
        cost = sum(a * b for a, b in zip(w, caps))
        if cost >= best:
            continue
        v = _free_of_deadlock(g, dict(zip(names, caps)))
        assume(v is not None)
        assert v is False, f"cheaper deadlock-free capacities exist: {dict(zip(names, caps))} ({cost} < {best})"


SLOW = settings(max_examples=N, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                                       HealthCheck.data_too_large])


@SLOW
@given(sdf_chains(max_actors=4, max_rate=3), st.sampled_from(["tokens", "bytes"]))
def test_optimum_equals_exhaustive_chains(g, objective):
    _exhaustive_matches(g, objective)


@SLOW
@given(graphs(max_actors=4, max_rate=2, dpg=False), st.sampled_from(["tokens", "bytes"]))
def test_optimum_equals_exhaustive_graphs(g, objective):
    _exhaustive_matches(g, objective)


@SLOW
@given(dpg_graphs(max_actors=5, max_rate=2), st.sampled_from(["tokens", "bytes"]))
def test_optimum_equals_exhaustive_dpgs(g, objective):
    _exhaustive_matches(g, objective)


@st.composite
def reconvergent(draw):
    """F forks to J directly and through B (multirate), optionally with feedback J -> F holding
    initial tokens: graphs whose optimum is often above the per-edge bounds."""
    import tempfile
    from math import lcm

    q = {a: draw(st.integers(1, 3)) for a in "FBJ"}
    def rates(u, v):
        k = draw(st.integers(1, 2))
        m = lcm(q[u], q[v])
        return m // q[u] * k, m // q[v] * k
    tok = lambda: draw(st.sampled_from(["i32", "f64", "u8[3]"]))  # noqa: E731
    (p1, c1), (p2, c2), (p3, c3) = rates("F", "J"), rates("F", "B"), rates("B", "J")
    t1, t2, t3 = tok(), tok(), tok()
    fb = draw(st.booleans())
    lines = ["graph r {",
             f"  actor F {{ out a: {t1} @ {p1}  out b: {t2} @ {p2}"
             + ("  in f: i32 @ %d" % rates("J", "F")[1] if fb else "") + " }",
             f"  actor B {{ in x: {t2} @ {c2}  out y: {t3} @ {p3} }}"]
    jf = None
    if fb:
        jf = rates("J", "F")
        lines[1] = f"  actor F {{ out a: {t1} @ {p1}  out b: {t2} @ {p2}  in f: i32 @ {jf[1]} }}"
    lines.append(f"  actor J {{ in a: {t1} @ {c1}  in b: {t3} @ {c3}" + (f"  out f: i32 @ {jf[0]}" if jf else "")
                 + " }")
    lines += ["  fifo F.a -> J.a", "  fifo F.b -> B.x", "  fifo B.y -> J.b"]
    if fb:
        d = draw(st.integers(0, 2 * q["F"] * jf[1]))
        lines.append(f"  fifo J.f -> F.f initial {d}")
    lines.append("}")
    with tempfile.NamedTemporaryFile("w", suffix=".vpr", delete=False) as f:
        f.write("\n".join(lines) + "\n")
    try:
        return vrprune.load(f.name)
    finally:
        os.unlink(f.name)


@SLOW
@given(reconvergent(), st.sampled_from(["tokens", "bytes"]))
def test_optimum_equals_exhaustive_reconvergent(g, objective):
    _exhaustive_matches(g, objective)


@SLOW
@given(st.one_of(dags(max_actors=5, max_rate=3), cycles(max_actors=5, max_rate=3)),
       st.sampled_from(["tokens", "bytes"]))
def test_optimum_equals_exhaustive_dags_cycles(g, objective):
    _exhaustive_matches(g, objective)


def test_diamond_needs_more_than_the_per_edge_bound(tmp_path):
    g = vrprune.load(_write(tmp_path, "d.vpr", DIAMOND))
    res = size(g, "tokens", resize_all=True)
    assert res.status == "optimal" and res.check_verdict == "proved"
    assert res.capacities == {"F.a": 3, "F.b": 3, "B.y": 3}
    assert res.total("tokens") > res.classic_total("tokens")
    assert res.stats["cuts"] >= 1


# ------------------------------------------------------------ specs: proved, and one less deadlocks

SPEC_FILES = ["feedback.vpr", "multi_dpg.vpr", "receiver.vpr", "vehicle.vpr", "vehicle_dual.vpr",
              "sdf3/samplerate.xml", "sdf3/modem.xml", "sdf3/mp3decoder.xml", "sdf3/h263decoder.xml"]


@pytest.mark.parametrize("name", SPEC_FILES)
def test_sized_specs_prove_and_one_less_refutes(name):
    g = vrprune.load(os.path.join(SPECS, name))
    for resize_all in (False, True):
        res = size(g, "bytes", resize_all=resize_all, explain=True)
        assert res.status == "optimal", res.stats
        assert res.check_verdict == "proved"
    sized = res.sized_graph()
    for fs in res.fifos:
        c = fs.capacity - 1
        if c < max(fs.prod, fs.cons, fs.initial, 1):
            assert fs.one_less is not None and fs.one_less.kind in ("overflow", "invalid")
            continue
        worse = with_capacities(sized, {fs.name: c})
        assert prove(worse, timeout_s=30).verdict == "refuted", fs.name
        assert fs.one_less is not None and fs.one_less.kind == "deadlock"


def test_ssd_spec_sizes():
    g = vrprune.load(os.path.join(SPECS, "ssd.vpr"))
    res = size(g, resize_all=True)
    assert res.status == "optimal" and res.check_verdict == "proved"
    assert res.total("bytes") >= res.classic_total("bytes")


def test_fixed_capacities_are_kept(tmp_path):
    g = vrprune.load(_write(tmp_path, "d.vpr", DIAMOND))
    res = size(g, "tokens")
    assert res.capacities["F.b"] == 3
    assert [f.name for f in res.fifos if f.fixed] == ["F.b"]


def test_token_free_cycle_is_infeasible():
    code, out, err = _cli(os.path.join(SPECS, "bad", "d1_cycle_without_tokens.vpr"), "--resize-all")
    assert code == 1
    assert "no capacities make this graph deadlock-free" in out


# ------------------------------------------------------------ CLI and --write


def test_write_keeps_comments_and_only_changes_capacities(tmp_path):
    path = _write(tmp_path, "d.vpr", DIAMOND)
    code, out, err = _cli(path, "--write", "--resize-all")
    assert code == 0, err
    new = open(path, encoding="utf-8").read()
    assert "// sized by bufsize" in new and "/* keep me */" in new and "/* fork */" in new
    assert "fifo F.a -> J.a capacity 3          // sized by bufsize" in new
    assert "fifo B.y -> J.b capacity 3 /* keep me */ initial 0" in new
    strip = lambda s: re.sub(r" capacity \d+", "", s)  # noqa: E731
    assert strip(new) == strip(DIAMOND)
    g = vrprune.load(path)
    assert prove(g).verdict == "proved"
    assert {f.name: f.capacity for f in g.fifos} == {"F.a": 3, "F.b": 3, "B.y": 3}
    # idempotent: a second run changes nothing
    code, out, err = _cli(path, "--write")
    assert code == 0 and open(path, encoding="utf-8").read() == new


def test_write_replaces_constant_expressions_only_when_changed(tmp_path):
    src = open(os.path.join(SPECS, "multi_dpg.vpr"), encoding="utf-8").read()
    path = _write(tmp_path, "m.vpr", src)
    code, out, err = _cli(path, "--write", "--resize-all", "--objective", "tokens")
    assert code == 0, err
    new = open(path, encoding="utf-8").read()
    assert new.count("//") == src.count("//")
    assert vrprune.load(path) is not None
    assert re.sub(r"capacity \w+", "capacity N", new) == re.sub(r"capacity \w+", "capacity N", src)


def test_write_refuses_sdf3(tmp_path):
    p = shutil.copy(os.path.join(SPECS, "sdf3", "samplerate.xml"), tmp_path / "s.xml")
    before = open(p).read()
    code, out, err = _cli(str(p), "--write")
    assert code == 2 and "SDF3" in err
    assert open(p).read() == before


def test_json_output(tmp_path):
    code, out, err = _cli(_write(tmp_path, "d.vpr", DIAMOND), "--format", "json", "--explain")
    assert code == 0
    d = json.loads(out)
    assert d["schema"] == "vrprune/bufsize/1" and d["optimal"] and d["check"] == "proved"
    assert d["totals"]["tokens"] == 9 and d["totals"]["classic_tokens"] == 7
    fa = next(f for f in d["fifos"] if f["name"] == "F.a")
    assert fa["one_less"]["kind"] == "deadlock" and fa["one_less"]["cycle"]


def test_solver_limit_gives_exit_3(tmp_path):
    code, out, err = _cli(_write(tmp_path, "d.vpr", DIAMOND), "--rlimit", "1")
    assert code == 3
    assert "optimality not proven" in out


def test_input_error_exit_2(tmp_path):
    code, out, err = _cli(_write(tmp_path, "bad.vpr", "graph g { actor A { out y: i32 } "))
    assert code == 2


# ------------------------------------------------------------ throughput

CYCLE = """\
graph cyc {
  actor A { in x: i32  out y: i32  time 1 ms }
  actor B { in x: i32  out y: i32  time 2 ms }
  fifo A.y -> B.x capacity %d
  fifo B.y -> A.x capacity %d initial %d
}
"""


def _thr(g):
    pb, _ = prepare(g, "tokens", True)
    times = exec_times(g)
    ticks, unit = to_ticks([times[n] for n in pb.net.names])
    return pb, ticks, unit


@pytest.mark.parametrize("caps,tokens,expected", [
    ((1, 1), 1, Fraction(1000, 3)),   # one token goes round: cycle ratio (1 + 2) ms / 1 token
    ((2, 2), 2, Fraction(500)),       # two tokens: B (2 ms, one firing at a time) is the bottleneck
    ((1, 2), 2, Fraction(1000, 3)),   # A's output slot stays taken until B's firing ends: no overlap
    ((4, 4), 3, Fraction(500)),
])
def test_two_actor_cycle_throughput(tmp_path, caps, tokens, expected):
    g = vrprune.load(_write(tmp_path, "c.vpr", CYCLE % (caps[0], caps[1], tokens)))
    pb, ticks, unit = _thr(g)
    t = self_timed(pb.net, [e.cap for e in pb.net.edges], ticks, unit)
    assert t.exact == expected


def test_unbounded_throughput_and_pareto(tmp_path):
    g = vrprune.load(_write(tmp_path, "c.vpr", CYCLE % (1, 1, 1)))
    pb, ticks, unit = _thr(g)
    # one token on the cycle: no capacity helps, the cycle ratio 3 ms / 1 token is the maximum
    assert max_throughput(pb.net, ticks, unit).exact == Fraction(1000, 3)
    pts, top, complete = pareto(pb.net, [1, 1], [True, True], [1, 1], ticks, unit)
    assert complete and [p.capacities for p in pts] == [(1, 1)]
    g = vrprune.load(_write(tmp_path, "c.vpr", CYCLE % (2, 2, 2)))
    pb, ticks, unit = _thr(g)
    assert max_throughput(pb.net, ticks, unit).exact == 500


def test_pareto_front_is_monotone_and_reaches_max():
    g = vrprune.load(os.path.join(SPECS, "sdf3", "samplerate.xml"))
    code, out, err = _cli(os.path.join(SPECS, "sdf3", "samplerate.xml"), "--resize-all", "--pareto",
                          "--max-throughput", "--format", "json")
    assert code == 0
    tp = json.loads(out)["throughput"]
    costs = [p["cost"] for p in tp["pareto"]]
    thr = [p["iterations_per_s"] for p in tp["pareto"]]
    assert costs == sorted(costs) and thr == sorted(thr) and len(set(costs)) == len(costs)
    assert tp["complete"] and thr[-1] == pytest.approx(tp["max_iterations_per_s"])
    big = with_capacities(g, tp["max_throughput_capacities"])
    assert prove(big).verdict == "proved"


def test_profile_overrides_and_missing_times(tmp_path):
    g = vrprune.load(_write(tmp_path, "d.vpr", DIAMOND))
    code, out, err = _cli(str(tmp_path / "d.vpr"), "--pareto")
    assert code == 2 and "no execution time" in err
    prof = {"schema": "vrprune/profile/1",
            "actors": {"F": {"mean_s": 0.001}, "B": {"mean_s": 0.003}, "J": {"mean_s": 0.001}}}
    pp = _write(tmp_path, "p.json", json.dumps(prof))
    code, out, err = _cli(str(tmp_path / "d.vpr"), "--profile", pp, "--format", "json")
    assert code == 0
    # B needs 3 ms per iteration of 3 F firings; F needs 3 ms too: one iteration per 3 ms at best
    assert json.loads(out)["throughput"]["iterations_per_s"] <= 1000 / 3 + 1e-9
    del g
