"""Neurosurgeon-style prediction of every partition point from profiled actor times.

Model (per graph iteration = one frame; t_a = profiled seconds per firing of actor a on the
*reference* machine, q_a = firings per iteration, F = endpoint slowdown):

    endpoint  E = F * sum_{a on endpoint} q_a t_a
    server    S =     sum_{a on server}   q_a t_a
    transfer  X = sum_{cut edges e} bytes_e / bandwidth      (bytes per iteration)
    link      C = latency + X
    latency   L = E + C + S                                   (one frame, end to end)
    period    P = max(E, X, latency, S)                       (pipelined steady state)
    per frame T(N) = (L + (N - 1) P) / N                      (wall time of N frames / N)

Each side is modelled as one sequential device (the endpoint emulation runs endpoint
firings one at a time by default, see ``--endpoint-cores``), the link as a pipe that
overlaps consecutive messages. Fully local: L = P = F * sum q_a t_a.
Neurosurgeon (Kang et al., ASPLOS 2017) predicts L per layer split; the paper's Fig. 4
plots wall time per frame, so both are given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping as TMapping

from ..diagnostics import VrpruneError
from ..model import Graph
from ._partition import PartitionPoint


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """A network link: bandwidth in bytes/s, one-way latency in seconds."""

    name: str
    bandwidth_Bps: float
    latency_s: float

    def to_json(self) -> dict:
        return {"name": self.name, "bandwidth_Bps": self.bandwidth_Bps, "latency_s": self.latency_s}

    def as_run_option(self) -> str:
        """The value for ``vrprune run --link``."""
        from ..grammar import LINK_PRESETS

        if self.name in LINK_PRESETS:
            return self.name
        return f"{self.bandwidth_Bps / 1e6:g}MB/s,{self.latency_s * 1e3:g}ms"


_BW = {"B/s": 1.0, "kB/s": 1e3, "MB/s": 1e6, "GB/s": 1e9, "kb/s": 125.0, "Mb/s": 125e3, "Gb/s": 125e6}
_T = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
_CUSTOM = re.compile(r"^\s*([0-9.]+(?:e-?\d+)?)\s*([kMG]?[bB]/s)\s*,\s*([0-9.]+(?:e-?\d+)?)\s*(ns|us|ms|s)\s*$")


def parse_links(values: list[str]) -> list[LinkSpec]:
    """``--link`` values: comma-separated presets (``ethernet100,wifi16``) and/or a custom
    ``BW,LAT`` such as ``5MB/s,2ms`` (one per ``--link``)."""
    from ..grammar import LINK_PRESETS

    out: list[LinkSpec] = []
    for v in values:
        m = _CUSTOM.match(v)
        if m:
            bw = float(m.group(1)) * _BW[m.group(2)]
            lat = float(m.group(3)) * _T[m.group(4)]
            out.append(LinkSpec(v.replace(" ", ""), bw, lat))
            continue
        for name in (x.strip() for x in v.split(",") if x.strip()):
            if name not in LINK_PRESETS:
                raise VrpruneError(f"unknown link '{name}': use one of {', '.join(LINK_PRESETS)} "
                                   f"or a custom BW,LAT such as 5MB/s,2ms")
            bw, lat = LINK_PRESETS[name]
            out.append(LinkSpec(name, bw, lat))
    seen: set[str] = set()
    uniq = []
    for link in out:
        if link.name not in seen:
            seen.add(link.name)
            uniq.append(link)
    return uniq


@dataclass(frozen=True, slots=True)
class Prediction:
    endpoint_s: float
    server_s: float
    transfer_s: float
    link_s: float
    latency_s: float
    period_s: float
    per_frame_s: float

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}


def actor_times(graph: Graph, profile: TMapping | None = None) -> tuple[dict[str, float], list[str]]:
    """Seconds per firing for every actor: the profile's ``mean_s`` (schema
    vrprune/profile/1, or a plain {actor: seconds}), else the spec's ``time`` annotation,
    else 0. Returns (times, actors with no figure)."""
    prof = {}
    if profile:
        acts = profile.get("actors", profile) if isinstance(profile, dict) else {}
        for k, v in acts.items():
            if isinstance(v, dict):
                v = v.get("mean_s")
            if isinstance(v, (int, float)):
                prof[k] = float(v)
    out: dict[str, float] = {}
    missing = []
    for a in graph.actors:
        if a.name in prof:
            out[a.name] = prof[a.name]
        elif a.time_s is not None:
            out[a.name] = a.time_s
        else:
            out[a.name] = 0.0
            missing.append(a.name)
    return out, missing


def predict(point: PartitionPoint, times: TMapping[str, float], q: TMapping[str, int],
            link: LinkSpec | None, *, slowdown: float = 1.0, frames: int = 1) -> Prediction:
    """Predict one partition point over one link (see the module docstring)."""
    ep = slowdown * sum(q[a] * times.get(a, 0.0) for a in point.endpoint)
    sv = sum(q[a] * times.get(a, 0.0) for a in point.server)
    if point.local or link is None:
        x = c = 0.0
        lat = 0.0
    else:
        x = point.cut_bytes / link.bandwidth_Bps
        lat = link.latency_s
        c = lat + x
    latency = ep + c + sv
    period = max(ep, x, lat, sv)
    n = max(frames, 1)
    return Prediction(ep, sv, x, c, latency, period, (latency + (n - 1) * period) / n)
