"""Every table the toolkit prints or writes, through one renderer: plain text, Markdown, LaTeX, CSV, JSON.

Built on pandas (text, CSV, JSON) and tabulate (Markdown pipes, booktabs LaTeX). Cells are numbers
(rounded to ``digits`` in the human formats, full precision in CSV and JSON) or preformatted strings
such as a report's ``0.6369†‡``. Named index levels (``run``, ``qid``) become leading columns;
the first column is left-aligned, the others right-aligned.
"""

from __future__ import annotations

import json
from numbers import Integral, Real
from typing import Any

import pandas as pd
from tabulate import LATEX_ESCAPE_RULES, tabulate

FORMATS = ("table", "markdown", "latex", "csv", "json")
LATEX_SYMBOLS = {"†": r"\textsuperscript{\dag}", "‡": r"\textsuperscript{\ddag}", "↑": r"$^{\uparrow}$", "↓": r"$^{\downarrow}$",
                 "–": "--"}
"""Significance markers (direction and test) and the missing-value dash, as LaTeX writes them."""


def render(frame: pd.DataFrame, fmt: str, caption: str | None = None, digits: int = 4) -> str:
    """``frame`` in ``fmt`` (one of :data:`FORMATS`), with ``caption`` where the format has a place for one."""
    if fmt == "table":
        return frame.to_string(float_format=lambda v: f"{v:.{digits}f}")
    flat = frame.reset_index() if any(name is not None for name in frame.index.names) else frame
    if fmt == "csv":
        return flat.to_csv(index=False).rstrip("\n")
    if fmt == "json":  # json writes each float's repr, which reads back as the same float (pandas' to_json keeps 10 digits)
        return json.dumps(flat.astype(object).where(flat.notna(), None).to_dict(orient="records"), indent=2)
    rows = [[_cell(value, digits) for value in row] for row in flat.itertuples(index=False)]
    headers = [str(column) for column in flat.columns]
    align = ("left", *("right" for _ in headers[1:]))
    if fmt == "markdown":  # a '|' in a cell (a run tag, a file name) escaped, else it splits the cell and shifts the row
        rows, headers = [[cell.replace("|", r"\|") for cell in row] for row in rows], [h.replace("|", r"\|") for h in headers]
        table = tabulate(rows, headers, tablefmt="pipe", colalign=align, disable_numparse=True)
        return f"**{caption}**\n\n{table}" if caption else table
    if fmt == "latex":
        table = tabulate(rows, headers, tablefmt="latex_booktabs", colalign=align, disable_numparse=True)
        body = table.translate(str.maketrans(LATEX_SYMBOLS))
        if caption is None:
            return body
        escaped = "".join(LATEX_ESCAPE_RULES.get(ch, ch) for ch in caption).translate(str.maketrans(LATEX_SYMBOLS))
        return "\n".join([r"\begin{table}[t]", r"\centering", rf"\caption{{{escaped}}}", body, r"\end{table}"])
    raise ValueError(f"unknown table format {fmt!r}; use one of {', '.join(FORMATS)}")


def _cell(value: Any, digits: int) -> str:
    if isinstance(value, bool) or not isinstance(value, Real):
        return str(value)
    if isinstance(value, Integral):
        return str(value)
    return f"{value:.{digits}f}"
