"""`vrprune fuzz`: clean graphs exit 0; crashes, non-determinism and sanitizer reports exit 1
with the seed that reproduces them; input errors exit 2."""

import io
import os
import shutil
import textwrap

import pytest

from vrprune.cli import main_with

HERE = os.path.dirname(os.path.abspath(__file__))
SPECS = os.path.join(os.path.dirname(os.path.dirname(HERE)), "specs", "exec")

ACTORS = '''
import random, threading
import numpy as np
from vrprune.exec import view

class Src:
    def __init__(self):
        self.n = 0
    def fire(self, ins, outs, atr):
        for o in outs:
            view(o, "i64")[:] = np.arange(self.n, self.n + o.shape[0])
        self.n += 1

class Count:
    def fire(self, ins, outs, atr):
        return 1

class Fan:
    """entry DA: atr copies of its input."""
    def fire(self, ins, outs, atr):
        outs[0][:] = np.repeat(ins[0], atr, axis=0) if atr else outs[0]

class Sum:
    """exit DA: how many tokens came through."""
    def fire(self, ins, outs, atr):
        view(outs[0], "i64")[:] = atr

class Racy:
    """Non-deterministic: writes which thread ran last (shared state between two actors)."""
    last = [0]
    def __init__(self, me=1):
        self.me = me
    def fire(self, ins, outs, atr):
        Racy.last[0] = self.me
        import time; time.sleep(0)
        view(outs[0], "i64")[:] = Racy.last[0] + view(ins[0], "i64")

class Sink:
    def fire(self, ins, outs, atr):
        pass
'''

GRAPH = '''
graph g {
  actor A { out o: i64  out p: i64  out c: i64  impl python "act.py:Src" }
  actor R1 { in i: i64  out o: i64  impl python "act.py:%(r1)s" param me = 1 }
  actor R2 { in i: i64  out o: i64  impl python "act.py:%(r2)s" param me = 2 }
  actor Z  { in a: i64  in b: i64  in s: i64  impl python "act.py:Sink" }
  dpg d {
    actor C: ca  { in x: i64  control out c1  control out c2   impl python "act.py:Count" }
    actor En: da { control in c  in x: i64  out v: i64 @ 0..3   impl python "act.py:Fan" }
    actor Ex: da { control in c  in v: i64 @ 0..3  out s: i64   impl python "act.py:Sum" }
    fifo C.c1 -> En.c capacity 1
    fifo C.c2 -> Ex.c capacity 1
    fifo En.v -> Ex.v capacity 3
  }
  fifo A.o -> R1.i capacity 2
  fifo A.p -> R2.i capacity 2
  fifo A.c -> En.x capacity 2
  fifo R1.o -> Z.a capacity 2
  fifo R2.o -> Z.b capacity 2
  fifo Ex.s -> Z.s capacity 2
  fifo A_c2: A.o2 -> C.x capacity 2
}
'''


def _write(tmp_path, r1="Copy", r2="Copy"):
    (tmp_path / "act.py").write_text(textwrap.dedent(ACTORS) + '''
class Copy:
    def __init__(self, me=0):
        pass
    def fire(self, ins, outs, atr):
        outs[0][:] = ins[0]
''')
    text = GRAPH % {"r1": r1, "r2": r2}
    text = text.replace("out c: i64  impl", "out c: i64  out o2: i64  impl")
    p = tmp_path / "g.vpr"
    p.write_text(text)
    return str(p)


def fuzz(*argv):
    out, err = io.StringIO(), io.StringIO()
    rc = main_with(["fuzz", *argv], out, err)
    return rc, out.getvalue(), err.getvalue()


def test_clean_dpg_graph_with_random_rates_and_delays(tmp_path):
    rc, out, err = fuzz(_write(tmp_path), "--iterations", "60", "--delays", "--seed", "5")
    assert rc == 0, out + err
    assert "no findings" in out and "seeds 5..7" in out


def test_nondeterministic_actors_are_reported_with_a_seed(tmp_path):
    path = _write(tmp_path, "Racy", "Racy")
    rc, out, err = fuzz(path, "--iterations", "200", "--round", "200", "--delays", "--max-delay-us", "300")
    assert rc == 1, out + err
    assert "nondeterminism" in out and "reproduce: vrprune fuzz" in out and "--seed 0" in out
    assert "'R1'" in out or "'R2'" in out


def test_crash_is_reported(tmp_path):
    rc, out, _ = fuzz(os.path.join(SPECS, "boom.vpr"), "--iterations", "10")
    assert rc == 1 and "crash" in out and "boom at 4" in out and "--seed 0" in out


def test_refuted_graph_and_input_errors(tmp_path):
    rc, _, err = fuzz(os.path.join(SPECS, "boxes.vpr"))
    assert rc == 1 and "refuted" in err
    rc, _, _ = fuzz(str(tmp_path / "missing.vpr"))
    assert rc == 2
    bad = tmp_path / "bad.vpr"
    bad.write_text("graph {")
    assert fuzz(str(bad))[0] == 2


C_ACTOR = r'''
#include "vrprune.h"
#include <stdlib.h>
#include <string.h>
int src_fire(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    memset(out[0].data, 0, (size_t)out[0].count * out[0].token_bytes);
    return VRP_OK;
}
int bad_fire(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    char *p = malloc(8);
    free(p);
    volatile char c = ((volatile char *)p)[0];   /* heap-use-after-free */
    (void)c;
    return VRP_OK;
}
'''


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_sanitize_reports_a_use_after_free_in_a_c_actor(tmp_path, monkeypatch):
    monkeypatch.setenv("VRPRUNE_CACHE", str(tmp_path / "cache"))
    (tmp_path / "a.c").write_text(C_ACTOR)
    (tmp_path / "g.vpr").write_text('''graph g {
  actor S { out o: i32  impl c "a.c" { fire = src_fire } }
  actor B { in i: i32   impl c "a.c" { fire = bad_fire } }
  fifo S.o -> B.i capacity 1
}''')
    rc, out, err = fuzz(str(tmp_path / "g.vpr"), "--sanitize", "--iterations", "3")
    assert rc == 1, out + err
    assert "sanitizer:" in out and "heap-use-after-free" in out + err, out + err
