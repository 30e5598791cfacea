"""The plain computation of ResRank scores, which the model's one path is held to (the equivalence tests).

The whole prompt rendered and tokenized per pass (:meth:`Prompts.build`), every row right-padded with an
attention mask in one forward, placeholders' embeddings replaced with ``index_put``: no prompt pieces, no
prefix cache, no length sorting, buckets or graphs. It shares with the path only the model's maths
(``slot_inputs``, ``residual``, ``fused``) and its bookkeeping (passes, first-stage levels, the output).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

from resrank_eval.model import ResRankModel, ScoreOutput
from resrank_eval.model.scoring import _collect, _rows


def reference(model: ResRankModel, queries: Sequence[str], passage_vectors: Sequence[torch.Tensor],
              first_stage: Sequence[torch.Tensor] | None = None) -> ScoreOutput:
    vectors = list(passage_vectors)
    rows = _rows(model, vectors, first_stage)
    device, dtype = model.device, model.dtype
    injected = model.injector(torch.cat([row.vectors for row in rows]).to(device, dtype))
    prompts = [model.prompts.build(queries[row.query], len(row.vectors)) for row in rows]
    row_index = torch.tensor([r for r, p in enumerate(prompts) for _ in p.slots], device=device)
    slot_index = torch.tensor([s for p in prompts for s in p.slots], device=device)
    positions = torch.tensor([i for row in rows for i in range(len(row.vectors))], device=device)
    flat_levels = torch.cat([row.levels for row in rows]).to(device, dtype) if model.config.reads_first_stage else None
    lengths = [len(p.ids) for p in prompts]
    ids = torch.full((len(prompts), max(lengths)), model.pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, prompt in enumerate(prompts):
        ids[row, :len(prompt.ids)] = torch.tensor(prompt.ids)
        mask[row, :len(prompt.ids)] = 1
    embeds = model.reranker.get_input_embeddings()(ids.to(device))
    embeds = embeds.index_put((row_index, slot_index), model.slot_inputs(injected, positions, flat_levels).to(embeds.dtype))
    hidden = model.reranker(inputs_embeds=embeds, attention_mask=mask.to(device), use_cache=False).last_hidden_state
    last = hidden[torch.arange(len(prompts), device=device), torch.tensor(lengths, device=device) - 1]
    if model.config.query_residual:
        query_vectors = model.injector(model.encode(queries, queries=True).to(device, dtype))
        last = model.residual(last, query_vectors[torch.tensor([row.query for row in rows], device=device)])
    cosine = F.cosine_similarity(last[row_index].float(), model.residual(hidden[row_index, slot_index], injected).float(), dim=-1)
    return _collect(rows, prompts, model.fused(cosine, flat_levels) * model.config.score_scale, len(queries))
