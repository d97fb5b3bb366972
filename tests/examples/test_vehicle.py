"""The vehicle classifier three ways (numpy, C, OpenCL actors) against the numpy reference:
once through the back-ends fired in sequence, once through `vrprune run`."""

from __future__ import annotations

import importlib.util
import io
import os
import sys

import numpy as np
import pytest

from vrprune.cli import main_with

HERE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "examples", "vehicle")
VARIANTS = ["np", "c", "cl"]
FRAMES = 8  # `param frames` of Input in every vehicle_*.vpr


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"vehicle_test_{name}", os.path.join(HERE, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


reference = _load("reference")
sequential = _load("sequential")


@pytest.fixture(scope="module")
def expected() -> np.ndarray:
    return reference.run(FRAMES, seed=7, wseed=1)


def test_reference_is_a_sane_classifier(expected):
    assert expected.shape == (FRAMES, 4) and expected.dtype == np.float32
    np.testing.assert_allclose(expected.sum(axis=1), 1.0, atol=1e-6)
    assert expected.max() < 0.95 and expected.min() > 0.005  # softmax not degenerate
    assert np.abs(np.diff(expected, axis=0)).max() > 1e-2  # frames differ


def test_prng_is_splitmix64():
    # SplitMix64 reference values (seeded state 0 -> first outputs use x = 0, golden, 2*golden)
    x = np.array([0, 0x9E3779B97F4A7C15], np.uint64)
    assert reference.splitmix64(x).tolist() == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4]


def test_token_sizes_match_design():
    import vrprune

    g = vrprune.load(os.path.join(HERE, "vehicle_c.vpr"))
    idx = g.index()
    sizes = [idx.token_bytes(g.fifo(n)) for n in ("Input.img", "L1.y", "L2.y", "L3.y", "L4L5.p")]
    assert sizes == [110_592, 294_912, 73_728, 400, 16]


@pytest.mark.parametrize("variant", VARIANTS)
def test_backends_in_sequence_match_reference(variant, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Output writes vehicle_probs.f32 here
    got, per_actor = sequential.run_sequential(os.path.join(HERE, f"vehicle_{variant}.vpr"))
    assert got.shape == (FRAMES, 4)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    written = np.fromfile(tmp_path / "vehicle_probs.f32", np.float32).reshape(-1, 4)
    np.testing.assert_allclose(written, expected, atol=1e-4, rtol=0)
    assert set(per_actor) == {"Input", "L1", "L2", "L3", "L4L5", "Output"}


@pytest.mark.parametrize("variant", VARIANTS)
def test_vrprune_run_matches_reference(variant, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    rc = main_with(["run", os.path.join(HERE, f"vehicle_{variant}.vpr"), "--unchecked", "--quiet"], out, err)
    assert rc == 0, err.getvalue()
    got = np.fromfile(tmp_path / "vehicle_probs.f32", np.float32).reshape(-1, 4)
    assert got.shape == (FRAMES, 4)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
