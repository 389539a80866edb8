"""Ablation grids: fusion block x decode-time caption x rate, from zoo checkpoints, as one tidy table.

`run_grid` trains (or loads) one TCIC per fusion and rate through `zoo.get_tcic` (fusion
`none` is the no-text model), codes the profile's test scenes once per model and decodes each
file with every caption condition: `true`, `shuffled` (the next test scene's caption) and
`none` (no caption). Sized by the profile; `tcic ablate` runs it from the command line.

Taught in notebooks/08_ablations_and_play.
"""

from __future__ import annotations

import pandas as pd

from . import zoo
from .config import Profile, profile as current_profile
from .evaluate import caption_decode_rows, decode_conditions, object_regions, shapes_test_scenes

FUSIONS = ("none", "concat", "film", "ssa", "xattn")
CONDITIONS = ("true", "shuffled", "none")


def grid_models(encoder, p: Profile, fusions, lmbdas, progress: bool = False) -> dict:
    """(fusion, lmbda) -> trained model; fusion `none` is the plain no-text model."""
    models = {}
    for fusion in fusions:
        for lmbda in lmbdas:
            variant = "notext" if fusion == "none" else "tcic"
            models[fusion, lmbda] = zoo.get_tcic(variant, encoder, p, lmbda, fusion=fusion, progress=progress)[0]
    return models


def run_grid(encoder, p: Profile | None = None, fusions=FUSIONS, conditions=CONDITIONS, lmbdas=None,
             progress: bool = False) -> pd.DataFrame:
    """One row per (fusion, lmbda, caption condition, test image): latent bpp, PSNR, object PSNRs."""
    p = p or current_profile()
    unknown = set(conditions) - set(CONDITIONS)
    if unknown:
        raise ValueError(f"unknown caption conditions {sorted(unknown)}; known: {', '.join(CONDITIONS)}")
    images, captions, scenes = shapes_test_scenes(p)
    given = decode_conditions(captions)
    regions = {"patterned": object_regions(scenes, p.image_size)["patterned"]}
    rows = []
    for (fusion, lmbda), model in grid_models(encoder, p, fusions, lmbdas or p.lmbdas, progress).items():
        rows += caption_decode_rows(model, encoder, images, captions, {c: given[c] for c in conditions}, regions,
                                    fusion=fusion, lmbda=lmbda)
    return pd.DataFrame(rows)


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """Means per fusion, rate and condition, with the PSNR lost to a shuffled or missing caption."""
    table = rows.groupby(["fusion", "lmbda", "condition"])[["bpp_latent", "psnr", "psnr_patterned"]].mean()
    wide = table["psnr"].unstack("condition")
    for condition in ("shuffled", "none"):
        if condition in wide and "true" in wide:
            table = table.join((wide["true"] - wide[condition]).rename(f"cost_of_{condition}"), on=["fusion", "lmbda"])
    return table
