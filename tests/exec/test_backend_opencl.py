"""The OpenCL back-end on PoCL (OpenCL on the CPU from pip): round trips, parameters as
macros, persistent state with an init kernel, variable rates, located build errors."""

from __future__ import annotations

import numpy as np
import pytest

from vrprune.diagnostics import DiagnosticError
from vrprune.exec._opencl import OpenCLBackend, find_device
from vrprune.exec._toolchain import ToolchainError
from vrprune.model import Actor, ActorKind, Direction, OpenCLImpl, Param, Port, PortKind, TokenType, Unit, UnitKind

KERNELS = r"""
#ifndef K
#define K 1.0f
#endif
__kernel void scale(__global const float *x, __global float *y) {
    size_t i = get_global_id(0);
    y[i] = x[i] * K;
}
/* state: 4 floats, written once by the init kernel */
__kernel void offset_init(__global float *state) { state[get_global_id(0)] = 100.0f + get_global_id(0); }
__kernel void offset(__global const float *x, __global float *y, __global const float *state) {
    size_t i = get_global_id(0);
    y[i] = x[i] + state[i % 4];
}
__kernel void copy_atr(__global const float *x, __global float *y, int atr) {
    size_t i = get_global_id(0);
    y[i] = x[i] + atr;
}
__kernel void choose(__global const float *x, __global int *atr) { *atr = (int)x[0]; }
"""


def port(name, direction, n=4, kind=PortKind.STATIC, lrl=1, url=1):
    return Port(name, direction, kind, TokenType("f32", (n,), 4 * n), lrl, url)


def f32(a) -> np.ndarray:
    a = np.asarray(a, np.float32)
    return a.view(np.uint8).reshape(a.shape[0] if a.ndim > 1 else 1, -1).copy()


@pytest.fixture
def cl_file(tmp_path):
    p = tmp_path / "k.cl"
    p.write_text(KERNELS)
    return str(p)


def make(path, kernel, *ports, kind=ActorKind.SPA, params=(), unit=None):
    a = Actor("K", kind, ports, OpenCLImpl(path, kernel), tuple(Param(k, v) for k, v in params))
    b = OpenCLBackend(a, unit)
    b.init()
    return b


def test_pocl_is_the_default_device():
    assert "Portable Computing Language" in find_device(None).platform.name


def test_scale_kernel_round_trip(cl_file):
    n = 1 << 16
    b = make(cl_file, "scale", port("x", Direction.IN, n), port("y", Direction.OUT, n), params=(("K", 2.5),))
    x = f32(np.arange(n, dtype=np.float32))
    y = np.zeros_like(x)
    for _ in range(3):  # buffers and kernel reused across firings
        assert b.fire([x], [y], None) is None
        np.testing.assert_array_equal(y.view(np.float32)[0], np.arange(n, dtype=np.float32) * 2.5)
    b.finish()


def test_state_buffer_filled_by_init_kernel(cl_file):
    b = make(cl_file, "offset", port("x", Direction.IN, 8), port("y", Direction.OUT, 8), params=(("state_bytes", 16),))
    y = np.zeros((1, 32), np.uint8)
    b.fire([f32(np.ones(8))], [y], None)
    assert y.view(np.float32)[0].tolist() == [101, 102, 103, 104] * 2
    b.finish()


def test_dpa_gets_atr_and_variable_counts(cl_file):
    b = make(cl_file, "copy_atr", port("x", Direction.IN, 2, PortKind.VARIABLE, 0, 3),
             port("y", Direction.OUT, 2, PortKind.VARIABLE, 0, 3), kind=ActorKind.DPA)
    x = f32(np.arange(6, dtype=np.float32).reshape(3, 2))
    y = np.zeros_like(x)
    b.fire([x[:2]], [y[:2]], 2)
    assert y.view(np.float32).reshape(-1).tolist() == [2, 3, 4, 5, 0, 0]
    b.fire([x[:0]], [y[:0]], 0)  # pruned firing: no launch
    b.finish()


def test_ca_kernel_writes_atr(cl_file):
    b = make(cl_file, "choose", port("x", Direction.IN, 1), kind=ActorKind.CA, params=(("global_size", 1),))
    assert b.fire([f32([3.0])], [], None) == 3
    b.finish()


def test_build_error_located(tmp_path):
    p = tmp_path / "bad.cl"
    p.write_text("__kernel void k(__global float *y) {\n    y[0] = 1.0f +;\n}\n")
    with pytest.raises(DiagnosticError) as ei:
        make(str(p), "k", port("y", Direction.OUT))
    d = ei.value.diagnostics[0]
    assert (d.code, d.span.file, d.span.line) == ("E103", str(p), 2)


def test_unknown_kernel_and_platform(cl_file):
    with pytest.raises(DiagnosticError, match="no kernel 'nope'"):
        make(cl_file, "nope", port("y", Direction.OUT))
    with pytest.raises(ToolchainError, match="no OpenCL platform"):
        make(cl_file, "scale", port("x", Direction.IN), port("y", Direction.OUT),
             unit=Unit("gpu0", UnitKind.OPENCL, "No Such Vendor", 0))
