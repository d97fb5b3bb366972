"""TX/RX socket FIFOs between two `vrprune run --mapping` processes vs raw Python sockets.

    python bench/bench_txrx.py [--tokens 20000] [--pings 3000] [--repeat 3]

Throughput: a source (73,728-byte tokens, no compute) -> TX ⇢ RX -> a sink, two processes on
loopback; the receiver's run time (from the start of firing to end of stream) against a raw
loop measured in the same run: one process `sendall`s the same number of 73,728-byte
messages, another `recv_into`s them into one buffer (TCP_NODELAY both). Both figures in GB/s
(1 GB = 1e9 B) and their ratio: best vs best, and the median over the back-to-back pairs (each
raw run is followed at once by a vrprune run, so a pair sees the same machine load; on a
shared machine the median pair ratio is the steadier figure).

Round trip: Ping -> TX ⇢ RX -> Pong -> TX ⇢ RX -> Ping with one token in flight (8-byte
tokens, a feedback edge with one initial token), per-token round trip vs a raw ping-pong of
8-byte messages between two processes; with Python and with C actors, and the same graph in
one process (no TX/RX), so the share of the sockets shows. Best of --repeat runs each.

TX and RX fire in C (vrprune/net/runtime/txrx.c) on plain TCP, several frames per call where
tokens wait (greedy windows); `VRPRUNE_NATIVE=0` runs
their Python firings instead, for comparison.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

TOKEN = 73_728

ACTORS = '''
from vrprune.exec import END

class Source:
    def __init__(self, n):
        self.n, self.k = n, 0
    def fire(self, ins, outs, atr):
        if self.k >= self.n:
            return END
        self.k += 1

class Sink:
    def fire(self, ins, outs, atr):
        pass

class Ping:
    def fire(self, ins, outs, atr):
        outs[0][:] = ins[0]

class Pong:
    def fire(self, ins, outs, atr):
        outs[0][:] = ins[0]
'''

THROUGHPUT = '''
graph stream {{
  actor Src {{ out x: bytes({tb})  {src}  param n = {n} }}
  actor Dst {{ in x: bytes({tb})  {dst} }}
  fifo Src.x -> Dst.x capacity {cap}
}}
'''

C_ACTORS = r'''
#include <stdlib.h>
#include <string.h>
#include "vrprune.h"
typedef struct { int64_t n, k; } src_t;
void *src_init(const vrp_param *p, int n) {
    src_t *s = calloc(1, sizeof *s);
    s->n = vrp_param_int(p, n, "n", 0);
    return s;
}
int src_fire(void *st, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    src_t *s = st;
    return s->k++ >= s->n ? VRP_END : VRP_OK;
}
void src_finish(void *st) { free(st); }
int sink_fire(void *s, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) { return VRP_OK; }
int copy_fire(void *s, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    memcpy(out[0].data, in[0].data, 8);
    return VRP_OK;
}
'''

PINGPONG = '''
graph pingpong {{
  actor Ping {{ in back: u64  out x: u64  {ping} }}
  actor Pong {{ in x: u64  out y: u64  {pong} }}
  fifo Ping.x -> Pong.x capacity 1
  fifo Pong.y -> Ping.back capacity 1 initial 1
}}
'''

STREAM_IMPLS = {"python": ('impl python "{act}:Source"', 'impl python "{act}:Sink"'),
                "c": ('impl c "{cact}" {{ init = src_init, fire = src_fire, finish = src_finish }}',
                      'impl c "{cact}" {{ fire = sink_fire }}')}
IMPLS = {"python": ('impl python "{act}:Ping"', 'impl python "{act}:Pong"'),
         "c": ('impl c "{cact}" {{ fire = copy_fire }}', 'impl c "{cact}" {{ fire = copy_fire }}')}


def _files(d: str, graph: str, a: str, b: str, **kw) -> tuple[str, str, str]:
    act = os.path.join(d, "bench_actors.py")
    with open(act, "w") as f:
        f.write(ACTORS)
    cact = os.path.join(d, "bench_actors.c")
    with open(cact, "w") as f:
        f.write(C_ACTORS)
    app = os.path.join(d, "app.vpr")
    kw = {k: v.format(act=act, cact=cact) if isinstance(v, str) else v for k, v in kw.items()}
    with open(app, "w") as f:
        f.write(graph.format(act=act, **kw))
    with open(os.path.join(d, "platform.vpr"), "w") as f:
        f.write('platform lab {\n  host endpoint "127.0.0.1" { cpu c core 0 }\n'
                '  host server "127.0.0.1" { cpu c core 1 }\n}\n')
    maps = []
    for host in ("server", "endpoint"):
        p = os.path.join(d, f"{host}.map")
        with open(p, "w") as f:
            f.write(f'import "platform.vpr"\nmapping m on lab.{host} {{\n  {a} -> endpoint.c\n  {b} -> server.c\n}}\n')
        maps.append(p)
    return app, maps[0], maps[1]


def _base() -> int:
    return random.randrange(20000, 60000)


def _single(app: str, *extra: str) -> float:
    """Run the whole graph in one process; return its run time (s) from the summary."""
    cmd = [sys.executable, "-m", "vrprune", "run", app, "--watchdog", "0", *extra]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if p.returncode:
        raise SystemExit(f"run failed:\n{p.stdout}{p.stderr}")
    return _run_time(p.stdout)


def _compiled(app: str, srv_map: str, cli_map: str, d: str) -> tuple[str, str]:
    """`vrprune compile` each host's share (the server's, the endpoint's); the executables."""
    from vrprune.compile import build, compile_app

    exes = []
    for host, m in (("server", srv_map), ("endpoint", cli_map)):
        res = compile_app(app, os.path.join(d, f"build_{host}"), mapping=m)
        if res.verdict != "proved":
            raise SystemExit(f"compile: {res.verdict}")
        exes.append(build(res.program, werror=False))
    return exes[0], exes[1]


def _run_pair(srv_cmd: list[str], cli_cmd: list[str]) -> str:
    """Start the server's and the endpoint's command at once (each gets a fresh --port-base);
    the server's stdout."""
    base = ["--port-base", str(_base())]
    srv = subprocess.Popen(srv_cmd + base, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cli = subprocess.Popen(cli_cmd + base, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    so, se = srv.communicate(600)
    co, ce = cli.communicate(600)
    if srv.returncode or cli.returncode:
        raise SystemExit(f"run failed:\n{so}{se}{co}{ce}")
    return so


def _run_time(summary: str) -> float:
    """The run time (s) in a `vrprune run` or compiled program's summary."""
    m = re.search(r"firings in ([0-9.]+) s", summary)
    assert m, summary
    return float(m.group(1))


def _pair_compiled(srv_exe: str, cli_exe: str, tokens: int) -> float:
    """Run both compiled programs; bytes per second of the server (its summary's run time, which
    starts once every link is connected)."""
    return tokens * TOKEN / _run_time(_run_pair([srv_exe], [cli_exe]))


def _pair(app: str, srv_map: str, cli_map: str, *extra: str, stream: bool = False) -> float:
    """Run both sides; return the server's run time (s) from its summary, or with ``stream`` the
    bytes per second of the steady stream its RX reports (from the first frame to the last:
    process start-up and the wait for the first frame excluded, as in the raw loop whose clock
    starts at its first byte)."""
    cmd = [sys.executable, "-m", "vrprune", "run", app, "--watchdog", "0", *extra]
    so = _run_pair(cmd + ["--mapping", srv_map], cmd + ["--mapping", cli_map])
    if stream:
        m = re.search(r"received \d+ frames, \d+ bytes \(([0-9.]+) MB/s", so)
        assert m, so
        return float(m.group(1)) * 1e6
    return _run_time(so)


# ----------------------------------------------------------------- raw sockets
def _listen(q) -> socket.socket:
    """A listening socket on a free port of loopback, its port told through q."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    q.put(ls.getsockname()[1])
    return ls


def _get(q, proc):
    """The child's next message; a dead child is an error, not a hang."""
    import queue

    while True:
        try:
            return q.get(timeout=1)
        except queue.Empty:
            if not proc.is_alive():
                raise SystemExit(f"raw loop: its process ended with exit code {proc.exitcode}") from None


def _raw_recv(n: int, size: int, q) -> None:
    ls = _listen(q)
    c, _ = ls.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray(size)
    mv = memoryview(buf)
    t0 = None
    for _ in range(n):
        got = 0
        while got < size:
            k = c.recv_into(mv[got:], size - got)
            if not k:
                raise SystemExit("raw: peer closed")
            if t0 is None:
                t0 = time.perf_counter()
            got += k
    q.put(time.perf_counter() - t0)
    c.close()
    ls.close()


def _raw_send(port: int, n: int, size: int) -> None:
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    mv = memoryview(bytearray(size))
    for _ in range(n):
        s.sendall(mv)
    s.close()


def raw_throughput(n: int) -> float:
    q = mp.Queue()
    r = mp.Process(target=_raw_recv, args=(n, TOKEN, q))
    r.start()
    port = _get(q, r)
    s = mp.Process(target=_raw_send, args=(port, n, TOKEN))
    s.start()
    t = _get(q, r)
    r.join()
    s.join()
    return n * TOKEN / t / 1e9


def _pong(n: int, q) -> None:
    ls = _listen(q)
    c, _ = ls.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray(8)
    for _ in range(n):
        got = 0
        while got < 8:
            got += c.recv_into(memoryview(buf)[got:], 8 - got)
        c.sendall(buf)
    c.close()
    ls.close()


def raw_rtt(n: int) -> float:
    q = mp.Queue()
    p = mp.Process(target=_pong, args=(n, q))
    p.start()
    port = _get(q, p)
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray(8)
    t0 = time.perf_counter()
    for _ in range(n):
        s.sendall(buf)
        got = 0
        while got < 8:
            got += s.recv_into(memoryview(buf)[got:], 8 - got)
    t = time.perf_counter() - t0
    s.close()
    p.join()
    return t / n


CONDVAR_PINGPONG = r'''
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv[2] = {PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER};
static int turn = 0, n;
static void *run(void *arg) {
    int me = (int)(long)arg;
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&mu);
        while (turn != me) pthread_cond_wait(&cv[me], &mu);
        turn = 1 - me;
        pthread_mutex_unlock(&mu);
        pthread_cond_signal(&cv[1 - me]);
    }
    return 0;
}
int main(int argc, char **argv) {
    n = argc > 1 ? atoi(argv[1]) : 20000;
    struct timespec a, b;
    pthread_t t[2];
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < 2; i++) pthread_create(&t[i], 0, run, (void *)i);
    for (int i = 0; i < 2; i++) pthread_join(t[i], 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.3f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / n);
}
'''


def condvar_rtt(n: int) -> float | None:
    """The machine's floor for a thread hand-off: two C threads passing a turn back and forth
    through a mutex and condition variables (us per round trip), or None without gcc."""
    with tempfile.TemporaryDirectory() as d:
        src, exe = os.path.join(d, "pp.c"), os.path.join(d, "pp")
        with open(src, "w") as f:
            f.write(CONDVAR_PINGPONG)
        try:
            subprocess.run(["gcc", "-O2", "-pthread", src, "-o", exe], check=True, capture_output=True)
            return float(subprocess.run([exe, str(n)], check=True, capture_output=True, text=True).stdout)
        except (OSError, subprocess.CalledProcessError, ValueError):
            return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=20000)
    ap.add_argument("--pings", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--capacity", type=int, nargs="+", default=[2, 4, 8],
                    help="capacities of the streamed edge (default 2, as in the vehicle graph, 4 and 8)")
    ap.add_argument("--actors", nargs="+", default=["c", "python"], choices=sorted(STREAM_IMPLS) + ["compiled"],
                    help="source and sink implementations (default: c and python; compiled: both hosts built by "
                         "`vrprune compile` from the C actors, its run time including the first frame's wait)")
    ap.add_argument("--socket-buffer", type=int, metavar="BYTES",
                    help="pass --socket-buffer BYTES to vrprune run (default: its own default, 4 MiB)")
    a = ap.parse_args()
    sb = ("--socket-buffer", str(a.socket_buffer)) if a.socket_buffer is not None else ()
    print(f"throughput, {TOKEN:,}-byte tokens x {a.tokens} over loopback, best of {a.repeat} and median of the "
          f"back-to-back pairs (raw, then vrprune at once):")
    print(f"  {'':30s} {'raw GB/s':>9s} {'vrprune GB/s':>13s} {'best/best':>10s} {'median pair':>12s}")
    for impl in a.actors:
        for cap in a.capacity:
            src, dst = STREAM_IMPLS["c" if impl == "compiled" else impl]
            with tempfile.TemporaryDirectory() as d:
                app, sm, cm = _files(d, THROUGHPUT, "Src", "Dst", tb=TOKEN, n=a.tokens, cap=cap, src=src, dst=dst)
                exes = _compiled(app, sm, cm, d) if impl == "compiled" else None
                raw, txrx = [], []
                for _ in range(a.repeat):  # interleaved, so drifts in machine load hit both alike
                    raw.append(raw_throughput(a.tokens))
                    txrx.append((_pair_compiled(*exes, a.tokens) if exes else
                                 _pair(app, sm, cm, "--unchecked", *sb, stream=True)) / 1e9)
            pairs = sorted(t / r for r, t in zip(raw, txrx))
            label = f"{impl} source/sink, capacity {cap}"
            print(f"  {label:30s} {max(raw):9.2f} {max(txrx):13.2f} {max(txrx) / max(raw):10.1%} "
                  f"{statistics.median(pairs):12.1%}   pairs: {', '.join(f'{x:.0%}' for x in pairs)}")
    raw = [raw_rtt(a.pings) for _ in range(a.repeat)]
    print(f"round trip, 8-byte tokens, one in flight, {a.pings} round trips (best of {a.repeat}):")
    print(f"  {'raw Python ping-pong':39s}: {min(raw) * 1e6:7.1f} us")
    floor = [condvar_rtt(a.pings) for _ in range(a.repeat)]
    if None not in floor:
        print(f"  {'floor: C threads, mutex + condvar':39s}: {min(floor):7.1f} us   (to {max(floor):.1f} us; "
              f"two thread hand-offs, both threads on one core or on two: what each hand-off between actors "
              f"costs here)")
    it = ("--iterations", str(a.pings))
    for impl, (ping, pong) in IMPLS.items():
        with tempfile.TemporaryDirectory() as d:
            app, sm, cm = _files(d, PINGPONG, "Ping", "Pong", ping=ping, pong=pong)
            one = [_single(app, *it) / a.pings for _ in range(a.repeat)]
            two = [_pair(app, sm, cm, *it) / a.pings for _ in range(a.repeat)]
        print(f"  {impl + ' actors, one process':39s}: {min(one) * 1e6:7.1f} us   (x{min(one) / min(raw):.2f} raw)")
        print(f"  {impl + ' actors, TX/RX, 2 processes':39s}: {min(two) * 1e6:7.1f} us   "
              f"(x{min(two) / min(raw):.2f} raw; TX/RX add {(min(two) - min(one)) * 1e6:.1f} us)")


if __name__ == "__main__":
    main()
