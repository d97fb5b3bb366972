"""Resolve a parse tree into the IR: imports, constants, token sizes, names."""

from __future__ import annotations

import gc
import math
import os
from dataclasses import dataclass, field

from lark import Token, Tree

from ..diagnostics import Diagnostic, DiagnosticError, Note, error, register_source
from ..links import BANDWIDTH_UNITS, LINK_PRESETS, TIME_UNITS
from ..model import (
    CONTROL_TOKEN_BYTES,
    DTYPE_BYTES,
    Actor,
    ActorKind,
    CImpl,
    Const,
    Direction,
    Dpg,
    Fifo,
    Graph,
    Host,
    Link,
    Mapping,
    Module,
    OpenCLImpl,
    Param,
    Placement,
    Platform,
    Port,
    PortKind,
    PortRef,
    PythonImpl,
    Span,
    TokenType,
    Unit,
    UnitKind,
)
from ._files import read_input
from ._parser import Comment, Node, parse_text

CONTROL_TOKEN = TokenType("i32", (), CONTROL_TOKEN_BYTES)
MAX_IMPORT_DEPTH = 100
MAX_INT = 1 << 62  # constants, rates, capacities: what 64-bit arithmetic in the runtimes holds
MAX_TIME_S = 1e9  # an actor time above ~30 years is a mistake (and overflows nanosecond arithmetic)
MAX_TOKEN_BYTES = 1 << 32


def _span(path: str, node: Node | Token) -> Span:
    if isinstance(node, Token):
        return Span(path, node.line or 1, node.column or 1, node.end_line or node.line or 1,
                    node.end_column or (node.column or 1) + len(str(node)))
    if type(node) is Node and node.first is not None:  # its first and last token, keywords included
        f, la = node.first, node.last
        assert la is not None
        return Span(path, f.line or 1, f.column or 1, la.end_line or 1, la.end_column or 1)
    first = last = None
    stack: list = [node]
    while stack:  # first token, depth-first left to right
        x = stack.pop()
        if isinstance(x, Token):
            first = x
            break
        if isinstance(x, (Node, Tree)):
            stack.extend(reversed(x.children))
    stack = [node]
    while stack:  # last token
        x = stack.pop()
        if isinstance(x, Token):
            last = x
            break
        if isinstance(x, (Node, Tree)):
            stack.extend(x.children)
    if first is None or last is None:
        return Span(path, 1, 1, 1, 2)
    a, b = _span(path, first), _span(path, last)
    return Span(path, a.line, a.col, b.end_line, b.end_col)


_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t"}


def _unquote(tok: Token, path: str = "<input>") -> str:
    """A string literal's value; escapes: \\\\ \\" \\n \\t."""
    s = str(tok)[1:-1]
    if "\\" not in s:
        return s
    out = []
    i = 0
    while i < len(s):
        ch = s[i]
        if ch == "\\":
            nxt = s[i + 1] if i + 1 < len(s) else ""
            if nxt not in _ESCAPES:
                sp = _span(path, tok)
                col = sp.col + 1 + i
                raise DiagnosticError(error("E001", f"unknown escape sequence '\\{nxt}' in a string",
                                            Span(path, sp.line, col, sp.line, col + 2),
                                            help='strings allow only \\\\, \\", \\n and \\t'))
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@dataclass
class _Scope:
    consts: dict[str, Const] = field(default_factory=dict)
    parent: _Scope | None = None

    def lookup(self, name: str) -> Const | None:
        s: _Scope | None = self
        while s is not None:
            if name in s.consts:
                return s.consts[name]
            s = s.parent
        return None


@dataclass
class LoadedFile:
    path: str
    text: str
    comments: list[Comment]
    module: Module


class Loader:
    """Loads .vpr files with their imports; collects every diagnostic it can."""

    def __init__(self) -> None:
        self.modules: dict[str, Module] = {}
        self.files: dict[str, LoadedFile] = {}
        self.diags: list[Diagnostic] = []
        self._mentioned: set[tuple[str, str]] = set()

    # ------------------------------------------------------------ entry
    def load_module(self, path: str, _stack: tuple[tuple[str, Span], ...] = (), _at: Span | None = None) -> Module:
        apath = os.path.abspath(path)
        if apath in self.modules:
            return self.modules[apath]
        for p, sp in _stack:
            if p == apath:
                chain = [Note(s, f"imports {os.path.basename(q)}") for q, s in _stack[1:]] + [
                    Note(_at or sp, f"imports {os.path.basename(apath)} again")
                ]
                raise DiagnosticError(error("E010", f"import cycle through {os.path.basename(apath)}",
                                            _at or sp, *chain, help="remove one of the imports"))
        if len(_stack) >= MAX_IMPORT_DEPTH:
            chain = [Note(s, f"imports {os.path.basename(q)}") for q, s in _stack[1:4]]
            raise DiagnosticError(error("E010", f"imports nested more than {MAX_IMPORT_DEPTH} files deep",
                                        _at or Span(apath, 1, 1, 1, 2), *chain,
                                        help="import the shared files from one place instead of in a chain"))
        text = self._read(apath, _at)
        register_source(apath, text)
        gc_was = gc.isenabled()
        # parsing and resolving build about a million small objects and no cycles: collections
        # in between would rescan them all (a quarter of the load time at 10,000 actors)
        gc.disable()
        try:
            tree, comments = parse_text(text, apath)
            mod = self._module(apath, tree, _stack + ((apath, _at or Span(apath, 1, 1, 1, 2)),))
            del tree
        finally:
            if gc_was:
                gc.enable()
        self.modules[apath] = mod
        self.files[apath] = LoadedFile(apath, text, comments, mod)
        return mod

    def _read(self, apath: str, at: Span | None) -> str:
        data = read_input(apath, at, ".vpr file")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            raise DiagnosticError(error("E001", "the file is not valid UTF-8 text",
                                        Span(apath, line, col, line, col + 1))) from None
        if "\x00" in text:
            i = text.index("\x00")
            line = text.count("\n", 0, i) + 1
            col = i - (text.rfind("\n", 0, i) + 1) + 1
            raise DiagnosticError(error("E001", "the file contains a NUL byte; is it a binary file?",
                                        Span(apath, line, col, line, col + 1)))
        return text

    # ----------------------------------------------------------- module
    def _module(self, path: str, tree: Node, stack: tuple[tuple[str, Span], ...]) -> Module:
        scope = _Scope()
        graphs: list[Graph] = []
        platforms: dict[str, Platform] = {}
        mappings: list[Mapping] = []
        consts: list[Const] = []
        graph_names: dict[str, Span] = {}
        for item in tree.children:
            kind = item.data
            if kind == "import_stmt":
                sp = _span(path, item)
                target = os.path.join(os.path.dirname(path), _unquote(item.children[0], path))
                sub = self.load_module(target, stack, sp)
                for c in sub.consts:
                    self._define(scope, c)
                for p in sub.platforms:
                    platforms.setdefault(p.name, p)
            elif kind == "const_decl":
                c = self._const(path, item, scope)
                if c is not None and self._define(scope, c):
                    consts.append(c)
            elif kind == "graph":
                g = self._graph(path, item, scope)
                if g.name in graph_names:
                    self.diags.append(error("E003", f"graph '{g.name}' is defined twice", g.span,
                                            Note(graph_names[g.name], "first defined here")))
                graph_names[g.name] = g.span
                graphs.append(g)
            elif kind == "platform":
                p = self._platform(path, item, scope)
                if p.name in platforms and platforms[p.name].span.file == path:
                    self.diags.append(error("E003", f"platform '{p.name}' is defined twice", p.span,
                                            Note(platforms[p.name].span, "first defined here")))
                platforms[p.name] = p
            elif kind == "mapping":
                m = self._mapping(path, item, platforms)
                if m is not None:
                    mappings.append(m)
        if self.diags:
            raise DiagnosticError(self.diags)
        return Module(path, tuple(consts), tuple(graphs), tuple(platforms.values()), tuple(mappings))

    def _define(self, scope: _Scope, c: Const) -> bool:
        prev = scope.consts.get(c.name)
        if prev is not None and prev is not c:
            if prev.span == c.span:
                return False
            self.diags.append(error("E003", f"constant '{c.name}' is defined twice", c.span,
                                    Note(prev.span, "first defined here")))
            return False
        scope.consts[c.name] = c
        return True

    def _const(self, path: str, node: Node, scope: _Scope) -> Const | None:
        name, expr = node.children
        v = self._eval(path, expr, scope)
        if v is None:
            return None
        return Const(str(name), v, _span(path, name))

    # ------------------------------------------------------- expressions
    def _eval(self, path: str, node: Node | Token, scope: _Scope) -> int | None:
        try:
            return self._ev(path, node, scope)
        except _EvalError as e:
            self.diags.append(e.diag)
            return None
        except RecursionError:
            self.diags.append(error("E012", "expression nested too deeply to evaluate", _span(path, node),
                                    help="split it into several constants"))
            return None

    def _ev(self, path: str, node: Node | Token, scope: _Scope) -> int:
        """The value of an expression, evaluated without recursion (a constant may have
        thousands of terms, or nest parentheses thousands deep)."""
        values: list[int] = []
        todo: list[tuple[Node | Token, bool]] = [(node, False)]
        while todo:
            n, ready = todo.pop()
            if isinstance(n, Token) or n.data in ("int_lit", "name_ref"):
                values.append(self._leaf(path, n, scope))
            elif not ready:
                todo.append((n, True))
                todo.extend((c, False) for c in reversed(n.children))  # evaluated left to right
            elif n.data == "neg":
                values.append(-values.pop())
            else:
                b = values.pop()
                values.append(self._op(path, n, values.pop(), b))
        return values[0]

    def _leaf(self, path: str, n: Node | Token, scope: _Scope) -> int:
        tok = n if isinstance(n, Token) else n.children[0]
        if isinstance(n, Token) and n.type != "INT":
            raise _EvalError(error("E012", f"expected an integer, found '{n}'", _span(path, n)))
        if isinstance(n, Token) or n.data == "int_lit":
            if len(tok) > 18 and int(tok[:400]) > MAX_INT:  # (int() refuses over 4,300 digits)
                raise _EvalError(error("E012", f"the number {str(tok)[:24]}{'...' if len(tok) > 24 else ''} is too "
                                               f"large; vrprune works with values up to 2**62", _span(path, tok)))
            return int(tok)
        c = scope.lookup(str(tok))
        if c is None:
            raise _EvalError(error("E002", f"unknown constant '{tok}'", _span(path, tok),
                                   help="define it with `const NAME = value` before use"))
        return c.value

    def _op(self, path: str, node: Node, a: int, b: int) -> int:
        d = node.data
        if d in ("add", "sub", "mul"):
            r = a + b if d == "add" else a - b if d == "sub" else a * b
            if abs(r) > MAX_INT:
                raise _EvalError(error("E012", "value too large", _span(path, node)))
            return r
        if d in ("div", "mod"):
            if b == 0:
                raise _EvalError(error("E012", "division by zero", _span(path, node),
                                       Note(_span(path, node.children[1]), "this evaluates to 0")))
            if d == "mod":
                return a % b
            if a % b != 0:
                raise _EvalError(error("E012", f"{a} / {b} is not an integer", _span(path, node),
                                       help="shapes and rates must be whole numbers; adjust the constants"))
            return a // b
        raise _EvalError(error("E012", f"cannot evaluate '{d}'", _span(path, node)))

    # ------------------------------------------------------------ graphs
    def _graph(self, path: str, node: Node, outer: _Scope) -> Graph:
        name = node.children[0]
        scope = _Scope(parent=outer)
        actors: list[Actor] = []
        fifos: list[tuple[Node, str | None]] = []
        dpgs: list[Dpg] = []
        consts: list[Const] = []
        seen: dict[str, Span] = {}

        def add_actor(a: Actor) -> None:
            if a.name in seen:
                self.diags.append(error("E003", f"actor '{a.name}' is defined twice", a.span,
                                        Note(seen[a.name], "first defined here")))
                return
            seen[a.name] = a.span
            actors.append(a)

        dpg_seen: dict[str, Span] = {}
        for item in node.children[1:]:
            if item.data == "actor":
                add_actor(self._actor(path, item, scope, None))
            elif item.data == "fifo":
                fifos.append((item, None))
            elif item.data == "const_decl":
                c = self._const(path, item, scope)
                if c is not None and self._define(scope, c):
                    consts.append(c)
            elif item.data == "dpg":
                dname = str(item.children[0])
                dspan = _span(path, item.children[0])
                if dname in dpg_seen:
                    self.diags.append(error("E003", f"dpg '{dname}' is defined twice", dspan,
                                            Note(dpg_seen[dname], "first defined here")))
                dpg_seen[dname] = dspan
                members = []
                for sub in item.children[1:]:
                    if sub.data == "actor":
                        a = self._actor(path, sub, scope, dname)
                        add_actor(a)
                        members.append(a.name)
                    else:
                        fifos.append((sub, dname))
                dpgs.append(Dpg(dname, tuple(members), dspan))
        by_name = {a.name: a for a in actors}
        built = self._fifos(path, fifos, by_name, scope)
        self._connectivity(path, actors, built)
        return Graph(str(name), tuple(actors), tuple(built), tuple(dpgs), tuple(consts), _span(path, name))

    def _actor(self, path: str, node: Node, scope: _Scope, dpg: str | None) -> Actor:
        name_tok, kind_tok, *items = node.children
        name = str(name_tok)
        kind = ActorKind(str(kind_tok)) if kind_tok is not None else ActorKind.SPA
        ports: list[Port] = []
        port_seen: dict[str, Span] = {}
        impl = None
        impl_span: Span | None = None
        params: list[Param] = []
        time_s: float | None = None
        for it in items:
            d = it.data
            if d in ("port", "control_port"):
                p = self._port(path, it, scope)
                if p is None:
                    continue
                if p.name in port_seen:
                    self.diags.append(error("E003", f"port '{p.name}' of actor '{name}' is declared twice", p.span,
                                            Note(port_seen[p.name], "first declared here")))
                    continue
                port_seen[p.name] = p.span
                ports.append(p)
            elif d in ("c_impl", "opencl_impl", "python_impl"):
                sp = _span(path, it)
                if impl_span is not None:
                    self.diags.append(error("E003", f"actor '{name}' has two implementations", sp,
                                            Note(impl_span, "first given here")))
                    continue
                impl = self._impl(path, it, name)
                impl_span = sp
            elif d == "param":
                pname, val = it.children
                if isinstance(val, Token) and val.type == "STRING":
                    v: int | float | str = _unquote(val, path)
                elif isinstance(val, Token) and val.type == "FLOAT":
                    v = float(val)
                    if not math.isfinite(v):
                        self.diags.append(error("E012", f"parameter value {val} is out of range for a 64-bit float",
                                                _span(path, val)))
                        continue
                else:
                    ev = self._eval(path, val, scope)
                    if ev is None:
                        continue
                    v = ev
                if any(q.name == str(pname) for q in params):
                    self.diags.append(error("E003", f"parameter '{pname}' is given twice", _span(path, pname)))
                    continue
                params.append(Param(str(pname), v, _span(path, pname)))
            elif d == "time":
                num, unit = it.children
                t = float(num) * TIME_UNITS[str(unit)]
                if not t <= MAX_TIME_S:  # also catches inf (1e400 s)
                    self.diags.append(error("E012", f"time {num} {unit} is out of range; at most {MAX_TIME_S:.0e} s",
                                            _span(path, it), help="give the time one firing takes"))
                    continue
                time_s = t
        return Actor(name, kind, tuple(ports), impl, tuple(params), time_s, dpg, _span(path, name_tok))

    def _port(self, path: str, node: Node, scope: _Scope) -> Port | None:
        if node.data == "control_port":
            dir_tok, name_tok = node.children
            return Port(str(name_tok), Direction(str(dir_tok)), PortKind.CONTROL, CONTROL_TOKEN, 1, 1,
                        _span(path, name_tok))
        dir_tok, name_tok, ttype, rate = node.children
        tok = self._token_type(path, ttype, scope)
        sp = _span(path, name_tok)
        if rate is None:
            lo = hi = 1
            kind = PortKind.STATIC
        elif rate.data == "static_rate":
            r = self._eval(path, rate.children[0], scope)
            if r is None:
                return None
            if r < 1:
                self.diags.append(error("E008", f"static rate must be at least 1, got {r}", _span(path, rate),
                                        help="for a rate that may be 0, use a variable rate `@ 0..N` inside a DPG"))
                return None
            lo = hi = r
            kind = PortKind.STATIC
        else:
            lo_v = self._eval(path, rate.children[0], scope)
            hi_v = self._eval(path, rate.children[1], scope)
            if lo_v is None or hi_v is None:
                return None
            if lo_v < 0:
                self.diags.append(error("E008", f"lower rate limit must be >= 0, got {lo_v}",
                                        _span(path, rate.children[0])))
                return None
            if lo_v > hi_v:
                self.diags.append(error("E008", f"lower rate limit {lo_v} exceeds upper rate limit {hi_v} (lrl > url)",
                                        _span(path, rate), help="write the range as `@ lrl..url` with lrl <= url"))
                return None
            if hi_v < 1:
                self.diags.append(error("E008", f"upper rate limit (url) must be at least 1, got {hi_v}: this port "
                                                "could never move a token", _span(path, rate.children[1]),
                                        help="a branch that is always skipped needs no port: remove it, or give the "
                                             "range an url >= 1 (atr may still be 0: `@ 0..N`)"))
                return None
            lo, hi = lo_v, hi_v
            kind = PortKind.VARIABLE
        if tok is None:
            return None
        return Port(str(name_tok), Direction(str(dir_tok)), kind, tok, lo, hi, sp)

    def _token_type(self, path: str, node: Node, scope: _Scope) -> TokenType | None:
        sp = _span(path, node)
        if node.data == "bytes_type":
            n = self._eval(path, node.children[0], scope)
            if n is None:
                return None
            if n < 1 or n > MAX_TOKEN_BYTES:
                self.diags.append(error("E012", f"a token must have 1 to {MAX_TOKEN_BYTES} bytes, got {n}", sp))
                return None
            return TokenType(None, (), n, sp)
        dtype = str(node.children[0])
        dims = []
        for e in node.children[1:]:
            if e is None:
                continue
            v = self._eval(path, e, scope)
            if v is None:
                return None
            if v < 1:
                self.diags.append(error("E012", f"shape dimensions must be positive, got {v}", _span(path, e)))
                return None
            dims.append(v)
        n = DTYPE_BYTES[dtype]
        for d in dims:
            n *= d
        if n > MAX_TOKEN_BYTES:
            self.diags.append(error("E012", f"token of {n} bytes is larger than the {MAX_TOKEN_BYTES} bytes vrprune "
                                            "supports", sp))
            return None
        return TokenType(dtype, tuple(dims), n, sp)

    def _impl(self, path: str, node: Node, actor: str):
        sp = _span(path, node)
        base = os.path.dirname(path)
        src_tok = node.children[0]
        raw = _unquote(src_tok, path)
        if node.data == "python_impl":
            if ":" not in raw or raw.endswith(":") or raw.startswith(":"):
                self.diags.append(error("E011", f"python implementation '{raw}' must be 'module:callable' or "
                                                "'file.py:callable'",
                                        _span(path, src_tok)))
                return None
            mod, _, fn = raw.rpartition(":")
            if mod.endswith(".py"):
                full = os.path.normpath(os.path.join(base, mod))
                if not os.path.isfile(full):
                    self.diags.append(error("E011", f"implementation file not found: {mod}", _span(path, src_tok),
                                            help=f"paths are relative to {os.path.basename(path)}; looked for {full}"))
                    return None
                mod = full
            return PythonImpl(mod, fn, sp)
        full = os.path.normpath(os.path.join(base, raw))
        if not os.path.isfile(full):
            self.diags.append(error("E011", f"implementation file not found: {raw}", _span(path, src_tok),
                                    help=f"paths are relative to {os.path.basename(path)}; looked for {full}"))
            return None
        if node.data == "opencl_impl":
            return OpenCLImpl(full, str(node.children[1]), sp)
        entries: dict[str, str] = {}
        for e in node.children[1:]:
            if e is None:
                continue
            k, v = e.children
            if str(k) not in ("init", "fire", "finish"):
                self.diags.append(error("E002", f"unknown entry point '{k}'; use init, fire or finish", _span(path, k)))
                continue
            entries[str(k)] = str(v)
        return CImpl(full, entries.get("init"), entries.get("fire", f"{actor}_fire"), entries.get("finish"), sp)

    def _fifos(self, path: str, items: list[tuple[Node, str | None]], actors: dict[str, Actor],
               scope: _Scope) -> list[Fifo]:
        out: list[Fifo] = []
        names: dict[str, Span] = {}
        for node, _dpg in items:
            name_tok, src_n, dst_n, *attrs = node.children
            src = self._endpoint(path, src_n, actors, Direction.OUT)
            dst = self._endpoint(path, dst_n, actors, Direction.IN)
            sp = _span(path, node)
            cap: int | None = None
            cap_span: Span | None = None
            init = 0
            init_span = sp
            bad = False
            for at in attrs:
                v = self._eval(path, at.children[0], scope)
                if v is None:
                    bad = True
                    continue
                if at.data == "capacity":
                    cap, cap_span = v, _span(path, at)
                else:
                    init, init_span = v, _span(path, at)
            if cap is not None and cap < 1:
                self.diags.append(error("E009", f"capacity must be at least 1 token, got {cap}", cap_span or sp))
                bad = True
            if init < 0:
                self.diags.append(error("E009", f"initial tokens must be >= 0, got {init}", init_span))
                bad = True
            elif cap is not None and init > cap:
                self.diags.append(error("E009", f"{init} initial tokens do not fit in capacity {cap}", init_span,
                                        Note(cap_span or sp, f"capacity is {cap}"),
                                        help="raise the capacity or lower the initial tokens"))
                bad = True
            if src is None or dst is None or bad:
                continue
            name = str(name_tok) if name_tok is not None else f"{src.actor}.{src.port}"
            nsp = _span(path, name_tok) if name_tok is not None else sp
            if name in names and name_tok is None:
                # the same output port again: E005 (reported by _connectivity) says it better
                k = 2
                while f"{name}#{k}" in names:
                    k += 1
                name = f"{name}#{k}"
            if name in names:
                self.diags.append(error("E003", f"fifo '{name}' is defined twice", nsp,
                                        Note(names[name], "first defined here")))
                continue
            names[name] = nsp
            f = Fifo(name, src, dst, cap, init, sp, cap_span)
            self._check_ends(path, f, actors)
            out.append(f)
        return out

    def _endpoint(self, path: str, node: Node, actors: dict[str, Actor], want: Direction) -> PortRef | None:
        a_tok, p_tok = node.children
        sp = _span(path, node)
        self._mentioned.add((str(a_tok), str(p_tok)))
        a = actors.get(str(a_tok))
        if a is None:
            self.diags.append(error("E002", f"unknown actor '{a_tok}'", _span(path, a_tok),
                                    help=_suggest(str(a_tok), actors)))
            return None
        p = a.port(str(p_tok))
        if p is None:
            self.diags.append(error("E002", f"actor '{a.name}' has no port '{p_tok}'", _span(path, p_tok),
                                    Note(a.span, f"'{a.name}' is declared here"),
                                    help=_suggest(str(p_tok), {q.name: q for q in a.ports})))
            return None
        if p.direction is not want:
            side = "source" if want is Direction.OUT else "destination"
            self.diags.append(error("E006", f"port '{a.name}.{p.name}' is an {p.direction.value}put port but is used "
                                            f"as the {side} of a fifo",
                                    sp, Note(p.span, f"declared as '{p.direction.value}' here"),
                                    help="fifos go from an output port to an input port: `fifo A.out -> B.in`"))
            return None
        return PortRef(a.name, p.name, sp)

    def _check_ends(self, path: str, f: Fifo, actors: dict[str, Actor]) -> None:
        sp_ = actors[f.src.actor].port(f.src.port)
        dp_ = actors[f.dst.actor].port(f.dst.port)
        assert sp_ is not None and dp_ is not None
        if sp_.is_control != dp_.is_control:
            ctl, data = (sp_, dp_) if sp_.is_control else (dp_, sp_)
            self.diags.append(error("E006", "a fifo connects a control port with a data port", f.span,
                                    Note(ctl.span, "control port"), Note(data.span, "data port")))
            return
        if not sp_.token.same_as(dp_.token):
            self.diags.append(error("E007",
                                    f"token types differ at the two ends of fifo {f.name}: {sp_.token} "
                                    f"({sp_.token.nbytes} B) vs {dp_.token} ({dp_.token.nbytes} B)",
                                    f.span, Note(sp_.token.span, f"{f.src} sends {sp_.token}"),
                                    Note(dp_.token.span, f"{f.dst} receives {dp_.token}")))

    def _connectivity(self, path: str, actors: list[Actor], fifos: list[Fifo]) -> None:
        uses: dict[tuple[str, str], list[Fifo]] = {}
        for f in fifos:
            uses.setdefault((f.src.actor, f.src.port), []).append(f)
            uses.setdefault((f.dst.actor, f.dst.port), []).append(f)
        # ports named by a fifo that failed for another reason are not also "unconnected"
        failed_ends = self._mentioned
        for a in actors:
            for p in a.ports:
                used = uses.get((a.name, p.name), [])
                if not used and (a.name, p.name) not in failed_ends:
                    self.diags.append(error("E004", f"port '{a.name}.{p.name}' is not connected", p.span,
                                            help="connect it with a fifo or remove it"))
                elif len(used) > 1:
                    self.diags.append(error("E005", f"port '{a.name}.{p.name}' is connected {len(used)} times; fifos "
                                                    "are point-to-point",
                                            used[1].span, *[Note(u.span, "connected here") for u in used] ,
                                            help="fan-out needs one output port per fifo"))


    # --------------------------------------------------------- platforms
    def _platform(self, path: str, node: Node, scope: _Scope) -> Platform:
        name = node.children[0]
        hosts: list[Host] = []
        links: list[Link] = []
        base = 9300
        hseen: dict[str, Span] = {}
        for it in node.children[1:]:
            if it.data == "base_port":
                v = self._eval(path, it.children[0], scope)
                if v is not None:
                    if not 1024 <= v <= 65000:
                        self.diags.append(error("E012", f"base_port must be in 1024..65000, got {v}", _span(path, it)))
                    base = v
            elif it.data == "host":
                h_tok, addr, *units = it.children
                us: list[Unit] = []
                useen: dict[str, Span] = {}
                for u in units:
                    un = str(u.children[0])
                    usp = _span(path, u.children[0])
                    if un in useen:
                        self.diags.append(error("E003", f"unit '{un}' is defined twice on host '{h_tok}'", usp,
                                                Note(useen[un], "first defined here")))
                        continue
                    useen[un] = usp
                    expr = u.children[1] if u.data == "cpu_unit" else u.children[2]
                    num = self._eval(path, expr, scope) if expr is not None else 0
                    what = "core" if u.data == "cpu_unit" else "device index"
                    if num is not None and (isinstance(num, bool) or not isinstance(num, int) or num < 0):
                        self.diags.append(error("E012", f"{what} of unit '{un}' must be a whole number >= 0, got {num}",
                                                _span(path, expr),
                                                help="CPU cores and OpenCL devices are numbered from 0"))
                        num = 0
                    if u.data == "cpu_unit":
                        us.append(Unit(un, UnitKind.CPU, None, num or 0, usp))
                    else:
                        us.append(Unit(un, UnitKind.OPENCL, _unquote(u.children[1], path), num or 0, usp))
                hsp = _span(path, h_tok)
                if str(h_tok) in hseen:
                    self.diags.append(error("E003", f"host '{h_tok}' is defined twice", hsp,
                                            Note(hseen[str(h_tok)], "first defined here")))
                    continue
                hseen[str(h_tok)] = hsp
                hosts.append(Host(str(h_tok), _unquote(addr, path), tuple(us), hsp))
            elif it.data == "link":
                a, b, spec = it.children
                lsp = _span(path, it)
                for h in (a, b):
                    if str(h) not in hseen:
                        self.diags.append(error("E002", f"unknown host '{h}' in link", _span(path, h),
                                                help="declare hosts before the links between them"))
                if spec.data == "link_preset":
                    pre = str(spec.children[0])
                    if pre not in LINK_PRESETS:
                        self.diags.append(error("E002", f"unknown link preset '{pre}'", _span(path, spec.children[0]),
                                                help="use one of " + ", ".join(LINK_PRESETS)
                                                     + ", or `bandwidth N MB/s latency N ms`"))
                        continue
                    bw, lat = LINK_PRESETS[pre]
                    links.append(Link(str(a), str(b), pre, bw, lat, lsp))
                else:
                    bw_n, bw_u, lat_n, lat_u = spec.children
                    links.append(Link(str(a), str(b), None, float(bw_n) * BANDWIDTH_UNITS[str(bw_u)],
                                      float(lat_n) * TIME_UNITS[str(lat_u)], lsp))
        return Platform(str(name), tuple(hosts), tuple(links), base, _span(path, name))

    def _mapping(self, path: str, node: Node, platforms: dict[str, Platform]) -> Mapping | None:
        name, plat_tok, host_tok, *places = node.children
        plat = platforms.get(str(plat_tok))
        if plat is None:
            self.diags.append(error("E002", f"unknown platform '{plat_tok}'", _span(path, plat_tok),
                                    help="import the platform file: `import \"platform.vpr\"`"))
            return None
        if plat.host(str(host_tok)) is None:
            self.diags.append(error("E002", f"platform '{plat.name}' has no host '{host_tok}'", _span(path, host_tok),
                                    Note(plat.span, "platform declared here")))
            return None
        out: list[Placement] = []
        seen: dict[str, Span] = {}
        for pl in places:
            a, h, u = pl.children
            sp = _span(path, a)
            host = plat.host(str(h))
            if host is None:
                self.diags.append(error("E002", f"platform '{plat.name}' has no host '{h}'", _span(path, h)))
                continue
            if host.unit(str(u)) is None:
                self.diags.append(error("E002", f"host '{h}' has no unit '{u}'", _span(path, u),
                                        Note(host.span, "host declared here")))
                continue
            if str(a) in seen:
                self.diags.append(error("E003", f"actor '{a}' is placed twice", sp,
                                        Note(seen[str(a)], "first placed here")))
                continue
            seen[str(a)] = sp
            out.append(Placement(str(a), str(h), str(u), sp))
        return Mapping(str(name), plat, str(host_tok), tuple(out), _span(path, name))


class _EvalError(Exception):
    def __init__(self, diag: Diagnostic):
        self.diag = diag


def _suggest(name: str, options: dict) -> str | None:
    import difflib

    close = difflib.get_close_matches(name, list(options), n=1)
    return f"did you mean '{close[0]}'?" if close else None
