"""The three rerank request shapes clients already send, read into one :class:`RerankCall` and answered in their own shape.

- Cohere v2, ``POST /v2/rerank``: ``{model, query, documents: [str], top_n}`` ->
  ``{id, results: [{index, relevance_score}], meta}`` (what ``cohere.ClientV2.rerank`` sends and reads);
- Jina / generic, ``POST /v1/rerank``: ``{model, query, documents: [str | {"text"}], top_n, return_documents}`` ->
  ``{model, usage: {total_tokens}, results: [{index, relevance_score, document}]}``;
- text-embeddings-inference, ``POST /rerank``: ``{query, texts, raw_scores, return_text}`` -> ``[{index, score, text}]``
  (``return_text`` with an ``{"id"}`` is refused: the dense index holds vectors, not texts).

Every document list also takes ``{"id": "MED-10"}``: a passage of the server's dense index, whose cached
vector is read instead of encoding text. Scores are the model's own (``score_scale`` x cosine, plus the
fused first-stage level): comparable within one query, not probabilities. TEI's ``raw_scores: false``
(its default) passes them through a sigmoid, as TEI does with a cross-encoder's logit; the order is the same.
A ``model`` field, where a dialect has one, names the served model (its folder's name, as ``/ready``
gives it) or is left out; another name is refused. Unknown fields are ignored (clients send their own
extras, e.g. Cohere's ``max_tokens_per_doc``); fields that are present must have the right type
(strict: no ``"5"`` for 5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from ..formats.ids import check_id, is_blank, shown
from ..formats.ids import check_text as readable_text
from ..types import QueryStats

DOCUMENT_SHAPES = 'a document is a string, {"text": string} or {"id": string}'


@dataclass(frozen=True)
class Document:
    """One document of a request: its text, or the id of a dense-index passage (exactly one is set)."""

    text: str | None = None
    id: str | None = None

    def shown(self) -> dict[str, str]:
        """The document as answered back (``return_documents``)."""
        return {"text": self.text} if self.text is not None else {"id": str(self.id)}


def parse_document(value: Any) -> Document:
    """A string, ``{"text": str}`` or ``{"id": str}`` (other keys ignored); text must be non-empty, encodable Unicode.

    A ``null`` text or id is not given: client SDKs write an unset optional field as ``null`` (``{"text": "a", "id": null}``).
    """
    if isinstance(value, dict):
        given = {key: value[key] for key in ("text", "id") if value.get(key) is not None}
        if len(given) == 2:
            raise PydanticCustomError("document", 'give "text" or "id", not both')
        if "id" in given:
            docid = given["id"]
            if isinstance(docid, int) and not isinstance(docid, bool):  # check_id takes ints (JSON run files); not here
                raise PydanticCustomError("document", f"id must be a string, got {shown(docid)}")
            try:
                return Document(id=check_id(docid, "id"))
            except ValueError as exc:
                raise PydanticCustomError("document", str(exc)) from None
        value = given.get("text", value)
    if not isinstance(value, str):
        raise PydanticCustomError("document", DOCUMENT_SHAPES)
    return Document(text=check_text(value))


def check_text(text: str) -> str:
    """Non-empty text the tokenizer can read (JSON can carry lone surrogates, which UTF-8 cannot)."""
    if is_blank(text):
        raise PydanticCustomError("text", "text is empty")
    try:
        return readable_text(text)
    except ValueError as exc:
        raise PydanticCustomError("text", str(exc)) from None


DocumentIn = Annotated[Document, PlainValidator(parse_document), WithJsonSchema({
    "anyOf": [{"type": "string"},
              {"type": "object", "properties": {"text": {"type": "string"}, "id": {"type": "null"}}, "required": ["text"]},
              {"type": "object", "properties": {"id": {"type": "string"}, "text": {"type": "null"}}, "required": ["id"]}],
    "description": "Passage text, or the id of a passage in the server's dense index (its cached vector is read); "
                   "the other field left out or null.",
})]
QueryText = Annotated[str, AfterValidator(check_text)]
Documents = Annotated[list[DocumentIn], Field(min_length=1)]


@dataclass
class RerankCall:
    """What every dialect asks: rank ``documents`` (in their given order, read as the first stage) for ``query``."""

    query: str
    documents: list[Document]
    top_n: int | None = None
    documents_field: str = "documents"
    """What the dialect calls the list (TEI: ``texts``), for error messages."""


@dataclass
class RerankAnswer:
    """One request's scores (request order), the order answered (best first, cut to ``top_n``), and its cost."""

    scores: list[float]
    order: list[int]
    stats: QueryStats
    queue_ms: float = 0.0
    compute_ms: float = 0.0
    batch_size: int = 1

    @property
    def total_tokens(self) -> int:
        return self.stats.encoder_tokens + self.stats.reranker_input_tokens

    def headers(self) -> dict[str, str]:
        """Cost and timing for every dialect (TEI's style of ``x-*`` headers), since TEI's body has no room for them."""
        return {"x-encoder-tokens": str(self.stats.encoder_tokens), "x-reranker-tokens": str(self.stats.reranker_input_tokens),
                "x-cached-vectors": str(self.stats.extra.get("cached_vectors", 0)), "x-queue-ms": f"{self.queue_ms:.2f}",
                "x-compute-ms": f"{self.compute_ms:.2f}", "x-batch-size": str(self.batch_size)}


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    query: QueryText
    top_n: int | None = Field(None, ge=1, description="Answer only the best top_n documents (all by default).")


class CohereRequest(_Request):
    """Cohere v2 ``/v2/rerank``."""

    model: str | None = Field(None, description="The served model's name (/ready gives it), or none; another name is answered 404.")
    documents: Documents
    return_documents: bool = False

    def call(self) -> RerankCall:
        return RerankCall(self.query, self.documents, self.top_n)


class JinaRequest(_Request):
    """Jina / generic ``/v1/rerank``."""

    model: str | None = Field(None, description="The served model's name (/ready gives it), or none; another name is answered 404.")
    documents: Documents
    return_documents: bool = True

    def call(self) -> RerankCall:
        return RerankCall(self.query, self.documents, self.top_n)


class TeiRequest(BaseModel):
    """text-embeddings-inference ``/rerank`` (``truncate`` and ``truncation_direction`` are accepted and ignored:
    passages are cut at the model's ``max_passage_tokens``)."""

    model_config = ConfigDict(strict=True, extra="ignore")

    query: QueryText
    texts: Documents
    raw_scores: bool = False
    return_text: bool = False

    def call(self) -> RerankCall:
        return RerankCall(self.query, self.texts, documents_field="texts")


def cohere_response(answer: RerankAnswer, call: RerankCall, request_id: str, return_documents: bool) -> dict[str, Any]:
    results = [{"index": i, "relevance_score": answer.scores[i], **({"document": call.documents[i].shown()} if return_documents else {})}
               for i in answer.order]
    return {"id": request_id, "results": results,
            "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1},
                     "tokens": {"input_tokens": answer.total_tokens, "output_tokens": 0}}}


def jina_response(answer: RerankAnswer, call: RerankCall, model: str, return_documents: bool) -> dict[str, Any]:
    results = [{"index": i, "relevance_score": answer.scores[i], **({"document": call.documents[i].shown()} if return_documents else {})}
               for i in answer.order]
    usage = {"total_tokens": answer.total_tokens, "encoder_tokens": answer.stats.encoder_tokens,
             "reranker_input_tokens": answer.stats.reranker_input_tokens}
    return {"model": model, "usage": usage, "results": results}


def tei_response(answer: RerankAnswer, call: RerankCall, raw_scores: bool, return_text: bool) -> list[dict[str, Any]]:
    def score(value: float) -> float:
        return value if raw_scores else _sigmoid(value)

    return [{"index": i, "score": score(answer.scores[i]),
             **({"text": call.documents[i].text} if return_text else {})}
            for i in answer.order]


def _sigmoid(x: float) -> float:
    """Without overflow for large |x| (exp of a large positive number)."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)
