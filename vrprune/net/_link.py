"""Link emulation on the TX side: token-bucket bandwidth plus one-way latency.

``--link ethernet100|wifi16|wifi72|loopback`` takes the presets of the Edge-PRUNE paper
(Table II, :data:`vrprune.links.LINK_PRESETS`); ``--link 11.2MB/s,1.3ms`` gives both
figures (both read by :func:`vrprune.links.parse_link`); ``--link platform`` takes the
platform's ``link`` between the two hosts.

Model: a frame of ``n`` bytes occupies the link for ``n / bandwidth`` seconds (the bucket holds
at most ``burst`` bytes of credit); the TX thread waits for that, as it would behind a full
network card, so bandwidth back-pressure reaches the sender. The frame then travels for
``latency`` seconds on a delay line (its own thread, one copy of the payload) before it is
written to the socket: frames in flight overlap, as on a real link.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Callable

from ..links import LinkSpec
from ._wire import DistError

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
