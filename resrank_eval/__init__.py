"""resrank-eval: run, train and benchmark ResRank rerankers on Pyserini first-stage runs.

The pipeline as plain calls on one data model (:mod:`resrank_eval.types`)::

    import resrank_eval as rr

    nfcorpus = rr.get_dataset("beir/nfcorpus")                    # topics, qrels, passages, measures
    bm25 = rr.retrieve(nfcorpus, "bm25", hits=100)                # a Run: qid -> candidates
    reranker = rr.load_reranker("resrank", model=rr.BUNDLED_MODEL)
    result = rr.rerank_run(reranker, nfcorpus.topics(), bm25, nfcorpus.passages, top_k=100, batch_size=4)
    rr.evaluate(result.run, nfcorpus.qrels(), nfcorpus.measures).mean   # and .per_query; result.summary()

The CLI (``resrank-eval``) is a thin layer over these calls; :func:`rerank_step` adds the files,
skip-if-exists and resume it needs (a step of :mod:`resrank_eval.jobs`: ``rr.rerank_step(...).run()``).
Names that pull in pandas or torch load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .datasets import DATASETS, Dataset, get_dataset
from .datasets.registry import DL19_CANDIDATES
from .errors import InputError, ResrankError
from .evaluate import Evaluation, evaluate
from .formats.candidates import CandidateSet, read_candidates
from .formats.topics import read_topics
from .formats.trec import read_qrels, read_run, write_run
from .lazy import lazy_exports
from .model import ResRankConfig
from .model.sources import BUNDLED_MODEL
from .rerank import (
    Option,
    Reranked,
    Reranker,
    RerankResult,
    iter_rerank,
    load_reranker,
    rerank,
    rerank_run,
    rerank_step,
    reranker_factory,
    rerankers,
    to_rankings,
)
from .retrieve import fuse, retrieve
from .types import Candidate, Qrels, Query, QueryStats, Ranking, Run
from .version import __version__

if TYPE_CHECKING:
    from .formats.tables import render
    from .model import ResRankModel, load_encoder
    from .report import Report, SystemRun, build_report, load_run_file


__getattr__ = lazy_exports(__name__, {"render": ".formats.tables", "ResRankModel": ".model", "load_encoder": ".model", "Report": ".report",
                                       "SystemRun": ".report", "build_report": ".report", "load_run_file": ".report"})

__all__ = [
    "BUNDLED_MODEL", "__version__", "DATASETS", "DL19_CANDIDATES", "Candidate", "CandidateSet", "Dataset", "Evaluation", "InputError", "Option",
    "Qrels", "Query", "QueryStats", "Ranking", "RerankResult", "Reranked", "Reranker", "ResRankConfig", "ResRankModel",
    "ResrankError", "Run", "SystemRun", "build_report", "evaluate", "get_dataset", "iter_rerank", "load_encoder",
    "load_reranker", "load_run_file", "read_candidates", "read_qrels", "read_run", "read_topics", "render", "Report",
    "fuse", "rerank", "rerank_run", "rerank_step", "reranker_factory", "rerankers", "retrieve", "to_rankings", "write_run",
]

