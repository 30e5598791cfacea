"""Publication tables (effectiveness + efficiency + significance), the trade-off plot, and run validation."""

from .build import Report, SystemResult, build_report
from .output import render, write_report
from .plot import plot_tradeoff
from .runs import RunFile, expand_paths, load_run_file
from .tables import cross_table, dataset_table, to_csv, to_latex, to_markdown
from .validate import RunSummary, validate_run

__all__ = [
    "Report",
    "RunFile",
    "RunSummary",
    "SystemResult",
    "build_report",
    "cross_table",
    "dataset_table",
    "expand_paths",
    "load_run_file",
    "plot_tradeoff",
    "render",
    "to_csv",
    "to_latex",
    "to_markdown",
    "validate_run",
    "write_report",
]
