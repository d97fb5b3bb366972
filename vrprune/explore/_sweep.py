"""Run and measure partition points: mapping files, runners, results.jsonl (resume).

A *runner* measures one partition point over one link and returns a :class:`Measurement`.
Two exist:

* :class:`EmulatedRunner` (``--runner emulated``): the whole graph in **one process**; every
  cut edge gets a TX stage (holds one link-wide lock for bytes / bandwidth: the link is
  shared and serialises) and an RX stage (waits the latency). No socket is involved: the
  numbers are labelled "emulated" everywhere they are shown.
* :class:`DistributedRunner` (``--runner distributed``): two ``python -m vrprune run``
  processes (endpoint and server mapping), TX/RX over loopback TCP, link shaping by
  ``vrprune run --link``.

Both slow the endpoint the same way, with the runtime's device emulation
(:class:`vrprune.exec._runtime.DeviceEmulation`, also ``vrprune run --slowdown F
--endpoint-cores C``): after each endpoint firing that took t seconds of real time, the actor
sleeps ``(F - 1) t`` (``--slowdown F``), and at most ``--endpoint-cores`` endpoint firings run
at a time (default 1: a weak single-core endpoint).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from ..exec import SlowedBackend
from ..links import LinkSpec
from ..model import Actor, ActorKind, Direction, Fifo, Graph, Platform, Port, PortKind, PortRef, UnitKind
from ._partition import PartitionPoint


@dataclass
class Measurement:
    """What one run of one partition point over one link measured (all per frame)."""

    status: str  # "ok" | "error" | "deadlock" | "interrupted" | "timeout"
    runner: str  # "emulated" | "distributed"
    frames: int
    wall_s: float  # first source firing -> last sink firing
    per_frame_s: float  # wall_s / frames
    latency_s: float | None  # mean per frame: its source firing starts -> its sink firing ends
    period_s: float | None  # mean gap between consecutive sink firings (steady state)
    endpoint_s: float  # busy time of the endpoint actors per frame (slowdown included)
    server_s: float  # busy time of the server actors per frame
    link_s: float | None  # transfer time per frame (TX busy + latency), when known
    actor_s: dict[str, float] = field(default_factory=dict)  # mean seconds per firing, before slowdown
    message: str = ""
    exit_rate: float | None = None  # share of the CAs' firings that chose atr 0 (early exits); None: no CA

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, d: dict) -> "Measurement":
        fields: dict[str, Any] = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**fields)


EXIT_RATES = (0.0, 0.25, 0.5, 0.75, 1.0)  # the exit rates every row of a graph with DPGs is predicted at


def exit_rate_of(counts: dict[str, Any]) -> float | None:
    """The share of CA firings that chose atr 0, from {actor: {atr: count}} (the runtime's
    ``ActorStats.atr_counts``, or a profile's ``atr_counts`` with string keys); None without
    any CA firing."""
    zero = total = 0
    for c in counts.values():
        for k, v in (c or {}).items():
            total += int(v)
            if str(k) == "0":
                zero += int(v)
    return zero / total if total else None


class Runner(Protocol):
    kind: str  # "emulated" | "distributed"

    def measure(self, graph: Graph, point: PartitionPoint, link: LinkSpec | None, *, frames: int,
                workdir: str) -> Measurement: ...


class _LinkStage:
    """TX (holds the shared link for bytes / bandwidth) or RX (waits the latency)."""

    def __init__(self, actor: Actor, link: LinkSpec, lock: threading.Lock, tx: bool) -> None:
        self.actor, self.unit = actor, None
        self.link, self.lock, self.tx = link, lock, tx
        self.busy_s = 0.0

    def init(self) -> None:
        pass

    def fire(self, ins, outs, atr):
        t0 = time.perf_counter()
        if self.tx:
            with self.lock:
                _sleep_until(t0 + ins[0].nbytes / self.link.bandwidth_Bps)
        else:
            _sleep_until(t0 + self.link.latency_s)
        np.copyto(outs[0], ins[0])
        self.busy_s += time.perf_counter() - t0

    def finish(self) -> None:
        pass


def _sleep_until(t: float) -> None:
    d = t - time.perf_counter()
    if d > 0:
        time.sleep(d)


def emulation_graph(graph: Graph, point: PartitionPoint) -> tuple[Graph, dict[str, tuple[str, bool]]]:
    """The graph with every cut edge ``src -> dst`` replaced by ``src -> tx -> rx -> dst``.
    Returns (graph, {stage actor: (fifo, is_tx)})."""
    from dataclasses import replace

    idx = graph.index()
    cut = {c.fifo for c in point.cut}
    actors = list(graph.actors)
    fifos: list[Fifo] = []
    stages: dict[str, tuple[str, bool]] = {}
    for f in graph.fifos:
        if f.name not in cut:
            fifos.append(f)
            continue
        sp = idx.src_port(f)
        tok, rate = sp.token, sp.rate
        cap = max(f.capacity or 1, rate)
        names = (f"tx[{f.name}]", f"rx[{f.name}]")
        for n, is_tx in zip(names, (True, False)):
            actors.append(Actor(n, ActorKind.SPA, (
                Port("x", Direction.IN, PortKind.STATIC, tok, rate, rate),
                Port("y", Direction.OUT, PortKind.STATIC, tok, rate, rate))))
            stages[n] = (f.name, is_tx)
        fifos.append(replace(f, dst=PortRef(names[0], "x"), capacity=cap))
        fifos.append(replace(f, name=f"{f.name}~link", src=PortRef(names[0], "y"), dst=PortRef(names[1], "x"),
                             capacity=cap, initial=0))
        fifos.append(replace(f, name=f"{f.name}~rx", src=PortRef(names[1], "y"), capacity=cap, initial=0))
    return replace(graph, actors=tuple(actors), fifos=tuple(fifos)), stages


def _frame_stats(graph: Graph, q: dict[str, int], spans: dict[str, list[tuple[float, float]]]) -> dict[str, Any]:
    """wall, frames, latency and period from the firing spans of sources and sinks."""
    sources = [a.name for a in graph.actors if not a.inputs and a.name in spans]
    sinks = [a.name for a in graph.actors if not a.outputs and a.name in spans]
    frames = min((len(spans[s]) // max(q[s], 1) for s in sinks), default=0)
    if not frames or not sources:
        return {"frames": frames, "wall_s": 0.0, "latency_s": None, "period_s": None}
    starts = [min(spans[s][k * q[s]][0] for s in sources) for k in range(frames)]
    ends = [max(spans[s][(k + 1) * q[s] - 1][1] for s in sinks) for k in range(frames)]
    wall = ends[-1] - starts[0]
    lat = sum(e - s for s, e in zip(starts, ends)) / frames
    period = (ends[-1] - ends[0]) / (frames - 1) if frames > 1 else None
    return {"frames": frames, "wall_s": wall, "latency_s": lat, "period_s": period}


class EmulatedRunner:
    """Measure a partition point in one process (see the module docstring). The numbers are
    an emulation: no sockets, no second process."""

    kind = "emulated"

    def __init__(self, *, slowdown: float = 1.0, endpoint_cores: int = 1, stub_missing: bool = False,
                 warn: Callable[[str], Any] | None = None, watchdog_s: float = 30.0) -> None:
        self.slowdown = slowdown
        self.endpoint_cores = endpoint_cores
        self.stub_missing = stub_missing
        self.warn = warn
        self.watchdog_s = watchdog_s
        self._warned = False

    def measure(self, graph: Graph, point: PartitionPoint, link: LinkSpec | None, *, frames: int,
                workdir: str) -> Measurement:
        from ..exec import DeviceEmulation, RunOptions, make_backend, make_runtime, repetition_vector

        g2, stages = emulation_graph(graph, point) if (link is not None and not point.local) else (graph, {})
        q = repetition_vector(g2)
        endpoint = DeviceEmulation(self.slowdown, self.endpoint_cores, spans=True)
        server = DeviceEmulation(1.0, 0, spans=True)
        lock = threading.Lock()
        ep = set(point.endpoint)
        backends: dict[str, Any] = {}
        wrapped: dict[str, SlowedBackend] = {}
        link_stages: list[_LinkStage] = []
        stubbed: list[str] = []
        for a in g2.actors:
            if a.name in stages:
                assert link is not None
                st = _LinkStage(a, link, lock, stages[a.name][1])
                backends[a.name] = st
                link_stages.append(st)
                continue
            inner = make_backend(a, None, stub_missing=self.stub_missing, warn=stubbed.append,
                                 stub_atr=_dpg_url(graph, a))
            w = (endpoint if a.name in ep else server).wrap(inner)
            backends[a.name] = wrapped[a.name] = w
        if stubbed and not self._warned and self.warn:
            self._warned = True
            self.warn(f"warning: {len(stubbed)} actors have no implementation; stubs zero-fill their outputs")
        os.makedirs(workdir, exist_ok=True)
        here = os.getcwd()
        os.chdir(workdir)  # actors that write files (sinks) write them here
        try:
            rt = make_runtime(g2, RunOptions(iterations=frames, watchdog_s=self.watchdog_s, native=False),
                              backends=backends, warn=lambda m: None, repetition=q)
            res = rt.run()
        finally:
            os.chdir(here)
        spans = {n: w.spans or [] for n, w in wrapped.items()}
        fs = _frame_stats(g2, q, spans)
        n = max(fs["frames"], 1)
        busy = {name: sum(b - a for a, b in sp) for name, sp in spans.items()}
        msg = "" if res.ok else res.describe()
        return Measurement(
            status=res.status if fs["frames"] or not res.ok else "error", runner=self.kind, frames=fs["frames"],
            wall_s=fs["wall_s"], per_frame_s=fs["wall_s"] / n, latency_s=fs["latency_s"], period_s=fs["period_s"],
            endpoint_s=sum(busy[a] for a in point.endpoint) / n,
            server_s=sum(busy[a] for a in point.server) / n,
            link_s=(sum(s.busy_s for s in link_stages if s.tx) / n + link.latency_s) if link_stages and link else
            (0.0 if point.local else None),
            actor_s={name: (w.inner_s / len(spans[name])) if spans[name] else 0.0 for name, w in wrapped.items()},
            message=msg if fs["frames"] else (msg or "no frame reached the sinks"),
            exit_rate=exit_rate_of({n: st.atr_counts for n, st in res.actors.items()}))


def _dpg_url(graph: Graph, a: Actor) -> int:
    if a.dpg is None:
        return 0
    for b in graph.actors:
        if b.dpg == a.dpg:
            for p in b.ports:
                if p.is_variable:
                    return p.url
    return 0


# ---------------------------------------------------------------------- mapping files


def assign_units(platform: Platform, host: str, actors: list[str], graph: Graph) -> dict[str, str]:
    """Actors of one host -> unit names: OpenCL actors to the host's first OpenCL unit,
    the rest round-robin over its CPU units, in the given order."""
    from ..model import OpenCLImpl

    h = platform.host(host)
    assert h is not None
    cpus = [u.name for u in h.units if u.kind is UnitKind.CPU] or [u.name for u in h.units]
    gpus = [u.name for u in h.units if u.kind is UnitKind.OPENCL]
    idx = graph.index()
    out = {}
    k = 0
    for a in actors:
        if gpus and isinstance(idx.actors[a].impl, OpenCLImpl):
            out[a] = gpus[0]
        else:
            out[a] = cpus[k % len(cpus)]
            k += 1
    return out


def mapping_text(point: PartitionPoint, graph: Graph, platform: Platform, platform_import: str,
                 this_host: str, endpoint: str, server: str, name: str) -> str:
    ep_units = assign_units(platform, endpoint, list(point.endpoint), graph)
    sv_units = assign_units(platform, server, list(point.server), graph)
    cut = ", ".join(f"{c.fifo} ({c.bytes_per_iteration} B)" for c in point.cut) or "nothing"
    lines = [f"// partition point {point.id} of graph '{graph.name}': {point.label}",
             f"// {len(point.endpoint)} actors on {endpoint}, {len(point.server)} on {server}; "
             f"crossing per frame: {cut}",
             "// written by `vrprune explore`",
             f'import "{platform_import}"', "",
             f"mapping {name} on {platform.name}.{this_host} {{"]
    w = max((len(a) for a in graph.index().actors), default=1)
    for a in point.endpoint:
        lines.append(f"  {a:<{w}} -> {endpoint}.{ep_units[a]}")
    for a in point.server:
        lines.append(f"  {a:<{w}} -> {server}.{sv_units[a]}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_point_files(outdir: str, point: PartitionPoint, graph: Graph, app_path: str, platform: Platform,
                      platform_path: str, endpoint: str, server: str, *, default_link: str = "ethernet100",
                      frames: int = 10, graph_opt: str | None = None, slowdown: float = 1.0,
                      endpoint_cores: int = 0, params: Sequence[tuple[str, str, str]] = ()) -> str:
    """DIR/points/<id>/{endpoint.map, server.map, run_endpoint.sh, run_server.sh, run.sh}.
    The endpoint's scripts (and the fully local one) pass ``--slowdown`` / ``--endpoint-cores``
    unless they are run's defaults (1, 0); every script passes ``params`` as ``--param``.
    Returns the point's folder."""
    import shlex

    d = os.path.join(outdir, "points", point.id)
    os.makedirs(d, exist_ok=True)
    rel_plat = os.path.relpath(os.path.abspath(platform_path), d)
    app = os.path.relpath(os.path.abspath(app_path), d)
    gopt = (f" --graph {graph_opt}" if graph_opt else "") + "".join(
        f" --param {shlex.quote(f'{a}.{n}={v}')}" for a, n, v in params)
    factor = f"{slowdown:g}" if float(f"{slowdown:g}") == slowdown else repr(float(slowdown))
    emu = ((f" --slowdown {factor}" if slowdown != 1.0 else "") +
           (f" --endpoint-cores {endpoint_cores}" if endpoint_cores else ""))
    if point.local:
        _write(os.path.join(d, "run.sh"), _script(
            f"fully local: every actor of '{graph.name}' on the endpoint; no mapping, no link",
            f'python -m vrprune run "{app}"{gopt}{emu} --iterations "$FRAMES" --profile local.profile.json',
            default_link, frames), exe=True)
        return d
    for host, fname in ((endpoint, "endpoint.map"), (server, "server.map")):
        _write(os.path.join(d, fname),
               mapping_text(point, graph, platform, rel_plat, host, endpoint, server, host))
    run = (f'python -m vrprune run "{app}"{gopt} --mapping {{side}}.map{{emu}} --link "$LINK" '
           f'--iterations "$FRAMES" --profile {{side}}.profile.json')
    _write(os.path.join(d, "run_server.sh"), _script(
        f"{point.id} ({point.label}): the server side. Start it first, on host '{server}'.",
        run.format(side="server", emu=""), default_link, frames), exe=True)
    _write(os.path.join(d, "run_endpoint.sh"), _script(
        f"{point.id} ({point.label}): the endpoint side, on host '{endpoint}'" +
        (" (emulated slower endpoint; drop the option(s) on a real one)." if emu else "."),
        run.format(side="endpoint", emu=emu), default_link, frames), exe=True)
    _write(os.path.join(d, "run.sh"), _script(
        f"{point.id} ({point.label}): both sides on this machine (loopback, link emulated by --link).",
        "./run_server.sh \"$LINK\" \"$FRAMES\" &\nSERVER=$!\n./run_endpoint.sh \"$LINK\" \"$FRAMES\"\nwait $SERVER",
        default_link, frames), exe=True)
    return d


def _script(comment: str, body: str, link: str, frames: int) -> str:
    return ("#!/bin/sh\n"
            f"# {comment}\n"
            f"# usage: $0 [LINK] [FRAMES]   LINK: ethernet100 | wifi16 | wifi72 | loopback | BW,LAT (default {link})\n"
            "set -e\n"
            'cd "$(dirname "$0")"\n'
            f'LINK="${{1:-{link}}}"\nFRAMES="${{2:-{frames}}}"\n'
            f"{body}\n")


def _write(path: str, text: str, exe: bool = False) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    if exe:
        os.chmod(tmp, 0o755)
    os.replace(tmp, path)


# ---------------------------------------------------------------------- results.jsonl


RESULTS = "results.jsonl"


def settings_fingerprint(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


class ResultLog:
    """DIR/results.jsonl: a header line with the sweep's settings, then one line per
    finished (point, link). Appended and flushed after every run, so a killed sweep loses
    at most the run in progress; a sweep started again with the same settings skips what
    is there. A torn last line (killed mid-write) is ignored."""

    def __init__(self, outdir: str, settings: dict, *, fresh: bool = False) -> None:
        self.path = os.path.join(outdir, RESULTS)
        self.settings = settings
        self.fp = settings_fingerprint(settings)
        self.done: dict[tuple[tuple[str, ...], str], dict] = {}
        os.makedirs(outdir, exist_ok=True)
        if fresh and os.path.exists(self.path):
            os.replace(self.path, self.path + ".old")
        if os.path.exists(self.path):
            self._read()
        else:
            self._append({"kind": "header", "fingerprint": self.fp, "settings": settings})

    def _read(self) -> None:
        from ..diagnostics import VrpruneError

        with open(self.path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        header = None
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                if i >= len(lines) - 2:  # torn last line
                    break
                raise VrpruneError(f"{self.path}:{i + 1}: not a JSON line; pass --fresh to start over") from None
            if header is None:
                header = rec
                if rec.get("kind") != "header" or rec.get("fingerprint") != self.fp:
                    old = rec.get("settings", {}) if isinstance(rec, dict) else {}
                    diff = sorted(k for k in set(old) | set(self.settings) if old.get(k) != self.settings.get(k))
                    raise VrpruneError(f"{self.path} holds a sweep with other settings "
                                       f"({', '.join(diff) or 'unknown'} differ); pass --fresh to start over "
                                       f"or choose another --out")
                continue
            if rec.get("kind") == "result":
                self.done[(tuple(rec["endpoint"]), rec["link"])] = rec
        # rewrite without a torn tail so that appends start on a fresh line
        with open(self.path, "rb") as f:
            data = f.read()
        if data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            with open(self.path, "wb") as f:
                f.write(data[:cut])

    def _append(self, rec: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def get(self, point: PartitionPoint, link: str) -> dict | None:
        return self.done.get((tuple(point.endpoint), link))

    def add(self, point: PartitionPoint, link: str, m: Measurement) -> dict:
        rec = {"kind": "result", "point": point.id, "endpoint": list(point.endpoint), "link": link,
               "measurement": m.to_json()}
        self._append(rec)
        self.done[(tuple(point.endpoint), link)] = rec
        return rec


# ---------------------------------------------------------------------- the sweep


@dataclass
class Row:
    point: PartitionPoint
    link: str  # link name, "-" for fully local
    private: bool
    predicted: Any  # Prediction
    measured: Measurement | None
    by_exit_rate: dict[float, Any] = field(default_factory=dict)  # exit rate -> Prediction (graphs with DPGs)

    @property
    def error(self) -> float | None:
        """(predicted - measured) / measured, per frame."""
        m = self.measured
        if m is None or m.status != "ok" or not m.per_frame_s:
            return None
        return (self.predicted.per_frame_s - m.per_frame_s) / m.per_frame_s

    def best_s(self) -> float:
        m = self.measured
        if m is not None and m.status == "ok":
            return m.per_frame_s
        return self.predicted.per_frame_s if m is None else float("inf")


@dataclass
class SweepResult:
    graph: str
    settings: dict
    runner: str  # "emulated" | "distributed" | "none" (predict-only)
    points: list[PartitionPoint]
    total_points: int
    exact_count: bool
    links: list[LinkSpec]
    times: dict[str, float]  # seconds per firing used by the prediction
    times_source: str
    rows: list[Row]
    floor: str  # the privacy floor, in words
    recommendation: dict[str, Row | None]  # per link name
    failures: int = 0  # runs that did not end cleanly (rows whose measurement is not "ok")
    why_none: dict[str, str] = field(default_factory=dict)  # per link without a recommendation: why
    has_times: bool = True  # the prediction has actor compute times (not communication only)
    exit_rate: float = 0.0  # the share of frames whose DPGs are pruned, used by the predictions
    exit_rate_source: str = ""  # "--exit-rate", "fully local run", ""  (no DPG)

    @property
    def failed_rows(self) -> list[Row]:
        return [r for r in self.rows if r.measured is not None and r.measured.status != "ok"]


class _Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, stream: Any, total: int) -> None:
        self.on = stream is not None and hasattr(stream, "isatty") and stream.isatty()
        self.stream, self.total, self.done = stream, total, 0
        self.t0 = time.monotonic()

    def show(self, what: str) -> None:
        if not self.on or not self.total:
            return
        frac = self.done / self.total
        width = 24
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        el = time.monotonic() - self.t0
        eta = f"  eta {el / frac - el:4.0f} s" if self.done else ""
        self.stream.write(f"\r[explore] [{bar}] {self.done}/{self.total} {what:<28.28}{eta}  ")
        self.stream.flush()

    def step(self, what: str) -> None:
        self.done += 1
        self.show(what)

    def close(self) -> None:
        if self.on:
            self.stream.write("\n")
            self.stream.flush()


def run_sweep(graph: Graph, prec: Any, *, links: list[LinkSpec], outdir: str, frames: int, slowdown: float,
              runner: Runner | None, max_points: int, min_local: int = 0, private_input: bool = False,
              profile: dict | None = None, fresh: bool = False, settings: dict | None = None,
              write_files: Callable[[PartitionPoint], Any] | None = None, progress: Any = None,
              measure_limit: int | None = None, log: Callable[[str], Any] | None = None,
              exit_rate: float | None = None) -> SweepResult:
    """Enumerate, predict and (unless ``runner`` is None) measure the partition points.

    Order: a fully local run first (the baseline, and the profile that the prediction
    uses unless ``profile`` is given); then the points are chosen (:func:`select_points`,
    best predicted first) and each (point, link) is run once. Finished runs are in
    ``outdir/results.jsonl``; a second call with the same settings resumes.
    ``measure_limit``: measure only the N points best predicted (the rest are predicted).
    ``exit_rate``: the share of frames whose DPGs are pruned (early exits) the predictions
    assume; None: as measured in the fully local run (0 without one). Rows of a graph with
    DPGs also get predictions at exit rates 0, 0.25, 0.5, 0.75 and 1 (``Row.by_exit_rate``).
    """
    import contextlib
    import io

    from ._partition import privacy_ok, select_points
    from ._predict import actor_times, estimate, predict

    log = log or (lambda m: None)
    settings = dict(settings or {})
    rlog = ResultLog(outdir, settings, fresh=fresh) if runner is not None else None
    q = prec.q
    full = prec.point(frozenset(range(len(prec.blocks))), "local")

    def run_one(point: PartitionPoint, link: LinkSpec | None) -> Measurement:
        assert runner is not None and rlog is not None
        key = link.name if link is not None else "-"
        rec = rlog.get(point, key)
        if rec is not None and rec["measurement"].get("status") == "ok":
            return Measurement.from_json(rec["measurement"])
        if rec is not None:  # a failed run is tried again, not resumed
            what = "the fully local run" if point.local else f"{point.id} over {key}"
            log(f"note: {what} failed before ({rec['measurement'].get('message') or 'no message'}); running it again")
        wd = os.path.join(outdir, "points", point.id)
        os.makedirs(wd, exist_ok=True)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):  # actors that print (sinks) print to DIR/points/ID/<link>.out
            try:
                m = runner.measure(graph, point, link, frames=frames, workdir=wd)
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # one failing point does not end the sweep
                m = Measurement("error", runner.kind, 0, 0.0, 0.0, None, None, 0.0, 0.0, None, {},
                                f"{type(exc).__name__}: {exc}")
        if out.getvalue():
            with open(os.path.join(wd, f"{key.replace('/', '_').replace(',', '_')}.out"), "w",
                      encoding="utf-8") as f:
                f.write(out.getvalue())
        rlog.add(point, key, m)
        return m

    # 1. baseline + profile
    local_m: Measurement | None = None
    bar = _Progress(progress, 0)
    if runner is not None:
        bar = _Progress(progress, 1)
        bar.show("fully local (profile)")
        local_m = run_one(full, None)
        bar.step("fully local")
    if profile is not None:
        times, missing = actor_times(graph, profile)
        source = "profile file"
    elif local_m is not None and local_m.status == "ok" and local_m.actor_s:
        times, missing = actor_times(graph, {"actors": local_m.actor_s})
        source = f"fully local run ({local_m.frames} frames, {runner.kind if runner else ''})"
    else:
        times, missing = actor_times(graph, None)
        source = "time annotations" if len(missing) < len(graph.actors) else "none (communication only)"
        if local_m is not None and local_m.status != "ok":
            source += f"; the fully local profiling run failed: {local_m.message or local_m.status}"
    has_times = not source.startswith("none")
    if missing and has_times:
        log(f"note: no time for {len(missing)} actors ({', '.join(missing[:6])}{'...' if len(missing) > 6 else ''}); "
            f"predicted as 0")

    # the endpoint's cores as the runs emulate them (--endpoint-cores; the CLI puts it in settings)
    ep_cores = int(settings.get("endpoint_cores", getattr(runner, "endpoint_cores", 1)))

    if exit_rate is not None:
        rate, rate_source = exit_rate, "--exit-rate"
    elif local_m is not None and local_m.exit_rate is not None:
        rate, rate_source = local_m.exit_rate, "fully local run"
    else:
        rate, rate_source = 0.0, ("no fully local run: 0 assumed" if graph.dpgs else "")

    def pred(p: PartitionPoint, link: LinkSpec | None, at: float | None = None) -> Any:
        return predict(p, times, q, link, graph=graph, slowdown=slowdown, frames=frames, endpoint_cores=ep_cores,
                       exit_rate=rate if at is None else at)

    def by_rate(p: PartitionPoint, link: LinkSpec | None) -> dict[float, Any]:
        return {r: pred(p, link, r) for r in EXIT_RATES} if graph.dpgs else {}

    def score(p: PartitionPoint) -> float:  # ranks thousands of down-sets: the model's quick estimate
        return min(estimate(p, times, q, link, graph=graph, slowdown=slowdown, frames=frames,
                            endpoint_cores=ep_cores) for link in links)

    def keep(p: PartitionPoint) -> bool:
        return privacy_ok(p, graph, min_local=min_local, private_input=private_input)

    pts, total, exact = select_points(prec, max_points, score=score)
    # keep the private points among the chosen: select_points keeps prefix cuts; make sure the
    # best-predicted private point is there even under a small budget
    if not any(keep(p) and not p.local for p in pts) and max_points > 1:
        priv, _, _ = select_points(prec, max_points, score=score, keep=keep)
        extra = [p for p in priv if not p.local and tuple(p.endpoint) not in {tuple(x.endpoint) for x in pts}]
        if extra:
            from ._partition import name_points
            pts = name_points(pts[:-1] + extra[:1]) if len(pts) >= max_points else name_points(pts + extra[:1])
    pts = [p for p in pts if not p.local]
    local_pt = full

    # which points to measure
    to_measure: set[tuple[str, ...]] = set()
    if runner is not None:
        ranked = sorted(pts, key=lambda p: (min(pred(p, link).per_frame_s for link in links), len(p.endpoint)))
        if measure_limit is not None:
            ranked = ranked[:measure_limit]
        to_measure = {tuple(p.endpoint) for p in ranked}

    if write_files is not None:
        for p in [local_pt] + pts:
            write_files(p)

    rows: list[Row] = [Row(local_pt, "-", True, pred(local_pt, None),
                           local_m, by_rate(local_pt, None))]
    jobs = [(p, link) for p in pts if tuple(p.endpoint) in to_measure for link in links]
    bar.total += len(jobs)
    measured: dict[tuple[tuple[str, ...], str], Measurement] = {}
    try:
        for p, link in jobs:
            bar.show(f"{p.id} {link.name}")
            measured[(tuple(p.endpoint), link.name)] = run_one(p, link)
            bar.step(f"{p.id} {link.name}")
    finally:
        bar.close()
    for p in pts:
        for link in links:
            rows.append(Row(p, link.name, keep(p), pred(p, link),
                            measured.get((tuple(p.endpoint), link.name)), by_rate(p, link)))

    rec: dict[str, Row | None] = {}
    why_none: dict[str, str] = {}
    for link in links:
        private = [r for r in rows if r.link in (link.name, "-") and r.private]
        cands = [r for r in private if r.best_s() < float("inf")]
        # measured rows beat predicted-only ones: compare like with like when anything was measured
        if any(r.measured is not None for r in cands):
            cands = [r for r in cands if r.measured is not None]
        elif not has_times:  # a prediction without compute times says nothing about the fastest point
            cands = []
        rec[link.name] = min(cands, key=lambda r: (r.best_s(), len(r.point.endpoint))) if cands else None
        if cands:
            continue
        if not private:
            why_none[link.name] = "no point meets the privacy floor"
        elif all(r.measured is not None for r in private):
            why_none[link.name] = "every run of a point that meets the privacy floor failed"
        else:
            why = ("the fully local profiling run failed" if local_m is not None and local_m.status != "ok"
                   else "no profile and no `time` annotations")
            why_none[link.name] = (f"nothing measured, and the prediction has no actor compute times ({why}); "
                                   f"give --profile or fix the fully local run")
    floor = []
    if min_local:
        floor.append(f"at least {min_local} actors on the endpoint")
    if private_input:
        floor.append("the raw input never leaves the endpoint")
    return SweepResult(graph.name, settings, runner.kind if runner else "none", [local_pt] + pts, total, exact,
                       links, times, source, rows, "; ".join(floor) or "none",
                       rec, failures=sum(1 for r in rows if r.measured is not None and r.measured.status != "ok"),
                       why_none=why_none, has_times=has_times, exit_rate=rate, exit_rate_source=rate_source)
