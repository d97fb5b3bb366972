"""The wording shared by every report: counts with their plurals, and the one notation of a
FIFO's fill level (docs/verification.md, "Reading the output")."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 firing``, ``2 firings``; ``many`` for irregular plurals."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def fill(held: int, capacity: int) -> str:
    """A FIFO's fill level: tokens held / capacity in tokens (``1/4``)."""
    return f"{held}/{capacity}"


def waits(actor: str, fifo: str, why: str, need: int, held: int, capacity: int) -> str:
    """Why an actor cannot fire: ``Up waits for 2 tokens on state (holds 1/4)`` (too few tokens)
    or ``Down waits for room for 3 tokens on Up.y (holds 2/4)`` (too little room)."""
    what = plural(need, "token") if why == "empty" else f"room for {plural(need, 'token')}"
    return f"{actor} waits for {what} on {fifo} (holds {fill(held, capacity)})"
