"""One training loop for everything the course trains; a training procedure supplies only its step.

The loop owns what every run needs: the batch of each step (a fixed function of seed and step,
so a resumed run takes exactly the steps an uninterrupted one would), per-step seeding of
quantisation noise and caption dropout, resume from a checkpoint, `stop_at` (a time-boxed
session), a divergence stop that keeps the last good checkpoint, a progress bar, validation
and atomic checkpoints on rank 0, and data-parallel training under torchrun.

A procedure (`train.RDTraining`, `adversarial.GANTraining`, `contrastive.ContrastiveTraining`)
has `model`, `arch`, `model_config`, `train_config`, `optimizers()`, `modules()`, `prepare(device)`,
`step(step, images, captions) -> dict of floats`, `validate() -> dict | None` and `finish()`.

Taught in notebooks/02_hyperprior.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Protocol

import torch
from torch.utils.data import Dataset, DistributedSampler
from .progress import tqdm

from . import distributed
from .checkpoint import FORMAT, load_checkpoint, write_atomically

log = logging.getLogger(__name__)
ANNOUNCE_AFTER = 5  # steps timed before the loop says how long the run will take


class TrainingDiverged(FloatingPointError):
    """A run stopped on a non-finite or exploding loss; the last good checkpoint is kept."""


class Procedure(Protocol):
    model: torch.nn.Module
    arch: str
    model_config: dict
    train_config: dict

    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...
    def modules(self) -> dict[str, torch.nn.Module]: ...
    def prepare(self, device: torch.device) -> None: ...
    def step(self, step: int, images: torch.Tensor, captions: list[str]) -> dict[str, float]: ...
    def validate(self) -> dict | None: ...
    def finish(self) -> None: ...


def step_seed(seed: int, step: int) -> int:
    """The seed of one step's randomness (noise, dropout): distinct for every (seed, step)."""
    return (seed * 1_000_003 + step) % (2**63)


def batch_indices(n: int, batch_size: int, seed: int, step: int, rank: int = 0, world: int = 1) -> list[int]:
    """The dataset indices of `step`'s batch for process `rank` of `world`: each epoch is a seeded
    shuffle split across processes (torch's `DistributedSampler`), so replicas never share an image."""
    sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True)
    per_epoch = max(1, len(sampler) // batch_size)
    epoch, offset = divmod(step, per_epoch)
    sampler.set_epoch(epoch)
    order = list(sampler)
    return order[offset * batch_size:(offset + 1) * batch_size]


def load_batch(dataset: Dataset, indices: list[int]) -> tuple[torch.Tensor, list[str]]:
    images, captions = zip(*(dataset[i] for i in indices))
    return torch.stack(images), list(captions)


def _save(procedure: Procedure, path: Path, step: int, history: dict, wall_s: float) -> None:
    extra = {name: module.state_dict() for name, module in procedure.modules().items()}
    extra["wall_s"] = round(wall_s, 1)  # training time so far, summed over resumed sessions (for model cards)
    extra |= {f"opt_{name}": opt.state_dict() for name, opt in procedure.optimizers().items()}
    write_atomically({"format": FORMAT, "arch": procedure.arch, "model_config": procedure.model_config,
                      "state_dict": procedure.model.state_dict(), "train_config": procedure.train_config,
                      "step": step, "history": history, "extra": extra}, path)


def _resume(procedure: Procedure, path: Path | None, device: torch.device) -> tuple[int, dict, float]:
    """Load a checkpoint's weights, optimiser states (when it has them) and history; (step, history, wall_s)."""
    if path is None or not Path(path).exists():
        return 0, {"train": [], "val": []}, 0.0
    state = load_checkpoint(path, map_location=device)
    procedure.model.load_state_dict(state["state_dict"])
    extra = state.get("extra", {})
    for name, module in procedure.modules().items():
        module.load_state_dict(extra[name])
    for name, optimizer in procedure.optimizers().items():
        if f"opt_{name}" in extra:  # shipped checkpoints carry no optimiser state
            optimizer.load_state_dict(extra[f"opt_{name}"])
    log.info("resumed %s from step %d", path, state["step"])
    return int(state["step"]), state["history"], float(extra.get("wall_s", 0.0))


def _check(row: dict, limit: float, checkpoint: Path | None) -> None:
    bad = [k for k, v in row.items() if k != "step" and (not math.isfinite(v) or abs(v) > limit)]
    if bad:
        kept = f"the last good checkpoint is {checkpoint}" if checkpoint else "no checkpoint was written"
        raise TrainingDiverged(f"step {row['step']}: {', '.join(f'{k}={row[k]:.3g}' for k in bad)}; {kept} "
                               "(lower the learning rates or the loss weights)")


def fit(procedure: Procedure, dataset: Dataset, steps: int, batch_size: int, seed: int = 0, save_every: int = 250,
        checkpoint: Path | None = None, device: torch.device | str = "cpu", progress: bool = True,
        stop_at: int | None = None, desc: str = "train", divergence_limit: float = math.inf) -> dict:
    """Run `procedure` to `steps` (or `stop_at`), resuming from `checkpoint`; returns the history.

    Saves (and validates) every `save_every` steps, at `stop_at` and at the end, on rank 0 only.
    """
    device = distributed.device_for_rank(torch.device(device))
    rank, world, main = distributed.rank(), distributed.world_size(), distributed.is_main()
    procedure.prepare(device)
    start, history, previous_s = _resume(procedure, checkpoint, device)
    end = steps if stop_at is None else min(steps, stop_at)
    if start < end and main:
        log.info("training %s: steps %d to %d of %d", desc, start, end, steps)
    bar = tqdm(range(start, end), desc=desc, disable=not (progress and main), initial=start, total=steps)
    began = time.perf_counter()
    for step in bar:
        images, captions = load_batch(dataset, batch_indices(len(dataset), batch_size, seed, step, rank, world))
        torch.manual_seed(step_seed(seed + 7919 * rank, step))  # quantisation noise and caption dropout
        row = {"step": step + 1, **procedure.step(step, images.to(device), captions)}
        _check(row, divergence_limit, checkpoint)
        history["train"].append(row)
        bar.set_postfix({k: f"{v:.4g}" for k, v in list(row.items())[1:4]})
        if step + 1 == start + ANNOUNCE_AFTER and main and end - step > 1:
            minutes = (time.perf_counter() - began) / ANNOUNCE_AFTER * (end - step - 1) / 60
            log.info("%s: about %.0f more minutes at the pace of the first steps", desc, minutes)
        save = (step + 1) % save_every == 0 or step + 1 in (end, steps)
        if save and main:
            if (val := procedure.validate()) is not None:
                history["val"].append({"step": step + 1, **val})
            if checkpoint is not None:
                _save(procedure, checkpoint, step + 1, history, previous_s + time.perf_counter() - began)
    procedure.finish()
    return history
