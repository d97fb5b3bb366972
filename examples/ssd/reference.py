"""Plain numpy reference of the SSD-style object tracker (Edge-PRUNE paper, Fig. 3; specs/ssd.vpr),
run sequentially, and the layer functions the numpy actors (ssd_np.py) call.

Network (float32, channels-last HWC, 300x300x3 input):
  CL0      conv 3x3 stride 2, 3 -> 32, ReLU                                  150x150x32
  DWCLi    depthwise 3x3 (stride 2 where the spec's shape shrinks), ReLU
  PWCLi    pointwise 1x1 (one matrix product), ReLU                         ... 10x10x1024
  EX14-17  SSD extra layers: 1x1 conv (bottleneck) ReLU, 3x3 conv stride 2 ReLU
  BOXk     1x1 conv -> anchors x (ty, tx, th, tw)         (as ssd_mobilenet_v1's 1x1 predictors)
  CLSk     1x1 conv -> anchors x 91 class logits
  concat (1917 anchors), softmax, box decoding + score threshold + IoU suppression (NMS),
  then tracking of each detected box (nearest-centroid association, persistent track ids).

Layer functions take an optional ``out`` array (the actors pass their output FIFO slot, so
results are computed in place, without a copy); the arithmetic is the same either way.

Stride-2 3x3 layers pad one pixel on every side and give ceil(n / 2) outputs
(300 -> 150 -> 75 -> 38 -> 19 -> 10 -> 5 -> 3 -> 2 -> 1), as the spec's token shapes say.

Weights are generated, not downloaded: SplitMix64 streams as in examples/vehicle/reference.py
(key(seed, stream), uniform(key, n)); stream = 16 * layer id + tensor (0 = first weight,
1 = first bias, 2 = second weight of an extra layer, 3 = its bias, 4/5 = a head's weight and
bias). He-uniform scales, zero backbone biases (a folded batch norm with no shift), so the
backbone is positively homogeneous: dark image regions give small activations and bright
objects large ones.

Detections are real but deterministic. With random weights the class logits mean nothing,
so each class head's *background* logit is not random: it is
``bg_bias - gain * mean_c(feature)`` (an activation-energy objectness, one weight column
set to -gain / C). Where the feature map is energetic (near a bright object) the background
probability falls and ``score = 1 - p(background)`` rises. NMS keeps anchors with
score > SCORE_THRESH, decodes them against the SSD anchors, suppresses boxes overlapping a
better one by IoU > IOU_THRESH (class-agnostic) and keeps at most MAXBOX. The count is
whatever that gives: it follows the number of objects in the synthetic frames, and frames
without objects give 0 (the DPG's pruned case, atr = 0).

Synthetic frames (seed s, frame f): a dark noisy background (u8 0..23) with up to three
bright coloured rectangles that move (bouncing) from frame to frame; how many are shown
cycles through COUNTS (some frames show none).
"""

from __future__ import annotations

import json

import numpy as np

IMG = 300
CLASSES = 91
MAXBOX = 10
PATCH = 32
A1, A = 3, 6
# feature maps of the heads: (size, channels, anchors per location)
FMAPS = [(19, 512, A1), (10, 1024, A), (5, 512, A), (3, 256, A), (2, 256, A), (1, 128, A)]
ANCHORS = sum(s * s * a for s, _, a in FMAPS)  # 1917

# backbone: name -> (layer id, kind, cin, cout, stride)
BACKBONE: list[tuple[str, int, str, int, int, int]] = [("CL0", 0, "conv", 3, 32, 2)]
_pw = ([(32, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 512)] + [(512, 512)] * 5
       + [(512, 1024), (1024, 1024)])
_dw_stride = {2: 2, 4: 2, 6: 2, 12: 2}
for _i, (_ci, _co) in enumerate(_pw, start=1):
    BACKBONE.append((f"DWCL{_i}", 2 * _i - 1, "dw", _ci, _ci, _dw_stride.get(_i, 1)))
    BACKBONE.append((f"PWCL{_i}", 2 * _i, "pw", _ci, _co, 1))
# SSD extra layers: name -> (layer id, cin, bottleneck, cout)
EXTRAS = [("EX14", 30, 1024, 256, 512), ("EX15", 31, 512, 128, 256), ("EX16", 32, 256, 128, 256),
          ("EX17", 33, 256, 64, 128)]
HEAD_ID = 40  # BOXk: 40 + 2k, CLSk: 41 + 2k (k = 0..5)

# objectness (background logit) per head: logit_bg = BG_BIAS - gain * mean_c(feature)
# and score = 1 - p(background) = 0.5 where mean_c(feature) = OBJ_THRESH (the 90 other logits
# are near 0, so p(background) = 0.5 at logit_bg = ln 90). Thresholds are calibrated to this
# scene's objects (40..80 px): they reach the 10x10 and 5x5 maps' thresholds only; the other maps'
# thresholds lie above any activation energy the scene gives.
OBJ_GAIN = 100.0
OBJ_THRESH = [0.2, 0.1, 0.1, 0.09, 0.06, 0.05]
SCORE_THRESH = 0.5
IOU_THRESH = 0.2
BOX_SCALE = 0.25  # the box heads' weights are He-uniform times this (small offsets from anchors)

# synthetic scene
COUNTS = [1, 3, 2, 0, 2, 1, 3, 0]  # objects shown in frame f: COUNTS[f % len(COUNTS)]
N_OBJECTS = 3

_U64 = np.uint64


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on a uint64 array (wraps modulo 2**64)."""
    with np.errstate(over="ignore"):
        z = x + _U64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
    return z ^ (z >> _U64(31))


def key(seed: int, stream: int) -> np.ndarray:
    return splitmix64(np.array([(seed * 2**32 + stream) % 2**64], dtype=np.uint64))


def uniform(k: np.ndarray, n: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        h = splitmix64(k + np.arange(n, dtype=np.uint64))
    return (h >> _U64(40)).astype(np.float32) * np.float32(2.0**-24)


def sym(k: np.ndarray, n: int, scale: float) -> np.ndarray:
    return (np.float32(2) * uniform(k, n) - np.float32(1)) * np.float32(scale)


def he(seed: int, stream: int, shape: tuple[int, ...], fan_in: int, gain: float = 1.0) -> np.ndarray:
    n = int(np.prod(shape))
    return sym(key(seed, stream), n, np.float32(gain * np.sqrt(6.0 / fan_in))).reshape(shape)


# ---------------------------------------------------------------- weights, per actor

def backbone_weights(name: str, wseed: int = 1) -> np.ndarray:
    """CL0: (3, 3, 3, 32); DWCLi: (3, 3, C); PWCLi: (cin, cout)."""
    _, lid, kind, cin, cout, _ = next(b for b in BACKBONE if b[0] == name)
    if kind == "conv":
        return he(wseed, 16 * lid, (3, 3, cin, cout), 9 * cin)
    if kind == "dw":
        return he(wseed, 16 * lid, (3, 3, cin), 9)
    return he(wseed, 16 * lid, (cin, cout), cin)


def extra_weights(name: str, wseed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    _, lid, cin, mid, cout = next(e for e in EXTRAS if e[0] == name)
    return he(wseed, 16 * lid, (cin, mid), cin), he(wseed, 16 * lid + 2, (3, 3, mid, cout), 9 * mid)


def head_weights(kind: str, k: int, wseed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Weights (C, out) and bias (out,) of head BOX{k+1} (kind 'box') or CLS{k+1} ('cls')."""
    _, c, a = FMAPS[k]
    if kind == "box":
        lid = HEAD_ID + 2 * k
        w = he(wseed, 16 * lid + 4, (c, a * 4), c, BOX_SCALE)
        b = sym(key(wseed, 16 * lid + 5), a * 4, 0.1)
        return w, b
    lid = HEAD_ID + 2 * k + 1
    w = he(wseed, 16 * lid + 4, (c, a, CLASSES), c, 0.05)
    b = sym(key(wseed, 16 * lid + 5), a * CLASSES, 0.1).reshape(a, CLASSES)
    w[:, :, 0] = np.float32(-OBJ_GAIN / c)                              # background logit: -gain * mean energy
    b[:, 0] = np.float32(np.log(CLASSES - 1) + OBJ_GAIN * OBJ_THRESH[k])  # ... + bias
    return w.reshape(c, a * CLASSES), b.reshape(a * CLASSES)


# ---------------------------------------------------------------- layers

def _pad1(x: np.ndarray) -> np.ndarray:
    h, w, c = x.shape
    p = np.zeros((h + 2, w + 2, c), np.float32)
    p[1:-1, 1:-1] = x
    return p


def _out(n: int, stride: int) -> int:
    return (n + stride - 1) // stride


def conv3x3(x: np.ndarray, w: np.ndarray, stride: int, out: np.ndarray | None = None) -> np.ndarray:
    """Full 3x3 convolution, pad 1, ReLU: im2col of 9 shifted (strided) slices + one matrix product."""
    h, wd, cin = x.shape
    ho, wo = _out(h, stride), _out(wd, stride)
    p = _pad1(x)
    cols = np.empty((ho, wo, 9, cin), np.float32)
    for ky in range(3):
        for kx in range(3):
            cols[:, :, 3 * ky + kx] = p[ky:ky + stride * (ho - 1) + 1:stride, kx:kx + stride * (wo - 1) + 1:stride]
    y = np.matmul(cols.reshape(ho * wo, 9 * cin), w.reshape(9 * cin, -1),
                  out=None if out is None else out.reshape(ho * wo, -1))
    return np.maximum(y, 0, out=y).reshape(ho, wo, -1)


def depthwise(x: np.ndarray, w: np.ndarray, stride: int, out: np.ndarray | None = None) -> np.ndarray:
    """Depthwise 3x3, pad 1, ReLU: the sum of 9 shifted (strided) slices times per-channel weights."""
    h, wd, c = x.shape
    ho, wo = _out(h, stride), _out(wd, stride)
    p = _pad1(x)
    acc = np.empty((ho, wo, c), np.float32) if out is None else out
    tmp = np.empty((ho, wo, c), np.float32)
    for ky in range(3):
        for kx in range(3):
            tap = p[ky:ky + stride * (ho - 1) + 1:stride, kx:kx + stride * (wo - 1) + 1:stride]
            if ky == kx == 0:
                np.multiply(tap, w[0, 0], out=acc)
            else:
                np.multiply(tap, w[ky, kx], out=tmp)
                acc += tmp
    return np.maximum(acc, 0, out=acc)


def pointwise(x: np.ndarray, w: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Pointwise 1x1 convolution (one matrix product), ReLU."""
    h, wd, c = x.shape
    y = np.matmul(x.reshape(h * wd, c), w, out=None if out is None else out.reshape(h * wd, -1))
    return np.maximum(y, 0, out=y).reshape(h, wd, -1)


def extra(x: np.ndarray, w1: np.ndarray, w2: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """SSD extra layer: 1x1 bottleneck ReLU, then 3x3 stride 2 ReLU."""
    return conv3x3(pointwise(x, w1), w2, 2, out)


def head(x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """1x1 convolution with bias, no activation: (H, W, out)."""
    h, wd, c = x.shape
    y = np.matmul(x.reshape(h * wd, c), w, out=None if out is None else out.reshape(h * wd, -1))
    y += b
    return y.reshape(h, wd, -1)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------- anchors, NMS

def anchors() -> np.ndarray:
    """SSD default boxes (cy, cx, h, w), normalised, in the heads' order (map, y, x, anchor)."""
    m = len(FMAPS)
    scales = [0.2 + (0.95 - 0.2) * k / (m - 1) for k in range(m)] + [1.0]
    out = []
    for k, (s, _, a) in enumerate(FMAPS):
        if a == A1:
            shapes = [(0.1, 1.0), (scales[k], 2.0), (scales[k], 0.5)]
        else:
            shapes = ([(scales[k], r) for r in (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)]
                      + [(np.sqrt(scales[k] * scales[k + 1]), 1.0)])
        c = (np.arange(s) + 0.5) / s
        for cy in c:
            for cx in c:
                for sc, r in shapes:
                    out.append((cy, cx, sc / np.sqrt(r), sc * np.sqrt(r)))
    return np.array(out, np.float32)


ANCHOR_BOXES = anchors()


def decode(loc: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Rows ``idx`` of (ANCHORS, 4) ty, tx, th, tw -> (len(idx), 4) ymin, xmin, ymax, xmax, clipped to [0, 1]."""
    a = ANCHOR_BOXES[idx]
    loc = loc[idx]
    cy = a[:, 0] + loc[:, 0] / np.float32(10) * a[:, 2]
    cx = a[:, 1] + loc[:, 1] / np.float32(10) * a[:, 3]
    h = a[:, 2] * np.exp(np.clip(loc[:, 2] / np.float32(5), -4, 4))
    w = a[:, 3] * np.exp(np.clip(loc[:, 3] / np.float32(5), -4, 4))
    boxes = np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=1)
    return np.clip(boxes, 0, 1).astype(np.float32)


def iou(b: np.ndarray, others: np.ndarray) -> np.ndarray:
    y0 = np.maximum(b[0], others[:, 0])
    x0 = np.maximum(b[1], others[:, 1])
    y1 = np.minimum(b[2], others[:, 2])
    x1 = np.minimum(b[3], others[:, 3])
    inter = np.clip(y1 - y0, 0, None) * np.clip(x1 - x0, 0, None)
    area = lambda q: (q[..., 2] - q[..., 0]) * (q[..., 3] - q[..., 1])  # noqa: E731
    return inter / np.maximum(area(b) + area(others) - inter, 1e-9)


def nms(loc: np.ndarray, conf: np.ndarray) -> tuple[int, np.ndarray]:
    """Detections (n, dets[MAXBOX, 6]: ymin, xmin, ymax, xmax, score, class), zero-padded."""
    score = np.float32(1) - conf[:, 0]
    cand = np.flatnonzero(score > SCORE_THRESH)
    dets = np.zeros((MAXBOX, 6), np.float32)
    if cand.size == 0:
        return 0, dets
    order = cand[np.argsort(-score[cand], kind="stable")]
    boxes = decode(loc, order)
    keep: list[int] = []
    alive = np.ones(order.size, bool)
    for i in range(order.size):
        if not alive[i]:
            continue
        keep.append(i)
        if len(keep) == MAXBOX:
            break
        alive[i + 1:] &= iou(boxes[i], boxes[i + 1:]) <= IOU_THRESH
    n = len(keep)
    idx = order[keep]
    dets[:n, :4] = boxes[keep]
    dets[:n, 4] = score[idx]
    dets[:n, 5] = np.argmax(conf[idx, 1:], axis=1) + 1
    return n, dets


# ---------------------------------------------------------------- tracking

def crop_patch(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Nearest-neighbour PATCHxPATCH crop of ``frame`` (u8 HxWx3) inside a normalised box."""
    ys = np.clip(((box[0] + (box[2] - box[0]) * (np.arange(PATCH) + 0.5) / PATCH) * IMG).astype(np.int64), 0, IMG - 1)
    xs = np.clip(((box[1] + (box[3] - box[1]) * (np.arange(PATCH) + 0.5) / PATCH) * IMG).astype(np.int64), 0, IMG - 1)
    return frame[ys[:, None], xs[None, :]]


class TrackerState:
    """Per-box track association, persistent across frames.

    Each detection has a centroid and an appearance (the mean colour of its patch, 0..1).
    Pairs (track, detection) are matched greedily by ascending distance
    |centroid difference| + 0.5 * |colour difference| below GATE; an unmatched detection starts
    a new track (ids from 1); a track unmatched for more than MAX_MISSES frames is dropped.
    Output row per detection: id, ymin, xmin, ymax, xmax, vy, vx (centroid velocity), age.
    """

    GATE = 0.25
    MAX_MISSES = 2

    def __init__(self):
        self.tracks: dict[int, dict] = {}
        self.next_id = 1

    def update(self, boxes: np.ndarray, patches: np.ndarray) -> np.ndarray:
        n = boxes.shape[0]
        cent = (np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1) if n
                else np.zeros((0, 2)))
        col = patches.reshape(n, -1, 3).mean(axis=1) / 255.0 if n else np.zeros((0, 3))
        ids = sorted(self.tracks)
        pairs = []
        for j, tid in enumerate(ids):
            t = self.tracks[tid]
            for i in range(n):
                d = float(np.linalg.norm(cent[i] - t["c"]) + 0.5 * np.linalg.norm(col[i] - t["col"]))
                if d < self.GATE:
                    pairs.append((d, j, i))
        pairs.sort()
        det_track: dict[int, int] = {}
        used = set()
        for _, j, i in pairs:
            if i in det_track or ids[j] in used:
                continue
            det_track[i] = ids[j]
            used.add(ids[j])
        out = np.zeros((n, 8), np.float32)
        for i in range(n):
            tid = det_track.get(i)
            if tid is None:
                tid = self.next_id
                self.next_id += 1
                self.tracks[tid] = {"c": cent[i], "col": col[i], "v": np.zeros(2), "age": 0, "miss": 0}
            else:
                t = self.tracks[tid]
                t["v"] = cent[i] - t["c"]
                t["c"], t["col"] = cent[i], col[i]
                t["age"] += 1
                t["miss"] = 0
            t = self.tracks[tid]
            out[i] = (tid, *boxes[i, :4], t["v"][0], t["v"][1], t["age"])
        for tid in ids:
            if tid not in used:
                self.tracks[tid]["miss"] += 1
                if self.tracks[tid]["miss"] > self.MAX_MISSES:
                    del self.tracks[tid]
        return out


def track_table(trk: np.ndarray, det: np.ndarray) -> np.ndarray:
    """TrackOut: the frame's (MAXBOX, 8) table: the tracker's rows with each detection's own
    box; rows past the box count are zero (track ids start at 1)."""
    out = np.zeros((MAXBOX, 8), np.float32)
    n = trk.shape[0]
    out[:n] = trk
    out[:n, 1:5] = det[:, :4]
    return out


def result_line(f: int, table: np.ndarray) -> dict:
    """What Output writes per frame (one JSON line)."""
    rows = table[table[:, 0] > 0]
    return {"frame": f, "boxes": int(rows.shape[0]), "tracks": [int(t) for t in rows[:, 0]],
            "box": [[round(float(v), 4) for v in r[1:5]] for r in rows]}


def write_line(fh, line: dict) -> None:
    fh.write(json.dumps(line) + "\n")


# ---------------------------------------------------------------- input

def scene(seed: int) -> np.ndarray:
    """Per object: y0, x0 (top-left, pixels), vy, vx (pixels/frame), h, w, r, g, b."""
    u = uniform(key(seed, 2000), N_OBJECTS * 9).reshape(N_OBJECTS, 9).astype(np.float64)
    obj = np.empty((N_OBJECTS, 9))
    obj[:, 4:6] = 40 + 40 * u[:, 4:6]          # 40..80 px
    obj[:, 0:2] = u[:, 0:2] * (IMG - obj[:, 4:6])
    obj[:, 2:4] = (u[:, 2:4] * 2 - 1) * 12     # up to 12 px/frame
    obj[:, 6:9] = 150 + 105 * u[:, 6:9]
    return obj


def _bounce(p: float, v: float, f: int, span: float) -> float:
    q = (p + v * f) % (2 * span)
    return q if q <= span else 2 * span - q


def frame(seed: int, f: int) -> np.ndarray:
    """Synthetic camera frame ``f``: u8[300, 300, 3]."""
    img = (uniform(key(seed, 1000 + f), IMG * IMG * 3) * 24).astype(np.uint8).reshape(IMG, IMG, 3)
    for o in scene(seed)[:COUNTS[f % len(COUNTS)]]:
        h, w = int(o[4]), int(o[5])
        y = int(_bounce(o[0], o[2], f, IMG - h))
        x = int(_bounce(o[1], o[3], f, IMG - w))
        img[y:y + h, x:x + w] = o[6:9].astype(np.uint8)
    return img


def to_input(fr: np.ndarray) -> np.ndarray:
    return fr.astype(np.float32) * np.float32(1 / 255)


# ---------------------------------------------------------------- the whole network

class Network:
    """All weights; ``detect(img)`` -> (n, dets)."""

    def __init__(self, wseed: int = 1):
        self.bb = [(name, kind, stride, backbone_weights(name, wseed)) for name, _, kind, _, _, stride in BACKBONE]
        self.ex = [extra_weights(name, wseed) for name, *_ in EXTRAS]
        self.box = [head_weights("box", k, wseed) for k in range(len(FMAPS))]
        self.cls = [head_weights("cls", k, wseed) for k in range(len(FMAPS))]

    def features(self, img: np.ndarray) -> list[np.ndarray]:
        x = img
        fms = []
        for name, kind, stride, w in self.bb:
            if kind == "conv":
                x = conv3x3(x, w, stride)
            elif kind == "dw":
                x = depthwise(x, w, stride)
            else:
                x = pointwise(x, w)
            if name in ("PWCL11", "PWCL13"):
                fms.append(x)
        for w1, w2 in self.ex:
            x = extra(x, w1, w2)
            fms.append(x)
        return fms

    def detect(self, img: np.ndarray) -> tuple[int, np.ndarray]:
        fms = self.features(img)
        loc = np.concatenate([head(fm, *self.box[k]).reshape(-1, 4) for k, fm in enumerate(fms)])
        logits = np.concatenate([head(fm, *self.cls[k]).reshape(-1, CLASSES) for k, fm in enumerate(fms)])
        return nms(loc, softmax(logits))


def run(frames: int, seed: int = 7, wseed: int = 1) -> list[dict]:
    """Per-frame results (as Output writes them) of frames 0..frames-1."""
    net = Network(wseed)
    trk = TrackerState()
    out = []
    for f in range(frames):
        fr = frame(seed, f)
        n, dets = net.detect(to_input(fr))
        n = min(n, MAXBOX)
        patches = (np.stack([crop_patch(fr, dets[i]) for i in range(n)]) if n
                   else np.zeros((0, PATCH, PATCH, 3), np.uint8))
        rows = trk.update(dets[:n], patches)
        out.append(result_line(f, track_table(rows, dets[:n])))
    return out


if __name__ == "__main__":
    import sys

    for line in run(int(sys.argv[1]) if len(sys.argv) > 1 else 6):
        print(json.dumps(line))
