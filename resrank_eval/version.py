"""The running resrank-eval version, read from the installed package's metadata (pyproject.toml owns it).

A leaf: the package top, the environment record and provenance all read it without importing each other.
"""

from importlib import metadata

try:
    __version__ = metadata.version("resrank-eval")
except metadata.PackageNotFoundError:  # a source tree on PYTHONPATH, not installed (the GPU check's copy)
    __version__ = "0+unknown"
