"""Evaluation results as pandas frames, rendered as table, JSON, CSV or markdown."""

from __future__ import annotations

import pandas as pd

from .metrics import Evaluation

FORMATS = ("table", "json", "csv", "markdown")


def mean_frame(results: dict[str, Evaluation]) -> pd.DataFrame:
    """One row per run, one column per measure, plus the number of judged queries."""
    rows = {name: {**ev.mean, "queries": len(ev.per_query)} for name, ev in results.items()}
    return pd.DataFrame.from_dict(rows, orient="index").astype({"queries": int}).rename_axis("run")


def per_query_frame(results: dict[str, Evaluation]) -> pd.DataFrame:
    """One row per (run, qid), with each run's mean as qid ``all`` (trec_eval's convention)."""
    frames = []
    for name, ev in results.items():
        frame = pd.DataFrame.from_dict(ev.per_query, orient="index")[ev.measures]
        frame.loc["all"] = pd.Series(ev.mean)
        frame.index.name = "qid"
        frames.append(frame.assign(run=name).reset_index().set_index(["run", "qid"]))
    return pd.concat(frames)


def render(frame: pd.DataFrame, fmt: str, digits: int = 4) -> str:
    """Human formats round to ``digits``; machine formats (json, csv) keep full precision."""
    if fmt == "json":
        return frame.reset_index().to_json(orient="records", indent=2)
    if fmt == "csv":
        return frame.to_csv().rstrip("\n")
    if fmt == "markdown":
        return frame.round(digits).to_markdown(floatfmt=f".{digits}f")
    if fmt == "table":
        return frame.to_string(float_format=lambda v: f"{v:.{digits}f}")
    raise ValueError(f"unknown format {fmt!r}")
