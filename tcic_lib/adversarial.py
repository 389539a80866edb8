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
  same way in its second stage). Separate G/D optimisers; `GANTraining` is the step, and the
  shared loop (`tcic_lib.loop`) gives exact resume and stops a diverging run with the last good
  checkpoint kept.

Taught in notebooks/06_adversarial_finetuning.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
from compressai.losses import RateDistortionLoss
from torch.nn.utils.parametrizations import spectral_norm

from .loop import TrainingDiverged, fit, load_batch  # noqa: F401  TrainingDiverged: what a diverging run raises
from .losses import LPIPSLoss, d_hinge_loss, g_hinge_loss
from .texture import high_frequency_energy


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


def decoder_parameters(model, freeze_encoder: bool) -> list[nn.Parameter]:
    """What the generator step trains: the decoder alone (the encoder and entropy models frozen), or all."""
    if not freeze_encoder:
        return [p for n, p in model.named_parameters() if not n.endswith(".quantiles")]
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("g_s."))
    return list(model.g_s.parameters())


class GANTraining:
    """One fine-tuning step: D on real / decoded / mismatched pairs (+ MA-GP), then the decoder on
    rate + distortion + LPIPS + adversarial terms."""

    def __init__(self, model, discriminator: TextConditionalDiscriminator, cfg: GANConfig, condition=None,
                 val_set=None, val_images: int = 32):
        self.model, self.discriminator, self.cfg, self.condition = model, discriminator, cfg, condition
        self.val_batch = load_batch(val_set, list(range(min(val_images, len(val_set))))) if val_set else None
        self.arch, self.model_config, self.train_config = type(model).__name__, model.config(), asdict(cfg)

    def prepare(self, device: torch.device) -> None:
        # a frozen encoder runs in eval mode: rounded latents, true rates, the decoder sees what it will decode
        self.model.to(device).train(not self.cfg.freeze_encoder)
        self.discriminator.to(device).train()
        self.g_params = decoder_parameters(self.model, self.cfg.freeze_encoder)
        self._optimizers = {"g": torch.optim.Adam(self.g_params, lr=self.cfg.lr_g, betas=(0.5, 0.999)),
                            "d": torch.optim.Adam(self.discriminator.parameters(), lr=self.cfg.lr_d, betas=(0.5, 0.999))}
        self.rd, self.lpips = RateDistortionLoss(self.cfg.lmbda), LPIPSLoss().to(device)

    def optimizers(self) -> dict:
        return self._optimizers

    def modules(self) -> dict:
        return {"discriminator": self.discriminator}

    def _d_step(self, x, x_hat, pooled) -> tuple[dict, torch.Tensor]:
        d, cfg = self.discriminator, self.cfg
        d_text = pooled if d.conditional else None
        wrong = pooled.roll(1, dims=0) if d.conditional and pooled is not None else None  # another image's caption
        terms = d_hinge_loss(d(x, d_text), d(x_hat.detach(), d_text), d(x, wrong) if wrong is not None else None,
                             cfg.mismatch_weight)
        gp = matching_aware_gradient_penalty(d, x, d_text, cfg.gp_weight, cfg.gp_power)
        self._optimizers["d"].zero_grad()
        (terms["d_loss"] + gp).backward()
        self._optimizers["d"].step()
        return terms, gp

    def step(self, step: int, x: torch.Tensor, captions: list[str]) -> dict[str, float]:
        text = self.condition(captions, training=True) if self.condition else None
        pooled = text.pooled if text is not None else None
        out = self.model(x, text)
        x_hat = out["x_hat"].clamp(0, 1)
        d_terms, gp = self._d_step(x, x_hat, pooled)
        rd_terms = self.rd(out, x)
        perceptual = self.lpips(x_hat, x)
        adversarial = g_hinge_loss(self.discriminator(x_hat, pooled if self.discriminator.conditional else None))
        g_loss = rd_terms["loss"] + self.cfg.lpips_weight * perceptual + self.cfg.adv_weight * adversarial
        self._optimizers["g"].zero_grad()
        g_loss.backward()
        torch.nn.utils.clip_grad_norm_(self.g_params, 1.0)
        self._optimizers["g"].step()
        return {"g_loss": g_loss.item(), "d_loss": d_terms["d_loss"].item(), "lpips": perceptual.item(),
                "bpp": rd_terms["bpp_loss"].item(), "mse": rd_terms["mse_loss"].item(), "g_adv": adversarial.item(),
                "gp": gp.item(), **{k: v.item() for k, v in d_terms.items() if k != "d_loss"}}

    @torch.no_grad()
    def validate(self) -> dict[str, float] | None:
        """The curve that says when to stop: PSNR, LPIPS and high-frequency energy kept on fixed val scenes."""
        if self.val_batch is None:
            return None
        images, captions = self.val_batch
        x = images.to(next(self.model.parameters()).device)
        text = self.condition(captions, training=False) if self.condition else None
        x_hat = self.model(x, text)["x_hat"].clamp(0, 1)
        mse = (x_hat - x).pow(2).flatten(1).mean(1)
        return {"psnr": (-10 * mse.log10()).mean().item(), "lpips": self.lpips(x_hat, x).item(),
                "hf_kept": high_frequency_energy(x_hat) / high_frequency_energy(x)}

    def finish(self) -> None:
        self.model.update(force=True)


def finetune(model, discriminator: TextConditionalDiscriminator, train_set, cfg: GANConfig, condition=None,
             checkpoint: Path | None = None, device: torch.device | str = "cpu", progress: bool = True,
             stop_at: int | None = None, val_set=None) -> dict:
    """Adversarial fine-tuning of `model`'s decoder against `discriminator`; resumes from `checkpoint`.

    Returns the history (with `val_set`: a validation row every `cfg.log_every` steps); raises
    `TrainingDiverged` (keeping the last good checkpoint) when a loss leaves `cfg.divergence_limit`.
    """
    procedure = GANTraining(model, discriminator, cfg, condition, val_set)
    return fit(procedure, train_set, cfg.steps, cfg.batch_size, cfg.seed, cfg.log_every, checkpoint, device,
               progress, stop_at, f"GAN fine-tune λ={cfg.lmbda:g}", cfg.divergence_limit)


def discriminator_from_state(extra: dict, text_dim: int, cfg: GANConfig) -> TextConditionalDiscriminator:
    """The discriminator a fine-tuning checkpoint's `extra` holds (eval mode)."""
    d = TextConditionalDiscriminator(text_dim, cfg.d_channels, conditional=cfg.conditional)
    d.load_state_dict({k: v.float() for k, v in extra["discriminator"].items()})
    return d.eval()
