"""A back-end wrapper: random delays around firings, the CA's atr replaced by a random
admissible one, and a running hash of every token the actor writes (one per output fifo)."""

from __future__ import annotations

import hashlib
import random
import time
from typing import Any

from ..exec import END, ActorBackend
from ..model import ActorKind


class FuzzBackend(ActorBackend):
    """Wraps ``inner`` (any back-end). ``atr``: for a CA, the random generator of its rate
    choices (each firing returns ``atr.randint(lrl, url)`` instead of the actor's own choice;
    the actor's ``fire`` still runs, so its state advances). ``delays``: a generator for sleeps
    of up to ``max_delay_us`` before and after firings (None: no delays)."""

    def __init__(self, inner: ActorBackend, out_fifos: list[str], *, atr: random.Random | None = None,
                 bounds: tuple[int, int] = (0, 0), delays: random.Random | None = None,
                 max_delay_us: float = 500.0) -> None:
        super().__init__(inner.actor, inner.unit)
        self.inner = inner
        self.out_fifos = out_fifos
        self.hashes = [hashlib.sha256() for _ in out_fifos]
        self.tokens = [0] * len(out_fifos)
        self.atr_rng = atr
        self.bounds = bounds
        self.delays = delays
        self.max_delay = max_delay_us * 1e-6
        self.is_ca = inner.actor.kind is ActorKind.CA
        self.chosen: list[int] = []

    def init(self) -> None:
        self.inner.init()

    def finish(self) -> None:
        self.inner.finish()

    def _sleep(self) -> None:
        d = self.delays
        if d is not None and d.random() < 0.3:
            time.sleep(d.random() * self.max_delay)

    def fire(self, ins: list[Any], outs: list[Any], atr: int | None) -> Any:
        self._sleep()
        ret = self.inner.fire(ins, outs, atr)
        self._sleep()
        if ret is END:
            return ret
        for i, o in enumerate(outs):
            self.hashes[i].update(o.tobytes())
            self.tokens[i] += o.shape[0]
        if self.is_ca and self.atr_rng is not None:
            a = self.atr_rng.randint(*self.bounds)
            self.chosen.append(a)
            return a
        return ret

    def digests(self) -> dict[str, tuple[int, str]]:
        return {f: (n, h.hexdigest()) for f, n, h in zip(self.out_fifos, self.tokens, self.hashes)}
