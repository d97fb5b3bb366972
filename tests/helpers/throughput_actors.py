"""Python actors for tests/exec/test_throughput_runtime.py: each firing sleeps ``ms`` milliseconds
(until its start + ms, so that the sleep's own overshoot does not pile up)."""

import time


class SleepMs:
    def __init__(self, ms: float = 1.0):
        self.s = ms / 1000.0

    def fire(self, ins, outs, atr):
        end = time.perf_counter() + self.s
        for o in outs:
            o.fill(0)
        left = self.s
        while left > 0:
            time.sleep(left)
            left = end - time.perf_counter()
