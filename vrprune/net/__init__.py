"""Distributed execution (Edge-PRUNE): mappings split a graph across hosts; every crossing edge
becomes a TX/RX pair of socket actors (docs/distributed.md).

    from vrprune.net import split, fingerprint
    sp = split(graph, mapping)     # sp.proof (checked), sp.local (run here), sp.edges

Names are imported on first use (the runner pulls in sockets, numpy and the executor), so that
``vrprune check`` and ``vrprune --help`` start without them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._auth import read_psk, write_private, write_psk
    from ._options import SOCKET_BUFFER, NetOptions
    from ._runner import EdgeStats, HostResult, prepare, run_distributed
    from ._split import CrossEdge, MappingError, Split, split
    from ._wire import DistError, PeerClosed, Refused, fingerprint

_WHERE = {"read_psk": "_auth", "write_private": "_auth", "write_psk": "_auth",
          "SOCKET_BUFFER": "_options", "NetOptions": "_options",
          "prepare": "_runner", "run_distributed": "_runner", "HostResult": "_runner", "EdgeStats": "_runner",
          "CrossEdge": "_split", "MappingError": "_split", "Split": "_split", "split": "_split", "DistError": "_wire",
          "PeerClosed": "_wire", "Refused": "_wire", "fingerprint": "_wire"}

__all__ = ["SOCKET_BUFFER", "CrossEdge", "DistError", "EdgeStats", "HostResult", "MappingError", "NetOptions",
           "PeerClosed", "Refused", "Split", "fingerprint", "prepare", "read_psk", "run_distributed", "split",
           "write_private", "write_psk"]


def __getattr__(name: str) -> Any:
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value
