"""Renderers of a :class:`RunResult`: Chrome/Perfetto trace JSON and the profile JSON.

Pure functions of the result; the runtime only records.
"""

from __future__ import annotations

from typing import Any

from ._runtime import RunResult

PROFILE_SCHEMA = "vrprune/profile/1"


def trace_json(result: RunResult, graph_name: str = "graph") -> dict[str, Any]:
    """Chrome trace-event JSON (loads in Perfetto and chrome://tracing): one track (tid) per
    actor with each firing as an "X" slice, and one "C" counter per FIFO with its fill level.
    With DPGs, ``otherData.atr`` holds each DPG's atr per iteration (an early exit's DPG: 0 =
    the frame exited, 1 = it ran on), in the form ``vrprune run --replay`` reads."""
    if result.slices is None or result.fills is None:
        raise ValueError("the run was not traced (Runtime(trace=True))")
    t0 = result.t0
    pid = 1
    ev: list[dict[str, Any]] = [
        {"ph": "M", "pid": pid, "tid": 0, "name": "process_name", "args": {"name": f"vrprune run {graph_name}"}},
    ]
    for tid, (actor, slices) in enumerate(sorted(result.slices.items()), start=1):
        ev.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_name", "args": {"name": actor}})
        ev.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_sort_index", "args": {"sort_index": tid}})
        for i, (a, b) in enumerate(slices, start=1):
            ev.append({"ph": "X", "pid": pid, "tid": tid, "name": actor, "cat": "firing",
                       "ts": round((a - t0) * 1e6, 3), "dur": round((b - a) * 1e6, 3), "args": {"firing": i}})
    for fifo, fills in sorted(result.fills.items()):
        cap = result.fifos.get(fifo, {}).get("capacity")
        init = result.fifos.get(fifo, {}).get("initial", 0)
        name = f"fifo {fifo}" + (f" (cap {cap})" if cap is not None else "")
        ev.append({"ph": "C", "pid": pid, "tid": 0, "name": name, "ts": 0.0, "args": {"fill": init}})
        for t, fill in sorted(fills):
            ev.append({"ph": "C", "pid": pid, "tid": 0, "name": name,
                       "ts": round(max(t - t0, 0.0) * 1e6, 3), "args": {"fill": fill}})
    return {"traceEvents": ev, "displayTimeUnit": "ms",
            "otherData": {"status": result.status, "wall_s": result.wall_s,
                          **({"atr": result.atrs} if result.atrs else {})}}


def profile_json(result: RunResult, graph_name: str = "graph") -> dict[str, Any]:
    """Per-actor firing times and per-FIFO statistics (schema ``vrprune/profile/1``)."""
    return {
        "schema": PROFILE_SCHEMA,
        "graph": graph_name,
        "status": result.status,
        "wall_s": result.wall_s,
        "repetition": dict(result.repetition),
        "actors": {name: st.to_json() for name, st in result.actors.items()},
        "fifos": {name: dict(s) for name, s in result.fifos.items()},
    }
