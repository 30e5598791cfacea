"""Time the ResRank forward for a top-N list at any model shape, against the hardware floors.

Random weights (latency does not depend on their values), built from a config: ``--shape 4b`` is
Qwen3-4B (reranker) with a Qwen3-Embedding-4B-shaped encoder, for a GPU; ``--shape tiny`` for a CPU.
Runs through :class:`ResRankModel` itself (tokenization, injection, one forward, cosine), so what
it times is what ``resrank-eval rerank`` runs. Floors: weight bytes / memory bandwidth and
FLOPs / matmul peak, both measured on the device unless given.

    python scripts/bench_resrank.py --shape 4b --batch-sizes 1,32 --encode --cuda-graph
    python scripts/bench_resrank.py --smoke          # seconds on a CPU (the test suite runs it)
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from resrank_eval.model import Encoder, ResRankConfig, ResRankModel
from resrank_eval.model.loading import resolve_device, resolve_dtype
from resrank_eval.model.prompt import reserve_tokens
from resrank_eval.model.tokenizers import train_bpe_tokenizer

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


def build_model(shape: str, device: torch.device, dtype: torch.dtype, candidates: int, compact: bool) -> ResRankModel:
    """Qwen3-shaped encoder and reranker with random weights; same hidden size, so no projector."""
    from transformers import AutoModel, Qwen3Config

    tokenizer = train_bpe_tokenizer(vocab_size=512)
    config = ResRankConfig(encoder="random", reranker="random", pooling="last", projector="none",
                           max_candidates_per_pass=candidates, max_passage_tokens=512, chat_template=False,
                           passage_template="{placeholder}" if compact else "[{index}] {placeholder}",
                           passage_separator="" if compact else "\n")
    reserve_tokens(tokenizer, config)
    models = []
    for _ in range(2):
        with torch.device(device):
            models.append(AutoModel.from_config(Qwen3Config(**SHAPES[shape]), dtype=dtype).eval())
    encoder = Encoder(models[0], tokenizer, "last", True, 512)
    return ResRankModel(config, encoder, models[1], tokenizer).eval()


def timed(fn: Callable[[], object], device: torch.device, warmup: int, iters: int) -> float:
    """Median seconds per call, synchronising the GPU around each call."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(iters):
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


def cuda_graph_scorer(model: ResRankModel, vectors: torch.Tensor) -> Callable[[], torch.Tensor]:
    """Batch-1 forward captured once (ids, slots and shapes fixed); a replay per query."""
    prompt = model.prompts.build(QUERY, vectors.shape[0])
    ids = torch.tensor([prompt.ids], device=model.device)
    slots = torch.tensor(prompt.slots, device=model.device)
    static_vectors = vectors.to(model.dtype).clone()

    def core() -> torch.Tensor:
        embeds = model.reranker.get_input_embeddings()(ids)
        injected = model.injector(static_vectors)
        embeds = embeds.index_put((torch.zeros_like(slots), slots), injected)
        hidden = model.reranker(inputs_embeds=embeds, use_cache=False).last_hidden_state[0]
        return torch.nn.functional.cosine_similarity(hidden[-1:].float(), (hidden[slots] + injected).float(), dim=-1)

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            core()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        output = core()

    def replay() -> torch.Tensor:
        graph.replay()
        return output

    return replay


def run(args: argparse.Namespace) -> list[dict[str, object]]:
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    torch.manual_seed(0)
    model = build_model(args.shape, device, dtype, args.candidates, args.compact_prompt)
    if args.compile:
        model.reranker = torch.compile(model.reranker, mode=args.compile)
    floors = Floors(args.peak_tflops, args.bandwidth_gbs) if args.peak_tflops and args.bandwidth_gbs \
        else measure_floors(device, dtype)
    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else platform.processor() or 'cpu'}), "
          f"{dtype}, shape {args.shape}, {args.candidates} candidates, floors {floors.tflops:.3g} TFLOP/s "
          f"{floors.bandwidth_gbs:.3g} GB/s")
    vectors = torch.nn.functional.normalize(torch.randn(args.candidates, model.encoder.dim, device=device), dim=-1)
    tokens = len(model.prompts.build(QUERY, args.candidates).ids)
    results: list[dict[str, object]] = []

    def report(name: str, seconds: float, batch: int, flops: float, bytes_read: float) -> None:
        floor = floors.seconds(flops, bytes_read)
        row = {"case": name, "batch": batch, "ms": seconds * 1000, "ms_per_query": seconds * 1000 / batch,
               "queries_per_s": batch / seconds, "floor_ms": floor * 1000, "x_floor": seconds / floor}
        results.append(row)
        print(f"{name:<28} batch {batch:>3}  {row['ms']:9.2f} ms  {row['ms_per_query']:8.2f} ms/query  "
              f"{row['queries_per_s']:9.1f} q/s  floor {row['floor_ms']:8.3f} ms  x{row['x_floor']:.1f}")

    with torch.inference_mode():
        for batch in args.batch_sizes:
            queries, lists = [QUERY] * batch, [vectors] * batch
            seconds = timed(lambda queries=queries, lists=lists: model(queries, lists), device, args.warmup, args.iters)
            report(f"cached vectors ({tokens} tok)", seconds, batch, *forward_cost(model.reranker, tokens, batch))
        if args.encode:
            ids = [torch.randint(10, 500, (args.passage_tokens,)).tolist() for _ in range(args.candidates)]
            flops, weights = forward_cost(model.encoder.model, args.passage_tokens, args.candidates)
            seconds = timed(lambda: model.encoder.embed(ids), device, args.warmup, args.iters)
            report(f"encode {args.candidates}x{args.passage_tokens} tok", seconds, 1, flops, weights)
            seconds = timed(lambda: model([QUERY], [model.encoder.embed(ids)]), device, args.warmup, args.iters)
            rerank_flops, _ = forward_cost(model.reranker, tokens, 1)
            report("online encode + rerank", seconds, 1, flops + rerank_flops, 2 * weights)
        if args.cuda_graph and device.type == "cuda":
            replay = cuda_graph_scorer(model, vectors)
            seconds = timed(replay, device, args.warmup, args.iters)
            report("cached, CUDA graph", seconds, 1, *forward_cost(model.reranker, tokens, 1))
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), default=None, help="default: 4b on GPU, tiny on CPU")
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None, help="default: bfloat16 on GPU, float32 on CPU")
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--batch-sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1, 32])
    parser.add_argument("--passage-tokens", type=int, default=128, help="passage length for --encode")
    parser.add_argument("--encode", action="store_true", help="also time online encoding of the candidates")
    parser.add_argument("--cuda-graph", action="store_true", help="also time a CUDA-graph replay (batch 1)")
    parser.add_argument("--compile", default=None, metavar="MODE", help="torch.compile the reranker with MODE")
    parser.add_argument("--compact-prompt", action="store_true", help="placeholders only, no [i] labels")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iters", type=int, default=20)
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
    args = parse_args(argv)
    results = run(args)
    if args.json:
        meta = {"torch": torch.__version__, "shape": args.shape, "candidates": args.candidates,
                "device": torch.cuda.get_device_name() if torch.cuda.is_available() and args.device != "cpu" else "cpu"}
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"meta": meta, "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
