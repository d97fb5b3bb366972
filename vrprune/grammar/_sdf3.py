"""Read SDF3 XML graphs (``<sdf3 type="sdf">``) into the vrprune IR.

SDF3 (Stuijk, Geilen, Basten; TU Eindhoven) is the tool most users of this field already
have graphs for. The reader keeps the line and column of every XML element, so each IR node
carries a :class:`Span` at the element it came from, and every problem is a located
:class:`DiagnosticError`, never a traceback.

Conventions (SDF3 leaves units to the user; these are the choices vrprune makes):

- ``<tokenSize sz="N"/>`` is in **bits** (SDF3 and the tools that export to it, e.g.
  ForSyDe's f2sdf3, write ``sz = bytes * 8``). The token becomes ``bytes(ceil(N / 8))``;
  without a tokenSize element it is ``bytes(4)`` (a 32-bit word).
- ``<bufferSize sz="N"/>`` is the channel's capacity in **tokens** (``Fifo.capacity``).
  The ``src``/``dst``/``mem`` attributes describe a buffer split over two tiles and memory
  in bits; they are ignored. Without bufferSize the capacity is left open (``vrprune
  bufsize`` fills it in).
- ``<executionTime time="C"/>`` is in clock **cycles**; vrprune assumes a 1 GHz clock and
  stores ``Actor.time_s = C * 1e-9``. Of several ``<processor>`` elements the one with
  ``default="true"`` counts, else the first.
- Names are kept exactly as written: one that is a .vpr keyword (``in``, ``out``, ``c``, ``s``)
  or no plain identifier (``fir-1``) is written in backquotes in .vpr text (`` `in` ``).
  Only a name that backquotes cannot hold (empty, or with a backquote or a control character)
  is rewritten to an identifier (``[^A-Za-z0-9_]`` becomes ``_``, clashes get ``_2``...); such
  a renamed actor keeps its SDF3 name in ``param sdf3_name``.
- CSDF (``type="csdf"``, rates like ``"1,0,2"``): an actor whose every port has the same rate
  in every phase is exactly an SDF actor with that rate (each phase is one firing of it), and
  is read as such. Any other CSDF actor is rejected with E015: summing its phases into one
  firing would change deadlock and buffer behaviour, so it would not be exact.
"""

from __future__ import annotations

import gc
import math
import os
import re
from dataclasses import dataclass, field
from xml.parsers import expat

from ..diagnostics import (
    Diagnostic,
    DiagnosticError,
    Note,
    SpecSyntaxError,
    error,
    register_source,
)
from ..model import (
    Actor,
    ActorKind,
    Direction,
    Fifo,
    Graph,
    Param,
    Port,
    PortKind,
    PortRef,
    Span,
    TokenType,
)
from ._files import read_input
from ._lexer import QUOTABLE

DEFAULT_TOKEN_BYTES = 4
CYCLE_S = 1e-9  # one SDF3 time unit (clock cycle) at the assumed 1 GHz
MAX_TIME_S = 1e9  # an actor time above ~30 years is a mistake (and overflows nanosecond arithmetic)
MAX_TOKEN_BYTES = 1 << 32  # as for .vpr token types
MAX_INT = 1 << 62  # rates, capacities, token sizes: what 64-bit arithmetic in the runtimes holds

# ----------------------------------------------------------------- located XML


class _Elem:
    """One XML element; its span (the start tag) is worked out when first asked for."""

    __slots__ = ("_end", "_span", "attrs", "children", "col", "line", "src", "start", "tag", "text")

    def __init__(self, tag: str, attrs: dict[str, str], src: _Source, start: int, line: int, col: int):
        self.tag = tag
        self.attrs = attrs
        self.src = src
        self.start = start  # byte offset of '<'
        self.line = line  # where '<' is (expat's count, in characters)
        self.col = col
        self.children: list[_Elem] = []
        self.text = ""
        self._end = -1
        self._span: Span | None = None

    @property
    def end(self) -> int:
        """Byte offset just past the start tag's '>'."""
        if self._end < 0:
            self._end = self.src.tag_end(self.start)
        return self._end

    @property
    def span(self) -> Span:
        """The start tag."""
        if self._span is None:
            self._span = self.src.span_from(self.start, self.line, self.col, self.end)
        return self._span

    def find(self, tag: str) -> _Elem | None:
        for c in self.children:
            if c.tag == tag:
                return c
        return None

    def findall(self, tag: str) -> list[_Elem]:
        return [c for c in self.children if c.tag == tag]


_ATTR: dict[str, re.Pattern[bytes]] = {}
_TAG_END = re.compile(rb"""(?:[^>"']++|"[^"]*+"|'[^']*+')*+>""")


class _Source:
    """The raw bytes of the file, for turning byte offsets into lines and columns.

    Every position is measured from a nearby one that is already known (expat gives the line
    and column of each start tag), never from the start of its line: the whole file costs
    O(size), however long its lines are."""

    def __init__(self, path: str, data: bytes):
        self.path = path
        self.data = data

    def advance(self, base: int, line: int, col: int, offset: int) -> tuple[int, int]:
        """The line and column at ``offset``, given those at ``base`` (``base <= offset``)."""
        d = self.data
        nl = d.count(b"\n", base, offset)
        if nl:
            line += nl
            start = d.rfind(b"\n", base, offset) + 1
            return line, 1 + len(d[start:offset].decode("utf-8", errors="replace"))
        return line, col + len(d[base:offset].decode("utf-8", errors="replace"))

    def span_from(self, a: int, line: int, col: int, b: int) -> Span:
        """The span of bytes ``a``..``b`` that start at ``line``:``col``."""
        lb, cb = self.advance(a, line, col, b) if b > a else (line, col + 1)
        return Span(self.path, line, col, lb, cb)

    def tag_end(self, offset: int) -> int:
        """Offset just past the '>' that closes the start tag beginning at ``offset``
        (a '>' inside a quoted attribute value does not close it)."""
        m = _TAG_END.match(self.data, offset)
        return m.end() if m else len(self.data)

    def attr_span(self, el: _Elem, name: str) -> Span:
        """The span of an attribute's value inside ``el``'s start tag (the tag if not found)."""
        pat = _ATTR.get(name)
        if pat is None:
            pat = _ATTR[name] = re.compile(rb"(?<![\w:.-])" + re.escape(name.encode()) + rb"\s*=\s*([\"'])(.*?)\1",
                                           re.S)
        m = pat.search(self.data, el.start, el.end)
        if m is None:
            return el.span
        la, ca = self.advance(el.start, el.line, el.col, m.start(2))
        return self.span_from(m.start(2), la, ca, max(m.end(2), m.start(2) + 1))


def _parse_xml(src: _Source) -> _Elem:
    p = expat.ParserCreate()
    p.buffer_text = True
    stack: list[_Elem] = []
    root: list[_Elem] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        # expat counts lines and columns (in characters) itself: O(1) per tag
        el = _Elem(tag, attrs, src, p.CurrentByteIndex, p.CurrentLineNumber, p.CurrentColumnNumber + 1)
        if stack:
            stack[-1].children.append(el)
        else:
            root.append(el)
        stack.append(el)

    def end(tag: str) -> None:
        stack.pop()

    def chars(text: str) -> None:
        if stack:
            stack[-1].text += text

    def entity(name, *_args) -> None:  # no DTD entities: no billion laughs, no external files
        line, col = p.CurrentLineNumber, p.CurrentColumnNumber + 1
        raise SpecSyntaxError(error("E001", f"entity declarations are not supported (entity '{name}')",
                                    Span(src.path, line, col, line, col + 1)))

    p.StartElementHandler = start
    p.EndElementHandler = end
    p.CharacterDataHandler = chars
    p.EntityDeclHandler = entity
    try:
        p.Parse(src.data, True)
    except expat.ExpatError as exc:
        line = exc.lineno or 1
        col = (exc.offset or 0) + 1
        msg = expat.ErrorString(exc.code) if exc.code else str(exc)
        raise SpecSyntaxError(error("E001", f"malformed XML: {msg}", Span(src.path, line, col, line, col + 1),
                                    help="the file must be well-formed XML (check the tags around this "
                                         "place)")) from None
    except RecursionError:
        raise SpecSyntaxError(error("E001", "the XML is nested too deeply", Span(src.path, 1, 1, 1, 2))) from None
    except (LookupError, ValueError) as exc:
        # expat asks Python's codecs for an encoding it does not know itself: an unknown name
        # (LookupError) or a multi-byte one expat cannot use (ValueError)
        raise SpecSyntaxError(_encoding_diag(src, exc)) from None
    return root[0]


_XML_DECL_ENCODING = re.compile(rb"""\A(?:\xef\xbb\xbf)?\s*<\?xml\b[^>]*?\bencoding\s*=\s*(["'])(.*?)\1""", re.DOTALL)


def _encoding_diag(src: _Source, exc: Exception) -> Diagnostic:
    m = _XML_DECL_ENCODING.match(src.data[:1024])
    if m is None:
        return error("E001", f"cannot decode the XML: {exc}", Span(src.path, 1, 1, 1, 2),
                     help="save the file as UTF-8")
    name = m.group(2).decode("ascii", errors="replace")
    col = len(src.data[:m.start(2)].decode("utf-8", errors="replace").split("\n")[-1]) + 1
    line = src.data.count(b"\n", 0, m.start(2)) + 1
    why = ("is not an encoding Python knows" if isinstance(exc, LookupError) else
           "is a multi-byte encoding expat cannot read")
    return error("E001", f"the XML declaration's encoding '{name}' {why}",
                 Span(src.path, line, col, line, col + max(len(name), 1)),
                 help='save the file as UTF-8 and write encoding="UTF-8" (or leave the encoding out)')


# ----------------------------------------------------------------- the reader


def read_sdf3(path: str) -> Graph:
    """Read an SDF3 XML file (SDF, or CSDF with constant phase rates) into a :class:`Graph`.

    Raises :class:`DiagnosticError` (codes E000-E009, E015) with a location on any problem.
    """
    apath = os.path.abspath(path)
    data = read_input(apath, None, "SDF3 file")
    src = _Source(apath, data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    register_source(apath, text)
    gc_was = gc.isenabled()
    gc.disable()  # reading builds many small objects and no cycles; collections would rescan them all
    try:
        root = _parse_xml(src)
        return _Reader(src).graph(root)
    finally:
        if gc_was:
            gc.enable()


class _Names:
    """Keeps a user's names as they are (the .vpr text writes one that is no plain identifier,
    or is a keyword, in backquotes); only a name that backquotes cannot hold (empty, or with a
    backquote or a control character) is rewritten, to a unique identifier."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def take(self, raw: str) -> str:
        if QUOTABLE.match(raw) and raw not in self.used:
            self.used.add(raw)
            return raw
        base = re.sub(r"[^A-Za-z0-9_]", "_", raw) or "_"
        if base[0].isdigit():
            base = "_" + base
        name, k = base, 2
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name


@dataclass
class _PortInfo:
    name: str  # sanitized
    direction: Direction
    rate: int
    el: _Elem


@dataclass
class _ActorInfo:
    name: str  # sanitized
    raw: str
    el: _Elem
    ports: dict[str, _PortInfo]  # raw port name -> info
    order: list[str]
    rejected: set[str] = field(default_factory=set)  # ports already reported; channels to them stay quiet


class _Reader:
    def __init__(self, src: _Source):
        self.src = src
        self.diags: list[Diagnostic] = []

    # -------------------------------------------------------------- helpers
    def _err(self, code: str, msg: str, span: Span, *notes: Note, help: str | None = None) -> None:
        self.diags.append(error(code, msg, span, *notes, help=help))

    def _attr(self, el: _Elem, name: str, what: str) -> str | None:
        v = el.attrs.get(name)
        if v is None:
            self._err("E001", f"<{el.tag}> has no '{name}' attribute ({what})", el.span,
                      help=f"write it as <{el.tag} {name}=\"...\" ...>")
        return v

    def _int(self, el: _Elem, name: str, code: str, what: str, minimum: int) -> int | None:
        raw = el.attrs.get(name)
        if raw is None:
            return None
        v = _number(raw)
        if v is None:
            self._err(code, f"{what} must be an integer, got '{_short(raw)}'", self.src.attr_span(el, name))
            return None
        if v > MAX_INT:
            self._err(code, f"{what} {_short(raw)} is too large; vrprune works with values up to 2**62",
                      self.src.attr_span(el, name))
            return None
        if v < minimum:
            self._err(code, f"{what} must be at least {minimum}, got {v}", self.src.attr_span(el, name))
            return None
        return v

    # ---------------------------------------------------------------- graph
    def graph(self, root: _Elem) -> Graph:
        if root.tag != "sdf3":
            raise SpecSyntaxError(error("E001", f"not an SDF3 file: the root element is <{root.tag}>, expected <sdf3>",
                                        root.span, help="vrprune reads SDF3 XML (<sdf3 type=\"sdf\">) and .vpr files"))
        gtype = root.attrs.get("type", "sdf")
        if gtype not in ("sdf", "csdf"):
            raise DiagnosticError(error("E015", f"SDF3 graphs of type '{gtype}' are not supported",
                                        self.src.attr_span(root, "type"),
                                        help="vrprune reads SDF3 graphs of type 'sdf', and 'csdf' whose phases all "
                                             "have equal rates"))
        csdf = gtype == "csdf"
        app = root.find("applicationGraph")
        if app is None:
            raise SpecSyntaxError(error("E001", "<sdf3> has no <applicationGraph>", root.span))
        body = app.find(gtype)
        if body is None:
            other = app.find("csdf" if not csdf else "sdf")
            if other is not None:
                raise SpecSyntaxError(error("E001", f"<sdf3 type=\"{gtype}\"> holds a <{other.tag}> graph", other.span,
                                            Note(self.src.attr_span(root, "type"), f"type is '{gtype}' here"),
                                            help=f"set type=\"{other.tag}\" on <sdf3>"))
            raise SpecSyntaxError(error("E001", f"<applicationGraph> has no <{gtype}> element", app.span))
        props = app.find(f"{gtype}Properties")

        raw_gname = (app.attrs.get("name") or body.attrs.get("name")
                     or os.path.splitext(os.path.basename(self.src.path))[0])
        gname = _Names().take(raw_gname)

        actors = self._actors(body, csdf)
        times, phase_times = self._actor_props(props, actors, csdf)
        tokens, caps = self._channel_props(props, body)
        fifos = self._channels(body, actors, tokens, caps)
        self._connectivity(actors, fifos)
        if self.diags:
            raise DiagnosticError(self.diags)

        # token type of every port = that of its channel
        port_tok: dict[tuple[str, str], TokenType] = {}
        for f, tok in fifos:
            port_tok[(f.src.actor, f.src.port)] = tok
            port_tok[(f.dst.actor, f.dst.port)] = tok
        out_actors: list[Actor] = []
        for info in actors.values():
            ports = []
            for raw in info.order:
                p = info.ports[raw]
                tok = port_tok[(info.name, p.name)]
                ports.append(Port(p.name, p.direction, PortKind.STATIC, tok, p.rate, p.rate, p.el.span))
            params: list[Param] = []
            if info.name != info.raw:
                params.append(Param("sdf3_name", info.raw, self.src.attr_span(info.el, "name")))
            if info.name in phase_times:
                pt, sp = phase_times[info.name]
                params.append(Param("sdf3_phase_times", pt, sp))
            out_actors.append(Actor(info.name, ActorKind.SPA, tuple(ports), None, tuple(params),
                                    times.get(info.name), None, info.el.span))
        return Graph(gname, tuple(out_actors), tuple(f for f, _ in fifos), (), (), app.span)

    # --------------------------------------------------------------- actors
    def _actors(self, body: _Elem, csdf: bool) -> dict[str, _ActorInfo]:
        names = _Names()
        actors: dict[str, _ActorInfo] = {}
        for el in body.findall("actor"):
            raw = self._attr(el, "name", "the actor's name")
            if raw is None:
                continue
            if raw in actors:
                self._err("E003", f"actor '{raw}' is defined twice", el.span,
                          Note(actors[raw].el.span, "first defined here"))
                continue
            info = _ActorInfo(names.take(raw), raw, el, {}, [])
            pnames = _Names()
            for pel in el.findall("port"):
                p = self._port(pel, info, pnames, csdf)
                if p is None:
                    info.rejected.add(pel.attrs.get("name", ""))
                    continue
                info.ports[pel.attrs["name"]] = p
                info.order.append(pel.attrs["name"])
            actors[raw] = info
        return actors

    def _port(self, pel: _Elem, actor: _ActorInfo, names: _Names, csdf: bool) -> _PortInfo | None:
        pname = self._attr(pel, "name", "the port's name")
        ptype = self._attr(pel, "type", "'in' or 'out'")
        prate = self._attr(pel, "rate", "tokens per firing")
        if pname is None or ptype is None or prate is None:
            return None
        if pname in actor.ports:
            self._err("E003", f"port '{pname}' of actor '{actor.raw}' is declared twice", pel.span,
                      Note(actor.ports[pname].el.span, "first declared here"))
            return None
        if ptype not in ("in", "out"):
            self._err("E001", f"port type must be 'in' or 'out', got '{ptype}'", self.src.attr_span(pel, "type"))
            return None
        parts = [s.strip() for s in prate.split(",")]
        rates: list[int] = []  # the distinct phase rates, in order (never expanded: "n*r" may be huge)
        phases = 0
        for s in parts:
            # SDF3 CSDF files may write a repeated phase as "n*r"
            m = re.fullmatch(r"(\d+)\s*\*\s*(\d+)", s)
            n, r = (_number(m.group(1)), _number(m.group(2))) if m else (1, _number(s))
            if n is None or r is None:
                rates = []
                break
            if r > MAX_INT:
                self._err("E008", f"rate {_short(s)} is too large; vrprune works with values up to 2**62",
                          self.src.attr_span(pel, "rate"))
                return None
            if n > 0:
                phases += n
                if r not in rates:
                    rates.append(r)
        if not rates:
            self._err("E008", f"rate must be an integer, got '{_short(prate)}'", self.src.attr_span(pel, "rate"))
            return None
        if phases > 1 and not csdf:
            self._err("E015", f"port '{actor.raw}.{pname}' has cyclo-static rates '{prate}' in an SDF graph",
                      self.src.attr_span(pel, "rate"),
                      help="declare the graph as <sdf3 type=\"csdf\"> or give one rate per port")
            return None
        if len(rates) > 1:
            self._err("E015", f"CSDF is not supported: port '{actor.raw}.{pname}' has phase rates '{prate}' that "
                              "differ",
                      self.src.attr_span(pel, "rate"), Note(actor.el.span, f"cyclo-static actor '{actor.raw}'"),
                      help="unfold the actor into one SDF actor per phase (chained through a self-loop with one "
                           "initial token), or, if an approximation will do, one SDF actor whose rates are the sums "
                           "over the phases (this changes deadlock and buffer behaviour, so vrprune does not do it)")
            return None
        if rates[0] < 1:
            self._err("E008", f"static rate must be at least 1, got {rates[0]}", self.src.attr_span(pel, "rate"),
                      help="SDF rates are positive; a port that never moves tokens should be removed")
            return None
        return _PortInfo(names.take(pname), Direction(ptype), rates[0], pel)

    def _actor_props(self, props: _Elem | None, actors: dict[str, _ActorInfo], csdf: bool):
        times: dict[str, float] = {}
        phase_times: dict[str, tuple[str, Span]] = {}
        if props is None:
            return times, phase_times
        for el in props.findall("actorProperties"):
            raw = self._attr(el, "actor", "the actor these properties belong to")
            if raw is None:
                continue
            info = actors.get(raw)
            if info is None:
                self._err("E002", f"actorProperties for unknown actor '{raw}'", self.src.attr_span(el, "actor"),
                          help=_suggest(raw, actors))
                continue
            procs = el.findall("processor")
            if not procs:
                continue
            proc = next((p for p in procs if p.attrs.get("default") == "true"), procs[0])
            et = proc.find("executionTime")
            if et is None or "time" not in et.attrs:
                continue
            raw_t = et.attrs["time"]
            tsp = self.src.attr_span(et, "time")
            try:
                vals = [float(s) for s in raw_t.split(",")]
            except ValueError:
                self._err("E001", f"executionTime must be a number of cycles, got '{raw_t}'", tsp)
                continue
            if any(v < 0 or not math.isfinite(v) or v * CYCLE_S > MAX_TIME_S for v in vals):
                self._err("E001", f"executionTime must be a number of cycles from 0 to {MAX_TIME_S / CYCLE_S:.0e}, "
                                  f"got '{raw_t}'", tsp)
                continue
            if len(vals) > 1:
                # constant-rate CSDF: each phase is one firing; keep the worst case and the list
                phase_times[info.name] = (raw_t, tsp)
            times[info.name] = max(vals) * CYCLE_S
        return times, phase_times

    # ------------------------------------------------------------- channels
    def _channel_props(self, props: _Elem | None, body: _Elem):
        tokens: dict[str, TokenType] = {}
        caps: dict[str, tuple[int, Span]] = {}
        if props is None:
            return tokens, caps
        known = {c.attrs.get("name") for c in body.findall("channel")}
        for el in props.findall("channelProperties"):
            raw = self._attr(el, "channel", "the channel these properties belong to")
            if raw is None:
                continue
            if raw not in known:
                self._err("E002", f"channelProperties for unknown channel '{raw}'", self.src.attr_span(el, "channel"),
                          help=_suggest(raw, {k: k for k in known if k}))
                continue
            ts = el.find("tokenSize")
            if ts is not None:
                bits = self._int(ts, "sz", "E001", "tokenSize sz (bits)", 1)
                if bits is not None and (bits + 7) // 8 > MAX_TOKEN_BYTES:
                    self._err("E001", f"tokenSize sz {bits} bits is larger than the {MAX_TOKEN_BYTES} bytes a vrprune "
                                      "token may have", self.src.attr_span(ts, "sz"))
                elif bits is not None:
                    tokens[raw] = TokenType(None, (), (bits + 7) // 8, ts.span)
                elif "sz" not in ts.attrs:
                    self._attr(ts, "sz", "the token size in bits")
            bs = el.find("bufferSize")
            if bs is not None and "sz" in bs.attrs:
                cap = self._int(bs, "sz", "E009", "bufferSize sz (capacity in tokens)", 1)
                if cap is not None:
                    caps[raw] = (cap, self.src.attr_span(bs, "sz"))
        return tokens, caps

    def _channels(self, body: _Elem, actors: dict[str, _ActorInfo], tokens: dict[str, TokenType],
                  caps: dict[str, tuple[int, Span]]) -> list[tuple[Fifo, TokenType]]:
        names = _Names()
        seen: dict[str, Span] = {}
        out: list[tuple[Fifo, TokenType]] = []
        for el in body.findall("channel"):
            vals = {k: self._attr(el, k, w) for k, w in (("name", "the channel's name"), ("srcActor", "the producer"),
                                                          ("srcPort", "the producer's output port"),
                                                          ("dstActor", "the consumer"),
                                                          ("dstPort", "the consumer's input port"))}
            if any(v is None for v in vals.values()):
                continue
            raw = vals["name"]
            if raw in seen:
                self._err("E003", f"channel '{raw}' is defined twice", el.span, Note(seen[raw], "first defined here"))
                continue
            seen[raw] = el.span
            src = self._end(el, actors, "srcActor", "srcPort", Direction.OUT)
            dst = self._end(el, actors, "dstActor", "dstPort", Direction.IN)
            init = 0
            if "initialTokens" in el.attrs:
                v = self._int(el, "initialTokens", "E009", "initialTokens", 0)
                if v is None:
                    continue
                init = v
            cap, cap_span = caps.get(raw, (None, None))
            if cap is not None and init > cap:
                self._err("E009", f"{init} initial tokens do not fit in bufferSize {cap}",
                          self.src.attr_span(el, "initialTokens"), Note(cap_span, f"bufferSize is {cap}"),
                          help="raise the bufferSize or lower initialTokens")
                continue
            if src is None or dst is None:
                continue
            tok = tokens.get(raw) or TokenType(None, (), DEFAULT_TOKEN_BYTES, el.span)
            out.append((Fifo(names.take(raw), src, dst, cap, init, el.span, cap_span), tok))
        return out

    def _end(self, el: _Elem, actors: dict[str, _ActorInfo], akey: str, pkey: str, want: Direction) -> PortRef | None:
        a_raw, p_raw = el.attrs[akey], el.attrs[pkey]
        info = actors.get(a_raw)
        if info is None:
            self._err("E002", f"channel '{el.attrs['name']}' names unknown actor '{a_raw}'",
                      self.src.attr_span(el, akey),
                      help=_suggest(a_raw, actors))
            return None
        p = info.ports.get(p_raw)
        if p is None and p_raw in info.rejected:
            return None
        if p is None:
            self._err("E002", f"actor '{a_raw}' has no port '{p_raw}'", self.src.attr_span(el, pkey),
                      Note(info.el.span, f"'{a_raw}' is declared here"), help=_suggest(p_raw, info.ports))
            return None
        if p.direction is not want:
            side = "source" if want is Direction.OUT else "destination"
            self._err("E006", f"port '{a_raw}.{p_raw}' is an {p.direction.value}put port but is the {side} of channel "
                              f"'{el.attrs['name']}'", self.src.attr_span(el, pkey),
                      Note(p.el.span, f"declared with type=\"{p.direction.value}\" here"),
                      help="channels go from an 'out' port (srcPort) to an 'in' port (dstPort)")
            return None
        return PortRef(info.name, p.name, self.src.attr_span(el, akey))

    def _connectivity(self, actors: dict[str, _ActorInfo], fifos: list[tuple[Fifo, TokenType]]) -> None:
        uses: dict[tuple[str, str], list[Fifo]] = {}
        for f, _ in fifos:
            uses.setdefault((f.src.actor, f.src.port), []).append(f)
            uses.setdefault((f.dst.actor, f.dst.port), []).append(f)
        if self.diags:  # a failed channel would make its ports look unconnected
            return
        for info in actors.values():
            for raw in info.order:
                p = info.ports[raw]
                used = uses.get((info.name, p.name), [])
                if not used:
                    self._err("E004", f"port '{info.raw}.{raw}' is not connected to any channel", p.el.span,
                              help="connect it with a <channel> or remove it")
                elif len(used) > 1:
                    self._err("E005", f"port '{info.raw}.{raw}' is connected {len(used)} times; channels are "
                                      "point-to-point",
                              used[1].span, *[Note(u.span, "connected here") for u in used])


def _number(text: str) -> int | None:
    """A decimal integer (sign and blanks allowed); None if it is none. Digits beyond what any
    bound needs are not converted (int() refuses over 4,300 digits)."""
    t = text.strip()
    body = t[1:] if t[:1] in "+-" else t
    if not body.isdigit() or not body.isascii():
        return None
    if len(body) > 40:
        return MAX_INT + 1 if t[0] != "-" else -(MAX_INT + 1)
    return int(t)


def _short(text: str) -> str:
    return text if len(text) <= 24 else text[:24] + "..."


def _suggest(name: str, options: dict) -> str | None:
    import difflib

    close = difflib.get_close_matches(name, [k for k in options if k], n=1)
    return f"did you mean '{close[0]}'?" if close else None


__all__ = ["read_sdf3", "DEFAULT_TOKEN_BYTES", "CYCLE_S"]
