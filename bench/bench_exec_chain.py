"""Per-firing overhead of the executor: source -> 10 copy actors -> sink, 73,728-byte tokens.

    python bench/bench_exec_chain.py [--tokens N] [--copies 10] [--capacity 8] [--repeat 3]

Prints tokens/s and GB/s (token bytes through the chain per second, 1 GB = 1e9 B) for
Python actors, for C actors (when the C back-end is installed), and, measured in the same
run, for a naive Python thread-per-actor chain over queue.Queue; then GNU Radio 3.10's
figure from /usr/bin/python3 ../shared/anchors/gnuradio_chain.py (beside the repository) when gnuradio
is installed.
"""

from __future__ import annotations

import argparse
import os
import queue
import resource
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

TOKEN = 73_728
HERE = os.path.abspath(__file__)
# the GNU Radio reference chain lives beside the repository: ../shared/anchors/ from its root
ANCHOR = os.path.normpath(os.path.join(os.path.dirname(HERE), "..", "..", "shared", "anchors", "gnuradio_chain.py"))


# ----------------------------------------------------------------- Python actors (loaded by path)
class PySource:
    def fire(self, ins, outs, atr):
        return None


class PyCopy:
    def fire(self, ins, outs, atr):
        outs[0][:] = ins[0]


class PySink:
    def fire(self, ins, outs, atr):
        return None


C_SOURCE = r"""
#include "vrprune.h"
int src_fire(void *s, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) { return VRP_OK; }
int copy_fire(void *s, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) {
    memcpy(out[0].data, in[0].data, (size_t)in[0].count * in[0].token_bytes);
    return VRP_OK;
}
int sink_fire(void *s, const vrp_buf *in, int n_in, vrp_buf *out, int n_out, int32_t *atr) { return VRP_OK; }
"""


def chain_graph(copies: int, capacity: int, lang: str, cfile: str | None = None):
    from vrprune.model import (
        Actor,
        ActorKind,
        CImpl,
        Direction,
        Fifo,
        Graph,
        Port,
        PortKind,
        PortRef,
        PythonImpl,
        TokenType,
    )

    tok = TokenType(None, (), TOKEN)

    def port(name, d):
        return Port(name, d, PortKind.STATIC, tok, 1, 1)

    def impl(kind):
        if lang == "python":
            return PythonImpl(HERE, {"src": "PySource", "copy": "PyCopy", "sink": "PySink"}[kind])
        return CImpl(cfile, None, f"{kind}_fire", None)

    actors = [Actor("src", ActorKind.SPA, (port("o", Direction.OUT),), impl("src"))]
    for i in range(copies):
        actors.append(Actor(f"cp{i}", ActorKind.SPA, (port("i", Direction.IN), port("o", Direction.OUT)), impl("copy")))
    actors.append(Actor("sink", ActorKind.SPA, (port("i", Direction.IN),), impl("sink")))
    fifos = [Fifo(f"{a.name}.o", PortRef(a.name, "o"), PortRef(b.name, "i"), capacity, 0)
             for a, b in zip(actors, actors[1:])]
    return Graph(f"chain_{lang}", tuple(actors), tuple(fifos))


def run_vrprune(copies: int, capacity: int, tokens: int, lang: str, cfile: str | None = None) -> float:
    from vrprune.exec import Runtime

    rt = Runtime(chain_graph(copies, capacity, lang, cfile), iterations=tokens, watchdog_s=30)
    res = rt.run()
    assert res.ok, res.describe()
    return tokens / res.wall_s


def run_naive(copies: int, capacity: int, tokens: int) -> float:
    """The obvious design: one thread per actor, queue.Queue between them, a new array per token."""
    qs = [queue.Queue(maxsize=capacity) for _ in range(copies + 1)]
    token = np.zeros(TOKEN, np.uint8)

    def src():
        for _ in range(tokens):
            qs[0].put(token.copy())
        qs[0].put(None)

    def copy(i):
        qi, qo = qs[i], qs[i + 1]
        while (x := qi.get()) is not None:
            qo.put(x.copy())
        qo.put(None)

    def sink():
        while qs[-1].get() is not None:
            pass

    ts = [threading.Thread(target=src)] + [threading.Thread(target=copy, args=(i,)) for i in range(copies)] \
        + [threading.Thread(target=sink)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return tokens / (time.perf_counter() - t0)


def best(f, repeat: int, tokens: int) -> tuple[float, float, float]:
    """Best tokens/s of `repeat` runs, with CPU microseconds per token (user + system, all
    threads) and voluntary context switches per token of that run: the CPU figure does not
    depend on what else the machine runs, the wall-clock rate does."""
    runs = []
    for _ in range(repeat):
        r0, c0 = resource.getrusage(resource.RUSAGE_SELF), time.process_time()
        tps = f()
        r1, c1 = resource.getrusage(resource.RUSAGE_SELF), time.process_time()
        runs.append((tps, (c1 - c0) / tokens * 1e6, (r1.ru_nvcsw - r0.ru_nvcsw) / tokens))
    return max(runs)


def line(label: str, r: tuple[float, float, float], ref: float | None = None) -> str:
    tps, cpu, cs = r
    s = (f"  {label:<36} {tps:>8,.0f} tokens/s {tps * TOKEN / 1e9:5.2f} GB/s  {cpu:6.1f} CPU-us/token "
         f"{cs:5.2f} cswitch/token")
    if ref:
        s += f"  ({tps / ref:.2f}x naive)"
    return s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=5000, help="tokens through the Python chains (C: 4x)")
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--capacity", type=int, default=8, help="fifo capacity in tokens")
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs")
    a = ap.parse_args()
    print(f"chain: source -> {a.copies} copy actors -> sink, {TOKEN:,}-byte tokens, fifo capacity {a.capacity}, "
          f"best of {a.repeat}; {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    load = os.getloadavg()[0]
    print(f"load average before: {load:.2f} (figures are wall-clock rates; on a busy machine compare the CPU columns)")
    naive = best(lambda: run_naive(a.copies, a.capacity, a.tokens), a.repeat, a.tokens)
    print(line("naive Python threads + queue.Queue", naive))
    py = best(lambda: run_vrprune(a.copies, a.capacity, a.tokens, "python"), a.repeat, a.tokens)
    print(line("vrprune, Python actors", py, naive[0]))
    try:
        import vrprune.exec._c  # noqa: F401
    except ImportError as exc:
        print(f"  vrprune, C actors: not measured (C back-end unavailable: {exc})")
    else:
        with tempfile.TemporaryDirectory() as d:
            cfile = os.path.join(d, "copy.c")
            with open(cfile, "w") as f:
                f.write(C_SOURCE)
            c = best(lambda: run_vrprune(a.copies, a.capacity, 4 * a.tokens, "c", cfile), a.repeat, 4 * a.tokens)
            print(line("vrprune, C actors", c, naive[0]))
            ideal = (os.cpu_count() or 1) * 1e6 / c[1]
            print(f"  C actors: goal >= 29,000 tokens/s: {'met' if c[0] >= 29000 else 'not met'} in wall-clock here; "
                  f"CPU-bound ceiling on {os.cpu_count()} idle cores = {ideal:,.0f} tokens/s")
    probe = subprocess.run(["/usr/bin/python3", "-c", "import gnuradio"], capture_output=True) \
        if os.path.exists("/usr/bin/python3") else None
    if probe is None or probe.returncode != 0 or not os.path.exists(ANCHOR):
        print(f"  GNU Radio 3.10: not installed here (or no {ANCHOR}); measured earlier on this kind of "
              "machine: ~29,000 items/s, ~2.1 GB/s")
    else:
        r = subprocess.run(["/usr/bin/python3", ANCHOR, str(TOKEN), str(a.copies), "50000"],
                           capture_output=True, text=True, timeout=600)
        print(f"  GNU Radio 3.10 (same machine, same run): {r.stdout.strip() or r.stderr.strip()}")


if __name__ == "__main__":
    main()
