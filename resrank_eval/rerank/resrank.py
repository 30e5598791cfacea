"""ResRank rerankers: the full model (``resrank``) and its encoder alone (``encoder``, cosine only).

Both read passage vectors from a dense index folder when given (``embeddings``) and encode only
the candidates it lacks, so reranking a dense or BM25 run over an indexed corpus costs no encoder
time. Batched latencies are shared out per query: encode time by encoder tokens (0 when every vector
was cached), rerank time evenly. FLOPs are each query's own (:mod:`..model.flops`): its encoded
passages and query, the projector, and its reranker passes (a reused prompt prefix counted as computed).
``engine="fast"`` (the default) scores and encodes through the static-shape engine (``model/engine.py``,
``model/encoding.py``); ``engine="eager"`` through the reference :meth:`ResRankModel.forward` and the
plain encoder, with the same scores.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ResrankError
from ..model.flops import Shape
from ..types import Candidate, QueryStats, Ranking
from .base import DEVICE, DTYPE, MODEL, Option, Reranked, Reranker

if TYPE_CHECKING:
    import torch

    from ..model import Encoder, ResRankModel


@dataclass
class _Batch:
    """One batch of queries ready to score: vectors per query and what producing them cost."""

    vectors: list[torch.Tensor]
    encoder_tokens: list[int]
    encoded: list[int]
    encoder_flops: list[int]
    queries: torch.Tensor | None = None


DENSE_INDEX = Option("dense_index", None, "Dense index (`resrank-eval encode`) whose stored passage vectors are reused.")
ENGINE = Option("engine", "fast", "Inference path: fast (pre-tokenized prompts, prefix KV reuse, static shapes, CUDA graphs; "
                "the same scores) or eager (the reference forward).", ("fast", "eager"))
MODEL_OPTIONS = (MODEL, DEVICE, DTYPE, DENSE_INDEX, ENGINE)


class _EncoderBacked(Reranker):
    """What both rerankers share: passage vectors (cached or encoded), timing and stats.

    ``embeddings`` is a dense index folder, or docid -> vector in memory (a trainer's dev set
    encodes its passages once and lends them to both rerankers).
    """

    options = MODEL_OPTIONS

    @classmethod
    def check_options(cls, values: dict[str, Any]) -> None:
        from ..model.check import check_resrank_model
        from ..retrieve.dense import check_dense_index

        check_resrank_model(values["model"])
        if values["dense_index"] is not None:
            check_dense_index(values["dense_index"])

    def __init__(self, encoder: Encoder, embeddings: str | Path | Mapping[str, Any] | None = None,
                 engine: str = ENGINE.default) -> None:
        from ..model.encoding import FastEncoding
        from ..retrieve.dense import DenseVectors

        if engine not in ENGINE.kind:
            raise ResrankError(f"{self.name}: unknown engine {engine!r}; use one of {', '.join(ENGINE.kind)}")
        self.engine = engine
        self.encoder = encoder
        self.encoder_shape = Shape.of(encoder.model)
        # The reranker's own forward for online encoding: the shared encoder itself stays plain (a trainer trains it).
        self.encoding = FastEncoding(encoder) if engine == "fast" else None
        self.cache: DenseVectors | Mapping[str, Any] | None = embeddings
        if isinstance(embeddings, (str, Path)):
            self.cache = DenseVectors(embeddings)
            self.cache.check_encoder(encoder)

    def rerank_batch(self, rankings: list[Ranking]) -> list[Reranked]:
        import torch

        with torch.inference_mode():
            return self._rerank_batch(rankings)

    def _rerank_batch(self, rankings: list[Ranking]) -> list[Reranked]:
        started = time.perf_counter()
        batch = self._prepare(rankings)
        encoded = self._sync(time.perf_counter())
        scores, input_tokens, passes, reranker_flops = self._scores(rankings, batch)
        finished = self._sync(time.perf_counter())
        encode_ms, rerank_ms = (encoded - started) * 1000, (finished - encoded) * 1000
        all_tokens = sum(batch.encoder_tokens)
        dtype = str(next(self.encoder.model.parameters()).dtype).removeprefix("torch.")
        results = []
        for i, ranking in enumerate(rankings):
            share_encode = encode_ms * batch.encoder_tokens[i] / all_tokens if all_tokens else 0.0
            share_rerank = rerank_ms / len(rankings)
            stats = QueryStats(
                ranking.query.qid, self.name, len(ranking.candidates), encoder_tokens=batch.encoder_tokens[i],
                reranker_input_tokens=input_tokens[i], generated_tokens=0, forward_passes=passes[i],
                encode_ms=share_encode, rerank_ms=share_rerank, total_ms=share_encode + share_rerank,
                device=str(self.encoder.device), dtype=dtype,
                flops={"encoder": batch.encoder_flops[i], "prefill": reranker_flops[i], "decode": 0},
                extra={"cached_vectors": len(ranking.candidates) - batch.encoded[i]},
            )
            results.append(Reranked(_ordered(ranking, scores[i]), stats))
        return results

    def _cached(self, docids: list[str]) -> Mapping[str, Any]:
        from ..retrieve.dense import DenseVectors

        if isinstance(self.cache, DenseVectors):
            return self.cache.get(docids)
        return {d: self.cache[d] for d in docids if d in self.cache} if self.cache else {}

    def _embed(self, ids: list[list[int]]) -> torch.Tensor:
        return self.encoder.embed(ids, self.encoding.forward if self.encoding else None)

    def _prepare(self, rankings: list[Ranking]) -> _Batch:
        """Per query [n, D] vectors: cached ones reused, the rest encoded together in one call."""
        cached = self._cached([c.docid for r in rankings for c in r.candidates])
        todo: dict[str, str] = {}
        for ranking in rankings:
            for candidate in ranking.candidates:
                if candidate.docid in cached or candidate.docid in todo:
                    continue
                if not candidate.text:
                    raise ResrankError(f"{self.name}: query {ranking.query.qid}, docid {candidate.docid}: "
                                       "no text and no cached vector")
                todo[candidate.docid] = candidate.text
        ids = self.encoder.tokenize(list(todo.values())) if todo else []
        fresh = dict(zip(todo, self._embed(ids))) if ids else {}
        length = dict(zip(todo, map(len, ids)))
        batch = _Batch([], [], [], [])
        for ranking in rankings:
            docids = [c.docid for c in ranking.candidates]
            batch.vectors.append(_vectors(docids, fresh, cached, self.encoder.device))
            batch.encoder_tokens.append(sum(length.get(d, 0) for d in docids))
            batch.encoded.append(sum(1 for d in docids if d in fresh))
            batch.encoder_flops.append(sum(self.encoder_shape.forward(length[d]) for d in docids if d in length))
        return batch

    @abstractmethod
    def _scores(self, rankings: list[Ranking], batch: _Batch) -> tuple[list[torch.Tensor], list[int], list[int], list[int]]:
        """Per query: scores in candidate order, reranker input tokens, forward passes, reranker FLOPs.

        Encoding a query on the way (its own tokens and FLOPs) is added to ``batch`` by the implementation.
        """

    def _sync(self, now: float) -> float:
        """Wait for queued GPU work so a timestamp means the work is done."""
        import torch

        if self.encoder.device.type == "cuda":
            torch.cuda.synchronize(self.encoder.device)
            return time.perf_counter()
        return now


class ResRankReranker(_EncoderBacked):
    """One forward pass of the ResRank model per batch of queries; zero generated tokens."""

    name = "resrank"

    def __init__(self, model: ResRankModel, embeddings: str | Path | Mapping[str, Any] | None = None,
                 engine: str = ENGINE.default) -> None:
        from ..model.engine import FastScorer
        from ..model.flops import linear_flops

        super().__init__(model.encoder, embeddings, engine)
        self.model = model.eval()
        self.scorer: Any = FastScorer(self.model) if engine == "fast" else self.model  # both (queries, vectors, first_stage) -> ScoreOutput
        self.reranker_shape = Shape.of(model.reranker)
        self.projector_flops = linear_flops(model.injector)

    @classmethod
    def from_pretrained(cls, model_dir_or_preset: str | Path, device: str | None = None, dtype: str | None = None,
                        embeddings: str | Path | None = None, engine: str = ENGINE.default) -> ResRankReranker:
        from ..model import ResRankModel

        return cls(ResRankModel.from_pretrained(model_dir_or_preset, device, dtype), embeddings, engine)

    @classmethod
    def from_options(cls, model: str, device: str | None, dtype: str, dense_index: str | None, engine: str) -> ResRankReranker:
        return cls.from_pretrained(model, device, dtype, dense_index, engine)

    def _scores(self, rankings: list[Ranking], batch: _Batch) -> tuple[list[torch.Tensor], list[int], list[int], list[int]]:
        import torch

        first_stage = [torch.tensor([c.score for c in r.candidates], dtype=torch.float64) for r in rankings] \
            if self.model.config.reads_first_stage else None
        output = self.scorer([r.query.text for r in rankings], batch.vectors, first_stage)
        projected = [len(v) for v in batch.vectors]
        if self.model.config.query_residual:  # the query is encoded and projected too
            for i, ids in enumerate(self.encoder.tokenize([r.query.text for r in rankings], queries=True)):
                batch.encoder_tokens[i] += len(ids)
                batch.encoder_flops[i] += self.encoder_shape.forward(len(ids))
                projected[i] += 1
        flops = [sum(map(self.reranker_shape.forward, lengths)) + self.projector_flops * n
                 for lengths, n in zip(output.pass_tokens, projected)]
        return [output.scores[i, :len(v)] for i, v in enumerate(batch.vectors)], output.input_tokens, output.passes, flops


class EncoderReranker(_EncoderBacked):
    """The ResRank encoder alone: cosine of query and passage vectors (a bi-encoder reranker)."""

    name = "encoder"

    @classmethod
    def from_pretrained(cls, model_dir_or_preset: str | Path, device: str | None = None, dtype: str | None = None,
                        embeddings: str | Path | None = None, engine: str = ENGINE.default) -> EncoderReranker:
        from ..model import load_encoder

        return cls(load_encoder(model_dir_or_preset, device, dtype), embeddings, engine)

    @classmethod
    def from_options(cls, model: str, device: str | None, dtype: str, dense_index: str | None, engine: str) -> EncoderReranker:
        return cls.from_pretrained(model, device, dtype, dense_index, engine)

    def _prepare(self, rankings: list[Ranking]) -> _Batch:
        """Queries are encoded too (with the instruction prefix); their tokens count as encoder tokens."""
        batch = super()._prepare(rankings)
        ids = self.encoder.tokenize([r.query.text for r in rankings], queries=True)
        batch.queries = self._embed(ids).float()
        batch.encoder_tokens = [t + len(q) for t, q in zip(batch.encoder_tokens, ids)]
        batch.encoder_flops = [f + self.encoder_shape.forward(len(q)) for f, q in zip(batch.encoder_flops, ids)]
        return batch

    def _scores(self, rankings: list[Ranking], batch: _Batch) -> tuple[list[torch.Tensor], list[int], list[int], list[int]]:
        from torch.nn import functional as F

        scores = [F.cosine_similarity(batch.queries[i:i + 1], v, dim=-1) for i, v in enumerate(batch.vectors)]
        return scores, [0] * len(rankings), [0] * len(rankings), [0] * len(rankings)


def _vectors(docids: list[str], fresh: dict[str, torch.Tensor], cached: Mapping[str, Any],
             device: torch.device) -> torch.Tensor:
    """[n, D] float32 on the device; cached rows stacked on the host and copied in one (pinned, async) transfer."""
    import torch

    from ..model.engine import stage

    hits = [i for i, d in enumerate(docids) if d not in fresh]
    # numpy rows from a dense index, or tensors lent by a trainer
    stored = stage(torch.stack([torch.as_tensor(cached[docids[i]]) for i in hits]), device).float() if hits else None
    if len(hits) == len(docids):
        return stored
    encoded = torch.stack([fresh[d] for d in docids if d in fresh]).float()
    if stored is None:
        return encoded
    out = torch.empty((len(docids), encoded.shape[1]), device=encoded.device)
    out[torch.tensor(hits, device=device)] = stored
    out[torch.tensor([i for i, d in enumerate(docids) if d in fresh], device=device)] = encoded
    return out


def _ordered(ranking: Ranking, scores: torch.Tensor) -> list[Candidate]:
    """Best first; ties keep the first-stage order (a stable sort)."""
    values: Sequence[float] = scores.float().cpu().tolist()
    order = sorted(range(len(values)), key=lambda i: -values[i])
    return [Candidate(ranking.candidates[i].docid, float(values[i])) for i in order]
