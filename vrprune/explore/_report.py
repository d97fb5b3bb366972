"""Renderers of a :class:`SweepResult`: text table, CSV, JSON. Pure functions."""

from __future__ import annotations

import csv
import io
from typing import Any

from .._words import plural
from ._sweep import Row, SweepResult

SCHEMA = "vrprune/explore/1"


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x * 1e3:.1f}"


def _label(r: Row, width: int = 30) -> str:
    s = r.point.label
    return s if len(s) <= width else s[: width - 1] + "…"


def runner_words(kind: str) -> str:
    return {"emulated": "EMULATED (one process; link delay inserted on cut edges; no sockets)",
            "distributed": "distributed (two processes, TX/RX over loopback TCP, link shaped by vrprune run --link)",
            "none": "not measured (--predict-only)"}.get(kind, kind)


def render_text(res: SweepResult) -> str:
    s = res.settings
    out = [f"graph {res.graph}: {res.total_points}{'' if res.exact_count else '+'} partition points, "
           f"{len(res.points) - 1} swept + fully local; links {', '.join(ln.name for ln in res.links)}",
           f"endpoint slowdown x{s.get('slowdown', 1):g}, {plural(s.get('endpoint_cores', 1), 'endpoint core')}, "
           f"{s.get('frames')} frames per run",
           f"measured: {runner_words(res.runner)}",
           f"predicted from: {res.times_source}",
           *([f"exit rate: {res.exit_rate:.2f} of the frames prune their DPGs ({res.exit_rate_source}); "
              f"results.json has each point predicted at exit rates 0, 0.25, 0.5, 0.75, 1"]
             if res.exit_rate_source else []),
           f"privacy floor: {res.floor}", ""]
    head = ["point", "endpoint keeps", "link", "cut B", "ms/frame", "pred", "err", "endpoint", "link ms",
            "server", "latency", ""]
    table = [head]
    for r in res.rows:
        m = r.measured
        ok = m if m is not None and m.status == "ok" else None  # the measured numbers, when there are any
        table.append([
            r.point.id, _label(r), r.link, str(r.point.cut_bytes),
            _ms(ok.per_frame_s) if ok else (m.status if m is not None else "-"),
            _ms(r.predicted.per_frame_s),
            f"{r.error * 100:+.0f}%" if r.error is not None else "-",
            _ms(ok.endpoint_s) if ok else _ms(r.predicted.endpoint_s) + "p",
            _ms(ok.link_s) if ok and ok.link_s is not None else _ms(r.predicted.link_s) + "p",
            _ms(ok.server_s) if ok else _ms(r.predicted.server_s) + "p",
            _ms(ok.latency_s) if ok else _ms(r.predicted.latency_s) + "p",
            "" if r.private else "below floor",
        ])
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    right = {3, 4, 5, 6, 7, 8, 9, 10}
    for row in table:
        out.append("  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i])
                             for i, c in enumerate(row)).rstrip())
    out.append("(ms per frame = wall time of the run / frames; 'p' = predicted, not measured; "
               "err = (predicted - measured) / measured)")
    out.append("")
    for link, best in res.recommendation.items():
        if best is None:
            out.append(f"recommended over {link}: none ({res.why_none.get(link, 'no point meets the privacy floor')})")
            continue
        what = "measured" if best.measured is not None else "predicted"
        local = next((x for x in res.rows if x.point.local), None)
        base = local.best_s() if local is not None else None
        vs = ""
        if base and not best.point.local and base < float("inf"):
            vs = f", {base / best.best_s():.2f}x fully local ({_ms(base)} ms)"
        out.append(f"recommended over {link}: {best.point.id} ({best.point.label}) {_ms(best.best_s())} ms/frame "
                   f"{what}{vs}")
    out += failure_lines(res)
    return "\n".join(out) + "\n"


def failure_lines(res: SweepResult) -> list[str]:
    """One line per failed run, naming its log (the message of the measurement says where)."""
    failed = res.failed_rows
    if not failed:
        return []
    lines = [f"{plural(len(failed), 'run')} FAILED (their numbers are not shown; run the same command again to retry "
             f"them):"]
    for r in failed:
        m = r.measured
        assert m is not None
        what = "fully local (the profiling run)" if r.point.local else f"{r.point.id} ({r.point.label}) over {r.link}"
        lines.append(f"  {what}: {m.status}: {m.message or 'no message'}")
    return lines


CSV_FIELDS = ["point", "label", "link", "private", "endpoint_actors", "cut_bytes", "runner", "status", "frames",
              "measured_ms_per_frame", "predicted_ms_per_frame", "error", "measured_latency_ms",
              "predicted_latency_ms", "measured_period_ms", "predicted_period_ms", "endpoint_ms", "link_ms",
              "server_ms", "predicted_endpoint_ms", "predicted_link_ms", "predicted_server_ms", "endpoint"]


def _msf(x: float | None) -> Any:
    return "" if x is None else round(x * 1e3, 4)


def render_csv(res: SweepResult) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for r in res.rows:
        m, p = r.measured, r.predicted
        ok = m if m is not None and m.status == "ok" else None  # the measured numbers, when there are any
        w.writerow({
            "point": r.point.id, "label": r.point.label, "link": r.link, "private": int(r.private),
            "endpoint_actors": len(r.point.endpoint), "cut_bytes": r.point.cut_bytes,
            "runner": m.runner if m else "", "status": m.status if m else "not measured",
            "frames": m.frames if m else "",
            "measured_ms_per_frame": _msf(ok.per_frame_s) if ok else "",
            "predicted_ms_per_frame": _msf(p.per_frame_s),
            "error": round(r.error, 4) if r.error is not None else "",
            "measured_latency_ms": _msf(ok.latency_s) if ok else "", "predicted_latency_ms": _msf(p.latency_s),
            "measured_period_ms": _msf(ok.period_s) if ok else "", "predicted_period_ms": _msf(p.period_s),
            "endpoint_ms": _msf(ok.endpoint_s) if ok else "", "link_ms": _msf(ok.link_s) if ok else "",
            "server_ms": _msf(ok.server_s) if ok else "",
            "predicted_endpoint_ms": _msf(p.endpoint_s), "predicted_link_ms": _msf(p.link_s),
            "predicted_server_ms": _msf(p.server_s), "endpoint": " ".join(r.point.endpoint)})
    return buf.getvalue()


def render_json(res: SweepResult) -> dict:
    return {
        "schema": SCHEMA, "graph": res.graph, "settings": res.settings, "runner": res.runner,
        "runner_description": runner_words(res.runner),
        "partition_points": {"total": res.total_points, "exact": res.exact_count, "swept": len(res.points)},
        "links": [ln.to_json() for ln in res.links], "privacy_floor": res.floor,
        "actor_times_s": res.times, "actor_times_source": res.times_source,
        "exit_rate": res.exit_rate, "exit_rate_source": res.exit_rate_source,
        "points": [p.to_json() for p in res.points],
        "rows": [{"point": r.point.id, "link": r.link, "private": r.private, "predicted": r.predicted.to_json(),
                  "measured": r.measured.to_json() if r.measured else None, "error": r.error,
                  **({"predicted_by_exit_rate": {f"{k:g}": v.to_json() for k, v in r.by_exit_rate.items()}}
                     if r.by_exit_rate else {})} for r in res.rows],
        "recommendation": {k: (None if r is None else
                               {"point": r.point.id, "label": r.point.label, "ms_per_frame": r.best_s() * 1e3,
                                "source": "measured" if r.measured is not None else "predicted"})
                           for k, r in res.recommendation.items()},
        "no_recommendation": dict(res.why_none),
        "failures": res.failures,
    }
