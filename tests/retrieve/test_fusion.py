"""Fusion as a first stage: RRF and min-max interpolation by hand, and the DL19 number from the published runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from resrank_eval import evaluate, get_dataset
from resrank_eval.errors import ResrankError
from resrank_eval.formats.trec import read_run, write_run
from resrank_eval.retrieve import fuse, fuse_step
from resrank_eval.types import Candidate
from tests.helpers import REPO, assert_one_line_error, invoke

BM25 = REPO / "runs" / "dl19" / "run.dl19.bm25.txt"
MINILM = REPO / "runs" / "dl19" / "run.dl19.minilm.txt"


def _run(*hits: tuple[str, float]) -> dict[str, list[Candidate]]:
    return {"q": [Candidate(d, s) for d, s in hits]}


def test_rrf_by_hand() -> None:
    fused = fuse([_run(("a", 9), ("b", 5)), _run(("b", 0.9), ("c", 0.1))], "rrf", k=60)
    scores = {c.docid: c.score for c in fused["q"]}
    assert scores == pytest.approx({"a": 1 / 61, "b": 1 / 62 + 1 / 61, "c": 1 / 62})
    assert [c.docid for c in fused["q"]] == ["b", "a", "c"]


def test_interpolation_by_hand_and_ties_in_trec_eval_order() -> None:
    fused = fuse([_run(("a", 10), ("b", 6), ("c", 2)), _run(("c", 3), ("b", 1))], "interpolate", weights=[0.5, 0.5])
    scores = {c.docid: c.score for c in fused["q"]}
    assert scores == pytest.approx({"a": 0.5, "b": 0.25, "c": 0.5})
    assert [c.docid for c in fused["q"]] == ["c", "a", "b"]  # a tie is broken by docid, descending, as trec_eval does


def test_depth_limits_each_run_and_hits_the_fused_list() -> None:
    fused = fuse([_run(("a", 3), ("b", 2), ("c", 1)), _run(("c", 1))], "rrf", depth=1)
    assert sorted(c.docid for c in fused["q"]) == ["a", "c"]
    assert [c.docid for c in fuse([_run(("a", 3), ("b", 2)), _run(("c", 1), ("d", 0))], "rrf", hits=3)["q"]] == ["c", "a", "d"]


def test_interpolation_of_scores_further_apart_than_the_largest_float_stays_finite() -> None:
    """Finite scores are accepted, so their min-max levels are finite: 1e308 - (-1e308) overflows, the levels need not."""
    huge = fuse([_run(("a", 1e308), ("b", -1e308), ("c", 0.0)), _run(("c", 1.0))], "interpolate")
    small = fuse([_run(("a", 1.0), ("b", -1.0), ("c", 0.0)), _run(("c", 1.0))], "interpolate")
    assert huge == small


@pytest.mark.parametrize(("options", "message"), [({"depth": 2.5}, "depth must be an integer >= 1 or None, got 2.5"),
                                                  ({"hits": 0}, "hits must be an integer >= 1 or None, got 0")])
def test_fuse_refuses_counts_in_one_line(options: dict, message: str) -> None:
    """``depth=2.5`` failed with a TypeError in a slice."""
    with pytest.raises(ResrankError, match=f"^{message}$"):
        fuse([_run(("a", 1.0)), _run(("b", 1.0))], **options)
    assert list(fuse(iter([_run(("a", 1.0)), _run(("b", 1.0))]))["q"])  # a generator of runs: it had no len()


def test_dl19_bm25_interpolated_with_minilm_from_the_published_runs() -> None:
    """The baseline every ResRank number on DL19 should sit next to: 0.6593, above MiniLM alone (0.6424)."""
    dl19 = get_dataset("dl19")
    fused = fuse([read_run(BM25), read_run(MINILM)], "interpolate", weights=[0.1, 0.9], depth=100)
    assert evaluate(fused, dl19.qrels(), ["nDCG@10"]).mean["nDCG@10"] == pytest.approx(0.6593, abs=5e-5)


def test_fuse_cli_matches_the_library(tmp_path: Path) -> None:
    out = tmp_path / "fused.txt"
    result = invoke("fuse", str(BM25), str(MINILM), "--method", "interpolate", "--weights", "0.1,0.9", "--depth", "100",
                    "--output", str(out))
    assert result.exit_code == 0, result.output
    assert read_run(out) == fuse([read_run(BM25), read_run(MINILM)], "interpolate", [0.1, 0.9], depth=100)
    assert out.read_text().split("\n", 1)[0].endswith(" interpolate-0.1-0.9")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--weights", "0.1,x"], "Invalid value for '--weights': '0.1,x' is not a comma-separated list of numbers"),
        (["--weights", "0.1,0.2,0.7"], "3 weights for 2 runs"),
        (["--depth", "0"], "'--depth': 0 is not in the range x>=1"),
    ],
)
def test_fuse_bad_arguments(tmp_path: Path, args: list[str], fragment: str) -> None:
    out = tmp_path / "fused.txt"
    assert_one_line_error(invoke("fuse", str(BM25), str(MINILM), *args, "--output", str(out)), fragment)
    assert not out.exists()


def test_fuse_step_keeps_an_equal_fusion_and_refuses_another(tmp_path: Path) -> None:
    """Weights as numbers (1 is 1.0) and k as RRF reads it (given or not): the grid's YAML and the command line record one
    fusion alike."""
    out = tmp_path / "fused.txt"
    assert fuse_step([BM25, MINILM], tmp_path / "rrf.txt", "rrf", k=60, depth=100).run().status == "made"
    assert fuse_step([BM25, MINILM], tmp_path / "rrf.txt", "rrf", depth=100).run().kept
    assert fuse_step([BM25, MINILM], out, "interpolate", [1, 9], depth=100).run().status == "made"
    assert fuse_step([BM25, MINILM], out, "interpolate", [1.0, 9.0], depth=100).run().kept
    with pytest.raises(ResrankError, match=r"fused.txt: made with depth 100, now 50; pass overwrite"):
        fuse_step([BM25, MINILM], out, "interpolate", [1, 9], depth=50).run()
    assert fuse_step([BM25, MINILM], out, "interpolate", [1, 9], depth=50).run(overwrite=True).status == "made"


def test_fuse_takes_pyserini_fusion_flags(tmp_path: Path) -> None:
    """Pyserini's fusion names the RRF constant ``--rrf.k`` and the fused hits ``--k``; ``fuse --k 100`` read 100 as the RRF
    constant and kept 1,000 hits, a different run without a word. The constant is ``--rrf.k``, the hits ``--hits``; ``--k``
    is refused."""
    out = tmp_path / "fused.txt"
    result = invoke("fuse", str(BM25), str(MINILM), "--rrf.k", "30", "--depth", "100", "--hits", "10", "--output", str(out))
    assert result.exit_code == 0, result.output
    expected = tmp_path / "expected.txt"
    write_run(expected, fuse([read_run(BM25), read_run(MINILM)], "rrf", k=30, depth=100, hits=10), "rrf-k30")
    assert out.read_bytes() == expected.read_bytes()
    assert_one_line_error(invoke("fuse", str(BM25), str(MINILM), "--k", "100", "--output", str(tmp_path / "k.txt")),
                          "No such option '--k'", "--rrf.k")
