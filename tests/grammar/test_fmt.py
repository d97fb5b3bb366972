"""`vrprune fmt` is canonical and meaning-preserving; format_graph round-trips generated graphs."""

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vrprune
from vrprune.cli import main_with
from vrprune.grammar import format_graph, format_source
from vrprune.model import without_spans
from vrprune.testing import graphs

ROOT = Path(__file__).resolve().parents[2]
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
    p.write_text("graph g{\n      actor A{\n out x:f32 // keep me\n}\nactor B{in x:f32}\n\n\n"
                 "   fifo A.x->B.x capacity 1}")
    out, err = io.StringIO(), io.StringIO()
    assert main_with(["fmt", "--check", str(p)], out, err) == 1
    assert "not canonical" in err.getvalue()
    assert main_with(["fmt", "--write", str(p)], out, err) == 0
    text = p.read_text()
    assert text == ("graph g {\n  actor A {\n    out x: f32  // keep me\n  }\n  actor B { in x: f32 }\n\n"
                    "  fifo A.x -> B.x capacity 1 }\n")
    assert main_with(["fmt", "--check", str(p)], out, err) == 0


@settings(max_examples=100)
@given(graphs(max_actors=6))
def test_format_graph_round_trip(tmp_path_factory, g):
    p = tmp_path_factory.mktemp("rt") / "g.vpr"
    p.write_text(format_graph(g))
    _same(vrprune.load(str(p)), g)


# ---------------------------------------------- the canonical form keeps authors' layout (issue 14 item 5)

BUNDLED = sorted(p for p in [*ROOT.glob("specs/**/*.vpr"), *ROOT.glob("specs/**/*.map"),
                             *ROOT.glob("examples/**/*.vpr")]
                 if "bad" not in p.relative_to(ROOT).parts)


def test_the_walk_finds_the_bundled_files():
    assert len(BUNDLED) >= 18 and any("examples" in p.parts for p in BUNDLED)


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_bundled_file_is_canonical(path):
    out, err = io.StringIO(), io.StringIO()
    assert main_with(["fmt", "--check", str(path)], out, err) == 0, err.getvalue()


def test_aligned_comments_ports_and_blank_lines_are_kept():
    text = ("// header comment\n\nconst N = 96      // side\nconst CH = 3      // RGB\n\n"
            "graph g {\n  actor A {        // a source\n    in  x: f32[N]\n    out y: f32[CH]    // 12 B\n  }\n"
            "  actor Src    { out o: i64 @ 3        impl python \"m:f\" }\n"
            "  actor Unpack { in i: i64[2]    out o: i64 @ 2 }\n}\n")
    assert format_source(text) == text


def test_layout_is_normalised_around_what_is_kept():
    text = "graph g {\n\n      actor A{out x : f32[N,2] @ - 1+2   // c\n}\n\n\n\n  fifo A.x->B.y capacity(N*2)\n\n}\n"
    want = "graph g {\n  actor A { out x: f32[N, 2] @ -1+2   // c\n  }\n\n  fifo A.x -> B.y capacity (N*2)\n}\n"
    assert format_source(text) == want
    assert format_source(want) == want


def test_a_constant_of_a_thousand_terms_formats(tmp_path):
    """Issue 20 item 12: `fmt` of `const N = 1 + 1 + ... + 1` (1,000 terms) was a RecursionError."""
    p = tmp_path / "sum.vpr"
    text = "const N = " + " + ".join(["1"] * 1000) + "\n"
    p.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    assert main_with(["fmt", str(p)], out, err) == 0, err.getvalue()
    assert out.getvalue() == text
    deep = "const N = " + "(" * 500 + "1" + ")" * 500 + "\n"
    assert format_source(deep) == deep


@pytest.mark.parametrize("name", ["in", "out", "c", "s", "graph", "my actor"])
def test_backquoted_names_survive_formatting(name):
    text = f"graph g {{\n  actor `{name}` {{ out `{name}`: f32 }}\n}}\n"
    assert format_source(text) == text


_PIECES = ["graph g {", "actor A {", "actor B: ca {", "}", "out x: f32", "in  y: f32[N, 2] @ 1..N", "// c", "/* b */",
           "const N = 2*3", "fifo A.x -> B.y capacity 4", "\n", "\n\n", "   ", "control out c",
           "impl c \"a.c\" { fire = f }", "time 5 us", "param p = -1", "dpg d {", "\t"]


@settings(max_examples=150)
@given(st.lists(st.sampled_from(_PIECES), max_size=30).map(" ".join))
def test_fmt_is_idempotent_and_keeps_every_token(text):
    from vrprune.diagnostics import SpecSyntaxError
    from vrprune.grammar import parse_text

    try:
        toks: list = []
        parse_text(text, "<t>", tokens_out=toks)
    except SpecSyntaxError:
        return
    out = format_source(text)
    again: list = []
    parse_text(out, "<t>", tokens_out=again)
    assert [(t.type, str(t)) for t in toks] == [(t.type, str(t)) for t in again]
    assert format_source(out) == out
    assert out.count("//") == text.count("//") and out.count("/*") == text.count("/*")
