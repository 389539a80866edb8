"""What each notebook fetches from the zoo: the course's plan of trained models, in one place.

The notebooks build their recipes here, so `tcic info`, `make bench`, the shipping script and
the training script agree with them on what the course needs; `course_plan` says, per notebook,
what will be loaded (shipped or cached) and what would be trained, with the training FLOPs
counted and the time estimated from one measured step on this machine.

Taught in notebooks/00_setup (the plan) and used by notebooks 02-08.
"""

from __future__ import annotations

import time

import pandas as pd
import torch

from . import zoo
from .architectures import build_model
from .config import LowRateConfig, Profile
from .zoo import Recipe

StudyKey = tuple  # (variant, fusion, lmbda, detail, seed)


def codec_models(p: Profile) -> dict[tuple[str, float], Recipe]:
    """Notebook 02: the factorized and hyperprior codecs at every rate point."""
    return {(name, lmbda): zoo.codec_recipe(name, p, lmbda) for name in ("factorized", "hyperprior") for lmbda in p.lmbdas}


def caption_study(p: Profile, encoder) -> dict[StudyKey, Recipe]:
    """Notebook 05: where a caption pays. Keys are (variant, fusion, lmbda, detail, seed).

    - ultra-low rates, trained by the profile's protocol (`p.low_rate`), `p.low_rate.seeds` training
      seeds at the lowest rate and `other_seeds` at the others: `tcic`, its capacity-matched `control`
      (both positional cross-attention), the text-free `notext`, and at the lowest rate `positional`
      (pxattn's positional features, never a caption: the text-free envelope where the headline is
      measured must include what the text path's layers give; `other_seeds` of it);
    - the caption at both ends (`conditional`) and the caption-detail ladder at the lowest rate;
    - the ordinary rates: `tcic`, `control`, `notext` with SSA, the paper's block (one seed).
    """
    lowest, lr = p.lowest_lmbda, p.low_rate
    keys: list[StudyKey] = []
    for lmbda in p.low_lmbdas:
        for seed in range(lr.seeds if lmbda == lowest else lr.other_seeds):
            keys += [(variant, fusion, lmbda, "full", seed) for variant, fusion in LOW_RATE_ARMS
                     if variant != "positional" or (lmbda == lowest and seed < lr.other_seeds)]
    for seed in range(lr.other_seeds):
        keys.append(("conditional", "pxattn", lowest, "full", seed))
        keys += [(variant, "pxattn", lowest, detail, seed) for detail in ("colour", "pattern")
                 for variant in ("tcic", "control")]
    for lmbda in p.lmbdas:
        keys += [(variant, fusion, lmbda, "full", p.train.seed) for variant, fusion in
                 (("tcic", "ssa"), ("control", "ssa"), ("notext", "none"))]
    study = {key: _tcic(p, encoder, *key) for key in keys}
    return study | text_free_bases(p, encoder)


def text_free_bases(p: Profile, encoder) -> dict[StudyKey, Recipe]:
    """The text-free bases the ultra-low arms start from (every rate and seed), and bases at the bridge rates
    between the ultra-low and the ordinary ones: members of the text-free envelope (none for `scratch`)."""
    if not p.low_rate.has_base:
        return {}
    lowest, lr = p.lowest_lmbda, p.low_rate
    keys = [("base", "none", lmbda, "full", seed) for lmbda in p.low_lmbdas
            for seed in range(lr.seeds if lmbda == lowest else lr.other_seeds)]
    # one seed: the envelope is the best text-free decode at each rate, and more seeds there only raise it
    keys += [("base", "none", lmbda, "full", 0) for lmbda in lr.bridge_lmbdas]
    return {key: zoo.base_recipe(encoder, p, key[2], key[4]) for key in keys}


LOW_RATE_ARMS = (("tcic", "pxattn"), ("control", "pxattn"), ("notext", "none"), ("positional", "pxattn"))


def is_extended(key: StudyKey, p: Profile) -> bool:
    """A ladder step or the caption at both ends: the studies beyond the core curves and their seeds."""
    variant, _, _, detail, _ = key
    return variant == "conditional" or detail != "full"


def runnable_study(p: Profile, encoder) -> tuple[dict[StudyKey, Recipe], dict[StudyKey, Recipe]]:
    """(what notebook 05 fetches, what it leaves out): every core recipe; the extended ones when the
    profile trains them (`train_extended`) or they are shipped or cached."""
    study = caption_study(p, encoder)
    left_out = {k: r for k, r in study.items() if is_extended(k, p) and not p.train_extended and not zoo.available(r)}
    return {k: r for k, r in study.items() if k not in left_out}, left_out


def _tcic(p: Profile, encoder, variant: str, fusion: str, lmbda: float, detail: str, seed: int) -> Recipe:
    return zoo.tcic_recipe(variant, encoder, p, lmbda, fusion=fusion, detail=detail, seed=seed)


def gan_rates(p: Profile) -> dict[str, tuple[float, str]]:
    """Notebook 06's two rate points: the lowest ordinary one (SSA) and the lowest ultra-low one (positional x-attn)."""
    return {"ordinary": (min(p.lmbdas), "ssa"), "ultra-low": (p.lowest_lmbda, "pxattn")}


def gan_runs(p: Profile, encoder, lmbda: float | None = None, fusion: str = "ssa", seed: int | None = None
             ) -> dict[str, Recipe]:
    """Notebook 06: TCIC with a text-conditional D, a plain D, and its no-adversary twin (same loop and losses)."""
    lmbda = min(p.lmbdas) if lmbda is None else lmbda
    run = lambda **kw: zoo.gan_recipe("tcic", encoder, p, lmbda, fusion=fusion, seed=seed, **kw)  # noqa: E731
    return {"TCIC + text D": run(conditional=True), "TCIC + plain D": run(conditional=False),
            "TCIC, no adversary": run(conditional=True, adv_weight=0.0)}


# notebook 06's paired comparisons on the same files: (label, (run, minus run))
GAN_COMPARISONS = {"adversary (text D - no adversary)": ("TCIC + text D", "TCIC, no adversary"),
                   "adversary (plain D - no adversary)": ("TCIC + plain D", "TCIC, no adversary"),
                   "caption in D (text D - plain D)": ("TCIC + text D", "TCIC + plain D")}


def gan_seeds(p: Profile, rate: str) -> tuple[int, ...]:
    """Training seeds of notebook 06's runs: `other_seeds` at the ultra-low rate (its headline), one above."""
    n = p.low_rate.other_seeds if rate == "ultra-low" else 1
    return tuple(range(p.train.seed, p.train.seed + n))


def all_gan_runs(p: Profile, encoder) -> dict[tuple[str, str, int], Recipe]:
    """Every run of notebook 06, by (rate, arm, seed)."""
    return {(rate, arm, seed): r for rate, (lmbda, fusion) in gan_rates(p).items() for seed in gan_seeds(p, rate)
            for arm, r in gan_runs(p, encoder, lmbda, fusion, seed).items()}


def ablation_lmbdas(p: Profile) -> tuple[float, ...]:
    """Notebook 08's rates: all of them where training takes seconds, else the middle one."""
    return p.lmbdas if p.smoke else (p.middle_lmbda,)


def ablation_models(p: Profile, encoder) -> dict[tuple[str, float], Recipe]:
    """Notebook 08: one TCIC per fusion block (none = the no-text model) at `ablation_lmbdas(p)`."""
    from .ablate import grid_recipes

    return grid_recipes(encoder, p, ("none", "concat", "film", "ssa", "xattn"), ablation_lmbdas(p))


def playground_models(p: Profile, encoder) -> list[Recipe]:
    """Notebook 08's caption playground: TCIC (seed 0) at every rate, pxattn at the ultra-low ones, SSA above."""
    return ([zoo.tcic_recipe("tcic", encoder, p, lmbda, fusion="pxattn") for lmbda in p.low_lmbdas]
            + [zoo.tcic_recipe("tcic", encoder, p, lmbda) for lmbda in p.lmbdas])


def notebook_recipes(p: Profile, encoder=None) -> dict[str, list[Recipe]]:
    """Every recipe each notebook fetches (`encoder`: a text encoder or `zoo.minclip_spec(p)`)."""
    encoder = encoder or zoo.minclip_spec(p)
    study, _ = runnable_study(p, encoder)
    judge = zoo.judge_recipe(p)
    return {
        "02_hyperprior": list(codec_models(p).values()),
        "03_clip_text_features": [zoo.minclip_recipe(p)],
        "05_tcic": list(study.values()),
        "06_adversarial_finetuning": list(all_gan_runs(p, encoder).values()) + [judge],
        "07_evaluation": [r for (v, f, lmbda, d, s), r in study.items() if v in ("tcic", "notext") and lmbda in p.lmbdas]
                         + [judge],
        "08_ablations_and_play": list(ablation_models(p, encoder).values()) + playground_models(p, encoder),
    }


def random_text_condition(encoder_dim: int, batch: int):
    """Random caption features (30 real tokens of 77) for timing a step without a text encoder."""
    from .fusion import TextCondition

    tokens = torch.randn(batch, 77, encoder_dim)
    mask = torch.arange(77)[None].expand(batch, -1) < 30
    return TextCondition(tokens[:, 0], tokens * mask[..., None], mask)


def step_cost(r: Recipe, p: Profile) -> tuple[float, float]:
    """(FLOPs, seconds) of one training step of a codec or TCIC recipe on this machine (forward and backward)."""
    from compressai.losses import RateDistortionLoss
    from torch.utils.flop_counter import FlopCounterMode

    settings = r.codec_settings
    model = build_model(settings["arch"], **settings["model"])
    x = torch.rand(p.train.batch_size, 3, p.data.image_size, p.data.image_size)
    text = random_text_condition(settings["model"]["text_dim"], len(x)) if "text_dim" in settings["model"] else None

    def step():
        RateDistortionLoss(0.01)(model(x, text), x)["loss"].backward()

    step()  # warm-up
    with FlopCounterMode(display=False) as counter:
        step()
    start = time.perf_counter()
    step()
    return float(counter.get_total_flops()), time.perf_counter() - start


def course_plan(p: Profile, measure: bool = True) -> pd.DataFrame:
    """Per notebook: models loaded (shipped or cached) and to train, with training PFLOPs and estimated minutes here."""
    costs: dict[str, tuple[float, float]] = {}
    rows = []
    for notebook, recipes in notebook_recipes(p).items():
        todo = [r for r in recipes if not zoo.available(r)]
        flops = minutes = 0.0
        for r in todo if measure else []:
            if r.kind in ("codec", "tcic", "gan"):
                arch_key = repr(sorted(r.codec_settings["model"].items()))
                costs.setdefault(arch_key, step_cost(r, p))
                flops += costs[arch_key][0] * r.steps
                minutes += costs[arch_key][1] * r.steps / 60
        rows.append({"notebook": notebook, "models": len(recipes), "ready": len(recipes) - len(todo),
                     "to train": len(todo), "training PFLOP": round(flops / 1e15, 3) if measure else None,
                     "est. minutes here": round(minutes, 1) if measure else None})
    return pd.DataFrame(rows)


def low_rate_candidates(p: Profile) -> dict[str, LowRateConfig]:
    """The ultra-low training recipes `benchmarks/recipe_study.py` compares, at about equal minutes:

    - `scratch`: the course's first recipe (random start, one 10x learning-rate drop), as many
      pxattn steps as the others' base and fine-tune cost together (a base step costs about half);
    - `warm`: the profile's text-free base annealed down to the rate, then every arm trained jointly;
    - `shared`: the same base with its encoder and entropy model frozen; only decoders train.
    """
    lr = p.low_rate
    both = {"steps": lr.steps, "base_steps": lr.base_steps, "anneal_from": lr.anneal_from,
            "anneal_steps": lr.anneal_steps, "lr": lr.lr, "warmup_steps": lr.warmup_steps, "schedule": lr.schedule}
    return {"scratch": LowRateConfig("scratch", steps=lr.steps + lr.base_steps // 2, lr=lr.lr),
            "warm": LowRateConfig("warm", **both), "shared": LowRateConfig("shared", **both)}
