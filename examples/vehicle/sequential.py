"""Run a chain-shaped graph's actors one after another in this thread, through the back-end
contract (make_backend / init / fire / finish) and without the runtime: the per-layer timing
harness of bench/bench_vehicle.py and the runtime-free check of tests/examples/test_vehicle.py."""

from __future__ import annotations

import time

import numpy as np


def run_sequential(path: str, frames: int | None = None) -> tuple[np.ndarray, dict[str, float]]:
    """Fire the graph in ``path`` (a chain, every rate 1) until its source ends the stream or
    ``frames`` frames went through. Returns (the f32 tokens reaching the last actor, one row per
    frame; seconds per firing of each actor, averaged)."""
    import vrprune
    from vrprune.exec._backend import END, make_backend

    g = vrprune.load(path)
    idx = g.index()
    order, seen = [], set()
    src = [a for a in g.actors if not idx.ins[a.name]]
    assert len(src) == 1, "run_sequential handles chains only"
    a = src[0]
    while a is not None:
        order.append(a)
        seen.add(a.name)
        outs = idx.outs[a.name]
        a = idx.actors[outs[0].dst.actor] if outs else None
    bufs = {f.name: np.zeros((1, idx.token_bytes(f)), np.uint8) for f in g.fifos}
    backends = [make_backend(a) for a in order]
    spent = {a.name: 0.0 for a in order}
    got: list[np.ndarray] = []
    n = 0
    try:
        for b in backends:
            b.init()
        while frames is None or n < frames:
            for a, b in zip(order, backends):
                ins = [bufs[f.name] for f in idx.ins[a.name]]
                outs = [bufs[f.name] for f in idx.outs[a.name]]
                t = time.perf_counter()
                r = b.fire(ins, outs, None)
                spent[a.name] += time.perf_counter() - t
                if r is END:
                    break
                if not outs:
                    got.append(ins[0].view(np.float32).reshape(-1).copy())
            else:
                n += 1
                continue
            break
    finally:
        for b in backends:
            b.finish()
    return np.array(got, np.float32), {k: v / max(n, 1) for k, v in spent.items()}
