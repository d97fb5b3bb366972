"""SARIF 2.1.0 for a verification report; counterexamples become codeFlows."""

from __future__ import annotations

import os

from ..diagnostics import Diagnostic
from ..model import Span
from ..verify import Report

RULES = {
    "R1": "DPG composition", "R2": "dynamics stay inside", "R3": "control", "R4": "boundary",
    "R5": "symmetric rates", "R6": "homogeneity", "R7": "structure", "R8": "pruning",
    "C1": "consistency", "D1": "deadlock", "D2": "overflow", "D3": "missing capacity",
    "U1": "unproved (solver limit)", "U2": "internal disagreement",
}


def _loc(span: Span, message: str | None = None) -> dict:
    loc: dict = {"physicalLocation": {"artifactLocation": {"uri": _uri(span.file)},
                                      "region": {"startLine": max(span.line, 1), "startColumn": max(span.col, 1),
                                                 "endLine": max(span.end_line, 1), "endColumn": max(span.end_col, 1)}}}
    if message:
        loc["message"] = {"text": message}
    return loc


def _uri(path: str) -> str:
    try:
        rel = os.path.relpath(path)
        if not rel.startswith(".."):
            return rel.replace(os.sep, "/")
    except ValueError:
        pass
    return "file://" + path


def _result(d: Diagnostic, rep: Report) -> dict:
    r: dict = {
        "ruleId": d.code,
        "level": "error" if d.severity == "error" else "warning",
        "message": {"text": d.message + (f" (help: {d.help})" if d.help else "")},
        "locations": [_loc(d.span)],
        "relatedLocations": [dict(_loc(n.span, n.message), id=i) for i, n in enumerate(d.notes)],
    }
    cx = rep.counterexample
    if cx is not None and d.code in ("D1", "D2"):
        ix = rep.graph.index()
        steps = []
        for a, k, atr in cx.trace[:500]:
            actor = ix.actors[a]
            text = f"{a} fires{'' if k == 1 else f' {k} times'}{'' if atr is None else f' with atr={atr}'}"
            steps.append({"location": _loc(actor.span, text)})
        for w in cx.cycle or cx.wait:
            text = f"stuck: {w.text(cx.capacities[w.fifo])}"
            steps.append({"location": _loc(ix.fifos[w.fifo].span, text)})
        r["codeFlows"] = [{"message": {"text": f"{cx.kind} with atr choices {cx.atr}"},
                           "threadFlows": [{"locations": steps}]}]
    return r


def report_sarif(rep: Report | None, diagnostics: list[Diagnostic] | None = None) -> dict:
    diags = list(rep.diagnostics) if rep is not None else list(diagnostics or [])
    used = sorted({d.code for d in diags} | set(RULES))
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "vrprune", "informationUri": "https://example.invalid/vrprune",
                                "rules": [{"id": c, "shortDescription": {"text": RULES.get(c, "input error")}}
                                          for c in used]}},
            "results": [_result(d, rep) if rep is not None else _result_plain(d) for d in diags],
        }],
    }


def _result_plain(d: Diagnostic) -> dict:
    return {"ruleId": d.code, "level": "error", "message": {"text": d.message}, "locations": [_loc(d.span)],
            "relatedLocations": [dict(_loc(n.span, n.message), id=i) for i, n in enumerate(d.notes)]}
