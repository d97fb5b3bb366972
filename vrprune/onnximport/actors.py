"""Runtime actors of imported ONNX models (the Python back-end's convention, see
:mod:`vrprune.exec._python`).

`vrprune import` writes, next to NAME.vpr, a small ``onnx_actors.py`` that binds these
classes to its own folder::

    from vrprune.onnximport.actors import bind
    Input, Layer, Output = bind(__file__)

so that the weights file a layer names (``param model = "NAME.npz"``) is found relative to
the .vpr wherever the run starts. ``Input.path`` and ``Output.path`` are the user's files:
relative to the current directory.

* ``Layer(model, layer, threads)``: one onnxruntime ``InferenceSession`` per actor, built in
  ``init`` from the subgraph stored under key ``layer`` of the .npz, with ``threads`` intra-op
  threads. Each firing binds the FIFO views (no copy) as the session's inputs and the first
  output port of each produced tensor as its output; further ports of the same tensor (fan-out)
  get a copy.
* ``Input(path, frames, seed)``: one model input per firing, read from an .npy whose first
  axis is frames, then end of stream (``path = ""``: ``frames`` seeded random frames, 0 for
  no end).
* ``Output(path)``: collects one model output per firing and writes them, stacked (first axis
  = frames), to the .npy ``path`` at the end of the run (``path = ""``: nothing is written).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..exec import END, view
from ._analysis import ORT_NP_TYPES, PORTS_PROP


class ActorSetupError(Exception):
    """A file or key an imported actor needs is missing or does not fit its ports."""


def bind(anchor: str) -> tuple[type, type, type]:
    """The ``Input``, ``Layer`` and ``Output`` classes with relative weight paths resolved
    against the folder of ``anchor`` (a file next to the .vpr)."""
    base = os.path.dirname(os.path.abspath(anchor))

    class BoundLayer(Layer):
        _base = base

    class BoundInput(Input):
        _base = base

    class BoundOutput(Output):
        _base = base

    BoundLayer.__name__, BoundInput.__name__, BoundOutput.__name__ = "Layer", "Input", "Output"
    return BoundInput, BoundLayer, BoundOutput


_NP = {"u8": np.uint8, "i8": np.int8, "u16": np.uint16, "i16": np.int16, "f16": np.float16, "u32": np.uint32,
       "i32": np.int32, "f32": np.float32, "u64": np.uint64, "i64": np.int64, "f64": np.float64}


def _token(token: str) -> tuple[np.dtype, tuple[int, ...]]:
    """dtype and shape of a token type written as in .vpr (``"f32[1, 3, 224, 224]"``)."""
    bad = ActorSetupError(f"param token must be a typed token such as \"f32[1, 3]\", got {token!r}")
    name, _, dims = token.replace(" ", "").partition("[")
    if name not in _NP:
        raise bad
    try:
        shape = tuple(int(d) for d in dims.rstrip("]").split(",")) if dims else ()
    except ValueError:
        raise bad from None
    return np.dtype(_NP[name]), shape


def _ptr(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


class Layer:
    """Runs one layer's ONNX subgraph with onnxruntime, on the FIFOs' memory."""

    _base = ""

    def __init__(self, model: str, layer: str, threads: int = 1) -> None:
        self.model = model if os.path.isabs(model) else os.path.join(self._base, model)
        self.layer = layer
        if not isinstance(threads, int) or threads < 1:
            raise ActorSetupError(f"param threads must be a whole number >= 1, got {threads!r}")
        self.threads = threads
        self.blob = _load_layer(self.model, self.layer)  # here, so that a missing file is said without a traceback
        self.sess: Any = None

    def init(self) -> None:
        from .._extras import require

        ort: Any = require("onnxruntime", "onnx", "an onnxruntime actor")

        blob, self.blob = self.blob, b""
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.log_severity_level = 3
        self.sess = sess = ort.InferenceSession(blob, so, providers=["CPUExecutionProvider"])
        meta = sess.get_modelmeta().custom_metadata_map
        ins, outs = sess.get_inputs(), sess.get_outputs()
        self.in_specs = [(i.name, ORT_NP_TYPES[i.type], tuple(i.shape)) for i in ins]
        self.out_specs = [(o.name, ORT_NP_TYPES[o.type], tuple(o.shape)) for o in outs]
        sources = [int(s) for s in meta.get(PORTS_PROP, "").split(",") if s]
        if sorted(set(sources)) != list(range(len(outs))):
            raise ActorSetupError(f"{self.model}: layer '{self.layer}' has {len(outs)} outputs but its port table "
                                  f"says {sources}; re-import the model")
        self.sources = sources
        # per output: its first port is bound as the session output, the others get copies
        first: dict[int, int] = {}
        self.copies: list[tuple[int, int]] = []
        for port, src in enumerate(sources):
            if src in first:
                self.copies.append((first[src], port))
            else:
                first[src] = port
        self.bound = [first[k] for k in range(len(outs))]
        self.io = sess.io_binding()
        self.run = sess.run_with_iobinding

    def fire(self, ins, outs, atr) -> None:
        io = self.io
        for arr, (name, dt, shape) in zip(ins, self.in_specs):
            io.bind_input(name, "cpu", 0, dt, shape, _ptr(arr))
        for k, (name, dt, shape) in enumerate(self.out_specs):
            io.bind_output(name, "cpu", 0, dt, shape, _ptr(outs[self.bound[k]]))
        self.run(io)
        for src, dst in self.copies:
            outs[dst][...] = outs[src]

    def finish(self) -> None:
        self.sess = None
        self.io = None


class Fork:
    """Copies its one input token to each output port: a tensor with several readers."""

    def fire(self, ins, outs, atr) -> None:
        for o in outs:
            o[...] = ins[0]


def _load_layer(path: str, key: str) -> bytes:
    try:
        with np.load(path) as z:
            if key not in z.files:
                raise ActorSetupError(f"{path} holds no layer '{key}'; re-import the model (vrprune import)")
            return z[key].tobytes()
    except OSError as exc:
        raise ActorSetupError(f"cannot read the layer file {path}: {exc}") from None
    except ValueError as exc:
        raise ActorSetupError(f"{path} is not an .npz written by vrprune import: {exc}") from None


POOL = 8  # distinct random frames an Input without a file cycles through


class Input:
    """A source: one model input per firing from an .npy of frames, then end of stream;
    without a file, ``frames`` seeded random frames (0: no end; the run's --iterations ends it)."""

    _base = ""

    def __init__(self, tensor: str, token: str, path: str = "", frames: int = 4, seed: int = 0) -> None:
        self.tensor, self.token, self.path, self.frames, self.seed = tensor, token, path, frames, seed
        self.dtype, self.shape = _token(token)
        self.data: np.ndarray | None = None
        self.total: int | None = None  # frames to send; None: no end
        self.k = 0
        self._open()  # here, so that a bad file is said without a traceback

    def _open(self) -> None:
        if not self.path:
            if not isinstance(self.frames, int) or self.frames < 0:
                raise ActorSetupError(f"input '{self.tensor}': param frames must be a whole number >= 0 "
                                      f"(0: no end), got {self.frames!r}")
            # a pool of at most POOL distinct frames, sent in turn: cheap per frame, bounded memory
            rng = np.random.default_rng(self.seed)
            shp = (min(self.frames, POOL) if self.frames else POOL, *self.shape)
            if self.dtype.kind == "f":
                self.data = rng.standard_normal(shp, dtype=np.float64).astype(self.dtype)
            else:
                self.data = rng.integers(0, 2, shp).astype(self.dtype)
            self.total = self.frames or None
            return
        try:
            data = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ActorSetupError(f"input '{self.tensor}': cannot read {os.path.abspath(self.path)}: {exc} "
                                  f"(relative paths are relative to the current directory)") from None
        want = self.shape
        if data.shape[1:] != want:
            if want and want[0] == 1 and data.shape[1:] == want[1:]:
                data = data.reshape((data.shape[0], *want))
            else:
                raise ActorSetupError(f"input '{self.tensor}': {self.path} holds an array of shape {data.shape}; "
                                      f"expected (frames, {', '.join(map(str, want))}): the first axis counts "
                                      f"frames, each frame is one model input of shape {list(want)}")
        if not np.can_cast(data.dtype, self.dtype, "same_kind"):
            raise ActorSetupError(f"input '{self.tensor}': {self.path} holds {data.dtype} values; the model input is "
                                  f"{self.dtype}")
        self.data = data
        self.total = len(data)

    def fire(self, ins, outs, atr):
        assert self.data is not None
        if self.total is not None and self.k >= self.total:
            return END
        np.copyto(view(outs[0], self.token).reshape(self.shape), self.data[self.k % len(self.data)],
                  casting="same_kind")
        for o in outs[1:]:
            o[...] = outs[0]
        self.k += 1
        return None


class Output:
    """A sink: collects one model output per firing; writes them stacked at the end."""

    _base = ""

    def __init__(self, tensor: str, token: str, path: str = "") -> None:
        self.tensor, self.token, self.path = tensor, token, path
        self.dtype, self.shape = _token(token)
        self.frames: list[np.ndarray] = []
        if self.path:
            folder = os.path.dirname(os.path.abspath(self.path))
            if not os.path.isdir(folder):
                raise ActorSetupError(f"output '{self.tensor}': the folder of {self.path} does not exist")

    def fire(self, ins, outs, atr) -> None:
        if self.path:
            self.frames.append(view(ins[0], self.token).reshape(self.shape).copy())

    def finish(self) -> None:
        if not self.path:
            return
        arr = np.stack(self.frames) if self.frames else np.zeros((0, *self.shape), self.dtype)
        tmp = f"{self.path}.tmp{os.getpid()}.npy"
        np.save(tmp, arr)
        os.replace(tmp, self.path)


def confidence(logits: np.ndarray) -> float:
    """An exit head's confidence: its largest softmax probability over the last axis (the
    classes); with a batch dimension > 1, the least confident row's."""
    x = np.asarray(logits, dtype=np.float64)
    x = x.reshape((-1, x.shape[-1])) if x.ndim else x.reshape((1, 1))
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    p = z / z.sum(axis=-1, keepdims=True)
    return float(p.max(axis=-1).min())


class ExitDecision:
    """The CA of an early exit: atr 0 (exit; the DPG after it is pruned) when the head's
    :func:`confidence` is at least ``threshold``, else atr 1 (the rest of the network runs)."""

    def __init__(self, threshold: float, token: str, exit: int = 1, head: str = "", node: str = "") -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
            raise ActorSetupError(f"param threshold must be a number in (0, 1], got {threshold!r}")
        self.threshold = float(threshold)
        self.token = token
        _token(token)
        self.exit, self.head, self.node = exit, head, node

    def fire(self, ins, outs, atr) -> int:
        return 0 if confidence(view(ins[0], self.token)) >= self.threshold else 1


class ExitEntry:
    """The entry DA of an early exit's DPG: the activation(s) on at rate atr, the head's
    result (last input and output) on at rate 1."""

    def fire(self, ins, outs, atr) -> None:
        if atr:
            for i in range(len(outs) - 1):
                outs[i][...] = ins[i]
        outs[-1][...] = ins[-1]


class ExitMerge:
    """The exit DA of an early exit's DPG: the frame's result is the late one (first input,
    rate atr) when the rest of the network ran, else the head's (second input)."""

    def fire(self, ins, outs, atr) -> None:
        outs[0][...] = ins[0] if atr else ins[1]
