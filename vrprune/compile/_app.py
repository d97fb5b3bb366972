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
        from ..verify import VERDICT_EXIT_CODES

        return VERDICT_EXIT_CODES[self.verdict]


def compile_app(file: str, out_dir: str, *, graph: str | None = None, mapping: str | None = None,
                iterations: int | None = None, timeout_s: float = 60.0, port_base: int | None = None,
                tls: bool = True, params: Iterable[tuple[str, str, str]] = ()) -> CompileResult:
    """Load ``file``, prove it (split by ``mapping`` when given: the proof covers the TX/RX relays,
    as `vrprune run --mapping` proves it), and write the program into ``out_dir``. Nothing is
    written unless the verdict is "proved". ``params``: overrides of declared actor parameters
    ((actor, name, value text), as ``--param ACTOR.NAME=VALUE`` gives them)."""
    from ..pipeline import ProveOptions, load_app, prove_or_refuse

    app = load_app(file, graph, params, mapping)  # generated C carries static edges only across hosts
    gate = prove_or_refuse(app, ProveOptions(timeout_s=timeout_s, explain=True))
    rep, what = gate.report, app.describe()
    if not gate.ok or rep is None:
        return CompileResult(gate.verdict, rep, None, what)
    cert = rep.certificate
    bounds, method = (dict(cert.bounds), cert.method) if cert else ({}, "proved")
    sp, m = app.split, app.mapping
    if sp is None or m is None:
        prog = generate(app.graph, out_dir, source=file, repetition=dict(rep.repetition), bounds=bounds,
                        method=method, iterations=iterations)
        return CompileResult("proved", rep, prog, what)

    from ..net import fingerprint

    q = {a.name: rep.repetition.get(a.name, 1) for a in sp.local.actors}
    prog = generate(sp.local, out_dir, source=file, repetition=q, bounds=bounds, method=method,
                    iterations=iterations, mapping=m, split=sp, fingerprint=fingerprint(app.graph),
                    port_base=port_base if port_base is not None else m.platform.base_port, tls=tls)
    return CompileResult("proved", rep, prog, what)
