"""The golden corpus: specs/ graphs that must pass, specs/bad/ files that must fail with a
given code at a given location (compare codes and locations, never prose).

Each file in specs/bad/ starts with ``// expect: CODE LOC [LOC ...]``; LOC is ``LINE:COL``
in the file itself or ``REL/PATH:LINE:COL`` for a location in another file (relative to
specs/bad/). Any listed location is accepted (a deadlock may be reported on any fifo of
its wait cycle).
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest

import vrprune
from vrprune.cli import main_with
from vrprune.model import ActorKind

SPECS = Path(__file__).resolve().parents[2] / "specs"
BAD = SPECS / "bad"

GOOD_GRAPHS = ["vehicle.vpr", "vehicle_dual.vpr", "ssd.vpr", "receiver.vpr", "feedback.vpr", "multi_dpg.vpr"]
MAPPINGS = {  # mapping file -> (graph file, this host)
    "vehicle_client.map": ("vehicle.vpr", "endpoint"),
    "vehicle_server.map": ("vehicle.vpr", "server"),
    "ssd_client.map": ("ssd.vpr", "endpoint"),
    "ssd_server.map": ("ssd.vpr", "server"),
}
BAD_FILES = sorted(p.name for p in BAD.glob("*.vpr"))

_EXPECT = re.compile(r"^// expect: ([A-Z][0-9]+)((?: +\S+)+) *$")


def _expectation(name: str) -> tuple[str, list[tuple[str, int, int]]]:
    """(code, [(absolute file, line, col), ...]) from the first line of specs/bad/NAME."""
    path = BAD / name
    first = path.read_bytes().split(b"\n", 1)[0].decode("latin-1")
    m = _EXPECT.match(first)
    assert m, f"{name}: first line must be `// expect: CODE LINE:COL [...]`, got {first!r}"
    locs = []
    for loc in m.group(2).split():
        *file, line, col = loc.split(":")
        target = os.path.normpath(BAD / file[0]) if file else str(path)
        locs.append((os.path.abspath(target), int(line), int(col)))
    return m.group(1), locs


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main_with(list(args), out, err)
    return rc, out.getvalue(), err.getvalue()


def _located(diags: list[tuple[str, str, int, int]]) -> list[str]:
    return [f"{c} {os.path.relpath(f, BAD)}:{ln}:{col}" for c, f, ln, col in diags]


def _json_diags(text: str) -> list[tuple[str, str, int, int]]:
    """Every (code, file, line, col) in `check --format json` output, wherever it nests."""
    data = json.loads(text)
    found: list[tuple[str, str, int, int]] = []

    def walk(x: object) -> None:
        if isinstance(x, dict):
            loc = x.get("location")
            if isinstance(x.get("code"), str) and isinstance(loc, dict):
                found.append((x["code"], os.path.abspath(loc["file"]), loc["line"], loc["column"]))
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(data)
    return found


# ------------------------------------------------------------------ good graphs

@pytest.mark.parametrize("name", GOOD_GRAPHS, ids=GOOD_GRAPHS)
def test_good_graph_loads(name: str) -> None:
    g = vrprune.load(str(SPECS / name))
    assert g.actors and g.fifos
    for f in g.fifos:
        assert f.capacity is not None, f"{name}: fifo {f.name} has no capacity"


@pytest.mark.parametrize("name", GOOD_GRAPHS, ids=GOOD_GRAPHS)
def test_good_graph_checks(name: str) -> None:
    rc, out, err = _cli("check", str(SPECS / name))
    assert rc == 0, f"`vrprune check {name}` exited {rc}\n{out}\n{err}"


@pytest.mark.parametrize("name", GOOD_GRAPHS, ids=GOOD_GRAPHS)
def test_good_graph_json_is_clean(name: str) -> None:
    rc, out, err = _cli("check", "--format", "json", str(SPECS / name))
    assert rc == 0, err
    assert _json_diags(out) == []


def test_platform() -> None:
    mod = vrprune.load_module(str(SPECS / "platform.vpr"))
    (lab,) = mod.platforms
    assert lab.name == "lab"
    assert {h.name: h.address for h in lab.hosts} == {"endpoint": "127.0.0.1", "server": "127.0.0.1"}
    kinds = {u.kind.value for h in lab.hosts for u in h.units}
    assert kinds == {"cpu", "opencl"}
    ocl = [u for h in lab.hosts for u in h.units if u.kind.value == "opencl"]
    assert all(u.platform == "Portable Computing Language" for u in ocl)
    (link,) = lab.links
    assert {link.a, link.b} == {"endpoint", "server"} and link.preset == "ethernet100"


@pytest.mark.parametrize("name", sorted(MAPPINGS), ids=sorted(MAPPINGS))
def test_mapping(name: str) -> None:
    graph_file, host = MAPPINGS[name]
    m = vrprune.load_mapping(str(SPECS / name))
    g = vrprune.load(str(SPECS / graph_file))
    assert m.this_host == host and m.platform.name == "lab"
    placed = {p.actor: p.host for p in m.placements}
    assert set(placed) == {a.name for a in g.actors}, "every actor is placed exactly once"
    local = {a for a, h in placed.items() if h == "endpoint"}
    if graph_file == "vehicle.vpr":
        assert local == {"Input", "L1", "L2"}  # partition after L2
    else:
        dnn_local = {a for a in local if a not in ("Input", "Output")}
        assert "DWCL9" in dnn_local and "PWCL9" not in dnn_local  # offload after DWCL9
        assert dnn_local == {"CL0"} | {f"{k}{i}" for i in range(1, 9) for k in ("DWCL", "PWCL")} | {"DWCL9"}


def test_client_and_server_views_agree() -> None:
    for app in ("vehicle", "ssd"):
        c = vrprune.load_mapping(str(SPECS / f"{app}_client.map"))
        s = vrprune.load_mapping(str(SPECS / f"{app}_server.map"))
        key = lambda m: sorted((p.actor, p.host, p.unit) for p in m.placements)  # noqa: E731
        assert key(c) == key(s)


# ------------------------------------------------------------------ structure

VEHICLE_BYTES = {("Input", "L1"): 110592, ("L1", "L2"): 294912, ("L2", "L3"): 73728,
                 ("L3", "L4L5"): 400, ("L4L5", "Output"): 16}


def test_vehicle_token_sizes() -> None:
    g = vrprune.load(str(SPECS / "vehicle.vpr"))
    ix = g.index()
    assert [a.name for a in g.actors] == ["Input", "L1", "L2", "L3", "L4L5", "Output"]
    got = {(f.src.actor, f.dst.actor): ix.token_bytes(f) for f in g.fifos}
    assert got == VEHICLE_BYTES
    assert all(f.capacity == 2 for f in g.fifos)
    assert all(a.impl is None for a in g.actors)
    assert all(a.kind is ActorKind.SPA for a in g.actors)
    assert not ix.outs["Output"], "Output is a sink"


def test_vehicle_dual_token_sizes() -> None:
    g = vrprune.load(str(SPECS / "vehicle_dual.vpr"))
    ix = g.index()
    got = {(f.src.actor, f.dst.actor): ix.token_bytes(f) for f in g.fifos}
    for branch in "AB":
        rename = {"Input": f"Input{branch}", "L1": f"L1{branch}", "L2": f"L2{branch}", "L3": f"L3{branch}"}
        for (s, d), n in VEHICLE_BYTES.items():
            if s != "L4L5":
                assert got[(rename.get(s, s), rename.get(d, d))] == n
    assert got[("L4L5", "Output")] == 16
    assert len(ix.ins["L4L5"]) == 2


def test_ssd_counts_and_dpg() -> None:
    g = vrprune.load(str(SPECS / "ssd.vpr"))
    ix = g.index()
    assert len(g.actors) == 53
    assert len(g.fifos) == 69
    assert len(g.dpgs) == 1
    (dpg,) = g.dpgs
    kinds = sorted(ix.actors[n].kind.value for n in dpg.actors)
    assert kinds.count("ca") == 1 and kinds.count("da") == 2 and kinds.count("dpa") >= 1
    # every variable port is @ 0..10 and every variable edge holds at least url tokens
    var = [p for a in g.actors for p in a.ports if p.is_variable]
    assert var and all((p.lrl, p.url) == (0, 10) for p in var)
    for f in g.fifos:
        if ix.src_port(f).is_variable:
            assert f.capacity is not None and f.capacity >= ix.src_port(f).url
    # the CA counts boxes after NMS
    ca = next(ix.actors[n] for n in dpg.actors if ix.actors[n].kind is ActorKind.CA)
    assert {f.src.actor for f in ix.ins[ca.name]} == {"NMS"}
    # MobileNet blocks and not a chain
    names = {a.name for a in g.actors}
    assert {f"DWCL{i}" for i in range(1, 14)} | {f"PWCL{i}" for i in range(1, 14)} <= names
    assert max(len(ix.outs[a.name]) for a in g.actors) >= 3
    assert max(len(ix.ins[a.name]) for a in g.actors) >= 6
    # 300x300 float32 input
    assert ix.token_bytes(ix.by_src[("Input", "img")]) == 300 * 300 * 3 * 4


def test_receiver_and_multi_dpg_shape() -> None:
    r = vrprune.load(str(SPECS / "receiver.vpr"))
    assert len(r.dpgs) == 1
    assert {(p.lrl, p.url) for a in r.actors for p in a.ports if p.is_variable} == {(1, 16)}
    m = vrprune.load(str(SPECS / "multi_dpg.vpr"))
    assert len(m.dpgs) == 2
    lrls = {a.dpg: p.lrl for a in m.actors for p in a.ports if p.is_variable}
    assert 0 in lrls.values() and len(lrls) == 2


def test_feedback_has_initial_tokens_on_a_cycle() -> None:
    import networkx as nx

    g = vrprune.load(str(SPECS / "feedback.vpr"))
    dg = nx.DiGraph((f.src.actor, f.dst.actor) for f in g.fifos)
    cyc = nx.find_cycle(dg)
    on_cycle = [f for f in g.fifos if (f.src.actor, f.dst.actor) in set(cyc)]
    assert sum(f.initial for f in on_cycle) > 0
    rates = {p.rate for a in g.actors for p in a.ports}
    assert len(rates) > 1, "a rate-changing cycle"


# ------------------------------------------------------------------ broken graphs

def test_bad_corpus_covers_every_code() -> None:
    codes = {_expectation(n)[0] for n in BAD_FILES}
    want = {f"E0{i:02d}" for i in range(0, 13)} | {"E014"} | {f"R{i}" for i in range(1, 9)} | {"C1", "D1", "D2"}
    assert want <= codes, f"missing: {sorted(want - codes)}"
    assert len(BAD_FILES) >= 30


@pytest.mark.parametrize("name", [n for n in BAD_FILES if _expectation(n)[0].startswith("E")], ids=str)
def test_bad_file_load_error(name: str) -> None:
    code, locs = _expectation(name)
    with pytest.raises(vrprune.DiagnosticError) as info:
        vrprune.load(str(BAD / name))
    diags = info.value.diagnostics
    first = diags[0]
    got = (first.code, os.path.abspath(first.span.file), first.span.line, first.span.col)
    assert got[0] == code and got[1:] in locs, (
        f"{name}: first diagnostic is {_located([got])[0]}; expected {code} at one of "
        f"{[f'{os.path.relpath(f, BAD)}:{ln}:{c}' for f, ln, c in locs]}\n"
        f"all: {_located([(d.code, os.path.abspath(d.span.file), d.span.line, d.span.col) for d in diags])}"
    )


@pytest.mark.parametrize("name", BAD_FILES, ids=str)
def test_bad_file_check(name: str) -> None:
    code, locs = _expectation(name)
    rc, out, err = _cli("check", "--format", "json", str(BAD / name))
    want_rc = 2 if code.startswith("E") else 1
    assert rc == want_rc, f"{name}: exit code {rc}, expected {want_rc}\n{out}\n{err}"
    diags = _json_diags(out)
    hits = [d for d in diags if d[0] == code and d[1:] in locs]
    assert hits, (f"{name}: no {code} at one of "
                  f"{[f'{os.path.relpath(f, BAD)}:{ln}:{c}' for f, ln, c in locs]}; got {_located(diags)}")
