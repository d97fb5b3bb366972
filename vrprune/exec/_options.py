"""Typed run options, the one place a Runtime is built from them (vrprune.pipeline's last
stage; the distributed runner builds its Runtime here too), and the files a run wrote."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from ..model import Graph, Unit
from ._backend import ActorBackend
from ._runtime import DeviceEmulation, Runtime


@dataclass(frozen=True)
class RunOptions:
    """How the runtime runs a graph (`vrprune run`'s options, typed)."""

    iterations: int | None = None
    trace: bool = False
    profile: bool = False
    watchdog_s: float | None = 10.0  # None: no watchdog
    stub_missing: bool = False
    replay: dict[str, list[int]] | None = None
    processes: str | list[str] | None = None  # None: every actor a thread of this process (run's default: "auto")
    emulation: DeviceEmulation | None = None
    pin: bool = False
    native: bool | None = None  # None: C actors in the C loop where they can be; False: the Python loop


def make_runtime(graph: Graph, options: RunOptions, *, repetition: dict[str, int] | None = None,
                 backends: dict[str, ActorBackend] | None = None, units: dict[str, Unit] | None = None,
                 warn: Callable[[str], Any] | None = None, progress: TextIO | None = None) -> Runtime:
    """The :class:`Runtime` of ``graph`` with ``options``: ``repetition`` as proved (None:
    computed), ``backends`` for actors built by the caller (such as TX/RX), ``units`` from a
    mapping."""
    return Runtime(graph, iterations=options.iterations, backends=backends, trace=options.trace,
                   profile=options.profile, watchdog_s=options.watchdog_s, replay=options.replay,
                   stub_missing=options.stub_missing, units=units, warn=warn, progress=progress,
                   repetition=repetition, emulation=options.emulation, processes=options.processes,
                   pin=options.pin, native=options.native)


def outputs_written(graph: Graph, since: float) -> list[str]:
    """Where a run's outputs went: each file named by an actor's text parameter (such as ``param
    path = "out.f32"``, relative to the working directory) that was created or changed since
    ``since`` (a time.time())."""
    out = []
    for a in graph.actors:
        for p in a.params:
            if not isinstance(p.value, str) or not p.value:
                continue
            try:
                st = os.stat(p.value)
            except (OSError, ValueError):
                continue
            if st.st_mtime >= since - 0.05 and os.path.isfile(p.value):
                out.append(f"{a.name} wrote {os.path.abspath(p.value)} ({st.st_size} bytes; param {p.name})")
    return out
