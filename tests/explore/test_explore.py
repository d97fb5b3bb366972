"""vrprune explore: partition-point enumeration, prediction, recommendation, resume, outputs."""

from __future__ import annotations

import io
import itertools
import json
import os
import textwrap

import pytest

from vrprune import load
from vrprune.cli import main_with
from vrprune.explore import Precedence, privacy_ok, select_points
from vrprune.explore._predict import predict
from vrprune.explore._sweep import EmulatedRunner, Measurement, ResultLog, run_sweep
from vrprune.links import LinkError, LinkSpec, parse_links

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLATFORM = os.path.join(ROOT, "specs", "platform.vpr")


def _graph(tmp_path, actors: list[str], edges: list[tuple[str, str]], nbytes: int = 4, extra: str = "") -> object:
    """A graph with the given actors and edges (each edge its own ports, i32 tokens)."""
    ins = {a: [] for a in actors}
    outs = {a: [] for a in actors}
    for k, (s, d) in enumerate(edges):
        outs[s].append(f"o{k}")
        ins[d].append(f"i{k}")
    lines = ["graph g {"]
    for a in actors:
        lines.append(f"  actor {a} {{")
        lines += [f"    in {p}: u8[{nbytes}]" for p in ins[a]] + [f"    out {p}: u8[{nbytes}]" for p in outs[a]]
        lines.append("  }")
    for k, (s, d) in enumerate(edges):
        lines.append(f"  fifo {s}.o{k} -> {d}.i{k} capacity 2")
    lines.append(extra + "}")
    p = tmp_path / "g.vpr"
    p.write_text("\n".join(lines) + "\n")
    return load(str(p))


def _brute(actors, edges):
    """Every subset that contains the sources and is closed under predecessors."""
    srcs = {a for a in actors if not any(d == a for _, d in edges)}
    out = set()
    for r in range(1, len(actors) + 1):
        for sub in itertools.combinations(actors, r):
            s = set(sub)
            if srcs <= s and all(u in s for u, v in edges if v in s):
                out.add(frozenset(s))
    return out


# ---------------------------------------------------------------- enumeration


@pytest.mark.parametrize("n", [1, 2, 5, 9])
def test_chain_has_one_point_per_cut(tmp_path, n):
    actors = [f"A{i}" for i in range(n)]
    g = _graph(tmp_path, actors, list(zip(actors, actors[1:])))
    prec = Precedence(g)
    assert prec.is_chain
    assert prec.count() == (n, True)
    pts = prec.points()
    assert [len(p.endpoint) for p in pts] == list(range(1, n + 1))
    assert [p.id for p in pts] == [f"PP{k}" for k in range(1, n)] + ["local"]


DAGS = {
    "diamond": (["S", "A", "B", "T"], [("S", "A"), ("S", "B"), ("A", "T"), ("B", "T")]),
    "fork3": (["S", "A", "B", "C"], [("S", "A"), ("S", "B"), ("S", "C")]),
    "two_sources": (["S1", "S2", "A", "B", "T"], [("S1", "A"), ("S2", "B"), ("A", "T"), ("B", "T"), ("S1", "B")]),
    "ladder": (["S", "A1", "B1", "A2", "B2", "T"],
               [("S", "A1"), ("S", "B1"), ("A1", "A2"), ("B1", "B2"), ("A1", "B2"), ("A2", "T"), ("B2", "T")]),
    "heads": (["S", "X1", "X2", "X3", "H1", "H2", "H3", "J"],
              [("S", "X1"), ("X1", "X2"), ("X2", "X3"), ("X1", "H1"), ("X2", "H2"), ("X3", "H3"),
               ("H1", "J"), ("H2", "J"), ("H3", "J")]),
}


@pytest.mark.parametrize("name", sorted(DAGS))
def test_dag_points_are_exactly_the_down_sets(tmp_path, name):
    actors, edges = DAGS[name]
    g = _graph(tmp_path, actors, edges)
    prec = Precedence(g)
    got = [frozenset(p.endpoint) for p in prec.points()]
    assert len(got) == len(set(got))
    assert set(got) == _brute(actors, edges)
    assert prec.count() == (len(_brute(actors, edges)), True)
    for p in prec.points():  # every cut edge goes endpoint -> server
        for c in p.cut:
            assert c.src in p.endpoint and c.dst in p.server


def test_feedback_edges_with_initial_tokens_do_not_order(tmp_path):
    src = textwrap.dedent("""\
        graph g {
          actor S { out o: u8[4] }
          actor A { in i: u8[4]  in fb: u8[4]  out o: u8[4] }
          actor B { in i: u8[4]  out o: u8[4]  out back: u8[4] }
          actor T { in i: u8[4] }
          fifo S.o -> A.i capacity 2
          fifo A.o -> B.i capacity 2
          fifo B.back -> A.fb capacity 2 initial 1
          fifo B.o -> T.i capacity 2
        }
        """)
    p = tmp_path / "fb.vpr"
    p.write_text(src)
    prec = Precedence(load(str(p)))
    assert prec.count() == (4, True)


def test_dpg_moves_as_a_whole():
    prec = Precedence(load(os.path.join(ROOT, "specs", "ssd.vpr")))
    members = {"BoxCount", "TrackIn", "Tracker", "TrackOut"}
    for p in prec.points(limit=3000):
        assert members <= set(p.endpoint) or not members & set(p.endpoint)


def test_count_limit_and_max_points_are_deterministic():
    prec = Precedence(load(os.path.join(ROOT, "specs", "ssd.vpr")))
    n, exact = prec.count(limit=100)
    assert (n, exact) == (100, False)
    a, total, ex = select_points(prec, 12)
    b, _, _ = select_points(prec, 12)
    assert [p.endpoint for p in a] == [p.endpoint for p in b]
    assert len(a) == 12 and ex and total == prec.count()[0]
    assert any(p.local for p in a)
    assert any(len(p.endpoint) == 1 for p in a)  # the first topological cut is kept


# ---------------------------------------------------------------- prediction


def test_prediction_on_a_hand_computable_chain(tmp_path):
    g = _graph(tmp_path, ["A", "B", "C"], [("A", "B"), ("B", "C")], nbytes=1000)
    prec = Precedence(g)
    pp1 = next(p for p in prec.points() if p.id == "PP1")
    times = {"A": 0.010, "B": 0.020, "C": 0.005}
    link = LinkSpec("x", 1e6, 0.002)  # 1000 B -> 1 ms, + 2 ms latency
    pr = predict(pp1, times, prec.q, link, graph=g, slowdown=2.0, frames=1)
    assert pr.endpoint_s == pytest.approx(0.020)
    assert pr.server_s == pytest.approx(0.025)
    assert pr.transfer_s == pytest.approx(0.001)
    assert pr.link_s == pytest.approx(0.003)
    assert pr.latency_s == pytest.approx(0.048)  # A 20 ms (slowed), TX 1, RX 2, B 20, C 5
    # the server's actors are threads of their own (no core bound): B (20 ms) sets the pace
    assert pr.period_s == pytest.approx(0.020)
    assert predict(pp1, times, prec.q, link, graph=g, slowdown=2.0, frames=4).per_frame_s == pytest.approx(
        (0.048 + 3 * 0.020) / 4)
    local = next(p for p in prec.points() if p.local)
    # fully local on one endpoint core: every firing in series, 2 x 35 ms
    assert predict(local, times, prec.q, link, graph=g, slowdown=2.0).per_frame_s == pytest.approx(0.070)
    # two endpoint cores, firings A 20, B 40, C 10 ms: A 0-20 20-40 60-80 100-120, B 20-60 60-100
    # 100-140 140-180, C 80-90 (it waited for a core at 60: A and B took both) 120-130 140-150
    # 180-190 (capacity 2: A's third firing waits for B's first to end)
    two = predict(local, times, prec.q, link, graph=g, slowdown=2.0, frames=4, endpoint_cores=2)
    assert two.per_frame_s == pytest.approx(0.190 / 4) and two.period_s == pytest.approx(0.100 / 3)
    assert two.latency_s == pytest.approx((0.090 + 0.110 + 0.090 + 0.090) / 4)


def test_parse_links():
    ls = parse_links(["ethernet100,wifi16", "5MB/s,2ms"])
    assert [ln.name for ln in ls] == ["ethernet100", "wifi16", "5MB/s,2ms"]
    assert ls[0].bandwidth_Bps == 11.2e6 and ls[2].latency_s == pytest.approx(0.002)
    # the unit table `vrprune run --link` reads (issue 16: explore rejected KB/s)
    assert parse_links(["2KB/s,1ms"])[0].bandwidth_Bps == 2e3
    assert parse_links([ls[2].as_option()])[0].bandwidth_Bps == ls[2].bandwidth_Bps
    with pytest.raises(LinkError, match="unknown link 'wifi99'"):
        parse_links(["wifi99"])


# ---------------------------------------------------------------- privacy floor and recommendation


class FakeRunner:
    """Measurements from a table: per (endpoint size, link) seconds per frame."""

    kind = "emulated"

    def __init__(self, table: dict, fail_after: int | None = None) -> None:
        self.table, self.calls, self.fail_after = table, [], fail_after

    def measure(self, graph, point, link, *, frames, workdir):
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise KeyboardInterrupt
        key = (len(point.endpoint), link.name if link else "-")
        self.calls.append(key)
        t = self.table[key]
        return Measurement("ok", self.kind, frames, t * frames, t, t, t, t / 2, t / 2, 0.0,
                           {a.name: 0.001 for a in graph.actors})


def _vehicle():
    return load(os.path.join(ROOT, "specs", "vehicle.vpr"))


TABLE = {(6, "-"): 0.100, (1, "ethernet100"): 0.010, (2, "ethernet100"): 0.050, (3, "ethernet100"): 0.030,
         (4, "ethernet100"): 0.060, (5, "ethernet100"): 0.090}


def test_recommendation_respects_the_privacy_floor(tmp_path):
    g = _vehicle()
    prec = Precedence(g)
    links = parse_links(["ethernet100"])
    res = run_sweep(g, prec, links=links, outdir=str(tmp_path / "a"), frames=2, slowdown=1, runner=FakeRunner(TABLE),
                    max_points=10)
    assert res.recommendation["ethernet100"].point.id == "PP1"  # no floor: the raw image goes
    res = run_sweep(g, prec, links=links, outdir=str(tmp_path / "b"), frames=2, slowdown=1, runner=FakeRunner(TABLE),
                    max_points=10, private_input=True)
    assert res.recommendation["ethernet100"].point.id == "PP3"
    assert [r.point.id for r in res.rows if not r.private] == ["PP1"]
    res = run_sweep(g, prec, links=links, outdir=str(tmp_path / "c"), frames=2, slowdown=1, runner=FakeRunner(TABLE),
                    max_points=10, min_local=4)
    assert res.recommendation["ethernet100"].point.id == "PP4"
    res = run_sweep(g, prec, links=links, outdir=str(tmp_path / "d"), frames=2, slowdown=1, runner=FakeRunner(TABLE),
                    max_points=10, min_local=6)
    assert res.recommendation["ethernet100"].point.local


def test_privacy_ok():
    g = _vehicle()
    pts = {p.id: p for p in Precedence(g).points()}
    assert not privacy_ok(pts["PP1"], g, private_input=True)
    assert privacy_ok(pts["PP2"], g, private_input=True)
    assert not privacy_ok(pts["PP2"], g, min_local=3) and privacy_ok(pts["PP3"], g, min_local=3)


# ---------------------------------------------------------------- resume


def test_a_killed_sweep_resumes_where_it_stopped(tmp_path):
    g = _vehicle()
    prec = Precedence(g)
    links = parse_links(["ethernet100"])
    out = str(tmp_path / "sweep")
    kw = dict(links=links, outdir=out, frames=2, slowdown=1, max_points=10, settings={"frames": 2})
    r1 = FakeRunner(TABLE, fail_after=3)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(g, prec, runner=r1, **kw)
    assert len(r1.calls) == 3
    # a torn line at the end (killed mid-write) is ignored
    with open(os.path.join(out, "results.jsonl"), "a") as f:
        f.write('{"kind": "result", "poi')
    r2 = FakeRunner(TABLE)
    res = run_sweep(g, prec, runner=r2, **kw)
    assert len(r2.calls) == 3 and not set(r1.calls) & set(r2.calls)
    assert all(r.measured is not None for r in res.rows)
    r3 = FakeRunner(TABLE)
    run_sweep(g, prec, runner=r3, **kw)
    assert r3.calls == []
    with pytest.raises(Exception, match="other settings"):
        ResultLog(out, {"frames": 3})
    ResultLog(out, {"frames": 3}, fresh=True)


# ---------------------------------------------------------------- emulated measurement and the CLI


def test_emulated_runner_slows_the_endpoint(tmp_path):
    src = textwrap.dedent(f"""\
        graph g {{
          actor S {{ out o: u8[1000]  impl python "{ROOT}/tests/helpers/explore_actors.py:Sleep"  param ms = 5 }}
          actor A {{ in i: u8[1000]  out o: u8[1000]
                     impl python "{ROOT}/tests/helpers/explore_actors.py:Sleep"  param ms = 5 }}
          actor T {{ in i: u8[1000]  impl python "{ROOT}/tests/helpers/explore_actors.py:Sleep"  param ms = 1 }}
          fifo S.o -> A.i capacity 2
          fifo A.o -> T.i capacity 2
        }}
        """)
    p = tmp_path / "s.vpr"
    p.write_text(src)
    g = load(str(p))
    prec = Precedence(g)
    pts = {x.id: x for x in prec.points()}
    link = LinkSpec("slow", 1e5, 0.002)  # 1000 B -> 10 ms
    m1 = EmulatedRunner(slowdown=1).measure(g, pts["PP1"], link, frames=3, workdir=str(tmp_path / "w1"))
    m3 = EmulatedRunner(slowdown=3).measure(g, pts["PP1"], link, frames=3, workdir=str(tmp_path / "w3"))
    assert m1.status == "ok" and m1.frames == 3
    assert m3.endpoint_s == pytest.approx(3 * m1.endpoint_s, rel=0.35)
    assert m1.link_s == pytest.approx(0.012, rel=0.5)
    assert m1.server_s == pytest.approx(0.006, rel=0.5)
    assert m1.per_frame_s > 0.010  # the link (10 ms per frame) bounds the period


def test_cli_predict_only_writes_every_output(tmp_path):
    out = tmp_path / "o"
    prof = tmp_path / "p.json"
    prof.write_text(json.dumps({"schema": "vrprune/profile/1", "actors": {
        "Input": {"mean_s": 0.001}, "L1": {"mean_s": 0.01}, "L2": {"mean_s": 0.02}, "L3": {"mean_s": 0.002},
        "L4L5": {"mean_s": 0.0001}, "Output": {"mean_s": 0.0001}}}))
    so, se = io.StringIO(), io.StringIO()
    code = main_with(["explore", os.path.join(ROOT, "specs", "vehicle.vpr"), "--platform", PLATFORM,
                      "--link", "ethernet100,wifi16", "--predict-only", "--profile", str(prof), "--slowdown", "5",
                      "--private-input", "--out", str(out)], so, se)
    assert code == 0, se.getvalue()
    assert (out / "explore.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads((out / "results.json").read_text())
    assert doc["schema"] == "vrprune/explore/1" and doc["runner"] == "none"
    assert doc["recommendation"]["ethernet100"]["source"] == "predicted"
    assert (out / "results.csv").read_text().splitlines()[0].startswith("point,label,link")
    assert "recommended over ethernet100" in so.getvalue()
    assert "\r" not in se.getvalue()  # no progress bar when stderr is not a terminal
    for pid in ("PP1", "PP3", "PP5"):
        assert (out / "points" / pid / "endpoint.map").exists() and (out / "points" / pid / "run.sh").exists()
    from vrprune import load_mapping

    m = load_mapping(str(out / "points" / "PP3" / "server.map"))
    assert m.this_host == "server"
    assert {pl.actor for pl in m.placements if pl.host == "endpoint"} == {"Input", "L1", "L2"}


def test_cli_usage_errors(tmp_path):
    so, se = io.StringIO(), io.StringIO()
    assert main_with(["explore", os.path.join(ROOT, "specs", "vehicle.vpr"), "--platform", PLATFORM,
                      "--link", "wifi99", "--out", str(tmp_path)], so, se) == 2
    assert "unknown link" in se.getvalue()
    assert main_with(["explore", os.path.join(ROOT, "specs", "vehicle.vpr"), "--platform", PLATFORM,
                      "--min-local", "2", "--private-input"], so, se) == 2
