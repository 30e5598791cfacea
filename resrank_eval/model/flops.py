"""Hardware-independent cost: the FLOPs a forward pass performs, from the model's shapes and a query's tokens.

The convention (the one ``torch.utils.flop_counter.FlopCounterMode`` counts on eager attention, and
the tests check against it and by hand): every matrix multiply costs 2 FLOPs per multiply-add --
the linear maps of every layer for each token, the attention scores and the attention-weighted sum
for each (query position, key) pair the dense kernel computes (a causal prefill of L tokens computes
L x L of them, a decode step 1 x context), a pooler once per sequence, and the LM head once per logit
row actually produced. Norms, activations, softmax, residual adds, cosine scoring and embedding
look-ups are not counted (they are O(tokens x width), below 1 % here). Padding is not counted either:
a query's FLOPs are those of running it alone, so they do not depend on the batch it shared.

"Queries per PetaFLOP" (QPP) and "metric per PetaFLOP" (RPP) follow Peng et al., arXiv 2507.06223.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PETA = 1e15


@dataclass(frozen=True)
class Shape:
    """What a transformer's forward FLOPs depend on, read off the module itself.

    ``linear``: multiply-adds per token through all layers' linear maps (sum of in x out);
    ``attention``: per layer, query heads x head dim (the width of Q K^T and of A V);
    ``per_sequence``: multiply-adds run once per sequence (BERT's pooler);
    ``head``: multiply-adds per logit row (the LM head; 0 for a model that returns hidden states).
    """

    layers: int
    linear: int
    attention: int
    per_sequence: int = 0
    head: int = 0

    @classmethod
    def of(cls, model: Any) -> Shape:
        """The shape of a Hugging Face model (``AutoModel`` or ``AutoModelForCausalLM``), after any layer cut."""
        from torch import nn

        config = model.config
        output = model.get_output_embeddings()
        head = output.in_features * output.out_features if isinstance(output, nn.Linear) else 0
        linear = per_sequence = 0
        for name, module in model.named_modules():
            if isinstance(module, nn.Linear) and module is not output:
                size = module.in_features * module.out_features
                if "pooler" in name.split("."):
                    per_sequence += size
                else:
                    linear += size
        heads = int(config.num_attention_heads)
        head_dim = getattr(config, "head_dim", None) or int(config.hidden_size) // heads
        return cls(int(config.num_hidden_layers), linear, heads * int(head_dim), per_sequence, head)

    def forward(self, new: int, past: int = 0, logits: int = 0) -> int:
        """One forward over ``new`` tokens after ``past`` cached ones, each attending to all ``past + new``; ``logits`` rows."""
        if new <= 0:
            return 0
        attention = 4 * self.layers * self.attention * new * (past + new)
        return 2 * self.linear * new + attention + 2 * self.per_sequence + 2 * self.head * logits

    def generation(self, prompt: int, generated: int) -> tuple[int, int]:
        """(prefill, decode) FLOPs of greedy generation: the prompt's forward makes the first token, each later
        token one single-token step over the cache, and every forward produces one logit row."""
        prefill = self.forward(prompt, logits=1)
        decode = sum(self.forward(1, past=prompt + t - 1, logits=1) for t in range(1, generated))
        return prefill, decode


def linear_flops(module: Any) -> int:
    """FLOPs of one input vector through every linear map of a small module (ResRank's projector)."""
    from torch import nn

    return sum(2 * m.in_features * m.out_features for m in module.modules() if isinstance(m, nn.Linear))


def flops_summary(per_query: list[dict[str, float]]) -> dict[str, float | None]:
    """Mean FLOPs per query (total and per part) and queries per PetaFLOP; None when any query lacks a count."""
    parts = ("encoder", "prefill", "decode")
    if not per_query or any(not flops for flops in per_query):
        return {"flops_per_query": None, "queries_per_pflop": None, **{f"{p}_flops_per_query": None for p in parts}}
    n = len(per_query)
    means = {p: sum(f.get(p, 0.0) for f in per_query) / n for p in parts}
    total = sum(means.values())
    return {"flops_per_query": total, "queries_per_pflop": PETA / total if total > 0 else None,
            **{f"{p}_flops_per_query": v for p, v in means.items()}}
