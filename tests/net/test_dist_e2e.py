"""Distributed runs end to end on loopback: `python -m vrprune run APP --mapping X.map` in 2-3
processes. The vehicle classifier at every partition point, dual input, single-input latency
with a feedback edge, token order across hosts, PSK and TLS."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from helpers.procs import (
    BURST_ITERATIONS,
    BURST_PLACE,
    EDGES,
    FRAMES,
    SEQ,
    SEQ_ACTORS,
    VDIR,
    burst_app,
    finish,
    free_base,
    keygen,
    pp,
    reference_probs,
    run_cmd,
    start,
    vehicle_app,
    vehicle_probs,
    write_mappings,
)

VNP = os.path.join(VDIR, "vehicle_np.py")


def run_pair(app, d, placement: dict[str, str], *extra: str, server_extra=(), client_extra=()):
    """The server, then the endpoint, each running its share of `app` as `placement` maps it."""
    maps, base = write_mappings(d, placement), str(free_base())
    srv = start(run_cmd(app, maps["server"], "--port-base", base, *extra, *server_extra), d)
    cli = start(run_cmd(app, maps["endpoint"], "--port-base", base, *extra, *client_extra), d)
    return finish([srv, cli])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return reference_probs(tmp_path_factory.mktemp("ref"), "np")


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_vehicle_every_partition_point_equals_single_process(tmp_path, reference, k):
    app = vehicle_app(tmp_path)
    res = run_pair(app, tmp_path, pp(k))
    for rc, so, se in res:
        assert rc == 0, so + se
    assert f"edge {EDGES[k - 1]}" in res[0][1] and f"received {FRAMES} frames" in res[0][1]
    assert f"sent {FRAMES} frames" in res[1][1]
    probs = vehicle_probs(tmp_path)
    np.testing.assert_allclose(probs, reference, rtol=1e-5, atol=1e-7)


def test_vehicle_with_psk_tls_and_link_preset(tmp_path, reference):
    app = vehicle_app(tmp_path)
    keys = tmp_path / "keys"
    keygen("--psk", str(tmp_path / "k.psk"), "--tls", str(keys))
    common = ["--psk-file", str(tmp_path / "k.psk"), "--tls-ca", str(keys / "ca.pem"), "--link", "ethernet100"]
    res = run_pair(app, tmp_path, pp(3),
                   *common,
                   server_extra=("--tls-cert", str(keys / "server.pem"), "--tls-key", str(keys / "server.key")),
                   client_extra=("--tls-cert", str(keys / "endpoint.pem"), "--tls-key", str(keys / "endpoint.key")))
    for rc, so, se in res:
        assert rc == 0, so + se
    assert "link ethernet100" in res[1][2]
    probs = vehicle_probs(tmp_path)
    np.testing.assert_allclose(probs, reference, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------- dual input (paper IV-C)

DUAL = """
graph dual {{
  actor InA {{ out img: f32[96, 96, 3]  impl python "{vnp}:Input"  param seed = 7  param frames = {frames} }}
  actor InB {{ out img: f32[96, 96, 3]  impl python "{vnp}:Input"  param seed = 11  param frames = {frames} }}
{branches}
  actor L4L5 {{ in a: f32[100]  in b: f32[100]  out p: f32[4]  impl python "{head2}:Head2" }}
  actor Output {{ in p: f32[4]  impl python "{vnp}:Output"  param path = "dual_probs.f32" }}
  fifo L3A.y -> L4L5.a capacity 2
  fifo L3B.y -> L4L5.b capacity 2
  fifo L4L5.p -> Output.p capacity 2
}}
"""
BRANCH = """
  actor L1{s} {{ in x: f32[96, 96, 3]  out y: f32[48, 48, 32]  impl python "{vnp}:ConvPool"
             param layer = 1  param hw = 96  param cin = 3  param cout = 32  param wseed = 1 }}
  actor L2{s} {{ in x: f32[48, 48, 32]  out y: f32[24, 24, 32]  impl python "{vnp}:ConvPool"
             param layer = 2  param hw = 48  param cin = 32  param cout = 32  param wseed = 1 }}
  actor L3{s} {{ in x: f32[24, 24, 32]  out y: f32[100]  impl python "{vnp}:Dense"  param wseed = 1 }}
  fifo In{s}.img -> L1{s}.x capacity 2
  fifo L1{s}.y -> L2{s}.x capacity 2
  fifo L2{s}.y -> L3{s}.x capacity 2
"""
HEAD2 = f"""
import importlib.util
import numpy as np
_spec = importlib.util.spec_from_file_location("vrprune_test_dual_vnp", {VNP!r})
_m = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_m)

class Head2(_m.Head):
    def fire(self, ins, outs, atr):
        x = (ins[0].view(np.float32) + ins[1].view(np.float32)) * np.float32(0.5)
        super().fire([x.view(np.uint8)], outs, atr)
"""


def test_dual_input_two_endpoints_one_server(tmp_path):
    head2 = tmp_path / "head2.py"
    head2.write_text(HEAD2)
    branches = "".join(BRANCH.format(s=s, vnp=VNP) for s in "AB")
    app = tmp_path / "dual.vpr"
    app.write_text(DUAL.format(vnp=VNP, head2=head2, frames=FRAMES, branches=branches))
    ref = tmp_path / "ref"
    ref.mkdir()
    [(rc, so, se)] = finish([start(run_cmd(str(app)), ref)])
    assert rc == 0, so + se
    hosts = ("endpointA", "endpointB", "server")
    place = {"InA": "endpointA", "L1A": "endpointA", "L2A": "endpointA",
             "InB": "endpointB", "L1B": "endpointB", "L2B": "endpointB",
             "L3A": "server", "L3B": "server", "L4L5": "server", "Output": "server"}
    (tmp_path / "platform.vpr").write_text(
        "platform lab {\n  base_port 9300\n" +
        "".join(f'  host {h} "127.0.0.1" {{ cpu core0 core 0 }}\n' for h in hosts) + "}\n")
    maps = []
    for h in hosts:
        p = tmp_path / f"{h}.map"
        p.write_text('import "platform.vpr"\n' + f"mapping m_{h} on lab.{h} {{\n" +
                     "".join(f"  {a} -> {hh}.core0\n" for a, hh in place.items()) + "}\n")
        maps.append(str(p))
    base = str(free_base())
    procs = [start(run_cmd(str(app), m, "--port-base", base), tmp_path) for m in reversed(maps)]
    res = finish(procs)
    for rc, so, se in res:
        assert rc == 0, so + se
    assert "received 3 frames" in res[0][1] and res[0][1].count("edge ") == 2
    got = np.fromfile(tmp_path / "dual_probs.f32", np.float32)
    want = np.fromfile(ref / "dual_probs.f32", np.float32)
    assert got.size == 4 * FRAMES
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------- latency with a feedback edge (paper IV-D)

def latency_app(d, frames: int) -> str:
    text = open(vehicle_app(d, frames)).read()
    # L1 starts frame k+1 only when Output has finished frame k: one frame in flight
    l1 = "  actor L1 {\n    in  x: f32[N, N, 3]"
    text = text.replace(l1, l1 + "\n    in  go: u8")
    text = text.replace("  actor Output {\n    in  p: f32[4]", "  actor Output {\n    in  p: f32[4]\n    out done: u8")
    assert "in  go" in text and "out done" in text
    text = text.rstrip().rstrip("}") + "  fifo Output.done -> L1.go capacity 1 initial 1\n}\n"
    path = os.path.join(d, "latency.vpr")
    with open(path, "w") as f:
        f.write(text)
    return path


def latency_split(endpoint_profile: dict, server_profile: dict, frames: int) -> dict[str, float]:
    """Per-frame end-to-end latency split: endpoint compute, communication, server compute (ms).
    One frame is in flight at a time (the feedback edge holds one token), so the endpoint's
    period is the end-to-end latency; communication is what compute does not explain."""
    def compute(p):
        return sum(a["mean_s"] or 0.0 for name, a in p["actors"].items()
                   if not name.startswith(("TX_", "RX_")))
    total = endpoint_profile["wall_s"] / frames
    ep, sv = compute(endpoint_profile), compute(server_profile)
    return {"total_ms": total * 1e3, "endpoint_ms": ep * 1e3, "server_ms": sv * 1e3,
            "communication_ms": (total - ep - sv) * 1e3}


def test_single_input_latency_with_feedback(tmp_path, capsys):
    frames = 6
    app = latency_app(tmp_path, frames)
    place = {"Input": "endpoint", "L1": "endpoint", "L2": "endpoint", "L3": "server", "L4L5": "server",
             "Output": "server"}
    res = run_pair(app, tmp_path, place,
                   "--link", "ethernet100", server_extra=("--profile", "server.json"),
                   client_extra=("--profile", "endpoint.json"))
    for rc, so, se in res:
        assert rc == 0, so + se
    pe = json.load(open(tmp_path / "endpoint.json"))
    ps = json.load(open(tmp_path / "server.json"))
    assert pe["dist"]["edges"]["Output.done"]["role"] == "rx" and pe["dist"]["edges"]["L2.y"]["frames"] == frames
    s = latency_split(pe, ps, frames)
    with capsys.disabled():
        print(f"\n  single-input latency (ethernet100 emulated): {s['total_ms']:.1f} ms/frame = "
              f"{s['endpoint_ms']:.1f} endpoint + {s['communication_ms']:.1f} communication + "
              f"{s['server_ms']:.1f} server")
    # 73 728 B at 11.2 MB/s (6.6 ms) + 1.35 ms there, 1 B + 1.35 ms back
    assert s["communication_ms"] > 7.0
    assert s["endpoint_ms"] > 0 and s["server_ms"] > 0


# ---------------------------------------------------------------- token order across hosts, rates 3 -> 2

def test_tokens_arrive_in_order_without_loss_or_duplicates(tmp_path):
    act = tmp_path / "seqact.py"
    act.write_text(SEQ_ACTORS)
    n = 3000
    app = tmp_path / "seq.vpr"
    app.write_text(SEQ.format(act=act, n=n))
    place = {"Src": "endpoint", "Dst": "server"}
    res = run_pair(str(app), tmp_path, place)
    for rc, so, se in res:
        assert rc == 0, so + se
    assert (tmp_path / "seq.txt").read_text() == str(n)
    assert f"received {n // 3} frames, {n * 8} bytes (" in res[0][1]
    assert re.search(r"\(\d+\.\d MB/s from the first frame to the last\)", res[0][1]), res[0][1]


DPG_ACTORS = r"""# DPG actors for distributed tests: every token carries a frame and a box number.
import numpy as np
from vrprune.exec import END, view

class Source:
    def __init__(self, frames=10):
        self.n, self.k = frames, 0
    def fire(self, ins, outs, atr):
        if self.k >= self.n:
            return END
        for o in outs:
            view(o, "i64")[0] = self.k
        self.k += 1

class Counter:
    # CA: atr of frame f = rates[f % len(rates)]
    def __init__(self, rates="0,1,2,3,4,0"):
        self.rates = [int(x) for x in rates.split(",")]
    def fire(self, ins, outs, atr):
        f = int(view(ins[0], "i64")[0])
        return self.rates[f % len(self.rates)]

class Entry:
    def fire(self, ins, outs, atr):
        f = int(view(ins[0], "i64")[0])
        b = view(outs[0], "i64[2]")
        assert b.shape[0] == atr
        b[:, 0] = f
        b[:, 1] = np.arange(atr)

class Mid:
    def __init__(self, log=""):
        self.log, self.frame, self.boxes = log, 0, 0
    def fire(self, ins, outs, atr):
        # a DPA is not fired when its atr is 0 (pruned): it sees only the frames with boxes,
        # each once, in order
        b = view(ins[0], "i64[2]")
        assert atr > 0 and b.shape[0] == atr
        assert (b[:, 0] == b[0, 0]).all() and b[0, 0] >= self.frame and (b[:, 1] == np.arange(atr)).all(), \
            (self.frame, b)
        outs[0][:] = ins[0]
        view(outs[0], "i64[2]")[:, 1] += 100
        self.frame = int(b[0, 0]) + 1
        self.boxes += atr
    def finish(self):
        if self.log:
            open(self.log, "w").write(f"{self.frame} {self.boxes}")

class Exit:
    def __init__(self):
        self.frame = 0
    def fire(self, ins, outs, atr):
        b = view(ins[0], "i64[2]")
        assert b.shape[0] == atr
        assert (b[:, 0] == self.frame).all() and (b[:, 1] == np.arange(atr) + 100).all(), (self.frame, b)
        view(outs[0], "i64[2]")[0] = [self.frame, atr]
        self.frame += 1

class Sink:
    def __init__(self, log="sink.txt"):
        self.log, self.rows = log, []
    def fire(self, ins, outs, atr):
        self.rows.append(tuple(int(x) for x in view(ins[0], "i64[2]").ravel()))
    def finish(self):
        open(self.log, "w").write("\n".join(f"{a} {b}" for a, b in self.rows))
"""

DPG = """graph dd {{
  actor Src  {{ out a: i64  out b: i64   impl python "{act}:Source"  param frames = {n} }}
  actor Sink {{ in n: i64[2]   impl python "{act}:Sink"  param log = "{log}" }}
  dpg det {{
    actor Count: ca  {{ in d: i64  control out c1  control out c2  control out c3
                       impl python "{act}:Counter" }}
    actor Entry: da  {{ control in c  in d: i64  out box: i64[2] @ 0..4   impl python "{act}:Entry" }}
    actor Mid: dpa   {{ control in c  in box: i64[2] @ 0..4  out t: i64[2] @ 0..4   impl python "{act}:Mid" }}
    actor Exit: da   {{ control in c  in t: i64[2] @ 0..4  out n: i64[2]   impl python "{act}:Exit" }}
    fifo Count.c1 -> Entry.c capacity 1
    fifo Count.c2 -> Mid.c capacity 1
    fifo Count.c3 -> Exit.c capacity 1
    fifo Entry.box -> Mid.box capacity 4
    fifo Mid.t -> Exit.t capacity 4
  }}
  fifo Src.a -> Count.d capacity 1
  fifo Src.b -> Entry.d capacity 1
  fifo Exit.n -> Sink.n capacity 2
}}
"""

# the DPG spans two hosts: variable-rate edges (atr 0..4, 0 prunes) and control edges cross
DPG_PLACEMENTS = {
    "ca_entry_exit_on_endpoint": {"Src": "endpoint", "Count": "endpoint", "Entry": "endpoint", "Mid": "server",
                                  "Exit": "endpoint", "Sink": "endpoint"},
    "ca_on_server": {"Src": "endpoint", "Count": "server", "Entry": "endpoint", "Mid": "server", "Exit": "server",
                     "Sink": "server"},
}


@pytest.mark.parametrize("where", sorted(DPG_PLACEMENTS))
def test_dpg_spanning_two_hosts_equals_single_process(tmp_path, where):
    act = tmp_path / "dpgact.py"
    act.write_text(DPG_ACTORS)
    n = 40
    ref_log, log = tmp_path / "ref.txt", tmp_path / "sink.txt"
    ref = tmp_path / "ref.vpr"
    ref.write_text(DPG.format(act=act, n=n, log=ref_log))
    [(rc, so, se)] = finish([start(run_cmd(str(ref)), tmp_path)])
    assert rc == 0, so + se
    app = tmp_path / "dpg.vpr"
    app.write_text(DPG.format(act=act, n=n, log=log))
    place = DPG_PLACEMENTS[where]
    res = run_pair(str(app), tmp_path, place)
    for rc, so, se in res:
        assert rc == 0, so + se
    rows = [tuple(map(int, ln.split())) for ln in log.read_text().splitlines()]
    rates = [0, 1, 2, 3, 4, 0]
    assert rows == [(f, rates[f % 6]) for f in range(n)]  # every frame, its atr, in order
    assert log.read_text() == ref_log.read_text()
    out = res[0][1] + res[1][1]
    boxes = sum(rates[f % 6] for f in range(n))
    # tokens counted exactly: one frame per DPG iteration (pruned ones too), atr tokens each
    assert f"edge Entry.box (port {int(out.split('edge Entry.box (port ')[1].split(')')[0])}): sent {n} frames, " \
           f"{boxes * 16} bytes" in out
    assert f"received {n} frames, {boxes * 16} bytes" in out
    # an application control edge crosses (Count -> Mid, or Count -> Entry): one token per iteration
    assert re.search(rf"edge Count\.c[12] \(port \d+\): sent {n} frames, {4 * n} bytes", out), out


BURST_ACTORS = r"""
from vrprune.exec import view

class Ping:
    def __init__(self):
        self.k = 0
    def fire(self, ins, outs, atr):
        view(outs[0], "i64")[0] = self.k
        self.k += 1

class Pong:
    def __init__(self):
        self.k = 0
    def fire(self, ins, outs, atr):
        got = view(ins[0], "i64").ravel()
        assert got.tolist() == [self.k, self.k + 1], (got, self.k)
        self.k += 2
        outs[0][:] = ins[0]
"""

def test_rx_hands_over_a_burst_before_it_waits_on_the_socket(tmp_path):
    """Two frames arrive back to back; Pong needs both, the RX's FIFO (capacity 6) would batch
    its wake-up until 3 tokens, and the endpoint sends nothing more until Pong answers. An RX
    that waited on its socket without first waking Pong would deadlock both hosts."""
    act = tmp_path / "burst.py"
    act.write_text(BURST_ACTORS)
    app = burst_app(tmp_path, f'impl python "{act}:Ping"', f'impl python "{act}:Pong"')
    res = run_pair(app, tmp_path, BURST_PLACE, "--iterations", str(BURST_ITERATIONS), "--watchdog", "10")
    for rc, so, se in res:
        assert rc == 0, so + se
    assert f"received {2 * BURST_ITERATIONS} frames" in res[0][1], res[0][1]


def test_rx_at_its_iteration_limit_reads_the_end_of_stream(tmp_path):
    """With --iterations the RX stops at its limit before the END frame: it reads END then (so
    its TX never sees the peer vanish mid-stream), and a host run for more iterations than the
    other is caught there."""
    act = tmp_path / "burst.py"
    act.write_text(BURST_ACTORS)
    app = burst_app(tmp_path, f'impl python "{act}:Ping"', f'impl python "{act}:Pong"')
    ok = run_pair(app, tmp_path, BURST_PLACE, "--iterations", "40")
    for rc, so, se in ok:
        assert rc == 0 and "error" not in se, so + se
    bad = run_pair(app, tmp_path, BURST_PLACE, server_extra=("--iterations", "20"), client_extra=("--iterations", "40"))
    (src, so, se), (_crc, co, ce) = bad
    assert src == 1, so + se
    assert "expected end of stream after 40 frames, got a frame of type 1" in se, se
    assert "the hosts run different --iterations?" in se, se
    # the endpoint's Ping ends when the server's stream back to it ends (END after 20 frames)
    assert "edge Pong.y" in co and "received 20 frames" in co, co + ce
