"""Training files: build from a real NFCorpus split and run / teacher candidates; strict one-line errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from resrank_eval.cli import main
from resrank_eval.errors import InputError
from resrank_eval.formats.candidates import read_candidates
from resrank_eval.train.build import BuildOptions, examples_from_candidates, examples_from_run
from resrank_eval.train.config import load_config
from resrank_eval.train.data import TrainExample, TrainPassage, read_examples
from resrank_eval.types import Candidate, Query
from tests.helpers import DL19_CANDIDATES, NFCORPUS, REPO

GOOD = {"qid": "q1", "query": "heart disease", "candidates": [{"docid": "a", "text": "x", "label": 1}, {"docid": "b", "text": "y", "label": 0}]}


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_build_train_from_run_uses_qrels_positives_and_run_negatives(tmp_path: Path) -> None:
    qrels = [line.split("\t") for line in (NFCORPUS / "qrels" / "train.tsv").read_text().splitlines()[1:400]]
    qids = sorted({q for q, _, _ in qrels})[:3]
    # A run of real docids: each query's own two first positives, then other queries' documents.
    own_docs = {d for q, d, _ in qrels if q in qids}
    others = sorted({d for q, d, _ in qrels if d not in own_docs})[:30]
    lines = []
    for qid in qids:
        own = [d for q, d, _ in qrels if q == qid][:2]
        for rank, docid in enumerate(own + others, 1):
            lines.append(f"{qid} Q0 {docid} {rank} {100 - rank} bm25")
    run = _write_lines(tmp_path / "train.run", lines)
    out = tmp_path / "train.jsonl"
    result = CliRunner().invoke(main, ["build-train", "--dataset", "beir/nfcorpus", "--split", "train", "--run", str(run),
                                              "--output", str(out), "--num-candidates", "8", "--max-positives", "2"])
    assert result.exit_code == 0, result.output
    examples = read_examples(out)
    assert [e.qid for e in examples] == qids
    judged = {(q, d) for q, d, _ in qrels}
    for example in examples:
        assert len(example.candidates) == 8 and len(example.positives) == 2
        assert all((example.qid, p) in judged for p in example.positives)
        assert all(c.label == int((example.qid, c.docid) in judged) for c in example.candidates)
        assert all(c.text.strip() for c in example.candidates)


def test_lists_can_be_exactly_the_first_stage_top_k_in_its_order() -> None:
    topics = {"q1": Query("q1", "statins"), "q2": Query("q2", "soy")}
    qrels = {"q1": {"d2": 1, "d4": 1, "d9": 1}, "q2": {"d9": 1}}  # d9 is never retrieved
    run = {q: [Candidate(f"d{i}", 10.0 - i) for i in range(6)] for q in topics}
    passages = {f"d{i}": f"text {i}" for i in range(10)}
    exact = examples_from_run(topics, qrels, run, passages,
                              BuildOptions(candidates=10, depth=6, max_positives=10, missed_positives=False))
    assert [e.qid for e in exact] == ["q1"]  # q2's only positive was missed: no list to rank
    assert [c.docid for c in exact[0].candidates] == [f"d{i}" for i in range(6)]
    assert [c.score for c in exact[0].candidates] == [10.0 - i for i in range(6)]  # what a first_stage_scores model reads
    assert set(exact[0].positives) == {"d2", "d4"}
    default = examples_from_run(topics, qrels, run, passages, BuildOptions(candidates=10, depth=6, max_positives=10))
    assert [c.docid for c in default[0].candidates][-1] == "d9" and [e.qid for e in default] == ["q1", "q2"]
    assert default[0].candidates[-1].score == 5.0  # a missed positive: the pool's lowest score, as its place says
    assert exact[0].to_json()["candidates"][0]["score"] == 10.0


@pytest.mark.parametrize("candidates", [2, 3, 5])
def test_every_list_keeps_room_for_a_negative_when_positives_would_fill_it(candidates: int) -> None:
    """More positives than room: train refuses a list of equal labels ('no pair to rank'), and a list smaller
    than max_positives made random.sample fail ('Sample larger than population or is negative')."""
    topics = {"q1": Query("q1", "statins")}
    qrels = {"q1": {f"d{i}": 1 for i in range(5)}}
    run = {"q1": [Candidate(f"d{i}", 10.0 - i) for i in range(10)]}
    passages = {f"d{i}": f"text {i}" for i in range(10)}
    [example] = examples_from_run(topics, qrels, run, passages, BuildOptions(candidates=candidates, max_positives=5))
    assert len(example.candidates) == candidates and len(example.positives) == candidates - 1
    assert sorted(c.label for c in example.candidates) == [0] + [1] * (candidates - 1)


def test_max_queries_samples_that_many_queries_that_have_a_list(caplog: pytest.LogCaptureFixture) -> None:
    """Queries were drawn before the ones without a list were skipped (here: the even ones, whose only positive the run
    missed), so ``max_queries=3`` wrote 1 or 2 lists for most seeds although five queries have one."""
    topics = {f"q{i}": Query(f"q{i}", "statins") for i in range(10)}
    qrels = {q: {"d1" if i % 2 else "d9": 1} for i, q in enumerate(topics)}  # d9 is never retrieved
    run = {q: [Candidate(f"d{i}", 10.0 - i) for i in range(6)] for q in topics}
    passages = {f"d{i}": f"text {i}" for i in range(10)}
    drawn = set()
    for seed in range(6):
        options = BuildOptions(candidates=4, max_queries=3, seed=seed, missed_positives=False)
        examples = examples_from_run(topics, qrels, run, passages, options)
        assert len(examples) == 3 and all(int(e.qid[1:]) % 2 for e in examples)
        assert examples == examples_from_run(topics, qrels, run, passages, options)  # the seed decides
        drawn.add(tuple(e.qid for e in examples))
    assert len(drawn) > 1  # a sample, not the first three
    caplog.clear()
    with caplog.at_level("WARNING", logger="resrank_eval"):
        examples = examples_from_run(topics, qrels, run, passages, BuildOptions(candidates=4, max_queries=8, missed_positives=False))
    assert [e.qid for e in examples] == ["q1", "q3", "q5", "q7", "q9"]
    assert [r.getMessage() for r in caplog.records] == [
        "5 of 10 queries have no training list, skipped: 5 without a relevant passage in the top 100",
        "5 queries have a training list, fewer than the 8 asked for: all are used"]


@pytest.mark.parametrize(("missed_positives", "message"), [
    (False, "4 of 5 queries have no training list, skipped: 1 without a hit in the run, "
            "2 without a relevant passage in the top 3, 1 without a non-relevant passage in the top 3"),
    (True, "3 of 5 queries have no training list, skipped: 1 without a hit in the run, 1 without a relevant passage, "
           "1 without a non-relevant passage in the top 3"),
])
def test_queries_without_a_list_are_counted_by_reason_in_one_warning(caplog: pytest.LogCaptureFixture, missed_positives: bool,
                                                                     message: str) -> None:
    """Probe: the run queries that give no list were skipped silently (NFCorpus train's BM25 top 100: 611 of 2,590), so a
    run of the wrong depth or qrels of another split only showed as fewer lists; the one warning was for ``max_queries``."""
    topics = {q: Query(q, "statins") for q in ("fine", "unretrieved", "unjudged", "all-relevant", "no-hits")}
    qrels = {"fine": {"d1": 1}, "unretrieved": {"d9": 1}, "unjudged": {"d8": 0}, "all-relevant": {"d0": 1, "d1": 1, "d2": 1},
             "no-hits": {"d1": 1}}
    run = {q: [Candidate(f"d{i}", 10.0 - i) for i in range(5)] for q in topics if q != "no-hits"}
    passages = {f"d{i}": f"text {i}" for i in range(10)}
    with caplog.at_level("WARNING", logger="resrank_eval"):
        options = BuildOptions(candidates=4, depth=3, missed_positives=missed_positives)
        examples = examples_from_run(topics, qrels, run, passages, options)
    assert [e.qid for e in examples] == ["fine", "unretrieved"][: 1 + missed_positives]
    assert [r.getMessage() for r in caplog.records] == [message]


def test_build_train_refuses_the_test_split(tmp_path: Path) -> None:
    run = _write_lines(tmp_path / "r.run", ["PLAIN-1 Q0 MED-1 1 1.0 x"])
    result = CliRunner().invoke(main, ["build-train", "--dataset", "beir/nfcorpus", "--split", "test", "--run", str(run), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "test split" in result.output


def test_teacher_candidates_become_ranked_examples() -> None:
    examples = examples_from_candidates(read_candidates(DL19_CANDIDATES), candidates=10)
    assert len(examples) == 43
    first = examples[0]
    assert [c.rank for c in first.candidates] == list(range(1, 11))
    assert first.positives == (first.candidates[0].docid,)
    assert first.relevance() == [9.0 - i for i in range(10)]


def test_labels_order_pairs_before_teacher_ranks() -> None:
    candidates = (TrainPassage("a", "t", label=0, rank=1), TrainPassage("b", "t", label=1, rank=3),
                  TrainPassage("c", "t", label=1, rank=2))
    relevance = TrainExample("q", "q", candidates, ("b", "c")).relevance()
    assert relevance[2] > relevance[1] > relevance[0]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "invalid JSON"),
        (json.dumps({**GOOD, "extra": 1}), "unknown key(s) extra"),
        (json.dumps({**GOOD, "query": ""}), "'query' must be a non-empty string"),
        (json.dumps({**GOOD, "query": " \u200b\ufeff"}), "'query' must be a non-empty string"),  # zero-width: blank
        (json.dumps({**GOOD, "candidates": [{"docid": "a", "text": "\u200c", "label": 1}, {"docid": "b", "text": "y", "label": 0}]}),
         "candidate 0: 'text' must be a non-empty string"),
        (json.dumps({**GOOD, "candidates": GOOD["candidates"][:1]}), "at least 2 passages"),
        (json.dumps({**GOOD, "candidates": [{"docid": "a", "text": "x", "label": 1}, {"docid": "b", "text": "y"}]}), "'label' is given for some"),
        (json.dumps({**GOOD, "candidates": [{"docid": "a", "text": "x", "label": -1}, {"docid": "b", "text": "y", "label": 0}]}), "integer >= 0"),
        (json.dumps({**GOOD, "candidates": [{"docid": "a", "text": "x", "label": 1}, {"docid": "a", "text": "y", "label": 0}]}), "duplicate candidate docid"),
        (json.dumps({**GOOD, "positives": ["zzz"]}), "positive 'zzz' is not among the candidates"),
        (json.dumps({**GOOD, "candidates": [{"docid": "a", "text": "x", "label": 0}, {"docid": "b", "text": "y", "label": 0}]}), "same label"),
        (json.dumps({**GOOD, "candidates": [{"docid": "a", "text": "x", "label": 1, "score": "high"},
                                            {"docid": "b", "text": "y", "label": 0, "score": 1}]}), "'score' must be a finite number"),
        (json.dumps({**GOOD, "candidates": [{"docid": "a", "text": "x", "label": 1, "score": 2.5}, {"docid": "b", "text": "y", "label": 0}]}), "'score' is given for some"),
        (json.dumps(GOOD), "duplicate qid"),
        (json.dumps({**GOOD, "qid": True}), "qid must be a string, got true"),
        (json.dumps({**GOOD, "qid": "q 2"}), 'qid "q 2" contains whitespace'),
        (json.dumps({**GOOD, "candidates": [{"docid": "a\tb", "text": "x", "label": 1}, {"docid": "b", "text": "y", "label": 0}]}),
         'candidate 0: docid "a\\tb" contains whitespace'),
        (json.dumps({**GOOD, "positives": [1.5]}), "positive must be a string, got 1.5"),
        (json.dumps({**GOOD, "query": "fever \ud800"}), "'query' is not valid Unicode (a lone surrogate)"),
        (json.dumps({**GOOD, "candidates": [{"docid": "a", "text": "\udfff", "label": 1}, {"docid": "b", "text": "y", "label": 0}]}),
         "candidate 0: 'text' is not valid Unicode (a lone surrogate)"),
    ],
)
def test_malformed_training_lines_fail_at_their_line(tmp_path: Path, line: str, message: str) -> None:
    path = _write_lines(tmp_path / "train.jsonl", [json.dumps(GOOD), "", line])
    with pytest.raises(InputError) as info:
        read_examples(path)
    assert info.value.line == 3 and message in str(info.value)
    assert str(info.value).startswith(f"{path}:3: ") and "\n" not in str(info.value)


def test_integer_ids_are_read_as_their_decimal_strings_as_in_every_reader(tmp_path: Path) -> None:
    record = {"qid": 5, "query": "x", "candidates": [{"docid": 10, "text": "x", "label": 1}, {"docid": "b", "text": "y", "label": 0}],
              "positives": [10]}
    (example,) = read_examples(_write_lines(tmp_path / "train.jsonl", [json.dumps(record)]))
    assert (example.qid, example.candidates[0].docid, example.positives) == ("5", "10", ("10",))


def _config(tmp_path: Path, text: str) -> Path:
    return _write_lines(tmp_path / "train.yaml", ["output_dir: out", "data:", "  train: t.jsonl", *text.splitlines(), *([] if "model:" in text else ["model: {preset: mini}"])])


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("trainin:\n  batch_size: 2", 4, "unknown key 'trainin'"),
        ("training:\n  batch_size: two", 5, "training.batch_size: expected an integer"),
        ("training:\n  precision: fp8", 5, "one of fp32, bf16"),
        ("losses:\n  temperature: -1", 5, "losses.temperature: expected >= 1e-06"),
        ("stages:\n  - name: a\n    steps: 5\n    train: [decoder]", 5, "unknown part 'decoder'"),
        ("stages:\n  - name: a\n    steps: 5\n    train: [reranker]\n    ranking: 0", 5, "no active loss reaches 'reranker'"),
        ("stages:\n  - name: a\n    steps: 5\n    warmup: 5", 5, "warmup must be smaller"),
        ("stages:\n  - name: a\n    lr: {encoder: 1.0}", 5, "one rate for each trained part"),
        ("dev:\n  split: dev", 5, "dev.run"),
        ("dev:\n  run: r.txt\n  max_queries: 0", 6, "dev.max_queries: expected >= 1, got 0"),  # failed after the model loaded
        ("  shuffle_fraction: 1.5", 4, "shuffle_fraction must be at most 1"),  # under the data: block (a second one is refused)
        ("  shuffle_fraction: 0.5", 4, "data.shuffle_fraction: only lists kept in order are shuffled"),  # every list is
        ("training:\n  cache_refresh: 5", 5, "training.cache_refresh: refreshes the cache of cache_vectors"),  # or none is
        ("model:\n  preset: mini\n  path: x", 6, "either 'preset' or 'path'"),
        ("model:\n  encoder:\n    mode: qlora", 6, "model.encoder.mode: expected one of full, lora"),
        ("stages: [", 6, "invalid YAML"),
        ("seed: 99999999999999999999", 4, "seed: expected <= 4294967295, got 99999999999999999999"),
        ("seed: -1", 4, "seed: expected >= 0, got -1"),
        ("losses:\n  temperature: .nan", 5, "losses.temperature: expected a finite number, got nan"),
        ("training:\n  max_grad_norm: .inf", 5, "training.max_grad_norm: expected a finite number, got inf"),
        ("stages:\n  - name: a\n    lr: 1e300", 6, "stages[0].lr: expected <= 1.0, got 1e+300"),
        ("stages:\n  - name: a\n    train: [encoder]\n    lr: {encoder: -.inf}", 7, "stages[0].lr.encoder: expected a finite number"),
        ("model:\n  preset: mini\n  encoder:\n    dropout: 2.0", 7, "model.encoder.dropout: expected <= 1.0, got 2.0"),
        # LoRA options without mode: lora fine-tuned every weight of the reranker (24 of 24 tensors changed), exit 0
        ("model:\n  preset: mini\n  reranker:\n    r: 4\n    targets: [q_proj]", 7,
         "model.reranker.r: a LoRA option, but model.reranker.mode is not given and its default, full, trains every weight"),
    ],
)
def test_bad_configs_fail_with_one_line_at_the_key(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = _config(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_config(path)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert info.value.line == line, str(info.value)


def test_ablations_rewrite_the_stages(tmp_path: Path) -> None:
    base = _config(tmp_path, "stages:\n  - {name: align, steps: 4, warmup: 1, ranking_to_encoder: false}\n  - {name: joint, steps: 6}")
    default = load_config(base).effective_stages()
    assert [(s.name, s.steps, s.ranking_to_encoder) for s in default] == [("align", 4, False), ("joint", 6, True)]
    single = load_config(base, ["ablation.single_stage=true"]).effective_stages()
    assert [(s.name, s.steps, s.warmup) for s in single] == [("joint", 10, 1)]
    frozen = load_config(base, ["ablation.frozen_encoder=true"]).effective_stages()
    assert all("encoder" not in s.train and s.contrastive == 0 for s in frozen)
    ranking_only = load_config(base, ["ablation.ranking_loss_only=true"]).effective_stages()
    assert [s.train for s in ranking_only] == [["projector", "reranker"], ["encoder", "projector", "reranker"]]
    assert load_config(base, ["ablation.no_residual=true"]).model_overrides()["residual"] == "none"
    two = _config(tmp_path, "stages:\n  - {name: encoder, steps: 3, train: [encoder], lr: {encoder: 0.1}, ranking: 0}\n"
                            "  - {name: reader, steps: 5, train: [projector, reranker], lr: 0.2, contrastive: 0}")
    (merged,) = load_config(two, ["ablation.single_stage=true"]).effective_stages()
    assert (merged.steps, merged.train, merged.contrastive, merged.ranking) == (8, ["encoder", "projector", "reranker"], 1.0, 1.0)
    assert merged.lr == {"encoder": 0.1, "projector": 0.2, "reranker": 0.2}


def test_build_train_from_teacher_candidates_cli(tmp_path: Path) -> None:
    out = tmp_path / "teacher.jsonl"
    result = CliRunner().invoke(main, ["build-train", "--candidates", str(DL19_CANDIDATES), "--num-candidates", "5", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert [c.rank for c in read_examples(out)[0].candidates] == [1, 2, 3, 4, 5]


def test_candidates_of_a_single_hit_are_refused_for_that_reason(tmp_path: Path) -> None:
    """A candidate file whose queries have one hit each was refused with "do the run's qids match the split's judged
    queries?", which named neither the file nor the cause; a query of one hit among others was skipped unsaid."""
    entries = json.loads(gzip.decompress(DL19_CANDIDATES.read_bytes()))[:2]
    single = tmp_path / "single.json"
    single.write_text(json.dumps([{**entry, "hits": entry["hits"][:1]} for entry in entries]))
    result = CliRunner().invoke(main, ["build-train", "--candidates", str(single), "-o", str(tmp_path / "single.jsonl")])
    assert result.exit_code == 2 and result.output.splitlines()[-1] == (
        f"Error: {single}: every query has a single hit: a training list ranks at least 2 passages")
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps([{**entries[0], "hits": entries[0]["hits"][:1]}, entries[1]]))
    result = CliRunner().invoke(main, ["build-train", "--candidates", str(mixed), "-o", str(tmp_path / "mixed.jsonl")])
    assert result.exit_code == 0 and "1 of 2 queries have no training list, skipped: 1 with a single hit" in result.output
    assert len(read_examples(tmp_path / "mixed.jsonl")) == 1


def test_a_judged_query_without_a_relevant_hit_is_skipped_not_given_a_non_relevant_positive(tmp_path: Path) -> None:
    """Probe: with ``qrels``, a judged query whose top hits were all judged 0 or unjudged got the teacher's top hit as its
    positive while its label said 0: DL19 query 1063750's top hit is judged not relevant, yet with ``--num-candidates 10``
    the contrastive loss pulled the query towards it. Such a query is skipped now, counted in the one warning, as
    ``examples_from_run`` skips a query without a relevant passage; a file of only such queries is refused."""
    qrels = REPO / "qrels" / "qrels.dl19-passage.txt"
    out = tmp_path / "train.jsonl"
    result = CliRunner().invoke(main, ["build-train", "--candidates", str(DL19_CANDIDATES), "--qrels", str(qrels),
                                       "--num-candidates", "5", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 of 43 queries have no training list, skipped: 3 judged without a relevant passage in the top 5" in result.output
    examples = read_examples(out)
    assert len(examples) == 40 and "1063750" not in {e.qid for e in examples}
    for example in examples:
        labels = {c.docid: c.label for c in example.candidates}
        assert example.positives and all(labels[p] > 0 for p in example.positives)
    judged = tmp_path / "qrels.txt"  # each query judges its own top hit, not relevant
    teacher = read_candidates(DL19_CANDIDATES)
    judged.write_text("".join(f"{qid} 0 {hits[0].docid} 0\n" for qid, hits in teacher.run.items()))
    result = CliRunner().invoke(main, ["build-train", "--candidates", str(DL19_CANDIDATES), "--qrels", str(judged),
                                       "-o", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 2 and result.output.splitlines()[-1] == (
        f"Error: {DL19_CANDIDATES}: no query of 2 hits or more has a relevant passage (by {judged}) in its top 20: "
        "no training list")
    assert not (tmp_path / "none.jsonl").exists()


def test_run_queries_outside_the_split_are_refused_not_dropped(tmp_path: Path) -> None:
    """A run with queries the split has no topic for (another split's, another dataset's) was trained on in part, exit 0,
    the rest dropped unsaid; ``rerank`` refuses such a run, and so does build-train now, at the first such line."""
    lines = [f"{qid} Q0 {docid} {rank} {10 - rank} bm25" for qid in ("PLAIN-3", "PLAIN-4", "PLAIN-1")
             for rank, docid in enumerate(["MED-2436", "MED-2437", "MED-2421", "MED-1000"], 1)]
    run = _write_lines(tmp_path / "mixed.run", lines)
    out = tmp_path / "train.jsonl"
    result = CliRunner().invoke(main, ["build-train", "--dataset", "beir/nfcorpus", "--split", "train", "--run", str(run),
                                       "-o", str(out)])
    assert result.exit_code == 2 and not out.exists()
    assert result.output.strip() == (f"Error: {run}:9: query 'PLAIN-1' is not a topic of beir/nfcorpus train "
                                     "(1 of 3 run queries are not); check --dataset/--split")


def test_qrels_that_judge_no_candidate_query_are_refused(tmp_path: Path) -> None:
    """NFCorpus qrels given with the DL19 candidates labelled nothing: exit 0, teacher positives only, as if unasked."""
    nfcorpus = NFCORPUS / "qrels" / "train.tsv"
    command = ["build-train", "--candidates", str(DL19_CANDIDATES), "--num-candidates", "5", "--qrels"]
    result = CliRunner().invoke(main, [*command, str(nfcorpus), "-o", str(tmp_path / "wrong.jsonl")])
    assert result.exit_code == 2 and not (tmp_path / "wrong.jsonl").exists()
    assert result.output.strip().startswith(f"Error: {nfcorpus}: shares no query with {DL19_CANDIDATES} (43 candidate queries, ")
    assert result.output.strip().endswith("judged, e.g. 'PLAIN-3'): wrong qrels?")
    out = tmp_path / "labelled.jsonl"
    assert CliRunner().invoke(main, [*command, str(REPO / "qrels" / "qrels.dl19-passage.txt"), "-o", str(out)]).exit_code == 0
    assert all(c.label is not None for e in read_examples(out) for c in e.candidates)


def test_build_train_keeps_what_it_made_and_overwrites_nothing_else(tmp_path: Path) -> None:
    """build-train kept no record: a file at --output (made by hand, or with other options) was overwritten, exit 0, and a
    training file edited after it was made was made again silently. It is a step like every command that writes."""
    out = tmp_path / "teacher.jsonl"
    command = ["build-train", "--candidates", str(DL19_CANDIDATES), "--num-candidates", "5", "-o", str(out)]
    out.write_text("my own notes\n")
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 2 and "--overwrite" in result.output and out.read_text() == "my own notes\n"
    assert CliRunner().invoke(main, [*command, "--overwrite"]).exit_code == 0
    made = out.read_bytes()
    again = CliRunner().invoke(main, command)
    assert again.exit_code == 0 and "skipping" in again.output and out.read_bytes() == made
    other = CliRunner().invoke(main, [*command[:-3], "6", "-o", str(out)])
    assert other.exit_code == 2 and "--num-candidates 5, now 6" in other.output and out.read_bytes() == made


def test_train_cli_reports_a_bad_config_in_one_line(tmp_path: Path) -> None:
    path = _config(tmp_path, "training:\n  batch_size: 0")
    result = CliRunner().invoke(main, ["train", "--config", str(path)])
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {path}:5: training.batch_size: expected >= 1, got 0"


def test_a_folder_given_as_training_data_is_called_a_folder(tmp_path: Path) -> None:
    """It said 'data.train: no such file' of a folder that exists."""
    path = _config(tmp_path, "stages: [{name: s, steps: 1}]")
    result = CliRunner().invoke(main, ["train", "--config", str(path), "--set", f"data.train={tmp_path}",
                                       "--set", f"output_dir={tmp_path / 'out'}"])
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {tmp_path}: data.train: a folder, not a file"


def test_overrides_reach_list_items_and_are_validated(tmp_path: Path) -> None:
    path = _config(tmp_path, "stages:\n  - {name: align, steps: 4}\n  - {name: joint, steps: 6}")
    config = load_config(path, ["stages.1.steps=9", "training.precision=bf16"])
    assert [s.steps for s in config.stages] == [4, 9] and config.training.precision == "bf16"
    with pytest.raises(InputError, match="not an index of a 2-item list"):
        load_config(path, ["stages.2.steps=1"])
    with pytest.raises(InputError, match="stages\\[0\\].steps: expected an integer"):
        load_config(path, ["stages.0.steps=many"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.batch_size=0", "training.batch_size: expected >= 1, got 0"),
        ("trainin.batch_size=2", "unknown key 'trainin'"),
        ("training.newkey=1", "unknown key 'training.newkey'"),
        ("stages.1.steps=x", "stages[1].steps: expected an integer, got 'x'"),
        ("stages.2.steps=1", "'2' is not an index of a 2-item list"),
        ("seed=-3", "seed: expected >= 0, got -3"),
        ("training", "expected key.path=value"),
        ("stages=[", "invalid YAML value"),
    ],
)
def test_a_bad_override_is_named_not_a_line_of_the_file(tmp_path: Path, override: str, message: str) -> None:
    path = _config(tmp_path, "training:\n  batch_size: 2\nstages:\n  - {name: align, steps: 4}\n  - {name: joint, steps: 6}")
    with pytest.raises(InputError) as info:
        load_config(path, ["training.precision=bf16", override])
    assert str(info.value).startswith(f"overrides {override}: ") and message in str(info.value), str(info.value)


def test_a_rule_across_keys_broken_by_an_override_names_the_override(tmp_path: Path) -> None:
    path = _config(tmp_path, "stages:\n  - {name: align, steps: 4}")
    with pytest.raises(InputError) as info:
        load_config(path, ["seed=3", "stages.0.warmup=4"])
    assert str(info.value) == "overrides seed=3 overrides stages.0.warmup=4: stages[0].warmup must be smaller than steps (4)"
    broken = _config(tmp_path, "stages:\n  - {name: align, steps: 4, warmup: 4}")
    with pytest.raises(InputError, match=f"^{broken}:5: stages\\[0\\].warmup must be smaller"):
        load_config(broken, ["seed=3"])  # the file's own mistake keeps its line


def test_an_override_whose_section_shares_the_key_name_sets_the_nested_key() -> None:
    from resrank_eval.train.yaml_schema import apply_override

    raw: dict = {"a": {"b": 1}}
    assert apply_override(raw, "a.a=2") == {"a": {"a": 2}}  # the leaf stopped at the first 'a' and replaced the section
    assert raw == {"a": {"b": 1, "a": 2}}


def test_an_override_can_mend_the_file_and_the_file_keeps_its_lines(tmp_path: Path) -> None:
    path = _config(tmp_path, "training:\n  batch_size: 0")
    assert load_config(path, ["training.batch_size=3"]).training.batch_size == 3
    with pytest.raises(InputError, match=f"^{path}:5: training.batch_size: expected >= 1"):
        load_config(path, ["training.precision=bf16"])


def test_a_share_of_lists_can_be_shuffled_and_the_rest_keep_first_stage_order() -> None:
    import random

    from resrank_eval.train.batches import sample_candidates

    example = TrainExample("q", "x", tuple(TrainPassage(f"d{i}", "t", label=int(i == 3)) for i in range(8)), ("d3",))
    orders = [sample_candidates(example, 8, 0.5, random.Random(seed))[0] for seed in range(40)]
    kept = [order == sorted(order) for order in orders]
    assert 10 < sum(kept) < 30  # both kinds, roughly half each
    same = [sample_candidates(example, 8, 0.5, random.Random(seed))[0] for seed in range(40)]
    assert same == orders  # a pure function of the seed
    assert all(sample_candidates(example, 8, 0.0, random.Random(s))[0] == list(range(8)) for s in range(5))
