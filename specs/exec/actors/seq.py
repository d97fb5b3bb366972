"""Small Python actors for the executor's tests: every token carries a sequence number."""

from __future__ import annotations

import numpy as np

from vrprune.exec import END, view


class Source:
    """Emits consecutive int64 sequence numbers, `rate` per firing; END after `stop` firings (-1: never)."""

    def __init__(self, stop: int = -1, rate: int = 1):
        self.stop, self.rate, self.next, self.fired = stop, rate, 0, 0
        self.finished = False

    def fire(self, ins, outs, atr):
        if self.fired == self.stop:
            return END
        self.fired += 1
        for o in outs:
            v = view(o, "i64")
            n = v.shape[0]
            v[:] = np.arange(self.next, self.next + n)
        self.next += outs[0].shape[0] if outs else 0
        return None

    def finish(self):
        self.finished = True


class Pack:
    """in: i64 @2 -> out: i64[2] @1 (a multi-rate step that keeps the numbers)."""

    def fire(self, ins, outs, atr):
        view(outs[0], "i64[2]")[0] = view(ins[0], "i64")


class Unpack:
    """in: i64[2] @1 -> out: i64 @2."""

    def fire(self, ins, outs, atr):
        view(outs[0], "i64")[:] = view(ins[0], "i64[2]")[0]


class Copy:
    def fire(self, ins, outs, atr):
        outs[0][:] = ins[0]


class Sink:
    """Records every int64 it consumes; checks they are consecutive."""

    def __init__(self):
        self.values: list[int] = []
        self.inited = self.finished = False

    def init(self):
        self.inited = True

    def fire(self, ins, outs, atr):
        self.values.extend(int(x) for x in view(ins[0], "i64").ravel())

    def finish(self):
        self.finished = True


class Boom:
    """Copies, and raises in firing number `at` (1-based)."""

    def __init__(self, at: int = 3):
        self.at, self.n = at, 0

    def fire(self, ins, outs, atr):
        self.n += 1
        if self.n == self.at:
            raise ValueError(f"boom at {self.n}")
        outs[0][:] = ins[0]


class Counter:
    """CA: atr for frame f is rates[f % len(rates)] (rates given as "a,b,c")."""

    def __init__(self, rates: str = "0,1,2,3,4"):
        self.rates = [int(x) for x in rates.split(",")]
        self.chosen: list[int] = []

    def fire(self, ins, outs, atr):
        f = int(view(ins[0], "i64")[0])
        a = self.rates[f % len(self.rates)]
        self.chosen.append(a)
        return a


class Entry:
    """DA: frame number in, atr boxes out: box j of frame f holds (f, j)."""

    def fire(self, ins, outs, atr):
        f = int(view(ins[0], "i64")[0])
        b = view(outs[0], "i64[2]")
        assert b.shape[0] == atr, (b.shape, atr)
        b[:, 0] = f
        b[:, 1] = np.arange(atr)


class Mid:
    """DPA: passes atr boxes through, counting them."""

    def __init__(self):
        self.seen = 0
        self.firings = 0

    def fire(self, ins, outs, atr):
        assert ins[0].shape[0] == atr and outs[0].shape[0] == atr
        outs[0][:] = ins[0]
        self.seen += atr
        self.firings += 1


class Exit:
    """DA: atr boxes in, one i64 out: the number of boxes (checked for content)."""

    def __init__(self):
        self.frame = 0

    def fire(self, ins, outs, atr):
        b = view(ins[0], "i64[2]")
        assert b.shape[0] == atr
        assert (b[:, 0] == self.frame).all() and (b[:, 1] == np.arange(atr)).all(), b
        self.frame += 1
        view(outs[0], "i64")[0] = atr


def make_copy():
    """A factory function (instead of a class)."""
    return Copy()
