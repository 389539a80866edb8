"""Text-conditional adversarial fine-tuning: a discriminator that reads the caption, and the loop.

TCIC's abstract says a text-conditional GAN fine-tunes the codec for perceptual quality. The
design here is ours, from the text-to-image GAN literature:

- `TextConditionalDiscriminator`: a spectrally normalised conv stack gives patch features; the
  score of each patch is `w . f + <P t, f>` (a projection discriminator, Miyato & Koyama 2018),
  so the caption changes what counts as real. `conditional=False` drops the caption term.
- Hinge losses with a mismatched-caption term (a real image with a wrong caption counts as
  fake) and the matching-aware gradient penalty of DF-GAN (Tao et al. 2022) on real pairs.
- `finetune`: the decoder is trained on `rate + lmbda * 255^2 * MSE + w_lpips * LPIPS +
  w_adv * G_hinge`; with `freeze_encoder=True` (default) the encoder and entropy models stay
  fixed, so the bitstreams, and the bpp, are exactly those of the RD model (HiFiC fine-tunes the
  same way in its second stage). Separate G/D optimisers, per-step seeds (exact resume),
  non-finite or diverging losses stop the run with the last good checkpoint kept.

Taught in notebooks/06_adversarial_finetuning.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
from torch.nn.utils.parametrizations import spectral_norm
from tqdm.auto import tqdm

from .fusion import TextCondition
from .losses import LPIPSLoss, RateDistortionLoss, d_hinge_loss, g_hinge_loss
from .train import _batch, _step_seed, load_checkpoint, write_atomically

log = logging.getLogger(__name__)


class TextConditionalDiscriminator(nn.Module):
    """Patch scores for (image, caption) pairs: `w . f(x) + <P t, f(x)>` at every patch."""

    def __init__(self, text_dim: int, channels: int = 64, stages: int = 3, conditional: bool = True):
        super().__init__()
        self.text_dim, self.conditional = text_dim, conditional
        layers, c_in = [], 3
        for i in range(stages):
            c_out = channels * 2**min(i, 2)
            layers += [spectral_norm(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            c_in = c_out
        self.features = nn.Sequential(*layers, spectral_norm(nn.Conv2d(c_in, c_in, 3, padding=1)), nn.LeakyReLU(0.2))
        self.score = spectral_norm(nn.Conv2d(c_in, 1, 1))
        self.project = spectral_norm(nn.Linear(text_dim, c_in)) if conditional else None

    def forward(self, x: torch.Tensor, text: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, 3, H, W) in [0, 1], text (B, text_dim) pooled caption features or None -> (B, patches)."""
        f = self.features(x * 2 - 1)
        out = self.score(f)
        if self.project is not None and text is not None:
            out = out + (self.project(text)[..., None, None] * f).sum(1, keepdim=True)
        return out.flatten(1)


def matching_aware_gradient_penalty(discriminator: nn.Module, x: torch.Tensor, text: torch.Tensor | None,
                                    weight: float = 2.0, power: float = 6.0) -> torch.Tensor:
    """DF-GAN's MA-GP: `weight * mean(||grad_(x, t) D(x, t)||^power)` on real, matching pairs."""
    x = x.detach().requires_grad_(True)
    inputs = [x]
    if text is not None:
        text = text.detach().requires_grad_(True)
        inputs.append(text)
    scores = discriminator(x, text).mean(1)  # one score per image, as in DF-GAN, whatever the patch count
    grads = torch.autograd.grad(scores.sum(), inputs, create_graph=True)
    norm = torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in grads) + 1e-12)
    return weight * norm.pow(power).mean()


@dataclass(frozen=True)
class GANConfig:
    """Settings of one adversarial fine-tuning run."""

    lmbda: float = 0.013  # the RD model's trade-off, kept in the generator loss
    steps: int = 1000
    batch_size: int = 8
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    lpips_weight: float = 20.0  # LPIPS is ~100x smaller than our 255^2-scaled MSE term; ours, not tuned on test data
    adv_weight: float = 0.05  # small, as in HiFiC: large weights trade much PSNR for realism
    mismatch_weight: float = 0.5
    gp_weight: float = 2.0
    gp_power: float = 6.0
    freeze_encoder: bool = True
    conditional: bool = True
    d_channels: int = 64
    log_every: int = 50
    seed: int = 0
    divergence_limit: float = 1e4  # |loss| above this (or non-finite) stops the run

    @classmethod
    def from_profile(cls, p, lmbda: float, **changes) -> "GANConfig":
        return cls(**{**asdict(cls(lmbda=lmbda, steps=p.gan_steps, batch_size=p.batch_size, seed=p.seed)), **changes})


@dataclass
class GANHistory:
    rows: list[dict] = field(default_factory=list)


class TrainingDiverged(RuntimeError):
    """A fine-tuning run stopped on a non-finite or exploding loss; the last good checkpoint is kept."""


def _text(condition, captions, training: bool) -> tuple[TextCondition | None, torch.Tensor | None]:
    text = condition(captions, training=training) if condition else None
    return text, (text.pooled if text is not None else None)


def _decoder_parameters(model, freeze_encoder: bool) -> list[nn.Parameter]:
    if not freeze_encoder:
        return [p for n, p in model.named_parameters() if not n.endswith(".quantiles")]
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("g_s."))
    return list(model.g_s.parameters())


def finetune(model, discriminator: TextConditionalDiscriminator, train_set, cfg: GANConfig, condition=None,
             checkpoint: Path | None = None, device: torch.device | str = "cpu", progress: bool = True,
             stop_at: int | None = None) -> GANHistory:
    """Adversarial fine-tuning of `model`'s decoder against `discriminator`; resumes from `checkpoint`."""
    # a frozen encoder runs in eval mode: rounded latents, true rates, the decoder sees what it will decode
    model.to(device).train(not cfg.freeze_encoder)
    discriminator.to(device).train()
    g_params = _decoder_parameters(model, cfg.freeze_encoder)
    opt_g = torch.optim.Adam(g_params, lr=cfg.lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=cfg.lr_d, betas=(0.5, 0.999))
    rd, lpips = RateDistortionLoss(cfg.lmbda), LPIPSLoss().to(device)
    history, start = GANHistory(), 0
    if checkpoint is not None and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint, map_location=device)
        model.load_state_dict(state["state_dict"])
        discriminator.load_state_dict(state["extra"]["discriminator"])
        if "opt_g" in state["extra"]:  # shipped checkpoints carry no optimiser state
            opt_g.load_state_dict(state["extra"]["opt_g"])
            opt_d.load_state_dict(state["extra"]["opt_d"])
        history, start = GANHistory(state["history"]["rows"]), int(state["step"])
    end = cfg.steps if stop_at is None else min(cfg.steps, stop_at)
    bar = tqdm(range(start, end), desc=f"GAN fine-tune λ={cfg.lmbda:g}", disable=not progress, initial=start,
               total=cfg.steps)
    for step in bar:
        images, captions = _batch(train_set, cfg, step)
        torch.manual_seed(_step_seed(cfg.seed, step))
        x = images.to(device)
        text, pooled = _text(condition, captions, training=True)
        wrong = pooled.roll(1, dims=0) if pooled is not None else None  # each image with another's caption
        d_text = pooled if discriminator.conditional else None

        out = model(x, text)
        x_hat = out["x_hat"].clamp(0, 1)
        # discriminator step
        d_terms = d_hinge_loss(discriminator(x, d_text), discriminator(x_hat.detach(), d_text),
                               discriminator(x, wrong) if discriminator.conditional and wrong is not None else None,
                               cfg.mismatch_weight)
        gp = matching_aware_gradient_penalty(discriminator, x, d_text, cfg.gp_weight, cfg.gp_power)
        opt_d.zero_grad()
        (d_terms["d_loss"] + gp).backward()
        opt_d.step()
        # generator (decoder) step
        rd_terms = rd(out, x)
        perceptual = lpips(x_hat, x)
        adversarial = g_hinge_loss(discriminator(x_hat, d_text))
        g_loss = rd_terms["loss"] + cfg.lpips_weight * perceptual + cfg.adv_weight * adversarial
        opt_g.zero_grad()
        g_loss.backward()
        torch.nn.utils.clip_grad_norm_(g_params, 1.0)
        opt_g.step()

        row = {"step": step + 1, "g_loss": g_loss.item(), "bpp": rd_terms["bpp_loss"].item(),
               "mse": rd_terms["mse_loss"].item(), "lpips": perceptual.item(), "g_adv": adversarial.item(),
               "gp": gp.item(), **{k: v.item() for k, v in d_terms.items()}}
        bad = [k for k in ("g_loss", "d_loss", "gp") if not math.isfinite(row[k]) or abs(row[k]) > cfg.divergence_limit]
        if bad:
            raise TrainingDiverged(f"step {step + 1}: {', '.join(f'{k}={row[k]:.3g}' for k in bad)}; "
                                   f"{'the last good checkpoint is ' + str(checkpoint) if checkpoint else 'no checkpoint'}"
                                   f" (lower the learning rates or adv_weight)")
        history.rows.append(row)
        bar.set_postfix(g=f"{row['g_loss']:.3f}", d=f"{row['d_loss']:.3f}", lpips=f"{row['lpips']:.3f}")
        if checkpoint is not None and ((step + 1) % cfg.log_every == 0 or step + 1 == end):
            _save(checkpoint, model, discriminator, opt_g, opt_d, cfg, step + 1, history)
    model.update(force=True)
    return history


def _save(path, model, discriminator, opt_g, opt_d, cfg, step, history) -> None:
    write_atomically({
        "arch": type(model).__name__, "model_config": model.config(), "state_dict": model.state_dict(),
        "train_config": asdict(cfg), "step": step, "history": asdict(history),
        "extra": {"discriminator": discriminator.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                  "discriminator_config": {"text_dim": discriminator.text_dim, "conditional": discriminator.conditional}},
    }, Path(path))
