"""Python actors for tests/test_explore*.py: each firing sleeps ``ms`` milliseconds."""

import time


class Sleep:
    def __init__(self, ms: int = 1):
        self.s = ms / 1000.0

    def fire(self, ins, outs, atr):
        time.sleep(self.s)
