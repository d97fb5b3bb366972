"""Python actors: ``impl python "file.py:Name"`` or ``impl python "package.module:Name"``.

Convention
----------
``Name`` is a class, or a factory function returning an object. It is called once, with the
actor's ``param`` values as keyword arguments (``param seed = 7`` -> ``Name(seed=7)``).
The object has

* ``fire(self, ins, outs, atr)`` -- required. ``ins`` is a list with one read-only
  C-contiguous ``uint8`` array of shape ``(n_tokens, token_bytes)`` per data input port, in
  declaration order (control ports are handled by the runtime); ``outs`` the same for data
  output ports, writable: fill them in place (``outs[0][:] = ...``). ``n_tokens`` is the
  port's static rate, or ``atr`` for variable-rate ports. The arrays are views into the FIFO
  rings and the lists are reused: use them during the call only.
  ``atr`` is the active token rate of this firing for a DA/DPA, else None.
  A DPA whose data ports are all variable-rate is not called when atr is 0 (pruned).
  Return None; a configuration actor (CA) returns its chosen atr (an int in [lrl, url]);
  a source (no data inputs) may return ``vrprune.exec.END`` to end the stream.
* ``init(self)`` and ``finish(self)`` -- optional; called on the actor's thread before
  the first and after the last firing (``finish`` also after an error).

``vrprune.exec.view(arr, "f32[6]")`` reinterprets a token array as the port's dtype and
shape, ``(n_tokens, *shape)``, without copying.

A file path is imported as a private module (its folder is not put on ``sys.path``);
the same file used by several actors is imported once.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
from types import ModuleType
from typing import Any

import numpy as np

from ..model import Actor, PythonImpl, Unit
from ._backend import ActorBackend, BackendError

_modules: dict[str, ModuleType] = {}
_modules_lock = threading.Lock()


def _load_module(impl: PythonImpl, actor: Actor) -> ModuleType:
    where = f"{impl.span}: " if impl.span.line else ""
    spec_name = impl.module
    with _modules_lock:
        mod = _modules.get(spec_name)
        if mod is not None:
            return mod
        try:
            if spec_name.endswith(".py"):
                name = "vrprune_actor_" + "".join(c if c.isalnum() else "_" for c in os.path.abspath(spec_name))
                spec = importlib.util.spec_from_file_location(name, spec_name)
                if spec is None or spec.loader is None:
                    raise BackendError(f"{where}actor '{actor.name}': cannot import {spec_name}")
                mod = importlib.util.module_from_spec(spec)
                sys.modules[name] = mod  # so dataclasses/pickle inside the actor file work
                try:
                    spec.loader.exec_module(mod)
                except BaseException:
                    sys.modules.pop(name, None)
                    raise
            else:
                mod = importlib.import_module(spec_name)
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(f"{where}actor '{actor.name}': importing {spec_name} failed: "
                               f"{type(exc).__name__}: {exc}") from exc
        _modules[spec_name] = mod
        return mod


class PythonBackend(ActorBackend):
    """Runs a Python object that follows the convention in this module's docstring."""

    def __init__(self, actor: Actor, unit: Unit | None) -> None:
        super().__init__(actor, unit)
        impl = actor.impl
        assert isinstance(impl, PythonImpl)
        where = f"{impl.span}: " if impl.span.line else ""
        mod = _load_module(impl, actor)
        factory = getattr(mod, impl.callable, None)
        if factory is None or not callable(factory):
            raise BackendError(f"{where}actor '{actor.name}': {impl.module} has no callable '{impl.callable}'")
        kwargs: dict[str, Any] = {p.name: p.value for p in actor.params}
        try:
            obj = factory(**kwargs)
        except Exception as exc:
            raise BackendError(f"{where}actor '{actor.name}': {impl.callable}(**{kwargs!r}) failed: "
                               f"{type(exc).__name__}: {exc}") from exc
        fire = getattr(obj, "fire", None)
        if fire is None or not callable(fire):
            raise BackendError(f"{where}actor '{actor.name}': {impl.callable}(...) returned {type(obj).__name__}, "
                               f"which has no fire(ins, outs, atr) method")
        self.obj = obj
        # The runtime calls `fire` directly: one bound-method call per firing, no wrapper.
        self.fire = fire  # type: ignore[method-assign]
        self._init = getattr(obj, "init", None)
        self._finish = getattr(obj, "finish", None)

    def init(self) -> None:
        if self._init is not None:
            self._init()

    def finish(self) -> None:
        if self._finish is not None:
            self._finish()


def view(arr: np.ndarray, port: Any) -> np.ndarray:
    """Reinterpret a ``(n, token_bytes)`` uint8 token array as the port's type: shape
    ``(n, *shape)`` with the port's dtype, no copy. ``port`` is an IR ``Port`` or
    ``TokenType``, or a type string as in .vpr (``"f32[6]"``, ``"i32"``, ``"bytes(16)"``)."""
    from ..model import Port, TokenType

    if isinstance(port, Port):
        tok = port.token
    elif isinstance(port, TokenType):
        tok = port
    elif isinstance(port, str):
        tok = _parse_type(port)
    else:
        raise TypeError(f"view(): expected a Port, TokenType or type string, got {type(port).__name__}")
    if tok.dtype is None:
        return arr
    if arr.ndim != 2 or arr.shape[1] != tok.nbytes:
        raise ValueError(f"view(): array of shape {arr.shape} does not hold {tok} tokens ({tok.nbytes} bytes each)")
    return arr.view(_NP_DTYPE[tok.dtype]).reshape((arr.shape[0], *tok.shape))


_NP_DTYPE = {"u8": np.uint8, "i8": np.int8, "u16": np.uint16, "i16": np.int16, "f16": np.float16,
             "u32": np.uint32, "i32": np.int32, "f32": np.float32, "u64": np.uint64, "i64": np.int64,
             "f64": np.float64}

_type_cache: dict[str, Any] = {}


def _parse_type(text: str):
    from ..model import DTYPE_BYTES, TokenType

    tok = _type_cache.get(text)
    if tok is not None:
        return tok
    s = text.replace(" ", "")
    if s.startswith("bytes(") and s.endswith(")"):
        tok = TokenType(None, (), int(s[6:-1]))
    else:
        name, _, rest = s.partition("[")
        if name not in DTYPE_BYTES:
            raise ValueError(f"view(): unknown token type {text!r}")
        shape = tuple(int(d) for d in rest.rstrip("]").split(",")) if rest else ()
        n = DTYPE_BYTES[name]
        for d in shape:
            n *= d
        tok = TokenType(name, shape, n)
    _type_cache[text] = tok
    return tok
