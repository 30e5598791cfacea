"""Time the ResRank forward for a top-N list, the model's scoring path vs the plain reference, against the hardware floors.

Random weights (latency does not depend on their values), built from a config: ``--shape 4b`` is
Qwen3-4B (reranker) with a Qwen3-Embedding-4B-shaped encoder, for a GPU; ``--shape tiny`` for a CPU.
``path`` is :class:`ResRankModel`'s one scoring path, what ``resrank-eval rerank`` runs (on CUDA: prefix
reuse, buckets, CUDA graphs captured or refused with a reason); ``reference`` the plain computation the
equivalence tests hold it to (``tests/reference.py``: whole prompts, one masked forward, no graphs; what
the eager engine was). Online encoding likewise: the encoder's inference path vs its masked forward
without graphs. With ``--tokenizer`` (SmolLM2's) and ``--chat`` the prompt is ResRank-mini's (chat
template, one placeholder per passage). Floors: weight bytes / memory bandwidth and FLOPs / matmul peak,
both measured on the device unless given. Every case is isolated: a failure prints its traceback and the
next case runs; the JSON is rewritten after each.

    python scripts/bench_resrank.py --shape 4b --tokenizer DIR --chat --batch-sizes 1,32,128 --encode
    python scripts/bench_resrank.py --smoke          # seconds on a CPU (the test suite runs it)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from resrank_eval.model import Encoder, ResRankConfig, ResRankModel, Scoring
from resrank_eval.model.loading import resolve_device, resolve_dtype
from resrank_eval.model.prompt import reserve_tokens

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.reference import reference  # noqa: E402 - the test suite's plain computation, from the checkout

SHAPES = {
    "4b": dict(vocab_size=151936, hidden_size=2560, num_hidden_layers=36, num_attention_heads=32,
               num_key_value_heads=8, head_dim=128, intermediate_size=9728, tie_word_embeddings=True,
               rope_theta=1e6, max_position_embeddings=40960),
    "tiny": dict(vocab_size=1024, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, head_dim=16, intermediate_size=128, tie_word_embeddings=True,
                 max_position_embeddings=4096),
}
QUERY = "what are the health effects of vitamin d deficiency in northern countries during winter"


@dataclass
class Floors:
    """Device limits the timings are compared with."""

    tflops: float
    bandwidth_gbs: float

    def seconds(self, flops: float, bytes_read: float) -> float:
        return max(flops / (self.tflops * 1e12), bytes_read / (self.bandwidth_gbs * 1e9))


def load_tokenizer(folder: str | None) -> object:
    if folder is None:
        from tests.tiny_models import train_bpe_tokenizer

        return train_bpe_tokenizer(vocab_size=512)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def build_model(shape: str, device: torch.device, dtype: torch.dtype, candidates: int, compact: bool,
                tokenizer_dir: str | None = None, chat: bool = False) -> ResRankModel:
    """Qwen3-shaped encoder and reranker with random weights; same hidden size, so no projector."""
    from transformers import AutoModel, Qwen3Config

    tokenizer = load_tokenizer(tokenizer_dir)
    config = ResRankConfig(encoder="random", reranker="random", pooling="last", projector="none",
                           max_candidates_per_pass=candidates, max_passage_tokens=512, chat_template=chat,
                           passage_template="{placeholder}" if compact else "[{index}] {placeholder}",
                           passage_separator="" if compact else "\n")
    reserve_tokens(tokenizer, config)
    models = []
    for _ in range(2):
        with torch.device(device):
            models.append(AutoModel.from_config(Qwen3Config(**{**SHAPES[shape], "vocab_size": max(SHAPES[shape]["vocab_size"],
                                                                                                 len(tokenizer))}), dtype=dtype).eval())
    encoder = Encoder(models[0], tokenizer, "last", True, 512).eval()
    return ResRankModel(config, encoder, models[1], tokenizer).eval()


def timed(fn: Callable[[], object], device: torch.device, warmup: int, iters: int, budget_s: float = 3.0) -> float:
    """Median seconds per call (synchronised); fewer iterations (>= 3) when one call is slow."""
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    while len(samples) < iters and (len(samples) < 3 or sum(samples) < budget_s):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        samples.append(time.perf_counter() - start)
    return sorted(samples)[len(samples) // 2]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_floors(device: torch.device, dtype: torch.dtype) -> Floors:
    """Matmul peak and copy bandwidth, measured in a fraction of a second."""
    n = 8192 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=dtype)
    matmul = timed(lambda: a @ a, device, 2, 5)
    big = torch.empty(256 * 2**20 if device.type == "cuda" else 64 * 2**20, dtype=torch.uint8, device=device)
    copy = timed(lambda: big.clone(), device, 2, 5)
    return Floors(2 * n**3 / matmul / 1e12, 2 * big.numel() / copy / 1e9)


def forward_cost(model: torch.nn.Module, tokens: int, batch: int) -> tuple[float, float]:
    """(FLOPs, weight bytes) of one forward over ``batch`` sequences of ``tokens`` (embedding excluded)."""
    config = model.config
    embedding = model.get_input_embeddings().weight
    body = sum(p.numel() for p in model.parameters()) - embedding.numel()
    attention = 2 * config.num_hidden_layers * config.num_attention_heads * config.head_dim * tokens * tokens
    flops = batch * (2 * body * tokens + attention)
    return flops, body * embedding.element_size()


def drift(got: torch.Tensor, want: torch.Tensor) -> dict[str, float]:
    """How far the path's scores are from the reference's: max |diff| and mean top-10 overlap."""
    top = min(10, got.shape[1])
    overlap = [len(set(a.topk(top).indices.tolist()) & set(b.topk(top).indices.tolist())) / top for a, b in zip(got, want)]
    return {"max_abs_diff": (got - want).abs().max().item(), "top10_overlap": sum(overlap) / len(overlap)}


class Bench:
    """Runs named cases in isolation and keeps the results (and failures) in one JSON document."""

    def __init__(self, args: argparse.Namespace, meta: dict[str, object]) -> None:
        self.args, self.started = args, time.perf_counter()
        self.doc: dict[str, object] = {"meta": meta, "results": [], "checks": {}, "failures": [], "skipped": []}

    def case(self, name: str, fn: Callable[[], None]) -> None:
        if time.perf_counter() - self.started > self.args.time_budget:
            print(f"SKIPPED {name}: past the {self.args.time_budget:.0f} s budget")
            self.doc["skipped"].append(name)  # type: ignore[union-attr]
        else:
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - one broken case must not hide the others
                print(f"FAILED {name}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
                self.doc["failures"].append({"case": name, "error": f"{type(exc).__name__}: {exc}"})  # type: ignore[union-attr]
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
        self.save()

    def save(self) -> None:
        if self.args.json:
            with open(self.args.json, "w", encoding="utf-8") as handle:
                json.dump(self.doc, handle, indent=2)


def run(args: argparse.Namespace) -> list[dict[str, object]]:
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    torch.manual_seed(0)
    model = build_model(args.shape, device, dtype, args.candidates, args.compact_prompt, args.tokenizer, args.chat)
    floors = Floors(args.peak_tflops, args.bandwidth_gbs) if args.peak_tflops and args.bandwidth_gbs \
        else measure_floors(device, dtype)
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    tokens = len(model.prompts.build(QUERY, args.candidates).ids)
    model.scoring = path = Scoring(compile=args.compile)
    print(f"device {device} ({card}), {dtype}, shape {args.shape}, {args.candidates} candidates, prompt {tokens} tokens, "
          f"floors {floors.tflops:.3g} TFLOP/s {floors.bandwidth_gbs:.3g} GB/s, commit {os.environ.get('RESRANK_COMMIT', '?')}")
    bench = Bench(args, {"device": card, "dtype": str(dtype), "shape": args.shape, "candidates": args.candidates,
                         "prompt_tokens": tokens, "torch": torch.__version__, "commit": os.environ.get("RESRANK_COMMIT"),
                         "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                         "floors": {"tflops": floors.tflops, "bandwidth_gbs": floors.bandwidth_gbs}})
    results: list[dict[str, object]] = bench.doc["results"]  # type: ignore[assignment]
    scorers = {"reference": lambda *a: reference(model, *a), "path": model}

    def report(name: str, seconds: float, batch: int, flops: float, bytes_read: float) -> None:
        floor = floors.seconds(flops, bytes_read)
        row = {"case": name, "batch": batch, "ms": seconds * 1000, "ms_per_query": seconds * 1000 / batch,
               "queries_per_s": batch / seconds, "floor_ms": floor * 1000, "x_floor": seconds / floor}
        results.append(row)
        print(f"{name:<38} batch {batch:>3}  {row['ms']:9.2f} ms  {row['ms_per_query']:8.2f} ms/query  "
              f"{row['queries_per_s']:9.1f} q/s  floor {row['floor_ms']:8.3f} ms  x{row['x_floor']:.1f}")

    vectors = torch.nn.functional.normalize(torch.randn(args.candidates, model.encoder.dim, device=device), dim=-1)
    with torch.inference_mode():
        for batch in args.batch_sizes:
            for variant in args.variants:
                def cached(variant: str = variant, batch: int = batch) -> None:
                    queries, lists = [QUERY] * batch, [vectors] * batch
                    seconds = timed(lambda: scorers[variant](queries, lists), device, args.warmup, args.iters)
                    report(f"cached vectors, {variant}", seconds, batch, *forward_cost(model.reranker, tokens, batch))
                bench.case(f"cached {variant} batch {batch}", cached)

        def check_drift() -> None:
            for batch in sorted({1, max(args.batch_sizes)}):
                lists = [torch.nn.functional.normalize(torch.randn_like(vectors), dim=-1) for _ in range(batch)]
                queries = [f"{QUERY} {i}" for i in range(batch)]
                found = drift(model(queries, lists).scores, reference(model, queries, lists).scores)
                bench.doc["checks"][f"path vs reference, batch {batch}"] = found  # type: ignore[index]
                print(f"path vs reference scores, batch {batch}: max |diff| {found['max_abs_diff']:.3g}, "
                      f"top-10 overlap {found['top10_overlap']:.3f}")
        bench.case("drift", check_drift)

        def path_state() -> None:
            graphs, encoder = path.graphs, model.encoder.graphs
            state = {"graphs_captured": graphs.captured() if graphs else 0,
                     "graph_fallbacks": {str(k): v for k, v in (graphs.reasons if graphs else {}).items()},
                     "encoder_graphs_captured": encoder.captured() if encoder else 0,
                     "encoder_graph_fallbacks": {str(k): v for k, v in (encoder.reasons if encoder else {}).items()},
                     "prefix_tokens": [len(p) for p in path.prefixes.values() if p is not None], "prefix_off": path.prefix_off}
            bench.doc["checks"]["path"] = state  # type: ignore[index]
            print(f"path: {state}")

        if args.encode:
            ids = [torch.randint(10, 500, (args.passage_tokens,)).tolist() for _ in range(args.candidates)]
            encoder = model.encoder
            flops, weights = forward_cost(encoder.model, args.passage_tokens, args.candidates)
            rerank_flops, _ = forward_cost(model.reranker, tokens, 1)

            def embed(variant: str) -> torch.Tensor:
                """The encoder's inference path, or (reference) its masked forward without graphs."""
                saved = encoder.unmasked, encoder.use_graphs
                if variant == "reference":
                    encoder.unmasked, encoder.use_graphs = False, False
                try:
                    return encoder.embed(ids)
                finally:
                    encoder.unmasked, encoder.use_graphs = saved

            for variant in args.variants:
                def encode(variant: str = variant) -> None:
                    seconds = timed(lambda: embed(variant), device, args.warmup, args.iters)
                    report(f"encode {args.candidates}x{args.passage_tokens} tok, {variant}", seconds, 1, flops, weights)
                    seconds = timed(lambda: scorers[variant]([QUERY], [embed(variant)]), device, args.warmup, args.iters)
                    report(f"online encode + rerank, {variant}", seconds, 1, flops + rerank_flops, 2 * weights)
                bench.case(f"online {variant}", encode)
        bench.case("path state", path_state)
        for name, options in (("path, no prefix reuse", {"prefix": False}), ("path, no CUDA graphs", {"graphs": False})):
            def ablation(name: str = name, options: dict = options) -> None:
                model.scoring = Scoring(**options)
                try:
                    seconds = timed(lambda: model([QUERY], [vectors]), device, args.warmup, args.iters)
                finally:
                    model.scoring = path
                report(f"cached vectors, {name}", seconds, 1, *forward_cost(model.reranker, tokens, 1))
            if "path" in args.variants and device.type == "cuda":
                bench.case(name, ablation)
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), default=None, help="default: 4b on GPU, tiny on CPU")
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None, help="default: bfloat16 on GPU, float32 on CPU")
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--batch-sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1, 32])
    parser.add_argument("--variants", type=lambda s: s.split(","), default=["reference", "path"], help="reference,path")
    parser.add_argument("--passage-tokens", type=int, default=128, help="passage length for --encode")
    parser.add_argument("--encode", action="store_true", help="also time online encoding of the candidates")
    parser.add_argument("--compile", default=None, metavar="MODE", help="torch.compile the path's forward with MODE")
    parser.add_argument("--tokenizer", default=None, help="tokenizer folder (default: a 512-token BPE trained here)")
    parser.add_argument("--chat", action="store_true", help="wrap the prompt in the tokenizer's chat template")
    parser.add_argument("--compact-prompt", action="store_true", help="placeholders only, no [i] labels")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--time-budget", type=float, default=float("inf"), help="skip cases that would start after this many s")
    parser.add_argument("--peak-tflops", type=float, default=None, help="skip measuring: matmul peak")
    parser.add_argument("--bandwidth-gbs", type=float, default=None, help="skip measuring: memory bandwidth")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--smoke", action="store_true", help="tiny CPU run in seconds (the test suite's form)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.device, args.shape, args.candidates, args.batch_sizes = "cpu", "tiny", 20, [1, 4]
        args.passage_tokens, args.encode, args.warmup, args.iters = 16, True, 1, 3
    if args.shape is None:
        args.shape = "4b" if torch.cuda.is_available() and args.device != "cpu" else "tiny"
    return args


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    run(parse_args(argv))


if __name__ == "__main__":
    main()
