"""Numpy actors of the SSD-style object tracker (Python back-end), for ssd.vpr.

Each actor computes its layer with the functions of reference.py (weights generated from
``wseed`` by the same SplitMix64 streams), so the pipelined run and the sequential
reference compute the same numbers. Tokens are read through zero-copy views of the FIFO
slots and results are written in place into the output slots.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np


def _reference():
    name = "vrprune_example_ssd_reference"
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

IMG, MAXBOX, PATCH, CLASSES = ref.IMG, ref.MAXBOX, ref.PATCH, ref.CLASSES


def _as(a: np.ndarray, dtype, shape: tuple[int, ...]) -> np.ndarray:
    return a.view(dtype).reshape(shape)


def _fill_rest(outs, y: np.ndarray) -> None:
    """Copy ``y`` (computed in place in the first output slot) into the other output ports
    (a layer whose result also feeds the heads)."""
    for o in outs[1:]:
        _as(o, np.float32, y.shape)[:] = y


class Input:
    """Source: synthetic frames 0..frames-1 (network input f32 in [0, 1] and the raw u8
    frame for the tracker), then end of stream."""

    def __init__(self, seed: int = 7, frames: int = 6):
        self.seed, self.frames, self.f = seed, frames, 0

    def fire(self, ins, outs, atr):
        if self.f >= self.frames:
            return _END
        fr = ref.frame(self.seed, self.f)
        _as(outs[0], np.float32, (IMG, IMG, 3))[:] = ref.to_input(fr)
        _as(outs[1], np.uint8, (IMG, IMG, 3))[:] = fr
        self.f += 1


class Backbone:
    """One MobileNet layer named by ``layer`` (CL0, DWCLi, PWCLi): 3x3 conv, depthwise 3x3 or
    pointwise 1x1, ReLU; stride from reference.BACKBONE. The result goes to every output port."""

    def __init__(self, layer: str, hw: int, wseed: int = 1):
        _, _, self.kind, self.cin, cout, self.stride = next(b for b in ref.BACKBONE if b[0] == layer)
        self.hw = hw
        ho = (hw + self.stride - 1) // self.stride
        self.oshape = (ho, ho, cout)
        self.w = ref.backbone_weights(layer, wseed)

    def fire(self, ins, outs, atr):
        x = _as(ins[0], np.float32, (self.hw, self.hw, self.cin))
        out = _as(outs[0], np.float32, self.oshape)
        if self.kind == "conv":
            y = ref.conv3x3(x, self.w, self.stride, out)
        elif self.kind == "dw":
            y = ref.depthwise(x, self.w, self.stride, out)
        else:
            y = ref.pointwise(x, self.w, out)
        _fill_rest(outs, y)


class Extra:
    """SSD extra layer ``layer`` (EX14..EX17): 1x1 bottleneck, 3x3 stride 2, ReLU."""

    def __init__(self, layer: str, hw: int, wseed: int = 1):
        _, _, self.cin, _, cout = next(e for e in ref.EXTRAS if e[0] == layer)
        self.hw = hw
        ho = (hw + 1) // 2
        self.oshape = (ho, ho, cout)
        self.w1, self.w2 = ref.extra_weights(layer, wseed)

    def fire(self, ins, outs, atr):
        y = ref.extra(_as(ins[0], np.float32, (self.hw, self.hw, self.cin)), self.w1, self.w2,
                      _as(outs[0], np.float32, self.oshape))
        _fill_rest(outs, y)


class Head:
    """Box (``kind = "box"``) or class (``"cls"``) head on feature map ``fmap`` (1..6): 1x1 conv."""

    def __init__(self, kind: str, fmap: int, wseed: int = 1):
        self.hw, self.c, _ = ref.FMAPS[fmap - 1]
        self.w, self.b = ref.head_weights(kind, fmap - 1, wseed)
        self.oshape = (self.hw, self.hw, self.w.shape[1])

    def fire(self, ins, outs, atr):
        ref.head(_as(ins[0], np.float32, (self.hw, self.hw, self.c)), self.w, self.b,
                 _as(outs[0], np.float32, self.oshape))


class Concat:
    """Reshape each input to (-1, ``width``) and concatenate them along the anchors."""

    def __init__(self, width: int):
        self.width = width

    def fire(self, ins, outs, atr):
        out = _as(outs[0], np.float32, (-1, self.width))
        i = 0
        for x in ins:
            x = _as(x, np.float32, (-1, self.width))
            out[i:i + x.shape[0]] = x
            i += x.shape[0]


class Softmax:
    def fire(self, ins, outs, atr):
        _as(outs[0], np.float32, (-1, CLASSES))[:] = ref.softmax(_as(ins[0], np.float32, (-1, CLASSES)))


class NMS:
    """Box decoding, score threshold, IoU suppression: the count (i32) and the detections."""

    def fire(self, ins, outs, atr):
        n, dets = ref.nms(_as(ins[0], np.float32, (-1, 4)), _as(ins[1], np.float32, (-1, CLASSES)))
        _as(outs[0], np.int32, (1,))[0] = n
        _as(outs[1], np.float32, (MAXBOX, 6))[:] = dets


class BoxCount:
    """CA: the DPG's atr is the frame's number of detected boxes (clipped to url = ``maxbox``)."""

    def __init__(self, maxbox: int = MAXBOX):
        self.maxbox = maxbox

    def fire(self, ins, outs, atr):
        return max(0, min(int(_as(ins[0], np.int32, (1,))[0]), self.maxbox))


class TrackIn:
    """Entry DA: one token per detected box (atr of them): the detection twice (to the
    tracker and to the exit) and the box's 32x32 patch of the camera frame."""

    def fire(self, ins, outs, atr):
        dets = _as(ins[0], np.float32, (MAXBOX, 6))
        fr = _as(ins[1], np.uint8, (IMG, IMG, 3))
        _as(outs[0], np.float32, (atr, 6))[:] = dets[:atr]
        patch = _as(outs[1], np.uint8, (atr, PATCH, PATCH, 3))
        for i in range(atr):
            patch[i] = ref.crop_patch(fr, dets[i])
        _as(outs[2], np.float32, (atr, 6))[:] = dets[:atr]


class Tracker:
    """DPA: associates the frame's atr boxes with the persistent tracks (state kept across
    firings; a firing with atr = 0 ages the tracks)."""

    def __init__(self):
        self.state = ref.TrackerState()

    def fire(self, ins, outs, atr):
        rows = self.state.update(_as(ins[0], np.float32, (atr, 6)), _as(ins[1], np.uint8, (atr, PATCH, PATCH, 3)))
        _as(outs[0], np.float32, (atr, 8))[:] = rows


class TrackOut:
    """Exit DA: the frame's static track table f32[MAXBOX, 8] (zero rows past atr)."""

    def fire(self, ins, outs, atr):
        table = ref.track_table(_as(ins[0], np.float32, (atr, 8)), _as(ins[1], np.float32, (atr, 6)))
        _as(outs[0], np.float32, (MAXBOX, 8))[:] = table


class Output:
    """Sink: one JSON line per frame ({"frame", "boxes", "tracks", "box"}) to ``path``
    (relative to the working directory); with ``show`` also printed."""

    def __init__(self, path: str = "ssd_tracks.jsonl", show: int = 0):
        self.path, self.show = path, show
        self.f = 0
        self.lines: list[dict] = []
        self.file = None

    def init(self):
        self.file = open(self.path, "w")

    def fire(self, ins, outs, atr):
        line = ref.result_line(self.f, _as(ins[0], np.float32, (MAXBOX, 8)))
        self.lines.append(line)
        ref.write_line(self.file, line)
        self.file.flush()
        if self.show:
            print(f"frame {self.f}: {line['boxes']} boxes, tracks {line['tracks']}", flush=True)
        self.f += 1

    def finish(self):
        if self.file is not None:
            self.file.close()
            self.file = None
