"""The runtime under faults (issue 20, items 7-11): hung actors named by the watchdog, crashing C
actors named, --sanitize, replay files validated, huge capacities refused before allocation,
SIGTERM as a clean stop."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from vrprune.cli import main_with

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MULTI_DPG = os.path.join(ROOT, "specs", "multi_dpg.vpr")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main_with(["run", *argv], out, err)
    return rc, out.getvalue(), err.getvalue()


# ------------------------------------------------------------------ item 9: replay files


@pytest.mark.parametrize("value,shown", [(-5, "-5"), (5, "5"), (2**70, str(2**70)),
                                         (10**40, "a number of 41 digits"), (True, "True")])
def test_replay_rate_choices_outside_the_range_are_refused(tmp_path, value, shown):
    cx = tmp_path / "cx.json"
    cx.write_text(json.dumps({"atr": {"faces": [1, value]}}))
    rc, _out, err = run(MULTI_DPG, "--replay", str(cx), "--iterations", "2")
    assert rc == 2, err
    assert f"{cx}: rate choice 2 of DPG 'faces' is {shown}, outside the DPG's rate range [0, 4]" in err
    assert "Traceback" not in err


def test_replay_in_range_runs(tmp_path):
    cx = tmp_path / "cx.json"
    cx.write_text(json.dumps({"atr": {"faces": [0, 4], "bands": [8, 1]}}))
    rc, _out, err = run(MULTI_DPG, "--replay", str(cx), "--iterations", "2", "-q")
    assert rc == 0, err


def test_runtime_refuses_replay_outside_the_range():
    import vrprune
    from vrprune.exec import Runtime, RuntimeSetupError

    with pytest.raises(RuntimeSetupError, match=r"rate choice -5 of DPG 'faces' is outside its rate range \[0, 4\]"):
        Runtime(vrprune.load(MULTI_DPG), iterations=1, replay={"faces": [-5]}, stub_missing=True)


# ------------------------------------------------------------------ item 11: SIGTERM

FOREVER = """graph forever {{
  actor Src {{ out x: u64  impl python "{act}:Count" }}
  actor Dst {{ in x: u64  impl python "{act}:Mark" }}
  fifo Src.x -> Dst.x capacity 4
}}
"""
FOREVER_ACTORS = """
import os
class Count:
    def __init__(self):
        self.k = 0
    def fire(self, ins, outs, atr):
        self.k += 1
        outs[0][:] = 0
class Mark:
    def fire(self, ins, outs, atr):
        if not os.path.exists("started"):
            open("started", "w").close()
    def finish(self):
        open("finished", "w").close()
"""


def test_sigterm_stops_a_single_process_run_cleanly(tmp_path):
    act = tmp_path / "act.py"
    act.write_text(FOREVER_ACTORS)
    app = tmp_path / "forever.vpr"
    app.write_text(FOREVER.format(act=act))
    p = subprocess.Popen([sys.executable, "-m", "vrprune", "run", str(app), "--unchecked", "--trace", "t.json",
                          "--profile", "p.json"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    t = time.monotonic() + 60
    while not (tmp_path / "started").exists():
        assert p.poll() is None and time.monotonic() < t, p.communicate()
        time.sleep(0.02)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 128 + signal.SIGTERM, out + err
    assert "interrupted" in err and "Traceback" not in err
    assert "graph forever: interrupted" in out
    assert (tmp_path / "finished").exists()  # the actors' finish ran
    assert json.loads((tmp_path / "t.json").read_text())["traceEvents"]
    assert json.loads((tmp_path / "p.json").read_text())["actors"]["Src"]["firings"] > 0


# ------------------------------------------------------------------ item 10: huge capacities

HUGE = """graph huge {{
  actor A {{ out x: f32[1024] }}
  actor B {{ in x: f32[1024] }}
  fifo A.x -> B.x capacity {cap}
}}
"""


@pytest.mark.parametrize("cap", [10**10, 2**62])
def test_fifos_larger_than_memory_are_refused_before_allocating(tmp_path, cap):
    app = tmp_path / "huge.vpr"
    app.write_text(HUGE.format(cap=cap))
    rc, _out, err = run(str(app), "--unchecked", "--stub-missing", "--iterations", "1")
    assert rc == 2, err
    assert f"{app}:4:3: the FIFOs need" in err and "fifo 'A.x' alone needs" in err and "available" in err
    assert "vrprune bufsize" in err and "internal error" not in err


def test_the_memory_the_fifos_take_is_said_and_the_limit_applies(tmp_path, monkeypatch):
    app = tmp_path / "big.vpr"
    app.write_text(HUGE.format(cap=2**18))  # 1 GiB
    monkeypatch.setenv("VRPRUNE_MEMORY_LIMIT", str(2**29))
    rc, _out, err = run(str(app), "--unchecked", "--stub-missing", "--iterations", "1")
    assert rc == 2 and "the FIFOs need 1.0 GiB of memory and this machine has 512.0 MiB available" in err, err


# ------------------------------------------------------------------ items 7, 8: hung and crashing actors

HANG_ACTORS = """
import time
class Src:
    def fire(self, ins, outs, atr):
        outs[0][:] = 0
class Sleepy:
    def __init__(self):
        self.k = 0
    def fire(self, ins, outs, atr):
        self.k += 1
        if self.k == 3:
            open("sleeping", "w").close()
            time.sleep(100)
class Spinner:
    def __init__(self):
        self.k = 0
    def fire(self, ins, outs, atr):
        self.k += 1
        while self.k == 3:
            pass
"""
HANG_C = r"""
#include "vrprune.h"
#include <stdlib.h>
static int k;
int spin_fire(void *s, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    (void)s; (void)in; (void)n_in; (void)out; (void)n_out; (void)atr;
    if (++k == 3) { volatile int x = 1; while (x) {} }
    return VRP_OK;
}
int segv_fire(void *s, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    (void)s; (void)in; (void)n_in; (void)out; (void)n_out; (void)atr;
    if (++k == 5) { volatile int *p = NULL; *p = 1; }
    return VRP_OK;
}
int abort_fire(void *s, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    (void)s; (void)in; (void)n_in; (void)out; (void)n_out; (void)atr;
    if (++k == 4) abort();
    return VRP_OK;
}
int overrun_fire(void *s, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    (void)s; (void)in; (void)n_in; (void)out; (void)n_out; (void)atr;
    static char small[8];
    volatile int n = 64;
    char *p = malloc(8);
    for (int i = 0; i < n; i++) p[i] = small[i % 8];
    free(p);
    return VRP_OK;
}
"""
IMPLS = {"py-sleep": 'impl python "act.py:Sleepy"', "py-spin": 'impl python "act.py:Spinner"',
         "c-spin": 'impl c "hang.c" { fire = spin_fire }', "c-segv": 'impl c "hang.c" { fire = segv_fire }',
         "c-abort": 'impl c "hang.c" { fire = abort_fire }', "c-overrun": 'impl c "hang.c" { fire = overrun_fire }'}


def hang_app(d, kind: str) -> str:
    (d / "act.py").write_text(HANG_ACTORS)
    (d / "hang.c").write_text(HANG_C)
    app = d / f"{kind}.vpr"
    app.write_text("graph g {\n  actor Src { out x: u64  impl python \"act.py:Src\" }\n"
                   f"  actor Hang {{ in x: u64  {IMPLS[kind]} }}\n  fifo Src.x -> Hang.x capacity 4\n}}\n")
    return str(app)


def vrprune_run(d, *argv: str, timeout: float = 60) -> tuple[int, str, str, float]:
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "vrprune", "run", *argv], cwd=d, capture_output=True, text=True,
                       timeout=timeout, check=False)
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


@pytest.mark.parametrize("kind", ["py-sleep", "py-spin", "c-spin"])
def test_the_watchdog_names_an_actor_stuck_inside_a_firing(tmp_path, kind):
    rc, out, err, took = vrprune_run(tmp_path, hang_app(tmp_path, kind), "--unchecked", "--watchdog", "1")
    assert rc == 1, out + err
    assert "watchdog: actor 'Hang' has been inside its firing 3 for 1." in err, err
    assert "graph g: hung" in out
    assert took < 8, f"took {took:.1f} s"


def test_ctrl_c_does_not_wait_long_for_a_stuck_actor(tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "vrprune", "run", hang_app(tmp_path, "py-sleep"), "--unchecked",
                          "--watchdog", "0", "--profile", "p.json"], cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    t = time.monotonic() + 60
    while not (tmp_path / "sleeping").exists():  # inside the third firing's sleep
        assert p.poll() is None and time.monotonic() < t, p.communicate()
        time.sleep(0.02)
    time.sleep(0.2)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=20)
    took = time.monotonic() - t0
    assert p.returncode == 130, out + err
    assert took < 2.5, f"Ctrl-C took {took:.1f} s"
    assert "'Hang' did not stop (still inside a firing)" in err
    assert (tmp_path / "p.json").exists()


@pytest.mark.parametrize("kind,firing,what,extra", [
    ("c-segv", 5, "SIGSEGV", ()), ("c-abort", 4, "SIGABRT", ()),
    ("c-segv", 5, "SIGSEGV", ("--trace", "t.json")),  # a traced run fires C actors from the Python loop
], ids=["segv", "abort", "segv-python-loop"])
def test_a_crashing_c_actor_is_named_with_its_firing(tmp_path, kind, firing, what, extra):
    rc, _out, err, _ = vrprune_run(tmp_path, hang_app(tmp_path, kind), "--unchecked", *extra)
    assert rc in (-signal.SIGSEGV, -signal.SIGABRT), (rc, err)
    assert f"C actor 'Hang' crashed in firing {firing}: {what}" in err, err


def test_sanitize_reports_a_c_actor_writing_past_its_buffer(tmp_path):
    from vrprune.commands.fuzz import _libasan

    if _libasan() is None:
        pytest.skip("the C compiler has no libasan.so")
    rc, out, err, _ = vrprune_run(tmp_path, hang_app(tmp_path, "c-overrun"), "--unchecked", "--iterations", "2",
                                  "--sanitize", timeout=120)
    assert rc == 1, out + err
    assert "vrprune run: sanitizer:" in err and "hang.c" in err, err
