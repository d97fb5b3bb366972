"""The C actor back-end: compilation cache, located compile errors, the vrprune.h API, and
GIL-free parallel firing."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from vrprune.diagnostics import DiagnosticError
from vrprune.exec import _toolchain
from vrprune.exec._backend import END
from vrprune.exec._c import CActorError, CBackend
from vrprune.model import Actor, ActorKind, CImpl, Direction, Param, Port, PortKind, TokenType


def port(name: str, direction: Direction, n: int = 4, kind: PortKind = PortKind.STATIC, lrl: int = 1,
         url: int = 1) -> Port:
    return Port(name, direction, kind, TokenType("f32", (n,), 4 * n), lrl, url)


def actor(src: str, fire: str, *ports: Port, kind: ActorKind = ActorKind.SPA, init: str | None = None,
          finish: str | None = None, params: tuple = (), name: str = "A") -> Actor:
    return Actor(name, kind, ports, CImpl(src, init, fire, finish), tuple(Param(k, v) for k, v in params))


def f32(*vals: float) -> np.ndarray:
    return np.array(vals, np.float32).view(np.uint8).reshape(1, -1).copy()


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VRPRUNE_CACHE", str(tmp_path / "cache"))


SCALE = r"""
#include "vrprune.h"
#include <stdlib.h>
typedef struct { float k; int calls; } st;
void *scale_init(const vrp_param *p, int n) {
    st *s = calloc(1, sizeof *s);
    s->k = (float)vrp_param_float(p, n, "k", 1.0);
    return s;
}
int scale_fire(void *s_, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    st *s = s_;
    const float *x = in[0].data; float *y = out[0].data;
    if (x[0] < 0) return vrp_error("negative input %g at call %d", x[0], s->calls);
    s->calls++;
    for (int i = 0; i < in[0].count * in[0].token_bytes / 4; i++) y[i] = x[i] * s->k;
    return VRP_OK;
}
void scale_finish(void *s) { free(s); }
"""


def test_compile_run_and_cache_hit(tmp_path):
    src = tmp_path / "scale.c"
    src.write_text(SCALE)
    a = actor(str(src), "scale_fire", port("x", Direction.IN), port("y", Direction.OUT),
              init="scale_init", finish="scale_finish", params=(("k", 2.5),))
    before = _toolchain.compile_count
    b = CBackend(a, None)
    assert _toolchain.compile_count == before + 1
    assert b.library.startswith(str(tmp_path / "cache"))
    b.init()
    out = np.zeros((1, 16), np.uint8)
    assert b.fire([f32(1, 2, 3, 4)], [out], None) is None
    assert out.view(np.float32).tolist() == [[2.5, 5.0, 7.5, 10.0]]
    b.finish()
    # same content: cache hit, no compiler run
    CBackend(a, None)
    assert _toolchain.compile_count == before + 1
    # changed source: rebuilt
    src.write_text(SCALE.replace("x[i] * s->k", "x[i] * s->k + 1"))
    b2 = CBackend(a, None)
    assert _toolchain.compile_count == before + 2
    b2.init()
    b2.fire([f32(1, 2, 3, 4)], [out], None)
    assert out.view(np.float32).tolist() == [[3.5, 6.0, 8.5, 11.0]]
    b2.finish()


def test_compile_error_points_at_user_file_line_col(tmp_path):
    src = tmp_path / "broken.c"
    src.write_text('#include "vrprune.h"\n'
                   "int f_fire(void *s, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {\n"
                   "    return undeclared_thing + 1;\n"
                   "}\n")
    a = actor(str(src), "f_fire", port("x", Direction.IN))
    with pytest.raises(DiagnosticError) as ei:
        CBackend(a, None)
    d = ei.value.diagnostics[0]
    assert d.code == "E101"
    assert (d.span.file, d.span.line, d.span.col) == (str(src), 3, 12)
    assert "undeclared_thing" in d.message


def test_missing_compiler_says_how_to_fix(tmp_path, monkeypatch):
    src = tmp_path / "scale.c"
    src.write_text(SCALE)
    monkeypatch.setenv("VRPRUNE_CC", str(tmp_path / "no-such-cc"))
    with pytest.raises(_toolchain.ToolchainError, match="VRPRUNE_CC"):
        CBackend(actor(str(src), "scale_fire", port("x", Direction.IN), port("y", Direction.OUT)), None)


def test_missing_fire_symbol(tmp_path):
    src = tmp_path / "scale.c"
    src.write_text(SCALE)
    with pytest.raises(DiagnosticError) as ei:
        CBackend(actor(str(src), "nope_fire", port("x", Direction.IN)), None)
    assert ei.value.diagnostics[0].code == "E102"


def test_error_return_is_reported_with_message(tmp_path):
    src = tmp_path / "scale.c"
    src.write_text(SCALE)
    b = CBackend(actor(str(src), "scale_fire", port("x", Direction.IN), port("y", Direction.OUT),
                       init="scale_init", finish="scale_finish"), None)
    b.init()
    out = np.zeros((1, 16), np.uint8)
    b.fire([f32(1, 1, 1, 1)], [out], None)
    with pytest.raises(CActorError, match=r"returned -1: negative input -2 at call 1"):
        b.fire([f32(-2, 0, 0, 0)], [out], None)
    b.finish()


KINDS = r"""
#include "vrprune.h"
#include <stdlib.h>
#include <string.h>
typedef struct { int n, limit; char tag[16]; } src_t;
/* default entry points by actor name: Src_init / Src_finish */
void *Src_init(const vrp_param *p, int n) {
    src_t *s = calloc(1, sizeof *s);
    s->limit = (int)vrp_param_int(p, n, "limit", 0);
    strncpy(s->tag, vrp_param_str(p, n, "tag", "?"), 15);
    if (s->limit < 0) { vrp_error("limit must be >= 0"); free(s); return NULL; }
    return s;
}
int Src_fire(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    src_t *s = st;
    if (n_in != 0 || n_out != 1) return vrp_error("ports");
    if (s->n >= s->limit) return VRP_END;
    ((float *)out[0].data)[0] = (float)s->n++ + (s->tag[0] == 'x' ? 0.5f : 0.0f);
    return VRP_OK;
}
int Src_finish_called = 0;
void Src_finish(void *st) { Src_finish_called++; free(st); }
int get_finish_called(void) { return Src_finish_called; }

/* a configuration actor: atr = (int)x[0] */
int ca_fire(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    if (*atr != -1) return vrp_error("CA got atr %d", *atr);
    *atr = (int32_t)((const float *)in[0].data)[0];
    return VRP_OK;
}
int lazy_ca_fire(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) { return VRP_OK; }
/* a DPA copying atr tokens; checks counts agree with atr */
int dpa_fire(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    if (in[0].count != *atr || out[0].count != *atr) return vrp_error("count %d != atr %d", in[0].count, *atr);
    if (*atr) memcpy(out[0].data, in[0].data, (size_t)*atr * in[0].token_bytes);
    return VRP_OK;
}
int bad_end_fire(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) { return VRP_END; }
"""


def test_source_end_params_and_default_entry_points(tmp_path):
    src = tmp_path / "kinds.c"
    src.write_text(KINDS)
    a = actor(str(src), "Src_fire", port("y", Direction.OUT, 1), name="Src", params=(("limit", 2), ("tag", "xy")))
    b = CBackend(a, None)
    b.init()
    out = np.zeros((1, 4), np.uint8)
    got = []
    while b.fire([], [out], None) is not END:
        got.append(float(out.view(np.float32)[0, 0]))
    assert got == [0.5, 1.5]
    b.finish()
    b.finish()  # idempotent
    import ctypes

    assert ctypes.CDLL(b.library).get_finish_called() == 1


def test_init_error_reported(tmp_path):
    src = tmp_path / "kinds.c"
    src.write_text(KINDS)
    b = CBackend(actor(str(src), "Src_fire", port("y", Direction.OUT, 1), name="Src", params=(("limit", -1),)), None)
    with pytest.raises(CActorError, match="limit must be >= 0"):
        b.init()


def test_ca_returns_atr_and_dpa_gets_atr(tmp_path):
    src = tmp_path / "kinds.c"
    src.write_text(KINDS)
    ca = CBackend(actor(str(src), "ca_fire", port("x", Direction.IN, 1), kind=ActorKind.CA), None)
    ca.init()
    assert ca.fire([f32(3)], [], None) == 3
    lazy = CBackend(actor(str(src), "lazy_ca_fire", port("x", Direction.IN, 1), kind=ActorKind.CA), None)
    with pytest.raises(CActorError, match="did not write"):
        lazy.fire([f32(3)], [], None)
    dpa = CBackend(actor(str(src), "dpa_fire", port("x", Direction.IN, 1, PortKind.VARIABLE, 0, 4),
                         port("y", Direction.OUT, 1, PortKind.VARIABLE, 0, 4), kind=ActorKind.DPA), None)
    dpa.init()
    x = np.arange(3, dtype=np.float32).view(np.uint8).reshape(3, 4)
    y = np.zeros((3, 4), np.uint8)
    assert dpa.fire([x], [y], 3) is None
    assert (y == x).all()
    assert dpa.fire([x[:0]], [y[:0]], 0) is None  # a pruned firing
    with pytest.raises(CActorError, match="count 3 != atr 2"):
        dpa.fire([x], [y], 2)
    bad = CBackend(actor(str(src), "bad_end_fire", port("x", Direction.IN, 1)), None)
    with pytest.raises(CActorError, match="only a source"):
        bad.fire([f32(1)], [], None)


BUSY = r"""
#include "vrprune.h"
#include <time.h>
int busy_fire(void *s, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do clock_gettime(CLOCK_MONOTONIC, &t);
    while ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) * 1e-9 < 0.2);
    return VRP_OK;
}
"""


def test_two_c_actors_fire_in_parallel(tmp_path):
    """cffi drops the GIL: two actors that each spin for 0.2 s take ~0.2 s together, not 0.4 s."""
    src = tmp_path / "busy.c"
    src.write_text(BUSY)
    backends = [CBackend(actor(str(src), "busy_fire", port("x", Direction.IN), name=f"B{i}"), None) for i in range(2)]
    x = f32(0, 0, 0, 0)
    for b in backends:
        b.init()
        b.fire([x], [], None)  # warm
    best = float("inf")
    for _ in range(3):  # shared 2-core machine: take the best of three
        threads = [threading.Thread(target=b.fire, args=([x], [], None)) for b in backends]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        best = min(best, time.perf_counter() - t0)
    assert os.cpu_count() and os.cpu_count() >= 2
    assert 0.19 < best < 0.33, f"two 0.2 s C firings took {best:.3f} s: not parallel"
