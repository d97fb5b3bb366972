"""What `--help` tells a user: each command's own exit codes (one block), help on every
positional argument, the environment variables vrprune reads, `-V`; the compiled program's
usage; and that starting a command imports only what it uses (start-up time)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vrprune.cli import COMMANDS, build_parser, main_with

ROOT = Path(__file__).resolve().parents[2]

# the codes each command can return (besides 70, a bug, and 130, Ctrl-C, which every command lists)
RETURNS = {
    "check": {0, 1, 2, 3}, "fmt": {0, 1, 2}, "dot": {0, 2}, "convert": {0, 2}, "bufsize": {0, 1, 2, 3},
    "run": {0, 1, 2, 3, 143}, "explore": {0, 1, 2, 3}, "fuzz": {0, 1, 2, 3}, "keygen": {0, 2}, "compile": {0, 1, 2, 3},
    "import": {0, 2},
}


def help_of(*argv: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out):  # argparse prints --help on sys.stdout
        assert main_with([*argv, "--help"], io.StringIO(), err) == 0, err.getvalue()
    return out.getvalue()


def exit_block(text: str) -> list[str]:
    """The lines of the (single) `exit codes:` block."""
    assert text.count("exit codes") == 1, text
    block = text.split("exit codes", 1)[1].split("\n\n", 1)[0]
    return block.splitlines()[1:]


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_lists_only_its_own_exit_codes_once(command):
    text = help_of(command)
    codes = {int(m.group(1)) for ln in exit_block(text) if (m := re.match(r"  (\d+) ", ln))}
    assert codes == RETURNS[command] | {70, 130}, text
    if 1 not in RETURNS[command]:
        assert "refuted" not in text.split("exit codes", 1)[1], text


@pytest.mark.parametrize("command", COMMANDS)
def test_every_positional_argument_has_help(command):
    """Read from the help text (argparse keeps its actions private): each entry of the
    `positional arguments:` section has words after its name."""
    text = help_of(command)
    if "positional arguments:" not in text:
        usage = text.split("\n\n", 1)[0]
        assert re.fullmatch(r"usage: vrprune \S+(\s+\[[^\]]*\])*\s*", usage), text
        return  # only options (keygen)
    lines = text.split("positional arguments:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    entries = [(i, ln) for i, ln in enumerate(lines) if re.match(r"  \S", ln)]
    assert entries, text
    # a long name puts its help on the next, deeper indented line
    missing = [ln.strip() for i, ln in entries if len(ln.split(None, 1)) < 2
               and not (i + 1 < len(lines) and re.match(r"\s{4,}\S", lines[i + 1]))]
    assert not missing, f"{command}: positional arguments without help: {missing}"


def test_short_version_flag(capsys):
    from vrprune import __version__

    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["-V"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"vrprune {__version__}"


def _variables_read() -> set[str]:
    """VRPRUNE_* names the package reads: os.environ.get / getenv in Python and C sources."""
    names: set[str] = set()
    for path in (ROOT / "vrprune").rglob("*"):
        if path.suffix in (".py", ".c", ".h"):
            text = path.read_text(encoding="utf-8", errors="replace")
            names |= set(re.findall(r"""(?:environ\.get|getenv)\(\s*["'](VRPRUNE_[A-Z_]+)["']""", text))
    return names


def test_environment_variables_are_documented_in_help_and_docs():
    names = _variables_read()
    assert {"VRPRUNE_CC", "VRPRUNE_CACHE", "VRPRUNE_DEBUG"} <= names
    main_help = help_of()
    docs = (ROOT / "README.md").read_text(encoding="utf-8")
    assert not [n for n in names if n not in main_help], main_help
    assert not [n for n in names if n not in docs], "document these in README.md's environment section"
    # each command lists the variables it reads, and only in one environment block
    assert "VRPRUNE_CC" in help_of("run") and "VRPRUNE_CC" not in help_of("check")
    assert "VRPRUNE_DEBUG" in help_of("keygen") and help_of("run").count("environment:") == 1


def _imported_after(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> set[str]:
    code = ("import io, sys\nfrom vrprune.cli import main_with\n"
            f"rc = main_with({argv!r}, io.StringIO(), io.StringIO())\n"
            "print(rc, *sorted(sys.modules))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    rc, *mods = p.stdout.splitlines()[-1].split()
    assert rc in ("0", "1"), p.stdout
    return set(mods)


HEAVY = {"numpy", "cffi", "networkx", "ssl", "sympy", "matplotlib", "pyopencl", "vrprune.exec", "vrprune.net._runner"}


def test_help_and_check_of_a_static_graph_import_no_executor(tmp_path):
    """Item 15: --help and check of a static graph import neither numpy, cffi, networkx nor the
    executor (they used to come in through run's argument parser)."""
    assert not _imported_after(["--help"], ROOT) & HEAVY
    assert not _imported_after(["check", "specs/feedback.vpr"], ROOT) & HEAVY
    assert not _imported_after(["run", "--help"], ROOT) & HEAVY


def test_parser_tables_cache_survives_damage(tmp_path):
    """The Lark table cache in $VRPRUNE_CACHE/grammar: a damaged file is rebuilt, an unusable
    cache folder is no error."""
    env = dict(os.environ, VRPRUNE_CACHE=str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "vrprune", "check", "specs/feedback.vpr"]
    assert subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, timeout=120).returncode == 0
    tables = list((tmp_path / "cache" / "grammar").iterdir())
    assert tables, "no parser tables cached"
    for t in tables:
        t.write_bytes(b"garbage\n" + os.urandom(64))
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "proved" in p.stdout, p.stdout + p.stderr
    (tmp_path / "file").write_text("not a folder")
    env["VRPRUNE_CACHE"] = str(tmp_path / "file")
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "proved" in p.stdout, p.stdout + p.stderr


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None and not os.environ.get("VRPRUNE_CC"),
                    reason="no C compiler")
def test_compiled_program_usage_has_no_truncated_line(tmp_path):
    """Item 14: the TLS options' text of a compiled program's --help ended mid-sentence."""
    out = tmp_path / "client"
    rc = main_with(["compile", str(ROOT / "examples/vehicle/vehicle_c.vpr"), "--mapping",
                    str(ROOT / "specs/vehicle_client.map"), "-o", str(out), "--build"], io.StringIO(), io.StringIO())
    assert rc == 0
    p = subprocess.run([str(out / "vehicle_endpoint"), "--help"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0
    usage = " ".join(p.stdout.split())
    assert "this host's certificate and key, and the CA that signed every host's certificate" in usage, p.stdout


def test_fuzz_exits_3_when_the_checker_is_inconclusive(monkeypatch):
    """fuzz used to say 2 (input error) for an inconclusive proof; 3 is inconclusive everywhere."""
    import vrprune.verify

    real = vrprune.verify.prove
    monkeypatch.setattr(vrprune.verify, "prove", lambda g, **kw: real(g, **{**kw, "engine": "smt", "rlimit": 1}))
    err = io.StringIO()
    rc = main_with(["fuzz", str(ROOT / "specs/multi_dpg.vpr"), "--stub-missing", "--iterations", "1"], io.StringIO(),
                   err)
    assert rc == 3, err.getvalue()
    assert "inconclusive" in err.getvalue()


def test_every_cited_doc_exists():
    """--help texts, messages, README and docs cite pages a user has (docs/NAME.md in the
    repository), not design notes that never ship."""
    cited: dict[str, set[str]] = {}
    for top in ("vrprune", "docs", "examples", "bench"):
        for p in (ROOT / top).rglob("*"):
            if p.is_file() and p.suffix in (".py", ".md", ".c", ".h", ".vpr"):
                for ref in re.findall(r"docs/[\w.-]+\.(?:md|png)", p.read_text(encoding="utf-8", errors="replace")):
                    cited.setdefault(ref, set()).add(str(p.relative_to(ROOT)))
    for ref in re.findall(r"docs/[\w.-]+\.(?:md|png)", (ROOT / "README.md").read_text(encoding="utf-8")):
        cited.setdefault(ref, set()).add("README.md")
    missing = {ref: sorted(by) for ref, by in cited.items() if not (ROOT / ref).is_file()}
    assert not missing, missing


def test_documented_cflags_default_is_the_real_one():
    from vrprune.exec._toolchain import DEFAULT_CFLAGS

    assert " ".join(DEFAULT_CFLAGS) in " ".join(help_of("run").split())
    assert " ".join(DEFAULT_CFLAGS) in (ROOT / "README.md").read_text(encoding="utf-8")
