"""Immutable IR of VR-PRUNE application graphs, platforms and mappings.

Every node carries a :class:`Span`. Transformations build new values
(``dataclasses.replace``); nothing here is mutated after construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Union


@dataclass(frozen=True, slots=True)
class Span:
    """A source range: 1-based line and column, end exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NO_SPAN = Span("<generated>", 0, 0, 0, 0)


class ActorKind(str, Enum):
    SPA = "spa"  # static processing actor
    CA = "ca"  # configuration actor
    DA = "da"  # dynamic actor (DPG entry or exit)
    DPA = "dpa"  # dynamic processing actor


class Direction(str, Enum):
    IN = "in"
    OUT = "out"


class PortKind(str, Enum):
    STATIC = "static"
    VARIABLE = "variable"
    CONTROL = "control"


DTYPE_BYTES: dict[str, int] = {
    "u8": 1, "i8": 1, "u16": 2, "i16": 2, "f16": 2,
    "u32": 4, "i32": 4, "f32": 4, "u64": 8, "i64": 8, "f64": 8,
}

CONTROL_TOKEN_BYTES = 4  # a control token is one i32 holding atr


@dataclass(frozen=True, slots=True)
class TokenType:
    """A token: ``dtype[shape]`` or ``bytes(n)`` (dtype None)."""

    dtype: str | None
    shape: tuple[int, ...]
    nbytes: int
    span: Span = NO_SPAN

    def same_as(self, other: "TokenType") -> bool:
        return (self.dtype, self.shape, self.nbytes) == (other.dtype, other.shape, other.nbytes)

    def __str__(self) -> str:
        if self.dtype is None:
            return f"bytes({self.nbytes})"
        if not self.shape:
            return self.dtype
        return f"{self.dtype}[{', '.join(map(str, self.shape))}]"


@dataclass(frozen=True, slots=True)
class Port:
    """A port. Static: lrl == url == rate >= 1. Variable: 0 <= lrl <= url.
    Control: rate 1, token is one i32 (atr)."""

    name: str
    direction: Direction
    kind: PortKind
    token: TokenType
    lrl: int
    url: int
    span: Span = NO_SPAN

    @property
    def rate(self) -> int:
        """The static rate; for variable ports the upper bound."""
        return self.url

    @property
    def is_variable(self) -> bool:
        return self.kind is PortKind.VARIABLE

    @property
    def is_control(self) -> bool:
        return self.kind is PortKind.CONTROL


@dataclass(frozen=True, slots=True)
class CImpl:
    path: str  # absolute
    init: str | None
    fire: str
    finish: str | None
    span: Span = NO_SPAN


@dataclass(frozen=True, slots=True)
class OpenCLImpl:
    path: str  # absolute
    kernel: str
    span: Span = NO_SPAN


@dataclass(frozen=True, slots=True)
class PythonImpl:
    module: str  # dotted module name, or absolute path of a .py file
    callable: str
    span: Span = NO_SPAN


Impl = Union[CImpl, OpenCLImpl, PythonImpl]
ParamValue = Union[int, float, str]


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    value: ParamValue
    span: Span = NO_SPAN


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    kind: ActorKind
    ports: tuple[Port, ...]
    impl: Impl | None = None
    params: tuple[Param, ...] = ()
    time_s: float | None = None  # annotated execution time per firing, seconds
    dpg: str | None = None  # name of the enclosing DPG, if any
    span: Span = NO_SPAN

    def port(self, name: str) -> Port | None:
        for p in self.ports:
            if p.name == name:
                return p
        return None

    @property
    def inputs(self) -> tuple[Port, ...]:
        return tuple(p for p in self.ports if p.direction is Direction.IN)

    @property
    def outputs(self) -> tuple[Port, ...]:
        return tuple(p for p in self.ports if p.direction is Direction.OUT)

    def param(self, name: str, default: ParamValue | None = None) -> ParamValue | None:
        for p in self.params:
            if p.name == name:
                return p.value
        return default


@dataclass(frozen=True, slots=True)
class PortRef:
    actor: str
    port: str
    span: Span = NO_SPAN

    def __str__(self) -> str:
        return f"{self.actor}.{self.port}"


@dataclass(frozen=True, slots=True)
class Fifo:
    """A point-to-point FIFO. ``capacity`` None means "not given" (bufsize fills it in)."""

    name: str
    src: PortRef
    dst: PortRef
    capacity: int | None
    initial: int
    span: Span = NO_SPAN
    capacity_span: Span | None = None


@dataclass(frozen=True, slots=True)
class Dpg:
    """A dynamic processing graph: names of its member actors."""

    name: str
    actors: tuple[str, ...]
    span: Span = NO_SPAN


@dataclass(frozen=True, slots=True)
class Const:
    name: str
    value: int
    span: Span = NO_SPAN


@dataclass(frozen=True, slots=True)
class Graph:
    name: str
    actors: tuple[Actor, ...]
    fifos: tuple[Fifo, ...]
    dpgs: tuple[Dpg, ...] = ()
    consts: tuple[Const, ...] = ()
    span: Span = NO_SPAN

    def actor(self, name: str) -> Actor | None:
        for a in self.actors:
            if a.name == name:
                return a
        return None

    def fifo(self, name: str) -> Fifo | None:
        for f in self.fifos:
            if f.name == name:
                return f
        return None

    def dpg(self, name: str) -> Dpg | None:
        for d in self.dpgs:
            if d.name == name:
                return d
        return None

    def index(self) -> "GraphIndex":
        return GraphIndex.of(self)


@dataclass(frozen=True)
class GraphIndex:
    """Lookup tables derived from a :class:`Graph` (built once, never mutated)."""

    graph: Graph
    actors: dict[str, Actor] = field(default_factory=dict)
    fifos: dict[str, Fifo] = field(default_factory=dict)
    by_src: dict[tuple[str, str], Fifo] = field(default_factory=dict)
    by_dst: dict[tuple[str, str], Fifo] = field(default_factory=dict)
    ins: dict[str, tuple[Fifo, ...]] = field(default_factory=dict)
    outs: dict[str, tuple[Fifo, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, g: Graph) -> "GraphIndex":
        ins: dict[str, list[Fifo]] = {a.name: [] for a in g.actors}
        outs: dict[str, list[Fifo]] = {a.name: [] for a in g.actors}
        for f in g.fifos:
            outs.setdefault(f.src.actor, []).append(f)
            ins.setdefault(f.dst.actor, []).append(f)
        return cls(
            graph=g,
            actors={a.name: a for a in g.actors},
            fifos={f.name: f for f in g.fifos},
            by_src={(f.src.actor, f.src.port): f for f in g.fifos},
            by_dst={(f.dst.actor, f.dst.port): f for f in g.fifos},
            ins={k: tuple(v) for k, v in ins.items()},
            outs={k: tuple(v) for k, v in outs.items()},
        )

    def src_port(self, f: Fifo) -> Port:
        p = self.actors[f.src.actor].port(f.src.port)
        assert p is not None
        return p

    def dst_port(self, f: Fifo) -> Port:
        p = self.actors[f.dst.actor].port(f.dst.port)
        assert p is not None
        return p

    def token_bytes(self, f: Fifo) -> int:
        return self.src_port(f).token.nbytes


# ---------------------------------------------------------------- platforms


class UnitKind(str, Enum):
    CPU = "cpu"
    OPENCL = "opencl"


@dataclass(frozen=True, slots=True)
class Unit:
    name: str
    kind: UnitKind
    platform: str | None = None  # OpenCL platform name substring
    device: int = 0  # OpenCL device index within the platform, or CPU core id
    span: Span = NO_SPAN


@dataclass(frozen=True, slots=True)
class Host:
    name: str
    address: str
    units: tuple[Unit, ...]
    span: Span = NO_SPAN

    def unit(self, name: str) -> Unit | None:
        for u in self.units:
            if u.name == name:
                return u
        return None


@dataclass(frozen=True, slots=True)
class Link:
    a: str
    b: str
    preset: str | None = None  # e.g. "ethernet100"
    bandwidth_Bps: float | None = None
    latency_s: float | None = None
    span: Span = NO_SPAN


@dataclass(frozen=True, slots=True)
class Platform:
    name: str
    hosts: tuple[Host, ...]
    links: tuple[Link, ...] = ()
    base_port: int = 9300
    span: Span = NO_SPAN

    def host(self, name: str) -> Host | None:
        for h in self.hosts:
            if h.name == name:
                return h
        return None


@dataclass(frozen=True, slots=True)
class Placement:
    actor: str
    host: str
    unit: str
    span: Span = NO_SPAN


@dataclass(frozen=True, slots=True)
class Mapping:
    """One device's view: which host this process is, and where every actor runs."""

    name: str
    platform: Platform
    this_host: str
    placements: tuple[Placement, ...]
    span: Span = NO_SPAN

    def placement(self, actor: str) -> Placement | None:
        for p in self.placements:
            if p.actor == actor:
                return p
        return None


@dataclass(frozen=True, slots=True)
class Module:
    """Everything one .vpr file (with its imports) defines."""

    path: str
    consts: tuple[Const, ...] = ()
    graphs: tuple[Graph, ...] = ()
    platforms: tuple[Platform, ...] = ()
    mappings: tuple[Mapping, ...] = ()


def without_spans(x):
    """A copy of an IR value with every span replaced by NO_SPAN (for structural comparison)."""
    import dataclasses

    if isinstance(x, Span):
        return NO_SPAN
    if isinstance(x, tuple):
        return tuple(without_spans(v) for v in x)
    if dataclasses.is_dataclass(x) and not isinstance(x, type) and not isinstance(x, GraphIndex):
        return dataclasses.replace(x, **{f.name: None if f.name.endswith("_span") else without_spans(getattr(x, f.name))
                                         for f in dataclasses.fields(x) if f.init})
    return x
