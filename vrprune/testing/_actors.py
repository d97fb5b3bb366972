"""Generic checking actors: run any graph in the executor with tokens that carry their own
identity, random admissible atr choices and random scheduling delays.

Token ``k`` of a fifo (counting the initial tokens from 0) carries ``k + 1`` as a little-endian
u32 in its first 4 bytes and, when the token has 8 bytes or more, ``fifo number + 1`` in the
next 4 (initial tokens are all zeros, as the runtime creates them). Every actor checks each
token it reads against the number it expects next on that fifo, so a token lost, duplicated,
reordered, overwritten or delivered to the wrong fifo fails the firing (the run ends with
status "error" and the failure names the fifo and the token).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from ..exec import ActorBackend
from ..model import ActorKind, Graph


class TokenCheckError(AssertionError):
    """A checking actor read a token that is not the one it expected."""


@dataclass
class CheckLog:
    """What the checking actors of one run saw: tokens moved per fifo, atr chosen per DPG."""

    consumed: dict[str, int] = field(default_factory=dict)
    produced: dict[str, int] = field(default_factory=dict)
    atr: dict[str, list[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _u32(arr: np.ndarray, col: int) -> np.ndarray:
    return np.ascontiguousarray(arr[:, col:col + 4]).view("<u4").ravel()


class CheckingActor(ActorBackend):
    """Writes numbered tokens, checks the numbers of the tokens it reads; a CA picks a random
    atr in [lrl, url]; every firing sleeps ``0..max_delay_us`` microseconds with probability
    ``delay_p`` (before or after its work, at random)."""

    def __init__(self, graph: Graph, name: str, log: CheckLog, rng: random.Random,
                 max_delay_us: float = 0.0, delay_p: float = 0.3) -> None:
        ix = graph.index()
        actor = ix.actors[name]
        super().__init__(actor, None)
        self.log = log
        self.rng = rng
        self.max_delay = max_delay_us * 1e-6
        self.delay_p = delay_p
        number = {f.name: i for i, f in enumerate(graph.fifos)}
        self.ins = []  # (fifo name, number, initial, token bytes), data inputs in port order
        self.outs = []
        for p in actor.ports:
            if p.is_control:
                continue
            if p.direction.value == "in":
                f = ix.by_dst[(name, p.name)]
                self.ins.append((f.name, number[f.name], f.initial, ix.token_bytes(f)))
            else:
                f = ix.by_src[(name, p.name)]
                self.outs.append((f.name, number[f.name], f.initial, ix.token_bytes(f)))
        self.next_in = [0] * len(self.ins)
        self.next_out = [ini for _, _, ini, _ in self.outs]
        self.dpg = actor.dpg
        self.bounds = (0, 0)
        if actor.kind is ActorKind.CA:
            var = [p for a in graph.actors if a.dpg == actor.dpg for p in a.ports if p.is_variable]
            self.bounds = (var[0].lrl, var[0].url) if var else (1, 1)
        self.is_ca = actor.kind is ActorKind.CA

    def _delay(self) -> None:
        if self.max_delay and self.rng.random() < self.delay_p:
            time.sleep(self.rng.random() * self.max_delay)

    def fire(self, ins, outs, atr):
        before = self.rng.random() < 0.5
        if before:
            self._delay()
        for i, arr in enumerate(ins):
            fname, num, initial, tb = self.ins[i]
            n = arr.shape[0]
            k0 = self.next_in[i]
            if n:
                ks = np.arange(k0, k0 + n, dtype=np.int64)
                want = np.where(ks < initial, 0, ks + 1).astype(np.uint32)
                got = _u32(arr, 0)
                bad = np.nonzero(got != want)[0]
                if tb >= 8:
                    tag = np.where(ks < initial, 0, num + 1).astype(np.uint32)
                    bad = np.union1d(bad, np.nonzero(_u32(arr, 4) != tag)[0])
                if bad.size:
                    j = int(bad[0])
                    raise TokenCheckError(f"fifo {fname}: token {k0 + j} carries {int(got[j])}"
                                          + (f" (fifo tag {int(_u32(arr, 4)[j])})" if tb >= 8 else "")
                                          + f", expected {int(want[j])}"
                                          + (f" (fifo tag {num + 1})" if tb >= 8 else ""))
            self.next_in[i] = k0 + n
        for i, arr in enumerate(outs):
            fname, num, _initial, tb = self.outs[i]
            n = arr.shape[0]
            k0 = self.next_out[i]
            if n:
                arr[:] = 0
                arr[:, 0:4] = np.arange(k0 + 1, k0 + n + 1, dtype="<u4").view(np.uint8).reshape(n, 4)
                if tb >= 8:
                    arr[:, 4:8] = np.full(n, num + 1, dtype="<u4").view(np.uint8).reshape(n, 4)
            self.next_out[i] = k0 + n
        if not before:
            self._delay()
        if self.is_ca:
            a = self.rng.randint(*self.bounds)
            with self.log.lock:
                self.log.atr.setdefault(self.dpg or "", []).append(a)
            return a
        return None

    def finish(self) -> None:
        with self.log.lock:
            for (fname, _, _, _), k in zip(self.ins, self.next_in):
                self.log.consumed[fname] = k
            for (fname, _, initial, _), k in zip(self.outs, self.next_out):
                self.log.produced[fname] = k - initial


def checking_backends(graph: Graph, seed: int = 0, max_delay_us: float = 0.0,
                      delay_p: float = 0.3) -> tuple[dict[str, ActorBackend], CheckLog]:
    """A :class:`CheckingActor` for every actor of ``graph`` (pass the dict as
    ``Runtime(graph, backends=...)``) and the :class:`CheckLog` they fill. Each actor has its own
    random generator seeded from ``seed`` and its name (thread-safe, reproducible choices)."""
    log = CheckLog()
    backends: dict[str, ActorBackend] = {
        a.name: CheckingActor(graph, a.name, log, random.Random(f"{seed}:{a.name}"), max_delay_us, delay_p)
        for a in graph.actors}
    return backends, log
