"""Turn judged first-stage runs and teacher rankings into training examples.

Two sources, one output format (:mod:`.data`):

* a BEIR-style split (topics + qrels + corpus) with a first-stage run: positives come from the
  qrels, hard negatives are unjudged or non-relevant passages the first stage ranked high (BM25 or
  dense top-``depth``) -- the confusions the reranker must learn to undo;
* a rank_llm candidate file whose hit order is a teacher's ranking (e.g. a stronger reranker's
  output), optionally with qrels, whose labels then take precedence over the teacher.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError, ResrankError, check_count
from ..formats.candidates import CandidateSet, read_candidates
from ..formats.corpus import corpus_file
from ..formats.trec import iter_run_lines, read_qrels, read_run
from ..jobs import Outputs, Step
from ..provenance import Provenance
from ..types import Qrels, Query, Run
from .data import TrainExample, TrainPassage, write_examples

if TYPE_CHECKING:
    from ..datasets.dataset import Dataset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildOptions:
    """How a candidate list is sampled from a run; see :func:`examples_from_run`."""

    candidates: int = 20
    depth: int = 100
    max_positives: int = 5
    max_queries: int | None = None
    seed: int = 13
    missed_positives: bool = True
    """Positives the first stage missed may join the list (after the retrieved passages; a query
    without a retrieved positive gets one); False keeps only retrieved passages and skips queries
    without a retrieved positive, so every list is what a reranker of that run sees, in its order."""


def examples_from_run(
    topics: dict[str, Query], qrels: Qrels, run: Run, passages: dict[str, str], options: BuildOptions
) -> list[TrainExample]:
    """One example per query drawn (``max_queries`` of those that have a list, by ``seed``): up to ``max_positives``
    positives plus hard negatives.

    A query has a list when it has a positive with text (retrieved, or missed where ``missed_positives``) and a
    non-relevant passage in the first stage's top ``depth``; only such queries are drawn, so ``max_queries`` of them
    come out whenever that many exist. The others are skipped with one warning that counts them by reason.
    Retrieved positives are preferred (they look like what the reranker sees at test time); a query whose positives the
    first stage missed still gets one, so every example has a contrastive target. Negatives are sampled from the first
    stage's top ``depth`` rather than cut at the top, so that training covers the whole list the reranker reorders.
    """
    check_count(options.candidates, "candidates", 2)  # room for a positive and a negative
    check_count(options.max_positives, "max_positives")
    pools: dict[str, tuple[list[str], list[str], list[str], list[str]]] = {}
    top = f"in the top {options.depth}"
    no_hit = "without a hit in the run"
    no_positive = "without a relevant passage" + ("" if options.missed_positives else f" {top}")
    no_negative = f"without a non-relevant passage {top}"
    listless = dict.fromkeys((no_hit, no_positive, no_negative), 0)
    for qid in sorted(topics):
        judged = qrels.get(qid, {})
        pool = [c.docid for c in run.get(qid, [])[: options.depth]]
        relevant = [d for d in sorted(judged) if judged[d] > 0 and d in passages]
        retrieved = [d for d in pool if d in relevant]
        negatives = [d for d in pool if judged.get(d, 0) <= 0]
        if not pool:
            listless[no_hit] += 1
        elif not (retrieved or (relevant and options.missed_positives)):
            listless[no_positive] += 1
        elif not negatives:
            listless[no_negative] += 1
        else:
            pools[qid] = (pool, relevant, retrieved, negatives)
    warn_listless(listless, len(topics))
    if options.max_queries is not None and len(pools) < options.max_queries:
        log.warning("%d queries have a training list, fewer than the %d asked for: all are used", len(pools), options.max_queries)
    rng = random.Random(options.seed)
    examples = []
    for qid in sample_queries(list(pools), options.max_queries, options.seed):
        judged, (pool, relevant, retrieved, negatives) = qrels[qid], pools[qid]
        missed = [d for d in relevant if d not in retrieved] if options.missed_positives else []
        rng.shuffle(missed)
        # at most candidates - 1: a list of positives only has no pair to rank, and training refuses it
        positives = (rng.sample(retrieved, len(retrieved)) + missed)[: min(options.max_positives, options.candidates - 1)]
        if not retrieved:
            positives = positives[:1]
        chosen = set(positives) | set(rng.sample(negatives, min(len(negatives), options.candidates - len(positives))))
        rank = {d: i for i, d in enumerate(pool)}
        ordered = sorted(chosen, key=lambda d: (rank.get(d, len(pool)), d))
        scores = {c.docid: c.score for c in run[qid][: options.depth]}
        lowest = min(scores.values())  # a missed positive sits below the whole pool, as its place in the list says
        candidates = tuple(TrainPassage(d, passages[d], label=max(judged.get(d, 0), 0), score=scores.get(d, lowest))
                           for d in ordered)
        examples.append(TrainExample(qid, topics[qid].text, candidates, tuple(d for d in ordered if d in positives)))
    return examples


def warn_listless(listless: dict[str, int], total: int) -> None:
    """One warning for the ``total`` queries' skipped ones, counted by reason (``listless``: reason -> count): not a line
    per query (MS MARCO train: hundreds of thousands), and not silence, which shows a wrong run or qrels only as fewer lists."""
    if any(listless.values()):
        reasons = ", ".join(f"{count:,} {reason}" for reason, count in listless.items() if count)
        log.warning("%s of %s queries have no training list, skipped: %s", f"{sum(listless.values()):,}", f"{total:,}", reasons)


def sample_queries(qids: Sequence[str], count: int | None, seed: int) -> list[str]:
    """At most ``count`` of ``qids`` (all when ``count`` is None), drawn with ``seed``, sorted: the one draw of training
    and dev queries, so a seed names one subset."""
    chosen = list(qids) if count is None or count >= len(qids) else random.Random(seed).sample(list(qids), count)
    return sorted(chosen)


def examples_from_candidates(
    candidate_set: CandidateSet, qrels: Qrels | None = None, candidates: int = 20, teacher_positives: int = 1
) -> list[TrainExample]:
    """One example per query of a teacher-ranked candidate file: its top ``candidates`` in order.

    Teacher rank = position in the file. With ``qrels`` the judged queries also get labels (unjudged
    passages count as 0) and their relevant passages are the positives; otherwise the teacher's top
    ``teacher_positives`` are. Skipped, with one warning that counts them by reason: a query with a single hit (no list to
    rank), and a judged one without a relevant passage in its top ``candidates``, whose positive would be a passage its
    label calls non-relevant (as :func:`examples_from_run` skips a query without a relevant passage).
    """
    check_count(candidates, "candidates", 2)  # a list ranks at least 2 passages
    examples = []
    single = "with a single hit"
    unmatched = f"judged without a relevant passage in the top {candidates}"
    listless = dict.fromkeys((single, unmatched), 0)
    for qid, hits in candidate_set.run.items():
        top = hits[:candidates]
        if len(top) < 2:
            listless[single] += 1
            continue
        judged = qrels.get(qid) if qrels is not None else None
        labels = [max(judged.get(c.docid, 0), 0) for c in top] if judged else [None] * len(top)
        if judged and not any(labels):
            listless[unmatched] += 1
            continue
        passages = tuple(
            TrainPassage(c.docid, candidate_set.passages[c.docid], label, rank, c.score)
            for rank, (c, label) in enumerate(zip(top, labels), 1)
        )
        if judged:
            positives = tuple(p.docid for p in passages if (p.label or 0) > 0)
        else:
            positives = tuple(p.docid for p in passages[:teacher_positives])
        examples.append(TrainExample(qid, candidate_set.topics[qid].text, passages, positives))
    warn_listless(listless, len(candidate_set.run))
    return examples


def build_train_step(output: str | Path, options: BuildOptions, dataset: Dataset | None = None, run: str | Path | None = None,
                     candidates_file: str | Path | None = None, qrels: str | Path | None = None) -> Step[int]:
    """Training examples written to ``output`` (JSONL), from ``dataset``'s split with its first-stage ``run``
    (:func:`examples_from_run`), or from a teacher-ranked ``candidates_file`` with optional ``qrels``
    (:func:`examples_from_candidates`); the step's value is how many. Kept when made so before, like every output."""
    if (run is None) == (candidates_file is None):
        raise ResrankError("give exactly one source: a dataset's run, or a candidates file")
    if candidates_file is not None:
        provenance = Provenance.of("build-train", {"num_candidates": options.candidates},
                                   {"candidates_file": candidates_file, "qrels": qrels})

        def examples() -> list[TrainExample]:
            teacher = read_candidates(candidates_file)
            judged = read_qrels(qrels) if qrels else None
            if judged is not None and not teacher.run.keys() & judged.keys():  # another dataset's labels: none would be used
                asked, known = next(iter(teacher.run)), next(iter(judged))
                message = (f"shares no query with {candidates_file} ({len(teacher.run)} candidate queries, e.g. {asked!r}; "
                           f"{len(judged)} judged, e.g. {known!r}): wrong qrels?")
                raise InputError(str(qrels), None, message)
            made = examples_from_candidates(teacher, judged, options.candidates)
            if not made and all(len(hits) < 2 for hits in teacher.run.values()):
                raise InputError(candidates_file, None, "every query has a single hit: a training list ranks at least 2 "
                                                        "passages")
            if not made:  # every query of 2 hits or more is judged (an unjudged one has a list), none of them relevant
                raise InputError(candidates_file, None, f"no query of 2 hits or more has a relevant passage (by {qrels}) in "
                                                        f"its top {options.candidates}: no training list")
            return made
    else:
        if dataset is None or not dataset.has_passages:
            raise ResrankError(f"training lists from a run need passage texts: dataset {getattr(dataset, 'name', None)!r} has "
                               "no local corpus (a BEIR folder)")
        if dataset.split == "test":
            raise ResrankError("refusing to build training data from the test split")
        data: Dataset = dataset
        judged, topics = data.qrels(), data.topics()
        inputs = {"run": run, "topics": {q: t.text for q, t in topics.items()}, "qrels": judged,
                  "corpus": corpus_file(data.corpus_dir) if data.corpus_dir is not None else None}
        sampling = {"num_candidates" if key == "candidates" else key: value for key, value in asdict(options).items()}  # flags' names
        provenance = Provenance.of("build-train", {"dataset": data.name, "split": data.split, **sampling}, inputs)

        def examples() -> list[TrainExample]:
            path: str | Path = run  # type: ignore[assignment]  # exactly one source, checked above
            hits = read_run(path)
            strangers = hits.keys() - topics.keys()
            if strangers:  # a run of another split or dataset: refused as `rerank` refuses it, rather than trained on in part
                line, qid = next((n, hit.qid) for n, hit in iter_run_lines(path) if hit.qid in strangers)
                raise InputError(path, line, f"query {qid!r} is not a topic of {data.name} {data.split} ({len(strangers)} of "
                                             f"{len(hits)} run queries are not); check `dataset`/`split`")
            wanted = {c.docid for ranked in hits.values() for c in ranked[:options.depth]} | {d for j in judged.values() for d in j}
            made = examples_from_run(topics, judged, hits, data.passages(wanted), options)
            if not made:
                raise ResrankError("no training examples: no run query has a relevant passage (retrieved, unless "
                                   "`missed_positives`) and a non-relevant one in its top `depth`")
            return made

    def make() -> int:
        return write_examples(output, examples())

    return Step(provenance, Outputs.beside(output), make)
