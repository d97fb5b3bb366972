"""The throughput/buffer Pareto front of `vrprune bufsize --pareto --plot OUT.png`.

A pure function of the throughput part of a bufsize result (the dict that
``commands/bufsize.py`` builds and ``--format json`` prints under "throughput"): the front as a
staircase (every capacity total between two points keeps the throughput of the cheaper one),
its points, the maximal throughput as a dashed line and the printed capacities as a star.
matplotlib (Agg back-end) is imported only here, when a plot is asked for.
"""

from __future__ import annotations


def write_png(throughput: dict, path: str, *, title: str = "") -> None:
    """Draw ``throughput["pareto"]`` into ``path`` (PNG)."""
    from .._extras import require

    matplotlib = require("matplotlib", "plot", "bufsize --plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = throughput["pareto"]
    unit = pts[0].get("objective", "bytes")
    xs = [p["cost"] for p in pts]
    ys = [p["iterations_per_s"] for p in pts]
    top = throughput.get("max_iterations_per_s")
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    try:
        right = xs[-1] + max(1, (xs[-1] - xs[0]) * 0.08)
        ax.step(xs + [right], ys + [ys[-1]], where="post", color="tab:blue", linewidth=1.4)
        ax.plot(xs, ys, "o", color="tab:blue", markersize=4, label=f"Pareto points ({len(pts)})")
        if top is not None and top != float("inf"):
            ax.axhline(top, color="grey", linestyle="--", linewidth=1,
                       label=f"unbounded fifos: {top:,.6g} it/s")
        ch = throughput.get("chosen")
        if ch is not None:
            ax.plot([ch["cost"]], [ch["iterations_per_s"]], "*", color="tab:red", markersize=14,
                    label=f"printed capacities: {ch['cost']:,} {unit}, {ch['iterations_per_s']:,.6g} it/s")
        ax.set_xlabel(f"total buffer size ({unit})")
        ax.set_ylabel("throughput (iterations/s)")
        ax.set_ylim(bottom=0)
        done = "" if throughput.get("complete", True) else " (incomplete)"
        worst = ", variable rates at url" if str(throughput.get("basis", "")).startswith("atr") else ""
        ax.set_title(f"{title}{': ' if title else ''}throughput/buffer Pareto front{done}{worst}", fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
