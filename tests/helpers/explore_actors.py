"""Python actors for tests/explore/test_explore*.py and tests/commands/test_exec_cli.py: each firing
sleeps ``ms`` milliseconds."""

import time


class Sleep:
    def __init__(self, ms: int = 1):
        self.s = ms / 1000.0

    def fire(self, ins, outs, atr):
        time.sleep(self.s)
