"""Device FIFOs (vrprune/exec/_devfifo.py): adjacent OpenCL actors on one device hand tokens
over in device memory, with no host copy; results equal to the host-copy path."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import vrprune
from vrprune.exec import Runtime
from vrprune.exec._devfifo import DeviceFifo
from vrprune.exec._fifo import RingFifo

pytest.importorskip("pyopencl")

KERNELS = r"""
__kernel void scale(__global const float *x, __global float *y) {
    size_t i = get_global_id(0);
    y[i] = x[i] * 2.0f;
}
__kernel void inc(__global const float *x, __global float *y) {
    size_t i = get_global_id(0);
    y[i] = x[i] + 1.0f;
}
__kernel void square(__global const float *x, __global float *y) {
    size_t i = get_global_id(0);
    y[i] = x[i] * x[i] - 3.0f;
}
/* DA: atr tokens of E floats from one static token */
#ifndef E
#define E 1
#endif
__kernel void spread(__global const float *x, __global float *y, int atr) {
    size_t i = get_global_id(0);
    y[i] = x[i % E] + (float)(i / E) * 1000.0f;
}
__kernel void twice(__global const float *x, __global float *y, int atr) {
    size_t i = get_global_id(0);
    y[i] = x[i] * 2.0f + (float)atr;
}
"""

ACTORS = r'''
import numpy as np
from vrprune.exec import END


class Source:
    """f32 tokens; token k holds k * 100 + element index."""

    def __init__(self, stop=-1):
        self.k, self.stop, self.fired = 0, stop, 0

    def fire(self, ins, outs, atr):
        if self.fired == self.stop:
            return END
        self.fired += 1
        for o in outs:
            v = o.view(np.float32)
            n, e = v.shape
            v[:] = (np.arange(self.k, self.k + n)[:, None] * 100 + np.arange(e)[None, :]).astype(np.float32)
        self.k += n


class Sink:
    def __init__(self, boom=0):
        self.rows, self.boom, self.n = [], boom, 0
        self.finished = False

    def fire(self, ins, outs, atr):
        self.n += 1
        if self.n == self.boom:
            raise ValueError(f"sink boom at {self.n}")
        self.rows.extend(ins[0].view(np.float32).copy())

    def finish(self):
        self.finished = True


class Count:
    def __init__(self):
        self.n = 0

    def fire(self, ins, outs, atr):
        self.n += 1
        return [0, 3, 1, 2, 4][(self.n - 1) % 5]


class Exit:
    def __init__(self):
        self.rows = []

    def fire(self, ins, outs, atr):
        self.rows.append(ins[0].view(np.float32).copy())
        outs[0].view(np.float32)[:] = float(atr)
'''

E = 64  # floats per token: 256 bytes, a multiple of PoCL's 128-byte sub-buffer alignment


def chain_vpr(kernels: list[str], e: int = E, cap: int = 3, boom: int = 0) -> str:
    lines = ["graph g {", f'  actor Src {{ out o: f32[{e}]  impl python "a.py:Source" }}']
    prev = "Src.o"
    for i, k in enumerate(kernels):
        name = "ABCDEFG"[i]
        lines.append(f'  actor {name} {{ in x: f32[{e}]  out y: f32[{e}]  impl opencl "k.cl" kernel {k} }}')
        lines.append(f"  fifo {prev} -> {name}.x capacity {cap}")
        prev = f"{name}.y"
    lines.append(f'  actor Sink {{ in i: f32[{e}]  impl python "a.py:Sink"  param boom = {boom} }}')
    lines.append(f"  fifo {prev} -> Sink.i capacity {cap}")
    lines.append("}")
    return "\n".join(lines)


MULTIRATE = """
graph g {
  actor Src { out o: f32[16]  impl python "a.py:Source" }
  actor A   { in x: f32[16] @ 3  out y: f32[16] @ 3  impl opencl "k.cl" kernel scale }
  actor B   { in x: f32[16] @ 2  out y: f32[16] @ 2  impl opencl "k.cl" kernel inc }
  actor Sink { in i: f32[16]  impl python "a.py:Sink" }
  fifo Src.o -> A.x capacity 3
  fifo A.y -> B.x capacity 4
  fifo B.y -> Sink.i capacity 2
}
"""

DPG = """
graph g {
  actor Src  { out a: f32[8]  out b: f32[8]  impl python "a.py:Source" }
  actor Sink { in n: f32[8]  impl python "a.py:Sink" }
  dpg det {
    actor Count: ca { in d: f32[8]  control out c1  control out c2  control out c3  impl python "a.py:Count" }
    actor Entry: da { control in c  in d: f32[8]  out box: f32[8] @ 0..4
                      impl opencl "k.cl" kernel spread  param E = 8 }
    actor Mid: dpa  { control in c  in box: f32[8] @ 0..4  out t: f32[8] @ 0..4  impl opencl "k.cl" kernel twice }
    actor Exit: da  { control in c  in t: f32[8] @ 0..4  out n: f32[8]  impl python "a.py:Exit" }
    fifo Count.c1 -> Entry.c capacity 1
    fifo Count.c2 -> Mid.c capacity 1
    fifo Count.c3 -> Exit.c capacity 1
    fifo Entry.box -> Mid.box capacity 5
    fifo Mid.t -> Exit.t capacity 4
  }
  fifo Src.a -> Count.d capacity 1
  fifo Src.b -> Entry.d capacity 1
  fifo Exit.n -> Sink.n capacity 2
}
"""


@pytest.fixture
def write(tmp_path):
    (tmp_path / "k.cl").write_text(KERNELS)
    (tmp_path / "a.py").write_text(ACTORS)

    def w(text: str, name: str = "g.vpr") -> str:
        p = tmp_path / name
        p.write_text(text)
        return str(p)

    return w


def run(path: str, iterations: int | None, **kw):
    rt = Runtime(vrprune.load(path), iterations=iterations, watchdog_s=10, **kw)
    res = rt.run()
    return rt, res


def backend(rt, name):
    return rt._by_name[name].backend


def sink_rows(rt, name="Sink"):
    return np.array(backend(rt, name).obj.rows)


def expected_chain(kernels, n, e=E):
    x = (np.arange(n)[:, None] * 100 + np.arange(e)[None, :]).astype(np.float32)
    for k in kernels:
        x = {"scale": lambda v: v * np.float32(2), "inc": lambda v: v + np.float32(1),
             "square": lambda v: v * v - np.float32(3)}[k](x)
    return x


@pytest.fixture
def host_copies(monkeypatch):
    """Counts pyopencl.enqueue_copy calls with a host (numpy) end, per actor thread."""
    import pyopencl as cl

    real = cl.enqueue_copy
    counts: dict[str, int] = {}
    lock = threading.Lock()

    def counting(queue, dst, src, **kw):
        if isinstance(dst, np.ndarray) or isinstance(src, np.ndarray):
            with lock:
                name = threading.current_thread().name
                counts[name] = counts.get(name, 0) + 1
        return real(queue, dst, src, **kw)

    monkeypatch.setattr(cl, "enqueue_copy", counting)
    return counts


def test_two_adjacent_actors_inner_edge_stays_on_device(write, host_copies):
    path = write(chain_vpr(["scale", "inc"]))
    rt, res = run(path, 40)
    assert res.status == "ok", res.describe()
    assert isinstance(rt.fifos["A.y"], DeviceFifo)
    assert type(rt.fifos["Src.o"]) is RingFifo and type(rt.fifos["B.y"]) is RingFifo  # CPU <-> CL: host memory
    a, b = backend(rt, "A"), backend(rt, "B")
    assert a.h2d == [40] and a.d2h == [0]  # in from the CPU, out on the device
    assert b.h2d == [0] and b.d2h == [40]
    assert rt.fifos["A.y"].copies == 0 and rt.fifos["A.y"].rate == 1  # rate 1: one buffer per slot
    assert res.fifos["A.y"]["tokens_read"] == 40 and res.fifos["A.y"]["device"]
    assert host_copies.get("vrprune:A", 0) == 40 and host_copies.get("vrprune:B", 0) == 40
    got = sink_rows(rt)
    np.testing.assert_array_equal(got, expected_chain(["scale", "inc"], 40))
    assert rt.fifos["A.y"].released and rt.fifos["A.y"].slots is None  # dropped after the join

    rt2, res2 = run(path, 40, device_fifos=False)
    assert res2.status == "ok" and not any(isinstance(f, DeviceFifo) for f in rt2.fifos.values())
    assert backend(rt2, "B").h2d == [40]
    np.testing.assert_array_equal(sink_rows(rt2), got)


def test_three_adjacent_actors_no_host_copy_inside(write, host_copies):
    ks = ["scale", "square", "inc"]
    rt, res = run(write(chain_vpr(ks, cap=2)), 30)
    assert res.status == "ok", res.describe()
    assert isinstance(rt.fifos["A.y"], DeviceFifo) and isinstance(rt.fifos["B.y"], DeviceFifo)
    assert backend(rt, "B").h2d == [0] and backend(rt, "B").d2h == [0]
    assert "vrprune:B" not in host_copies  # the middle actor never touches host memory
    assert rt.fifos["A.y"].copies == rt.fifos["B.y"].copies == 0
    np.testing.assert_array_equal(sink_rows(rt), expected_chain(ks, 30))


def test_env_turns_device_fifos_off(write, monkeypatch):
    monkeypatch.setenv("VRPRUNE_CL_DEVICE_FIFOS", "0")
    rt, res = run(write(chain_vpr(["scale", "inc"])), 5)
    assert res.status == "ok" and type(rt.fifos["A.y"]) is RingFifo
    np.testing.assert_array_equal(sink_rows(rt), expected_chain(["scale", "inc"], 5))


def test_misaligned_tokens_rate_one_edge_is_slotted(write, host_copies):
    # 400-byte tokens (the vehicle's L3 -> L4L5 edge): slot 1 of one ring would not be sub-buffer
    # aligned; a rate-1 edge gets one buffer per slot instead, so still no copy at all
    rt, res = run(write(chain_vpr(["scale", "inc"], e=100, cap=2)), 12)
    assert res.status == "ok", res.describe()
    f = rt.fifos["A.y"]
    assert isinstance(f, DeviceFifo) and f.rate == 1 and f.copies == 0
    assert host_copies == {"vrprune:A": 12, "vrprune:B": 12}  # the outer edges only
    assert backend(rt, "B").h2d == [0] and backend(rt, "A").d2h == [0]
    np.testing.assert_array_equal(sink_rows(rt), expected_chain(["scale", "inc"], 12, e=100))


def test_multirate_device_edge_windows_wrap(write):
    path = write(MULTIRATE)
    rt, res = run(path, 10)  # q: Src 6, A 2, B 3, Sink 6
    assert res.status == "ok", res.describe()
    f = rt.fifos["A.y"]
    assert isinstance(f, DeviceFifo) and f.rate is None  # one ring, 64-byte tokens: odd slots misaligned
    # windows of 3 and 2 tokens in a ring of 4 wrap around its end: staged through the device
    assert f.copies > 0
    assert backend(rt, "A").d2h == [0] and backend(rt, "B").h2d == [0]
    got = sink_rows(rt)
    assert got.shape == (60, 16)
    np.testing.assert_array_equal(got, expected_chain(["scale", "inc"], 60, e=16))
    rt2, _ = run(path, 10, device_fifos=False)
    np.testing.assert_array_equal(sink_rows(rt2), got)


def test_variable_rate_device_edge_through_dpg(write):
    path = write(DPG)
    rt, res = run(path, 15)
    assert res.status == "ok", res.describe()
    assert isinstance(rt.fifos["Entry.box"], DeviceFifo)  # DA -> DPA, both OpenCL
    assert type(rt.fifos["Mid.t"]) is RingFifo  # to the Python Exit
    assert type(rt.fifos["Count.c2"]) is RingFifo  # control fifos stay on the host
    rows = backend(rt, "Exit").obj.rows
    rates = [[0, 3, 1, 2, 4][k % 5] for k in range(15)]
    assert [r.shape[0] for r in rows] == rates
    for k, (r, atr) in enumerate(zip(rows, rates)):
        x = (k * 100 + np.arange(8)).astype(np.float32)
        want = np.array([(x + j * 1000) * 2 + atr for j in range(atr)], np.float32).reshape(atr, 8)
        np.testing.assert_array_equal(r, want)
    assert backend(rt, "Mid").h2d == [0]
    rt2, _ = run(path, 15, device_fifos=False)
    for r, r2 in zip(rows, backend(rt2, "Exit").obj.rows):
        np.testing.assert_array_equal(r, r2)


def test_sink_error_stops_cleanly(write):
    rt, res = run(write(chain_vpr(["scale", "square", "inc"], boom=5)), 200)
    assert res.status == "error"
    assert res.failures[0].actor == "Sink" and res.failures[0].firing == 5
    assert all(not t.thread.is_alive() for t in rt.threads)
    assert all(backend(rt, n)._finished for n in "ABC")
    assert rt.fifos["A.y"].released and rt.fifos["B.y"].released


def test_opencl_actor_error_stops_cleanly(write):
    g = vrprune.load(write(chain_vpr(["scale", "square", "inc"])))
    rt = Runtime(g, iterations=200, watchdog_s=10)
    b = backend(rt, "B")
    real = b.fire
    n = [0]

    def fire(ins, outs, atr):
        n[0] += 1
        if n[0] == 7:
            raise RuntimeError("kernel trouble")
        return real(ins, outs, atr)

    b.fire = fire
    rt._by_name["B"].backend = b
    res = rt.run()
    assert res.status == "error"
    assert res.failures[0].actor == "B" and res.failures[0].firing == 7 and "kernel trouble" in res.failures[0].message
    assert all(backend(rt, x)._finished for x in "ABC")
    assert rt.fifos["A.y"].released


def test_timed_runs_wait_for_each_kernel(write):
    rt, res = run(write(chain_vpr(["scale", "square", "inc"])), 10, profile=True)
    assert res.status == "ok" and not backend(rt, "B").async_ok
    np.testing.assert_array_equal(sink_rows(rt), expected_chain(["scale", "square", "inc"], 10))


def test_vehicle_cl_inner_edges_on_device(tmp_path, monkeypatch):
    import os

    from vrprune.cli import main_with  # noqa: F401  (the CLI path is covered by test_vehicle)

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    here = os.path.join(root, "examples", "vehicle")
    monkeypatch.chdir(tmp_path)
    g = vrprune.load(os.path.join(here, "vehicle_cl.vpr"))
    rt = Runtime(g, iterations=4, watchdog_s=30)
    kinds = {n: type(f).__name__ for n, f in rt.fifos.items()}
    assert kinds["L1.y"] == kinds["L2.y"] == kinds["L3.y"] == "DeviceFifo"
    assert kinds["Input.img"] != "DeviceFifo" and kinds["L4L5.p"] != "DeviceFifo"
    res = rt.run()
    assert res.status == "ok", res.describe()
    assert backend(rt, "L2").h2d == [0] and backend(rt, "L3").d2h == [0]
