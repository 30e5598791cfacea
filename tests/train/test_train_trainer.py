"""The trainer on a tiny real-architecture model (random BERT encoder + random Qwen3 reranker).

Both are built from configs (``tests/tiny_models.py``) and train on a slice of real NFCorpus train
queries; every test runs the real training loop, no mocks.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from resrank_eval.datasets import get_dataset
from resrank_eval.errors import InputError, ResrankError
from resrank_eval.formats.trec import read_run
from resrank_eval.model import ResRankConfig, ResRankModel
from resrank_eval.train.batches import BatchSampler
from resrank_eval.train.checkpoint import load_latest
from resrank_eval.train.config import LossConfig, ModelConfig, StageConfig, load_config
from resrank_eval.train.data import TrainExample, read_examples, write_examples
from resrank_eval.train.objective import Objective
from resrank_eval.train.parts import freeze_for_stage
from resrank_eval.train.trainer import LOG_FILE, Trainer
from tests.helpers import TRAIN_QUERIES, write_config
from tests.tiny_models import tiny_config


@pytest.fixture(scope="module")
def tiny_model_config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A 2-layer BERT encoder (hidden 24) + 2-layer Qwen3 reranker (hidden 32): a projector is needed."""
    return tiny_config(tmp_path_factory.mktemp("tiny"), max_passage_tokens=48).to_dict()


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / LOG_FILE).read_text().splitlines()]


def test_loss_falls_and_the_result_loads(tmp_path: Path, tiny_model_config: dict[str, object], train_file: Path) -> None:
    stages = [{"name": "joint", "steps": 10, "lr": 3e-3, "schedule": "constant"}]
    config = load_config(write_config(tmp_path, tiny_model_config, train_file, stages=stages))
    config.training.batch_size = TRAIN_QUERIES  # the whole slice every step: the loss curve is not sampling noise
    final = Trainer(config).train()
    log = [r for r in _log(Path(config.output_dir)) if "loss" in r]
    assert len(log) == 10
    for task in ("contrastive", "ranking"):  # each task learns, not just their sum
        curve = [r[task] for r in log]
        assert sum(curve[-3:]) / 3 < 0.7 * sum(curve[:3]) / 3, (task, curve)
    loaded = ResRankModel.from_pretrained(final, "cpu", "float32")
    example = read_examples(train_file)[0]
    with torch.no_grad():
        scores = loaded([example.query], [loaded.encode([c.text for c in example.candidates])]).scores
    assert scores.shape == (1, len(example.candidates)) and torch.isfinite(scores).all()


def _encoder_gradient(model: ResRankModel, train_file: Path, **stage: object) -> float:
    """Total |grad| on the encoder after one backward of the stage's loss on one batch."""
    config = StageConfig(**stage)  # type: ignore[arg-type]
    freeze_for_stage(model, config.train, ModelConfig())
    batch = BatchSampler(read_examples(train_file), 2, 1, 6, True, 0).micro_batches(0)[0]
    Objective(model, LossConfig(), 3)(batch, config)["loss"].backward()
    total = sum(p.grad.abs().sum().item() for p in model.encoder.parameters() if p.grad is not None)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.injector.parameters())
    model.zero_grad(set_to_none=True)
    return total


def test_ranking_gradients_reach_the_encoder_only_when_it_trains(tiny_model_config: dict[str, object],
                                                                  train_file: Path) -> None:
    model = ResRankModel.from_config(ResRankConfig.from_dict(tiny_model_config), "cpu", "float32")
    assert _encoder_gradient(model, train_file, contrastive=0.0) > 0  # stage 2: RankNet reaches the encoder
    assert _encoder_gradient(model, train_file, contrastive=0.0, ranking_to_encoder=False) == 0  # stage 1
    assert _encoder_gradient(model, train_file, train=["projector", "reranker"]) == 0  # frozen encoder


def test_kill_and_resume_gives_the_same_weights(tmp_path: Path, tiny_model_config: dict[str, object], train_file: Path) -> None:
    straight = load_config(write_config(tmp_path / "a", tiny_model_config, train_file))
    Trainer(straight).train()
    interrupted = load_config(write_config(tmp_path / "b", tiny_model_config, train_file))
    assert Trainer(interrupted).train(stop_after=4) is None  # "killed" after step 4, mid joint stage
    Trainer(interrupted).train(resume=True)
    a, b = load_latest(tmp_path / "a/out/checkpoints"), load_latest(tmp_path / "b/out/checkpoints")
    assert a is not None and b is not None
    assert a["step"] == b["step"] == 6
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    steps = [[(r["step"], r["loss"]) for r in _log(tmp_path / run / "out")] for run in ("a", "b")]
    assert steps[0] == steps[1] and len(steps[0]) == 6
    # the rate each step used: align decays linearly from 3e-3; joint warms up for one step, then decays
    rates = [[r["lr"] for r in _log(tmp_path / run / "out")] for run in ("a", "b")]
    assert rates[0] == rates[1] == pytest.approx([3e-3, 2e-3, 1e-3, 1.5e-3, 3e-3, 1.5e-3])


def test_lora_bf16_and_checkpointing_export_a_plain_model(tmp_path: Path, tiny_model_config: dict[str, object],
                                                          train_file: Path) -> None:
    path = write_config(tmp_path, tiny_model_config, train_file,
                        stages=[{"name": "joint", "steps": 2, "lr": 1e-3}],
                        training={"batch_size": 2, "precision": "bf16", "gradient_checkpointing": True})
    config = load_config(path, ["model.encoder.mode=lora", "model.encoder.targets=[query, value]",
                                "model.reranker.mode=lora", "model.reranker.r=4"])
    final = Trainer(config).train()
    assert all(r["loss"] == r["loss"] for r in _log(Path(config.output_dir)) if "loss" in r)  # no NaN
    loaded = ResRankModel.from_pretrained(final, "cpu", "float32")
    assert not any("lora" in name for name in loaded.state_dict())


def test_cached_vectors_train_a_frozen_encoder_stage_like_fresh_ones(tmp_path: Path, tiny_model_config: dict[str, object],
                                                                     train_file: Path) -> None:
    stages = [{"name": "align", "steps": 2, "lr": 3e-3, "contrastive": 1.0, "ranking_to_encoder": False},
              {"name": "reader", "steps": 4, "lr": 3e-3, "train": ["projector", "reranker"], "contrastive": 0.0}]
    runs = {}
    for cached in (False, True):
        config = load_config(write_config(tmp_path / str(cached), tiny_model_config, train_file, stages=stages,
                                          training={"batch_size": 4, "save_every": 2, "cache_vectors": cached}))
        Trainer(config).train()
        runs[cached] = [r["loss"] for r in _log(Path(config.output_dir))]
    assert runs[True] == pytest.approx(runs[False], rel=1e-4)
    interrupted = load_config(write_config(tmp_path / "killed", tiny_model_config, train_file, stages=stages,
                                           training={"batch_size": 4, "save_every": 2, "cache_vectors": True}))
    assert Trainer(interrupted).train(stop_after=4) is None  # killed inside the cached stage
    Trainer(interrupted).train(resume=True)
    assert [r["loss"] for r in _log(Path(interrupted.output_dir))] == runs[True]  # the cache is rebuilt exactly


def test_refreshed_vectors_follow_a_training_encoder_and_resume_exactly(tmp_path: Path, tiny_model_config: dict[str, object],
                                                                        train_file: Path) -> None:
    stages = [{"name": "align", "steps": 4, "lr": 3e-3, "ranking_to_encoder": False}]

    def losses(name: str, stop_after: int | None = None, **training: object) -> list[float]:
        config = load_config(write_config(tmp_path / name, tiny_model_config, train_file, stages=stages,
                                          training={"batch_size": 4, "save_every": 2, **training}))
        if stop_after is not None:
            assert Trainer(config).train(stop_after=stop_after) is None
        Trainer(config).train(resume=stop_after is not None)
        return [r["loss"] for r in _log(Path(config.output_dir))]

    fresh = losses("fresh")
    assert losses("every-step", cache_vectors=True, cache_refresh=1) == pytest.approx(fresh, rel=1e-4)
    stale = losses("stale", cache_vectors=True, cache_refresh=3)  # steps 2 and 3 read the vectors of before step 1
    assert stale[0] == pytest.approx(fresh[0], rel=1e-4) and stale[1] != pytest.approx(fresh[1], rel=1e-4)
    # killed after step 2: its checkpoint carries step 0's vectors, which no longer match the weights
    assert losses("killed", stop_after=2, cache_vectors=True, cache_refresh=3) == stale


def test_a_first_stage_scores_model_learns_from_the_files_scores(tmp_path: Path, tiny_model_config: dict[str, object],
                                                                  train_file: Path) -> None:
    """The score embedding gets gradients from the scores the training file carries; a file without
    scores is refused up front, naming the file."""
    model = {**tiny_model_config, "first_stage_scores": True}
    stages = [{"name": "reader", "steps": 2, "lr": 3e-3, "train": ["projector", "reranker"], "contrastive": 0.0}]
    with pytest.raises(ResrankError, match=f"{train_file}: the model reads first-stage scores"):
        Trainer(load_config(write_config(tmp_path / "without", model, train_file, stages=stages))).train()
    scored = tmp_path / "scored.jsonl"
    write_examples(scored, [TrainExample(e.qid, e.query, tuple(replace(c, score=float(len(e.candidates) - i))
                                                            for i, c in enumerate(e.candidates)), e.positives)
                            for e in read_examples(train_file)])
    mixed = tmp_path / "mixed.jsonl"  # every line is checked, not only the first
    examples = read_examples(scored)
    write_examples(mixed, [examples[0], *read_examples(train_file)[1:]])
    with pytest.raises(ResrankError, match=f"query {examples[1].qid!r} has none"):
        Trainer(load_config(write_config(tmp_path / "mixed", model, mixed, stages=stages))).train()
    final = Trainer(load_config(write_config(tmp_path / "with", model, scored, stages=stages))).train()
    loaded = ResRankModel.from_pretrained(final, "cpu", "float32")
    assert loaded.score_embedding is not None and loaded.score_embedding.abs().sum() > 0  # moved off its zero start


def test_a_non_finite_loss_stops_training_at_its_step_and_saves_nothing_after(tmp_path: Path, tiny_model_config: dict[str, object],
                                                                             train_file: Path) -> None:
    """The config refuses NaN; a run that diverges anyway (here: a temperature set past the checks, read from step 3 on)
    stops with one line naming the step: no NaN checkpoint, no model, and a log that stays strict JSON."""
    stages = [{"name": "reader", "steps": 2, "lr": 3e-3, "contrastive": 0.0}, {"name": "joint", "steps": 2, "lr": 3e-3}]
    config = load_config(write_config(tmp_path, tiny_model_config, train_file, stages=stages))
    config.losses.temperature = float("nan")
    with pytest.raises(ResrankError, match=r"^step 3 \(stage joint\): the contrastive loss is nan") as info:
        Trainer(config).train()
    assert "\n" not in str(info.value)
    out = Path(config.output_dir)
    assert not (out / "final").exists()
    checkpoint = load_latest(out / "checkpoints")
    assert checkpoint is not None and checkpoint["step"] == 2
    lines = (out / LOG_FILE).read_text().splitlines()
    assert [json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in the log"))["step"] for line in lines] == [1, 2]


def test_resume_refuses_a_checkpoint_edited_since_it_was_written(tmp_path: Path, tiny_model_config: dict[str, object],
                                                                  train_file: Path) -> None:
    config = load_config(write_config(tmp_path, tiny_model_config, train_file, stages=[{"name": "joint", "steps": 3, "lr": 3e-3}]))
    assert Trainer(config).train(stop_after=2) is None
    tensors = Path(config.output_dir) / "checkpoints/step-0000002/tensors.safetensors"
    data = bytearray(tensors.read_bytes())
    data[-1] ^= 1  # one bit of a weight: still a complete safetensors file of the same size
    tensors.write_bytes(bytes(data))
    with pytest.raises(ResrankError, match=rf"^{tensors}: changed since it was made .*state.json.*; delete .*step-0000002") as info:
        Trainer(config).train(resume=True)
    assert "\n" not in str(info.value) and not (Path(config.output_dir) / "final").exists()


def test_resume_refuses_another_torch_thread_count(tmp_path: Path, tiny_model_config: dict[str, object], train_file: Path) -> None:
    """Sums split over other thread counts round differently (a 1-thread and a 2-thread run of this config differ from
    step 2 on), so a killed run resumed at another count would silently not be the uninterrupted one."""
    config = load_config(write_config(tmp_path, tiny_model_config, train_file, stages=[{"name": "joint", "steps": 3, "lr": 3e-3}]))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert Trainer(config).train(stop_after=2) is None
        torch.set_num_threads(2)
        with pytest.raises(ResrankError, match=r"checkpoints/step-0000002: written with 1 torch thread; resume with as many "
                                               r"\(OMP_NUM_THREADS=1\), not 2") as info:
            Trainer(config).train(resume=True)
        assert "\n" not in str(info.value) and not (Path(config.output_dir) / "final").exists()
        torch.set_num_threads(1)
        assert Trainer(config).train(resume=True) == Path(config.output_dir) / "final"
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def unloadable_model(tmp_path_factory: pytest.TempPathFactory, tiny_model_config: dict[str, object]) -> dict[str, object]:
    """The tiny model with its encoder's weights file cut short: a run that gets as far as loading the model fails there."""
    encoder = tmp_path_factory.mktemp("unloadable") / "bert"
    shutil.copytree(str(tiny_model_config["encoder"]), encoder)
    weights = encoder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    return {**tiny_model_config, "encoder": str(encoder)}


@pytest.mark.parametrize(("split", "message"), [("test", "^dev.split: model selection on the test split is not allowed$"),
                                                ("train", "no query of the run is judged in split 'train'$")])
def test_a_dev_mistake_is_refused_before_the_model_loads(tmp_path: Path, unloadable_model: dict[str, object], train_file: Path,
                                                         dev_run: Path, split: str, message: str) -> None:
    """The dev set is read before the model: with the ResRank-mini config, dev.split: test was refused after 35 s of loading
    (a config mistake takes 3 s), and here the cut weights failed first."""
    config = load_config(write_config(tmp_path, unloadable_model, train_file, dev={"split": split, "run": str(dev_run)}))
    with pytest.raises(ResrankError, match=message):
        Trainer(config).train()


def test_dev_queries_in_the_training_data_are_refused(tmp_path: Path, unloadable_model: dict[str, object], train_file: Path,
                                                       dev_run: Path) -> None:
    """Selecting on queries the model trained on rewards memorising them: a training file built from the dev split trained
    and selected on the same queries, exit 0. A dev query's id with another text (another dataset's query) is no leak: that
    run goes on to load the model (which fails here, its weights cut short)."""
    qid = sorted(read_run(dev_run))[0]
    text = get_dataset("beir/nfcorpus", split="dev").topics()[qid].text
    examples = read_examples(train_file)

    def train(name: str, query: str) -> None:
        data = tmp_path / f"{name}.jsonl"
        write_examples(data, [replace(examples[0], qid=qid, query=query), *examples[1:]])
        Trainer(load_config(write_config(tmp_path / name, unloadable_model, data, dev={"split": "dev", "run": str(dev_run)}))).train()

    with pytest.raises(InputError) as info:
        train("leak", text)
    assert str(info.value) == (f"{tmp_path / 'leak.jsonl'}: holds dev queries (1, e.g. {qid!r}); "
                               "model selection on queries the model trains on is not allowed")
    with pytest.raises(Exception, match="deserializing header"):
        train("other", "another dataset's query")


def test_a_model_that_reads_scores_is_refused_unscored_lists_before_it_loads(tmp_path: Path, unloadable_model: dict[str, object],
                                                                           train_file: Path) -> None:
    """A score-fusion model (ResRank-mini's recipe) with a training file without first-stage scores was refused only after
    the model loaded (32 s with resrank-mini.yaml; here the cut weights failed first)."""
    examples = read_examples(train_file)
    data = tmp_path / "unscored.jsonl"
    write_examples(data, [replace(e, candidates=[replace(c, score=None) for c in e.candidates]) for e in examples])
    config = load_config(write_config(tmp_path, {**unloadable_model, "score_fusion": True}, data))
    with pytest.raises(ResrankError, match=rf"^{data}: the model reads first-stage scores \(first_stage_scores, score_fusion\) "
                                           r"and query '[^']+' has none: build the file with build-train from a run$"):
        Trainer(config).train()
