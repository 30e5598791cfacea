"""Training under ``accelerate launch`` with 2 CPU processes (gloo, DDP) against one process.

Two processes with one micro-batch each see exactly the micro-batches one process sees with two
accumulated (the sampler slices each global batch by rank), so the logged losses match and the
weights agree; a run killed mid-stage and resumed under the launcher ends bit-exactly where the
uninterrupted one does (every rank's RNG streams are in the checkpoint). The encoder has no dropout:
two processes draw dropout masks from two streams, one process from one.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from resrank_eval.train.checkpoint import load_latest
from resrank_eval.train.config import load_config
from resrank_eval.train.trainer import LOG_FILE, Trainer
from tests.helpers import REPO, write_config
from tests.tiny_models import tiny_bert, tiny_config

STAGES = [{"name": "align", "steps": 2, "lr": 3e-3, "ranking_to_encoder": False}, {"name": "joint", "steps": 2, "lr": 3e-3, "warmup": 1}]


@pytest.fixture(scope="module")
def no_dropout_model(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("tiny-no-dropout")
    tiny_bert(root / "bert", dropout=0.0)
    return tiny_config(root, max_passage_tokens=48).to_dict()


def config(folder: Path, model: dict[str, object], train: Path, accumulation: int, dev: Path) -> Path:
    return write_config(folder, model, train, stages=STAGES, dev={"split": "dev", "run": str(dev), "top_k": 10, "every": 2},
                        training={"batch_size": 2, "grad_accumulation": accumulation, "save_every": 1, "keep_checkpoints": 5})


def records(folder: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in (folder / "out" / LOG_FILE).read_text().splitlines()]


def weights(folder: Path) -> dict[str, torch.Tensor]:
    state = load_latest(folder / "out" / "checkpoints")
    assert state is not None
    return state["model"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow  # ~20 s on 2 cores: accelerate launches two training processes, three times
def test_two_processes_match_one_and_resume_bit_exactly(tmp_path: Path, no_dropout_model: dict[str, object], train_file: Path,
                                                        dev_run: Path) -> None:
    one = config(tmp_path / "one", no_dropout_model, train_file, 2, dev_run)
    Trainer(load_config(one)).train()
    straight = config(tmp_path / "straight", no_dropout_model, train_file, 1, dev_run)
    killed = config(tmp_path / "killed", no_dropout_model, train_file, 1, dev_run)
    driver = tmp_path / "driver.py"
    driver.write_text("\n".join([
        "from resrank_eval.train.config import load_config",
        "from resrank_eval.train.trainer import Trainer",
        f"Trainer(load_config({str(straight)!r})).train()",
        f"assert Trainer(load_config({str(killed)!r})).train(stop_after=3) is None",  # killed mid joint stage
        f"Trainer(load_config({str(killed)!r})).train(resume=True)",
    ]) + "\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    # accelerate's multi-process launcher is torchrun; with no GPU the processes join over gloo
    done = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                           "--main_process_port", str(free_port()), str(driver)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    single, ddp = records(tmp_path / "one"), records(tmp_path / "straight")
    assert [r["step"] for r in ddp if "dev_nDCG@10" in r] == [2, 4] and (tmp_path / "straight" / "out" / "best" / "resrank.json").is_file()
    assert ddp == records(tmp_path / "killed")
    single, ddp = [r for r in single if "loss" in r], [r for r in ddp if "loss" in r]
    # DDP averages per-rank means, one process means the whole batch: equal up to float rounding, not to the last digit
    for a, b in zip(single, ddp, strict=True):
        assert a == {k: pytest.approx(v, rel=1e-5) if isinstance(v, float) else v for k, v in b.items()}
    one_process, two, resumed = weights(tmp_path / "one"), weights(tmp_path / "straight"), weights(tmp_path / "killed")
    for name, tensor in two.items():
        assert torch.equal(tensor, resumed[name]), name
        assert torch.allclose(tensor, one_process[name], rtol=1e-4, atol=5e-5), name


def test_paper_recipe_configs_load() -> None:
    """The documented 8-GPU recipe: the training YAML checks, and Accelerate reads its FSDP config as FSDP2."""
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config(REPO / "resrank_eval" / "configs" / "resrank-paper.yaml")
    assert config.model.preset == "paper" and config.training.precision == "bf16" and config.training.gradient_checkpointing
    assert config.dev is not None and config.dev.dataset.startswith("irds:")
    launcher = load_config_from_file(str(REPO / "resrank_eval" / "configs" / "accelerate-fsdp.yaml"))
    assert launcher.distributed_type.name == "FSDP" and launcher.fsdp_config["fsdp_version"] == 2
    assert launcher.num_processes == 8 and launcher.mixed_precision == config.training.precision
