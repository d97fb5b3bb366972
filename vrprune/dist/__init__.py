"""Distributed execution (Edge-PRUNE): mappings split a graph across hosts; every crossing edge
becomes a TX/RX pair of socket actors (docs/distributed.md).

    from vrprune.dist import split, fingerprint
    sp = split(graph, mapping)     # sp.proof (checked), sp.local (run here), sp.edges
"""

from ._auth import read_psk, write_psk
from ._link import LinkSpec, parse_link
from ._runner import add_arguments, run_distributed
from ._split import CrossEdge, MappingError, Split, split
from ._wire import DistError, PeerClosed, Refused, fingerprint

__all__ = ["CrossEdge", "DistError", "LinkSpec", "MappingError", "PeerClosed", "Refused", "Split",
           "add_arguments", "fingerprint", "parse_link", "read_psk", "run_distributed", "split", "write_psk"]
