"""The .vpr language: Lark grammar, loader into the IR, and the canonical printer."""

from ._loader import LINK_PRESETS, Loader
from ._parser import parse_text

__all__ = ["LINK_PRESETS", "Loader", "parse_text"]
