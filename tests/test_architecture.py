"""The package's shape (README "Architecture"): who may import whom."""

from __future__ import annotations

import subprocess
import sys


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
