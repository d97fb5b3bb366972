"""argparse value types shared by the subcommands (vrprune.commands) and vrprune.net's options."""

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


def param_override(text: str) -> tuple[str, str, str]:
    """argparse type of ``--param ACTOR.NAME=VALUE``: (actor, name, value text). The value is
    checked against the actor's declared parameter by :func:`vrprune.frontend.with_params`."""
    target, eq, value = text.partition("=")
    actor, dot, name = target.strip().partition(".")
    if not eq or not dot or not actor or not name or "." in name:
        raise argparse.ArgumentTypeError(f"expected ACTOR.NAME=VALUE (such as Src.frames=100), got {text!r}")
    return actor, name, value
