"""docs/rules.md is true: for each design rule R1-R8 the graph shown is the corpus file it names,
`vrprune check` of it prints the diagnostic shown (that rule, exit 1), and the fix shown (a
unified diff against the file) gives a graph that proves. The well-formed DPG at the top is the
file it names and proves."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from vrprune.cli import main_with

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
SECTIONS = dict(re.findall(r"^## (R[1-8]) .*?\n(.*?)(?=^## |\Z)", DOC, re.MULTILINE | re.DOTALL))


def fenced(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def check(path: str) -> tuple[int, str]:
    out = io.StringIO()
    rc = main_with(["check", path], out, io.StringIO())
    return rc, out.getvalue()


def apply_diff(text: str, diff: str) -> str:
    """Apply a unified diff (one file) to text."""
    lines = text.splitlines()
    out: list[str] = []
    pos = 0
    hunks = re.split(r"^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@.*\n", diff, flags=re.M)[1:]
    for start, body in zip(hunks[::2], hunks[1::2]):
        at = int(start) - 1
        out += lines[pos:at]
        pos = at
        for ln in body.splitlines():
            tag, rest = ln[:1], ln[1:]
            if tag in " -":
                assert lines[pos] == rest, f"diff does not apply at line {pos + 1}: {lines[pos]!r} != {rest!r}"
                pos += 1
            if tag in " +":
                out.append(rest)
    return "\n".join(out + lines[pos:]) + "\n"


def test_every_rule_has_a_section():
    assert sorted(SECTIONS) == [f"R{i}" for i in range(1, 9)]


def test_the_well_formed_dpg_is_the_file_and_proves(monkeypatch):
    monkeypatch.chdir(ROOT)
    head = DOC.split("\n## R1 ", 1)[0]
    (vpr,) = fenced(head, "vpr")
    path = re.search(r"^\$ vrprune check (\S+)$", head, re.MULTILINE).group(1)
    assert (ROOT / path).read_text(encoding="utf-8") == vpr
    assert check(path)[0] == 0


@pytest.mark.parametrize("rule", [f"R{i}" for i in range(1, 9)])
def test_rule_section_is_real(rule, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    sec = SECTIONS[rule]
    (vpr,), (console,), (diff,) = fenced(sec, "vpr"), fenced(sec, "console"), fenced(sec, "diff")
    cmd, *shown = console.splitlines()
    path = re.fullmatch(r"\$ vrprune check (\S+)", cmd).group(1)
    text = (ROOT / path).read_text(encoding="utf-8")
    assert text == vpr, f"docs/rules.md shows another {path}"
    rc, out = check(path)
    assert rc == 1 and f"error[{rule}]" in out
    assert shown[-1] == "..."
    assert out.splitlines()[: len(shown) - 1] == shown[:-1], out
    assert re.match(rf"{re.escape(path)}:\d+:\d+: error\[{rule}\]", shown[0])
    fixed = tmp_path / "fixed.vpr"
    fixed.write_text(apply_diff(text, diff.split("\n", 2)[2]), encoding="utf-8")
    rc, out = check(str(fixed))
    assert rc == 0, out


def test_nothing_cites_the_unshipped_design_notes():
    """Item 7: README, docs, help texts, code and examples cited "DESIGN.md section 2", a file users
    never get; the rules are docs/rules.md."""
    me = Path(__file__).resolve()
    hits = []
    for top in ("README.md", "docs", "vrprune", "specs", "examples", "bench", "tests"):
        for p in [ROOT / top] if top.endswith(".md") else (ROOT / top).rglob("*"):
            if p.is_file() and p.resolve() != me and p.suffix in (".md", ".py", ".vpr", ".c", ".h", ".map", ".lark"):
                if "DESIGN.md" in p.read_text(encoding="utf-8", errors="replace"):
                    hits.append(str(p.relative_to(ROOT)))
    assert not hits, hits
