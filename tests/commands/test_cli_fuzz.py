"""The CLI over mutated inputs (issue 20, "Done when"): whatever the bytes, every command ends
with a documented exit code (0-3, never 70 or a traceback) and within 20 s.

Inputs: the bundled .vpr specs and SDF3 files, mutated byte by byte and token by token, plus
deep nesting and huge numbers. Runs in-process through ``vrprune.cli.main_with`` (no start-up
per example); the example count follows the hypothesis profile (bounded under ``ci``)."""

from __future__ import annotations

import io
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vrprune.cli import main_with

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
SOURCES = sorted(p for p in SPECS.rglob("*") if p.suffix in (".vpr", ".xml"))
DATA = {p: p.read_bytes() for p in SOURCES}
COMMANDS = ["check", "bufsize", "dot", "convert", "fmt"]
LIMIT_S = 20.0

# things worth splicing in: keywords, numbers at the edges, nesting, XML pieces
_SPLICE = [b"graph", b"actor", b"dpg", b"fifo", b"{", b"}", b"@", b"..", b"0", b"-1", b"capacity", b"initial",
           b"control", b"in", b"out", b"ca", b"da", b"dpa", b"`in`", b"const", b"=", b"(" * 300, b")" * 300,
           b"-" * 300, b"+1" * 500, b"99999999999999999999999999", b"4294967296", b"1e400", b"bytes(0)",
           b"f32[0]", b"time", b"ns", b"import", b'"/dev/zero"', b"\xff\xfe", b"\x00", b"<", b">", b"</actor>",
           b'<actor name="x">', b'rate="0"', b'rate="99999999999*2"', b'encoding="bogus"', b"&amp;", b"&x;",
           b'<!DOCTYPE s [<!ENTITY e "x">]>', b'initialTokens="-1"', b'sz="0"', b'time="1e999"', b"<a>" * 300]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A copy of specs/ beside which mutated files are written (relative imports still resolve)."""
    d = tmp_path_factory.mktemp("cli-fuzz")
    shutil.copytree(SPECS, d / "specs")
    return d / "specs"


@st.composite
def mutated(draw) -> tuple[str, bytes]:
    src = draw(st.sampled_from(SOURCES))
    data = bytearray(DATA[src])
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, max(len(data) - 1, 0)))
        op = draw(st.sampled_from(["byte", "delete", "splice", "copy", "token"]))
        if op == "byte" and data:
            data[i] = draw(st.integers(0, 255))
        elif op == "delete" and data:
            del data[i:i + draw(st.integers(1, 40))]
        elif op == "splice":
            data[i:i] = draw(st.sampled_from(_SPLICE))
        elif op == "copy":
            j = draw(st.integers(0, max(len(data) - 1, 0)))
            data[i:i] = data[j:j + draw(st.integers(1, 80))]
        else:  # replace one whitespace-separated token by another of the file's
            words = bytes(data).split(b" ")
            if len(words) > 1:
                a = draw(st.integers(0, len(words) - 1))
                words[a] = words[draw(st.integers(0, len(words) - 1))]
                data = bytearray(b" ".join(words))
    return src.relative_to(SPECS).as_posix(), bytes(data)


class _Hung(Exception):
    pass


def _alarm(*_):
    raise _Hung()


def _run(argv: list[str]) -> tuple[int, str, float]:
    """Exit code, stdout + stderr, seconds."""
    out, err = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(int(3 * LIMIT_S))  # a hang fails the test instead of stopping the suite
    t = time.perf_counter()
    try:
        rc = main_with(argv, out, err)
    except _Hung:
        pytest.fail(f"vrprune {' '.join(argv)} ran for over {3 * LIMIT_S:.0f} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return rc, out.getvalue() + err.getvalue(), time.perf_counter() - t


def _argv(command: str, path: Path) -> list[str]:
    extra = ["--timeout", "2"] if command in ("check", "bufsize") else []
    return [command, str(path), *extra]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)
@given(case=mutated(), command=st.sampled_from(COMMANDS))
def test_mutated_inputs_end_with_a_documented_code(workdir: Path, case: tuple[str, bytes], command: str) -> None:
    rel, data = case
    target = workdir / rel
    path = target.with_name(".fuzz" + target.suffix)
    path.write_bytes(data)
    rc, err, dt = _run(_argv(command, path))
    assert rc in (0, 1, 2, 3), f"exit {rc}: {err[-600:]}"
    assert "Traceback" not in err and "internal error" not in err, err[-600:]
    assert dt < LIMIT_S, f"{dt:.1f} s"


# ------------------------------------------------------------------ inputs that once crashed (issue 20 item 12)

def _sdf3(body: str = "", props: str = "", head: str = '<?xml version="1.0"?>') -> str:
    return (f'{head}<sdf3 type="sdf"><applicationGraph name="g"><sdf name="g">'
            '<actor name="a"><port name="o" type="out" rate="1"/></actor>'
            '<actor name="b"><port name="i" type="in" rate="1"/></actor>'
            f'<channel name="c" srcActor="a" srcPort="o" dstActor="b" dstPort="i"/>{body}</sdf>'
            f'<sdfProperties><channelProperties channel="c"><bufferSize sz="1"/></channelProperties>{props}'
            '</sdfProperties></applicationGraph></sdf3>')


CRASHERS = {
    "encoding_bogus.xml": _sdf3(head='<?xml version="1.0" encoding="bogus"?>'),
    "encoding_utf0.xml": _sdf3(head='<?xml version="1.0" encoding="UTF-0"?>'),
    "encoding_inf.xml": _sdf3(head='<?xml version="1.0" encoding="inf"?>'),
    "encoding_multibyte.xml": _sdf3(head='<?xml version="1.0" encoding="utf-32"?>'),
    "csdf_huge_phases.xml": _sdf3().replace('type="sdf"', 'type="csdf"').replace("<sdf ", "<csdf ")
                                   .replace("</sdf>", "</csdf>")
                                   .replace('rate="1"/></actor><actor name="b"',
                                            'rate="99999999999*1"/></actor><actor name="b"'),
    "execution_time_huge.xml": _sdf3(props='<actorProperties actor="a"><processor type="p" default="true">'
                                           '<executionTime time="1e300"/></processor></actorProperties>'),
    "empty_graph.vpr": "graph g {}\n",
    "time_inf.vpr": "graph g { actor A { out o: u8  time 1e400 s } actor B { in i: u8 } fifo A.o -> B.i }\n",
    "time_huge.vpr": "graph g { actor A { out o: u8  time 1e300 s } actor B { in i: u8 } fifo A.o -> B.i }\n",
    "param_inf.vpr": "graph g { actor A { out o: u8  param p = 1e999 } actor B { in i: u8 } fifo A.o -> B.i }\n",
    "sum_1000.vpr": "const N = " + " + ".join(["1"] * 1000) + "\ngraph g { actor A { out o: u8 @ N } "
                    "actor B { in i: u8 @ N } fifo A.o -> B.i capacity N }\n",
    "deep_parens.vpr": "const N = " + "(" * 5000 + "1" + ")" * 5000 + "\ngraph g { }\n",
    "digits_5000.vpr": "const N = 1" + "0" * 5000 + "\ngraph g { }\n",  # int() refuses > 4,300 digits
    "xml_digits_5000.xml": _sdf3().replace('rate="1"/></actor><actor name="b"',
                                           'rate="1' + "0" * 5000 + '"/></actor><actor name="b"'),
}


def test_long_and_deep_expressions_evaluate(tmp_path: Path) -> None:
    """A constant of 1,000 terms or 5,000 nested parentheses is evaluated (no recursion)."""
    for name in ("sum_1000.vpr", "deep_parens.vpr"):
        p = tmp_path / name
        p.write_text(CRASHERS[name], encoding="utf-8")
        rc, out, _ = _run(["check", str(p)])
        assert rc == 0, out
    p = tmp_path / "digits.vpr"
    p.write_text(CRASHERS["digits_5000.vpr"], encoding="utf-8")
    rc, out, _ = _run(["check", str(p)])
    assert rc == 2 and "error[E012]: the number 1000" in out and "too large" in out, out


@pytest.mark.parametrize("name", sorted(CRASHERS))
@pytest.mark.parametrize("command", COMMANDS)
def test_inputs_that_crashed_end_with_a_documented_code(tmp_path: Path, name: str, command: str) -> None:
    if command == "fmt" and name.endswith(".xml"):
        pytest.skip("fmt formats .vpr files")
    p = tmp_path / name
    p.write_text(CRASHERS[name], encoding="utf-8")
    rc, err, _ = _run(_argv(command, p))
    assert rc in (0, 1, 2, 3) and "internal error" not in err, err


@pytest.mark.parametrize("name", ["encoding_bogus.xml", "encoding_utf0.xml", "encoding_inf.xml"])
def test_an_unknown_xml_encoding_is_an_input_error_at_the_declaration(tmp_path: Path, name: str) -> None:
    p = tmp_path / name
    p.write_text(CRASHERS[name], encoding="utf-8")
    for command in ("check", "dot", "convert", "bufsize"):
        rc, err, _ = _run([command, str(p)])
        assert rc == 2 and f"{name}:1:31: error[E001]" in err and "encoding" in err, err


def test_a_time_out_of_range_is_an_input_error(tmp_path: Path) -> None:
    for name in ("time_inf.vpr", "time_huge.vpr"):
        p = tmp_path / name
        p.write_text(CRASHERS[name], encoding="utf-8")
        rc, err, _ = _run(["convert", str(p)])
        assert rc == 2 and "error[E012]: time 1e" in err, err


def test_an_import_chain_too_deep_is_an_input_error(tmp_path: Path) -> None:
    n = 300
    for i in range(n):
        nxt = f'import "f{i + 1}.vpr"\n' if i < n - 1 else ""
        (tmp_path / f"f{i}.vpr").write_text(nxt + f"const C{i} = {i}\n" + ("graph g { }\n" if i == 0 else ""))
    rc, err, _ = _run(["check", str(tmp_path / "f0.vpr")])
    assert rc == 2 and "error[E010]: imports nested more than" in err, err


def test_bufsize_of_an_empty_graph_is_fine(tmp_path: Path) -> None:
    p = tmp_path / "empty.vpr"
    p.write_text("graph g {}\n")
    rc, err, _ = _run(["bufsize", str(p)])
    assert rc == 0, err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX only")
def test_the_fuzz_corpus_is_complete() -> None:
    assert any(p.suffix == ".xml" for p in SOURCES) and any(p.suffix == ".vpr" for p in SOURCES)
    assert any("bad" in p.parts for p in SOURCES)


# ------------------------------------------------------------ time limits (issue 20 item 13)

COPRIME = "graph g {{\n  actor A {{ out o: u8 @ {p} }}\n  actor B {{ in i: u8 @ {c} }}\n  fifo A.o -> B.i{cap}\n}}\n"

# three coprime rates in a row: 10^14 firings per iteration, no short period
MANY_FIRINGS = """graph g {{
  actor A {{ out o: u8 @ 10000000 }}
  actor B {{ in i: u8 @ 9999999  out o: u8 @ 9999998 }}
  actor C {{ in i: u8 @ 9999997 }}
  fifo A.o -> B.i{c1}
  fifo B.o -> C.i{c2}
}}
"""

# a DPG iterated 10^7 times per graph iteration, too many iterations for the z3 encoding
MANY_DPG_ITERATIONS = """graph g {
  actor S { out o: u8 @ 10000000 }
  actor F { out o: u8 }
  dpg d {
    actor C: ca { in i: u8  control out c1  control out c2 }
    actor E: da { control in c  in i: u8  out o: u8 @ 0..4 }
    actor X: da { control in c  in i: u8 @ 0..4  out o: u8 }
    fifo C.c1 -> E.c capacity 1
    fifo C.c2 -> X.c capacity 1
    fifo E.o -> X.i capacity 4
  }
  actor T { in i: u8 @ 10000000 }
  fifo S.o -> C.i capacity 10000000
  fifo F.o -> E.i capacity 1
  fifo X.o -> T.i capacity 10000000
}
"""


@pytest.mark.parametrize("engine", ["auto", "sim", "smt"])
def test_check_honours_the_timeout_whatever_the_rates(tmp_path: Path, engine: str) -> None:
    """Past --timeout the verdict is inconclusive (exit 3), never a guess and never a long wait."""
    p = tmp_path / "many.vpr"
    p.write_text(MANY_FIRINGS.format(c1=" capacity 19999998", c2=" capacity 19999994"))
    rc, err, dt = _run(["check", str(p), "--timeout", "1", "--engine", engine])
    assert rc == 3 and "error[U1]" in err and "--timeout" in err, err
    assert dt < 6, dt


def test_bufsize_honours_the_timeout_whatever_the_rates(tmp_path: Path) -> None:
    p = tmp_path / "many.vpr"
    p.write_text(MANY_FIRINGS.format(c1="", c2=""))
    rc, err, dt = _run(["bufsize", str(p), "--timeout", "1"])
    assert rc == 3 and "error[U1]" in err and "not sized" in err, err
    assert dt < 8, dt


@pytest.mark.parametrize("engine", ["auto", "sim", "smt"])
def test_coprime_rates_in_the_millions_are_decided_at_once(tmp_path: Path, engine: str) -> None:
    """Rates 10^7 and 10^7 - 1 make 2 * 10^7 firings, but the run is periodic: it costs rounds of
    work, not firings. p + c - gcd(p, c) tokens are the least that let A and B run."""
    p = tmp_path / "coprime.vpr"
    for cap, want in ((" capacity 19999998", 0), (" capacity 19999997", 1)):
        p.write_text(COPRIME.format(p=10**7, c=10**7 - 1, cap=cap))
        rc, out, dt = _run(["check", str(p), "--timeout", "10", "--engine", engine])
        assert rc == want, out
        assert dt < 5, dt
    p.write_text(COPRIME.format(p=10**7, c=10**7 - 1, cap=""))
    rc, out, dt = _run(["bufsize", str(p), "--timeout", "30"])
    assert rc == 0 and "19,999,998" in out.replace(" ", "") or "19999998" in out, out
    assert dt < 20, dt


def test_small_coprime_rates_are_still_decided(tmp_path: Path) -> None:
    p = tmp_path / "small.vpr"
    p.write_text(COPRIME.format(p=7, c=5, cap=" capacity 11"))
    rc, err, _ = _run(["check", str(p), "--timeout", "5"])
    assert rc == 0, err
    p.write_text(COPRIME.format(p=7, c=5, cap=" capacity 10"))
    rc, err, _ = _run(["check", str(p), "--timeout", "5"])
    assert rc == 1 and "error[D1]" in err, err


def test_a_dpg_iterated_millions_of_times_is_decided(tmp_path: Path) -> None:
    """auto: the z3 encoding would need one variable per CA firing (10^7): the exact simulation at
    atr = url decides instead; --engine smt says why it cannot (exit 3), --engine sim proves."""
    p = tmp_path / "dpg.vpr"
    p.write_text(MANY_DPG_ITERATIONS)
    for engine, want in (("auto", 0), ("sim", 0), ("smt", 3)):
        rc, out, dt = _run(["check", str(p), "--timeout", "10", "--engine", engine])
        assert rc == want, out
        assert dt < 5, dt
    assert "the encoding would need" in out
