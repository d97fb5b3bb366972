"""Python actors for the worker-process tests (tests/exec/test_exec_procs.py): numpy work on
large tokens, a recorder, and actors that fail in every way a worker can."""

from __future__ import annotations

import os
import signal
import time

import numpy as np

from vrprune.exec import END, view


class Frames:
    """Source: ``n`` float32 frames of the port's size, seeded by the frame number; then END."""

    def __init__(self, n: int = 8):
        self.n, self.f = n, 0

    def fire(self, ins, outs, atr):
        if self.f >= self.n:
            return END
        for o in outs:
            x = o.view(np.float32)
            x[:] = np.random.default_rng(self.f).random(x.shape, dtype=np.float32)
        self.f += 1


class Work:
    """out = sqrt(in * k + 1) (one or two inputs, summed), to every output."""

    def __init__(self, k: float = 2.0):
        self.k = k

    def fire(self, ins, outs, atr):
        x = ins[0].view(np.float32)
        for more in ins[1:]:
            x = x + more.view(np.float32)
        y = np.sqrt(x * np.float32(self.k) + np.float32(1))
        for o in outs:
            o.view(np.float32)[:] = y


class Record:
    """Sink: appends one line per firing (the tokens' sum, exactly, as hex) to ``path``."""

    def __init__(self, path: str = "record.txt"):
        self.path = path
        self.file = None

    def init(self):
        self.file = open(self.path, "w")  # noqa: SIM115 (closed in finish)

    def fire(self, ins, outs, atr):
        s = float(np.float64(ins[0].view(np.float32).astype(np.float64).sum()))
        self.file.write(s.hex() + "\n")

    def finish(self):
        if self.file is not None:
            self.file.close()


class Fail:
    """Copies; at firing ``at`` fails as ``how`` says: "raise", "kill" (SIGKILL to its own
    process, as `kill -9` does), "exit" (os._exit(3)) or "hang" (sleeps for an hour)."""

    def __init__(self, at: int = 3, how: str = "raise"):
        self.at, self.how, self.n = at, how, 0

    def fire(self, ins, outs, atr):
        self.n += 1
        if self.n == self.at:
            if self.how == "raise":
                raise RuntimeError(f"failed on purpose in firing {self.n}")
            if self.how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if self.how == "exit":
                os._exit(3)
            if self.how == "hang":
                time.sleep(3600)
        outs[0][:] = ins[0]


class BadInit:
    def init(self):
        raise OSError("no camera")

    def fire(self, ins, outs, atr):
        outs[0][:] = ins[0]


class Slow:
    """Copies after sleeping ``ms`` milliseconds."""

    def __init__(self, ms: int = 20):
        self.s = ms / 1000

    def fire(self, ins, outs, atr):
        time.sleep(self.s)
        outs[0][:] = ins[0]


class Count:
    """Source of int64 sequence numbers, never ending."""

    def __init__(self):
        self.k = 0

    def fire(self, ins, outs, atr):
        view(outs[0], "i64")[:] = self.k
        self.k += 1
