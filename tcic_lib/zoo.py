"""Trained-on-demand models: from the cache, else trained now (and cached).

Notebooks run independently, so a model one notebook trains and another uses is fetched with
`zoo.get(name, profile, lmbda=...)`. The cache key is the name plus a hash of everything that
determines the result (architecture, sizes, data, training settings), so changing a profile
never returns a stale model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .config import Profile, device, profile as current_profile
from .data import CaptionedShapes
from .fusion import FUSION_REVISION
from .models import Codec, build_model
from .train import CheckpointError, TrainConfig, load_checkpoint, model_from_checkpoint, train, write_atomically

log = logging.getLogger(__name__)

CACHE_ENV = "TCIC_CACHE"


def cache_dir() -> Path:
    """`$TCIC_CACHE`, else ~/.cache/tcic."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "tcic")


def cache_key(name: str, settings: dict) -> str:
    """`name-<hash>`: the file stem under which a model trained with `settings` is cached."""
    blob = json.dumps(settings, sort_keys=True, default=str)
    return f"{name}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


@dataclass(frozen=True)
class Recipe:
    """Everything that determines a trained model."""

    name: str
    arch: str
    model_config: dict
    train_config: TrainConfig
    data: dict  # CaptionedShapes(split="train", **data)
    revision: int = 0  # bumped when code behind the same settings changes what training gives

    def key(self) -> str:
        settings = {"arch": self.arch, "model": self.model_config, "train": asdict(self.train_config), "data": self.data}
        if self.revision:
            settings["revision"] = self.revision
        return cache_key(self.name, settings)

    @property
    def path(self) -> Path:
        """Where the trained model is cached."""
        return cache_dir() / f"{self.key()}.pt"


NAMES = {"factorized": "Factorized", "hyperprior": "Hyperprior"}


def recipe(name: str, profile: Profile | None = None, lmbda: float | None = None, dataset: tuple[str, str] | None = None,
           **train_changes) -> Recipe:
    """The recipe for model `name` in `profile` at rate point `lmbda` (default: the profile's middle).

    `dataset=(name, root)` trains on a real caption dataset (`data.open_dataset`) instead of CaptionedShapes.
    """
    if name not in NAMES:
        raise ValueError(f"unknown zoo model {name!r}; known: {', '.join(NAMES)}")
    p = profile or current_profile()
    lmbda = p.lmbdas[len(p.lmbdas) // 2] if lmbda is None else lmbda
    model_config = {"N": p.N, "M": p.M} | ({"hyper_stages": p.hyper_stages} if name == "hyperprior" else {})
    data = {"size": p.image_size, "n": p.n_train, "seed": p.seed}
    if dataset is not None:
        data = {"dataset": dataset[0], "root": str(Path(dataset[1]).resolve()), "size": p.image_size, "seed": p.seed,
                "n_val": p.n_val}
    return Recipe(name=name, arch=NAMES[name], model_config=model_config,
                  train_config=TrainConfig.from_profile(p, lmbda, **train_changes), data=data)


def datasets(r: Recipe):
    """The training and validation sets of a recipe."""
    from .data import open_dataset

    data = {k: v for k, v in r.data.items() if k != "captions"}
    if "dataset" in data:
        args = (data["dataset"], data["root"])
        return (open_dataset(*args, "train", data["size"], data["seed"]),
                open_dataset(*args, "val", data["size"], data["seed"], data["n_val"]))
    return CaptionedShapes("train", **data), _val_set(r)


def checkpoint_path(name: str, profile: Profile | None = None, lmbda: float | None = None, **train_changes) -> Path:
    """Where `get` keeps (or will keep) that model's checkpoint, with its training history."""
    return recipe(name, profile, lmbda, **train_changes).path


TCIC_VARIANTS = {  # variant -> (caption mode, fusion override)
    "tcic": ("true", None),
    "control": ("unrelated", None),
    "notext": ("none", "none"),
}


def tcic_recipe(variant: str, encoder, profile: Profile | None = None, lmbda: float | None = None,
                fusion: str = "ssa", caption_dropout: float = 0.1, dataset: tuple[str, str] | None = None,
                **train_changes) -> tuple[Recipe, dict]:
    """Recipe and caption settings of a TCIC variant: `tcic`, `control` (unrelated captions) or `notext`."""
    if variant not in TCIC_VARIANTS:
        raise ValueError(f"unknown TCIC variant {variant!r}; known: {', '.join(TCIC_VARIANTS)}")
    p = profile or current_profile()
    mode, forced_fusion = TCIC_VARIANTS[variant]
    base = recipe("hyperprior", p, lmbda, dataset, **{"steps": p.tcic_steps, **train_changes})
    model_config = {**base.model_config, "fusion": forced_fusion or fusion, "text_dim": encoder.dim}
    # the control differs from TCIC only in what its captions say: same dropout, same layers
    captions = {"mode": mode, "dropout": caption_dropout if mode != "none" else 0.0, "encoder": encoder.key}
    r = Recipe(f"tcic-{variant}", "TCIC", model_config, base.train_config, {**base.data, "captions": captions},
               revision=FUSION_REVISION)
    return r, captions


def get_tcic(variant: str, encoder, profile: Profile | None = None, lmbda: float | None = None,
             fusion: str = "ssa", progress: bool = True, **train_changes):
    """A trained TCIC variant and the conditioner that feeds it captions (cached like `get`)."""
    r, captions = tcic_recipe(variant, encoder, profile, lmbda, fusion, **train_changes)
    install_shipped(r.key(), r.path)
    return train_tcic(r, captions, encoder, r.path, progress)


def train_tcic(r: Recipe, captions: dict, encoder, checkpoint: Path, progress: bool = True):
    """Train (or resume, or just load) the TCIC variant `r` into `checkpoint`; the model and its conditioner."""
    from .conditioning import CaptionConditioner, fit_text_mean

    train_set, val_set = datasets(r)
    model = build_model(r.arch, **r.model_config)
    pool = train_set.captions
    fit_text_mean(model, encoder, pool)
    conditioner = CaptionConditioner(model, encoder, captions["mode"], captions["dropout"], pool=pool)
    train(model, train_set, val_set, r.train_config, checkpoint=checkpoint, condition=conditioner,
          device=device(), progress=progress)
    return model.cpu().eval(), conditioner


def _val_set(r: Recipe) -> CaptionedShapes:
    return CaptionedShapes("val", size=r.data["size"], n=max(8, r.data["n"] // 20), seed=r.data["seed"])


def get(name: str, profile: Profile | None = None, lmbda: float | None = None, progress: bool = True,
        **train_changes) -> Codec:
    """A trained model, ready to code: from the cache, or trained now (resuming) and cached."""
    r = recipe(name, profile, lmbda, **train_changes)
    path = r.path
    install_shipped(r.key(), path)
    if path.is_file():
        try:
            state = load_checkpoint(path)
            if int(state.get("step", 0)) >= r.train_config.steps:
                log.info("zoo: %s from %s", r.key(), path)
                return model_from_checkpoint(path, expect_arch=r.arch)
            build_model(r.arch, **r.model_config).load_state_dict(state["state_dict"])  # resumable?
        except (CheckpointError, RuntimeError) as err:
            log.warning("zoo: %s is damaged or from older code (%s); training afresh", path, err)
            path.unlink()
    return train_recipe(r, path, progress)


def train_recipe(r: Recipe, checkpoint: Path, progress: bool = True) -> Codec:
    """Train (or resume) the image-only model `r` into `checkpoint`."""
    log.info("zoo: training %s into %s", r.key(), checkpoint)
    model = build_model(r.arch, **r.model_config)
    train(model, *datasets(r), r.train_config, checkpoint=checkpoint, device=device(), progress=progress)
    return model.cpu().eval()


# Shipped checkpoints: trained once, stored in fp16 with a sha256 in the manifest, so learners on
# a CPU start from models trained longer than they could afford. See checkpoints/README.md.
SHIPPED_ENV = "TCIC_SHIPPED"
MANIFEST = "manifest.json"


def shipped_dir() -> Path:
    """`$TCIC_SHIPPED`, else the repository's checkpoints/ folder."""
    return Path(os.environ.get(SHIPPED_ENV) or Path(__file__).resolve().parent.parent / "checkpoints")


def shipped_manifest(folder: Path | None = None) -> dict:
    """key -> {"file", "sha256", "bytes", ...} of every shipped checkpoint (empty when none)."""
    path = Path(folder or shipped_dir()) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {}


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def install_shipped(key: str, dest: Path) -> bool:
    """Copy the shipped checkpoint `key` to `dest` in fp32 if `dest` is missing; False when none fits."""
    if dest.is_file():
        return False
    entry = shipped_manifest().get(key)
    if entry is None:
        return False
    source = shipped_dir() / entry["file"]
    if not source.is_file() or _sha256(source) != entry["sha256"]:
        log.warning("zoo: shipped %s is missing or fails its sha256 check; training instead", source)
        return False
    state = torch.load(source, map_location="cpu", weights_only=True)
    state["state_dict"] = {k: v.float() if v.is_floating_point() else v for k, v in state["state_dict"].items()}
    write_atomically(state, dest)
    log.info("zoo: %s from shipped %s", key, source)
    return True


def _half(value):
    """fp16 copies of the floating-point tensors of a state dict; anything else as it is."""
    if isinstance(value, dict) and all(isinstance(v, torch.Tensor) for v in value.values()):
        return {k: v.half() if v.is_floating_point() else v for k, v in value.items()}
    return value


def ship(checkpoint: Path, out_dir: Path | None = None, card: dict | None = None) -> dict:
    """Store a finished checkpoint in fp16 (no optimiser state) under `out_dir` and list it in the manifest."""
    checkpoint, out_dir = Path(checkpoint), Path(out_dir or shipped_dir())
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if k not in ("optimizer", "aux_optimizer")}
    if "extra" in state:  # e.g. a GAN run's discriminator stays (in fp16 too), its optimiser states go
        state["extra"] = {k: _half(v) for k, v in state["extra"].items() if not k.startswith("opt")}
    state["state_dict"] = _half(state["state_dict"])
    for log_name in ("train", "rows"):  # per-step training logs are thinned; validation rows stay
        if log_name in state.get("history", {}):
            state["history"][log_name] = state["history"][log_name][::10]
    out = out_dir / checkpoint.name
    write_atomically(state, out)
    manifest = shipped_manifest(out_dir)
    manifest[checkpoint.stem] = {"file": out.name, "sha256": _sha256(out), "bytes": out.stat().st_size,
                                 **(card or {})}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest[checkpoint.stem]


def gan_recipe(variant: str, encoder, profile: Profile | None = None, lmbda: float | None = None,
               conditional: bool = True, **gan_changes) -> tuple[str, "GANConfig"]:
    """Cache key and settings of the adversarially fine-tuned TCIC variant (notebook 06)."""
    from .adversarial import GANConfig

    p = profile or current_profile()
    base, _ = tcic_recipe(variant, encoder, p, lmbda)
    cfg = GANConfig.from_profile(p, base.train_config.lmbda, conditional=conditional, **gan_changes)
    name = f"gan-{variant}-{'textD' if conditional else 'plainD'}"
    return cache_key(name, {"base": base.key(), "gan": asdict(cfg)}), cfg


def get_gan(variant: str, encoder, profile: Profile | None = None, lmbda: float | None = None,
            conditional: bool = True, progress: bool = True, **gan_changes):
    """A TCIC variant whose decoder was fine-tuned against a (text-conditional) discriminator.

    Returns (model, discriminator, conditioner, history rows). Starts from `get_tcic`'s model; cached like it.
    """
    from .adversarial import TextConditionalDiscriminator, finetune

    p = profile or current_profile()
    key, cfg = gan_recipe(variant, encoder, p, lmbda, conditional, **gan_changes)
    path = cache_dir() / f"{key}.pt"
    install_shipped(key, path)
    model, conditioner = get_tcic(variant, encoder, p, lmbda, progress=progress)
    base, _ = tcic_recipe(variant, encoder, p, lmbda)
    discriminator = TextConditionalDiscriminator(encoder.dim, cfg.d_channels, conditional=conditional)
    history = finetune(model, discriminator, datasets(base)[0], cfg, conditioner, checkpoint=path, device=device(),
                       progress=progress)
    return model.cpu().eval(), discriminator.cpu().eval(), conditioner, history.rows
