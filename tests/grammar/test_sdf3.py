"""SDF3 XML reader and `vrprune convert`: good graphs, round trips, located errors."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

import vrprune
from vrprune.cli import main_with
from vrprune.diagnostics import DiagnosticError
from vrprune.grammar._sdf3 import read_sdf3
from vrprune.model import Graph

ROOT = Path(__file__).resolve().parents[2]
SDF3 = ROOT / "specs" / "sdf3"
GOOD = sorted(SDF3.glob("*.xml"))


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main_with(list(argv), out, err)
    return rc, out.getvalue(), err.getvalue()


def _shape(g: Graph) -> dict:
    """Everything that makes two graphs equivalent, spans left out."""
    return {
        "actors": [(a.name, a.kind, tuple((p.name, p.direction, p.kind, p.token.nbytes, p.lrl, p.url) for p in a.ports),
                    tuple((q.name, q.value) for q in a.params), a.dpg) for a in sorted(g.actors, key=lambda a: a.name)],
        "fifos": sorted((f.name, str(f.src), str(f.dst), f.capacity, f.initial) for f in g.fifos),
        "dpgs": [(d.name, d.actors) for d in g.dpgs],
    }


def _times(g: Graph) -> dict[str, float | None]:
    return {a.name: a.time_s for a in g.actors}


def _rate(g: Graph, actor: str, port: str) -> int:
    a = g.actor(actor)
    assert a is not None, actor
    p = a.port(port)
    assert p is not None, f"{actor}.{port}"
    return p.rate


# ------------------------------------------------------------------ good graphs

# file: (actors, channels, {(actor, port): rate})
EXPECTED = {
    "samplerate.xml": (6, 5, {("FIR1", "o"): 2, ("FIR2", "i"): 3, ("FIR2", "o"): 2, ("FIR3", "i"): 7,
                              ("FIR3", "o"): 8, ("FIR4", "i"): 7, ("FIR4", "o"): 5, ("DAT", "i"): 1}),
    "h263decoder.xml": (4, 6, {("vld", "p0"): 594, ("iq", "p0"): 1, ("mc", "p0"): 594, ("mc", "p1"): 1}),
    "h263encoder.xml": (5, 6, {("MotionEst", "o_mb"): 99, ("VLC", "i_mb"): 99, ("MotionComp", "i_mb"): 99}),
    "mp3decoder.xml": (14, 20, {("Huffman", "o0"): 2, ("Huffman", "go0"): 2, ("Req0", "i"): 1}),
    "modem.xml": (16, 19, {("filt", "o"): 2, ("deci", "i"): 2, ("ifft", "i"): 8, ("ifft", "o"): 8}),
    "satellite.xml": (22, 26, {("viterbi", "i"): 24, ("viterbi", "o"): 12, ("deint", "i"): 51, ("rs", "o"): 47}),
    "csdf_constant.xml": (2, 1, {("producer", "out"): 2, ("consumer", "in"): 3}),
}


def test_the_corpus_is_complete():
    assert {p.name for p in GOOD} == set(EXPECTED)
    assert len([p for p in GOOD if "csdf" not in p.name]) >= 5


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_good_graph_loads(name):
    g = vrprune.load(str(SDF3 / name))
    n_actors, n_fifos, rates = EXPECTED[name]
    assert len(g.actors) == n_actors
    assert len(g.fifos) == n_fifos
    for (actor, port), r in rates.items():
        assert _rate(g, actor, port) == r
    ix = g.index()
    for f in g.fifos:  # both ends of a channel carry the channel's token type
        assert ix.src_port(f).token.nbytes == ix.dst_port(f).token.nbytes >= 1
        assert f.capacity is not None and f.capacity >= f.initial


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_every_node_points_at_its_xml_element(path):
    g = read_sdf3(str(path))
    lines = path.read_text().splitlines()
    for a in g.actors:
        assert a.span.file == str(path)
        raw = a.param("sdf3_name", a.name)
        assert f'<actor name="{raw}"' in lines[a.span.line - 1]
        assert lines[a.span.line - 1][a.span.col - 1] == "<"
        for p in a.ports:
            assert "<port " in lines[p.span.line - 1]
    for f in g.fifos:
        assert "<channel " in lines[f.span.line - 1]
        assert f.src.span.line == f.span.line and f.src.span.col > f.span.col
        if f.capacity_span is not None:
            assert "<bufferSize " in lines[f.capacity_span.line - 1]
    assert "<applicationGraph" in lines[g.span.line - 1]


def test_sdf3_units_and_defaults():
    g = read_sdf3(str(SDF3 / "samplerate.xml"))
    ix = g.index()
    f = g.fifo("f12f2")
    assert f is not None
    assert ix.token_bytes(f) == 2  # tokenSize sz="16" is in bits
    assert f.capacity == 4  # bufferSize sz
    assert g.actor("FIR3").time_s == pytest.approx(420e-9)  # 420 cycles at 1 GHz
    h = read_sdf3(str(SDF3 / "h263decoder.xml"))
    hx = h.index()
    assert hx.token_bytes(h.fifo("vld2iq")) == 128  # 1024 bits
    assert hx.token_bytes(h.fifo("mc2vld")) == 4  # no tokenSize: 4 bytes
    assert h.fifo("mc2vld").initial == 1
    self_loop = h.fifo("vld_self")
    assert self_loop.src.actor == self_loop.dst.actor == "vld" and self_loop.initial == 1


def test_names_are_kept_as_written():
    """Issue 14 item 6: actors called `in`, `out` (keywords of .vpr) keep their names."""
    g = read_sdf3(str(SDF3 / "modem.xml"))
    assert g.actor("in") is not None and g.actor("out") is not None
    assert all(a.param("sdf3_name") is None for a in g.actors)  # nothing was renamed


KEYWORD_NAMES = """<?xml version="1.0"?>
<sdf3 type="sdf"><applicationGraph name="graph"><sdf name="graph">
  <actor name="in"><port name="out" type="out" rate="2"/></actor>
  <actor name="c"><port name="in" type="in" rate="1"/><port name="s" type="out" rate="1"/></actor>
  <actor name="fir-1"><port name="in" type="in" rate="1"/></actor>
  <channel name="s" srcActor="in" srcPort="out" dstActor="c" dstPort="in"/>
  <channel name="out" srcActor="c" srcPort="s" dstActor="fir-1" dstPort="in"/>
</sdf>
<sdfProperties><channelProperties channel="s"><bufferSize sz="2"/></channelProperties>
<channelProperties channel="out"><bufferSize sz="1"/></channelProperties></sdfProperties>
</applicationGraph></sdf3>
"""


def test_keyword_names_appear_unchanged_in_every_output(tmp_path):
    import json

    p = tmp_path / "kw.xml"
    p.write_text(KEYWORD_NAMES)
    rc, out, err = _cli("check", str(p), "--format", "json")
    assert rc == 0, err
    rep = json.loads(out)
    assert set(rep["repetition_vector"]) == {"in", "c", "fir-1"}
    rc, out, err = _cli("bufsize", str(p), "--format", "json")
    assert rc == 0, err
    assert "in_" not in out and "out_" not in out and '"s"' in out and '"out"' in out
    rc, out, err = _cli("bufsize", str(p))
    assert rc == 0, err
    assert "in_" not in out and "c_" not in out and "s_" not in out
    rc, out, err = _cli("dot", str(p))
    assert rc == 0 and '"fir-1"' in out and "in_" not in out
    # convert writes a .vpr that keeps them, in backquotes, and reads back the same graph
    vpr = tmp_path / "kw.vpr"
    rc, _, err = _cli("convert", str(p), "-o", str(vpr))
    assert rc == 0, err
    text = vpr.read_text()
    assert "actor `in` {" in text and "fifo `s`: `in`.`out` -> `c`.`in`" in text and "actor `fir-1`" in text
    assert "sdf3_name" not in text
    assert _shape(vrprune.load(str(vpr))) == _shape(read_sdf3(str(p)))


def test_a_name_backquotes_cannot_hold_is_renamed_and_kept_as_a_param(tmp_path):
    p = tmp_path / "odd.xml"
    p.write_text(KEYWORD_NAMES.replace('"fir-1"', '"fir`1"'))
    g = read_sdf3(str(p))
    a = g.actor("fir_1")
    assert a is not None and a.param("sdf3_name") == "fir`1"


def test_csdf_with_constant_phases_is_sdf():
    g = read_sdf3(str(SDF3 / "csdf_constant.xml"))
    prod = g.actor("producer")
    assert prod.param("sdf3_phase_times") == "10,20,30"
    assert prod.time_s == pytest.approx(30e-9)  # the largest phase
    assert g.fifo("p2c").capacity == 6


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_convert_round_trip(path, tmp_path):
    out = tmp_path / (path.stem + ".vpr")
    rc, stdout, stderr = _cli("convert", str(path), "-o", str(out))
    assert rc == 0, stderr
    assert stdout == ""
    back = vrprune.load(str(out))
    orig = read_sdf3(str(path))
    assert _shape(back) == _shape(orig)
    for name, t in _times(orig).items():
        assert _times(back)[name] == pytest.approx(t, rel=1e-9)
    # and the text goes to stdout without -o
    rc, stdout, _ = _cli("convert", str(path))
    assert rc == 0 and f"graph {orig.name} {{" in stdout


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_printer_round_trip_is_exact(path, tmp_path):
    from vrprune.grammar import format_graph as _fallback_format

    orig = read_sdf3(str(path))
    out = tmp_path / "g.vpr"
    out.write_text(_fallback_format(orig, str(tmp_path)))
    back = vrprune.load(str(out))
    assert _shape(back) == _shape(orig)
    assert _times(back) == _times(orig)  # times come back bit for bit


def test_printer_on_a_vpr_graph_with_a_dpg(tmp_path):
    from vrprune.grammar import format_graph as _fallback_format

    src = tmp_path / "d.vpr"
    src.write_text("""graph d {
  actor S { out a: i32  out b: i32  param label = "x\\"y é"  time 2.5 ms }
  actor T { in x: f32[6] }
  dpg boxes {
    actor Count: ca  { in d: i32  control out c_in  control out c_trk  control out c_out }
    actor Entry: da  { control in c  in d: i32  out box: f32[6] @ 0..8 }
    actor Track: dpa { control in c  in box: f32[6] @ 0..8  out t: f32[6] @ 0..8 }
    actor Exit:  da  { control in c  in t: f32[6] @ 0..8  out frame: f32[6] }
    fifo Count.c_in -> Entry.c capacity 1
    fifo Count.c_trk -> Track.c capacity 1
    fifo Count.c_out -> Exit.c capacity 1
    fifo Entry.box -> Track.box capacity 8
    fifo Track.t -> Exit.t capacity 8
  }
  fifo S.a -> Count.d capacity 1
  fifo named: S.b -> Entry.d capacity 2 initial 1
  fifo Exit.frame -> T.x capacity 1
}
""")
    orig = vrprune.load(str(src))
    out = tmp_path / "o.vpr"
    out.write_text(_fallback_format(orig, str(tmp_path)))
    back = vrprune.load(str(out))
    assert _shape(back) == _shape(orig)
    assert _times(back) == _times(orig)


# ------------------------------------------------------------------ errors

BAD = [
    ("bad/csdf_phases.xml", "E015", 11),
    ("bad/mismatched_tag.xml", "E001", 8),
    ("bad/unquoted_attr.xml", "E001", 7),
    ("bad/unknown_port.xml", "E002", 13),
]


@pytest.mark.parametrize("rel,code,line", BAD, ids=[b[0] for b in BAD])
def test_bad_files_give_located_errors(rel, code, line):
    path = SDF3 / rel
    with pytest.raises(DiagnosticError) as ei:
        read_sdf3(str(path))
    d = ei.value.diagnostics[0]
    assert (d.code, d.span.line) == (code, line)
    assert d.span.file == str(path) and d.span.col >= 1
    rc, out, err = _cli("convert", str(path))
    assert rc == 2 and out == ""
    assert f"{os.path.relpath(path)}:{line}:" in err and f"error[{code}]" in err
    assert "Traceback" not in err


def test_csdf_rejection_is_exact_and_helpful():
    with pytest.raises(DiagnosticError) as ei:
        read_sdf3(str(SDF3 / "bad/csdf_phases.xml"))
    diags = ei.value.diagnostics
    assert [d.code for d in diags] == ["E015", "E015"]  # one per varying port, no follow-on E002
    assert "unfold" in diags[0].help and diags[0].notes[0].span.line == 10


_HEAD = '<?xml version="1.0"?>\n<sdf3 type="{t}">\n<applicationGraph name="g">\n<{t} name="g">\n'
_TAIL = "</{t}>\n{props}</applicationGraph>\n</sdf3>\n"
_AB = ('<actor name="a"><port name="o" type="out" rate="{ra}"/></actor>\n'
       '<actor name="b"><port name="i" type="in" rate="{rb}"/></actor>\n')
_CH = '<channel name="c" srcActor="a" srcPort="o" dstActor="b" dstPort="i"{extra}/>\n'


def _doc(body: str, t: str = "sdf", props: str = "") -> str:
    return _HEAD.format(t=t) + body + _TAIL.format(t=t, props=props)


CASES = [
    ("empty", "", "E001", 1),
    ("not xml", "just text\n", "E001", 1),
    ("binary", "\x00\x01\x02", "E001", 1),
    ("wrong root", '<?xml version="1.0"?>\n<graph/>\n', "E001", 2),
    ("entity bomb", '<?xml version="1.0"?>\n<!DOCTYPE s [\n<!ENTITY a "aaaa">\n<!ENTITY b "&a;&a;&a;">\n]>\n<sdf3/>\n',
     "E001", 3),
    ("sadf", '<?xml version="1.0"?>\n<sdf3 type="sadf"><applicationGraph/></sdf3>\n', "E015", 2),
    ("no graph", '<?xml version="1.0"?>\n<sdf3 type="sdf">\n<applicationGraph name="g"/>\n</sdf3>\n', "E001", 3),
    ("missing attribute", _doc('<actor name="a"><port name="o" type="out"/></actor>\n'), "E001", 5),
    ("rate zero", _doc(_AB.format(ra=0, rb=1) + _CH.format(extra="")), "E008", 5),
    ("rate text", _doc(_AB.format(ra="two", rb=1) + _CH.format(extra="")), "E008", 5),
    ("phases in sdf", _doc(_AB.format(ra="1,2", rb=1) + _CH.format(extra="")), "E015", 5),
    ("unconnected", _doc(_AB.format(ra=1, rb=1)), "E004", 5),
    ("unknown actor",
     _doc(_AB.format(ra=1, rb=1) + '<channel name="c" srcActor="x" srcPort="o" dstActor="b" dstPort="i"/>\n'),
     "E002", 7),
    ("direction",
     _doc(_AB.format(ra=1, rb=1) + '<channel name="c" srcActor="b" srcPort="i" dstActor="a" dstPort="o"/>\n'),
     "E006", 7),
    ("twice", _doc(_AB.format(ra=1, rb=1) + _CH.format(extra="") + _CH.format(extra="").replace('"c"', '"d"')),
     "E005", 8),
    ("duplicate actor", _doc(_AB.format(ra=1, rb=1) + '<actor name="a"/>\n' + _CH.format(extra="")), "E003", 7),
    ("negative tokens", _doc(_AB.format(ra=1, rb=1) + _CH.format(extra=' initialTokens="-1"')), "E009", 7),
    ("tokens over buffer", _doc(_AB.format(ra=1, rb=1) + _CH.format(extra=' initialTokens="3"'),
                                props='<sdfProperties><channelProperties channel="c"><bufferSize sz="2"/>'
                                      '</channelProperties></sdfProperties>\n'), "E009", 7),
    ("unknown channel props", _doc(_AB.format(ra=1, rb=1) + _CH.format(extra=""),
                                   props='<sdfProperties>\n<channelProperties channel="zz"/></sdfProperties>\n'),
     "E002", 10),
]


@pytest.mark.parametrize("label,text,code,line", CASES, ids=[c[0] for c in CASES])
def test_malformed_inputs(label, text, code, line, tmp_path):
    path = tmp_path / "g.xml"
    path.write_text(text)
    with pytest.raises(DiagnosticError) as ei:
        read_sdf3(str(path))
    d = ei.value.diagnostics[0]
    assert (d.code, d.span.line) == (code, line), ei.value
    rc, _, err = _cli("convert", str(path))
    assert rc == 2 and f"error[{code}]" in err and "Traceback" not in err


def test_missing_file_and_capacity_left_open(tmp_path):
    rc, _, err = _cli("convert", str(tmp_path / "nope.xml"))
    assert rc == 2 and "error[E000]" in err
    path = tmp_path / "open.xml"
    path.write_text(_doc(_AB.format(ra=2, rb=3) + _CH.format(extra=' initialTokens="1"')))
    g = read_sdf3(str(path))
    f = g.fifo("c")  # `c` is a .vpr keyword (impl c): kept all the same
    assert f is not None and f.capacity is None and f.initial == 1
    assert g.actor("a").time_s is None
    assert g.index().token_bytes(f) == 4


def test_mutated_xml_never_raises_anything_else(tmp_path):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    base = (SDF3 / "samplerate.xml").read_text()
    path = tmp_path / "m.xml"

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.integers(0, len(base)), st.integers(0, 40), st.text(max_size=12))
    def check(pos, cut, ins):
        path.write_text(base[:pos] + ins + base[pos + cut:], encoding="utf-8", errors="replace")
        try:
            read_sdf3(str(path))
        except DiagnosticError as e:
            assert all(d.span.file == str(path) for d in e.diagnostics)

    check()


def test_check_reads_sdf3():
    rc, out, err = _cli("check", str(SDF3 / "samplerate.xml"))
    assert rc == 0, out + err


def test_positions_cost_linear_time_on_one_long_line(tmp_path, monkeypatch):
    """Issue 20 item 15: every position is measured from a nearby known one (the tag's start,
    which expat gives), never by rescanning the line from its start: the bytes examined stay
    proportional to the file's size, however long its one line is."""
    from vrprune.grammar import _sdf3

    n = 3000
    actors = "".join(f'<actor name="a{i}"><port name="o" type="out" rate="1"/><port name="i" type="in" rate="1"/>'
                     f'</actor>' for i in range(n))
    chans = "".join(f'<channel name="c{i}" srcActor="a{i}" srcPort="o" dstActor="a{(i + 1) % n}" dstPort="i"'
                    f'{" initialTokens=" + chr(34) + "1" + chr(34) if i == n - 1 else ""}/>' for i in range(n))
    p = tmp_path / "one.xml"
    p.write_text(f'<sdf3 type="sdf"><applicationGraph name="g"><sdf name="g">{actors}{chans}</sdf>'
                 f'</applicationGraph></sdf3>')
    scanned = [0]
    advance = _sdf3._Source.advance

    def counting(self, base, line, col, offset):
        scanned[0] += offset - base
        return advance(self, base, line, col, offset)

    monkeypatch.setattr(_sdf3._Source, "advance", counting)
    g = _sdf3.read_sdf3(str(p))
    assert len(g.actors) == n and g.fifos[-1].span.line == 1
    size = p.stat().st_size
    assert scanned[0] < 2 * size, (scanned[0], size)
    # the spans are still exact: the last channel's start tag, counted in characters
    text = p.read_text()
    at = text.rindex("<channel")
    assert (g.fifos[-1].span.col, g.fifos[-1].span.end_col) == (at + 1, text.index(">", at) + 2)


@pytest.mark.parametrize("attr,code,message", [
    ('rate="99999999999999999999999"', "E008", "rate 99999999999999999999999 is too large"),
    ('rate="1' + "0" * 5000 + '"', "E008", "is too large"),
])
def test_numbers_beyond_64_bits_are_located_errors(tmp_path, attr, code, message):
    p = tmp_path / "big.xml"
    p.write_text(KEYWORD_NAMES.replace('rate="2"', attr, 1))
    with pytest.raises(DiagnosticError) as info:
        read_sdf3(str(p))
    d = info.value.diagnostics[0]
    assert d.code == code and message in d.message and d.span.line == 3


def test_a_token_size_beyond_4_gib_is_an_error(tmp_path):
    p = tmp_path / "tok.xml"
    p.write_text(KEYWORD_NAMES.replace('<bufferSize sz="2"/>', '<tokenSize sz="99999999999999"/><bufferSize sz="2"/>'))
    with pytest.raises(DiagnosticError) as info:
        read_sdf3(str(p))
    assert info.value.diagnostics[0].code == "E001" and "tokenSize" in info.value.diagnostics[0].message
