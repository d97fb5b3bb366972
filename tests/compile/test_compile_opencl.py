"""`vrprune compile` with OpenCL actors: the compiled program runs the same .cl source, unchanged,
with the Python back-end's kernel convention (vrprune/exec/_opencl.py) on PoCL (OpenCL on the
CPU from pip), and gives the results of `vrprune run`: the vehicle classifier (persistent state
buffers filled by init kernels, -D parameters, global_size), and a DPG whose CA, DA and DPA are
kernels (atr as an argument and through a one-int buffer, variable counts, pruned firings)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from vrprune.compile import build, compile_app

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VDIR = os.path.join(ROOT, "examples", "vehicle")

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None
                                and not os.environ.get("VRPRUNE_CC"), reason="no C compiler")


def py_run(app: str, cwd, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vrprune", "run", app, *extra], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def compile_and_build(app: str, out, **kw) -> tuple:
    res = compile_app(app, str(out), **kw)
    assert res.verdict == "proved"
    return res.program, build(res.program, werror=True)


def test_vehicle_cl_compiled_equals_vrprune_run(tmp_path):
    text = open(os.path.join(VDIR, "vehicle_cl.vpr")).read()
    for f in ("vehicle.c", "vehicle.cl"):
        text = text.replace(f'"{f}"', f'"{os.path.join(VDIR, f)}"')
    text = text.replace("param frames = 8", "param frames = 4")
    app = tmp_path / "vehicle_cl.vpr"
    app.write_text(text)
    prog, exe = compile_and_build(str(app), tmp_path / "build")
    assert prog.n_opencl == 4 and prog.warnings == ""
    main = (tmp_path / "build" / prog.main_c).read_text()
    assert 'static vrp_cl_actor actor_L1_cl' in main and '.kernel = "conv_pool"' in main
    assert '.options = "-Dstate_bytes=9728 -Dglobal_size=9216 -Dlayer=1 -Dhw=96 -Dcin=3 -Dcout=32 -Dwseed=1"' in main
    # the .cl file travels unchanged
    assert (tmp_path / "build" / "actors" / "vehicle" / "vehicle.cl").read_bytes() == \
        open(os.path.join(VDIR, "vehicle.cl"), "rb").read()
    (tmp_path / "py").mkdir()
    (tmp_path / "c").mkdir()
    ref = py_run(str(app), tmp_path / "py")
    assert ref.returncode == 0, ref.stderr
    r = subprocess.run([exe], cwd=tmp_path / "c", capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "graph vehicle: ok" in r.stdout and "L3      4 firings" in r.stdout
    want = np.fromfile(tmp_path / "py" / "vehicle_probs.f32", np.float32).reshape(-1, 4)
    got = np.fromfile(tmp_path / "c" / "vehicle_probs.f32", np.float32).reshape(-1, 4)
    assert want.shape == got.shape == (4, 4)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


# A DPG of OpenCL kernels between C source and sink: the CA chooses the rate through its
# one-int atr buffer; the DA/DPA get it as `int atr`; counts vary 0..4 (0: nothing launched).
DPG_CL = r"""
#ifndef SHIFT
#define SHIFT 0
#endif
#ifndef SCALE
#define SCALE 1
#endif
__kernel void count(__global const long *d, __global int *atr) {
    const int r[5] = {0, 1, 4, 2, 3};
    *atr = r[d[0] % 5];
}
__kernel void entry(__global const long *d, __global long *box, int atr) {
    size_t i = get_global_id(0);
    box[i] = d[0] * 100 + (long)i + SHIFT;
}
__kernel void mid(__global const long *box, __global long *t, int atr) {
    size_t i = get_global_id(0);
    t[i] = box[i] + 7 * atr;
}
__kernel void exit_(__global const long *t, __global long *n, int atr) {
    size_t i = get_global_id(0);
    long s = 1000 * atr;
    for (int k = 0; k < atr; k++) s += t[2 * k + i];
    n[i] = s;
}
/* persistent state: one counter per work item, set to 40 by the init kernel, +1 per firing */
__kernel void tag_init(__global int *state) { state[get_global_id(0)] = 40; }
__kernel void tag(__global const long *x, __global long *y, __global int *state) {
    size_t i = get_global_id(0);
    y[i] = x[i] * SCALE + state[i];
    state[i] += 1;
}
"""

ACTORS_C = r"""
#include "vrprune.h"
#include <stdlib.h>
typedef struct { int64_t next; FILE *f; } st_t;
void *t_init(const vrp_param *p, int n) {
    st_t *s = calloc(1, sizeof *s);
    const char *path = vrp_param_str(p, n, "path", NULL);
    if (path && !(s->f = fopen(path, "wb"))) { vrp_error("cannot open %s", path); free(s); return NULL; }
    return s;
}
void t_finish(void *st) { st_t *s = st; if (s->f) fclose(s->f); free(s); }
int t_src(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    st_t *s = st;
    for (int k = 0; k < n_out; k++) {
        int64_t *o = out[k].data;
        for (int i = 0; i < out[k].count * out[k].token_bytes / 8; i++) o[i] = s->next++;
    }
    return VRP_OK;
}
int t_sink(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    st_t *s = st;
    fwrite(in[0].data, (size_t)in[0].token_bytes, (size_t)in[0].count, s->f);
    return VRP_OK;
}
"""

C = 'impl c "actors.c" {{ init = t_init, fire = {}, finish = t_finish }}'
DPG = f"""graph boxes {{
  actor Src  {{ out a: i64  out b: i64   {C.format("t_src")} }}
  actor Tag  {{ in x: i64[2]  out y: i64[2]  impl opencl "k.cl" kernel tag  param state_bytes = 8  param SCALE = 3
               param global_size = 2 }}
  actor Sink {{ in n: i64[2]   {C.format("t_sink")}  param path = "out.bin" }}
  dpg det {{
    actor Count: ca  {{ in d: i64  control out c1  control out c2  control out c3
                        impl opencl "k.cl" kernel count  param global_size = 1 }}
    actor Entry: da  {{ control in c  in d: i64  out box: i64[2] @ 0..4  impl opencl "k.cl" kernel entry
                        param SHIFT = 5 }}
    actor Mid: dpa   {{ control in c  in box: i64[2] @ 0..4  out t: i64[2] @ 0..4  impl opencl "k.cl" kernel mid }}
    actor Exit: da   {{ control in c  in t: i64[2] @ 0..4  out n: i64[2]  impl opencl "k.cl" kernel exit_ }}
    fifo Count.c1 -> Entry.c capacity 2
    fifo Count.c2 -> Mid.c capacity 2
    fifo Count.c3 -> Exit.c capacity 2
    fifo Entry.box -> Mid.box capacity 4
    fifo Mid.t -> Exit.t capacity 8
  }}
  fifo Src.a -> Count.d capacity 1
  fifo Src.b -> Entry.d capacity 2
  fifo Exit.n -> Tag.x capacity 2
  fifo Tag.y -> Sink.n capacity 2
}}
"""


def test_opencl_dpg_compiled_equals_vrprune_run(tmp_path):
    (tmp_path / "k.cl").write_text(DPG_CL)
    (tmp_path / "actors.c").write_text(ACTORS_C)
    app = tmp_path / "app.vpr"
    app.write_text(DPG)
    prog, exe = compile_and_build(str(app), tmp_path / "build", iterations=25)
    main = (tmp_path / "build" / prog.main_c).read_text()
    assert ".atr_mode = VRP_CL_CA" in main and ".atr_mode = VRP_CL_DA" in main
    (tmp_path / "py").mkdir()
    (tmp_path / "c").mkdir()
    ref = py_run(str(app), tmp_path / "py", "--iterations", "25")
    assert ref.returncode == 0, ref.stderr
    r = subprocess.run([exe], cwd=tmp_path / "c", capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    want = (tmp_path / "py" / "out.bin").read_bytes()
    assert len(want) == 25 * 16
    assert (tmp_path / "c" / "out.bin").read_bytes() == want


def test_opencl_build_error_names_the_actor(tmp_path):
    (tmp_path / "k.cl").write_text(DPG_CL.replace("*atr = r[d[0] % 5];", "*atr = r[d[0] % 5] +;"))
    (tmp_path / "actors.c").write_text(ACTORS_C)
    app = tmp_path / "app.vpr"
    app.write_text(DPG)
    prog, exe = compile_and_build(str(app), tmp_path / "build", iterations=3)
    r = subprocess.run([exe], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert "actor 'Count' failed in init" in r.stderr and "build log" in r.stderr, r.stderr


def test_unknown_platform_is_reported(tmp_path):
    (tmp_path / "k.cl").write_text(DPG_CL)
    (tmp_path / "actors.c").write_text(ACTORS_C)
    app = tmp_path / "app.vpr"
    app.write_text(DPG)
    prog, exe = compile_and_build(str(app), tmp_path / "build", iterations=3)
    r = subprocess.run([exe], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, VRPRUNE_CL_PLATFORM="No Such Vendor"))
    assert r.returncode == 1
    assert "no OpenCL platform whose name contains 'No Such Vendor'" in r.stderr, r.stderr
