"""The distributed runner: two real ``vrprune run`` processes per (point, link).

The server side starts first (``--mapping server.map``), then the endpoint side
(``--mapping endpoint.map``); both get ``--link`` (shaping on each TX), ``--iterations N``,
``--profile`` and a port base of their own (runs never share TCP ports, so a port still in
TIME_WAIT from the previous run cannot collide). The endpoint side gets ``--slowdown F
--endpoint-cores C`` (the runtime's device emulation); both get ``--spans``, the firing times
that the measurement is computed from. The fully local point is one ``vrprune run`` process
(no mapping, no link), slowed as the endpoint.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from typing import Any, Callable, Sequence

from ..links import LinkSpec
from ..model import Graph, Platform
from ._partition import PartitionPoint
from ._sweep import Measurement, _frame_stats, mapping_text


def _ports_free(base: int, n: int) -> bool:
    for port in range(base, base + n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


class DistributedRunner:
    kind = "distributed"

    def __init__(self, *, app: str, graph_opt: str | None, platform: Platform, platform_path: str,
                 endpoint: str, server: str, slowdown: float = 1.0, endpoint_cores: int = 1,
                 stub_missing: bool = False, unchecked: bool = False, timeout_s: float = 300.0,
                 warn: Callable[[str], Any] | None = None, params: Sequence[tuple[str, str, str]] = ()) -> None:
        self.app = os.path.abspath(app)
        self.graph_opt = graph_opt
        self.platform, self.platform_path = platform, os.path.abspath(platform_path)
        self.endpoint, self.server = endpoint, server
        self.slowdown, self.endpoint_cores = slowdown, endpoint_cores
        self.stub_missing, self.unchecked = stub_missing, unchecked
        self.timeout_s = timeout_s
        self.warn = warn
        self.params = list(params)
        self._next = 21000 + (os.getpid() % 97) * 200

    def _base(self, n: int) -> int:
        for _ in range(200):
            base = self._next
            self._next += max(n, 1) + 8
            if self._next > 60000:
                self._next = 21000
            if _ports_free(base, n):
                return base
        return self._next

    def _cmd(self, run_opts: list[str]) -> list[str]:
        cmd = [sys.executable, "-m", "vrprune", "run", self.app, "--quiet", "--watchdog", "30"]
        if self.graph_opt:
            cmd += ["--graph", self.graph_opt]
        if self.stub_missing:
            cmd.append("--stub-missing")
        if self.unchecked:
            cmd.append("--unchecked")
        for actor, name, value in self.params:
            cmd += ["--param", f"{actor}.{name}={value}"]
        return cmd + run_opts

    def measure(self, graph: Graph, point: PartitionPoint, link: LinkSpec | None, *, frames: int,
                workdir: str) -> Measurement:
        from ..exec import repetition_vector

        workdir = os.path.abspath(workdir)  # the children run inside it: every path they get is absolute
        os.makedirs(workdir, exist_ok=True)
        q = repetition_vector(graph)
        tag = "local" if point.local or link is None else link.name.replace("/", "_").replace(",", "_")
        ep_slow = ["--slowdown", str(self.slowdown), "--endpoint-cores", str(self.endpoint_cores)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))] +
            ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        procs: list[tuple[str, subprocess.Popen, Any]] = []
        spans_files = {}
        prof_files = {}
        try:
            if point.local or link is None:
                sides = [("local", ep_slow, ["--iterations", str(frames)])]
            else:
                for host, fname in ((self.endpoint, "endpoint.map"), (self.server, "server.map")):
                    path = os.path.join(workdir, fname)
                    if not os.path.exists(path):
                        rel = os.path.relpath(self.platform_path, workdir)
                        with open(path, "w", encoding="utf-8") as mf:
                            mf.write(mapping_text(point, graph, self.platform, rel, host, self.endpoint,
                                                 self.server, host))
                base = self._base(len(graph.fifos))
                common = ["--iterations", str(frames), "--link", link.as_option(), "--port-base", str(base)]
                sides = [("server", [], ["--mapping", "server.map", *common]),
                         ("endpoint", ep_slow, ["--mapping", "endpoint.map", *common])]
            for side, so, ro in sides:
                spans_files[side] = os.path.join(workdir, f"{tag}.{side}.spans.json")
                prof_files[side] = os.path.join(workdir, f"{tag}.{side}.profile.json")
                for f in (spans_files[side], prof_files[side]):
                    if os.path.exists(f):
                        os.remove(f)
                log = open(os.path.join(workdir, f"{tag}.{side}.log"), "w", encoding="utf-8")
                cmd = self._cmd([*ro, *so, "--spans", spans_files[side], "--profile", prof_files[side]])
                log.write("$ " + " ".join(cmd) + "\n")
                log.flush()
                procs.append((side, subprocess.Popen(cmd, cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
                                                     env=env), log))
            deadline = time.monotonic() + self.timeout_s
            codes = {}
            timed_out = False
            for side, pr, _ in procs:
                try:
                    codes[side] = pr.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    timed_out = True
            if timed_out:
                for _side, pr, _ in procs:
                    if pr.poll() is None:
                        pr.terminate()
                        try:
                            pr.wait(5)
                        except subprocess.TimeoutExpired:
                            pr.kill()
                            pr.wait()
        finally:
            for _, pr, log in procs:
                if pr.poll() is None:
                    pr.kill()
                    pr.wait()
                log.close()
        spans: dict[str, list[tuple[float, float]]] = {}
        inner: dict[str, float] = {}
        for f in spans_files.values():
            try:
                with open(f, encoding="utf-8") as fh:
                    doc = json.load(fh)
            except (OSError, ValueError):
                continue
            for name, d in doc.items():
                spans[name] = [tuple(s) for s in d["spans"]]
                inner[name] = d["inner_s"]
        fs = _frame_stats(graph, q, spans)
        n = max(fs["frames"], 1)
        busy = {a: sum(b - s for s, b in sp) for a, sp in spans.items()}
        link_s = 0.0 if (point.local or link is None) else None
        if link is not None and not point.local and "endpoint" in prof_files:
            try:
                with open(prof_files["endpoint"], encoding="utf-8") as fh:
                    prof = json.load(fh)
                txs = [e["actor"] for e in prof.get("dist", {}).get("edges", {}).values() if e.get("role") == "tx"]
                tot = sum((prof["actors"].get(t, {}).get("total_s") or 0.0) for t in txs)
                link_s = tot / n + link.latency_s
            except (OSError, ValueError, KeyError, AttributeError):
                pass
        bad = {s: c for s, c in codes.items() if c != 0}
        if timed_out:
            status, msg = "timeout", f"no result within {self.timeout_s:g} s; logs in {workdir}"
        elif bad or not fs["frames"]:
            status = "error"
            msg = "; ".join(f"{s} side exited {c}{_exit_words(c)}" for s, c in bad.items()) or \
                "no frame reached the sinks"
            msg += f" (see {os.path.join(workdir, tag)}.*.log)"
        else:
            status, msg = "ok", ""
        return Measurement(
            status=status, runner=self.kind, frames=fs["frames"], wall_s=fs["wall_s"],
            per_frame_s=fs["wall_s"] / n, latency_s=fs["latency_s"], period_s=fs["period_s"],
            endpoint_s=sum(busy.get(a, 0.0) for a in point.endpoint) / n,
            server_s=sum(busy.get(a, 0.0) for a in point.server) / n, link_s=link_s,
            actor_s={a: inner[a] / len(spans[a]) if spans.get(a) else 0.0 for a in inner}, message=msg,
            exit_rate=_profiled_exit_rate(prof_files.values()))


def _profiled_exit_rate(paths: Any) -> float | None:
    """The share of CA firings that chose atr 0, from the hosts' profiles (their actors'
    ``atr_counts``)."""
    from ._sweep import exit_rate_of

    counts: dict[str, Any] = {}
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fh:
                prof = json.load(fh)
            counts.update({a: d.get("atr_counts") for a, d in prof.get("actors", {}).items() if isinstance(d, dict)})
        except (OSError, ValueError, AttributeError):
            continue
    return exit_rate_of(counts)


def _exit_words(code: int) -> str:
    """What a `vrprune run` exit status means, in words (for a failed run's message)."""
    if code < 0:
        return f" (killed by signal {-code})"
    return {1: " (the run failed)", 2: " (input error)", 3: " (the checker was inconclusive)",
            70: " (internal error in vrprune)", 130: " (interrupted)"}.get(code, "")
