"""Profiles (one knob for every size), composed of typed configs; device choice and seeding.

A `Profile` is a few small configs, each read by the part of the course it sizes:
`data` (CaptionedShapes), `codec` (channel widths), `train` (one RD training run), `clip` (the
mini-CLIP and its contrastive training), plus the rate points and the step counts of the later
notebooks. Library functions take the profile (or the config they need) as an argument; only
`profile()` reads the environment.

Taught in notebooks/00_setup.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
from dataclasses import dataclass

import numpy as np
import torch

PROFILE_ENV = "TCIC_PROFILE"
DEFAULT_PROFILE = "cpu"  # the sizes whose models ship with the course, on any device


class ProfileError(ValueError):
    """An unknown profile name was asked for."""


class _Replaceable:
    def replace(self, **changes):
        """A copy with some fields changed (for ablations and tests)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class DataConfig(_Replaceable):
    """CaptionedShapes: how many scenes of which size."""

    image_size: int  # side of the square scenes (px)
    n_train: int  # training scenes
    n_val: int  # validation scenes (monitoring only: not part of a trained model's identity)
    n_test: int  # held-out test scenes
    seed: int = 0  # scene generation


@dataclass(frozen=True)
class CodecConfig(_Replaceable):
    """Widths of the learned codecs (`models.build_model(arch, **asdict(codec), ...)`)."""

    N: int  # channels of the analysis/synthesis transforms
    M: int  # channels of the main latent y
    hyper_stages: int  # stride-2 steps in the hyperprior's h_a; z must stay wider than 1x1 in training


@dataclass(frozen=True)
class TrainConfig(_Replaceable):
    """One rate-distortion training run; these settings never reach a model's constructor."""

    lmbda: float = 0.01  # RD trade-off: lmbda * 255^2 * MSE + bpp
    steps: int = 1000  # optimisation steps
    batch_size: int = 8  # images per step
    lr: float = 1e-3  # main optimiser (transforms, hyperprior, scales)
    aux_lr: float = 1e-3  # auxiliary optimiser (entropy bottleneck quantiles)
    clip_max_norm: float = 1.0  # gradient clipping of the main parameters
    val_every: int = 250  # validate and save every this many steps (and at the end)
    seed: int = 0  # batch order and quantisation noise
    lr_drop_at: float = 0.8  # schedule "step": fraction of steps after which the learning rate drops 10x
    # added for the ultra-low rates; at these defaults they leave a recipe's key as it was (`key_fields`)
    schedule: str = "step"  # "step" (one 10x drop at lr_drop_at) or "cosine" (warm-up, then cosine to lr / 100)
    warmup_steps: int = 0  # linear learning-rate warm-up from 0
    anneal_from: float = 0.0  # > 0: lmbda starts here and moves log-linearly to `lmbda` over `anneal_steps`
    anneal_steps: int = 0
    train_only: str = "all"  # "all", or "decoder": g_a, h_a, h_s and the entropy models stay frozen

    def learning_rate(self, step: int) -> float:
        """The main optimiser's learning rate at `step` (0-based)."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if self.schedule == "cosine":
            done = (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps)
            return self.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, done))))
        return self.lr * (0.1 if step >= int(self.lr_drop_at * self.steps) else 1.0)

    def lmbda_at(self, step: int) -> float:
        """The RD trade-off at `step`: annealed from `anneal_from` down (or up) to `lmbda`, then held."""
        if self.anneal_from <= 0 or step >= self.anneal_steps:
            return self.lmbda
        return self.anneal_from * (self.lmbda / self.anneal_from) ** (step / self.anneal_steps)

    def key_fields(self) -> dict:
        """The settings that name a trained model: every field, less the later ones left at their defaults
        (so models trained before those fields existed keep their cache keys and shipped files)."""
        fields = dataclasses.asdict(self)
        for f in dataclasses.fields(self):
            if f.name in _LATER_FIELDS and fields[f.name] == f.default:
                del fields[f.name]
        return fields


_LATER_FIELDS = ("schedule", "warmup_steps", "anneal_from", "anneal_steps", "train_only")
SCHEDULES = ("step", "cosine")
TRAIN_ONLY = ("all", "decoder")


@dataclass(frozen=True)
class LowRateConfig(_Replaceable):
    """How the ultra-low-rate models train (notebook 05): chosen by `benchmarks/recipe_study.py`.

    Protocols:
    - `scratch`: each model (TCIC, control, notext) trained alone from random weights for `steps`.
    - `warm`: a text-free base (the hyperprior) is trained with the seed, lmbda annealed down to the
      target; every arm starts from it (fusion blocks added at identity) and trains jointly for `steps`.
    - `shared`: the same base, but only the decoder (g_s and its fusion blocks) trains: the encoder and
      entropy model stay frozen, so every arm decodes identical files (paired by construction). The
      caption at both ends (`conditional`) is the exception: its encoder and entropy model exist to
      read the caption, so it always trains jointly from the base (`warm`).
    The seed covers the whole recipe: the base of seed s is itself trained with seed s.
    """

    protocol: str  # scratch | warm | shared
    steps: int  # per arm: the whole run (scratch) or the fine-tune from the base (warm, shared)
    base_steps: int = 0  # the text-free base (warm, shared)
    anneal_from: float = 0.0  # lmbda of the first step (base; scratch: the run), annealed to the target
    anneal_steps: int = 0
    lr: float = 1e-3
    warmup_steps: int = 0  # of each arm's run
    schedule: str = "step"  # of each arm's run
    seeds: int = 5  # training seeds of each arm at the lowest ultra-low rate (notebook 05's headline)
    other_seeds: int = 3  # at the other ultra-low rates, the ladder and the caption at both ends
    bridge_lmbdas: tuple[float, ...] = ()  # text-free bases between the ultra-low and the ordinary rates
    gan_steps: int = 0  # adversarial fine-tuning steps at the ultra-low rates (0: the profile's `gan_steps`)

    def __post_init__(self):
        if self.protocol not in LOW_RATE_PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}; known: {', '.join(LOW_RATE_PROTOCOLS)}")

    @property
    def has_base(self) -> bool:
        return self.protocol != "scratch"


LOW_RATE_PROTOCOLS = ("scratch", "warm", "shared")


@dataclass(frozen=True)
class ClipConfig(_Replaceable):
    """The course's mini-CLIP (an open_clip CLIP of small sizes) and its contrastive training."""

    embed_dim: int  # joint image-text embedding width
    width: int  # text and image transformer width
    layers: int  # text and image transformer depth
    steps: int  # contrastive training steps
    batch_size: int  # image-caption pairs per step (more negatives help)


@dataclass(frozen=True)
class Profile(_Replaceable):
    """Every size a notebook or a training run needs; notebooks never hard-code them."""

    name: str
    data: DataConfig
    codec: CodecConfig
    train: TrainConfig  # the image-only codecs of notebooks 01-02 (lmbda: set per rate point)
    clip: ClipConfig
    lmbdas: tuple[float, ...]  # rate points of the RD curves: loss = lmbda * 255^2 * MSE + bpp
    low_lmbdas: tuple[float, ...]  # ultra-low rates, where a caption can pay (notebook 05)
    tcic_steps: int  # steps per caption-reading codec and its controls (notebook 05)
    low_rate: LowRateConfig  # how the ultra-low-rate codecs train (notebook 05)
    gan_steps: int  # adversarial fine-tuning steps (notebook 06)
    eval_images: int  # test images used for RD curves and metrics
    n_boot: int = 1000  # bootstrap resamples behind every interval over images (notebook 05; ledger.N_BOOT)
    # notebook 05's extended studies (second seed, detail ladder, caption at both ends) train inside
    # the notebook when missing; False: the shipped or cached ones are shown, the rest are listed
    # with their `tcic train` commands (hours on a laptop)
    train_extended: bool = True
    # trains for seconds: the notebooks run every code path (notebook 08's grid at every rate) but
    # assert no result, since nothing has converged
    smoke: bool = False

    @property
    def middle_lmbda(self) -> float:
        """The middle rate point, where single-rate comparisons are made."""
        return self.lmbdas[len(self.lmbdas) // 2]

    @property
    def lowest_lmbda(self) -> float:
        """The lowest rate point of the ultra-low range."""
        return min(self.low_lmbdas)

    def rd_train(self, lmbda: float, **changes) -> TrainConfig:
        """This profile's RD training settings at rate point `lmbda`."""
        return self.train.replace(lmbda=lmbda, **changes)


PROFILES: dict[str, Profile] = {
    # tests and CI: every notebook in about a minute on 2 CPU cores
    "quick": Profile(
        name="quick",
        data=DataConfig(image_size=32, n_train=64, n_val=16, n_test=16),
        codec=CodecConfig(N=16, M=24, hyper_stages=1),
        train=TrainConfig(steps=60, batch_size=8, lr=1e-3, aux_lr=1e-3, val_every=15),
        clip=ClipConfig(embed_dim=32, width=64, layers=2, steps=40, batch_size=16),
        lmbdas=(0.01, 0.05), low_lmbdas=(0.001, 0.002), tcic_steps=60,
        low_rate=LowRateConfig("shared", steps=40, base_steps=40, anneal_from=0.01, anneal_steps=20, seeds=2,
                               other_seeds=2, bridge_lmbdas=(0.005,)), gan_steps=6, eval_images=8,
        n_boot=300, smoke=True,
    ),
    # `make course` on a laptop: the effects show, whole course in ~45 min on 2 cores (models ship)
    "cpu": Profile(
        name="cpu",
        data=DataConfig(image_size=64, n_train=4000, n_val=200, n_test=100),
        codec=CodecConfig(N=48, M=64, hyper_stages=1),
        train=TrainConfig(steps=2000, batch_size=8, lr=1e-3, aux_lr=1e-3, val_every=500),
        clip=ClipConfig(embed_dim=64, width=64, layers=2, steps=1500, batch_size=64),
        lmbdas=(0.0035, 0.013, 0.05), low_lmbdas=(0.0001, 0.0002), tcic_steps=6000,
        # chosen by benchmarks/recipe_study.py (checkpoints/recipe_study.json): at about equal minutes `shared`
        # and `warm` hold across seeds (PSNR sd 0.3 dB; `scratch` 1.1, and a control collapsed), `shared`
        # reads the most objects right and costs the least. Two ultra-low rates (5 and 3 seeds of 4 arms, their
        # bases, one bridge rate) are ~45 models: what one session of two cores trains
        low_rate=LowRateConfig("shared", steps=4000, base_steps=4000, anneal_from=1e-3, anneal_steps=2000,
                               warmup_steps=200, schedule="cosine", bridge_lmbdas=(0.0006,), gan_steps=1500),
        gan_steps=600, eval_images=48, train_extended=False,
    ),
    # Colab / workstation GPU, opt-in: bigger models, longer training (nothing ships for it)
    "gpu": Profile(
        name="gpu",
        data=DataConfig(image_size=128, n_train=40000, n_val=1000, n_test=500),
        codec=CodecConfig(N=128, M=192, hyper_stages=2),
        train=TrainConfig(steps=50000, batch_size=32, lr=1e-4, aux_lr=1e-3, val_every=2000),
        clip=ClipConfig(embed_dim=256, width=256, layers=4, steps=20000, batch_size=256),
        lmbdas=(0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.05), low_lmbdas=(0.0002, 0.0004), tcic_steps=50000,
        low_rate=LowRateConfig("warm", steps=20000, base_steps=30000, anneal_from=2e-3, anneal_steps=15000, lr=1e-4,
                               warmup_steps=1000, schedule="cosine"),
        gan_steps=20000, eval_images=200,
    ),
}


def default_profile_name() -> str:
    """The profile whose models ship (`cpu` sizes) on every device: a GPU runs it faster; `gpu` is opt-in."""
    return DEFAULT_PROFILE


def profile(name: str | None = None) -> Profile:
    """The profile `name`, else `$TCIC_PROFILE`, else the default (`cpu`)."""
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
