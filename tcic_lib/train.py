"""One training loop for every codec: RD loss, auxiliary loss, validation, resumable checkpoints.

Each step draws its batch and its quantisation noise from seeds derived from (seed, step), so a
run resumed from a checkpoint takes exactly the steps an uninterrupted run would.

Taught in notebooks/02_hyperprior.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from . import distributed
from .losses import RateDistortionLoss
from .metrics import psnr
from .models import Codec, build_model

log = logging.getLogger(__name__)

# captions, training? -> what the model's `text` argument takes (see tcic_lib.conditioning)
Conditioner = Callable[..., object]


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run; they never reach the model's constructor."""

    lmbda: float = 0.01  # RD trade-off: lmbda * 255^2 * MSE + bpp
    steps: int = 1000  # optimisation steps
    batch_size: int = 8  # images per step
    lr: float = 1e-3  # main optimiser (transforms, hyperprior, scales)
    aux_lr: float = 1e-3  # auxiliary optimiser (entropy bottleneck quantiles)
    clip_max_norm: float = 1.0  # gradient clipping of the main parameters
    val_every: int = 250  # validate every this many steps (and at the end)
    seed: int = 0  # batch order and quantisation noise
    lr_drop_at: float = 0.8  # fraction of steps after which the learning rate drops 10x

    @classmethod
    def from_profile(cls, profile, lmbda: float, **changes) -> "TrainConfig":
        base = cls(
            lmbda=lmbda, steps=profile.steps, batch_size=profile.batch_size, lr=profile.lr,
            aux_lr=profile.aux_lr, val_every=profile.val_every, seed=profile.seed,
        )
        return cls(**{**asdict(base), **changes})


@dataclass
class History:
    """What the loop measured, for plots: one row per logged step."""

    train: list[dict] = field(default_factory=list)
    val: list[dict] = field(default_factory=list)


def _step_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step) % (2**63)


def _batch(dataset: Dataset, cfg: TrainConfig, step: int, rank: int = 0, world: int = 1) -> tuple[torch.Tensor, list[str]]:
    """The batch for `step`: a fixed function of (seed, step), so resuming repeats it.

    With `world` processes, each takes its own `batch_size` slice of a `world * batch_size` batch
    (what a DistributedSampler does), so the replicas never see the same image in a step.
    """
    per_epoch = max(1, len(dataset) // (cfg.batch_size * world))
    epoch, offset = divmod(step, per_epoch)
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(_step_seed(cfg.seed, -1 - epoch)))
    start = (offset * world + rank) * cfg.batch_size
    indices = order[start : start + cfg.batch_size].tolist()
    images, captions = zip(*(dataset[i] for i in indices))
    return torch.stack(images), list(captions)


@torch.no_grad()
def evaluate_rd(model: Codec, dataset: Dataset, lmbda: float, batch_size: int = 16,
                condition: Conditioner | None = None, device: torch.device | str = "cpu") -> dict:
    """Mean estimated bpp, MSE, PSNR and loss of `model` (eval mode) over `dataset`."""
    was_training = model.training
    model.eval()
    criterion = RateDistortionLoss(lmbda)
    totals = {"bpp_loss": 0.0, "mse_loss": 0.0, "loss": 0.0, "psnr": 0.0}
    for start in range(0, len(dataset), batch_size):
        images, captions = zip(*(dataset[i] for i in range(start, min(start + batch_size, len(dataset)))))
        x = torch.stack(images).to(device)
        text = condition(list(captions), training=False) if condition else None
        out = model(x, text)
        out["x_hat"] = out["x_hat"].clamp(0, 1)
        terms = criterion(out, x)
        for key in ("bpp_loss", "mse_loss", "loss"):
            totals[key] += terms[key].item() * len(x)
        totals["psnr"] += psnr(out["x_hat"], x).sum().item()
    model.train(was_training)
    return {key: value / len(dataset) for key, value in totals.items()}


def _optimizers(model: Codec, cfg: TrainConfig):
    main = [p for n, p in model.named_parameters() if not n.endswith(".quantiles") and p.requires_grad]
    aux = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
    return torch.optim.Adam(main, lr=cfg.lr), torch.optim.Adam(aux, lr=cfg.aux_lr)


def write_atomically(state: dict, path: Path) -> None:
    """torch.save through a temporary file, so a crash never leaves a half-written checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def save_checkpoint(path: Path, model: Codec, cfg: TrainConfig, step: int, history: History,
                    optimizer=None, aux_optimizer=None, extra: dict | None = None) -> None:
    """Architecture, sizes, weights, training config and progress; loads with weights_only=True."""
    state = {
        "arch": type(model).__name__, "model_config": model.config(), "state_dict": model.state_dict(),
        "train_config": asdict(cfg), "step": step, "history": asdict(history), "extra": extra or {},
    }
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
        state["aux_optimizer"] = aux_optimizer.state_dict()
    write_atomically(state, path)


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded into the model asked for."""


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    """A checkpoint's contents (weights_only=True), with a clear error for files that are not ours."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:
        raise CheckpointError(f"{path}: not a readable tcic checkpoint ({err})") from err
    if not isinstance(state, dict) or not {"arch", "model_config", "state_dict"} <= state.keys():
        raise CheckpointError(f"{path}: not a tcic checkpoint (missing arch/model_config/state_dict)")
    return state


def model_from_checkpoint(path: Path, expect_arch: str | None = None) -> Codec:
    """Rebuild the model a checkpoint describes, ready to code (update() already run)."""
    state = load_checkpoint(path)
    if expect_arch and state["arch"] != expect_arch:
        raise CheckpointError(f"{path}: holds a {state['arch']} model, expected {expect_arch}")
    model = build_model(state["arch"], **state["model_config"])
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit {model.arch}: {str(err).splitlines()[0]}") from err
    model.update(force=True)
    return model.eval()


def train(model: Codec, train_set: Dataset, val_set: Dataset | None, cfg: TrainConfig,
          checkpoint: Path | None = None, condition: Conditioner | None = None,
          device: torch.device | str = "cpu", progress: bool = True, stop_at: int | None = None) -> History:
    """Train `model` for `cfg.steps`, resuming from `checkpoint` when it exists.

    Saves to `checkpoint` at every validation and when stopping; raises on a non-finite loss.
    `stop_at` ends this call early at that step (a time-boxed session); a later call resumes.
    Under torchrun it trains data-parallel (tcic_lib.distributed); rank 0 validates and saves.
    """
    device = distributed.device_for_rank(torch.device(device))
    rank, world, main = distributed.rank(), distributed.world_size(), distributed.is_main()
    model.to(device).train()
    optimizer, aux_optimizer = _optimizers(model, cfg)
    criterion = RateDistortionLoss(cfg.lmbda)
    history, start = History(), 0
    if checkpoint is not None and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint, map_location=device)
        model.load_state_dict(state["state_dict"])
        if "optimizer" in state:
            optimizer.load_state_dict(state["optimizer"])
            aux_optimizer.load_state_dict(state["aux_optimizer"])
        history, start = History(**state["history"]), int(state["step"])
        log.info("resumed %s from step %d", checkpoint, start)
    replicated = distributed.wrap(model)  # DDP over several processes (torchrun), else the model itself
    drop_at = int(cfg.lr_drop_at * cfg.steps)
    end = cfg.steps if stop_at is None else min(cfg.steps, stop_at)
    bar = tqdm(range(start, end), desc=f"train {model.arch} λ={cfg.lmbda:g}", disable=not (progress and main),
               initial=start, total=cfg.steps)
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr * (0.1 if step >= drop_at else 1.0)
        images, captions = _batch(train_set, cfg, step, rank, world)
        torch.manual_seed(_step_seed(cfg.seed + 7919 * rank, step))  # quantisation noise and caption dropout
        x = images.to(device)
        text = condition(captions, training=True) if condition else None
        terms = criterion(replicated(x, text), x)
        if not math.isfinite(terms["loss"].item()):
            raise FloatingPointError(f"non-finite loss at step {step}: {terms}")
        optimizer.zero_grad()
        terms["loss"].backward()  # DDP averages these gradients over the processes
        if cfg.clip_max_norm > 0:
            torch.nn.utils.clip_grad_norm_(optimizer.param_groups[0]["params"], cfg.clip_max_norm)
        optimizer.step()
        aux_loss = model.aux_loss()
        aux_optimizer.zero_grad()
        aux_loss.backward()
        distributed.average_gradients(aux_optimizer.param_groups[0]["params"])
        aux_optimizer.step()
        row = {"step": step + 1, **{k: v.item() for k, v in terms.items()}, "aux_loss": aux_loss.item()}
        history.train.append(row)
        bar.set_postfix(loss=f"{row['loss']:.3f}", bpp=f"{row['bpp_loss']:.3f}", mse=f"{row['mse_loss']:.4f}")
        validate = (step + 1) % cfg.val_every == 0 or step + 1 == cfg.steps
        if validate and val_set is not None and main:
            history.val.append({"step": step + 1, **evaluate_rd(model, val_set, cfg.lmbda, condition=condition, device=device)})
        if checkpoint is not None and main and (validate or step + 1 == end):
            save_checkpoint(checkpoint, model, cfg, step + 1, history, optimizer, aux_optimizer)
    model.update(force=True)
    return history
