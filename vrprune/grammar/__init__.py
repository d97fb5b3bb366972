"""The .vpr language: Lark grammar, loader into the IR, and the canonical printer."""

from ._loader import Loader
from ._parser import parse_text
from ._printer import format_graph, format_source
from ._sdf3 import read_sdf3

__all__ = ["Loader", "format_graph", "format_source", "parse_text", "read_sdf3"]
