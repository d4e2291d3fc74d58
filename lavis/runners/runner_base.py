"""The epoch-based runner: the training loop, evaluation across ranks, checkpoints and resume.

``__init__`` reads as the build recipe: model to device → (DDP, or FSDP with ``run.parallel: fsdp``; see
:mod:`lavis.runners.parallel`) → data loaders → optimizer → schedule → scaler. Checkpoints have one format
whichever the parallelism: full tensors of the trainable weights and ``Optimizer.state_dict()``'s layout.
``train()`` runs epochs, validates, keeps the best checkpoint by the task's ``agg_metrics``, then evaluates
the test splits with the best weights. Everything needed to resume -- trainable weights,
optimizer, scaler, schedule position, sampler position, best metric and RNG states -- is saved together in
``checkpoint_last.pth``, so a killed run continues at the next optimizer step on the same schedule.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import ConcatDataset, DataLoader, Dataset, IterableDataset, default_collate

from lavis.common import dist, registry
from lavis.common.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from lavis.common.config import Config
from lavis.common.errors import CheckpointError, ConfigError, DataError
from lavis.common.io import write_json
from lavis.common.logger import MetricsLog, progress
from lavis.datasets.samplers import ResumableDistributedSampler, ShardSampler
from lavis.models.checkpoints import load_state_into
from lavis.runners import parallel

logger = logging.getLogger(__name__)
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class TrainState:
    epoch: int = 0  # current epoch
    step_in_epoch: int = 0  # optimizer steps already done in the current epoch
    global_step: int = 0  # optimizer steps done in total
    best_metric: float = -math.inf
    best_epoch: int = -1
    validated: bool = False  # whether the current epoch's validation already ran


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def collate_fn_for(dataset: Dataset):
    """The dataset's own collate function (``collater``), else torch's default."""
    inner = dataset.datasets[0] if isinstance(dataset, ConcatDataset) else dataset
    return getattr(inner, "collater", default_collate)


@registry.register_runner("runner_base")
class RunnerBase:
    def __init__(
        self,
        cfg: Config,
        task: Any,
        model: torch.nn.Module,
        datasets: dict[str, dict[str, Dataset]],
        device: torch.device,
    ) -> None:
        self.cfg = cfg
        self.run_cfg = run = cfg.run
        self.task = task
        self.device = device
        self.output_dir = Path(run.output_dir)
        self.result_dir = self.output_dir / "result"
        self.is_main = dist.is_main_process()
        self.metrics_log = MetricsLog(self.output_dir, enabled=self.is_main, tensorboard=run.tensorboard)
        self.state = TrainState()

        # model -----------------------------------------------------------------------------------
        self.model = model
        model.prepare_for_device(device)
        if run.grad_checkpointing:
            model.set_grad_checkpointing(True)
        self.amp_dtype = self._amp_dtype()

        # data ------------------------------------------------------------------------------------
        self.datasets = self._merge_datasets(datasets)
        self.train_loader = None
        if not run.evaluate and run.train_splits:
            self.train_dataset = self._train_dataset(run.train_splits)
            self.train_sampler = None
            if not isinstance(self.train_dataset, IterableDataset):
                self.train_sampler = ResumableDistributedSampler(
                    self.train_dataset, dist.get_world_size(), dist.get_rank(), shuffle=True, seed=run.seed
                )
            self.train_loader = self._loader(self.train_dataset, run.batch_size_train, self.train_sampler, True)
            batches = len(self.train_dataset) // (run.batch_size_train * dist.get_world_size())
            if self.train_sampler is not None:
                batches = len(self.train_loader)
            self.steps_per_epoch = batches // run.accum_grad_iters
            if self.steps_per_epoch == 0:
                raise ConfigError(
                    f"run: the train split has {len(self.train_dataset)} samples, fewer than one optimizer step "
                    f"(batch_size_train={run.batch_size_train} x accum_grad_iters={run.accum_grad_iters} "
                    f"x world_size={dist.get_world_size()})"
                )

        # optimisation (training only) --------------------------------------------------------------
        self.ddp_model = model
        self.fsdp = False
        if self.train_loader is not None:
            if run.parallel == "fsdp" and dist.is_dist():
                self.ddp_model = parallel.apply_fsdp(model)  # in place: ddp_model is model
                self.fsdp = True
            elif run.parallel == "fsdp":
                logger.info("run.parallel=fsdp in a single process: nothing to shard, training unsharded.")
            elif dist.is_dist():
                self.ddp_model = DDP(
                    model,
                    device_ids=[device.index] if device.type == "cuda" else None,
                    find_unused_parameters=False,
                    broadcast_buffers=False,
                )
            self.optimizer = torch.optim.AdamW(
                model.optimizer_param_groups(run.weight_decay), lr=run.init_lr, betas=(0.9, run.beta2)
            )
            total_steps = self.steps_per_epoch * run.max_epoch
            warmup = int(run.warmup_ratio * total_steps) if run.warmup_ratio is not None else run.warmup_steps
            self.scheduler = registry.lr_schedulers.get(run.lr_sched)(
                self.optimizer,
                total_steps=total_steps,
                init_lr=run.init_lr,
                min_lr=run.min_lr,
                warmup_lr=run.warmup_lr,
                warmup_steps=warmup,
                steps_per_epoch=self.steps_per_epoch,
                decay_rate=run.lr_decay_rate,
            )
            self.scaler = torch.amp.GradScaler("cuda") if run.amp == "fp16" else None

    # ------------------------------------------------------------------------------------------------
    # set-up helpers
    # ------------------------------------------------------------------------------------------------

    def _loader(self, dataset: Dataset, batch_size: int, sampler, train: bool) -> DataLoader:
        """Map-style datasets get ``sampler``; streaming (iterable) datasets split shards themselves."""
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=None if isinstance(dataset, IterableDataset) else sampler,
            num_workers=self.run_cfg.num_workers,
            collate_fn=collate_fn_for(dataset),
            pin_memory=self.device.type == "cuda",
            drop_last=train,
        )

    def _amp_dtype(self) -> torch.dtype | None:
        amp = self.run_cfg.amp
        if amp == "fp16" and self.device.type != "cuda":
            raise ConfigError("run.amp=fp16 needs a GPU; use bf16 or off on CPU")
        return AMP_DTYPES.get(amp)

    @staticmethod
    def _merge_datasets(datasets: dict[str, dict[str, Dataset]]) -> dict[str, dict[str, Dataset]]:
        """{name: {split: ds}} → {split: {name: ds}}."""
        out: dict[str, dict[str, Dataset]] = {}
        for name, splits in datasets.items():
            for split, ds in splits.items():
                out.setdefault(split, {})[name] = ds
        return out

    def _train_dataset(self, splits: list[str]) -> Dataset:
        parts = [ds for split in splits for ds in self.datasets.get(split, {}).values()]
        if not parts:
            raise ConfigError(f"run.train_splits {list(splits)}: no dataset provides these splits")
        return parts[0] if len(parts) == 1 else ConcatDataset(parts)

    def _eval_datasets(self, split: str) -> dict[str, Dataset]:
        if split not in self.datasets:
            raise ConfigError(f"split {split!r} is not built (check run.valid_splits / run.test_splits)")
        named = self.datasets[split]
        return {split if len(named) == 1 else f"{name}_{split}": ds for name, ds in named.items()}

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    # ------------------------------------------------------------------------------------------------
    # checkpoints
    # ------------------------------------------------------------------------------------------------

    def _trainable_state(self) -> dict[str, torch.Tensor]:
        """Trainable tensors as full tensors; under FSDP gathered from every rank (a collective: all ranks call
        it; rank 0 gets the tensors)."""
        if self.fsdp:
            return parallel.full_trainable_state(self.model, self.model.trainable_state_names())
        return self.model.trainable_state_dict()

    def _checkpoint_payload(self) -> dict[str, Any]:
        """Collective under FSDP (every rank calls it); the same layout as a DDP checkpoint."""
        optimizer = (
            parallel.full_optimizer_state(self.model, self.optimizer) if self.fsdp else self.optimizer.state_dict()
        )
        return {
            "model": self._trainable_state(),
            "optimizer": optimizer,
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "train_state": asdict(self.state),
            "rng": rng_state(),
            "world_size": dist.get_world_size(),
            "config": self.cfg.to_container(),
        }

    def save_last(self) -> None:
        if self.fsdp or self.is_main:
            payload = self._checkpoint_payload()
        if self.is_main:
            save_checkpoint(self.output_dir / "checkpoint_last.pth", payload)
        dist.barrier()

    def save_best(self, metrics: dict[str, Any]) -> None:
        if not (self.fsdp or self.is_main):
            return
        state = self._trainable_state()
        if self.is_main:
            save_checkpoint(
                self.output_dir / "checkpoint_best.pth",
                {
                    "model": state,
                    "epoch": self.state.epoch,
                    "metrics": metrics,
                    "config": self.cfg.to_container(),
                },
            )

    def resume(self, path: Path) -> None:
        ckpt = load_checkpoint(path, map_location="cpu")
        for key in ("model", "optimizer", "scheduler", "train_state"):
            if key not in ckpt:
                raise CheckpointError(f"{path}: not a resumable checkpoint (no '{key}' entry)")
        if ckpt.get("world_size", dist.get_world_size()) != dist.get_world_size():
            logger.warning(
                "Resuming a run saved with world_size=%s on world_size=%s: the data order changes from here.",
                ckpt.get("world_size"), dist.get_world_size(),
            )
        self._load_trainable(ckpt["model"], path)
        if self.fsdp:
            parallel.load_full_optimizer_state(self.model, self.optimizer, ckpt["optimizer"])
        else:
            self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        if self.scaler is not None and ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.state = TrainState(**ckpt["train_state"])
        if "rng" in ckpt:
            set_rng_state(ckpt["rng"])
        logger.info(
            "Resumed from %s at epoch %d, step %d of %d (global step %d).",
            path, self.state.epoch, self.state.step_in_epoch, self.steps_per_epoch, self.state.global_step,
        )

    def _load_trainable(self, state: dict[str, torch.Tensor], path: Path) -> None:
        load_state_into(
            self.model, state, str(path), missing_ok=self.model.expected_missing_keys(),
            load_fn=parallel.load_full_state if self.fsdp else None,
        )

    def load_best(self) -> bool:
        path = self.output_dir / "checkpoint_best.pth"
        if not path.is_file():
            return False
        ckpt = load_checkpoint(path, map_location="cpu")
        self._load_trainable(ckpt["model"], path)
        logger.info("Loaded the best checkpoint (epoch %s) from %s", ckpt.get("epoch"), path)
        return True

    # ------------------------------------------------------------------------------------------------
    # training
    # ------------------------------------------------------------------------------------------------

    def train(self) -> dict[str, Any]:
        run = self.run_cfg
        if self.train_loader is None:
            raise ConfigError("run.evaluate is true or run.train_splits is empty: nothing to train")
        resume_from = Path(run.resume_ckpt_path) if run.resume_ckpt_path else None
        if resume_from is None and run.resume and (self.output_dir / "checkpoint_last.pth").is_file():
            resume_from = self.output_dir / "checkpoint_last.pth"
        if resume_from is not None:
            self.resume(resume_from)
        elif (self.output_dir / "checkpoint_last.pth").is_file():
            logger.warning("%s already holds a run; starting afresh (pass --resume to continue it).", self.output_dir)
        logger.info(
            "Training: %d samples, %d optimizer steps per epoch, %d epochs, %d trainable parameters.",
            len(self.train_dataset), self.steps_per_epoch, run.max_epoch, self.model.num_parameters(True),
        )
        results: dict[str, Any] = {}
        while self.state.epoch < run.max_epoch:
            epoch = self.state.epoch
            if self.state.step_in_epoch < self.steps_per_epoch:
                self.train_epoch(epoch)
                self.save_last()
            if run.valid_splits and (epoch + 1) % run.val_freq == 0 and not self.state.validated:
                for i, split in enumerate(run.valid_splits):
                    for j, (name, ds) in enumerate(self._eval_datasets(split).items()):
                        metrics = self.evaluate_dataset(ds, name, f"epoch{epoch}")
                        results[f"{name}_epoch{epoch}"] = metrics
                        if i == 0 and j == 0:  # model selection uses the first validation set
                            self._update_best(metrics)
                self.state.validated = True
            elif not run.valid_splits:
                self.save_best({"epoch": epoch})
            if run.keep_epoch_checkpoints and (self.fsdp or self.is_main):
                payload = self._checkpoint_payload()
                if self.is_main:
                    save_checkpoint(self.output_dir / f"checkpoint_epoch{epoch}.pth", payload)
            self.state = TrainState(
                epoch=epoch + 1, step_in_epoch=0, global_step=self.state.global_step,
                best_metric=self.state.best_metric, best_epoch=self.state.best_epoch,
            )
            self.save_last()
        if run.test_splits:
            self.load_best()
            for split in run.test_splits:
                for name, ds in self._eval_datasets(split).items():
                    results[f"{name}_best"] = self.evaluate_dataset(ds, name, "best")
        if self.is_main:
            write_json(self.output_dir / "results.json", {"best_epoch": self.state.best_epoch, "results": results})
        self.metrics_log.close()
        return results

    def _update_best(self, metrics: dict[str, Any]) -> None:
        name = self.task.selection_metric
        if name not in metrics:
            raise ConfigError(f"the task's selection metric {name!r} is not among its metrics ({', '.join(metrics)})")
        value = float(metrics[name])
        if value > self.state.best_metric:
            self.state.best_metric = value
            self.state.best_epoch = self.state.epoch
            self.save_best(metrics)
            logger.info("New best %s %.3f at epoch %d.", name, value, self.state.epoch)

    def _zero_loss(self) -> torch.Tensor:
        """A loss touching every trainable parameter, for a batch whose samples were all skipped (keeps DDP in step)."""
        if self.fsdp:
            # The other ranks are all-gathering and reduce-scattering block by block; a rank without a forward
            # pass cannot join those collectives.
            raise DataError(
                "every sample of a training batch was skipped (bad videos), which run.parallel=fsdp cannot keep "
                "in step across ranks; fix the videos, raise run.batch_size_train, or use run.parallel=ddp"
            )
        return sum(p.sum() * 0.0 for p in self.model.parameters() if p.requires_grad)

    def train_epoch(self, epoch: int) -> None:
        run = self.run_cfg
        accum = run.accum_grad_iters
        start_step = self.state.step_in_epoch
        self.model.train()
        for ds in getattr(self.train_dataset, "datasets", [self.train_dataset]):
            if hasattr(ds, "set_epoch"):
                ds.set_epoch(epoch)
        skip_batches = 0
        if self.train_sampler is not None:
            self.train_sampler.set_epoch(epoch, start_index=start_step * accum * run.batch_size_train)
        else:
            skip_batches = start_step * accum  # a stream cannot seek: re-read and drop consumed batches
        micro_total = (self.steps_per_epoch - start_step) * accum
        loader = iter(self.train_loader)
        for _ in range(skip_batches):
            loader = self._next_batch(loader)[1]
        bar = progress(range(micro_total), total=micro_total, desc=f"epoch {epoch}", enabled=self.is_main)
        running, skipped, t0 = 0.0, 0, time.time()
        self.optimizer.zero_grad(set_to_none=True)
        for micro in bar:
            batch, loader = self._next_batch(loader)
            skipped += batch.get("num_skipped", 0)
            sync = (micro + 1) % accum == 0
            no_sync = contextlib.nullcontext()
            if self.fsdp:
                parallel.set_gradient_sync(self.model, sync)
            elif dist.is_dist() and not sync:
                no_sync = self.ddp_model.no_sync()
            with no_sync:
                with self.autocast():
                    loss = self._zero_loss() if self.task.is_empty(batch) else self.task.train_step(self.ddp_model, batch)
                if not torch.isfinite(loss):
                    raise DataError(
                        f"non-finite loss ({loss.item()}) at epoch {epoch}, step {self.state.step_in_epoch}; "
                        "lower run.init_lr or switch run.amp to bf16/off"
                    )
                scaled = loss / accum
                (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            running += loss.item() / accum
            if not sync:
                continue
            self._optimizer_step()
            self.state.step_in_epoch += 1
            self.state.global_step += 1
            if self.state.global_step % run.log_freq == 0 or self.state.step_in_epoch == self.steps_per_epoch:
                lr = self.optimizer.param_groups[0]["lr"]
                self.metrics_log.log(
                    "train", self.state.global_step, epoch=epoch, loss=round(running, 6), lr=lr,
                    skipped=skipped, sec_per_step=round((time.time() - t0) / max(1, micro + 1) * accum, 4),
                )
                if self.is_main and hasattr(bar, "set_postfix"):
                    bar.set_postfix(loss=f"{running:.4f}", lr=f"{lr:.2e}")
            running = 0.0
            if run.save_freq_iters and self.state.global_step % run.save_freq_iters == 0:
                self.save_last()
        if skipped:
            logger.warning("Epoch %d: %d samples skipped (bad videos, on_bad_video=skip).", epoch, skipped)

    def _next_batch(self, loader):
        """The next batch; a stream that runs dry before the epoch's step count restarts (ranks stay in step)."""
        try:
            return next(loader), loader
        except StopIteration:
            loader = iter(self.train_loader)
            return next(loader), loader

    def _optimizer_step(self) -> None:
        clip = self.run_cfg.grad_clip_norm
        if self.scaler is not None:
            if clip:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            if clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()

    # ------------------------------------------------------------------------------------------------
    # evaluation
    # ------------------------------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate_dataset(self, dataset: Dataset, split: str, tag: str) -> dict[str, Any]:
        """Run ``valid_step`` on this rank's shard, gather every rank's records, score on rank 0."""
        run = self.run_cfg
        self.model.eval()
        parallel.set_eval_mode(self.model, True)
        sampler = ShardSampler(len(dataset), dist.get_world_size(), dist.get_rank())
        loader = self._loader(dataset, run.batch_size_eval, sampler, train=False)
        records: list[dict[str, Any]] = []
        skipped = 0
        total = len(sampler) // run.batch_size_eval if isinstance(dataset, IterableDataset) else len(loader)
        for batch in progress(loader, total=total, desc=f"eval {split}", enabled=self.is_main):
            skipped += batch.get("num_skipped", 0)
            if self.task.is_empty(batch):
                continue
            with self.autocast():
                records.extend(self.task.valid_step(self.model, batch))
        gathered = dist.all_gather_objects((records, skipped))
        metrics: dict[str, Any] = {}
        if self.is_main:
            merged: dict[Any, dict[str, Any]] = {}
            for part, _ in gathered:
                for rec in part:
                    merged.setdefault(self.task.record_key(rec), rec)
            ordered = sorted(merged.values(), key=lambda rec: rec["index"])
            total_skipped = sum(s for _, s in gathered)
            if total_skipped:
                logger.warning("%s: %d samples skipped (bad videos); they are not scored.", split, total_skipped)
            metrics = self.task.after_evaluation(ordered, split, tag, self.result_dir)
            metrics["num_skipped"] = total_skipped
            self.metrics_log.log("eval", self.state.global_step, split=split, tag=tag, **metrics)
            logger.info("%s (%s): %s", split, tag, self.task.format_metrics(metrics))
        metrics = dist.broadcast_object(metrics)
        parallel.set_eval_mode(self.model, False)
        self.model.train()
        return metrics

    def evaluate(self, splits: list[str] | None = None, tag: str = "eval") -> dict[str, Any]:
        results = {}
        for split in splits or self.run_cfg.test_splits:
            for name, ds in self._eval_datasets(split).items():
                results[name] = self.evaluate_dataset(ds, name, tag)
        if self.is_main:
            write_json(self.output_dir / f"results_{tag}.json", results)
        self.metrics_log.close()
        return results

