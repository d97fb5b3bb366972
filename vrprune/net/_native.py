"""TX and RX firings in C (``runtime/txrx.c``) for plain TCP sockets.

A TX or RX back-end that offers ``_fire``, ``_state`` and ``_error_text`` runs its whole firing
loop in the runtime's C core with the GIL released (see :mod:`vrprune.exec._native`); the
Python firings of :mod:`._txrx` remain for TLS connections and link-shaped TX, and wherever no
C compiler is available or ``VRPRUNE_NATIVE=0``.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any

import cffi

from ..exec import header_cdef

RUNTIME = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runtime")
SOURCE = os.path.join(RUNTIME, "txrx.c")
HEADER = os.path.join(RUNTIME, "vrp_txrx.h")


_DECLS = header_cdef(HEADER)
ffi = cffi.FFI()
ffi.cdef(_DECLS)
ffi.cdef("""
int vrp_txrx_tx_fire(void *, void *, int, void *, int, int32_t *);
int vrp_txrx_rx_fire(void *, void *, int, void *, int, int32_t *);
int vrp_txrx_max_batch(void);
""")  # the entry points, with vrp_buf as void * (cffi needs no struct of vrprune.h for them)

# _split.STATIC, VARIABLE, CONTROL as the header numbers them
KINDS = {k: int(re.search(rf"\bVRP_LINK_{k.upper()} = (\d+)", _DECLS).group(1))  # type: ignore[union-attr]
         for k in ("static", "variable", "control")}
_lib: Any = None
_lock = threading.Lock()


def load() -> Any | None:
    """The compiled TX/RX firings, or None when native execution is off or cannot be built."""
    global _lib
    if os.environ.get("VRPRUNE_NATIVE", "1") == "0":
        return None
    with _lock:
        if _lib is None:
            from ..exec import build_shared, load_native

            try:
                load_native()  # the firing loop these functions run in
                _lib = ffi.dlopen(build_shared(SOURCE))
            except Exception as exc:  # no compiler: the Python firings do the same work, slower
                import warnings

                warnings.warn(f"vrprune: TX/RX run their Python firings ({type(exc).__name__}: {exc}); "
                              f"set VRPRUNE_CC to a working C compiler for the faster C firings", RuntimeWarning,
                              stacklevel=2)
                _lib = False
        return _lib or None


class NativeLink:
    """The C state of one TX or RX end; see ``vrp_link`` in runtime/txrx.c."""

    def __init__(self, lib: Any, tx: bool, fd: int, kind: str, rate: int, token_bytes: int,
                 lrl: int, url: int, peer_host: str) -> None:
        s = self.s = ffi.new("vrp_link *")
        s.fd, s.kind, s.rate, s.tb, s.lrl, s.url = fd, KINDS.get(kind, 0), rate, token_bytes, lrl, url
        name = peer_host.encode()[:127]
        ffi.memmove(s.peer_host, name, len(name))
        fn = lib.vrp_txrx_tx_fire if tx else lib.vrp_txrx_rx_fire
        self.fire_addr = int(ffi.cast("uintptr_t", fn))
        # frames per fire call: the loop's greedy windows on static-rate and control edges
        self.greedy = 0 if kind == "variable" else int(lib.vrp_txrx_max_batch())
        self.state_addr = int(ffi.cast("uintptr_t", s))

    def bind(self, actor: int, flush: int) -> None:
        """Let the C firing flush the native loop's wake-ups itself, before a socket wait."""
        self.s.flush = ffi.cast("void (*)(void *)", flush)
        self.s.actor = ffi.cast("void *", actor)

    def counters(self) -> tuple[int, int, int, float, float, int, bool]:
        """(seq, frames, bytes, t_first, t_last, b_first, got_end): see vrp_link."""
        s = self.s
        return (int(s.seq), int(s.frames), int(s.bytes), float(s.t_first), float(s.t_last), int(s.b_first),
                bool(s.got_end))

    @property
    def failed(self) -> bool:
        """An RX's bad frame behind good ones in a greedy window, not yet reported (see txrx.c)."""
        return bool(self.s.failed)

    def take_failure(self) -> str | None:
        """The error of such a frame, once: the caller reports it."""
        if not self.s.failed:
            return None
        self.s.failed = 0
        return self.err

    @property
    def calls(self) -> int:
        """Fire calls so far (a greedy window's call moves several frames)."""
        return int(self.s.calls)

    @property
    def err(self) -> str:
        return ffi.string(self.s.err).decode(errors="replace")
