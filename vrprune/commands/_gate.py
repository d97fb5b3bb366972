"""How a command reports the pipeline's gate refusing a graph (vrprune.pipeline.prove_or_refuse)."""

from __future__ import annotations

from typing import TextIO

from ..diagnostics import render_all
from ..pipeline import Gate


def refused(gate: Gate, stderr: TextIO, message: str) -> int:
    """The checker's diagnostics, then the command's one-line ``message``, on stderr; returns
    the exit status of the verdict (1 refuted, 3 inconclusive)."""
    if gate.diagnostics:
        print(render_all(gate.diagnostics), file=stderr)
    print(message, file=stderr)
    return gate.exit_code
