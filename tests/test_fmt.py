"""`vrprune fmt` is canonical and meaning-preserving; format_graph round-trips generated graphs."""

import io
from pathlib import Path

import pytest
from hypothesis import given, settings

import vrprune
from vrprune.cli import main_with
from vrprune.grammar import format_graph, format_source
from vrprune.model import without_spans
from vrprune.testing import graphs

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted(p for p in list((ROOT / "specs").glob("*.vpr")) + list((ROOT / "examples").rglob("*.vpr")))


def _same(a, b):
    a, b = without_spans(a), without_spans(b)
    if hasattr(a, "actors"):  # printing groups DPG members: compare order-insensitively
        key = lambda x: x.name  # noqa: E731
        a = (a.name, sorted(a.actors, key=key), sorted(a.fifos, key=key), a.dpgs)
        b = (b.name, sorted(b.actors, key=key), sorted(b.fifos, key=key), b.dpgs)
    assert a == b


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_fmt_round_trip_preserves_meaning(tmp_path, path):
    text = path.read_text()
    out = format_source(text, str(path))
    assert format_source(out, str(path)) == out  # idempotent
    # comments survive
    assert text.count("//") == out.count("//")
    copy = path.with_name(f".fmt-test-{path.name}")  # beside the original: relative paths still resolve
    copy.write_text(out)
    try:
        if path.name == "platform.vpr":
            _same(vrprune.load_module(str(path)).platforms, vrprune.load_module(str(copy)).platforms)
        else:
            _same(vrprune.load(str(path)), vrprune.load(str(copy)))
    finally:
        copy.unlink()


def test_fmt_check_and_write(tmp_path):
    p = tmp_path / "g.vpr"
    p.write_text("graph g{actor A{out x:f32 // keep me\n}actor B{in x:f32}fifo A.x->B.x capacity 1}")
    out, err = io.StringIO(), io.StringIO()
    assert main_with(["fmt", "--check", str(p)], out, err) == 1
    assert "not canonical" in err.getvalue()
    assert main_with(["fmt", "--write", str(p)], out, err) == 0
    text = p.read_text()
    assert "// keep me" in text and "  actor A {" in text
    assert main_with(["fmt", "--check", str(p)], out, err) == 0


@settings(max_examples=100)
@given(graphs(max_actors=6))
def test_format_graph_round_trip(tmp_path_factory, g):
    p = tmp_path_factory.mktemp("rt") / "g.vpr"
    p.write_text(format_graph(g))
    _same(vrprune.load(str(p)), g)
