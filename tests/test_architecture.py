"""The package's shape (README "Architecture"): who may import whom.

Every ``import`` in vrprune/ (also those inside functions; not those under ``if TYPE_CHECKING``)
is an arrow from one part of the package (a subpackage such as ``verify``, or a top-level module
such as ``rates``) to another. The arrows must run from a higher stage to a lower one, and never
in a circle."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections import defaultdict

import pytest

PKG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vrprune")

# the pipeline's stages, lowest first; a part may import its own stage and those below
STAGES: list[set[str]] = [
    {"model"},                                                        # IR types
    {"diagnostics", "_words", "_extras", "links", "rates", "argtypes"},  # domain data shared by all
    {"grammar", "frontend", "vrprune"},                               # text -> IR (and the package face)
    {"verify"},                                                       # IR -> verdict
    {"render", "exec"},                                               # verdict -> text; IR -> threads
    {"net"},                                                         # split graph -> hosts over sockets
    {"pipeline"},                                                     # load -> prove -> split -> Runtime
    {"explore", "compile", "fuzz", "onnximport", "testing"},          # built on the pipeline
    {"commands"},                                                     # argv, stdout, exit codes
    {"cli", "__main__"},
]
STAGE = {part: i for i, parts in enumerate(STAGES) for part in parts}


def _part(path: str) -> str:
    rel = os.path.relpath(path, PKG).replace(os.sep, "/")
    first = rel.split("/")[0]
    return "vrprune" if first == "__init__.py" else first.removesuffix(".py")


def _module(path: str) -> tuple[str, bool]:
    rel = os.path.relpath(path, os.path.dirname(PKG))[:-3].replace(os.sep, ".")
    is_pkg = rel.endswith(".__init__")
    return (rel[: -len(".__init__")] if is_pkg else rel), is_pkg


def _imports(path: str):
    """(imported module, line) of every import that runs (not those under TYPE_CHECKING)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    mod, is_pkg = _module(path)
    pkg = mod if is_pkg else mod.rpartition(".")[0]
    typing_only = {id(n) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                   for n in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            if base.count(".") == 0:  # `from .. import load` / `from . import _wire`: each name may be a module
                for a in node.names:
                    yield f"{base}.{a.name}", node.lineno
            else:
                yield base, node.lineno


def _py_files():
    for d, _, files in os.walk(PKG):
        for f in files:
            if f.endswith(".py"):
                yield os.path.join(d, f)


def _arrows() -> dict[tuple[str, str], list[str]]:
    """(from part, to part) -> where (file:line), for imports between parts of vrprune."""
    out: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in _py_files():
        src = _part(path)
        for name, line in _imports(path):
            parts = name.split(".")
            if parts[0] != "vrprune":
                continue
            dst = parts[1] if len(parts) > 1 else "vrprune"
            if not (os.path.isdir(os.path.join(PKG, dst)) or os.path.isfile(os.path.join(PKG, dst + ".py"))):
                dst = "vrprune"  # a name of the package face (`from .. import load`)
            if dst != src:
                out[(src, dst)].append(f"{os.path.relpath(path, os.path.dirname(PKG))}:{line}")
    return out


ARROWS = _arrows()


def _from(src: str, *dsts: str) -> list[str]:
    return [f"{s} -> {d} ({', '.join(w)})" for (s, d), w in sorted(ARROWS.items()) if s == src and d in dsts]


def test_every_part_has_a_stage():
    parts = {_part(p) for p in _py_files()}
    assert parts <= set(STAGE), f"parts of vrprune without a stage in STAGES: {sorted(parts - set(STAGE))}"


def test_imports_run_from_higher_stages_to_lower_ones():
    up = [f"{s} -> {d} ({', '.join(w)})" for (s, d), w in sorted(ARROWS.items())
          if s in STAGE and d in STAGE and STAGE[d] > STAGE[s]]
    assert not up, "imports from a lower stage to a higher one:\n" + "\n".join(up)


@pytest.mark.parametrize("part", ["grammar", "model"])
def test_front_end_and_ir_import_no_later_stage(part):
    assert not _from(part, "verify", "exec", "net", "pipeline", "explore", "compile", "commands", "cli")


def test_verify_imports_no_runtime_network_explorer_or_command():
    assert not _from("verify", "exec", "net", "pipeline", "explore", "compile", "commands", "cli")


def test_exec_imports_no_checker_and_no_parser():
    assert not _from("exec", "verify", "grammar", "frontend", "net", "pipeline", "explore", "commands", "cli")


def test_only_cli_imports_commands():
    users = sorted({s for (s, d) in ARROWS if d == "commands"} - {"cli", "__main__"})
    assert not users, f"{users} import vrprune.commands: " + "; ".join(_from(users[0], "commands"))


def test_no_cycles_between_parts():
    import networkx as nx

    g = nx.DiGraph(list(ARROWS))
    cycles = list(nx.simple_cycles(g))
    assert not cycles, "import cycles between parts of vrprune: " + "; ".join(" -> ".join(c + c[:1]) for c in cycles)


def test_no_part_imports_another_parts_private_modules():
    """Packages import each other's faces (``__init__`` names), never ``pkg._module``."""
    bad = []
    for path in _py_files():
        src = _part(path)
        for name, line in _imports(path):
            parts = name.split(".")
            if parts[0] == "vrprune" and len(parts) > 2 and parts[1] != src and any(p.startswith("_") and
                                                                                  p != "__init__" for p in parts[2:]):
                bad.append(f"{os.path.relpath(path, os.path.dirname(PKG))}:{line}: {name}")
    assert not bad, "imports of another package's private module:\n" + "\n".join(bad)


# folders that packaging, .gitignore templates and linters treat as generated output (ruff's default
# exclude list skips them: vrprune/dist/ was never linted until it was renamed vrprune/net/)
GENERATED_NAMES = {"dist", "build", "_build", ".eggs", "venv", ".venv", "site-packages", "node_modules",
                   "__pypackages__", "buck-out", "out"}


def test_no_folder_named_like_build_output():
    bad = [os.path.relpath(os.path.join(d, n), os.path.dirname(PKG))
           for d, dirs, _ in os.walk(PKG) for n in dirs if n in GENERATED_NAMES]
    assert not bad, f"folders named like build output (tools ignore or delete them): {bad}"


ARGPARSE_OK = ("cli.py", "argtypes.py", "commands" + os.sep)


def test_argparse_only_at_the_command_line():
    """argparse (and parsers' add_argument) only in cli.py, commands/ and argtypes.py: the
    library takes typed options."""
    bad = []
    for path in _py_files():
        rel = os.path.relpath(path, PKG)
        if rel.startswith(ARGPARSE_OK):
            continue
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            uses = (isinstance(node, ast.Import) and any(a.name == "argparse" for a in node.names)) or \
                (isinstance(node, ast.ImportFrom) and node.module == "argparse") or \
                (isinstance(node, ast.Attribute) and node.attr in ("add_argument", "add_parser", "add_argument_group",
                                                                  "_actions"))
            if uses:
                bad.append(f"vrprune/{rel}:{node.lineno}")
    assert not bad, "argparse outside the command line: " + ", ".join(bad)


def test_net_neither_prints_nor_returns_exit_codes():
    """vrprune/net takes a split graph and options and returns a result (net.HostResult):
    commands/run.py renders it and chooses the exit code. No print, no sys.stdout/stderr, no
    sys.exit in the package."""
    bad = []
    for path in _py_files():
        rel = os.path.relpath(path, PKG)
        if not rel.startswith("net" + os.sep):
            continue
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print") or \
                    (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "sys"
                     and node.attr in ("stdout", "stderr", "exit")):
                bad.append(f"vrprune/{rel}:{node.lineno}")
    assert not bad, "printing or exiting in vrprune/net: " + ", ".join(bad)


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_runtime_imports_no_solver_and_no_parser():
    """Importing the runtime and computing a repetition vector pulls in neither z3 nor lark."""
    mods = _modules_after(
        "import vrprune.exec as e\n"
        "from vrprune.model import Actor, ActorKind, Direction, Fifo, Graph, Port, PortKind, PortRef, TokenType\n"
        "t = TokenType('u8', (), 1)\n"
        "a = Actor('A', ActorKind.SPA, (Port('o', Direction.OUT, PortKind.STATIC, t, 2, 2),))\n"
        "b = Actor('B', ActorKind.SPA, (Port('i', Direction.IN, PortKind.STATIC, t, 3, 3),))\n"
        "g = Graph('g', (a, b), (Fifo('f', PortRef('A', 'o'), PortRef('B', 'i'), 6, 0),))\n"
        "assert e.repetition_vector(g) == {'A': 3, 'B': 2}, e.repetition_vector(g)\n")
    assert not {m for m in mods if m.split(".")[0] in ("z3", "lark")}


def test_every_benchmark_imports():
    """bench/ uses the package's public names; a name moved inside vrprune must not break them
    silently (they are not run by the tests)."""
    bench = os.path.join(os.path.dirname(PKG), "bench")
    code = ("import importlib, os, sys\n"
            f"sys.path.insert(0, {bench!r})\n"
            f"for f in sorted(os.listdir({bench!r})):\n"
            "    if f.endswith('.py'):\n"
            "        importlib.import_module(f[:-3])\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
