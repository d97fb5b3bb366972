"""argparse value types shared by the subcommands (vrprune.commands) and vrprune.dist's options."""

from __future__ import annotations

import argparse
from typing import Callable


def whole_number(what: str, zero: str) -> Callable[[str], int]:
    """An argparse type: an integer >= 0; ``what`` names it in the "expected" message (e.g.
    "a whole number >= 0"), ``zero`` says what 0 means."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} ({zero}), got {text!r}") from None
        if v < 0:
            raise argparse.ArgumentTypeError(f"must be >= 0 ({zero}), got {text!r}")
        return v

    return parse
