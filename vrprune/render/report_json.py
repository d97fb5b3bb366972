"""The versioned JSON form of a verification report (schema vrprune/check/1, docs/check-json.md)."""

from __future__ import annotations

from ..verify import SCHEMA, Report


def report_json(rep: Report) -> dict:
    cert = rep.certificate
    return {
        "schema": SCHEMA,
        "graph": rep.graph.name,
        "file": rep.graph.span.file,
        "verdict": rep.verdict,
        "repetition_vector": rep.repetition,
        "properties": [{"name": p.name, "status": p.status, "detail": p.detail} for p in rep.properties],
        "diagnostics": [d.to_json() for d in rep.diagnostics],
        "counterexample": rep.counterexample.to_json() if rep.counterexample else None,
        "certificate": None if cert is None else {
            "method": cert.method,
            "schedules": {k: [{"actor": a, "firings": n, "atr": r} for a, n, r in v]
                          for k, v in cert.schedules.items()},
            "fill_bounds": {f: {"bound": b, "peak": p} for f, (b, p) in cert.bounds.items()},
            "core": list(cert.core),
        },
        "stats": rep.stats,
    }
