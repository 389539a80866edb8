"""Profiles (one knob for every size), device choice and seeding.

Taught in notebooks/00_setup.
"""

from __future__ import annotations

import dataclasses
import os
import random
from dataclasses import dataclass

import numpy as np
import torch

PROFILE_ENV = "TCIC_PROFILE"


class ProfileError(ValueError):
    """An unknown profile name was asked for."""


@dataclass(frozen=True)
class Profile:
    """Every size a notebook or a training run needs; notebooks never hard-code them."""

    name: str
    # data
    image_size: int  # side of the square CaptionedShapes training images (px)
    n_train: int  # training scenes
    n_val: int  # validation scenes
    n_test: int  # held-out test scenes
    # codec
    N: int  # channels of the analysis/synthesis transforms
    M: int  # channels of the main latent y
    hyper_stages: int  # stride-2 steps in the hyperprior's h_a; z must stay wider than 1x1 in training
    lmbdas: tuple[float, ...]  # rate-distortion trade-offs: loss = lmbda * 255^2 * MSE + bpp
    # training
    steps: int  # optimisation steps per codec
    batch_size: int  # images per step
    lr: float  # main optimiser learning rate
    aux_lr: float  # learning rate of the entropy bottleneck's auxiliary (quantile) loss
    val_every: int  # validate every this many steps
    tcic_steps: int  # steps per caption-reading codec and its controls (notebook 05; the cpu ones ship trained)
    gan_steps: int  # adversarial fine-tuning steps (notebook 06)
    # text side (mini-CLIP trained on CaptionedShapes)
    clip_embed_dim: int  # joint image-text embedding width
    clip_width: int  # text transformer width
    clip_layers: int  # text transformer depth
    clip_steps: int  # contrastive training steps
    clip_batch_size: int  # image-caption pairs per contrastive step (more negatives help)
    # evaluation
    eval_images: int  # test images used for RD curves and metrics
    seed: int = 0  # master seed for data and initialisation

    def replace(self, **changes) -> "Profile":
        """A copy with some fields changed (for ablations and tests)."""
        return dataclasses.replace(self, **changes)


PROFILES: dict[str, Profile] = {
    # tests and CI: every notebook in about a minute on 2 CPU cores
    "quick": Profile(
        name="quick", image_size=32, n_train=64, n_val=16, n_test=16,
        N=16, M=24, hyper_stages=1, lmbdas=(0.01, 0.05), steps=60, batch_size=8, lr=1e-3, aux_lr=1e-3,
        val_every=15, tcic_steps=60, gan_steps=6, clip_embed_dim=32, clip_width=64, clip_layers=2, clip_steps=40,
        clip_batch_size=16,
        eval_images=8,
    ),
    # `make course` on a laptop: the effects show, whole course in ~45 min on 2 cores
    "cpu": Profile(
        name="cpu", image_size=64, n_train=4000, n_val=200, n_test=100,
        N=48, M=64, hyper_stages=1, lmbdas=(0.0035, 0.013, 0.05), steps=2000, batch_size=8, lr=1e-3,
        aux_lr=1e-3, val_every=500, tcic_steps=6000, gan_steps=600, clip_embed_dim=64, clip_width=64, clip_layers=2,
        clip_steps=1500, clip_batch_size=64, eval_images=48,
    ),
    # Colab / workstation GPU: bigger models, longer training
    "gpu": Profile(
        name="gpu", image_size=128, n_train=40000, n_val=1000, n_test=500,
        N=128, M=192, hyper_stages=2, lmbdas=(0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.05), steps=50000,
        batch_size=32, lr=1e-4, aux_lr=1e-3, val_every=2000, tcic_steps=50000, gan_steps=20000, clip_embed_dim=256,
        clip_width=256, clip_layers=4, clip_steps=20000, clip_batch_size=256, eval_images=200,
    ),
}


def default_profile_name() -> str:
    """`gpu` when CUDA is present, else `cpu`."""
    return "gpu" if torch.cuda.is_available() else "cpu"


def profile(name: str | None = None) -> Profile:
    """The profile `name`, else `$TCIC_PROFILE`, else the default for this machine."""
    name = name or os.environ.get(PROFILE_ENV) or default_profile_name()
    try:
        return PROFILES[name]
    except KeyError:
        valid = ", ".join(PROFILES)
        raise ProfileError(f"unknown profile {name!r}; valid profiles: {valid}") from None


def device() -> torch.device:
    """CUDA when available (and `TCIC_DEVICE` does not say otherwise), else CPU."""
    wanted = os.environ.get("TCIC_DEVICE")
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
