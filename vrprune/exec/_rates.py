"""The repetition vector q of a graph, from its static rates (variable and control edges 1:1)."""

from __future__ import annotations

from fractions import Fraction
from math import gcd, lcm

from ..diagnostics import VrpruneError
from ..model import Graph


class InconsistentGraph(VrpruneError):
    """The balance equations have no positive solution."""


def repetition_vector(graph: Graph) -> dict[str, int]:
    """Smallest positive integer q with q[src] * rate(src) == q[dst] * rate(dst) on every
    static edge; variable-rate and control edges count as rate 1 at both ends (rule R6:
    a DPG's actors fire equally often). Each connected component is normalised on its own."""
    idx = graph.index()

    def rate(actor: str, port: str) -> int:
        p = idx.actors[actor].port(port)
        if p is None:
            raise VrpruneError(f"unknown port {actor}.{port}")
        return 1 if (p.is_variable or p.is_control) else p.rate

    adj: dict[str, list[tuple[str, Fraction, str]]] = {a.name: [] for a in graph.actors}
    for f in graph.fifos:
        rs, rd = rate(f.src.actor, f.src.port), rate(f.dst.actor, f.dst.port)
        # q[dst] = q[src] * rs / rd
        adj[f.src.actor].append((f.dst.actor, Fraction(rs, rd), f.name))
        adj[f.dst.actor].append((f.src.actor, Fraction(rd, rs), f.name))
    q: dict[str, Fraction] = {}
    for a in graph.actors:
        if a.name in q:
            continue
        comp = [a.name]
        q[a.name] = Fraction(1)
        stack = [a.name]
        while stack:
            x = stack.pop()
            for y, ratio, fname in adj[x]:
                want = q[x] * ratio
                if y not in q:
                    q[y] = want
                    comp.append(y)
                    stack.append(y)
                elif q[y] != want:
                    raise InconsistentGraph(f"inconsistent rates: fifo {fname} needs {y} to fire {want} times "
                                            f"per firing of {a.name}, another path needs {q[y]}")
        den = lcm(*(q[x].denominator for x in comp))
        ints = [int(q[x] * den) for x in comp]
        g = 0
        for v in ints:
            g = gcd(g, v)
        for x, v in zip(comp, ints):
            q[x] = Fraction(v // g)
    return {name: int(v) for name, v in q.items()}
