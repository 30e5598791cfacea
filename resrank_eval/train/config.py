"""The training configuration: one YAML file, checked key by key into dataclasses.

Every mistake (unknown key, wrong type, value out of range) is an :class:`InputError` naming the
file and line of the offending key, because a typo in a 40-minute training job must fail in the
first second, not be silently ignored. ``--set section.key=value`` overrides come from the CLI.

Stage defaults follow ``docs/resrank.md``: stage 1 (``align``) trains the encoder
contrastively while projector + reranker learn to read injected vectors from the ranking loss with
the encoder detached; stage 2 (``joint``) trains everything on both losses, the ranking gradients
flowing through the reranker into the encoder.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, ResrankError
from ..formats.yaml_lines import LineMapping, line_of
from ..model.config import PARTS, TRANSFORMERS, ResRankConfig
from ..model.presets import preset_config
from ..provenance import Provenance, flat_arguments
from .yaml_schema import apply_override, build, override_origin, read_yaml


@dataclass
class PartConfig:
    """How one model is fine-tuned: all weights, or LoRA adapters (peft) merged on export."""

    mode: str = field(default="full", metadata={"choices": ("full", "lora")})
    r: int = field(default=16, metadata={"min": 1})
    alpha: int = field(default=32, metadata={"min": 1})
    dropout: float = field(default=0.05, metadata={"min": 0.0, "max": 1.0})
    targets: list[str] | None = None


LORA_OPTIONS = tuple(f.name for f in dataclasses.fields(PartConfig) if f.name != "mode")
"""The fields of a part that only ``mode: lora`` reads."""


@dataclass
class ModelConfig:
    """The initial ResRank: a preset of the model package, a saved model folder (``path``), or a
    complete ResRankConfig in ``config``; with a preset, ``config`` holds the fields to change."""

    preset: str | None = None
    path: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    encoder: PartConfig = field(default_factory=PartConfig)
    reranker: PartConfig = field(default_factory=PartConfig)


@dataclass
class DataConfig:
    train: str = ""
    max_candidates: int = field(default=20, metadata={"min": 2})
    hard_negatives: int = field(default=3, metadata={"min": 0})
    shuffle_candidates: bool = True
    shuffle_fraction: float = field(default=0.0, metadata={"min": 0.0})
    """Without ``shuffle_candidates``: the share of lists shuffled anyway, so the reader also learns
    to rank without the first stage's order (and leans on it less)."""


@dataclass
class DevConfig:
    """Model selection: rerank a first-stage run of a dev split and score nDCG@10. Never test."""

    dataset: str = "beir/nfcorpus"
    corpus: str | None = None
    split: str = "dev"
    run: str = ""
    top_k: int = field(default=30, metadata={"min": 2})
    max_queries: int | None = field(default=None, metadata={"min": 1})
    every: int = field(default=0, metadata={"min": 0})


@dataclass
class LossConfig:
    """InfoNCE temperature; the ranking loss (see :mod:`.losses`) and the scale its scores get."""

    temperature: float = field(default=0.03, metadata={"min": 1e-6})
    scale: float = field(default=10.0, metadata={"min": 1e-6})
    ranking: str = field(default="ranknet", metadata={"choices": ("ranknet", "lambdarank", "listnet")})


@dataclass
class StageConfig:
    """One training stage: which parts learn, from which losses, at what learning rate."""

    name: str = "stage"
    steps: int = field(default=100, metadata={"min": 1})
    lr: float | dict[str, float] = field(default=1e-4, metadata={"above": 0.0, "max": 1.0})
    """At most 1: AdamW moves every weight by about the rate each step, so a rate above 1 only diverges."""
    warmup: int = field(default=0, metadata={"min": 0})
    schedule: str = field(default="linear", metadata={"choices": ("linear", "cosine", "constant")})
    weight_decay: float = field(default=0.0, metadata={"min": 0.0})
    train: list[str] = field(default_factory=lambda: list(PARTS))
    contrastive: float = field(default=1.0, metadata={"min": 0.0})
    ranking: float = field(default=1.0, metadata={"min": 0.0})
    ranking_to_encoder: bool = True

    def lr_for(self, part: str) -> float:
        return self.lr[part] if isinstance(self.lr, dict) else self.lr

    def lr_factor(self, step: int) -> float:
        """Linear warmup to the stage's rate, then linear or cosine decay to 0, or constant."""
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        if self.schedule == "constant":
            return 1.0
        progress = (step - self.warmup) / max(1, self.steps - self.warmup)
        if self.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * progress))
        return max(0.0, 1 - progress)

    def reachable(self) -> set[str]:
        """The parts some active loss sends gradients to; training any other part is a no-op."""
        parts = {"projector", "reranker"} if self.ranking > 0 else set()
        if self.contrastive > 0 or (self.ranking > 0 and self.ranking_to_encoder):
            parts.add("encoder")
        return parts


def default_stages() -> list[StageConfig]:
    return [
        StageConfig(name="align", ranking_to_encoder=False),
        StageConfig(name="joint", ranking_to_encoder=True),
    ]


@dataclass
class TrainingConfig:
    batch_size: int = field(default=4, metadata={"min": 1})
    grad_accumulation: int = field(default=1, metadata={"min": 1})
    precision: str = field(default="fp32", metadata={"choices": ("fp32", "bf16")})
    gradient_checkpointing: bool = False
    max_grad_norm: float = field(default=1.0, metadata={"min": 0.0})
    save_every: int = field(default=50, metadata={"min": 1})
    keep_checkpoints: int = field(default=2, metadata={"min": 1})
    log_every: int = field(default=1, metadata={"min": 1})
    cache_vectors: bool = False
    """Stages that leave the encoder frozen read passage vectors encoded once (``train/vectors.py``)."""
    cache_refresh: int = field(default=0, metadata={"min": 0})
    """With ``cache_vectors``: stages that train the encoder under a detached ranking loss read vectors
    re-encoded every this many steps (0: such stages encode every step's candidates)."""


@dataclass
class AblationConfig:
    """The paper's ablations, each a switch applied on top of the rest of the config.

    ``single_stage`` merges all stages into one (see :func:`_merged`): with an encoder stage
    followed by a reader stage, both then train together from the first step.
    """

    no_residual: bool = False
    single_stage: bool = False
    frozen_encoder: bool = False
    ranking_loss_only: bool = False


@dataclass
class TrainConfig:
    output_dir: str = ""
    seed: int = field(default=13, metadata={"min": 0, "max": 2**32 - 1})
    """numpy's range: torch seeds from it (times 1_000_003 per epoch, :mod:`.batches`) stay inside its 64 bits."""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    dev: DevConfig | None = None
    losses: LossConfig = field(default_factory=LossConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    stages: list[StageConfig] = field(default_factory=default_stages)
    ablation: AblationConfig = field(default_factory=AblationConfig)

    def effective_stages(self) -> list[StageConfig]:
        """The stages after the ablation switches; what the trainer actually runs."""
        stages = [dataclasses.replace(s, train=list(s.train)) for s in self.stages]
        ab = self.ablation
        if ab.single_stage and len(stages) > 1:
            stages = [_merged(stages)]
        for stage in stages:
            if ab.ranking_loss_only or ab.frozen_encoder:
                stage.contrastive = 0.0
            if ab.frozen_encoder:
                stage.ranking_to_encoder = False
            stage.train = [p for p in stage.train if p in stage.reachable()]
        return [s for s in stages if s.train]

    def provenance(self) -> Provenance:
        """What a resumed run must match: every key (flattened, so a refusal names it) and, by content, the data,
        the dev run and the starting model."""
        inputs = {"data.train": self.data.train, "dev.run": self.dev.run if self.dev else None, "model.path": self.model.path}
        arguments = {k: v for k, v in flat_arguments(dataclasses.asdict(self)).items() if k not in inputs and k != "output_dir"}
        return Provenance.of("train", arguments, inputs)

    def model_overrides(self) -> dict[str, Any]:
        """The ResRankConfig fields the config (and the no-residual ablation) sets."""
        overrides = dict(self.model.config)
        if self.ablation.no_residual:
            overrides["residual"] = "none"
        return overrides


def _merged(stages: list[StageConfig]) -> StageConfig:
    """One stage doing what all of them do, for as many steps: every part any stage trains (at the
    rate of the last stage that trains it), every loss at its largest weight; the rest from the last."""
    parts = [p for p in PARTS if any(p in s.train for s in stages)]
    lr = {p: next(s.lr_for(p) for s in reversed(stages) if p in s.train) for p in parts}
    return dataclasses.replace(stages[-1], steps=sum(s.steps for s in stages), warmup=stages[0].warmup, train=parts,
                               lr=lr, contrastive=max(s.contrastive for s in stages),
                               ranking=max(s.ranking for s in stages))


# -- loading ---------------------------------------------------------------------------------


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Parse and validate a YAML training config, then apply ``key.path=value`` overrides."""
    path = Path(path)
    raw = read_yaml(path)
    for item in overrides:
        build(TrainConfig, apply_override(raw, item), override_origin(item), "")
    config = build(TrainConfig, raw, path, "")
    try:
        _check(config, raw, path)
    except InputError as exc:
        if overrides and exc.message != _error_of(path):  # the file alone breaks no such rule: the overrides did
            raise InputError(" ".join(map(override_origin, overrides)), None, exc.message) from None
        raise
    return config


def _error_of(path: Path) -> str | None:
    """What is wrong with the config file alone (its first error's message), if anything."""
    try:
        load_config(path)
    except InputError as exc:
        return exc.message
    return None


def _check(config: TrainConfig, raw: dict, path: Path) -> None:
    """Cross-field rules that no single key can express."""
    if not config.output_dir:
        raise InputError(path, line_of(raw, "output_dir"), "output_dir is required")
    if not config.data.train:
        raise InputError(path, line_of(raw.get("data", raw), "train"), "data.train (a training JSONL file) is required")
    model = raw.get("model", {})
    given = [key for key in ("preset", "path") if model.get(key) is not None]
    if len(given) > 1:
        raise InputError(path, line_of(model, "path"), "model: give either 'preset' or 'path', not both")
    if not given and not {"encoder", "reranker"} <= set(config.model.config):
        raise InputError(path, line_of(raw, "model"), "model: give a 'preset', a 'path', or a 'config' with encoder and reranker")
    for part in TRANSFORMERS:  # LoRA options without a mode: the default, full, trains every weight and ignores them
        options = model.get(part) or {}
        lora = [key for key in options if key in LORA_OPTIONS]
        if lora and "mode" not in options:
            raise InputError(path, line_of(options, lora[0]), f"model.{part}.{lora[0]}: a LoRA option, but model.{part}.mode is not "
                             "given and its default, full, trains every weight; set mode: lora (or full)")
    if config.model.path is not None and config.model_overrides():
        raise InputError(path, line_of(model, "config"), "model: a saved model ('path') is trained as saved; 'config' and ablation.no_residual need a preset")
    if config.data.shuffle_fraction > 1:
        raise InputError(path, line_of(raw.get("data", raw), "shuffle_fraction"), "data.shuffle_fraction must be at most 1")
    if config.data.shuffle_fraction > 0 and config.data.shuffle_candidates:  # it would be ignored: every list is shuffled
        raise InputError(path, line_of(raw.get("data", raw), "shuffle_fraction"),
                         "data.shuffle_fraction: only lists kept in order are shuffled; set data.shuffle_candidates: false")
    if config.training.cache_refresh > 0 and not config.training.cache_vectors:  # it would be ignored: nothing is cached
        raise InputError(path, line_of(raw.get("training", raw), "cache_refresh"),
                         "training.cache_refresh: refreshes the cache of cache_vectors; set training.cache_vectors: true")
    if config.dev is not None and not config.dev.run:
        raise InputError(path, line_of(raw.get("dev", raw), "run"), "dev.run (a first-stage run of the dev split) is required")
    if not config.stages:
        raise InputError(path, line_of(raw, "stages"), "stages: at least one stage is required")
    raw_stages = raw.get("stages", [])
    for i, stage in enumerate(config.stages):
        line = line_of(raw_stages[i]) if i < len(raw_stages) else None
        unknown = [p for p in stage.train if p not in PARTS]
        if unknown:
            raise InputError(path, line, f"stages[{i}].train: unknown part {unknown[0]!r}; parts: {', '.join(PARTS)}")
        if isinstance(stage.lr, dict) and set(stage.lr) != set(stage.train):
            raise InputError(path, line, f"stages[{i}].lr: give one rate for each trained part ({', '.join(stage.train)})")
        if stage.contrastive == 0 and stage.ranking == 0:
            raise InputError(path, line, f"stages[{i}]: both loss weights are 0")
        idle = [p for p in stage.train if p not in stage.reachable()]
        if idle:
            raise InputError(path, line, f"stages[{i}].train: no active loss reaches {idle[0]!r}")
        if stage.warmup >= stage.steps:
            raise InputError(path, line, f"stages[{i}].warmup must be smaller than steps ({stage.steps})")
    if not config.effective_stages():
        raise InputError(path, line_of(raw, "ablation"), "the ablation switches leave no stage with anything to train")
    _check_model_config(config, raw, path)


def check_files(config: TrainConfig) -> None:
    """What training reads and writes, checked before 20 s of loading: inputs exist, a saved model is sound, output_dir is writable."""
    from ..formats.atomic import check_writable
    from ..model.check import check_resrank_model
    from .checkpoint import CHECKPOINTS

    inputs = {"data.train": config.data.train, "dev.run": config.dev.run if config.dev is not None else None}
    for key, file in inputs.items():
        if file is not None and not Path(file).is_file():
            raise InputError(file, None, f"{key}: {'a folder, not a file' if Path(file).is_dir() else 'no such file'}")
    check_writable(config.output_dir, folder=True)
    check_writable(Path(config.output_dir) / CHECKPOINTS, folder=True)  # a file there failed after the first step
    if config.model.path is not None:
        check_resrank_model(config.model.path)


def _check_model_config(config: TrainConfig, raw: dict, path: Path) -> None:
    """The ResRankConfig the model section makes (a preset with changes, or a config alone), checked at its lines."""
    model = raw.get("model", {})
    if config.model.path is not None:
        return
    try:
        base = preset_config(config.model.preset).to_dict() if config.model.preset is not None else {}
    except ResrankError as exc:
        raise InputError(path, line_of(model, "preset"), f"model.preset: {exc}") from None
    values = LineMapping({**base, **config.model_overrides()})
    values.line, values.lines = line_of(model, "config"), getattr(model.get("config"), "lines", {})
    ResRankConfig.from_dict(values, path)
