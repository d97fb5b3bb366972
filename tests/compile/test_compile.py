"""`vrprune compile`: generated programs give the same results as `vrprune run` on the same
graphs and the same (unchanged) C actor sources; -Wall -Wextra -Werror; ThreadSanitizer and
AddressSanitizer builds run clean; refusals and errors."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys

import pytest

from vrprune.cli import main_with
from vrprune.compile import build, compile_app

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None
                                and not os.environ.get("VRPRUNE_CC"), reason="no C compiler")

# The actors of every test graph: plain vrprune.h actors, run by both executors unchanged.
ACTORS_C = r"""
#include "vrprune.h"
#include <stdlib.h>

typedef struct { int64_t next, fired, stop, at; FILE *f; int32_t rates[16]; int n_rates; } st_t;

void *t_init(const vrp_param *p, int n) {
    st_t *s = calloc(1, sizeof *s);
    s->stop = vrp_param_int(p, n, "stop", -1);
    s->at = vrp_param_int(p, n, "at", -1);
    const char *path = vrp_param_str(p, n, "path", NULL);
    if (path && !(s->f = fopen(path, "wb"))) { vrp_error("cannot open %s", path); free(s); return NULL; }
    const char *r = vrp_param_str(p, n, "rates", "1");
    while (*r && s->n_rates < 16) { s->rates[s->n_rates++] = (int32_t)strtol(r, (char **)&r, 10); if (*r == ',') r++; }
    return s;
}
void t_finish(void *st) { st_t *s = st; if (s->f) fclose(s->f); free(s); }

/* every output token: consecutive int64 numbers (several per token if the token is wider) */
int t_src(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    st_t *s = st;
    if (s->fired == s->stop) return VRP_END;
    s->fired++;
    for (int k = 0; k < n_out; k++) {
        int64_t *o = out[k].data;
        for (int i = 0; i < out[k].count * out[k].token_bytes / 8; i++) o[i] = s->next++;
    }
    return VRP_OK;
}
/* copies in[0] to out[0] (equal byte counts); fails in firing `at` */
int t_copy(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    st_t *s = st;
    if (++s->fired == s->at) return vrp_error("bad token %lld", (long long)((int64_t *)in[0].data)[0]);
    memcpy(out[0].data, in[0].data, (size_t)in[0].count * in[0].token_bytes);
    return VRP_OK;
}
/* out[0] = in[0] * 3 + in[1] elementwise (two inputs, equal sizes) */
int t_mix(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    const int64_t *a = in[0].data, *b = in[1].data;
    int64_t *o = out[0].data;
    for (int i = 0; i < in[0].count * in[0].token_bytes / 8; i++) o[i] = a[i] * 3 + b[i];
    return VRP_OK;
}
/* writes every byte it consumes, then the atr it saw (DA/DPA) */
int t_sink(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    st_t *s = st;
    for (int k = 0; k < n_in; k++) fwrite(in[k].data, (size_t)in[k].token_bytes, (size_t)in[k].count, s->f);
    return VRP_OK;
}
/* CA: atr from the `rates` list, cycling */
int t_count(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    st_t *s = st;
    *atr = s->rates[s->fired++ % s->n_rates];
    return VRP_OK;
}
/* entry DA: atr boxes, box j of firing with input d = (d*10+j, j) */
int t_entry(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    int64_t d = ((int64_t *)in[0].data)[0];
    int64_t *o = out[0].data;
    for (int j = 0; j < *atr; j++) { o[2 * j] = d * 10 + j; o[2 * j + 1] = j; }
    return VRP_OK;
}
/* DPA: doubles the boxes */
int t_mid(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    const int64_t *x = in[0].data;
    int64_t *o = out[0].data;
    for (int j = 0; j < 2 * in[0].count; j++) o[j] = 2 * x[j];
    return VRP_OK;
}
/* exit DA: (number of boxes, sum of their numbers) */
int t_exit(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    const int64_t *x = in[0].data;
    int64_t sum = 0, *o = out[0].data;
    for (int j = 0; j < 2 * in[0].count; j++) sum += x[j];
    o[0] = *atr; o[1] = sum;
    return VRP_OK;
}
"""

IMPL = 'impl c "actors.c" {{ init = t_init, fire = {fire}, finish = t_finish }}'


def impl(fire: str) -> str:
    return IMPL.format(fire=fire)


CHAIN = f"""graph chain {{
  actor Src  {{ out o: i64   {impl("t_src")}  param stop = 500 }}
  actor Cp1  {{ in i: i64  out o: i64   {impl("t_copy")} }}
  actor Cp2  {{ in i: i64  out o: i64   {impl("t_copy")} }}
  actor Sink {{ in i: i64   {impl("t_sink")}  param path = "out.bin" }}
  fifo Src.o -> Cp1.i capacity 2
  fifo Cp1.o -> Cp2.i capacity 1
  fifo Cp2.o -> Sink.i capacity 3
}}
"""

# multirate, windows wrapping the ring, two inputs, initial tokens on a feedback-free join
MULTIRATE = f"""graph multirate {{
  actor Src  {{ out o: i64 @ 3  out p: i64 @ 3   {impl("t_src")} }}
  actor Cp   {{ in i: i64 @ 2  out o: i64 @ 2   {impl("t_copy")} }}
  actor Mix  {{ in a: i64 @ 3  in b: i64 @ 3  out o: i64[3]   {impl("t_mix")} }}
  actor Sink {{ in i: i64[3] @ 2   {impl("t_sink")}  param path = "out.bin" }}
  fifo Src.o -> Cp.i capacity 5
  fifo Src.p -> Mix.b capacity 7
  fifo Cp.o -> Mix.a capacity 5 initial 1
  fifo Mix.o -> Sink.i capacity 3
}}
"""

DPG = f"""graph boxes {{
  actor Src  {{ out a: i64  out b: i64   {impl("t_src")} }}
  actor Sink {{ in n: i64[2]   {impl("t_sink")}  param path = "out.bin" }}
  dpg det {{
    actor Count: ca  {{ in d: i64  control out c1  control out c2  control out c3
                        {impl("t_count")}  param rates = "0,1,4,2,3" }}
    actor Entry: da  {{ control in c  in d: i64  out box: i64[2] @ 0..4   {impl("t_entry")} }}
    actor Mid: dpa   {{ control in c  in box: i64[2] @ 0..4  out t: i64[2] @ 0..4   {impl("t_mid")} }}
    actor Exit: da   {{ control in c  in t: i64[2] @ 0..4  out n: i64[2]   {impl("t_exit")} }}
    fifo Count.c1 -> Entry.c capacity 2
    fifo Count.c2 -> Mid.c capacity 2
    fifo Count.c3 -> Exit.c capacity 2
    fifo Entry.box -> Mid.box capacity 4
    fifo Mid.t -> Exit.t capacity 8
  }}
  fifo Src.a -> Count.d capacity 1
  fifo Src.b -> Entry.d capacity 2
  fifo Exit.n -> Sink.n capacity 2
}}
"""

GRAPHS = {"chain": (CHAIN, None), "multirate": (MULTIRATE, 40), "boxes": (DPG, 60)}


def write_app(d, text: str, name: str = "app.vpr") -> str:
    (d / "actors.c").write_text(ACTORS_C)
    p = d / name
    p.write_text(text)
    return str(p)


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main_with(list(argv), out, err)
    return rc, out.getvalue(), err.getvalue()


def py_run(app: str, cwd, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vrprune", "run", app, *extra], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def firing_lines(stdout: str) -> list[str]:
    return [ln.split() for ln in stdout.splitlines() if ln.endswith(" firings") and ln.startswith("  ")]


def compiled(tmp_path, text: str, iterations: int | None, **kw):
    app = write_app(tmp_path, text)
    res = compile_app(app, str(tmp_path / "build"), iterations=iterations)
    assert res.verdict == "proved"
    return app, res.program, build(res.program, **kw)


@pytest.mark.parametrize("which", sorted(GRAPHS))
def test_compiled_equals_python_run(tmp_path, which):
    text, iterations = GRAPHS[which]
    app, prog, exe = compiled(tmp_path, text, iterations, werror=True)
    assert prog.warnings == ""
    (tmp_path / "py").mkdir()
    (tmp_path / "c").mkdir()
    extra = ["--iterations", str(iterations)] if iterations else []
    ref = py_run(app, tmp_path / "py", *extra)
    assert ref.returncode == 0, ref.stderr
    r = subprocess.run([exe], cwd=tmp_path / "c", capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    want = (tmp_path / "py" / "out.bin").read_bytes()
    assert len(want) > 0
    assert (tmp_path / "c" / "out.bin").read_bytes() == want
    assert firing_lines(r.stdout) == firing_lines(ref.stdout)
    assert r.stdout.splitlines()[0].startswith(ref.stdout.splitlines()[0].split(" firings in")[0].rsplit(" ", 1)[0])


def test_dpg_output_is_what_the_rates_say(tmp_path):
    import numpy as np

    app, prog, exe = compiled(tmp_path, DPG, 10)
    r = subprocess.run([exe], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    got = np.fromfile(tmp_path / "out.bin", np.int64).reshape(-1, 2)
    rates = [0, 1, 4, 2, 3]
    want = []
    for k in range(10):
        atr = rates[k % 5]
        d = 2 * k + 1  # Src numbers port a then port b: b gets the odd numbers
        want.append((atr, sum(2 * (d * 10 + j) + 2 * j for j in range(atr))))
    assert got.tolist() == [list(w) for w in want]


def test_iterations_on_the_command_line_and_quiet(tmp_path):
    app, prog, exe = compiled(tmp_path, MULTIRATE, 40)
    r = subprocess.run([exe, "--iterations", "3"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("graph multirate: ok (3 iterations, ")
    assert ["Src", "6", "firings"] in firing_lines(r.stdout)  # q[Src] = 2
    r = subprocess.run([exe, "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == ""
    r = subprocess.run([exe, "--bogus"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "bad argument '--bogus'" in r.stderr
    r = subprocess.run([exe, "--pin"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--pin takes the cores from a mapping" in r.stderr, r.stderr  # compiled without one


def test_generated_code_is_readable(tmp_path):
    app, prog, exe = compiled(tmp_path, DPG, 5)
    text = (tmp_path / "build" / "boxes.c").read_text()
    # actors and fifos under the user's names, capacities and proved bounds in comments
    assert "static vrp_actor actor_Count = {" in text and ".is_ca = 1" in text and ".lo = 0" in text
    assert re.search(r"/\* Entry\.box -> Mid\.box, i64\[2\], rates 0\.\.4 -> 0\.\.4; capacity 4, proved bound 4, "
                     r"peak \d", text)
    assert 'VRP_FIFO("Mid.t", 8, 16, 0, 4)' in text
    assert "0 /* atr in 0..4 */" in text
    # the actor sources are the user's, byte for byte
    copies = list((tmp_path / "build" / "actors").rglob("actors.c"))
    assert len(copies) == 1 and copies[0].read_bytes() == (tmp_path / "actors.c").read_bytes()


def test_makefile_and_build_sh_build_the_same_program(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    app = write_app(tmp_path, CHAIN)
    rc, out, err = cli("compile", app, "-o", str(tmp_path / "b"))
    assert rc == 0, err
    assert "make -C" in out
    r = subprocess.run(["make", "-s", "WARN=-Wall -Wextra -Werror"], cwd=tmp_path / "b", capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["./chain", "-q"], cwd=tmp_path / "b", capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "b" / "out.bin").stat().st_size == 500 * 8
    os.unlink(tmp_path / "b" / "chain")
    r = subprocess.run(["./build.sh"], cwd=tmp_path / "b", capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert os.access(tmp_path / "b" / "chain", os.X_OK)


def _has_sanitizer(name: str, tmp_path) -> bool:
    from vrprune.exec._toolchain import find_cc

    src = tmp_path / "probe.c"
    src.write_text("#include <pthread.h>\nint main(void) { return 0; }\n")
    r = subprocess.run(find_cc() + [f"-fsanitize={name}", "-pthread", "-o", str(tmp_path / "probe"), str(src)],
                       capture_output=True)
    return r.returncode == 0 and subprocess.run([str(tmp_path / "probe")], capture_output=True).returncode == 0


@pytest.mark.parametrize("san", ["thread", "address"])
@pytest.mark.parametrize("which", ["multirate", "boxes"])
def test_sanitizer_builds_run_clean(tmp_path, san, which):
    if not _has_sanitizer(san, tmp_path):
        pytest.skip(f"the C toolchain here has no -fsanitize={san}")
    text, iterations = GRAPHS[which]
    app = write_app(tmp_path, text)
    rc, out, err = cli("compile", app, "-o", str(tmp_path / "b"), "--iterations", str(iterations),
                       "--sanitize", san)
    assert rc == 0, err
    exe = tmp_path / "b" / f"{which}-{san}"
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=1 exitcode=66", ASAN_OPTIONS="detect_leaks=1 exitcode=66")
    r = subprocess.run([str(exe)], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert "Sanitizer" not in r.stderr, r.stderr
    assert r.stdout.startswith(f"graph {which}: ok ({iterations} iterations")


def test_sanitizer_build_of_a_failing_run_is_clean(tmp_path):
    """An actor error stops every thread: no race, no leak on that path either."""
    if not _has_sanitizer("thread", tmp_path):
        pytest.skip("no -fsanitize=thread")
    mid = '{ in i: i64  out o: i64   impl c "actors.c" { init = t_init, fire = t_copy, finish = t_finish }'
    app = write_app(tmp_path, CHAIN.replace(mid + " }", mid + "  param at = 7 }", 1))
    res = compile_app(app, str(tmp_path / "b"))
    exe = build(res.program, sanitize="thread")
    r = subprocess.run([exe], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, TSAN_OPTIONS="exitcode=66"))
    assert r.returncode == 1, r.stderr
    assert "ThreadSanitizer" not in r.stderr


def test_actor_error_names_actor_and_firing_like_vrprune_run(tmp_path):
    text = CHAIN.replace("fire = t_copy, finish = t_finish } }", "fire = t_copy, finish = t_finish }  param at = 7 }",
                         1)
    app, prog, exe = compiled(tmp_path, text, None)
    r = subprocess.run([exe], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    line = "error: actor 'Cp1' failed in firing 7: t_copy returned -1: bad token 6"
    assert line in r.stderr.splitlines()
    assert "graph chain: error" in r.stdout
    ref = py_run(app, tmp_path)
    assert ref.returncode == 1 and line in ref.stderr.splitlines()


def test_init_error_is_reported(tmp_path):
    text = CHAIN.replace('param path = "out.bin"', 'param path = "no/such/dir/out.bin"')
    app, prog, exe = compiled(tmp_path, text, None)
    r = subprocess.run([exe], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "error: actor 'Sink' failed in init: init failed: cannot open no/such/dir/out.bin" in r.stderr


def test_refuted_graph_is_not_compiled(tmp_path):
    text = MULTIRATE.replace("fifo Src.o -> Cp.i capacity 5", "fifo Src.o -> Cp.i capacity 2")
    app = write_app(tmp_path, text)
    rc, out, err = cli("compile", app, "-o", str(tmp_path / "b"))
    assert rc == 1
    assert "error[D2]" in err and "refusing to compile graph 'multirate'" in err
    assert not (tmp_path / "b").exists()


def test_inconclusive_exits_3(tmp_path, monkeypatch):
    from vrprune.verify import _prove

    real = _prove.prove

    def fake(*a, **kw):
        rep = real(*a, **kw)
        import dataclasses

        return dataclasses.replace(rep, verdict="inconclusive") if dataclasses.is_dataclass(rep) else rep

    import vrprune.verify as V

    monkeypatch.setattr(V, "prove", fake)
    app = write_app(tmp_path, CHAIN)
    rc, out, err = cli("compile", app, "-o", str(tmp_path / "b"))
    assert rc == 3, err
    assert not (tmp_path / "b").exists()


def test_python_actor_is_refused(tmp_path):
    rc, out, err = cli("compile", os.path.join(ROOT, "specs", "exec", "cchain.vpr"), "-o", str(tmp_path / "b"))
    assert rc == 2
    assert "actor 'Py' is a Python actor" in err


def test_compiler_error_is_reported(tmp_path):
    app = write_app(tmp_path, CHAIN)
    (tmp_path / "actors.c").write_text(ACTORS_C + "\nint broken(void) { return nope; }\n")
    rc, out, err = cli("compile", app, "-o", str(tmp_path / "b"), "--build")
    assert rc == 2
    assert "nope" in err and "actors.c" in err


def test_relative_output_folder_builds(tmp_path, monkeypatch):
    write_app(tmp_path, CHAIN)
    monkeypatch.chdir(tmp_path)
    rc, out, err = cli("compile", "app.vpr", "-o", "build/client/", "--build")
    assert rc == 0, err
    assert "built build/client/chain" in out
    r = subprocess.run(["build/client/chain", "-q"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
