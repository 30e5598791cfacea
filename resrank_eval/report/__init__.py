"""Publication tables (effectiveness + efficiency + significance), the trade-off plot, and run validation."""

from .build import Report, SystemResult, build_report
from .plot import plot_tradeoff
from .runs import SystemRun, expand_paths, load_run_file
from .tables import Table
from .validate import RunSummary, validate_run

__all__ = [
    "Report",
    "RunSummary",
    "SystemResult",
    "SystemRun",
    "Table",
    "build_report",
    "expand_paths",
    "load_run_file",
    "plot_tradeoff",
    "validate_run",
]
