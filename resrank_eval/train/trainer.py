"""The two-stage ResRank training loop: single process on CPU, DDP under ``torchrun`` (WORLD_SIZE>1).

Per step: ``grad_accumulation`` micro-batches (each rank its own slice of the global batch), both
losses from :class:`.objective.Objective`, clipping, AdamW, warmup + decay. Every ``save_every``
steps a checkpoint that resumes bit-exactly; every ``dev.every`` steps (and at each stage's end) dev
nDCG@10, the best model exported to ``output_dir/best``. The end result, ``output_dir/final``
(or ``best`` when a dev split is configured), is a ResRank folder ``rerank --model`` loads.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ..errors import ResrankError
from ..logs import progress
from ..model import ResRankConfig, ResRankModel
from .batches import BatchSampler
from .checkpoint import load_latest, rng_state, save_checkpoint, set_rng_state
from .config import StageConfig, TrainConfig
from .data import read_examples
from .devset import DevSet
from .objective import Objective
from .parts import apply_lora, enable_gradient_checkpointing, export, freeze_for_stage
from .vectors import StageCache, VectorCache, refresh_interval

log = logging.getLogger(__name__)
LOG_FILE = "train_log.jsonl"
CONFIG_FILE = "train_config.json"


class Trainer:
    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.output = Path(config.output_dir)
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.stages = config.effective_stages()
        self.best: float | None = None

    @property
    def main(self) -> bool:
        return self.rank == 0

    def train(self, resume: bool = False, stop_after: int | None = None) -> Path | None:
        """Run (or continue) training; ``stop_after`` ends early after that many steps, like a kill."""
        device = self._setup_distributed()
        torch.manual_seed(self.config.seed)
        model = self._build_model(device)
        sampler = self._sampler()
        dev = DevSet.load(self.config.dev) if self.config.dev is not None and self.main else None
        checkpoint = load_latest(self.output / "checkpoints") if resume else None
        step = 0
        if checkpoint is not None:
            self._check_same_config()
            model.load_state_dict(checkpoint["model"])
            step, self.best = checkpoint["step"], checkpoint["best"]
        elif self.main:
            self._start_fresh()
        self._truncate_log(step)
        objective = Objective(model, self.config.losses, self.config.data.hard_negatives)
        model.train()
        begin = 0
        for index, stage in enumerate(self.stages):
            end = begin + stage.steps
            if step < end:
                step = self._run_stage(index, stage, begin, step, objective, sampler, dev, checkpoint, stop_after)
                if stop_after is not None and step >= stop_after and step < end:
                    return None
            begin = end
        return self._finish(model)

    # ----- setup -----

    def _setup_distributed(self) -> torch.device:
        if self.world_size == 1:
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        import torch.distributed as dist

        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank)
            return torch.device("cuda", local_rank)
        return torch.device("cpu")

    def _build_model(self, device: torch.device) -> ResRankModel:
        source = self.config.model
        if source.path is not None:
            model = ResRankModel.from_pretrained(source.path, device, "float32")
        else:
            model = ResRankModel.from_config(self._model_config(), device, "float32")
        apply_lora(model, source)
        if self.config.training.gradient_checkpointing:
            enable_gradient_checkpointing(model)
        return model

    def _model_config(self) -> ResRankConfig:
        from ..model.presets import preset_config

        overrides = self.config.model_overrides()
        name = self.config.model.preset
        if name is None:
            return ResRankConfig.from_dict(overrides)
        try:
            base = preset_config(name)
        except ResrankError as exc:
            raise ResrankError(f"model.preset: {exc}") from None
        return ResRankConfig.from_dict({**base.to_dict(), **overrides})

    def _sampler(self) -> BatchSampler:
        data, training = self.config.data, self.config.training
        shuffle = 1.0 if data.shuffle_candidates else data.shuffle_fraction
        return BatchSampler(read_examples(data.train), training.batch_size, training.grad_accumulation,
                            data.max_candidates, shuffle, self.config.seed, self.world_size, self.rank)

    def _start_fresh(self) -> None:
        """A new run must not mix with an old one's log and checkpoints."""
        if (self.output / "checkpoints").is_dir() and any((self.output / "checkpoints").iterdir()):
            raise ResrankError(f"{self.output}: holds checkpoints of an earlier run; pass --resume or a new output_dir")
        self.output.mkdir(parents=True, exist_ok=True)
        (self.output / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2) + "\n")

    # ----- one stage -----

    def _run_stage(self, index: int, stage: StageConfig, begin: int, step: int, objective: Objective,
                   sampler: BatchSampler, dev: DevSet | None, checkpoint: dict[str, Any] | None,
                   stop_after: int | None) -> int:
        model = objective.model
        groups = freeze_for_stage(model, stage.train, self.config.model)
        cache = self._stage_cache(stage, sampler, dev)
        objective.cache = None
        optimizer = torch.optim.AdamW(
            [{"params": params, "lr": stage.lr_for(part)} for part, params in groups.items()],
            weight_decay=stage.weight_decay,
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, stage.lr_factor)
        if checkpoint is not None and checkpoint["stage"] == index and checkpoint["step"] > begin:
            optimizer.load_state_dict(checkpoint["optimizer"])
            scheduler.load_state_dict(checkpoint["scheduler"])
            if cache is not None and checkpoint.get("cache") is not None:
                cache.restore(checkpoint["cache"])
        if checkpoint is not None and checkpoint["step"] == step:
            set_rng_state(checkpoint["rng"])
        runner = self._wrap(objective)
        training = self.config.training
        end = begin + stage.steps
        bar = progress(total=stage.steps, initial=step - begin, desc=f"train ({stage.name})", unit="step", enabled=self.main)
        while step < end and (stop_after is None or step < stop_after):
            if cache is not None:
                objective.cache = cache.current(model, step - begin, f"stage {stage.name}")
            started = time.perf_counter()
            losses = self._step(runner, sampler.micro_batches(step), stage, optimizer)
            scheduler.step()
            step += 1
            bar.set_postfix(loss=losses["loss"], lr=f"{scheduler.get_last_lr()[0]:.2e}", refresh=False)
            bar.update()
            if self.main and step % training.log_every == 0:
                self._log({"step": step, "stage": stage.name, "lr": scheduler.get_last_lr()[0],
                           **losses, "seconds": round(time.perf_counter() - started, 3)})
            last = step == end
            if dev is not None and ((self.config.dev.every and step % self.config.dev.every == 0) or last):
                self._evaluate(model, dev, step, stage, objective.cache if cache is not None and cache.exact else None)
            if step % training.save_every == 0 or last:
                self._save(step, index, model, optimizer, scheduler, cache)
        bar.close()
        return step

    def _stage_cache(self, stage: StageConfig, sampler: BatchSampler, dev: DevSet | None) -> StageCache | None:
        """The stage's cache of every training and dev passage vector, when it reads one (:mod:`.vectors`)."""
        every = refresh_interval(stage, self.config.training)
        if every is None:
            return None
        texts = {c.text for example in sampler.examples for c in example.candidates}
        return StageCache(texts | (set(dev.passages.values()) if dev is not None else set()), every)

    def _wrap(self, objective: Objective) -> torch.nn.Module:
        """DDP is rebuilt per stage: it registers the parameters that require grad when built."""
        if self.world_size == 1:
            return objective
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [torch.cuda.current_device()] if torch.cuda.is_available() else None
        return DistributedDataParallel(objective, device_ids=device_ids, find_unused_parameters=True)

    def _step(self, runner: torch.nn.Module, micro_batches: list, stage: StageConfig,
              optimizer: torch.optim.Optimizer) -> dict[str, float]:
        training = self.config.training
        device = next(runner.parameters()).device
        totals: dict[str, float] = {}
        for i, batch in enumerate(micro_batches):
            sync = i == len(micro_batches) - 1 or not hasattr(runner, "no_sync")
            with contextlib.nullcontext() if sync else runner.no_sync(), self._autocast(device):
                out = runner(batch, stage)
            (out["loss"] / len(micro_batches)).backward()
            for name, value in out.items():
                totals[name] = totals.get(name, 0.0) + value.item() / len(micro_batches)
        parameters = [p for group in optimizer.param_groups for p in group["params"]]
        if training.max_grad_norm > 0:
            totals["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(parameters, training.max_grad_norm))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return {name: round(value, 6) for name, value in totals.items()}

    def _autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.config.training.precision == "bf16":
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # ----- evaluation, checkpoints, output -----

    def _evaluate(self, model: ResRankModel, dev: DevSet, step: int, stage: StageConfig,
                  cache: VectorCache | None) -> None:
        started = time.perf_counter()
        scores = dev.score(model, encode=cache.encode if cache is not None else None)
        improved = self.best is None or scores["model"] > self.best
        if improved:
            self.best = scores["model"]
            export(model, self.config.model, self.output / "best")
        self._log({"step": step, "stage": stage.name, "dev_nDCG@10": scores, "best": improved,
                   "seconds": round(time.perf_counter() - started, 3)}, logging.INFO)

    def _save(self, step: int, stage_index: int, model: ResRankModel, optimizer: torch.optim.Optimizer,
              scheduler: Any, cache: StageCache | None) -> None:
        if not self.main:
            return
        state = {"step": step, "stage": stage_index, "best": self.best, "model": model.state_dict(),
                 "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng_state(),
                 "cache": cache.state() if cache is not None else None}
        save_checkpoint(self.output / "checkpoints", step, state, self.config.training.keep_checkpoints)

    def _finish(self, model: ResRankModel) -> Path:
        if self.main:
            export(model, self.config.model, self.output / "final")
        if self.world_size > 1:
            torch.distributed.barrier()
        return self.output / ("best" if self.config.dev is not None else "final")

    def _log(self, record: dict[str, Any], level: int = logging.DEBUG) -> None:
        """Every record goes to the JSONL log; on the console, steps are the progress bar (records with --verbose)."""
        line = json.dumps(record)
        with open(self.output / LOG_FILE, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        log.log(level, line)

    def _truncate_log(self, step: int) -> None:
        """Drop log lines a killed run wrote after its last checkpoint: they are about to be redone."""
        path = self.output / LOG_FILE
        if not self.main or not path.is_file():
            return
        kept = [line for line in path.read_text(encoding="utf-8").splitlines() if _logged_step(line) <= step]
        path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")

    def _check_same_config(self) -> None:
        """Resuming under a changed config would silently train something else than either run."""
        saved = self.output / CONFIG_FILE
        if not saved.is_file():
            return
        before, now = json.loads(saved.read_text(encoding="utf-8")), json.loads(json.dumps(asdict(self.config)))
        changed = sorted(key for key in before.keys() | now.keys() if before.get(key) != now.get(key))
        if changed:
            raise ResrankError(f"{saved}: the config changed since this run started ({', '.join(changed)}); use a new output_dir")


def _logged_step(line: str) -> float:
    """The step of a log line; a line cut short by a kill counts as after every checkpoint."""
    try:
        return json.loads(line)["step"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return math.inf

