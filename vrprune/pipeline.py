"""The library pipeline from a file to running threads, each stage once:

    load_app(file, graph, params, mapping)    # text -> IR (vrprune.grammar), split by the mapping (vrprune.net)
    prove_or_refuse(app, ProveOptions(...))   # the checker's verdict (vrprune.verify), or "unchecked"
    make_runtime(graph, RunOptions(...), ...) # threads, FIFOs and actor back-ends (vrprune.exec)

(:class:`~vrprune.exec.RunOptions` and :func:`~vrprune.exec.make_runtime` live in vrprune.exec,
so that the distributed runner builds its Runtime the same way without importing this module.)

`vrprune run`, `explore`, `fuzz` and `compile` go through these functions; none of them
proves, splits or builds a Runtime on its own. Options are typed dataclasses, not argparse
namespaces: only vrprune.commands and vrprune.cli know the command line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .model import Graph, Mapping

if TYPE_CHECKING:
    from .net import Split
    from .verify import Report


@dataclass(frozen=True)
class App:
    """A loaded application graph; with a mapping, also its split for this host (TX/RX
    inserted, see :func:`vrprune.net.split`)."""

    graph: Graph
    mapping: Mapping | None = None
    split: Split | None = None

    @property
    def proof_graph(self) -> Graph:
        """The graph the checker proves: the split graph with its TX/RX relays, or the graph."""
        return self.split.proof if self.split is not None else self.graph

    @property
    def local(self) -> Graph:
        """The graph this process runs: this host's share, or the whole graph."""
        return self.split.local if self.split is not None else self.graph

    def describe(self) -> str:
        if self.mapping is None:
            return f"graph '{self.graph.name}'"
        return f"graph '{self.graph.name}' split by mapping '{self.mapping.name}' (TX/RX inserted)"


def load_app(file: str, graph: str | None = None, params: Iterable[tuple[str, str, str]] = (),
             mapping: str | Mapping | None = None, *, dynamic: bool = False) -> App:
    """Load ``file`` (.vpr or SDF3 XML) with the ``params`` overrides, and split it by ``mapping``
    (a mapping file or a loaded :class:`Mapping`) when one is given. ``dynamic``: variable-rate
    and control edges may cross hosts (the Python runtime; generated C carries static edges only).
    Raises :class:`~vrprune.diagnostics.DiagnosticError` / :class:`~vrprune.VrpruneError`."""
    from . import load, load_mapping

    g = load(file, graph, params)
    if mapping is None:
        return App(g)
    from .net import split

    m = load_mapping(mapping) if isinstance(mapping, str) else mapping
    return App(g, m, split(g, m, dynamic=dynamic))


@dataclass(frozen=True)
class ProveOptions:
    """How the gate before a run proves: ``unchecked`` skips the proof (the caller warns)."""

    timeout_s: float | None = 60.0
    unchecked: bool = False
    explain: bool = False


@dataclass(frozen=True)
class Gate:
    """The verdict that lets a graph run (or be compiled): "proved", "refuted", "inconclusive",
    or "unchecked" (not proved, on request)."""

    app: App
    verdict: str
    report: Report | None = None

    @property
    def ok(self) -> bool:
        """True when the graph may run: proved, or unchecked on request."""
        return self.verdict in ("proved", "unchecked")

    @property
    def exit_code(self) -> int:
        """0 (proved or unchecked), 1 (refuted), 3 (inconclusive)."""
        if self.verdict == "unchecked":
            return 0
        from .verify import VERDICT_EXIT_CODES

        return VERDICT_EXIT_CODES[self.verdict]

    @property
    def diagnostics(self) -> list:
        return list(self.report.diagnostics) if self.report is not None else []

    def repetition(self) -> dict[str, int] | None:
        """The proved repetition vector of the graph this process runs (None when unchecked:
        the runtime computes it)."""
        if self.report is None or not self.report.repetition:
            return None
        q = dict(self.report.repetition)
        return self.app.split.local_repetition(q) if self.app.split is not None else q

    def proof_line(self) -> str:
        """What was proved before the run, in one line (the run summary's)."""
        if self.report is None:
            return "not proved before the run (--unchecked): it may deadlock or overflow"
        what = " (the split graph, TX/RX inserted)" if self.app.split is not None else ""
        props = [p.name.replace("-", " ") for p in self.report.properties if p.status == "proved"]
        return f"proved before the run{what}: {', '.join(props)} (every admissible rate; see `vrprune check`)"


def prove_or_refuse(app: App, options: ProveOptions = ProveOptions()) -> Gate:
    """The one gate before running or compiling: prove the graph that will run (the split graph
    when there is a mapping: the proof covers the TX/RX relays). The caller runs only when
    ``gate.ok``, and otherwise reports ``gate.diagnostics`` and exits with ``gate.exit_code``."""
    if options.unchecked:
        return Gate(app, "unchecked")
    from .verify import prove

    rep = prove(app.proof_graph, timeout_s=options.timeout_s, explain=options.explain)
    return Gate(app, rep.verdict, rep)
