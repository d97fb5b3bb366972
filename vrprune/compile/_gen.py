"""The generator: a proved graph (and optionally one device's mapping) -> a C program.

What it writes into the output folder::

    GRAPH.c             the top-level program (templates/main.c.j2): FIFOs, actors, TX/RX edges, main()
    runtime/            the runtime library (vrp_rt.c/.h, vrp_net.c/.h, vrp_tls.c/.h), vrp_fifo.h, txrx.c/vrp_txrx.h,
                        vrp_wire.h (the FIFO, the firing loop and the wire format, shared with the executor's
                        C core) and vrprune.h
    actors/             the user's C actor sources, copied byte for byte (with their
                        quoted #include files)
    Makefile            `make`, `make SANITIZE=thread|address`, `make clean`
    build.sh            the single cc command

The generated C is meant to be read: every FIFO and actor carries the user's name, each FIFO
its capacity, token type and the proof's fill-level bound in a comment.
"""

from __future__ import annotations

import functools
import math
import os
import re
import shlex
import shutil
from dataclasses import dataclass, field

import jinja2

from ..diagnostics import VrpruneError
from ..model import ActorKind, CImpl, Graph, GraphIndex, Mapping, OpenCLImpl, Port, PythonImpl, UnitKind
from ._opencl import OpenCLLink, find_opencl

RUNTIME_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runtime")
RUNTIME_FILES = ("vrp_rt.h", "vrp_rt.c", "vrp_net.h", "vrp_net.c", "vrp_tls.h", "vrp_tls.c")
RUNTIME_SOURCES = ("runtime/vrp_rt.c", "runtime/vrp_net.c", "runtime/vrp_tls.c", "runtime/txrx.c")
#: the FIFO and the firing loop: one source with the executor's C core (vrprune/exec/runtime/native.c),
#: copied from there into the program's runtime/
SHARED_RUNTIME_DIR = os.path.normpath(os.path.join(RUNTIME_DIR, os.pardir, os.pardir, "exec", "runtime"))
SHARED_RUNTIME_FILES = ("vrp_fifo.h",)
#: the TX/RX firings on plain TCP: one source with the executor's (vrprune/net/runtime/txrx.c)
TXRX_RUNTIME_DIR = os.path.normpath(os.path.join(RUNTIME_DIR, os.pardir, os.pardir, "net", "runtime"))
TXRX_RUNTIME_FILES = ("txrx.c", "vrp_txrx.h", "vrp_wire.h")
TLS_SOURCE = "runtime/vrp_tls.c"
#: TLS (vrp_tls.c) links OpenSSL; programs without links build it with -DVRP_NO_TLS instead
TLS_LIBS = ("-lssl", "-lcrypto")
#: OpenCL actors (only copied, compiled and linked when the program has some)
CL_RUNTIME_FILES = ("vrp_cl.h", "vrp_cl.c", "CL/cl.h", "CL/cl_platform.h", "CL/cl_version.h")
CL_RUNTIME_SOURCE = "runtime/vrp_cl.c"

#: optimisation flags of every build (the Python executor's, vrprune/exec/_toolchain.py)
OPT_FLAGS = ("-O3", "-march=native", "-std=gnu11")
#: warnings of the generated program and the runtime library (warning-free: tested with -Werror)
WARN_FLAGS = ("-Wall", "-Wextra")
#: warnings of the user's actor sources (the Python executor's)
ACTOR_WARN_FLAGS = ("-Wall", "-Wno-unused-function")
SANITIZE_FLAGS = ("-O1", "-g", "-fno-omit-frame-pointer")


class CompileError(VrpruneError):
    """The graph cannot be compiled as given (an actor that is not C, clashing entry points, ...)."""


@dataclass
class Program:
    """What was generated: paths relative to ``out_dir``."""

    out_dir: str
    name: str  # program (and binary) name
    main_c: str
    actor_sources: list[str] = field(default_factory=list)  # relative paths under actors/
    include_dirs: list[str] = field(default_factory=list)  # relative
    host: str | None = None
    n_tx: int = 0
    n_rx: int = 0
    warnings: str = ""  # what the compiler printed on a successful build
    opencl: OpenCLLink | None = None  # how to link the OpenCL ICD loader (programs with OpenCL actors)
    n_opencl: int = 0  # OpenCL actors
    tls: bool = False  # link OpenSSL for --tls-* (programs with links to other hosts)

    @property
    def runtime_sources(self) -> list[str]:
        return [*RUNTIME_SOURCES, *([CL_RUNTIME_SOURCE] if self.n_opencl else [])]

    @property
    def sources(self) -> list[str]:
        return [self.main_c, *self.runtime_sources, *self.actor_sources]

    @property
    def cl_cflags(self) -> list[str]:
        return list(self.opencl.cflags) if self.opencl else []

    @property
    def tls_cflags(self) -> list[str]:
        return [] if self.tls else ["-DVRP_NO_TLS"]

    def source_cflags(self, src: str) -> list[str]:
        """Extra compile flags of one runtime source."""
        return self.cl_cflags if src == CL_RUNTIME_SOURCE else self.tls_cflags if src == TLS_SOURCE else []

    @property
    def ldlibs(self) -> list[str]:
        return (list(self.opencl.ldflags) if self.opencl else []) + (list(TLS_LIBS) if self.tls else []) + ["-lm"]

    def cc_command(self, cc: str = "cc") -> str:
        """The single documented compiler command (run in ``out_dir``)."""
        inc = " ".join(f"-I{d}" for d in ["runtime", *self.include_dirs])
        cl = "".join(f" {shlex.quote(f)}" for f in self.cl_cflags + self.tls_cflags)
        return (f"{cc} {' '.join(OPT_FLAGS)} {' '.join(ACTOR_WARN_FLAGS)}{cl} -pthread {inc} -o {self.name} "
                f"{' '.join(self.sources)} {' '.join(shlex.quote(f) for f in self.ldlibs)}")


# ------------------------------------------------------------------ helpers
def c_ident(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return s if s and not s[0].isdigit() else f"_{s}"


def c_str(s: str) -> str:
    out = []
    for ch in s.encode("utf-8"):
        c = chr(ch)
        if c == "\\" or c == '"':
            out.append("\\" + c)
        elif 32 <= ch < 127 and c != "?":  # '?' too: no trigraphs
            out.append(c)
        else:
            out.append(f"\\{ch:03o}")
    return '"' + "".join(out) + '"'


def c_comment(s: str) -> str:
    return s.replace("*/", "*\\/")


def c_double(v: float) -> str:
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    r = repr(float(v))
    return r if any(ch in r for ch in ".eE") else r + ".0"


class _Names:
    """Unique C identifiers with a prefix."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def __call__(self, prefix: str, name: str) -> str:
        base = f"{prefix}{c_ident(name)}"
        out, i = base, 2
        while out in self.taken:
            out, i = f"{base}_{i}", i + 1
        self.taken.add(out)
        return out


def _window(p: Port) -> int:
    return 1 if p.is_control else max(p.url, 1)


def _dpg_bounds(g: Graph) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for a in g.actors:
        if a.dpg is None:
            continue
        for p in a.ports:
            if p.is_variable and a.dpg not in out:
                out[a.dpg] = (p.lrl, p.url)
    return out


_INCLUDE_RE = re.compile(rb'^\s*#\s*include\s*"([^"]+)"', re.M)


def _local_includes(path: str, root: str, seen: dict[str, str]) -> None:
    """Quoted includes of ``path`` that resolve under ``root`` (recursively): abs -> rel to root."""
    with open(path, "rb") as f:
        text = f.read()
    for m in _INCLUDE_RE.finditer(text):
        name = m.group(1).decode(errors="replace")
        cand = os.path.normpath(os.path.join(os.path.dirname(path), name))
        if os.path.basename(cand) == "vrprune.h" or not os.path.isfile(cand) or cand in seen:
            continue
        rel = os.path.relpath(cand, root)
        if rel.startswith(".."):
            raise CompileError(f"{path}: #include \"{name}\" lies outside the actor's folder ({root}); "
                               f"the compiled program copies actor sources with the files they include from "
                               f"their own folder only")
        seen[cand] = rel
        _local_includes(cand, root, seen)


# ------------------------------------------------------------------ the generator
def generate(graph: Graph, out_dir: str, *, source: str, repetition: dict[str, int],
             bounds: dict[str, tuple[int, int]], method: str, iterations: int | None = None,
             mapping: Mapping | None = None, split=None, fingerprint: bytes | None = None,
             port_base: int | None = None, proof_graph: Graph | None = None, tls: bool = True) -> Program:
    """Write the program for ``graph`` (the local graph of ``split`` when a mapping is given).

    ``repetition``: firings per iteration of every actor; ``bounds``: fifo -> (proved bound,
    peak in the certificate's schedules), keyed by the proved graph's fifo names. ``tls``: a
    program with links to other hosts links OpenSSL for --tls-* (False: `make TLS=0`'s build).
    """
    idx = graph.index()
    tx_edges = {e.tx: e for e in split.outgoing} if split is not None else {}
    rx_edges = {e.rx: e for e in split.incoming} if split is not None else {}
    host = mapping.this_host if mapping is not None else None

    # every local actor must be C or OpenCL (TX/RX are built in)
    bad = []
    ort_actors = []
    cl_actors = []
    for a in graph.actors:
        if a.name in tx_edges or a.name in rx_edges:
            continue
        if isinstance(a.impl, OpenCLImpl):
            cl_actors.append(a)
            if not os.path.isfile(a.impl.path):
                raise CompileError(f"{a.impl.span}: OpenCL source file not found: {a.impl.path}")
        elif not isinstance(a.impl, CImpl):
            if _is_onnxruntime_actor(a):
                ort_actors.append(a)
                continue
            kinds: dict[type, str] = {PythonImpl: "a Python actor"}
            kind = kinds.get(type(a.impl), "an actor without an implementation")
            bad.append(f"{a.span}: actor '{a.name}' is {kind}")
    if ort_actors:
        names = ", ".join(f"'{a.name}'" for a in ort_actors[:6]) + (", ..." if len(ort_actors) > 6 else "")
        raise CompileError(f"{ort_actors[0].span}: {len(ort_actors)} actors ({names}) run an imported ONNX model "
                           "with onnxruntime (written by `vrprune import`); onnxruntime actors cannot be compiled to "
                           "C: run the imported graph with `vrprune run` (also split over hosts with --mapping)")
    if bad:
        raise CompileError("the compiled program runs C and OpenCL actors only:\n  " + "\n  ".join(bad) +
                           "\n  write them in C (vrprune.h), or place them on another host with --mapping")

    os.makedirs(out_dir, exist_ok=True)
    name = c_ident(graph.name if host is None else f"{graph.name}_{host}")
    prog = Program(out_dir, name, f"{name}.c", host=host, n_tx=len(tx_edges), n_rx=len(rx_edges),
                   n_opencl=len(cl_actors), tls=tls and split is not None)
    if cl_actors:
        prog.opencl = find_opencl()
        if prog.opencl is None:
            first = cl_actors[0]
            raise CompileError(f"{first.impl.span if first.impl else first.span}: actor '{first.name}' is an OpenCL "
                               "actor, and no OpenCL ICD loader was found to link (pip install 'vrprune[opencl]', "
                               "install ocl-icd-libopencl1, or set VRPRUNE_OPENCL_LIB)")

    # runtime
    rdir = os.path.join(out_dir, "runtime")
    os.makedirs(rdir, exist_ok=True)
    from ..exec import C_HEADER as HEADER

    for f in RUNTIME_FILES + (CL_RUNTIME_FILES if cl_actors else ()):
        os.makedirs(os.path.dirname(os.path.join(rdir, f)), exist_ok=True)
        shutil.copyfile(os.path.join(RUNTIME_DIR, f), os.path.join(rdir, f))
    for f in SHARED_RUNTIME_FILES:
        shutil.copyfile(os.path.join(SHARED_RUNTIME_DIR, f), os.path.join(rdir, f))
    for f in TXRX_RUNTIME_FILES:
        shutil.copyfile(os.path.join(TXRX_RUNTIME_DIR, f), os.path.join(rdir, f))
    shutil.copyfile(HEADER, os.path.join(rdir, "vrprune.h"))

    # actor sources: one folder per source folder, files byte for byte
    adir = os.path.join(out_dir, "actors")
    src_rel: dict[str, str] = {}
    folders: dict[str, str] = {}
    for a in graph.actors:
        if not isinstance(a.impl, (CImpl, OpenCLImpl)) or a.impl.path in src_rel:
            continue
        path = a.impl.path
        if not os.path.isfile(path):
            raise CompileError(f"{a.impl.span}: C source file not found: {path}")
        root = os.path.dirname(path)
        if root not in folders:
            base = c_ident(os.path.basename(root) or "src")
            sub, i = base, 2
            while sub in folders.values():
                sub, i = f"{base}_{i}", i + 1
            folders[root] = sub
        sub = folders[root]
        files = {path: os.path.basename(path)}
        _local_includes(path, root, files)
        for absf, rel in files.items():
            dst = os.path.join(adir, sub, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(absf, dst)
        src_rel[path] = f"actors/{sub}/{os.path.basename(path)}"
    prog.actor_sources = list(dict.fromkeys(v for a in graph.actors if isinstance(a.impl, CImpl)
                                            for v in [src_rel[a.impl.path]]))
    prog.include_dirs = sorted({f"actors/{s}" for s in folders.values()})

    # entry points: one definition per symbol in the whole program
    owner: dict[str, str] = {}
    for a in graph.actors:
        if not isinstance(a.impl, CImpl):
            continue
        for sym in (a.impl.init, a.impl.fire, a.impl.finish):
            if sym is None:
                continue
            prev = owner.setdefault(sym, a.impl.path)
            if prev != a.impl.path:
                raise CompileError(f"{a.impl.span}: entry point '{sym}' of actor '{a.name}' is defined in both "
                                   f"{prev} and {a.impl.path}; in one program every C symbol must be unique "
                                   f"(rename one of them)")

    text = _main_c(graph, idx, prog, source=source, repetition=repetition, bounds=bounds, method=method,
                   iterations=iterations, mapping=mapping, split=split, tx_edges=tx_edges, rx_edges=rx_edges,
                   fingerprint=fingerprint, port_base=port_base, src_rel=src_rel)
    with open(os.path.join(out_dir, prog.main_c), "w", encoding="utf-8") as out:
        out.write(text)
    _write_makefile(prog)
    return prog


TEMPLATE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")


@functools.lru_cache(maxsize=None)
def _template(name: str) -> jinja2.Template:
    """A C template of templates/: ``${...}`` a value, ``{% ... %}`` a loop or condition (so that
    C's own braces need no escaping); lines holding only a tag vanish."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR), variable_start_string="${",
                             variable_end_string="}", trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined, autoescape=False)
    return env.get_template(name)


def _main_c(graph: Graph, idx: GraphIndex, prog: Program, *, source, repetition, bounds, method, iterations,
            mapping, split, tx_edges, rx_edges, fingerprint, port_base, src_rel) -> str:
    """The program's main.c: templates/main.c.j2 filled with this graph's FIFOs, edges and actors."""
    names = _Names()
    fifo_id = {f.name: names("fifo_", f.name) for f in graph.fifos}
    actor_id = {a.name: names("actor_", a.name) for a in graph.actors}
    edges = list(tx_edges.values()) + list(rx_edges.values())
    edge_id = {e.name: names("edge_", e.name) for e in edges}
    dpgb = _dpg_bounds(graph)
    incoming = {e.fifo.name for e in rx_edges.values()}
    rel_source = os.path.basename(source)
    cl_actors = [a for a in graph.actors if isinstance(a.impl, OpenCLImpl)
                 and a.name not in tx_edges and a.name not in rx_edges]

    # entry points, per source file, each declared once
    declared: set[str] = set()
    by_file: dict[str, list] = {}
    for a in graph.actors:
        if isinstance(a.impl, CImpl):
            by_file.setdefault(src_rel[a.impl.path], []).append(a)
    c_files = []
    for rel, actors in by_file.items():
        decls = []
        for a in actors:
            impl = a.impl
            for kind, fn, named in (("init", impl.init or f"{a.name}_init", impl.init),
                                    ("fire", impl.fire, impl.fire),
                                    ("finish", impl.finish or f"{a.name}_finish", impl.finish)):
                if fn not in declared:
                    declared.add(fn)
                    decls.append({"kind": kind, "name": fn, "weak": "" if named else " __attribute__((weak))"})
        c_files.append({"rel": rel, "decls": decls})

    # OpenCL sources, as C string literals
    cl_src_id: dict[str, str] = {}
    cl_sources = []
    for a in cl_actors:
        assert isinstance(a.impl, OpenCLImpl)
        path = a.impl.path
        if path in cl_src_id:
            continue
        cid = names("cl_source_", os.path.splitext(os.path.basename(path))[0])
        cl_src_id[path] = cid
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        lines = text.splitlines(keepends=True) or [""]
        literals = [c_str(line[:-1] if line.endswith("\n") else line)[:-1] + ('\\n"' if line.endswith("\n") else '"')
                    for line in lines]
        literals[-1] += ";"
        cl_sources.append({"rel": c_comment(src_rel[path]), "id": cid, "lines": literals})

    fifos = []
    for f in graph.fifos:
        sp, dp = idx.src_port(f), idx.dst_port(f)
        key = f"{f.name}~rx" if f.name in incoming else f.name
        bound, peak = bounds.get(key, (f.capacity, None))
        head = f"{f.src} -> {f.dst}" if f.name == str(f.src) else f"{f.name}: {f.src} -> {f.dst}"
        fifos.append({"id": fifo_id[f.name], "name": c_str(f.name), "head": c_comment(head),
                      "token": c_comment("control (i32 atr)" if sp.is_control else str(sp.token)),
                      "rates": "1 -> 1" if sp.is_control else f"{_rate(sp)} -> {_rate(dp)}",
                      "capacity": f.capacity, "bound": bound, "peak": peak, "initial": f.initial,
                      "token_bytes": idx.token_bytes(f), "window": max(_window(sp), _window(dp))})

    edge_rows = [{"id": edge_id[e.name], "index": e.index, "name": c_str(e.name),
                  "is_tx": int(e.tx in tx_edges and tx_edges[e.tx] is e), "src": c_str(e.src_host.name),
                  "dst": c_str(e.dst_host.name), "address": c_str(e.dst_host.address),
                  "token_bytes": e.token_bytes, "rate": e.rate} for e in edges]

    actors = [_actor_row(a, idx, actor_id[a.name], fifo_id, edge_id, repetition, mapping, tx_edges, rx_edges,
                         src_rel, dpgb, cl_src_id if a in cl_actors else None) for a in graph.actors]

    address = None
    if prog.host:
        h = mapping.platform.host(prog.host) if mapping is not None else None
        if h is not None and split is not None:
            address = c_str(h.address)
    return _template("main.c.j2").render(
        main_c=prog.main_c, graph=c_comment(graph.name), mapping=c_comment(mapping.name) if mapping else None,
        host=c_comment(prog.host or ""), source=c_comment(rel_source), method=c_comment(method),
        repetition=", ".join(f"{a.name} {repetition.get(a.name, 1)}" for a in graph.actors), name=prog.name,
        split=split is not None, c_files=c_files, cl_sources=cl_sources, fifos=fifos, edges=edge_rows,
        actors=actors, actor_list=", ".join("&" + actor_id[a.name] for a in graph.actors),
        fifo_list=", ".join("&" + fifo_id[f.name] for f in graph.fifos),
        edge_list=", ".join("&" + edge_id[e.name] for e in edges),
        fingerprint=", ".join(f"0x{b:02x}" for b in fingerprint) if fingerprint is not None else "",
        graph_str=c_str(graph.name), host_str=c_str(prog.host) if prog.host else None, address=address,
        source_str=c_str(rel_source), n_actors=len(graph.actors), n_fifos=len(graph.fifos), n_edges=len(edges),
        port_base=port_base, iterations=iterations if iterations is not None else -1,
        until_end=iterations is None)


def _actor_row(a, idx: GraphIndex, aid: str, fifo_id, edge_id, repetition, mapping, tx_edges, rx_edges, src_rel,
               dpgb, cl_src_id: dict[str, str] | None) -> dict:
    """One actor's part of main.c: its comment, parameters, port arrays, OpenCL setup and fields."""
    ins = [(p, idx.by_dst[(a.name, p.name)]) for p in a.inputs if not p.is_control]
    outs = [(p, idx.by_src[(a.name, p.name)]) for p in a.outputs if not p.is_control]
    cin = [idx.by_dst[(a.name, p.name)] for p in a.inputs if p.is_control]
    couts = [idx.by_src[(a.name, p.name)] for p in a.outputs if p.is_control]
    q = repetition.get(a.name, 1)
    where = ""
    cpu = -1  # the core of its CPU unit: --pin runs it there
    if mapping is not None:
        pl = mapping.placement(a.name)
        if pl is not None:
            where = f", placed on {pl.host}.{pl.unit}"
            h = mapping.platform.host(pl.host)
            u = h.unit(pl.unit) if h is not None else None
            if (u is not None and u.kind is UnitKind.CPU and a.name not in tx_edges and a.name not in rx_edges
                    and not isinstance(a.impl, OpenCLImpl)):  # OpenCL starts threads of its own
                cpu = u.device
    if a.name in tx_edges:
        e = tx_edges[a.name]
        desc = f"TX of edge '{e.name}' to host '{e.dst_host.name}' (built in)"
    elif a.name in rx_edges:
        e = rx_edges[a.name]
        desc = f"RX of edge '{e.name}' from host '{e.src_host.name}' (built in)"
    else:
        assert isinstance(a.impl, (CImpl, OpenCLImpl))  # generate() refused the others
        desc = f"{a.kind.value.upper()}" + (f" of DPG '{a.dpg}'" if a.dpg else "") + f", {src_rel[a.impl.path]}"
    firings = f"{q} firing{'s' if q != 1 else ''} per iteration"
    params = []
    if isinstance(a.impl, CImpl):
        for p in a.params:
            v = p.value
            if isinstance(v, str):
                params.append({"name": c_str(p.name), "kind": "VRP_PARAM_STR", "int": 0, "double": "0.0",
                               "str": c_str(v)})
            elif isinstance(v, float):
                params.append({"name": c_str(p.name), "kind": "VRP_PARAM_FLOAT",
                               "int": int(v) if math.isfinite(v) else 0, "double": c_double(v), "str": "NULL"})
            else:
                params.append({"name": c_str(p.name), "kind": "VRP_PARAM_INT", "int": int(v),
                               "double": c_double(float(v)), "str": "NULL"})
    cl = None
    if isinstance(a.impl, OpenCLImpl) and cl_src_id is not None:
        cl = _cl_actor(a, aid, ins, outs, cl_src_id[a.impl.path], src_rel[a.impl.path], mapping)

    fields = [f".name = {c_str(a.name)}"]
    if a.name in tx_edges:
        e = tx_edges[a.name]
        fields += ['.fire_name = "TX"', ".fire = vrp_tx_fire", ".finish = vrp_tx_finish",
                   f".state = &{edge_id[e.name]}"]
    elif a.name in rx_edges:
        e = rx_edges[a.name]
        fields += ['.fire_name = "RX"', ".fire = vrp_rx_fire", f".state = &{edge_id[e.name]}"]
    elif isinstance(a.impl, OpenCLImpl):
        fields += [f".fire_name = {c_str(a.impl.kernel)}", f".init = {aid}_init", ".fire = vrp_cl_fire",
                   ".finish = vrp_cl_finish"]
    else:
        impl = a.impl
        assert isinstance(impl, CImpl)  # generate() refused the others
        fields += [f".fire_name = {c_str(impl.fire)}", f".init = {impl.init or a.name + '_init'}",
                   f".fire = {impl.fire}", f".finish = {impl.finish or a.name + '_finish'}"]
        if a.params:
            fields += [f".params = {aid}_params", f".n_params = {len(a.params)}"]
    if ins:
        fields += [f".n_in = {len(ins)}", f".in = {aid}_in", f".in_rate = {aid}_in_rate", f".inb = {aid}_inb"]
    if outs:
        fields += [f".n_out = {len(outs)}", f".out = {aid}_out", f".out_rate = {aid}_out_rate",
                   f".outb = {aid}_outb"]
    if cin:
        fields.append(f".cin = &{fifo_id[cin[0].name]}")
    if couts:
        fields += [f".n_cout = {len(couts)}", f".cout = {aid}_cout"]
    if a.kind is ActorKind.CA:
        lo, hi = dpgb.get(a.dpg or "", (0, 0))
        fields += [".is_ca = 1", f".lo = {lo}", f".hi = {hi}"]
    fields += [f".q = {q}", f".cpu = {cpu}"]
    return {"id": aid, "comment": f"{c_comment(a.name)}: {c_comment(desc)}; {firings}{c_comment(where)}",
            "params": params,
            "ins": ", ".join("&" + fifo_id[f.name] for _, f in ins), "n_in": len(ins),
            "in_rates": ", ".join(_rate_c(p) for p, _ in ins),
            "outs": ", ".join("&" + fifo_id[f.name] for _, f in outs), "n_out": len(outs),
            "out_rates": ", ".join(_rate_c(p) for p, _ in outs),
            "couts": ", ".join("&" + fifo_id[f.name] for f in couts), "cl": cl, "fields": fields}


def _cl_actor(a, aid: str, ins, outs, src_id: str, rel: str, mapping) -> dict:
    """The vrp_cl_actor of an OpenCL actor: the Python back-end's convention (vrprune/exec/_opencl.py)."""
    from ..exec import opencl_define
    from ..model import DTYPE_BYTES

    impl = a.impl
    options = " ".join(d for d in (opencl_define(p.name, p.value) for p in a.params) if d)
    platform, device = "NULL", -1
    if mapping is not None:
        pl = mapping.placement(a.name)
        h = mapping.platform.host(pl.host) if pl is not None else None
        u = h.unit(pl.unit) if h is not None else None
        if u is not None and u.kind is UnitKind.OPENCL:
            platform, device = c_str(u.platform or "Portable Computing Language"), u.device
    mode = {ActorKind.DA: "VRP_CL_DA", ActorKind.DPA: "VRP_CL_DA", ActorKind.CA: "VRP_CL_CA"}.get(a.kind, "VRP_CL_SDF")
    sb = a.param("state_bytes")
    gs = a.param("global_size")
    if outs:
        tok = outs[0][0].token
        ept = tok.nbytes // DTYPE_BYTES[tok.dtype] if tok.dtype else tok.nbytes
    else:
        ept = 0
    explicit_init = a.param("init_kernel")
    init_name = str(explicit_init) if explicit_init is not None else f"{impl.kernel}_init"
    in_max = ", ".join(str(max(p.url, 1) * p.token.nbytes) for p, _ in ins)
    out_max = ", ".join(str(max(p.url, 1) * p.token.nbytes) for p, _ in outs)
    fields = [f".actor = {c_str(a.name)}", f".file = {c_str(rel)}", f".source = {src_id}",
              f".kernel = {c_str(impl.kernel)}", f".init_kernel = {c_str(init_name)}",
              f".init_required = {int(explicit_init is not None)}", f".options = {c_str(options)}",
              f".platform = {platform}", f".device = {device}", f".atr_mode = {mode}",
              f".n_in = {len(ins)}", f".n_out = {len(outs)}"]
    if ins:
        fields.append(f".in_max = {aid}_in_max")
    if outs:
        fields.append(f".out_max = {aid}_out_max")
    fields += [f".state_bytes = {int(sb) if sb is not None else 0}",
               f".global_size = {int(gs)}" if gs is not None else
               ".global_size = -1  /* elements of the first output */",
               f".elems_per_token = {ept}"]
    return {"in_max": in_max, "out_max": out_max, "fields": fields}


def _rate(p: Port) -> str:
    return f"{p.lrl}..{p.url}" if p.is_variable else str(p.rate)


def _rate_c(p: Port) -> str:
    return f"0 /* atr in {p.lrl}..{p.url} */" if p.is_variable else str(p.rate)


def _write_makefile(prog: Program) -> None:
    inc = " ".join(f"-I{d}" for d in ["runtime", *prog.include_dirs])
    headers = " ".join(f"runtime/{h}" for h in ["vrp_rt.h", "vrp_fifo.h", "vrp_net.h", "vrp_tls.h", "vrp_txrx.h",
                                                  "vrp_wire.h", "vrprune.h", *(["vrp_cl.h"] if prog.n_opencl else [])])
    gen = [prog.main_c, *prog.runtime_sources]
    objs_gen = " ".join(f"$(OBJ)/{os.path.splitext(s)[0].replace('/', '__')}.o" for s in gen)
    objs_act = " ".join(f"$(OBJ)/{os.path.splitext(s)[0].replace('/', '__')}.o" for s in prog.actor_sources)
    rules = []
    for s in gen:
        o = f"$(OBJ)/{os.path.splitext(s)[0].replace('/', '__')}.o"
        extra = " $(CL_CFLAGS)" if s == CL_RUNTIME_SOURCE else " $(TLS_CFLAGS)" if s == TLS_SOURCE else ""
        rules.append(f"{o}: {s} $(HEADERS) | $(OBJ)\n\t$(CC) $(CFLAGS) $(WARN){extra} $(SAN) $(INC) -c -o $@ {s}")
    for s in prog.actor_sources:
        o = f"$(OBJ)/{os.path.splitext(s)[0].replace('/', '__')}.o"
        rules.append(f"{o}: {s} runtime/vrprune.h | $(OBJ)\n\t$(CC) $(CFLAGS) $(ACTOR_WARN) $(SAN) $(INC) -c -o $@ {s}")
    opencl_vars = ""
    if prog.n_opencl and prog.opencl is not None:
        opencl_vars = (f"# OpenCL: the ICD loader, found by `vrprune compile` ({prog.opencl.where}); override with\n"
                       f"# make OPENCL_LIB=-lOpenCL CL_CFLAGS= (a system ocl-icd; its ICDs: /etc/OpenCL/vendors or\n"
                       f"# $OCL_ICD_VENDORS). VRP_PYOPENCL_HOME: where pyopencl's loader finds its PoCL ICD.\n"
                       f"OPENCL_LIB ?= {' '.join(shlex.quote(f) for f in prog.opencl.ldflags)}\n"
                       f"CL_CFLAGS ?= {' '.join(shlex.quote(f) for f in prog.opencl.cflags)}\n")
    text = f"""# Makefile of '{prog.name}', generated by `vrprune compile`.
#
#   make                      build ./{prog.name}
#   make SANITIZE=thread      build ./{prog.name}-thread with ThreadSanitizer (address: AddressSanitizer)
#   make WARN="-Wall -Wextra -Werror"   the generated code and the runtime are warning-free
#   make clean
#
# The same build as one command (what ./build.sh runs):
#   {prog.cc_command()}

CC ?= cc
CFLAGS ?= {' '.join(OPT_FLAGS)}
WARN ?= {' '.join(WARN_FLAGS)}
ACTOR_WARN ?= {' '.join(ACTOR_WARN_FLAGS)}
{opencl_vars}# TLS (--tls-*): TLS=1 links OpenSSL (libssl); TLS=0 builds without it (programs without links do)
TLS ?= {int(prog.tls)}
ifeq ($(TLS),0)
TLS_CFLAGS = -DVRP_NO_TLS
TLS_LIBS =
else
TLS_CFLAGS =
TLS_LIBS = {' '.join(TLS_LIBS)}
endif
LDLIBS ?= {'$(OPENCL_LIB) ' if prog.n_opencl else ''}$(TLS_LIBS) -lm
SANITIZE ?=
INC = {inc}
HEADERS = {headers}

ifeq ($(SANITIZE),)
SAN =
BIN = {prog.name}
OBJ = obj
else
SAN = -fsanitize=$(SANITIZE) {' '.join(SANITIZE_FLAGS)}
BIN = {prog.name}-$(SANITIZE)
OBJ = obj-$(SANITIZE)
endif

$(BIN): {objs_gen} {objs_act}
\t$(CC) $(CFLAGS) $(SAN) -pthread -o $@ $^ $(LDLIBS)

$(OBJ):
\tmkdir -p $(OBJ)

{chr(10).join(rules)}

clean:
\trm -rf obj obj-thread obj-address {prog.name} {prog.name}-thread {prog.name}-address

.PHONY: clean
"""
    with open(os.path.join(prog.out_dir, "Makefile"), "w") as f:
        f.write(text)
    sh = os.path.join(prog.out_dir, "build.sh")
    with open(sh, "w") as f:
        f.write(f"#!/bin/sh\n# The single cc command that builds ./{prog.name} (generated by `vrprune compile`).\n"
                f"cd \"$(dirname \"$0\")\" && exec {prog.cc_command('${CC:-cc}')}\n")
    os.chmod(sh, 0o755)


def shell_join(cmd: list[str]) -> str:
    return " ".join(shlex.quote(c) for c in cmd)


def _is_onnxruntime_actor(actor) -> bool:
    from ..onnximport import is_onnxruntime_actor

    return is_onnxruntime_actor(actor)
