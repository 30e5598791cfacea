"""The trainer's FSDP path on GPUs (the CPU test suite cannot reach it: Accelerate runs FSDP on GPUs only).

Tiny random models (``tests/tiny_models.py``: BERT encoder, Qwen3 reader), real NFCorpus queries, two
stages with dev selection; one run straight, one killed after step 3 and resumed. Under FSDP every
Qwen3 decoder layer is its own shard unit, as in the paper recipe::

    accelerate launch --config_file resrank_eval/configs/accelerate-fsdp.yaml --num_processes N scripts/check_fsdp.py OUT
    python scripts/check_fsdp.py OUT-plain        # the same without FSDP, for the loss curve to compare

Prints one JSON line: the launcher, the losses per step, the dev scores, and whether the resumed run
ended with the straight run's weights (it must).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resrank_eval.datasets import get_dataset  # noqa: E402
from resrank_eval.formats.trec import write_run  # noqa: E402
from resrank_eval.train.config import load_config  # noqa: E402
from resrank_eval.train.data import TrainExample, TrainPassage, write_examples  # noqa: E402
from resrank_eval.train.trainer import LOG_FILE, Trainer  # noqa: E402
from resrank_eval.types import Candidate  # noqa: E402
from tests.tiny_models import tiny_config  # noqa: E402


def data(root: Path) -> tuple[Path, Path]:
    """8 NFCorpus train queries (2 positives, 6 shared negatives each) and a 6-query dev run."""
    train = get_dataset("beir/nfcorpus", split="train")
    qrels, topics = train.qrels(), train.topics()
    qids = sorted(q for q in qrels if len(qrels[q]) >= 2)[:16]
    mine, others = qids[:8], qids[8:]
    negatives = [d for q in others for d in sorted(qrels[q])[:2] if all(d not in qrels[m] for m in mine)][:6]
    texts = train.passages({d for q in mine for d in sorted(qrels[q])[:2]} | set(negatives))
    examples = [TrainExample(q, topics[q].text, tuple(TrainPassage(d, texts[d][:300], label=int(d in qrels[q]))
                                                     for d in sorted(qrels[q])[:2] + negatives), tuple(sorted(qrels[q])[:2]))
                for q in mine]
    write_examples(root / "train.jsonl", examples)
    dev_qrels = get_dataset("beir/nfcorpus", split="dev").qrels()
    dev_qids = sorted(dev_qrels)[:6]
    filler = sorted({d for q in sorted(dev_qrels)[6:12] for d in dev_qrels[q]})[:6]
    write_run(root / "dev.txt", {q: [Candidate(d, -float(i)) for i, d in enumerate(sorted(dev_qrels[q])[:4] + filler)]
                                 for q in dev_qids}, "dev")
    return root / "train.jsonl", root / "dev.txt"


def config(root: Path, name: str, model: dict, train: Path, dev: Path) -> Path:
    values = {"output_dir": str(root / name), "seed": 7, "model": {"config": model},
              "data": {"train": str(train), "max_candidates": 6, "hard_negatives": 3},
              "dev": {"split": "dev", "run": str(dev), "top_k": 10, "every": 2},
              "training": {"batch_size": 2, "precision": "bf16", "gradient_checkpointing": True, "save_every": 1},
              "stages": [{"name": "align", "steps": 2, "lr": 3e-3, "ranking_to_encoder": False},
                         {"name": "joint", "steps": 3, "lr": 3e-3, "warmup": 1}]}
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def main(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    model = tiny_config(root / "tiny", max_passage_tokens=48).to_dict()
    train, dev = data(root)
    straight, killed = config(root, "straight", model, train, dev), config(root, "killed", model, train, dev)
    trainer = Trainer(load_config(straight))
    trainer.train()
    assert Trainer(load_config(killed)).train(stop_after=3) is None
    Trainer(load_config(killed)).train(resume=True)
    if not trainer.main:
        return
    logs = {name: [json.loads(line) for line in (root / name / LOG_FILE).read_text().splitlines()] for name in ("straight", "killed")}
    newest = {name: sorted((root / name / "checkpoints").iterdir())[-1] / "trainer.pt" for name in logs}
    a, b = (torch.load(newest[name], weights_only=False)["model"] for name in ("straight", "killed"))
    print(json.dumps({
        "launcher": str(trainer.accelerator.distributed_type), "processes": trainer.accelerator.num_processes,
        "losses": [r["loss"] for r in logs["straight"] if "loss" in r],
        "dev": [r["dev_nDCG@10"] for r in logs["straight"] if "dev_nDCG@10" in r],
        "resumed_equals_straight": all(torch.equal(a[k], b[k]) for k in a) and a.keys() == b.keys(),
        "best_exported": (root / "straight" / "best" / "resrank.json").is_file(),
    }))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
