"""The repetition vector q for the runtime: the verifier's exact computation, as an exception."""

from __future__ import annotations

from ..diagnostics import VrpruneError
from ..model import Graph


class InconsistentGraph(VrpruneError):
    """The balance equations have no positive solution."""


def repetition_vector(graph: Graph) -> dict[str, int]:
    """q[a] for every actor (see vrprune.verify.repetition_vector); raises InconsistentGraph."""
    from ..verify import repetition_vector as q_of

    q, diags = q_of(graph)
    if diags:
        raise InconsistentGraph("; ".join(f"{d.span}: {d.message}" for d in diags))
    return q
