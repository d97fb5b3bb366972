"""Link emulation on the TX side: token-bucket bandwidth plus one-way latency.

``--link ethernet100|wifi16|wifi72|loopback`` takes the presets of the Edge-PRUNE paper
(Table II, :data:`vrprune.grammar.LINK_PRESETS`); ``--link 11.2MB/s,1.3ms`` gives both
figures; ``--link platform`` takes the platform's ``link`` between the two hosts.

Model: a frame of ``n`` bytes occupies the link for ``n / bandwidth`` seconds (the bucket holds
at most ``burst`` bytes of credit); the TX thread waits for that, as it would behind a full
network card, so bandwidth back-pressure reaches the sender. The frame then travels for
``latency`` seconds on a delay line (its own thread, one copy of the payload) before it is
written to the socket: frames in flight overlap, as on a real link.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable

from ._wire import DistError

_BW = {"B/s": 1.0, "kB/s": 1e3, "KB/s": 1e3, "MB/s": 1e6, "GB/s": 1e9, "kb/s": 125.0, "Kb/s": 125.0,
       "Mb/s": 125e3, "Gb/s": 125e6}
_T = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


@dataclass(frozen=True)
class LinkSpec:
    bandwidth_Bps: float
    latency_s: float
    name: str = ""

    def __str__(self) -> str:
        return f"{self.name + ': ' if self.name else ''}{self.bandwidth_Bps / 1e6:g} MB/s, {self.latency_s * 1e3:g} ms"


def parse_link(text: str) -> LinkSpec:
    """``ethernet100`` / ``wifi16`` / ``wifi72`` / ``loopback`` or ``BANDWIDTH,LATENCY``."""
    from ..grammar import LINK_PRESETS

    t = text.strip()
    if t in LINK_PRESETS:
        bw, lat = LINK_PRESETS[t]
        return LinkSpec(bw, lat, t)
    m = re.fullmatch(r"\s*([0-9.]+(?:e-?\d+)?)\s*([kKMG]?[bB]/s)\s*,\s*([0-9.]+(?:e-?\d+)?)\s*(ns|us|ms|s)\s*", t)
    if not m or m.group(2) not in _BW:
        raise DistError(f"--link {text!r}: expected one of {', '.join(LINK_PRESETS)} or BANDWIDTH,LATENCY "
                        f"such as 11.2MB/s,1.3ms (units {', '.join(_BW)}; {', '.join(_T)})")
    bw = float(m.group(1)) * _BW[m.group(2)]
    if bw <= 0:
        raise DistError(f"--link {text!r}: bandwidth must be positive")
    return LinkSpec(bw, float(m.group(3)) * _T[m.group(4)], "")


_STOP = object()


class ShapedSender:
    """Wraps a ``send(header, payload)`` function with bandwidth and latency shaping."""

    def __init__(self, spec: LinkSpec, send: Callable[[bytes, memoryview | bytes], None], name: str,
                 burst_bytes: int = 16384, max_in_flight: int = 64) -> None:
        self.spec = spec
        self._send = send
        self._burst_s = burst_bytes / spec.bandwidth_Bps
        self._free = 0.0  # virtual time at which the link is free again
        self._q: queue.Queue = queue.Queue(max_in_flight)
        self.error: BaseException | None = None
        self._t = threading.Thread(target=self._run, name=f"vrprune:link:{name}", daemon=True)
        self._t.start()

    def submit(self, header: bytes, payload: memoryview | bytes) -> None:
        if self.error is not None:
            raise self.error
        n = len(header) + len(payload)
        now = time.perf_counter()
        free = max(self._free, now - self._burst_s) + n / self.spec.bandwidth_Bps
        self._free = free
        if free > now:
            time.sleep(free - now)
        self._q.put((free + self.spec.latency_s, header, bytes(payload)))

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is _STOP:
                return
            at, header, payload = item
            d = at - time.perf_counter()
            if d > 0:
                time.sleep(d)
            if self.error is None:
                try:
                    self._send(header, payload)
                except BaseException as exc:  # reported at the next submit / close
                    self.error = exc

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is in flight, then stop."""
        try:
            self._q.put(_STOP, timeout=timeout)
        except queue.Full:
            return
        self._t.join(timeout)
        if self.error is not None:
            raise self.error

    def abandon(self) -> None:
        self.error = self.error or DistError("link closed")
        try:
            while True:
                self._q.get_nowait()
        except queue.Empty:
            pass
        try:
            self._q.put_nowait(_STOP)
        except queue.Full:
            pass
