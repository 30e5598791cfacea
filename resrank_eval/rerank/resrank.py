"""ResRank rerankers: the full model (``resrank``) and its encoder alone (``encoder``, cosine only).

Adapters: the model's one path computes the scores (:meth:`ResRankModel.forward`, the passage vectors
by :func:`..model.encoder.passage_vectors`); these add each query's cost record. Both read passage
vectors from a dense index folder when given (``embeddings``) and encode only the candidates it lacks,
so reranking a dense or BM25 run over an indexed corpus costs no encoder time. Batched latencies are
shared out per query: encode time by encoder tokens (0 when every vector was cached: reading them is
then rerank time), rerank time evenly. FLOPs are each query's own (:mod:`..model.flops`): its encoded
passages and query, the projector, and its reranker passes (a reused prompt prefix counted as computed).
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..model.flops import Shape, linear_flops
from ..types import Candidate, QueryStats, Ranking
from .base import DEVICE, DTYPE, MODEL, Option, Reranked, Reranker

if TYPE_CHECKING:
    import torch

    from ..model import Encoder, ResRankModel

DENSE_INDEX = Option("dense_index", None, "Dense index (`resrank-eval encode`) whose stored passage vectors are reused.")


class _EncoderBacked(Reranker):
    """What both rerankers share: passage vectors (cached or encoded), timing and stats.

    ``embeddings`` is a dense index folder, or docid -> vector in memory (a trainer's dev set
    encodes its passages once and lends them to both rerankers).
    """

    options = (MODEL, DEVICE, DTYPE, DENSE_INDEX)

    @classmethod
    def check_options(cls, values: dict[str, Any]) -> None:
        from ..model.check import check_resrank_model
        from ..retrieve.dense import check_dense_index

        check_resrank_model(values["model"])
        if values["dense_index"] is not None:
            check_dense_index(values["dense_index"])

    @classmethod
    def check_passages(cls, values: dict[str, Any], source: Mapping[str, str | Path], docids: Collection[str],
                       texts: Callable[[Collection[str]], Mapping[str, str]]) -> None:
        """A dense index lends its vectors only to the passages it encoded (``retrieve.dense.check_passages``; a reranker built
        already asks its store, :meth:`check_rankings`)."""
        from ..retrieve.dense import check_passages

        if values["dense_index"] is not None:
            check_passages(values["dense_index"], source, docids, texts)

    def check_rankings(self, rankings: Sequence[Ranking]) -> None:
        """A dense index lends its vectors only to the texts it encoded (:meth:`~..retrieve.dense.DenseVectors.check_texts`;
        a candidate without text takes its vector by docid)."""
        if hasattr(self.store, "check_texts"):
            self.store.check_texts({c.docid: c.text for r in rankings for c in r.candidates if c.text is not None})

    @classmethod
    def from_options(cls, model: str, device: str | None, dtype: str, dense_index: str | None) -> Reranker:
        return cls.from_pretrained(model, device, dtype, dense_index)  # type: ignore[attr-defined]

    def __init__(self, encoder: Encoder, embeddings: str | Path | Mapping[str, Any] | None = None) -> None:
        from ..retrieve.dense import DenseVectors

        self.encoder = encoder
        self.encoder_shape = Shape.of(encoder.model)
        self.store: Any = embeddings
        if isinstance(embeddings, (str, Path)):
            self.store = DenseVectors(embeddings)
            self.store.check_encoder(encoder)

    def rerank_batch(self, rankings: list[Ranking]) -> list[Reranked]:
        import torch

        from ..model.encoder import passage_vectors

        with torch.inference_mode():
            started = time.perf_counter()
            vectors, tokens = passage_vectors(self.encoder, [[(c.docid, c.text) for c in r.candidates] for r in rankings],
                                              self.store, labels=[f"{self.name}: query {r.query.qid}" for r in rankings])
            encoded = self._sync()
            scores, query_tokens, passes, reranker_flops = self._scores(rankings, vectors)
            finished = self._sync()
        passage_tokens = [[n for n in row if n is not None] for row in tokens]
        all_tokens = sum(map(sum, passage_tokens))
        split = encoded if all_tokens else started  # nothing encoded: reading the stored vectors was the rerank's time
        encode_ms, rerank_ms = (split - started) * 1000, (finished - split) * 1000
        dtype = str(next(self.encoder.model.parameters()).dtype).removeprefix("torch.")
        results = []
        for i, ranking in enumerate(rankings):
            share_encode = encode_ms * sum(passage_tokens[i]) / all_tokens if all_tokens else 0.0
            share_rerank = rerank_ms / len(rankings)
            own = passage_tokens[i] + ([query_tokens[i]] if query_tokens else [])
            stats = QueryStats(
                ranking.query.qid, self.name, len(ranking.candidates), encoder_tokens=sum(own),
                reranker_input_tokens=sum(passes[i]), generated_tokens=0, forward_passes=len(passes[i]),
                encode_ms=share_encode, rerank_ms=share_rerank, total_ms=share_encode + share_rerank,
                device=str(self.encoder.device), dtype=dtype,
                flops={"encoder": sum(map(self.encoder_shape.forward, own)), "prefill": reranker_flops[i], "decode": 0},
                extra={"cached_vectors": len(ranking.candidates) - len(passage_tokens[i])},
            )
            results.append(Reranked(_ordered(ranking, scores[i]), stats))
        return results

    @abstractmethod
    def _scores(self, rankings: list[Ranking], vectors: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[int], list[list[int]], list[int]]:
        """Per query: scores in candidate order, its query's encoder tokens (an empty list when no query is
        encoded), the length of each reranker pass and reranker FLOPs."""

    def _sync(self) -> float:
        """Now, once queued GPU work is done (so a timestamp means the work is done)."""
        import torch

        if self.encoder.device.type == "cuda":
            torch.cuda.synchronize(self.encoder.device)
        return time.perf_counter()


class ResRankReranker(_EncoderBacked):
    """One forward pass of the ResRank model per batch of queries; zero generated tokens."""

    name = "resrank"

    def __init__(self, model: ResRankModel, embeddings: str | Path | Mapping[str, Any] | None = None) -> None:
        super().__init__(model.encoder, embeddings)
        self.model = model.eval()
        self.reranker_shape = Shape.of(model.reranker)
        self.projector_flops = linear_flops(model.injector)

    @classmethod
    def from_pretrained(cls, model_dir_or_preset: str | Path, device: str | None = None, dtype: str | None = None,
                        embeddings: str | Path | None = None) -> ResRankReranker:
        from ..model import ResRankModel

        return cls(ResRankModel.from_pretrained(model_dir_or_preset, device, dtype), embeddings)

    def _scores(self, rankings: list[Ranking], vectors: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[int], list[list[int]], list[int]]:
        import torch

        first_stage = [torch.tensor([c.score for c in r.candidates], dtype=torch.float64) for r in rankings] \
            if self.model.config.reads_first_stage else None
        output = self.model([r.query.text for r in rankings], vectors, first_stage)
        query_tokens: list[int] = []
        if self.model.config.query_residual:  # the query is encoded and projected too
            query_tokens = list(map(len, self.encoder.tokenize([r.query.text for r in rankings], queries=True)))
        flops = [sum(map(self.reranker_shape.forward, lengths)) + self.projector_flops * (len(v) + bool(query_tokens))
                 for lengths, v in zip(output.pass_tokens, vectors)]
        return [output.scores[i, :len(v)] for i, v in enumerate(vectors)], query_tokens, output.pass_tokens, flops


class EncoderReranker(_EncoderBacked):
    """The ResRank encoder alone: cosine of query and passage vectors (a bi-encoder reranker)."""

    name = "encoder"

    @classmethod
    def from_pretrained(cls, model_dir_or_preset: str | Path, device: str | None = None, dtype: str | None = None,
                        embeddings: str | Path | None = None) -> EncoderReranker:
        from ..model import load_encoder

        return cls(load_encoder(model_dir_or_preset, device, dtype), embeddings)

    def _scores(self, rankings: list[Ranking], vectors: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[int], list[list[int]], list[int]]:
        from torch.nn import functional as F

        ids = self.encoder.tokenize([r.query.text for r in rankings], queries=True)  # with the instruction prefix
        queries = self.encoder.embed(ids).float()
        scores = [F.cosine_similarity(queries[i:i + 1], v, dim=-1) for i, v in enumerate(vectors)]
        return scores, list(map(len, ids)), [[]] * len(rankings), [0] * len(rankings)


def _ordered(ranking: Ranking, scores: torch.Tensor) -> list[Candidate]:
    """Best first; ties keep the first-stage order (a stable sort)."""
    values = scores.float().cpu().tolist()
    order = sorted(range(len(values)), key=lambda i: -values[i])
    return [Candidate(ranking.candidates[i].docid, float(values[i])) for i in order]
