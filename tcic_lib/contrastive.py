"""Contrastive training of the course's mini-CLIP (open_clip's `ClipLoss`) through the shared loop.

Image and caption embeddings of a batch are pulled together for matching pairs and apart for
every other pairing; the learning rate warms up over the first tenth of the steps and then
follows a cosine to zero (a function of the step, so a resumed run repeats it exactly).

Taught in notebooks/03_clip_text_features.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import torch

from .loop import fit
from .text import MiniClipConfig, build_minclip, normalize_images, tokenize

WARMUP = 0.1  # fraction of steps with a rising learning rate


def learning_rate(step: int, steps: int, peak: float) -> float:
    """Linear warm-up to `peak`, then a cosine to zero."""
    warm = max(1, int(WARMUP * steps))
    if step < warm:
        return peak * (step + 1) / warm
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))


class ContrastiveTraining:
    """One step of CLIP's symmetric cross-entropy over a batch of (image, caption) pairs."""

    arch = "MiniCLIP"

    def __init__(self, cfg: MiniClipConfig, steps: int, lr: float = 1e-3, weight_decay: float = 0.1, seed: int = 0):
        torch.manual_seed(seed)  # the initial weights are part of the recipe
        self.model, self.cfg, self.steps, self.lr = build_minclip(cfg), cfg, steps, lr
        self.model_config = asdict(cfg)
        self.train_config = {"steps": steps, "lr": lr, "weight_decay": weight_decay, "seed": seed}
        self.weight_decay = weight_decay

    def prepare(self, device: torch.device) -> None:
        from open_clip.loss import ClipLoss

        self.model.to(device).train()
        self.criterion = ClipLoss()
        self._optimizers = {"main": torch.optim.AdamW(self.model.parameters(), lr=self.lr,
                                                      weight_decay=self.weight_decay)}

    def optimizers(self) -> dict:
        return self._optimizers

    def modules(self) -> dict:
        return {}

    def step(self, step: int, images: torch.Tensor, captions: list[str]) -> dict[str, float]:
        optimizer = self._optimizers["main"]
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, self.steps, self.lr)
        out = self.model(normalize_images(images, self.cfg.image_size), tokenize(captions).to(images.device))
        loss = self.criterion(out["image_features"], out["text_features"], out["logit_scale"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return {"loss": loss.item()}

    def validate(self) -> None:
        return None

    def finish(self) -> None:
        self.model.eval()


def train_minclip(cfg: MiniClipConfig, dataset, steps: int, batch_size: int, seed: int = 0,
                  checkpoint: Path | None = None, device: torch.device | str = "cpu", progress: bool = True,
                  save_every: int = 500):
    """Train a mini-CLIP of sizes `cfg` on (image, caption) pairs; returns (model, history)."""
    procedure = ContrastiveTraining(cfg, steps, seed=seed)
    history = fit(procedure, dataset, steps, batch_size, seed, save_every, checkpoint, device, progress,
                  desc="mini-CLIP (ClipLoss)")
    return procedure.model, history
