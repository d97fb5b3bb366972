"""Numpy actors of the vehicle classifier (Python back-end), for vehicle_np.vpr.

Convolutions are im2col + one matrix product (numpy releases the GIL in the copy and in
BLAS, so actors on different threads overlap). Weights come from reference.weights(wseed),
the same PRNG the C and OpenCL actors use.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _reference():
    name = "vrprune_example_vehicle_reference"
    mod = sys.modules.get(name)
    if mod is None:
        spec = importlib.util.spec_from_file_location(name, os.path.join(os.path.dirname(__file__), "reference.py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return mod


ref = _reference()
try:
    from vrprune.exec import END as _END
except ImportError:  # the package face may not re-export it yet
    from vrprune.exec._backend import END as _END
_weights_cache: dict[int, dict[str, np.ndarray]] = {}


def _weights(wseed: int) -> dict[str, np.ndarray]:
    w = _weights_cache.get(wseed)
    if w is None:
        w = _weights_cache[wseed] = ref.weights(wseed)
    return w


def _f32(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return a.view(np.float32).reshape(shape)


class Input:
    """Source: synthetic frames 0..frames-1, then end of stream."""

    def __init__(self, seed: int = 7, frames: int = 8):
        self.seed, self.frames, self.f = seed, frames, 0

    def fire(self, ins, outs, atr):
        if self.f >= self.frames:
            return _END
        _f32(outs[0], (96, 96, 3))[:] = ref.frame(self.seed, self.f)
        self.f += 1


class ConvPool:
    """5x5 same conv (im2col + matmul), ReLU, 2x2 max-pool; ``layer`` 1 or 2."""

    def __init__(self, layer: int, hw: int, cin: int, cout: int, wseed: int = 1):
        w = _weights(wseed)
        self.hw, self.cin, self.cout = hw, cin, cout
        self.w = np.ascontiguousarray(w[f"W{layer}"].reshape(25 * cin, cout))
        self.b = w[f"b{layer}"]
        self.pad = np.zeros((hw + 4, hw + 4, cin), np.float32)
        self.cols = np.empty((hw, hw, 5, 5, cin), np.float32)

    def fire(self, ins, outs, atr):
        hw, cin = self.hw, self.cin
        self.pad[2:-2, 2:-2] = _f32(ins[0], (hw, hw, cin))
        win = sliding_window_view(self.pad, (5, 5), axis=(0, 1))  # (hw, hw, cin, 5, 5)
        self.cols[:] = win.transpose(0, 1, 3, 4, 2)
        y = self.cols.reshape(hw * hw, 25 * cin) @ self.w
        y += self.b
        y = y.reshape(hw // 2, 2, hw // 2, 2, self.cout).max(axis=(1, 3))
        np.maximum(y, 0, out=_f32(outs[0], (hw // 2, hw // 2, self.cout)))


class Dense:
    """L3: dense 18432 -> 100, ReLU."""

    def __init__(self, wseed: int = 1):
        w = _weights(wseed)
        self.w, self.b = w["W3"], w["b3"]

    def fire(self, ins, outs, atr):
        x = _f32(ins[0], (-1,))
        np.maximum(x @ self.w + self.b, 0, out=_f32(outs[0], (100,)))


class Head:
    """L4-L5: dense 100 -> 100 ReLU, dense 100 -> 4, softmax."""

    def __init__(self, wseed: int = 1):
        w = _weights(wseed)
        self.w4, self.b4, self.w5, self.b5 = w["W4"], w["b4"], w["W5"], w["b5"]

    def fire(self, ins, outs, atr):
        h = np.maximum(_f32(ins[0], (100,)) @ self.w4 + self.b4, 0)
        _f32(outs[0], (4,))[:] = ref.softmax(h @ self.w5 + self.b5)


class Output:
    """Sink: appends each frame's 4 probabilities (float32) to the file ``path``
    (relative to the working directory) and keeps them in ``self.probs``; with ``show`` it
    also prints one line per frame."""

    def __init__(self, path: str = "vehicle_probs.f32", show: int = 0):
        self.path = path
        self.show = show
        self.probs: list[np.ndarray] = []
        self.file = None

    def init(self):
        self.file = open(self.path, "wb")

    def fire(self, ins, outs, atr):
        p = _f32(ins[0], (4,)).copy()
        self.probs.append(p)
        self.file.write(p.tobytes())
        self.file.flush()
        if self.show:
            k = int(np.argmax(p))
            print(f"frame {len(self.probs) - 1}: class {k} (p = {p[k]:.3f}; all {' '.join(f'{x:.3f}' for x in p)})",
                  flush=True)

    def finish(self):
        if self.file is not None:
            self.file.close()
            self.file = None
