"""Renderers: pure functions from results to text, JSON, SARIF and DOT."""

from .report_json import report_json
from .report_sarif import report_sarif
from .report_text import report_text

__all__ = ["report_json", "report_sarif", "report_text"]
