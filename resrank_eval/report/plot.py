"""The effectiveness/efficiency trade-off: nDCG@10 against median latency per query (log scale)."""

from __future__ import annotations

from pathlib import Path

from .build import Report


def plot_tradeoff(report: Report, paths: list[Path], measure: str = "nDCG@10") -> list[Path]:
    """One point per run that has efficiency stats, labelled by system (and dataset when several); returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [r for r in report.results if r.efficiency and r.efficiency.get("queries") and measure in r.mean]
    several = len({r.dataset for r in points}) > 1
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for dataset in dict.fromkeys(r.dataset for r in points):
        group = [r for r in points if r.dataset == dataset]
        ax.scatter([r.efficiency["latency_ms_p50"] for r in group], [r.mean[measure] for r in group], label=dataset if several else None)
        for r in group:
            ax.annotate(r.label, (r.efficiency["latency_ms_p50"], r.mean[measure]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("latency per query, p50 (ms, log scale)")
    ax.set_ylabel(measure)
    ax.grid(True, which="both", alpha=0.3)
    if several:
        ax.legend(fontsize=8)
    if not points:
        ax.text(0.5, 0.5, "no run has efficiency stats", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    plt.close(fig)
    return paths
