"""What several test modules share: where the real data lives, the CLI runner and its error check, a killed
rerank, a training config and the serve tests' documents. Fixtures live in the conftest.py files, not here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from resrank_eval.cli import main
from resrank_eval.formats.candidates import read_candidates
from resrank_eval.rerank import Reranked, Reranker, RerankerFactory, rerank_step, reranker_factory
from resrank_eval.types import QueryStats, Ranking

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"
NFCORPUS = REPO / "resrank_eval" / "data" / "beir" / "nfcorpus"
DL19_CANDIDATES = REPO / "resrank_eval" / "data" / "candidates" / "dl19-bm25-top100.json.gz"
PROTOCOL_FIXTURES = TEST_DATA / "protocols"
"""RankGPT and rank_llm prompts and answers made by the peers' own code (``scripts/make_protocol_fixtures.py``)."""
CRANFIELD_BEIR = TEST_DATA / "cranfield-beir"
"""A real BEIR-format directory the registry does not know: Cranfield (1,400 abstracts, 225 queries, 455 KB), made
from the SMART-format collection by ``python scripts/cranfield_to_beir.py <cranfield> tests/data/cranfield-beir``."""


def cranfield_beir(out: Path) -> Path:
    """A writable copy of the Cranfield BEIR directory in ``out`` (tests may add an index or runs beside it)."""
    shutil.copytree(CRANFIELD_BEIR, out, dirs_exist_ok=True)
    return out


# -- the CLI ---------------------------------------------------------------------------------------------------------


def tiny_beir(folder: Path, texts: dict[str, str], query: str) -> Path:
    """A BEIR-layout corpus folder: ``texts`` by docid and one query, ``q1``, that judges the first document relevant."""
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": docid, "text": text}) + "\n" for docid, text in texts.items()))
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": query}) + "\n")
    (folder / "qrels" / "test.tsv").write_text(f"query-id\tcorpus-id\tscore\nq1\t{next(iter(texts))}\t1\n")
    return folder


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(lines) == 1, result.output
    for fragment in fragments:
        assert fragment in lines[0]


# -- a killed rerank -------------------------------------------------------------------------------------------------


class Killed(Reranker):
    """Reranks (identity, or reversed) until ``after`` queries are done, then dies like a killed job."""

    def __init__(self, name: str, after: int, reverse: bool = False) -> None:
        self.label, self.after, self.reverse = name, after, reverse

    def rerank_batch(self, rankings: list[Ranking]) -> list[Reranked]:
        if self.after <= 0:
            raise KeyboardInterrupt("killed")
        self.after -= len(rankings)
        return [Reranked(r.candidates[::-1] if self.reverse else list(r.candidates), QueryStats(r.query.qid, self.label, len(r.candidates)))
                for r in rankings]


def killed_rerank(out: Path, reranker: str, monkeypatch: pytest.MonkeyPatch, model: Path | None = None, top_k: int = 100,
                  after: int = 1, reverse: bool = False) -> None:
    """What ``rerank --candidates DL19 --reranker NAME`` leaves when killed after ``after`` queries (no model loads)."""
    data = read_candidates(DL19_CANDIDATES)
    factory = reranker_factory(reranker, model=str(model) if model else None)
    step = rerank_step(factory, data.topics, data.run, data.passages, out, top_k, 1, texts={"candidates": str(DL19_CANDIDATES)})
    with monkeypatch.context() as patched:
        patched.setattr(RerankerFactory, "build", lambda self: Killed(self.cls.name, after, reverse))
        with pytest.raises(KeyboardInterrupt):
            step.run()
    assert Path(f"{out}.partial.jsonl").is_file()


# -- training --------------------------------------------------------------------------------------------------------


TRAIN_QUERIES = 8
"""Queries in the ``train_file`` fixture (tests/train/conftest.py)."""


def write_preset_train_config(tmp_path: Path, stages: str) -> Path:
    """``tmp_path/train.yaml``: the ``mini`` preset on a one-query, two-candidate ``train.jsonl``, with ``stages`` (YAML list
    items): the smallest training run the checks before and after model loading need."""
    data = tmp_path / "train.jsonl"
    data.write_text('{"qid": "q", "query": "x", "candidates": [{"docid": "a", "text": "t", "label": 1}, '
                    '{"docid": "b", "text": "u", "label": 0}]}\n')
    config = tmp_path / "train.yaml"
    config.write_text(f"output_dir: {tmp_path / 'out'}\nmodel: {{preset: mini}}\ndata: {{train: {data}}}\nstages:\n{stages}")
    return config


def write_config(tmp_path: Path, model: dict[str, object], train: Path, **changes: object) -> Path:
    """``tmp_path/train.yaml``: ``model`` trained on ``train``, two 3-step stages; ``changes`` replace top-level keys."""
    config = {
        "output_dir": str(tmp_path / "out"),
        "seed": 7,
        "model": {"config": model},
        "data": {"train": str(train), "max_candidates": 6, "hard_negatives": 3},
        "training": {"batch_size": 4, "save_every": 2, "keep_checkpoints": 3},
        "losses": {"temperature": 0.05},
        "stages": [
            {"name": "align", "steps": 3, "lr": 3e-3, "ranking_to_encoder": False},
            {"name": "joint", "steps": 3, "lr": 3e-3, "warmup": 1},
        ],
    }
    config.update(changes)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


# -- serving ---------------------------------------------------------------------------------------------------------

SERVE_DOCS = {f"d{i}": text for i, text in enumerate([
    "Vitamin D deficiency is common in winter", "the mitochondria is the powerhouse of the cell",
    "Paris is the capital of France", "statins lower cholesterol", "transformers read tokens",
    "Berlin is the capital of Germany", "fever in children", "heart disease risk factors",
])}
"""The served dense index's eight passages (``index_dir`` in tests/serve/conftest.py)."""
SERVE_QUERIES = ["capital of France", "fever in children", "heart disease", "what do statins do", "vitamin D in winter",
                 "cell energy", "deep learning", "Germany"]
