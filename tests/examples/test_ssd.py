"""The SSD-style tracker with numpy actors (examples/ssd): the same graph as specs/ssd.vpr,
a pipelined `vrprune run` (checked) equal to the sequential numpy reference, and box counts
that vary from frame to frame (0 included, so the DPG is pruned with atr = 0)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import vrprune

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "examples", "ssd")
FRAMES = 6  # `param frames` of Input in examples/ssd/ssd.vpr


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"ssd_test_{name}", os.path.join(HERE, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


reference = _load("reference")
actors = _load("ssd_np")


def _structure(path: str):
    """Everything of a graph but implementations, parameters and source spans."""
    g = vrprune.load(path)
    acts = sorted(
        (a.name, a.kind.value, a.dpg,
         tuple((p.name, p.direction.value, p.kind.value, p.token.dtype, tuple(p.token.shape), p.token.nbytes, p.lrl,
                p.url) for p in a.ports))
        for a in g.actors)
    fifos = sorted((f.name, f.src.actor, f.src.port, f.dst.actor, f.dst.port, f.capacity, f.initial) for f in g.fifos)
    dpgs = sorted((d.name, tuple(sorted(d.actors))) for d in g.dpgs)
    return g.name, acts, fifos, dpgs


def test_same_graph_as_spec():
    spec = _structure(os.path.join(ROOT, "specs", "ssd.vpr"))
    ex = _structure(os.path.join(HERE, "ssd.vpr"))
    assert ex == spec
    _, acts, fifos, _ = ex
    assert len(acts) == 53 and len(fifos) == 69
    g = vrprune.load(os.path.join(HERE, "ssd.vpr"))
    assert all(a.impl is not None for a in g.actors)  # every actor is implemented


@pytest.fixture(scope="module")
def expected() -> list[dict]:
    return reference.run(FRAMES, seed=7, wseed=1)


def test_reference_counts_vary(expected):
    counts = [line["boxes"] for line in expected]
    assert 0 in counts  # a pruned DPG iteration (atr = 0)
    assert len(set(counts)) >= 3, counts
    assert max(counts) <= reference.MAXBOX
    for line in expected:
        assert len(line["tracks"]) == len(line["box"]) == line["boxes"]
        assert len(set(line["tracks"])) == line["boxes"]  # one track per box per frame
        for y0, x0, y1, x1 in line["box"]:
            assert 0 <= y0 <= y1 <= 1 and 0 <= x0 <= x1 <= 1
    # tracks persist: the first frame's first track is seen again later
    assert any(expected[0]["tracks"][0] in line["tracks"] for line in expected[1:])


def test_empty_frame_has_no_objects_and_no_boxes():
    empty = [f for f in range(len(reference.COUNTS)) if reference.COUNTS[f] == 0]
    assert empty
    fr = reference.frame(7, empty[0])
    assert fr.max() < 24  # background only
    n, dets = reference.Network(1).detect(reference.to_input(fr))
    assert n == 0 and not dets.any()


def test_layer_shapes_follow_spec():
    net = reference.Network(1)
    fms = net.features(reference.to_input(reference.frame(7, 0)))
    assert [fm.shape for fm in fms] == [(s, s, c) for s, c, _ in reference.FMAPS]
    assert reference.ANCHOR_BOXES.shape == (1917, 4)


def test_depthwise_and_strided_conv_against_naive():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 7, 4)).astype(np.float32)
    wd = rng.standard_normal((3, 3, 4)).astype(np.float32)
    wc = rng.standard_normal((3, 3, 4, 5)).astype(np.float32)
    p = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    for s in (1, 2):
        n = (7 + s - 1) // s
        dw = np.zeros((n, n, 4), np.float32)
        cv = np.zeros((n, n, 5), np.float32)
        for i in range(n):
            for j in range(n):
                win = p[s * i:s * i + 3, s * j:s * j + 3]
                dw[i, j] = (win * wd).sum(axis=(0, 1))
                cv[i, j] = np.einsum("abc,abcd->d", win, wc)
        np.testing.assert_allclose(reference.depthwise(x, wd, s), np.maximum(dw, 0), atol=1e-5)
        np.testing.assert_allclose(reference.conv3x3(x, wc, s), np.maximum(cv, 0), atol=1e-4)


def test_dpg_actors_in_isolation():
    """BoxCount clips to url; TrackIn/Tracker/TrackOut move exactly atr tokens, atr = 0 included."""
    assert actors.BoxCount(maxbox=10).fire([np.array([[14, 0, 0, 0]], np.uint8)], [], None) == 10
    assert actors.BoxCount(maxbox=10).fire([np.int32([3]).view(np.uint8).reshape(1, 4)], [], None) == 3
    dets = np.zeros((10, 6), np.float32)
    dets[0] = (0.1, 0.1, 0.3, 0.3, 0.9, 1)
    dets[1] = (0.5, 0.5, 0.9, 0.8, 0.8, 2)
    frame = reference.frame(7, 1)
    trk = actors.Tracker()
    ids = []
    for shift, atr in ((0.0, 2), (0.02, 2), (0.0, 0), (0.04, 1)):
        d = dets.copy()
        d[:, :4] += shift * (np.arange(10) < 2)[:, None]
        box = np.zeros((atr, 24), np.uint8)
        patch = np.zeros((atr, 32 * 32 * 3), np.uint8)
        det = np.zeros((atr, 24), np.uint8)
        actors.TrackIn().fire([d.view(np.uint8).reshape(1, -1), frame.reshape(1, -1)], [box, patch, det], atr)
        t = np.zeros((atr, 32), np.uint8)
        trk.fire([box, patch], [t], atr)
        table = np.zeros((1, 320), np.uint8)
        actors.TrackOut().fire([t, det], [table], atr)
        tab = table.view(np.float32).reshape(10, 8)
        assert not tab[atr:].any()
        np.testing.assert_array_equal(tab[:atr, 1:5], d[:atr, :4])
        ids.append(tab[:atr, 0].astype(int).tolist())
    assert ids == [[1, 2], [1, 2], [], [1]]  # association by nearest centroid, ids persist


def test_pipelined_run_matches_reference(expected, tmp_path):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "vrprune", "run", os.path.join(HERE, "ssd.vpr"),
                           "--iterations", str(FRAMES)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert "unchecked" not in proc.stderr  # the graph was proved before it ran
    got = [json.loads(s) for s in (tmp_path / "ssd_tracks.jsonl").read_text().splitlines()]
    assert len(got) == FRAMES
    for g, e in zip(got, expected):
        assert (g["frame"], g["boxes"], g["tracks"]) == (e["frame"], e["boxes"], e["tracks"])
        np.testing.assert_allclose(np.array(g["box"]).reshape(-1, 4), np.array(e["box"]).reshape(-1, 4), atol=2e-4)
    for g in got:  # Output's printed lines
        assert f"frame {g['frame']}: {g['boxes']} boxes, tracks {g['tracks']}" in proc.stdout
