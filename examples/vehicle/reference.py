"""Plain numpy reference of the vehicle classifier CNN (Edge-PRUNE paper, Fig. 2), run sequentially.

Network (float32, channels-last HWC): input 96x96x3 -> L1 conv 5x5 (same padding) 32 maps,
ReLU, 2x2 max-pool -> 48x48x32 -> L2 the same -> 24x24x32 -> L3 dense 18432->100 ReLU
-> L4 dense 100->100 ReLU -> L5 dense 100->4 softmax.

Weights and input frames come from a counter-based PRNG that the C actors (vehicle.c) and
the OpenCL kernels (vehicle.cl) implement identically, so nothing is downloaded or stored:

    splitmix64(x)       the standard SplitMix64 finaliser (uint64 arithmetic, wrapping)
    key(seed, stream)   = splitmix64(seed * 2**32 + stream)
    u(key, i)           = (splitmix64(key + i) >> 40) * 2**-24            uniform in [0, 1), exact f32
    sym(key, i, scale)  = (2 * u(key, i) - 1) * scale                     uniform in [-scale, scale)

Streams: tensor t of the network (1 = W1, 2 = b1, 3 = W2, 4 = b2, 5 = W3, 6 = b3, 7 = W4,
8 = b4, 9 = W5, 10 = b5) and frame f (1000 + f). Weights are He-uniform,
scale = float32(sqrt(6 / fan_in)); biases use scale 0.05. Weight layouts, row-major:
conv W[ky][kx][cin][cout], dense W[in][out] (the input flattened in HWC order).
Frame f of seed s: img[y, x, c] = 0.5 * u(key(s, 1000 + f), (y*96 + x)*3 + c)
                                 + 0.5 * ((x*(f+1) + 3*y*(c+1) + 7*f) % 32) / 32.
"""

from __future__ import annotations

import numpy as np

H = W = 96
LAYERS = {  # name: (tensor id of W, shape of W, fan_in)
    "W1": (1, (5, 5, 3, 32), 75), "W2": (3, (5, 5, 32, 32), 800),
    "W3": (5, (18432, 100), 18432), "W4": (7, (100, 100), 100), "W5": (9, (100, 4), 100),
}
BIAS_SCALE = 0.05

_U64 = np.uint64


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on a uint64 array (wraps modulo 2**64)."""
    z = x + _U64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
    return z ^ (z >> _U64(31))


def key(seed: int, stream: int) -> np.ndarray:
    return splitmix64(np.array([(seed * 2**32 + stream) % 2**64], dtype=np.uint64))


def uniform(k: np.ndarray, n: int) -> np.ndarray:
    h = splitmix64(k + np.arange(n, dtype=np.uint64))
    return (h >> _U64(40)).astype(np.float32) * np.float32(2.0**-24)


def sym(k: np.ndarray, n: int, scale: float) -> np.ndarray:
    return (np.float32(2) * uniform(k, n) - np.float32(1)) * np.float32(scale)


def weights(seed: int = 1) -> dict[str, np.ndarray]:
    """All weights and biases: W1, b1, ..., W5, b5 (float32)."""
    out: dict[str, np.ndarray] = {}
    for name, (tid, shape, fan_in) in LAYERS.items():
        n = int(np.prod(shape))
        out[name] = sym(key(seed, tid), n, np.float32(np.sqrt(6.0 / fan_in))).reshape(shape)
        out["b" + name[1:]] = sym(key(seed, tid + 1), shape[-1], BIAS_SCALE)
    return out


def frame(seed: int, f: int) -> np.ndarray:
    """Synthetic input image ``f`` (96x96x3 float32 in [0, 1))."""
    noise = uniform(key(seed, 1000 + f), H * W * 3).reshape(H, W, 3)
    y, x, c = np.meshgrid(np.arange(H), np.arange(W), np.arange(3), indexing="ij")
    pattern = ((x * (f + 1) + 3 * y * (c + 1) + 7 * f) % 32).astype(np.float32) / np.float32(32)
    return np.float32(0.5) * noise + np.float32(0.5) * pattern


def conv_relu_pool(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """5x5 'same' convolution as 25 shifted matrix products, then ReLU and 2x2 max-pool."""
    h, wd, cin = x.shape
    pad = np.zeros((h + 4, wd + 4, cin), np.float32)
    pad[2:-2, 2:-2] = x
    acc = np.broadcast_to(b, (h * wd, w.shape[3])).copy()
    for ky in range(5):
        for kx in range(5):
            acc += pad[ky:ky + h, kx:kx + wd].reshape(h * wd, cin) @ w[ky, kx]
    y = np.maximum(acc, 0).reshape(h // 2, 2, wd // 2, 2, -1)
    return y.max(axis=(1, 3))


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def forward(p: dict[str, np.ndarray], img: np.ndarray) -> np.ndarray:
    """Class probabilities (4,) of one 96x96x3 image."""
    a = conv_relu_pool(img, p["W1"], p["b1"])
    a = conv_relu_pool(a, p["W2"], p["b2"])
    a = np.maximum(a.reshape(-1) @ p["W3"] + p["b3"], 0)
    a = np.maximum(a @ p["W4"] + p["b4"], 0)
    return softmax(a @ p["W5"] + p["b5"]).astype(np.float32)


def run(frames: int, seed: int = 7, wseed: int = 1) -> np.ndarray:
    """Probabilities of frames 0..frames-1, shape (frames, 4)."""
    p = weights(wseed)
    return np.stack([forward(p, frame(seed, f)) for f in range(frames)])


if __name__ == "__main__":
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    np.set_printoptions(precision=5, suppress=True)
    print(run(n))
