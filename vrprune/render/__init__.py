"""Renderers: pure functions from results to text, JSON, SARIF and DOT."""

from .bufsize_text import bufsize_json, bufsize_text
from .report_json import report_json
from .report_sarif import report_sarif
from .report_text import report_text

__all__ = ["bufsize_json", "bufsize_text", "report_json", "report_sarif", "report_text"]
