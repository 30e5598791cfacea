"""The two-stage ResRank training loop: one process, or DDP / FSDP under ``accelerate launch`` (:mod:`.accel`).

Per step: ``grad_accumulation`` micro-batches (each rank its own slice of the global batch), both
losses from :class:`.objective.Objective` (logged as their mean over ranks), clipping, AdamW, warmup +
decay. Every ``save_every`` steps a checkpoint that resumes bit-exactly; every ``dev.every`` steps (and
at each stage's end) dev nDCG@10, the best model exported to ``output_dir/best``. The end result, ``output_dir/final``
(or ``best`` when a dev split is configured), is a ResRank folder ``rerank --model`` loads.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ..errors import ResrankError
from ..formats.atomic import locked
from ..jobs import Outputs, begin, kept, read_record, seal
from ..logs import progress
from ..model import ResRankConfig, ResRankModel
from . import accel
from .batches import BatchSampler
from .checkpoint import CHECKPOINTS, PARTIAL, checkpoints, load_latest, rng_state, save_checkpoint, set_rng_state
from .config import StageConfig, TrainConfig, check_files
from .data import read_examples
from .devset import DevSet
from .objective import Objective
from .parts import apply_lora, enable_gradient_checkpointing, export, freeze_for_stage
from .vectors import StageCache, VectorCache, refresh_interval

log = logging.getLogger(__name__)
LOG_FILE = "train_log.jsonl"
CONFIG_FILE = "train_config.json"
NEW_FOLDER = "train into a new output_dir"


class Trainer:
    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.output = Path(config.output_dir)
        self.stages = config.effective_stages()
        self.best: float | None = None
        self.accelerator = accel.make_accelerator(config.training.precision)
        self.main = self.accelerator.is_main_process
        self._twin: ResRankModel | None = None

    @property
    def outputs(self) -> Outputs:
        """The trained model folders (``final``, and ``best`` with a dev split), their record in ``output_dir``."""
        return Outputs.folder(self.output, "final", *(["best"] if self.config.dev is not None else []))

    def train(self, resume: bool = False, stop_after: int | None = None) -> Path | None:
        """Run (or continue) training; ``stop_after`` ends early after that many steps, like a kill.

        A finished training made with this config and inputs, its models unchanged since, is kept (nothing runs); one made
        otherwise is refused; ``resume`` without a checkpoint is refused. Every check that needs no model -- files, the
        training data line by line, the dev set -- runs first.
        """
        check_files(self.config)
        result = self.output / ("best" if self.config.dev is not None else "final")
        if kept(self.config.provenance(), self.outputs, NEW_FOLDER):
            log.info("%s: made with this config and inputs and unchanged since; not trained again", result)
            return result
        if resume and not checkpoints(self.output / CHECKPOINTS):  # else it would silently train from scratch
            raise ResrankError(f"{self.output / CHECKPOINTS}: no checkpoint to resume from; without `resume`, training starts fresh")
        if not resume:
            self._check_fresh()
        examples = read_examples(self.config.data.train)
        with locked(self.outputs.files[0]) if self.main else contextlib.nullcontext():
            return self._train(examples, resume, stop_after)

    def _train(self, examples: list, resume: bool, stop_after: int | None) -> Path | None:
        acc = self.accelerator
        checkpoint = load_latest(self.output / CHECKPOINTS) if resume else None  # checked before the model is built
        if checkpoint is not None:
            self._check_same_config()
            self._check_same_threads(checkpoint)
        dev = DevSet.load(self.config.dev) if self.config.dev is not None and self.main else None  # its mistakes before loading
        if dev is not None:
            dev.check_unseen(examples, self.config.data.train)
        known = self._config_before_loading()
        self._check_scored(examples, known)
        torch.manual_seed(self.config.seed)
        model = self._build_model(acc.device)
        if known is None:  # a hub repository's config, known once loaded
            self._check_scored(examples, model.config)
        if acc.process_index > 0:  # own dropout streams; rank 0 keeps the one-process stream
            torch.manual_seed(self.config.seed + acc.process_index)
        sampler = self._sampler(examples)
        step = 0
        if checkpoint is not None:
            model.load_state_dict(checkpoint["model"])
            step, self.best = checkpoint["step"], checkpoint["best"]
        elif self.main:
            self._start_fresh()
        acc.wait_for_everyone()
        self._truncate_log(step)
        objective = Objective(model, self.config.losses, self.config.data.hard_negatives)
        freeze_for_stage(model, sorted({part for stage in self.stages for part in stage.train}), self.config.model)
        self.runner = acc.prepare(objective)  # DDP/FSDP register what any stage trains; each stage then freezes the rest
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

    def _config_before_loading(self) -> ResRankConfig | None:
        """The config of the model to train, where it is known without loading it (not a hub repository's)."""
        from ..model.presets import PRESETS

        path = self.config.model.path
        if path is None:
            return self._model_config()
        return ResRankConfig.load(path) if Path(path).is_dir() else PRESETS.get(path)

    def _check_scored(self, examples: list, config: ResRankConfig | None) -> None:
        """A model that reads first-stage scores trains on lists that carry them."""
        reads = config is not None and config.reads_first_stage
        unscored = next((e.qid for e in examples if e.candidates[0].score is None), None) if reads else None
        if unscored is not None:
            raise ResrankError(f"{self.config.data.train}: the model reads first-stage scores (first_stage_scores, score_fusion) "
                               f"and query {unscored!r} has none: build the file with build-train from a run")

    def _sampler(self, examples: list) -> BatchSampler:
        data, training = self.config.data, self.config.training
        shuffle = 1.0 if data.shuffle_candidates else data.shuffle_fraction
        return BatchSampler(examples, training.batch_size, training.grad_accumulation, data.max_candidates,
                            shuffle, self.config.seed, self.accelerator.num_processes, self.accelerator.process_index)

    def _check_fresh(self) -> None:
        """A new run must not mix with an old one's checkpoints. A first checkpoint a kill cut short is none (``--resume``
        refuses it), so starting fresh, as that refusal says, works: the run removes it as it starts."""
        folder = self.output / CHECKPOINTS
        if checkpoints(folder):
            raise ResrankError(f"{self.output}: holds checkpoints of an earlier run; pass `resume` or a new output_dir")
        other = min((p.name for p in folder.iterdir() if not p.match(PARTIAL)), default=None) if folder.is_dir() else None
        if other is not None:
            raise ResrankError(f"{folder}: holds {other}, no checkpoint; remove it or train into a new output_dir")

    def _start_fresh(self) -> None:
        """Start the record and the config; the first checkpoint a kill cut short (see :meth:`_check_fresh`) goes."""
        for partial in (self.output / CHECKPOINTS).glob(PARTIAL):
            shutil.rmtree(partial)
        self.output.mkdir(parents=True, exist_ok=True)
        (self.output / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2) + "\n")
        begin(self.config.provenance(), self.outputs)

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
            accel.load_optimizer_state(model, optimizer, checkpoint["optimizer"])
            scheduler.load_state_dict(checkpoint["scheduler"])
            if cache is not None and checkpoint.get("cache") is not None:
                cache.restore(checkpoint["cache"])
        if checkpoint is not None and checkpoint["step"] == step:
            set_rng_state(accel.own_state(self.accelerator, checkpoint["rng"]))
        training = self.config.training
        end = begin + stage.steps
        bar = progress(total=stage.steps, initial=step - begin, desc=f"train ({stage.name})", unit="step")
        while step < end and (stop_after is None or step < stop_after):
            if cache is not None:
                objective.cache = cache.current(model, step - begin, f"stage {stage.name}")
            started = time.perf_counter()
            lr = scheduler.get_last_lr()[0]  # the rate this step uses; scheduler.step() sets the next one's
            losses = self._step(sampler.micro_batches(step), stage, optimizer, step + 1)
            scheduler.step()
            step += 1
            bar.set_postfix(loss=losses["loss"], lr=f"{lr:.2e}", refresh=False)
            bar.update()
            if self.main and step % training.log_every == 0:
                self._log({"step": step, "stage": stage.name, "lr": lr,
                           **losses, "seconds": round(time.perf_counter() - started, 3)})
            last = step == end
            if self.config.dev is not None and ((self.config.dev.every and step % self.config.dev.every == 0) or last):
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

    def _step(self, micro_batches: list, stage: StageConfig, optimizer: torch.optim.Optimizer, step: int) -> dict[str, float]:
        """Accumulate the micro-batches (gradients synchronised on the last only), clip, step; losses averaged over ranks.

        A loss or gradient norm that is not finite stops training before the optimizer writes it into the weights: every
        later step, checkpoint and model would be NaN (every rank sees the same reduced values, so all stop)."""
        acc, training = self.accelerator, self.config.training
        totals: dict[str, float] = {}
        for i, batch in enumerate(micro_batches):
            with contextlib.nullcontext() if i == len(micro_batches) - 1 else acc.no_sync(self.runner):
                out = self.runner(batch, stage)
                acc.backward(out["loss"] / len(micro_batches))
            for name, value in out.items():
                totals[name] = totals.get(name, 0.0) + value.item() / len(micro_batches)
        names = list(totals)  # the same on every rank: the objective returns its losses in one order
        mean = acc.reduce(torch.tensor([totals[n] for n in names], dtype=torch.float64, device=acc.device), "mean")
        totals = dict(zip(names, mean.tolist()))
        parameters = [p for group in optimizer.param_groups for p in group["params"]]
        if training.max_grad_norm > 0:
            totals["grad_norm"] = float(acc.clip_grad_norm_(parameters, training.max_grad_norm))
        diverged = next((name for name, value in totals.items() if not math.isfinite(value)), None)
        if diverged is not None:
            what = {"loss": "the loss", "grad_norm": "the gradient norm"}.get(diverged, f"the {diverged} loss")
            raise ResrankError(f"step {step} (stage {stage.name}): {what} is {totals[diverged]}; training diverged, nothing "
                               f"after the last checkpoint is kept: lower the learning rate and train into a new output_dir")
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return {name: round(value, 6) for name, value in totals.items()}

    # ----- evaluation, checkpoints, output -----

    def _evaluate(self, model: ResRankModel, dev: DevSet | None, step: int, stage: StageConfig,
                  cache: VectorCache | None) -> None:
        """Every process calls this; the main one scores dev (loaded there only), exports and logs."""
        started = time.perf_counter()
        plain = self._readable(model)
        if plain is None or dev is None:
            return
        scores = dev.score(plain, encode=cache.encode if cache is not None else None)
        improved = self.best is None or scores["model"] > self.best
        if improved:
            self.best = scores["model"]
            export(plain, self.config.model, self.output / "best")
        self._log({"step": step, "stage": stage.name, "dev_nDCG@10": scores, "best": improved,
                   "seconds": round(time.perf_counter() - started, 3)}, logging.INFO)

    def _save(self, step: int, stage_index: int, model: ResRankModel, optimizer: torch.optim.Optimizer,
              scheduler: Any, cache: StageCache | None) -> None:
        """Every process gives its part (full weights and optimizer state, its RNG streams); the main one writes, and every
        process waits for it: one that returned first (``stop_after``, a resume in the same processes) read an older one."""
        acc = self.accelerator
        state = {"step": step, "stage": stage_index, "best": self.best, "model": accel.model_state(model),
                 "optimizer": accel.optimizer_state(model, optimizer), "scheduler": scheduler.state_dict(),
                 "rng": accel.rank_states(acc, rng_state()), "cache": cache.state() if cache is not None else None,
                 "threads": torch.get_num_threads()}
        if self.main:
            save_checkpoint(self.output / CHECKPOINTS, step, state, self.config.training.keep_checkpoints)
        acc.wait_for_everyone()

    def _readable(self, model: ResRankModel) -> ResRankModel | None:
        """The model dev scoring and export read, on the main process (None elsewhere); every process calls it:
        under FSDP it is an unsharded twin filled from the gathered full state dict (a collective)."""
        if not accel.is_fsdp(self.accelerator):
            return model if self.main else None
        state = accel.model_state(model)
        if not self.main:
            return None
        if self._twin is None:
            self._twin = self._build_model(self.accelerator.device)
        self._twin.load_state_dict(state)
        return self._twin

    def _finish(self, model: ResRankModel) -> Path:
        plain = self._readable(model)
        if plain is not None:
            export(plain, self.config.model, self.output / "final")
            seal(self.config.provenance(), self.outputs)
        self.accelerator.wait_for_everyone()
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
        """Resuming under a changed config, other data or another model would silently train something neither run meant."""
        record = read_record(self.outputs.record)
        if record is None:
            raise ResrankError(f"{self.output}: holds checkpoints but no record of what made them; {NEW_FOLDER}")
        self.config.provenance().check(record, self.output, NEW_FOLDER)

    def _check_same_threads(self, checkpoint: dict[str, Any]) -> None:
        """Sums split over another torch thread count round differently: the resumed run would silently not be the
        uninterrupted one (bit-exact resume, docs/jobs.md). A checkpoint of an older version records no count."""
        written, now = checkpoint.get("threads"), torch.get_num_threads()
        if written is not None and written != now:
            folder = checkpoints(self.output / CHECKPOINTS)[-1]
            raise ResrankError(f"{folder}: written with {written} torch thread{'s' if written > 1 else ''}; resume with as "
                               f"many (OMP_NUM_THREADS={written}), not {now}, or the result is not the uninterrupted run's")


def _logged_step(line: str) -> float:
    """The step of a log line; a line cut short by a kill counts as after every checkpoint."""
    try:
        return json.loads(line)["step"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return math.inf

