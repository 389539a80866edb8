"""One way to get anything trained: `zoo.fetch(recipe)` (shipped, else cached, else trained now and cached).

Notebooks run independently, so a model one notebook trains and another uses comes from here:
image-only codecs, TCIC variants and their controls, adversarially fine-tuned decoders and the
mini-CLIP alike. A `Recipe` holds everything that determines the result; its key (a name plus a
hash of those settings) names the cache file, so changing a profile never returns a stale model.
Build recipes with `codec_recipe`, `tcic_recipe`, `gan_recipe` and `minclip_recipe`.

Taught in notebooks/02_hyperprior (first use); every later notebook fetches through it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from . import distributed
from .architectures import build_model, model_from_checkpoint
from .checkpoint import CheckpointError, load_checkpoint
from .config import Profile, TrainConfig, device
from .data import CaptionedShapes, open_dataset
from .fusion import FUSION_REVISION
from .shipping import install_shipped, shipped_manifest

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
    """Everything that determines one trained thing.

    `settings` is hashed into the key. Its layout per kind (kept from the first format, so
    shipped checkpoints keep their names): codec and tcic `{"arch", "model", "train", "data"}`
    (+ `"revision"`), gan `{"base", "gan"}`, minclip `{"model", "steps", "batch", "n", "seed"}`.
    """

    kind: str  # "codec" | "tcic" | "gan" | "minclip"
    name: str
    settings: dict
    n_val: int = 8  # validation scenes: monitoring only, so not part of the key
    base: "Recipe | None" = field(default=None, compare=False)  # the model it starts from (gan, ultra-low fine-tunes)
    out: Path | None = field(default=None, compare=False)  # train into this file instead of the cache
    variant: str = field(default="", compare=False)  # tcic: which TCIC_VARIANTS entry it trains
    protocol: str = field(default="", compare=False)  # ultra-low tcic: how it trains (config.LowRateConfig)

    def key(self) -> str:
        return cache_key(self.name, self.settings)

    @property
    def path(self) -> Path:
        """Where the trained thing is kept: `out`, else the cache."""
        return Path(self.out) if self.out else cache_dir() / f"{self.key()}.pt"

    @property
    def codec_settings(self) -> dict:
        """The settings of the codec it yields (a GAN run's are its base's: same architecture, same rate)."""
        return self.base.settings if self.kind == "gan" else self.settings

    @property
    def steps(self) -> int:
        """Training steps of a finished run."""
        train = self.settings.get("train") or self.settings.get("gan") or self.settings
        return int(train["steps"])


CODECS = {"factorized": "Factorized", "hyperprior": "Hyperprior"}
TCIC_VARIANTS = {  # variant -> (architecture, caption mode in training, fusion override)
    "tcic": ("TCIC", "true", None),
    "control": ("TCIC", "unrelated", None),  # capacity-matched: TCIC's layers, captions of other scenes
    "notext": ("TCIC", "none", "none"),
    "positional": ("TCIC", "none", None),  # pxattn's layers and positional features, never a caption: text-free
    "conditional": ("ConditionalTCIC", "true", None),  # the caption at both ends
}


def _data_settings(p: Profile, dataset: tuple[str, str] | None) -> dict:
    if dataset is None:
        return {"size": p.data.image_size, "n": p.data.n_train, "seed": p.data.seed}
    return {"dataset": dataset[0], "root": str(Path(dataset[1]).resolve()), "size": p.data.image_size,
            "seed": p.data.seed, "n_val": p.data.n_val}


def codec_recipe(name: str, p: Profile, lmbda: float | None = None, dataset: tuple[str, str] | None = None,
                 **train_changes) -> Recipe:
    """An image-only codec (`factorized` or `hyperprior`) at rate point `lmbda` (default: the middle one).

    `dataset=(name, root)` trains on a real caption dataset (`data.open_dataset`) instead of CaptionedShapes.
    """
    if name not in CODECS:
        raise ValueError(f"unknown zoo model {name!r}; known: {', '.join(CODECS)}")
    lmbda = p.middle_lmbda if lmbda is None else lmbda
    model = {"N": p.codec.N, "M": p.codec.M} | ({"hyper_stages": p.codec.hyper_stages} if name == "hyperprior" else {})
    settings = {"arch": CODECS[name], "model": model, "train": p.rd_train(lmbda, **train_changes).key_fields(),
                "data": _data_settings(p, dataset)}
    return Recipe("codec", name, settings, p.data.n_val)


def tcic_recipe(variant: str, encoder, p: Profile, lmbda: float | None = None, fusion: str = "ssa",
                caption_dropout: float = 0.1, dataset: tuple[str, str] | None = None, detail: str = "full",
                **train_changes) -> Recipe:
    """A TCIC variant: `tcic` (own captions), `control` (unrelated captions), `notext`, `conditional`.

    `detail` sets what the training captions name (`data.DETAILS`); `encoder` is the text encoder
    whose features the model reads (its key is part of the recipe). At the ultra-low rates
    (`p.low_lmbdas`) the model trains by the profile's protocol (`p.low_rate`, see `low_rate_recipe`).
    """
    if variant not in TCIC_VARIANTS:
        raise ValueError(f"unknown TCIC variant {variant!r}; known: {', '.join(TCIC_VARIANTS)}")
    lmbda = p.middle_lmbda if lmbda is None else lmbda
    if lmbda in p.low_lmbdas:
        return low_rate_recipe(variant, encoder, p, lmbda, fusion, caption_dropout, dataset, detail, **train_changes)
    train = p.rd_train(lmbda, **{"steps": p.tcic_steps, **train_changes})
    settings = _tcic_settings(variant, encoder, p, train, fusion, caption_dropout, dataset, detail)
    return Recipe("tcic", f"tcic-{variant}", settings, p.data.n_val, variant=variant)


def _tcic_settings(variant: str, encoder, p: Profile, train: TrainConfig, fusion: str, caption_dropout: float,
                   dataset, detail: str) -> dict:
    arch, mode, forced_fusion = TCIC_VARIANTS[variant]
    model = {"N": p.codec.N, "M": p.codec.M, "hyper_stages": p.codec.hyper_stages, "fusion": forced_fusion or fusion,
             "text_dim": encoder.dim} | ({"reads_text": False} if variant == "positional" else {})
    # the control differs from TCIC only in what its captions say: same dropout, same layers
    captions = {"mode": mode, "dropout": caption_dropout if mode != "none" else 0.0, "encoder": encoder.key}
    data = {**_data_settings(p, dataset), "captions": captions} | ({"detail": detail} if detail != "full" else {})
    return {"arch": arch, "model": model, "train": train.key_fields(), "data": data, "revision": FUSION_REVISION}


def base_recipe(encoder, p: Profile, lmbda: float, seed: int, dataset: tuple[str, str] | None = None) -> Recipe:
    """The text-free start of the ultra-low protocols `warm` and `shared`: the hyperprior (TCIC with fusion
    `none`) trained with `seed`, lmbda annealed from `p.low_rate.anneal_from` down to `lmbda`."""
    lr = p.low_rate
    train = p.rd_train(lmbda, steps=lr.base_steps, seed=seed, lr=lr.lr, schedule="cosine", anneal_from=lr.anneal_from,
                       anneal_steps=lr.anneal_steps)
    settings = _tcic_settings("notext", encoder, p, train, "none", 0.0, dataset, "full")
    return Recipe("tcic", f"base-seed{seed}", settings, p.data.n_val, variant="notext", protocol="base")


def low_rate_recipe(variant: str, encoder, p: Profile, lmbda: float, fusion: str = "pxattn", caption_dropout: float = 0.1,
                    dataset: tuple[str, str] | None = None, detail: str = "full", **train_changes) -> Recipe:
    """A TCIC variant at an ultra-low rate, trained by the profile's protocol (`config.LowRateConfig`).

    `scratch` trains it alone; `warm` and `shared` fine-tune it from the text-free base of the same
    seed (`base_recipe`), jointly or decoder-only. Its name says variant, fusion, protocol and seed.
    """
    lr = p.low_rate
    if variant == "conditional" and lr.protocol == "shared":
        lr = lr.replace(protocol="warm")  # its encoder and entropy model must learn to read the caption
    seed = train_changes.pop("seed", p.train.seed)
    schedule = {"steps": lr.steps, "seed": seed, "lr": lr.lr, "schedule": lr.schedule, "warmup_steps": lr.warmup_steps}
    if lr.protocol == "scratch":
        schedule |= {"anneal_from": lr.anneal_from, "anneal_steps": lr.anneal_steps}
    if lr.protocol == "shared":
        schedule["train_only"] = "decoder"
    train = p.rd_train(lmbda, **{**schedule, **train_changes})
    settings = _tcic_settings(variant, encoder, p, train, fusion, caption_dropout, dataset, detail)
    fusion_used = settings["model"]["fusion"]
    name = f"{variant}-{fusion_used}-{lr.protocol}-seed{seed}" + (f"-{detail}" if detail != "full" else "")
    base = base_recipe(encoder, p, lmbda, seed, dataset) if lr.has_base else None
    if base is not None:
        settings["base"] = base.key()
    return Recipe("tcic", name, settings, p.data.n_val, base, variant=variant, protocol=lr.protocol)


def gan_recipe(variant: str, encoder, p: Profile, lmbda: float | None = None, conditional: bool = True,
               fusion: str = "ssa", seed: int | None = None, **gan_changes) -> Recipe:
    """A TCIC variant whose decoder is fine-tuned against a (text-conditional) discriminator (notebook 06).

    Seed s fine-tunes the RD model of seed s with seed s; at the ultra-low rates the run is
    `p.low_rate.gan_steps` long (the rest: `p.gan_steps`). The name says variant, fusion, adversary
    (`textD`, `plainD`, or `noadv`: the same loop and losses without the adversarial term) and seed.
    """
    from .adversarial import GANConfig

    seed = p.train.seed if seed is None else seed
    base = tcic_recipe(variant, encoder, p, lmbda, fusion, seed=seed)
    lmbda = base.settings["train"]["lmbda"]
    steps = p.low_rate.gan_steps if lmbda in p.low_lmbdas and p.low_rate.gan_steps else p.gan_steps
    cfg = GANConfig(**{**asdict(GANConfig(lmbda=lmbda, steps=steps, batch_size=p.train.batch_size, seed=seed)),
                       "conditional": conditional, **gan_changes})
    adversary = "noadv" if cfg.adv_weight == 0 else ("textD" if conditional else "plainD")
    name = f"gan-{variant}-{base.settings['model']['fusion']}-{adversary}-seed{seed}"
    return Recipe("gan", name, {"base": base.key(), "gan": asdict(cfg)}, p.data.n_val, base)


def minclip_recipe(p: Profile, seed: int | None = None) -> Recipe:
    """The course's mini-CLIP for profile `p` (notebook 03). Another `seed` draws other training scenes and
    weights: the *judge*, an image-text model no codec reads, for semantic metrics."""
    from .text import MiniClipConfig

    cfg = MiniClipConfig.for_images(p.clip, p.data.image_size)
    settings = {"model": asdict(cfg), "steps": p.clip.steps, "batch": p.clip.batch_size, "n": p.data.n_train,
                "seed": p.data.seed if seed is None else seed}
    return Recipe("minclip", "minclip", settings, p.data.n_val)


# --- training sets, and the trainer of each kind --------------------------------------------------

def datasets(r: Recipe):
    """The training and validation sets of a codec or TCIC recipe."""
    data = r.settings["data"]
    if "dataset" in data:
        args = (data["dataset"], data["root"])
        return (open_dataset(*args, "train", data["size"], data["seed"]),
                open_dataset(*args, "val", data["size"], data["seed"], data["n_val"]))
    shapes = {"size": data["size"], "seed": data["seed"], "detail": data.get("detail", "full")}
    return CaptionedShapes("train", n=data["n"], **shapes), CaptionedShapes("val", n=r.n_val, **shapes)


def caption_conditioner(r: Recipe, model, encoder, pool: list[str] | None = None):
    """The conditioner that feeds `model` (trained by tcic recipe `r`) its captions, as in training."""
    from .conditioning import CaptionConditioner

    captions = r.settings["data"]["captions"]
    pool = pool if pool is not None else datasets(r)[0].captions
    return CaptionConditioner(model, encoder, captions["mode"], captions["dropout"], pool=pool)


def _train_codec(r: Recipe, encoder, progress: bool):
    from .conditioning import fit_text_mean
    from .train import train, warm_start

    torch.manual_seed(r.settings["train"]["seed"])  # the initial weights are part of the recipe too
    model = build_model(r.settings["arch"], **r.settings["model"])
    if r.base is not None and not r.path.exists():  # a fine-tune starts from its base (a resumed one from itself)
        fetch(r.base, encoder, progress)
        warm_start(model, load_checkpoint(r.base.path)["state_dict"])
    train_set, val_set = datasets(r)
    condition = None
    if r.kind == "tcic":
        _check_encoder(r, encoder)
        fit_text_mean(model, encoder, train_set.captions)
        condition = caption_conditioner(r, model, encoder, train_set.captions)
    train(model, train_set, val_set, TrainConfig(**r.settings["train"]), checkpoint=r.path, condition=condition,
          device=device(), progress=progress, desc=r.key())


def _train_gan(r: Recipe, encoder, progress: bool):
    from .adversarial import GANConfig, TextConditionalDiscriminator, finetune

    model = fetch(r.base, encoder, progress)
    cfg = GANConfig(**r.settings["gan"])
    discriminator = TextConditionalDiscriminator(encoder.dim, cfg.d_channels, conditional=cfg.conditional)
    train_set, val_set = datasets(r.base)
    finetune(model, discriminator, train_set, cfg, caption_conditioner(r.base, model, encoder),
             checkpoint=r.path, device=device(), progress=progress, val_set=val_set)


def _train_minclip(r: Recipe, encoder, progress: bool):
    from .contrastive import train_minclip
    from .text import MiniClipConfig

    s = r.settings
    data = CaptionedShapes("train", size=s["model"]["image_size"], n=s["n"], seed=s["seed"])
    train_minclip(MiniClipConfig(**s["model"]), data, s["steps"], s["batch"], s["seed"], r.path, device(), progress)


TRAINERS = {"codec": _train_codec, "tcic": _train_codec, "gan": _train_gan, "minclip": _train_minclip}


def _check_encoder(r: Recipe, encoder) -> None:
    wanted = r.settings["data"]["captions"]["encoder"] if r.kind == "tcic" else None
    if encoder is None or (wanted and encoder.key != wanted):
        have = "none" if encoder is None else encoder.key
        raise ValueError(f"{r.key()} reads the features of text encoder {wanted}; given {have}")


def _finished(r: Recipe) -> bool:
    """Whether the cache holds the complete run (a stale or damaged file is removed)."""
    if not r.path.is_file():
        return False
    try:
        state = load_checkpoint(r.path)
        if "step" not in state:
            raise CheckpointError("it records no step")
        if int(state["step"]) >= r.steps:
            return True
        if r.kind != "minclip":  # resumable: the weights fit the recipe's model
            settings = r.codec_settings
            build_model(settings["arch"], **settings["model"]).load_state_dict(state["state_dict"])
        return False
    except (CheckpointError, RuntimeError) as err:
        log.warning("zoo: %s is damaged or from older code (%s); training afresh", r.path, err)
        r.path.unlink(missing_ok=True)
        return False


@contextmanager
def _training_lock(path: Path):
    """One process at a time trains into `path`: test workers, notebooks and `jobs` may share a cache. Under
    torchrun every rank trains together (a lock would deadlock them); without `fcntl` (Windows) no lock."""
    try:
        import fcntl
    except ImportError:
        fcntl = None
    if fcntl is None or distributed.world_size() > 1:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield


def fetch(r: Recipe, encoder=None, progress: bool = True):
    """The trained thing of recipe `r`: shipped, else cached, else trained now (resuming) and cached.

    Codecs, TCIC variants and GAN runs come back as codecs ready to code (eval mode, `update()`
    run); the mini-CLIP as a `TextEncoder`; both on `config.device()` (`TCIC_DEVICE`). Caption-reading recipes need the `encoder` they read.
    """
    install_shipped(r.key(), r.path)
    if not _finished(r):
        if r.kind in ("tcic", "gan"):
            _check_encoder(r.base if r.kind == "gan" else r, encoder)
        with _training_lock(r.path):
            if not _finished(r):  # another process may have trained it while this one waited
                log.info("zoo: %s is neither shipped nor cached: training it (%d steps)", r.key(), r.steps)
                TRAINERS[r.kind](r, encoder, progress)
        distributed.barrier()  # under torchrun, rank 0 writes the checkpoint every rank then loads
    log.info("zoo: %s (%s)", r.key(), "shipped with the course" if r.key() in shipped_manifest() else "from the cache")
    if r.kind == "minclip":
        from .text import minclip_encoder

        return minclip_encoder(r.path).to(device())
    return model_from_checkpoint(r.path).to(device())


def history(r: Recipe) -> dict:
    """The training history (`{"train": [...], "val": [...]}`) of a fetched recipe."""
    return load_checkpoint(r.path)["history"]


def discriminator(r: Recipe, encoder):
    """The discriminator a fetched GAN recipe trained against (eval mode)."""
    from .adversarial import GANConfig, discriminator_from_state

    return discriminator_from_state(load_checkpoint(r.path)["extra"], encoder.dim, GANConfig(**r.settings["gan"]))


JUDGE_SEED_OFFSET = 1000  # the judge mini-CLIP's seed: other scenes, other weights than the one codecs read


def judge_recipe(p: Profile) -> Recipe:
    """The judge: a second mini-CLIP (another seed, other scenes) for semantic metrics, read by no codec."""
    return minclip_recipe(p, seed=p.data.seed + JUDGE_SEED_OFFSET)


def text_encoder(spec: str, p: Profile, progress: bool = True):
    """`minclip` (the course's mini-CLIP, fetched for profile `p`), `auto` (pretrained CLIP when on disk,
    else the mini-CLIP), `judge` (pretrained CLIP when on disk, else a second mini-CLIP trained on other
    scenes from another seed: for semantic metrics, never read by a codec), `clip:ViT-B-32/openai` or a
    weights file."""
    from .text import MissingWeightsError, load_text_encoder, pretrained_clip

    if spec in ("auto", "judge"):
        try:
            return pretrained_clip()
        except MissingWeightsError as err:
            log.info("%s: %s; using the %s mini-CLIP", spec, err, "judge" if spec == "judge" else "course's")
            spec = "minclip" if spec == "auto" else spec
    if spec == "minclip":
        return fetch(minclip_recipe(p), progress=progress)
    if spec == "judge":
        judge = fetch(judge_recipe(p), progress=progress)
        judge.name = "judge mini-CLIP (another seed, other scenes)"
        return judge
    return load_text_encoder(spec)


# --- named models, as in CompressAI's zoo: a name and a quality (1 = lowest rate) ---------------------

@dataclass(frozen=True)
class EncoderSpec:
    """What a recipe needs to know of a text encoder (its key and width) without loading it."""

    key: str
    dim: int
    name: str = "minclip"


def minclip_spec(p: Profile) -> EncoderSpec:
    """The mini-CLIP of profile `p`, as recipes see it."""
    return EncoderSpec(minclip_recipe(p).key(), p.clip.embed_dim)


NAMED = {  # name -> (kind, variant or codec name, fusion, rates): one architecture per name
    "factorized": ("codec", "factorized", None, "lmbdas"),
    "hyperprior": ("codec", "hyperprior", None, "lmbdas"),
    "tcic-ssa": ("tcic", "tcic", "ssa", "lmbdas"),  # the paper's SSA block, ordinary rates
    "control-ssa": ("tcic", "control", "ssa", "lmbdas"),
    "tcic-pxattn": ("tcic", "tcic", "pxattn", "low_lmbdas"),  # positional cross-attention, ultra-low rates
    "control-pxattn": ("tcic", "control", "pxattn", "low_lmbdas"),
    "notext": ("tcic", "notext", "none", "both"),  # the hyperprior of the TCIC recipes, at every rate
    "conditional": ("tcic", "conditional", "pxattn", "lowest"),  # the caption at both ends
}


def named_recipes(name: str, p: Profile) -> list[Recipe]:
    """The recipes behind `name` at qualities 1..K, lowest rate first (the profile's default seed)."""
    if name not in NAMED:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(NAMED)} (or a checkpoint file)")
    kind, what, fusion, rates = NAMED[name]
    lmbdas = {"lmbdas": p.lmbdas, "low_lmbdas": p.low_lmbdas, "both": (*p.low_lmbdas, *p.lmbdas),
              "lowest": (p.lowest_lmbda,)}[rates]
    if kind == "codec":
        return [codec_recipe(what, p, lmbda) for lmbda in sorted(lmbdas)]
    spec = minclip_spec(p)
    return [tcic_recipe(what, spec, p, lmbda, fusion=fusion) for lmbda in sorted(lmbdas)]


def named_recipe(name: str, quality: int, p: Profile) -> Recipe:
    """The recipe of model `name` at `quality` (1 = lowest rate)."""
    recipes = named_recipes(name, p)
    if not 1 <= quality <= len(recipes):
        raise ValueError(f"{name} has qualities 1 to {len(recipes)}, not {quality}")
    return recipes[quality - 1]


def available(r: Recipe) -> bool:
    """Whether `r` is shipped or fully trained in the cache (fetching it trains nothing)."""
    if r.key() in shipped_manifest():
        return True
    try:
        return r.path.is_file() and int(load_checkpoint(r.path).get("step", 0)) >= r.steps
    except CheckpointError:
        return False


def train_command(r: Recipe, p: Profile) -> str:
    """The `tcic train` command that trains recipe `r` into the cache."""
    s = r.settings
    if r.kind == "codec":
        return f"tcic train --profile {p.name} --model {r.name} --lmbda {s['train']['lmbda']:g}"
    if r.kind == "tcic":
        detail, seed = s["data"].get("detail"), s["train"].get("seed", p.train.seed)
        return (f"tcic train --profile {p.name} --model {r.variant} --lmbda {s['train']['lmbda']:g}"
                f" --fusion {s['model']['fusion']}" + (f" --detail {detail}" if detail else "")
                + (f" --seed {seed}" if seed != p.train.seed else ""))
    return f"zoo.fetch({r.name!r} recipe) in Python (profile {p.name})"


def model_table(p: Profile) -> "pd.DataFrame":
    """Every named model and quality: what it is, whether it is shipped or cached, and its card numbers."""
    import pandas as pd

    manifest, rows = shipped_manifest(), []
    for name in NAMED:
        for quality, r in enumerate(named_recipes(name, p), start=1):
            entry = manifest.get(r.key(), {})
            status = "shipped" if entry else "cached" if available(r) else "not trained"
            rows.append({"model": name, "quality": quality, "lmbda": r.settings["train"]["lmbda"],
                         "fusion": r.settings["model"].get("fusion", "-"), "status": status,
                         "test bpp": entry.get("test_bpp"), "test PSNR": entry.get("test_psnr"), "key": r.key()})
    return pd.DataFrame(rows)


def named_model_of(fingerprint: bytes, p: Profile) -> tuple[str, int]:
    """The named model and quality whose shipped weights have this fingerprint (as a .tcic file records it)."""
    manifest = shipped_manifest()
    for name in NAMED:
        for quality, r in enumerate(named_recipes(name, p), start=1):
            if manifest.get(r.key(), {}).get("fingerprint") == fingerprint.hex():
                return name, quality
    raise ValueError(f"no shipped model of profile {p.name} made this file (fingerprint {fingerprint.hex()}): "
                     "give --model")
