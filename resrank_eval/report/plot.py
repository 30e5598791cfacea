"""The effectiveness/efficiency trade-off: a measure against latency per query, one panel per dataset.

Drawn for print: log-scale latency with labelled decades only (1 ms, 10 ms, ..., 1 min), one marker
shape per system family (ResRank, encoder, RankGPT-style, FIRST-style, other), one colour per system
kept across panels, and a legend instead of labels next to points (labels collide). Where a system's
end-to-end latency (encoding included) differs from its reranker-only latency, both are drawn -- a
filled marker end to end, a hollow one for the reranker alone, joined by a thin line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .build import Report

FAMILIES = {"resrank": ("o", "ResRank"), "encoder": ("s", "encoder (cosine)"), "rankgpt": ("^", "RankGPT-style"),
            "first": ("D", "FIRST-style"), "identity": ("x", "identity")}
OTHER = ("P", "other")
SECOND, MINUTE = 1_000.0, 60_000.0
MAX_TICKS = 4


def plot_tradeoff(report: Report, paths: list[Path]) -> list[Path]:
    """The report's ``measure`` against latency, one panel per dataset whose runs have efficiency stats, systems named
    by its ``labels``; returns the files written (format from each suffix)."""
    import matplotlib

    measure = report.measure
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [r for r in report.results if r.efficiency is not None and measure in r.mean]
    datasets = list(dict.fromkeys(r.dataset for r in points)) or [None]
    systems = list(dict.fromkeys(r.label for r in points))
    colours = {s: plt.get_cmap("tab10")(i % 10) for i, s in enumerate(systems)}
    with plt.rc_context({"font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "legend.fontsize": 7.5}):
        fig, axes = plt.subplots(1, len(datasets), figsize=(3.4 * len(datasets), 3.0), squeeze=False, sharey=False)
        for ax, dataset in zip(axes[0], datasets):
            group = [r for r in points if r.dataset == dataset]
            for r in group:
                _draw(ax, r, measure, colours[r.label])
            _axes(ax, group, measure, dataset)
        handles = _legend_handles(plt, points, colours, report.labels)
        if handles:
            columns = 2 if len(datasets) > 1 else 1
            rows = -(-len(handles) // columns)
            legend_height = 0.3 + 0.17 * rows  # inches
            fig.set_figheight(3.0 + legend_height)
            fig.legend(handles=handles, loc="lower center", ncol=columns, frameon=False, bbox_to_anchor=(0.5, 0.0))
            fig.tight_layout(rect=(0, legend_height / fig.get_figheight(), 1, 1))
        else:
            fig.tight_layout()
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=200)
        plt.close(fig)
    return paths


def family(result: Any) -> tuple[str, str]:
    """(marker, family name) from the reranker that made the run."""
    return FAMILIES.get(result.efficiency.reranker, OTHER)


def _draw(ax: Any, result: Any, measure: str, colour: Any) -> None:
    e, y = result.efficiency, result.mean[measure]
    marker = family(result)[0]
    end_to_end, alone = e.latency_ms_p50, e.rerank_ms_p50
    if _split(result):
        ax.plot([alone, end_to_end], [y, y], color=colour, lw=0.8, alpha=0.6, zorder=1)
        ax.scatter([alone], [y], marker=marker, s=36, facecolors="white" if marker != "x" else colour, edgecolors=colour, zorder=2)
    ax.scatter([end_to_end], [y], marker=marker, s=40, color=colour, zorder=3)


def _split(result: Any) -> bool:
    """End-to-end and reranker-only latency differ by more than 5 %: both are drawn."""
    end_to_end, alone = result.efficiency.latency_ms_p50, result.efficiency.rerank_ms_p50
    return bool(alone) and end_to_end > 0 and abs(end_to_end - alone) / end_to_end > 0.05


def _axes(ax: Any, group: list[Any], measure: str, dataset: str | None) -> None:
    import math

    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

    from .tables import SHORT_NAMES

    ax.set_xscale("log")
    values = [v for r in group for v in (r.efficiency.latency_ms_p50, r.efficiency.rerank_ms_p50) if v and v > 0]
    if values:
        first, last = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
        ax.set_xlim(10.0 ** first / 1.5, 10.0 ** last * 1.5)
        step = max(1, math.ceil((last - first) / MAX_TICKS))  # at most MAX_TICKS labelled decades: no colliding labels
        ax.xaxis.set_major_locator(FixedLocator([10.0 ** k for k in range(first, last + 1, step)]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: duration(v)))
    ax.xaxis.set_minor_locator(LogLocator(subs=tuple(range(2, 10))))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("latency per query, median (log scale)")
    ax.set_ylabel(measure)
    ax.set_title(SHORT_NAMES.get(dataset, dataset) if dataset else "no run has efficiency stats")
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)
    ax.margins(y=0.15)


def duration(ms: float) -> str:
    """A tick label: 0.1 ms, 1 ms, ..., 1 s, 10 s, 100 s (whole minutes as minutes: 10 min)."""
    if ms >= MINUTE and (ms / MINUTE).is_integer():
        return f"{ms / MINUTE:g} min"
    if ms >= SECOND:
        return f"{ms / SECOND:g} s"
    return f"{ms:g} ms"


def _legend_handles(plt: Any, points: list[Any], colours: dict[str, Any], labels: dict[str, str]) -> list[Any]:
    from matplotlib.lines import Line2D

    handles, seen = [], set()
    for r in points:
        if r.label in seen:
            continue
        seen.add(r.label)
        handles.append(Line2D([], [], ls="", marker=family(r)[0], color=colours[r.label], label=labels.get(r.label, r.label)))
    if any(_split(r) for r in points):
        handles.append(Line2D([], [], ls="", marker="o", markerfacecolor="white", markeredgecolor="grey", color="grey",
                              label="hollow: reranker alone"))
    return handles
