"""Python actors in worker processes (vrprune/exec/_worker.py, _shm.py): the same outputs as
threads, every failure of a worker reported naming the actor and never a hang, Ctrl-C and a
dead parent tear every worker down, and nothing (process, shared memory) is left behind."""

from __future__ import annotations

import io
import multiprocessing
import os
import signal
import subprocess
import sys
import time

import pytest

import vrprune
from vrprune.cli import main_with
from vrprune.exec import Runtime, RuntimeSetupError, _worker

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="worker processes need Linux (fork)")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPECS = os.path.join(ROOT, "specs", "exec")
ACTORS = os.path.join(SPECS, "actors", "procs.py")

# Src -> W1 -> Join, Src -> W2 (rate 2, its output fifo wraps the ring) -> Join -> Rec; 128 KiB tokens
PIPE = """graph pipe {{
  actor Src  {{ out a: f32[128, 256]  out b: f32[128, 256]  impl python "{A}:Frames"  param n = {n} }}
  actor W1   {{ in x: f32[128, 256]  out y: f32[128, 256]  impl python "{A}:{w1}"  {p1} }}
  actor W2   {{ in x: f32[128, 256] @ 2  out y: f32[128, 256] @ 2  impl python "{A}:Work"  param k = 3 }}
  actor Join {{ in x: f32[128, 256]  in y: f32[128, 256]  out z: f32[128, 256]  impl python "{A}:Work" }}
  actor Rec  {{ in z: f32[128, 256]  impl python "{A}:Record"  param path = "{rec}" }}
  fifo Src.a -> W1.x capacity 2
  fifo Src.b -> W2.x capacity 2
  fifo W1.y -> Join.x capacity 2
  fifo W2.y -> Join.y capacity 3
  fifo Join.z -> Rec.z capacity 2
}}
"""


def pipe(tmp_path, name="pipe", n=12, w1="Work", p1="param k = 2", small=False):
    rec = tmp_path / f"{name}.txt"
    text = PIPE.format(A=ACTORS, n=n, w1=w1, p1=p1, rec=rec)
    if small:
        text = text.replace("f32[128, 256]", "f32[4]")
    path = tmp_path / f"{name}.vpr"
    path.write_text(text)
    return vrprune.load(str(path)), rec


def spec(name):
    return vrprune.load(os.path.join(SPECS, f"{name}.vpr"))


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture(autouse=True)
def nothing_left_behind():
    """After every test: no worker process alive or unreaped, nothing new in /dev/shm."""
    shm_before = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    started: list[int] = []
    real_start = _worker.Workers.start

    def start(self):
        real_start(self)
        started.extend(self.pids)

    _worker.Workers.start = start
    try:
        yield started
    finally:
        _worker.Workers.start = real_start
    assert multiprocessing.active_children() == []
    assert [p for p in started if alive(p)] == []
    if os.path.isdir("/dev/shm"):
        assert set(os.listdir("/dev/shm")) - shm_before == set()


def run(g, **kw):
    kw.setdefault("watchdog_s", 5)
    rt = Runtime(g, **kw)
    t = time.perf_counter()
    res = rt.run()
    return rt, res, time.perf_counter() - t


# ------------------------------------------------------------------------ the same outputs
def test_outputs_equal_threads_and_auto_takes_the_large_actors(tmp_path, nothing_left_behind):
    g, rec = pipe(tmp_path)
    _, res, _ = run(g, processes="none")
    assert res.status == "ok", res.describe()
    threads = rec.read_text()
    assert len(threads.split()) == 12
    for mode in ("all", "auto", ["Src", "W1+W2", "Join"]):
        rt, res, _ = run(g, processes=mode)
        assert res.status == "ok", (mode, res.describe())
        assert rt._workers is not None and len(rt._workers.actors) >= 4
        assert rec.read_text() == threads, mode
        assert res.firings == {"Src": 12, "W1": 12, "W2": 6, "Join": 12, "Rec": 12}
        assert res.fifos["W2.y"]["tokens_read"] == 12 and res.fifos["W2.y"]["left"] == 0
    assert len(nothing_left_behind) >= 3


def test_auto_on_few_cores_groups_consecutive_actors(tmp_path, monkeypatch):
    g, rec = pipe(tmp_path)
    _, res, _ = run(g, processes="none")
    threads = rec.read_text()
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(_worker, "AUTO_PER_CORE", 1)  # 5 qualifying actors > 1 per core: 3 processes
    rt, res, _ = run(g, processes="auto")
    assert res.status == "ok", res.describe()
    groups = [grp.names for grp in rt._workers.groups]
    flat = [n for grp in groups for n in grp]
    assert len(groups) == 3 and sorted(flat) == ["Join", "Rec", "Src", "W1", "W2"]
    order = {n: i for i, n in enumerate(flat)}
    assert order["Src"] < order["W1"] < order["Join"] < order["Rec"] and order["W2"] < order["Join"]
    assert rec.read_text() == threads


def test_auto_keeps_threads_for_small_tokens_traced_runs_and_single_core(tmp_path, monkeypatch):
    g, _ = pipe(tmp_path, small=True)
    assert Runtime(g, processes="auto")._workers is None  # 16-byte tokens: threads pay
    g, _ = pipe(tmp_path)
    assert Runtime(g, processes="auto", trace=True)._workers is None
    assert Runtime(g)._workers is None  # the library's default: threads
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert Runtime(g, processes="auto")._workers is None


def test_multirate_chain_and_dpg_across_processes_sink_in_the_parent():
    rt, res, _ = run(spec("chain"), iterations=50, processes=["Pack+Unpack", "Mid"])
    assert res.status == "ok", res.describe()
    assert rt._by_name["Sink"].backend.obj.values == list(range(300))
    assert res.firings == {"Src": 100, "Pack": 150, "Unpack": 150, "Mid": 300, "Sink": 300}
    rt, res, _ = run(spec("boxes"), iterations=40, processes=["Count", "Entry", "Mid", "Exit"])
    assert res.status == "ok", res.describe()
    assert rt._by_name["Sink"].backend.obj.values == [[0, 1, 2, 1][f % 4] for f in range(40)]


def test_a_mapping_unit_names_one_process_for_its_actors(tmp_path):
    from vrprune.model import Unit, UnitKind

    g, rec = pipe(tmp_path)
    u = Unit("core1", UnitKind.CPU, device=1)
    rt, res, _ = run(g, processes=["core1"], units={"W1": u, "W2": u, "Join": u})
    assert res.status == "ok", res.describe()
    assert [grp.names for grp in rt._workers.groups] == [["W1", "W2", "Join"]]
    assert len(rec.read_text().split()) == 12


def test_python_actor_between_c_actors_in_a_worker():
    rt, res, _ = run(spec("cchain"), iterations=30, processes=["Py"])
    assert res.status == "ok", res.describe()
    assert not rt._by_name["Cp"].native and not rt._by_name["Cp2"].native  # next to a shared fifo
    assert rt._by_name["Chk"].native
    assert res.firings["Chk"] == 180 and res.fifos["Cp2.o"]["left"] == 0


def test_end_of_stream_and_profile_from_workers():
    _, res, _ = run(spec("dry"), processes="all", profile=True)
    assert res.status == "ok" and res.firings == {"Src": 10, "Cp": 10, "Sink": 10}
    for a in ("Src", "Cp", "Sink"):
        st = res.actors[a].to_json()
        assert st["firings"] == 10 and 0 < st["min_s"] <= st["mean_s"] <= st["max_s"], (a, st)


# ------------------------------------------------------------------------ failures, never a hang
def test_exception_in_a_worker_names_the_actor_and_firing():
    _, res, dt = run(spec("boom"), iterations=40, processes="all")
    assert res.status == "error"
    (f,) = res.failures
    assert (f.actor, f.phase, f.firing) == ("Bad", "fire", 4)
    assert "ValueError: boom at 4" in f.message and "seq.py" in f.traceback
    assert dt < 4


@pytest.mark.parametrize("how, words", [("kill", "signal 9 (SIGKILL)"), ("exit", "exit status 3")])
def test_worker_killed_or_exiting_is_an_error_naming_its_actor(tmp_path, how, words):
    g, _ = pipe(tmp_path, n=1000, w1="Fail", p1=f'param at = 3  param how = "{how}"')
    _, res, dt = run(g, processes="all")
    assert res.status == "error", res.describe()
    f = next(f for f in res.failures if f.actor == "W1")
    assert f.phase == "fire" and words in f.message and "worker process" in f.message, f
    assert f.firing == 3
    assert dt < 6


def test_exception_in_init_in_a_worker_stops_before_any_firing(tmp_path):
    g, _ = pipe(tmp_path, w1="BadInit", p1="")
    _, res, _ = run(g, processes="all")
    assert res.status == "error"
    (f,) = res.failures
    assert (f.actor, f.phase) == ("W1", "init") and "OSError: no camera" in f.message
    assert sum(res.firings.values()) == 0


def test_hung_firing_in_a_worker_is_reported_and_the_worker_killed(tmp_path, monkeypatch):
    monkeypatch.setattr(_worker, "GRACE_S", 0.5)
    g, _ = pipe(tmp_path, n=1000, w1="Fail", p1='param at = 2  param how = "hang"')
    _, res, dt = run(g, processes="all", watchdog_s=1.0)
    assert res.status == "hung", res.describe()
    assert [h.actor for h in res.hung] == ["W1"] and res.hung[0].firing == 2
    assert dt < 8


def test_a_worker_that_cannot_be_forked_is_a_setup_error_and_the_others_are_reaped(tmp_path, monkeypatch):
    g, _ = pipe(tmp_path)
    rt = Runtime(g, processes="all")
    real = _worker.fork_context().Process.start
    calls = []

    def start(self):
        calls.append(self)
        if len(calls) == 3:
            raise OSError(11, "Resource temporarily unavailable")
        real(self)

    monkeypatch.setattr(_worker.fork_context().Process, "start", start)
    with pytest.raises(RuntimeSetupError, match="cannot start the worker process of W2: .*--processes none"):
        rt._workers.start()
    assert all(g.proc is None for g in rt._workers.groups)


def test_deadlock_across_processes_lists_the_waits():
    _, res, dt = run(spec("toosmall"), iterations=10, processes="all", watchdog_s=2)
    assert res.status == "deadlock"
    assert {(w.actor, w.side) for w in res.waits} == {("Src", "full"), ("Sink", "empty")}
    assert dt < 5


def test_abort_from_another_thread_ends_every_worker(tmp_path):
    import threading

    g, _ = pipe(tmp_path, n=10 ** 6)
    rt = Runtime(g, processes="all", watchdog_s=5)
    threading.Timer(0.5, rt.abort).start()
    t = time.perf_counter()
    res = rt.run()
    assert res.status == "interrupted" and time.perf_counter() - t < 5
    assert 0 < res.firings["Rec"] < 10 ** 6


# ------------------------------------------------------------------------ the CLI
def test_cli_processes_values_and_names_are_checked(tmp_path, capsys):
    g, _ = pipe(tmp_path, small=True)
    path = str(tmp_path / "pipe.vpr")
    err = io.StringIO()
    assert main_with(["run", path, "--unchecked", "--processes", "W1,,W2"], io.StringIO(), err) == 2
    assert "expected auto, none, all or a comma-separated list" in capsys.readouterr().err
    err = io.StringIO()
    assert main_with(["run", path, "--unchecked", "--processes", "W1,Nope"], io.StringIO(), err) == 2
    assert "'Nope' is neither an actor of graph 'pipe' nor a unit" in err.getvalue()
    with pytest.raises(RuntimeSetupError, match="actor 'Cp' is a C actor; only Python actors run in worker"):
        Runtime(spec("cchain"), processes=["Cp"])
    with pytest.raises(RuntimeSetupError, match="cannot be traced"):
        Runtime(g, processes="all", trace=True)


def _session_pids(sid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                out.append(int(d))
    return out


def _start_endless(tmp_path, n_workers=3):
    pipe(tmp_path, n=10 ** 6, w1="Slow", p1="param ms = 5")
    proc = subprocess.Popen([sys.executable, "-m", "vrprune", "run", str(tmp_path / "pipe.vpr"), "--unchecked",
                             "--quiet", "--processes", "W1,W2,Join"], cwd=tmp_path, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while len(_session_pids(proc.pid)) < 1 + n_workers:
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.5)
    return proc


@pytest.mark.parametrize("sig, to_group, code", [(signal.SIGINT, True, 130), (signal.SIGTERM, False, 143)])
def test_ctrl_c_and_sigterm_tear_down_every_worker(tmp_path, sig, to_group, code):
    proc = _start_endless(tmp_path)
    if to_group:
        os.killpg(proc.pid, sig)  # what a terminal's Ctrl-C sends: the whole group
    else:
        os.kill(proc.pid, sig)  # what a service manager sends: the parent only
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == code, err
    assert "interrupted" in err and "Traceback" not in err
    deadline = time.monotonic() + 5
    while _session_pids(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _session_pids(proc.pid) == []


def test_workers_end_when_the_parent_is_killed(tmp_path):
    proc = _start_endless(tmp_path)
    proc.kill()  # SIGKILL to the parent only: no cleanup runs in it
    proc.communicate(timeout=10)
    deadline = time.monotonic() + 5
    while _session_pids(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _session_pids(proc.pid) == []
