"""Publication tables (effectiveness + efficiency + significance), the trade-off plot, and run validation."""

from .build import Report, SystemResult, build_report
from .output import render_report, write_report
from .plot import plot_tradeoff
from .runs import SystemRun, expand_paths, load_run_file
from .tables import Table, cross_table, csv_frame, dataset_table
from .validate import RunSummary, validate_run

__all__ = [
    "Report",
    "RunSummary",
    "SystemResult",
    "SystemRun",
    "Table",
    "build_report",
    "cross_table",
    "csv_frame",
    "dataset_table",
    "expand_paths",
    "load_run_file",
    "plot_tradeoff",
    "render_report",
    "validate_run",
    "write_report",
]
