"""The sweep as a bar chart in the style of the Edge-PRUNE paper's Fig. 4.

Per partition point one bar per link (measured; predicted when not measured, hatched),
a black tick for the prediction on each measured bar, a dashed line for fully local
inference, and the points below the privacy floor shaded grey. The recommendation per
link is starred. A graph with DPGs (early exits) also gets, per bar, the predictions at exit
rates 0 and 1 (triangles): the bar and its tick are at the exit rate the sweep used.
"""

from __future__ import annotations

from .._words import plural
from ._report import runner_words
from ._sweep import SweepResult


def nothing_to_plot(res: SweepResult) -> str | None:
    """Why the sweep has no bar worth drawing (every run failed and the prediction has no
    compute times), or None when it has."""
    if any(r.measured is not None and r.measured.status == "ok" for r in res.rows):
        return None
    if res.has_times and any(r.measured is None for r in res.rows):
        return None
    return ("every run failed" if res.failed_rows else "nothing was measured") + \
        " and the prediction has no actor compute times"


def write_png(res: SweepResult, path: str, *, max_bars: int = 60) -> None:
    from .._extras import require

    matplotlib = require("matplotlib", "plot", "the sweep's plot (explore.png; --no-plot skips it)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    links = [ln.name for ln in res.links]
    pts = [p for p in res.points if not p.local]
    rows = {(r.point.id, r.link): r for r in res.rows}
    if len(pts) * max(len(links), 1) > max_bars:  # keep the best-looking points readable
        keep = sorted(pts, key=lambda p: min(rows[(p.id, ln)].best_s() for ln in links))
        keep = keep[: max(1, max_bars // max(len(links), 1))]
        ids = {p.id for p in keep}
        pts = [p for p in pts if p.id in ids]
    n = len(pts)
    width = 0.8 / max(len(links), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * n * max(len(links), 1) * 0.45 + 2), 4.2), dpi=110)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    any_fail_label = False
    for j, link in enumerate(links):
        xs, ys, hatch_xs, hatch_ys, pred_xs, pred_ys, fail_xs = [], [], [], [], [], [], []
        for i, p in enumerate(pts):
            r = rows[(p.id, link)]
            x = i + (j - (len(links) - 1) / 2) * width
            if r.measured is not None and r.measured.status == "ok":
                xs.append(x)
                ys.append(r.measured.per_frame_s * 1e3)
                pred_xs.append(x)
                pred_ys.append(r.predicted.per_frame_s * 1e3)
            elif r.measured is not None:  # a failed run: no bar, a red cross on the axis
                fail_xs.append(x)
            elif res.has_times:
                hatch_xs.append(x)
                hatch_ys.append(r.predicted.per_frame_s * 1e3)
        c = colors[j % len(colors)]
        ax.bar(xs, ys, width, color=c, label=f"{link}")
        if hatch_xs:
            ax.bar(hatch_xs, hatch_ys, width, color="none", edgecolor=c, hatch="//",
                   label=f"{link} (predicted only)")
        if fail_xs:
            ax.scatter(fail_xs, [0.0] * len(fail_xs), marker="x", s=60, color="red", zorder=4, clip_on=False,
                       label="run failed" if not any_fail_label else None)
            any_fail_label = True
        if pred_xs:
            ax.scatter(pred_xs, pred_ys, marker="_", s=120, color="black", zorder=3,
                       label="predicted" if j == 0 else None)
        for rate, mark in ((0.0, "v"), (1.0, "^")):  # early exits: the predictions at the extremes
            ex = [(i + (j - (len(links) - 1) / 2) * width, rows[(p.id, link)].by_exit_rate[rate].per_frame_s * 1e3)
                  for i, p in enumerate(pts) if rate in rows[(p.id, link)].by_exit_rate]
            if ex:
                ax.scatter([x for x, _ in ex], [y for _, y in ex], marker=mark, s=18, color="0.3", zorder=3,
                           label=f"predicted at exit rate {rate:g}" if j == 0 else None)
        best = res.recommendation.get(link)
        if best is not None and not best.point.local and best.point.id in {p.id for p in pts}:
            i = [p.id for p in pts].index(best.point.id)
            ax.annotate("*", (i + (j - (len(links) - 1) / 2) * width, best.best_s() * 1e3),
                        ha="center", va="bottom", fontsize=14, color=c)
    local = next((r for r in res.rows if r.point.local), None)
    if local is not None and local.best_s() < float("inf"):
        y = local.best_s() * 1e3
        ax.axhline(y, ls="--", color="black", lw=1)
        ax.text(n - 0.5, y, f" fully local {y:.1f} ms", va="bottom", ha="right", fontsize=8)
    for i, p in enumerate(pts):
        if not rows[(p.id, links[0])].private if links else False:
            ax.axvspan(i - 0.5, i + 0.5, color="0.85", zorder=0, lw=0)
    if any(not rows[(p.id, links[0])].private for p in pts) if links else False:
        ax.axvspan(0, 0, color="0.85", label=f"below privacy floor ({res.floor})")
    ax.set_xticks(range(n))
    ax.set_xticklabels([f"{p.id}\n{_short(p.label)}" for p in pts], fontsize=7, rotation=0 if n <= 8 else 60,
                       ha="center" if n <= 8 else "right")
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylabel("ms per frame")
    s = res.settings
    failed = f"; {plural(len(res.failed_rows), 'run')} FAILED" if res.failed_rows else ""
    exits = f"; exit rate {res.exit_rate:.2f} ({res.exit_rate_source})" if res.exit_rate_source else ""
    ax.set_title(f"{res.graph}: partition points, endpoint slowdown x{s.get('slowdown', 1):g} "
                 f"({s.get('frames')} frames{failed}{exits})\nmeasured: {runner_words(res.runner)}", fontsize=8,
                 color="red" if failed else "black")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16 if n <= 8 else -0.35),
              ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def _short(label: str, n: int = 18) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"
