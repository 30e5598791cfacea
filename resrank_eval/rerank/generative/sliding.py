"""Back-to-front sliding windows over a ranking, shared by RankGPT- and FIRST-style rerankers.

Windows of one query are sequential (each sees the order the previous one left), but window k of
every query in a batch is independent, so a batch advances in lock-step: one model call per step.
In a batch of several queries, a query's latency is its share of each step's wall time; its FLOPs and
forward passes are those of its own windows, each a greedy generation of its answer (FIRST's one token: the prefill that
yields the logit row its order is read from). Every window leaves a trace line (what was sent, what came
back, the order made of it), which ``rerank`` writes to ``RUN.trace.jsonl``, as rank_llm keeps its history.
"""

from __future__ import annotations

import logging
import time
from abc import abstractmethod
from typing import Any

from ...errors import ArgumentError, ResrankError
from ...logs import progress
from ...types import Candidate, QueryStats, Ranking
from ..base import DEVICE, DTYPE, MODEL, Option, Reranked, Reranker
from .backend import ChatBackend, Generation
from .permutation import check_window, window_schedule
from .prompt import Message
from .protocol import PROTOCOLS, RANK_LLM_CONTEXT, check_protocol

log = logging.getLogger(__name__)

WINDOW_OPTIONS = (
    Option("window", 20, "Passages per LLM call.", int),
    Option("stride", 10, "Window step, back to front.", int),
    Option("max_words", 300, "Words kept per passage.", int),
    Option("protocol", "rankgpt", "Prompt bytes: rankgpt (the original RankGPT code's) or rank_llm (rank_llm 0.26.0's templates, "
           "ftfy, [n] -> (n), windows fitted into --context-size); docs/generative.md says which published numbers each matches.",
           tuple(PROTOCOLS)),
    Option("context_size", RANK_LLM_CONTEXT, "Tokens (prompt + answer) a --protocol rank_llm window is fitted into.", int),
)


Window = tuple[str, list[str]]
"""One window to order: the query and its passages' texts, in current rank order."""


WindowResult = tuple[list[int], int, list[Message], Generation]
"""How a window was reordered (0-based positions, best first), how many ids the model named, the conversation
sent, and the answer read with its cost (FIRST: the order its logits give, written as an answer)."""


class SlidingWindowReranker(Reranker):
    """Reranks by repeatedly ordering windows with a chat model; subclasses say how one batch of windows is ordered.

    The ``backend`` says where the model runs (``device``, ``dtype`` and ``shape`` go into the stats), its answer budget
    and the ``sampling`` settings the protocol record names.
    """

    options = (MODEL, DEVICE, DTYPE, *WINDOW_OPTIONS)

    @classmethod
    def check_options(cls, values: dict[str, Any]) -> None:
        from ...model.check import check_lm_source

        try:
            check_window(values["window"], values["stride"])
        except ValueError as exc:
            raise ArgumentError(f"`window`/`stride`: {exc}") from None
        if values["max_words"] < 1:
            raise ArgumentError(f"`max_words` must be at least 1, got {values['max_words']}")
        check_protocol(values["protocol"])
        if values["context_size"] < 1:
            raise ArgumentError(f"`context_size` must be at least 1, got {values['context_size']}")
        if not values.get("api_base"):
            check_lm_source(values["model"])

    def __init__(self, backend: ChatBackend, window: int = 20, stride: int = 10, max_words: int = 300, protocol: str = "rankgpt",
                 context_size: int = RANK_LLM_CONTEXT) -> None:
        check_window(window, stride)
        check_protocol(protocol)
        self.backend = backend
        self.window = window
        self.stride = stride
        self.max_words = max_words
        self.protocol = protocol
        self.context_size = context_size

    @abstractmethod
    def rank_windows(self, windows: list[Window]) -> list[WindowResult]:
        """Order each window; called once per lock-step of a batch."""

    def protocol_record(self) -> dict[str, Any]:
        """What a run's summary and the report say about its prompts, recorded with every query: the protocol, the version
        of the code whose bytes it reproduces, the answer budget and the settings that shape what is sent."""
        return {"name": self.protocol, "version": PROTOCOLS[self.protocol], "answer_tokens": self.backend.max_new_tokens,
                **{key: getattr(self.backend, key) for key in self.backend.sampling},
                **({"context_size": self.context_size} if self.protocol == "rank_llm" else {})}

    def rerank_batch(self, batch: list[Ranking]) -> list[Reranked]:
        orders = [list(r.candidates) for r in batch]
        for ranking in batch:
            for cand in ranking.candidates:
                if cand.text is None:
                    raise ResrankError(f"query {ranking.query.qid}: candidate {cand.docid} has no text; {self.name} reads passages")
        schedules = [window_schedule(len(order), self.window, self.stride) for order in orders]
        per_window: list[list[dict[str, Any]]] = [[] for _ in batch]  # per query, its windows' stats and trace lines
        traces: list[list[dict[str, Any]]] = [[] for _ in batch]
        shares = [0.0] * len(batch)
        steps = max((len(s) for s in schedules), default=0)
        for step in progress(range(steps), desc=f"{self.name} windows", unit="window"):
            active = [j for j, s in enumerate(schedules) if step < len(s)]
            spans = [schedules[j][step] for j in active]
            windows = [(batch[j].query.text, [c.text or "" for c in orders[j][a:b]]) for j, (a, b) in zip(active, spans)]
            start = time.perf_counter()
            outcomes = self.rank_windows(windows)
            step_ms = (time.perf_counter() - start) * 1000
            for j, (a, b), (order, named, messages, reply) in zip(active, spans, outcomes):
                segment = orders[j][a:b]
                orders[j][a:b] = [segment[k] for k in order]
                shares[j] += step_ms / len(active)
                per_window[j].append({"start": a, "end": b, "named": named, "input_tokens": reply.input_tokens,
                                      "generated_tokens": reply.generated_tokens, "forward_passes": reply.forward_passes,
                                      "ms": step_ms})
                # ``permutation`` is the new order as the prompt's 1-based positions
                traces[j].append({"qid": batch[j].query.qid, "window": [a, b], "docids": [c.docid for c in segment],
                                  "messages": messages, "answer": reply.text, "permutation": [k + 1 for k in order],
                                  "prompt_tokens": reply.input_tokens, "completion_tokens": reply.generated_tokens})
                log.debug("%s query %s, window %d-%d: %d ids named, %d input and %d generated tokens, %.0f ms", self.name,
                          batch[j].query.qid, a, b, named, reply.input_tokens, reply.generated_tokens, step_ms)
        return [self._result(*parts) for parts in zip(batch, orders, per_window, traces, shares)]

    def _result(self, ranking: Ranking, order: list[Candidate], per_window: list[dict[str, Any]], trace: list[dict[str, Any]],
                ms: float) -> Reranked:
        """Scores ``n, n-1, ..., 1``: strictly decreasing, so the file order is the ranking. Windows whose answer named no
        passage kept their order, which a run would otherwise pass off as reranked: warned about."""
        unnamed = [line["answer"] for window, line in zip(per_window, trace) if window["named"] == 0]
        if unnamed:
            log.warning("%s query %s: %d of %d windows named no passage, so they kept their order (first such answer: %r)",
                        self.name, ranking.query.qid, len(unnamed), len(per_window), unnamed[0][:200])
        n = len(order)
        candidates = [Candidate(c.docid, float(n - i)) for i, c in enumerate(order)]
        flops: dict[str, float] = {}
        if self.backend.shape is not None:
            costs = [self.backend.shape.generation(w["input_tokens"], w["generated_tokens"]) for w in per_window]
            flops = {"encoder": 0, "prefill": sum(c[0] for c in costs), "decode": sum(c[1] for c in costs)}
        stats = QueryStats(
            qid=ranking.query.qid,
            reranker=self.name,
            candidates=n,
            reranker_input_tokens=sum(w["input_tokens"] for w in per_window),
            generated_tokens=sum(w["generated_tokens"] for w in per_window),
            forward_passes=sum(w["forward_passes"] for w in per_window),
            rerank_ms=ms,
            total_ms=ms,
            device=self.backend.device,
            dtype=self.backend.dtype,
            flops=flops,
            extra={"window": self.window, "stride": self.stride, "max_words": self.max_words, "protocol": self.protocol_record(),
                   "windows": per_window},
        )
        return Reranked(candidates, stats, trace)
