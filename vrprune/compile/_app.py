"""Prove, then generate: the whole of `vrprune compile` short of the command line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ._gen import Program, generate


@dataclass
class CompileResult:
    verdict: str  # "proved" | "refuted" | "inconclusive"
    report: Any  # vrprune.verify.Report of the graph that was proved
    program: Program | None  # None unless proved
    proved_graph: str  # "graph 'x'" or "graph 'x' split by mapping 'm' (TX/RX inserted)"

    @property
    def exit_code(self) -> int:
        return {"proved": 0, "refuted": 1, "inconclusive": 3}.get(self.verdict, 1)


def compile_app(file: str, out_dir: str, *, graph: str | None = None, mapping: str | None = None,
                iterations: int | None = None, timeout_s: float = 60.0, port_base: int | None = None,
                tls: bool = True, params: Iterable[tuple[str, str, str]] = ()) -> CompileResult:
    """Load ``file``, prove it (split by ``mapping`` when given: the proof covers the TX/RX relays,
    as `vrprune run --mapping` proves it), and write the program into ``out_dir``. Nothing is
    written unless the verdict is "proved". ``params``: overrides of declared actor parameters
    ((actor, name, value text), as ``--param ACTOR.NAME=VALUE`` gives them)."""
    from .. import load, load_mapping
    from ..verify import prove

    g = load(file, graph, params)
    if mapping is None:
        rep = prove(g, timeout_s=timeout_s, explain=True)
        what = f"graph '{g.name}'"
        if rep.verdict != "proved":
            return CompileResult(rep.verdict, rep, None, what)
        cert = rep.certificate
        prog = generate(g, out_dir, source=file, repetition=dict(rep.repetition),
                        bounds=dict(cert.bounds) if cert else {}, method=cert.method if cert else "proved",
                        iterations=iterations)
        return CompileResult("proved", rep, prog, what)

    from ..dist import fingerprint, split

    m = load_mapping(mapping)
    sp = split(g, m)
    rep = prove(sp.proof, timeout_s=timeout_s, explain=True)
    what = f"graph '{g.name}' split by mapping '{m.name}' (TX/RX inserted)"
    if rep.verdict != "proved":
        return CompileResult(rep.verdict, rep, None, what)
    cert = rep.certificate
    q = {a.name: rep.repetition.get(a.name, 1) for a in sp.local.actors}
    prog = generate(sp.local, out_dir, source=file, repetition=q, bounds=dict(cert.bounds) if cert else {},
                    method=cert.method if cert else "proved", iterations=iterations, mapping=m, split=sp,
                    fingerprint=fingerprint(g),
                    port_base=port_base if port_base is not None else m.platform.base_port, tls=tls)
    return CompileResult("proved", rep, prog, what)
