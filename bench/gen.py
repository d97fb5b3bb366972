"""Synthetic .vpr graphs of N actors for benchmarks: chains, fork-joins, cycles with delays,
many DPGs, and a mix.

Every generated graph is consistent and deadlock-free as generated: repetition counts stay
in {1, 2} (rates alternate 2:1 and 1:2), every FIFO's capacity is one iteration's tokens
(repetition count x rate) plus its initial tokens, which is enough for a single-appearance
schedule, and every cycle carries one iteration's tokens. Inside a DPG each actor fires once
per iteration, so variable-rate FIFOs get capacity url and control FIFOs capacity 1.
``deadlock=True`` appends one cycle without initial tokens: a deliberate deadlock.

    python bench/gen.py KIND N [--deadlock] > file.vpr     # KIND: chain forkjoin cycle dpg mixed
"""

from __future__ import annotations

import argparse
import sys

URL = 8  # variable-rate bound inside the generated DPGs


class _Builder:
    def __init__(self, name: str, n: int):
        self.name = name
        self.n = n
        self.count = 0
        self.q: dict[str, int] = {}
        self.lines: list[str] = []
        self.fifos: list[str] = []
        self.k = 0

    def fresh(self, prefix: str) -> str:
        self.k += 1
        return f"{prefix}{self.k}"

    def actor(self, name: str, q: int, ports: list[str], kind: str = "", indent: str = "  ") -> str:
        self.count += 1
        self.q[name] = q
        head = f"actor {name}" + (f": {kind}" if kind else "")
        self.lines.append(f"{indent}{head} {{ {'  '.join(ports)}  time {1 + self.count % 7} us }}")
        return name

    def fifo(self, src: str, sport: str, prate: int, dst: str, dport: str, initial: int = 0,
             capacity: int | None = None, indent: str = "  ") -> None:
        cap = capacity if capacity is not None else self.q[src] * prate + initial
        init = f" initial {initial}" if initial else ""
        self.fifos.append(f"{indent}fifo {src}.{sport} -> {dst}.{dport} capacity {cap}{init}")

    def left(self) -> int:
        return self.n - self.count

    def text(self) -> str:
        return "\n".join([f"graph {self.name} {{", *self.lines, *self.fifos, "}"]) + "\n"


def _tok(i: int) -> str:
    return ("i32", "f32[4]", "u8[16]", "bytes(12)")[i % 4]


# Every segment takes one input (prev actor, its out port "o", that port's rate, token) and
# returns its last actor, whose output port "o" has the returned rate and token.
Tail = tuple[str, int, str]  # (actor, rate of its port "o", token type)


def _relay(b: _Builder, prev: Tail, i: int) -> Tail:
    """One actor. Rates follow 1 -> (1:2) -> (1:1, fires twice) -> (2:1) -> 1, so repetition
    counts stay 1 or 2 however long the chain."""
    src, prate, tok = prev
    qs = b.q[src]
    t = qs * prate  # tokens per iteration on the incoming fifo
    if t == 1:
        crate, q, orate = 1, 1, 2
    elif t == 2 and qs == 1:
        crate, q, orate = 1, 2, 1
    else:
        crate, q, orate = t, 1, 1
    ntok = _tok(i)
    name = b.actor(b.fresh("R"), q, [f"in i: {tok} @ {crate}", f"out o: {ntok} @ {orate}"])
    b.fifo(src, "o", prate, name, "i")
    return name, orate, ntok


def _entry(b: _Builder, prev: Tail, prefix: str, ports: list[str], kind: str = "") -> str:
    """An actor that takes a whole iteration's tokens from ``prev`` in one firing (q = 1)."""
    src, prate, tok = prev
    t = b.q[src] * prate
    name = b.actor(b.fresh(prefix) if not prefix.endswith("_") else prefix[:-1], 1,
                   [f"in i: {tok} @ {t}", *ports], kind)
    b.fifo(src, "o", prate, name, "i")
    return name


def _forkjoin(b: _Builder, prev: Tail, i: int, k: int) -> Tail:
    """Fork -> two branches of k actors (one firing twice per iteration) -> Join: 2k + 2 actors."""
    f = _entry(b, prev, "F", ["out a: i32 @ 2", "out b: f32[4]"])
    pa, pb = (f, "a", 2), (f, "b", 1)
    for _ in range(k):
        a = b.actor(b.fresh("A"), 2, ["in i: i32", "out o: i32"])
        b.fifo(pa[0], pa[1], pa[2], a, "i")
        pa = (a, "o", 1)
        c = b.actor(b.fresh("B"), 1, ["in i: f32[4]", "out o: f32[4]"])
        b.fifo(pb[0], pb[1], pb[2], c, "i")
        pb = (c, "o", 1)
    jn = b.actor(b.fresh("J"), 1, ["in a: i32 @ 2", "in b: f32[4]", f"out o: {_tok(i)}"])
    b.fifo(pa[0], pa[1], pa[2], jn, "a")
    b.fifo(pb[0], pb[1], pb[2], jn, "b")
    return jn, 1, _tok(i)


def _cycle(b: _Builder, prev: Tail, i: int, k: int, initial: int = 1) -> Tail:
    """Head -> k multirate body actors -> Tail, and a feedback edge Tail -> Head carrying
    ``initial`` tokens (1 = one iteration's worth; 0 = a deliberate deadlock): k + 2 actors."""
    h = _entry(b, prev, "H", ["in fb: i32", "out o: f32[4]"])
    p: Tail = (h, 1, "f32[4]")
    for j in range(k):
        p = _relay(b, p, j)
    t = _entry(b, p, "T", ["out fb: i32", f"out o: {_tok(i)}"])
    b.fifo(t, "fb", 1, h, "fb", initial=initial, capacity=2)
    return t, 1, _tok(i)


def _dpg(b: _Builder, prev: Tail, i: int, k: int) -> Tail:
    """Fork (SPA) + a DPG of CA, entry DA, k DPAs, exit DA: k + 4 actors, all firing once."""
    d = b.fresh("G")
    f = _entry(b, prev, f"{d}_fork_", ["out n: i32", "out d: i32"])
    inner: list[str] = []
    saved, b.lines = b.lines, inner
    ctl = [f"control out c{j}" for j in range(k + 2)]
    ca = b.actor(f"{d}_count", 1, ["in d: i32", *ctl], "ca", "    ")
    en = b.actor(f"{d}_entry", 1, ["control in c", "in d: i32", f"out v: f32[4] @ 0..{URL}"], "da", "    ")
    members = [en]
    for j in range(k):
        members.append(b.actor(f"{d}_p{j}", 1, ["control in c", f"in v: f32[4] @ 0..{URL}",
                                                 f"out v2: f32[4] @ 0..{URL}"], "dpa", "    "))
    ex = b.actor(f"{d}_exit", 1, ["control in c", f"in v: f32[4] @ 0..{URL}", f"out o: {_tok(i)}"], "da", "    ")
    members.append(ex)
    b.lines = saved
    b.lines.append(f"  dpg {d} {{")
    b.lines += inner
    for j, m in enumerate(members):
        b.lines.append(f"    fifo {ca}.c{j} -> {m}.c capacity 1")
    for a, c in zip(members, members[1:]):
        b.lines.append(f"    fifo {a}.{'v' if a == en else 'v2'} -> {c}.v capacity {URL}")
    b.lines.append("  }")
    b.fifo(f, "n", 1, ca, "d")
    b.fifo(f, "d", 1, en, "d")
    return ex, 1, _tok(i)


def _graph(kind: str, n: int, deadlock: bool) -> str:
    if n < (5 if deadlock else 2):
        raise ValueError(f"a generated graph needs at least {5 if deadlock else 2} actors "
                         f"(source, sink{', and a 3-actor loop for the deadlock' if deadlock else ''})")
    b = _Builder(f"{kind}{n}", n)
    reserve = 1 + (3 if deadlock else 0)  # the sink, and the deliberate deadlock loop
    src = b.actor("Src", 1, ["out o: i32"])
    prev: Tail = (src, 1, "i32")
    i = 0
    order = {"chain": ["relay"], "forkjoin": ["fj"], "cycle": ["cyc"], "dpg": ["dpg"],
             "mixed": ["fj", "relay", "cyc", "dpg", "relay"]}[kind]
    sizes = {"relay": 1, "fj": 2 * 3 + 2, "cyc": 4 + 2, "dpg": 2 + 4}
    while True:
        seg = order[i % len(order)]
        room = b.left() - reserve
        if room <= 0:
            break
        if sizes[seg] > room:
            seg = "relay"
        if seg == "relay":
            prev = _relay(b, prev, i)
        elif seg == "fj":
            prev = _forkjoin(b, prev, i, 3)
        elif seg == "cyc":
            prev = _cycle(b, prev, i, 4)
        else:
            prev = _dpg(b, prev, i, 2)
        i += 1
    if deadlock:
        prev = _cycle(b, prev, i, 1, initial=0)
    _entry(b, prev, "Snk_", [])
    assert b.count == n, (b.count, n)
    return b.text()


def chain(n: int, deadlock: bool = False) -> str:
    """A multirate chain of n actors."""
    return _graph("chain", n, deadlock)


def forkjoin(n: int, deadlock: bool = False) -> str:
    """Fork-join blocks (two branches of 3 actors, one multirate) in series."""
    return _graph("forkjoin", n, deadlock)


def cycle(n: int, deadlock: bool = False) -> str:
    """Loops of 6 actors with multirate bodies, each closed by a feedback edge with delays."""
    return _graph("cycle", n, deadlock)


def dpg(n: int, deadlock: bool = False) -> str:
    """n / 6 DPGs (fork, CA, entry DA, 2 DPAs, exit DA) in series."""
    return _graph("dpg", n, deadlock)


def mixed(n: int, deadlock: bool = False) -> str:
    """Fork-joins, relays, loops and DPGs in turn."""
    return _graph("mixed", n, deadlock)


KINDS = {"chain": chain, "forkjoin": forkjoin, "cycle": cycle, "dpg": dpg, "mixed": mixed}
SDF_KINDS = ("chain", "forkjoin", "cycle")  # no DPGs: these can be written as SDF3 XML


def sdf3(kind: str, n: int, deadlock: bool = False, one_line: bool = False) -> str:
    """The same graph as SDF3 XML (``<sdf3 type="sdf">``); ``one_line``: no line breaks at all."""
    import os
    import tempfile
    from xml.sax.saxutils import quoteattr

    import vrprune

    if kind not in SDF_KINDS:
        raise ValueError(f"SDF3 has no DPGs: use one of {', '.join(SDF_KINDS)}")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "g.vpr")
        with open(path, "w", encoding="utf-8") as f:
            f.write(KINDS[kind](n, deadlock))
        g = vrprune.load(path)
    q = quoteattr
    out = ['<?xml version="1.0" encoding="UTF-8"?>', '<sdf3 type="sdf" version="1.0">',
           f'<applicationGraph name={q(g.name)}>', f'<sdf name={q(g.name)} type="G">']
    for a in g.actors:
        out.append(f'<actor name={q(a.name)} type="A">')
        out += [f'<port name={q(p.name)} type="{p.direction.value}" rate="{p.rate}"/>' for p in a.ports]
        out.append("</actor>")
    for f in g.fifos:
        init = f' initialTokens="{f.initial}"' if f.initial else ""
        out.append(f'<channel name={q(f.name)} srcActor={q(f.src.actor)} srcPort={q(f.src.port)} '
                   f'dstActor={q(f.dst.actor)} dstPort={q(f.dst.port)}{init}/>')
    out += ["</sdf>", "<sdfProperties>"]
    for a in g.actors:
        ns = round((a.time_s or 1e-6) * 1e9)
        out.append(f'<actorProperties actor={q(a.name)}><processor type="p" default="true">'
                   f'<executionTime time="{ns}"/></processor></actorProperties>')
    for f in g.fifos:
        tok = g.actor(f.src.actor).port(f.src.port).token.nbytes * 8
        out.append(f'<channelProperties channel={q(f.name)}><tokenSize sz="{tok}"/>'
                   f'<bufferSize sz="{f.capacity}"/></channelProperties>')
    out += ["</sdfProperties>", "</applicationGraph>", "</sdf3>"]
    return ("" if one_line else "\n").join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="print a synthetic .vpr graph of N actors")
    ap.add_argument("kind", choices=sorted(KINDS))
    ap.add_argument("n", type=int)
    ap.add_argument("--deadlock", action="store_true", help="append a cycle without initial tokens")
    ap.add_argument("--sdf3", action="store_true", help="write SDF3 XML instead of .vpr (chain, forkjoin, cycle)")
    ap.add_argument("--one-line", action="store_true", help="with --sdf3: the whole file on one line")
    a = ap.parse_args(argv)
    try:
        sys.stdout.write(sdf3(a.kind, a.n, a.deadlock, a.one_line) if a.sdf3 else KINDS[a.kind](a.n, a.deadlock))
    except ValueError as e:
        ap.error(str(e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
