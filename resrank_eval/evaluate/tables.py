"""Evaluation results as pandas frames (rendered by :func:`resrank_eval.formats.tables.render`)."""

from __future__ import annotations

import pandas as pd

from .metrics import Evaluation


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
