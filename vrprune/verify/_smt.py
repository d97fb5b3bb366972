"""The z3 encoding of deadlock freedom for every admissible atr sequence.

Obligation: there is no atr choice (one value in [lrl, url] per CA firing of each DPG) and no
firing-count vector n with 0 <= n <= q, n != q, in which every unfinished actor is blocked.
By the determinacy argument in docs/verification.md this is unsat exactly when every maximal
execution, for every atr sequence, completes an iteration and so runs forever.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import z3

from ._net import CONTROL, VARIABLE, Net


@dataclass(frozen=True)
class SolverOutcome:
    status: str  # "unsat" | "sat" | "unknown"
    atr: dict[str, list[int]] | None = None
    reason: str = ""
    core: tuple[str, ...] = ()  # fifo names whose constraints the proof used


MAX_ENCODING_TERMS = 2_000_000


def make_solver(ctx: z3.Context, timeout_s: float | None, rlimit: int | None, seed: int = 0) -> z3.Solver:
    """The one solver factory: own context, fixed seed, limits."""
    s = z3.SolverFor("QF_LIA", ctx=ctx)
    s.set("random_seed", seed)
    if timeout_s is not None:
        s.set("timeout", max(1, int(timeout_s * 1000)))
    if rlimit is not None:
        s.set("rlimit", int(rlimit))
    return s


def check(s: z3.Solver) -> str:
    """The one choke point for check(): a three-valued outcome, never guessed."""
    r = s.check()
    if r == z3.sat:
        return "sat"
    if r == z3.unsat:
        return "unsat"
    return "unknown"


def find_stuck(net: Net, *, timeout_s: float | None = 30.0, rlimit: int | None = None,
               want_core: bool = False) -> SolverOutcome:
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    ctx = z3.Context()
    s = make_solver(ctx, timeout_s, rlimit)
    s.set("unsat_core", want_core)
    # one atr variable per CA firing and one implication per DPG actor and firing: a DPG that
    # iterates millions of times per graph iteration makes an encoding past any time limit
    terms = sum(net.q[net.names.index(info.ca)] * (2 + len(info.members))
                for info in net.dpgs.values() if info.has_variable)
    if terms > MAX_ENCODING_TERMS:
        return SolverOutcome("unknown", reason=f"the encoding would need {terms:,} terms (DPGs iterate "
                                                f"{max(net.q):,} times per graph iteration)")
    built = [0]

    def in_time() -> bool:
        built[0] += 1
        return deadline is None or bool(built[0] & 4095) or time.monotonic() <= deadline

    def int_var(name: str) -> z3.ArithRef:
        return z3.Int(name, ctx)

    n = [int_var(f"n!{net.names[i]}") for i in range(net.size)]
    atr_vars: dict[str, list[z3.ArithRef]] = {}
    prefix: dict[str, list[z3.ArithRef]] = {}
    base: list[z3.BoolRef] = []
    for i in range(net.size):
        base += [n[i] >= 0, n[i] <= net.q[i]]
    for name, info in net.dpgs.items():
        if not info.has_variable:
            continue
        Q = net.q[net.names.index(info.ca)]
        xs = [int_var(f"atr!{name}!{k}") for k in range(Q)]
        ss = [z3.IntVal(0, ctx)] + [int_var(f"S!{name}!{k + 1}") for k in range(Q)]
        for k, x in enumerate(xs):
            base += [x >= info.lrl, x <= info.url, ss[k + 1] == ss[k] + x]
            if not in_time():
                return SolverOutcome("unknown", reason="timeout while building the encoding")
        atr_vars[name] = xs
        prefix[name] = ss
    cum: dict[int, z3.ArithRef] = {}  # S[n_a]: tokens moved on each variable port so far
    nxt: dict[int, z3.ArithRef] = {}  # atr of actor a's next firing
    for i in range(net.size):
        dname = net.dpg_of[i]
        if dname is None:
            continue
        xs, ss = atr_vars[dname], prefix[dname]
        c_i, x_i = int_var(f"cum!{net.names[i]}"), int_var(f"next!{net.names[i]}")
        for k in range(len(xs) + 1):
            base.append(z3.Implies(n[i] == k, c_i == ss[k]))
            if k < len(xs):
                base.append(z3.Implies(n[i] == k, x_i == xs[k]))
            if not in_time():
                return SolverOutcome("unknown", reason="timeout while building the encoding")
        cum[i], nxt[i] = c_i, x_i
    for c in base:
        s.add(c)
        if not in_time():
            return SolverOutcome("unknown", reason="timeout while building the encoding")
    if deadline is not None:  # z3 gets what is left of the limit
        s.set("timeout", max(1, int((deadline - time.monotonic()) * 1000)))

    def tokens(ei: int) -> z3.ArithRef:
        e = net.edges[ei]
        if e.kind == VARIABLE:
            return e.init + cum[e.src] - cum[e.dst]
        if e.kind == CONTROL:
            return e.init + n[e.src] - n[e.dst]
        return e.init + e.prod * n[e.src] - e.cons * n[e.dst]

    tok = [tokens(ei) for ei in range(len(net.edges))]
    labels: dict[str, str] = {}
    for ei, e in enumerate(net.edges):
        valid = z3.And(tok[ei] >= 0, tok[ei] <= e.cap)
        if want_core:
            lab = f"fifo{ei}"
            labels[lab] = e.fifo.name
            s.assert_and_track(valid, z3.Bool(lab, ctx))
        else:
            s.add(valid)
    for i in range(net.size):
        reasons = []
        for ei in net.ins[i]:
            e = net.edges[ei]
            need = nxt[i] if e.kind == VARIABLE else (1 if e.kind == CONTROL else e.cons)
            reasons.append(tok[ei] < need)
        for ei in net.outs[i]:
            e = net.edges[ei]
            put = nxt[i] if e.kind == VARIABLE else (1 if e.kind == CONTROL else e.prod)
            reasons.append(e.cap - tok[ei] < put)
        stuck_i = z3.Or(n[i] == net.q[i], z3.Or(reasons) if reasons else z3.BoolVal(False, ctx))
        if want_core:
            lab = f"actor{i}"
            labels[lab] = ""
            s.assert_and_track(stuck_i, z3.Bool(lab, ctx))
        else:
            s.add(stuck_i)
    s.add(z3.Or([n[i] < net.q[i] for i in range(net.size)]) if net.size else z3.BoolVal(False, ctx))
    st = check(s)
    if st == "sat":
        m = s.model()
        atr = {d: [m.eval(x, model_completion=True).as_long() for x in xs] for d, xs in atr_vars.items()}
        return SolverOutcome("sat", atr)
    if st == "unsat":
        core: tuple[str, ...] = ()
        if want_core:
            core = tuple(sorted({labels[str(b)] for b in s.unsat_core() if labels.get(str(b))}))
        return SolverOutcome("unsat", core=core)
    return SolverOutcome("unknown", reason=s.reason_unknown())
