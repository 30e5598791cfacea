"""Local Hugging Face causal LMs: loading (including the bundled SmolLM2 GGUF), chat encoding, generation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import ResrankError
from ...model.flops import Shape
from .backend import ChatBackend, Generation
from .prompt import Message

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def load_causal_lm(model: str, device: str | None = None, dtype: str | None = None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A chat LM by HF id or folder, ``.gguf`` file, or ``smollm2`` (the offline SmolLM2-135M-Instruct); eval mode.

    Sources, device and dtype defaults (bf16 on GPU, fp32 on CPU) are the model package's.
    """
    from ...model.loading import load_model, load_tokenizer, resolve_device, resolve_dtype
    from ...model.sources import resolve_source

    source = resolve_source(model)
    target = resolve_device(device)
    return load_model(source, target, resolve_dtype(dtype, target), causal_lm=True), load_tokenizer(source)


def chat_texts(tokenizer: PreTrainedTokenizerBase, conversations: list[list[Message]], thinking: str = "off") -> list[str]:
    """Each conversation through the model's chat template, opened for the assistant's answer.

    ``thinking`` (:data:`~.backend.THINKING`) reaches a template that reads ``enable_thinking`` (Qwen3's);
    other templates are rendered as they are.
    """
    if tokenizer.chat_template is None:
        raise ResrankError("the model's tokenizer has no chat template; RankGPT-style reranking needs a chat model")
    switch = {"enable_thinking": thinking == "on"} if thinking != "default" and "enable_thinking" in str(tokenizer.chat_template) else {}
    return [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True, **switch) for c in conversations]


def opened_thinking(text: str, conversation: list[Message]) -> str:
    """The ``<think>`` block the chat template leaves open after the last turn (Qwen3-Thinking-2507's and DeepSeek-R1's open
    the answer with ``<think>\\n``), or "". The answer is read as following it, so that thinking cut off before ``</think>``
    names nothing (:func:`~.permutation.ranking_part`) whether the template or the model wrote the ``<think>``."""
    last = conversation[-1]["content"]
    end = text.rfind(last)
    after = text[end + len(last):] if end >= 0 else ""  # the template's own text: a <think> in a passage opens nothing
    start = after.rfind("<think>")
    return after[start:] if start > after.rfind("</think>") else ""


def encode_texts(tokenizer: PreTrainedTokenizerBase, texts: list[str], device: torch.device) -> dict[str, torch.Tensor]:
    """Tokenise rendered prompts, left-padded, onto ``device``.

    Left padding keeps every row's last prompt token in the last column, which both generation and
    FIRST's next-token logits rely on.
    """
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    batch = tokenizer(texts, add_special_tokens=False, padding=True, padding_side="left", return_tensors="pt")
    return {key: batch[key].to(device) for key in ("input_ids", "attention_mask")}


class HFChatBackend(ChatBackend):
    """Greedy ``generate`` on a local model; ``min_new_tokens`` forces fixed-length answers for benchmarks."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, max_new_tokens: int, min_new_tokens: int = 0,
                 thinking: str = "off") -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.min_new_tokens = min_new_tokens
        self.thinking = thinking
        self.device = str(model.device)
        self.dtype = str(model.dtype).removeprefix("torch.")
        self.shape = Shape.of(model)
        eos = model.generation_config.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        self.stop_ids = set(eos if isinstance(eos, list) else [eos])

    def generate(self, conversations: list[list[Message]]) -> list[Generation]:
        import torch

        texts = chat_texts(self.tokenizer, conversations, self.thinking)
        batch = encode_texts(self.tokenizer, texts, self.model.device)
        with torch.inference_mode():
            output = self.model.generate(
                **batch,
                do_sample=False,
                max_new_tokens=self.max_new_tokens,
                min_new_tokens=self.min_new_tokens,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        new = output[:, batch["input_ids"].shape[1] :].tolist()
        prompt_lengths = batch["attention_mask"].sum(-1).tolist()
        results = []
        for tokens, prompt_length, prompt, conversation in zip(new, prompt_lengths, texts, conversations):
            # up to and including the first stop token; the rest of the row is padding, and the steps that made it are the
            # other rows' passes: alone, each token costs one forward (the prefill makes the first), as for a server
            length = next((i + 1 for i, token in enumerate(tokens) if token in self.stop_ids), len(tokens))
            text = opened_thinking(prompt, conversation) + self.tokenizer.decode(tokens[:length], skip_special_tokens=True)
            results.append(Generation(text, int(prompt_length), length, length))
        return results
