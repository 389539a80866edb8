"""Rate-distortion training: CompressAI's RD loss, the auxiliary quantile loss, validation.

`RDTraining` is the step; `tcic_lib.loop.fit` runs it (resume, checkpoints, progress, DDP).
`train()` is the one-call form notebooks and the zoo use.

Taught in notebooks/02_hyperprior.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
from compressai.losses import RateDistortionLoss
from torch.utils.data import Dataset

from . import distributed
from .config import SCHEDULES, TRAIN_ONLY, TrainConfig
from .loop import fit
from .metrics import psnr
from .models import Codec
from .tcic import ConditionalTCIC, plain_to_conditional_analysis

# captions, training? -> what the model's `text` argument takes (see tcic_lib.conditioning)
Conditioner = Callable[..., object]


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


def warm_start(model: Codec, base_state: dict) -> None:
    """Load every weight of a text-free base into `model`; the layers the base lacks (fusion blocks, the
    means of conditional coding) keep their initial values, which make them the identity or zero, so the
    warm-started model first codes and decodes as the base does."""
    if isinstance(model, ConditionalTCIC):
        base_state = plain_to_conditional_analysis(base_state)
    _, unexpected = model.load_state_dict(base_state, strict=False)
    if unexpected:
        raise ValueError(f"the base does not fit {model.arch}: it has {', '.join(unexpected[:4])}")


ENCODER_SIDE = ("g_a", "h_a", "h_s", "entropy_bottleneck", "gaussian_conditional")


def freeze_encoder_side(model: Codec) -> None:
    """Decoder-only training: the encoder, hyperprior and entropy models stop learning and code as at test
    time (rounding, not noise), so g_s learns from the very symbols the files will carry."""
    for name, module in model.named_children():
        if name in ENCODER_SIDE:
            module.requires_grad_(False).eval()


def split_parameters(model: Codec) -> tuple[list, list]:
    """(main, auxiliary): the entropy bottleneck's quantiles train only on the auxiliary loss."""
    main = [p for n, p in model.named_parameters() if not n.endswith(".quantiles") and p.requires_grad]
    aux = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
    return main, aux


class RDTraining:
    """One RD step: `lmbda * 255^2 * MSE + bpp` on the main parameters, the quantile loss on the auxiliary ones."""

    def __init__(self, model: Codec, cfg: TrainConfig, condition: Conditioner | None = None,
                 val_set: Dataset | None = None):
        self.model, self.cfg, self.condition, self.val_set = model, cfg, condition, val_set
        self.arch, self.model_config, self.train_config = type(model).__name__, model.config(), asdict(cfg)
        self.criterion = RateDistortionLoss(cfg.lmbda)
        self.device = torch.device("cpu")
        if cfg.schedule not in SCHEDULES or cfg.train_only not in TRAIN_ONLY:
            raise ValueError(f"schedule must be one of {SCHEDULES} and train_only one of {TRAIN_ONLY}")

    def _set_modes(self) -> None:
        self.model.train()
        if self.cfg.train_only == "decoder":
            freeze_encoder_side(self.model)

    def prepare(self, device: torch.device) -> None:
        self.device = device
        self.model.to(device)
        self._set_modes()
        main, aux = split_parameters(self.model)
        self._optimizers = {"main": torch.optim.Adam(main, lr=self.cfg.lr)}
        if aux and self.cfg.train_only == "all":
            self._optimizers["aux"] = torch.optim.Adam(aux, lr=self.cfg.aux_lr)
        self.replicated = distributed.wrap(self.model)  # DDP over several processes (torchrun), else the model

    def optimizers(self) -> dict:
        return self._optimizers

    def modules(self) -> dict:
        return {}

    def step(self, step: int, x: torch.Tensor, captions: list[str]) -> dict[str, float]:
        main, aux = self._optimizers["main"], self._optimizers.get("aux")
        self._set_modes()  # validation leaves every module in training mode
        for group in main.param_groups:
            group["lr"] = self.cfg.learning_rate(step)
        self.criterion.lmbda = self.cfg.lmbda_at(step)
        text = self.condition(captions, training=True) if self.condition else None
        terms = self.criterion(self.replicated(x, text), x)
        main.zero_grad()
        terms["loss"].backward()  # DDP averages these gradients over the processes
        if self.cfg.clip_max_norm > 0:
            torch.nn.utils.clip_grad_norm_(main.param_groups[0]["params"], self.cfg.clip_max_norm)
        main.step()
        aux_loss = self.model.aux_loss()
        if aux is not None:
            aux.zero_grad()
            aux_loss.backward()
            distributed.average_gradients(aux.param_groups[0]["params"])
            aux.step()
        return {**{k: v.item() for k, v in terms.items()}, "aux_loss": aux_loss.item()}

    def validate(self) -> dict | None:
        if self.val_set is None:
            return None
        return evaluate_rd(self.model, self.val_set, self.cfg.lmbda, condition=self.condition, device=self.device)

    def finish(self) -> None:
        self.model.update(force=True)


def train(model: Codec, train_set: Dataset, val_set: Dataset | None, cfg: TrainConfig,
          checkpoint: Path | None = None, condition: Conditioner | None = None,
          device: torch.device | str = "cpu", progress: bool = True, stop_at: int | None = None,
          desc: str | None = None) -> dict:
    """Train `model` for `cfg.steps`, resuming from `checkpoint` when it exists; returns the history.

    Saves (and validates) every `cfg.val_every` steps and at the end; raises `TrainingDiverged`
    on a non-finite loss. `stop_at` ends this call early; a later call resumes.
    """
    procedure = RDTraining(model, cfg, condition, val_set)
    return fit(procedure, train_set, cfg.steps, cfg.batch_size, cfg.seed, cfg.val_every, checkpoint, device,
               progress, stop_at, desc or f"{model.arch} λ={cfg.lmbda:g}", divergence_limit=float("inf"))
