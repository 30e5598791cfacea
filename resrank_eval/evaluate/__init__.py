"""Scoring runs with pytrec_eval under trec_eval ``-c`` semantics."""

from .metrics import Evaluation, Measure, evaluate, parse_measure

__all__ = ["Evaluation", "Measure", "evaluate", "parse_measure"]
