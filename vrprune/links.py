"""Network links: the presets of the Edge-PRUNE paper, the units of bandwidth and time, and
the one parser of ``--link`` values that `vrprune run`, `vrprune explore` and the platform
files' ``link`` lines share.

    parse_link("ethernet100")        # LinkSpec('ethernet100', 11.2e6, 0.00135)
    parse_link("11.2MB/s,1.3ms")     # LinkSpec('', 11.2e6, 0.0013)
    parse_links(["ethernet100,wifi16", "5MB/s,2ms"])   # explore's --link values
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .diagnostics import VrpruneError

LINK_PRESETS: dict[str, tuple[float, float]] = {
    # name: (bandwidth bytes/s, latency s) -- measured figures of the Edge-PRUNE paper, Table II
    "ethernet100": (11.2e6, 1.35e-3),
    "wifi16": (2.3e6, 2.15e-3),
    "wifi72": (4.7e6, 1.22e-3),
    "loopback": (2.5e9, 33e-6),
}
# bytes per second of each bandwidth unit (B = byte, b = bit; k and K both mean 1000)
BANDWIDTH_UNITS: dict[str, float] = {"B/s": 1.0, "kB/s": 1e3, "KB/s": 1e3, "MB/s": 1e6, "GB/s": 1e9,
                                     "kb/s": 125.0, "Kb/s": 125.0, "Mb/s": 125e3, "Gb/s": 125e6}
TIME_UNITS: dict[str, float] = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}

_NUMBER = r"(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
_CUSTOM = re.compile(r"\s*" + _NUMBER + r"\s*(" + "|".join(map(re.escape, BANDWIDTH_UNITS)) + r")\s*,\s*"
                     + _NUMBER + r"\s*(" + "|".join(TIME_UNITS) + r")\s*")
_EXAMPLE = "BANDWIDTH,LATENCY such as 11.2MB/s,1.3ms"


class LinkError(VrpruneError, ValueError):
    """A link value that is neither a preset nor BANDWIDTH,LATENCY with units."""


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """A network link: bandwidth in bytes/s, one-way latency in seconds; ``name`` is the preset's
    (or the label a sweep gives it), empty for a custom link."""

    name: str
    bandwidth_Bps: float
    latency_s: float

    def __str__(self) -> str:
        return f"{self.name + ': ' if self.name else ''}{self.bandwidth_Bps / 1e6:g} MB/s, {self.latency_s * 1e3:g} ms"

    def to_json(self) -> dict:
        return {"name": self.name, "bandwidth_Bps": self.bandwidth_Bps, "latency_s": self.latency_s}

    def as_option(self) -> str:
        """The value for ``vrprune run --link`` that :func:`parse_link` reads back as this link."""
        if LINK_PRESETS.get(self.name) == (self.bandwidth_Bps, self.latency_s):
            return self.name
        return f"{self.bandwidth_Bps / 1e6:.12g}MB/s,{self.latency_s * 1e3:.12g}ms"


def _units() -> str:
    return f"bandwidth in {', '.join(BANDWIDTH_UNITS)}; latency in {', '.join(TIME_UNITS)}"


def parse_link(text: str) -> LinkSpec:
    """A preset (``ethernet100``, ``wifi16``, ``wifi72``, ``loopback``) or ``BANDWIDTH,LATENCY``
    with units (``11.2MB/s,1.3ms``, ``100Mb/s, 500us``). Raises :class:`LinkError`."""
    t = text.strip()
    if t in LINK_PRESETS:
        bw, lat = LINK_PRESETS[t]
        return LinkSpec(t, bw, lat)
    m = _CUSTOM.fullmatch(t)
    if not m:
        raise LinkError(f"unknown link {text!r}: use one of {', '.join(LINK_PRESETS)} or {_EXAMPLE} "
                        f"({_units()})")
    bw = float(m.group(1)) * BANDWIDTH_UNITS[m.group(2)]
    if bw <= 0:
        raise LinkError(f"link {text!r}: the bandwidth must be positive")
    return LinkSpec("", bw, float(m.group(3)) * TIME_UNITS[m.group(4)])


def parse_links(values: list[str]) -> list[LinkSpec]:
    """Several links, as `vrprune explore --link` takes them: comma-separated presets
    (``ethernet100,wifi16``) or one custom ``BW,LAT`` (named by its text) per value; each link
    once, in order."""
    out: dict[str, LinkSpec] = {}
    for v in values:
        if _CUSTOM.fullmatch(v.strip()):
            spec = parse_link(v)
            name = v.replace(" ", "")
            out.setdefault(name, LinkSpec(name, spec.bandwidth_Bps, spec.latency_s))
            continue
        for name in (x.strip() for x in v.split(",") if x.strip()):
            out.setdefault(name, parse_link(name))
    return list(out.values())
