"""Ablation grids: fusion block x decode-time caption x rate, from zoo models, as one tidy table.

`run_grid` fetches one TCIC per fusion and rate (fusion `none` is the no-text model), codes the
profile's test scenes once per model and decodes each file with every caption condition:
`true`, `shuffled` (the next test scene's caption) and `none` (no caption). The rows follow the
course's result schema (`tcic_lib.evaluate`); `cost_table` adds what a wrong or missing caption
costs. Sized by the profile; `tcic ablate` runs it from the command line.

Taught in notebooks/08_ablations_and_play.
"""

from __future__ import annotations

import pandas as pd

from . import zoo
from .config import Profile
from .evaluate import decode_conditions, evaluate, object_regions, shapes_test_scenes, summarize, tcic_setting

FUSIONS = ("none", "concat", "film", "ssa", "xattn", "pxattn")
CONDITIONS = ("true", "shuffled", "none")


def grid_recipes(encoder, p: Profile, fusions, lmbdas) -> dict[tuple[str, float], "zoo.Recipe"]:
    """(fusion, lmbda) -> the TCIC recipe reading captions through that fusion; `none` is the no-text model."""
    return {(fusion, lmbda): zoo.tcic_recipe("notext" if fusion == "none" else "tcic", encoder, p, lmbda, fusion=fusion)
            for fusion in fusions for lmbda in lmbdas}


def grid_settings(encoder, p: Profile, fusions, lmbdas, progress: bool = False) -> list:
    """One codec setting per (fusion, lmbda), each model fetched from the zoo."""
    return [tcic_setting(zoo.fetch(r, encoder, progress), encoder, "notext" if fusion == "none" else "tcic", lmbda)
            for (fusion, lmbda), r in grid_recipes(encoder, p, fusions, lmbdas).items()]


def run_grid(encoder, p: Profile, fusions=FUSIONS, conditions=CONDITIONS, lmbdas=None,
             progress: bool = False) -> pd.DataFrame:
    """Per-image rows for every (fusion, lmbda, caption condition): rates, PSNR, patterned-object PSNR, attributes."""
    unknown = set(conditions) - set(CONDITIONS)
    if unknown:
        raise ValueError(f"unknown caption conditions {sorted(unknown)}; known: {', '.join(CONDITIONS)}")
    images, captions, scenes = shapes_test_scenes(p)
    given = decode_conditions(captions)
    regions = {"patterned": object_regions(scenes, p.data.image_size)["patterned"]}
    settings = grid_settings(encoder, p, fusions, lmbdas or p.lmbdas, progress)
    return evaluate(settings, images, captions, {c: given[c] for c in conditions}, regions=regions, scenes=scenes)


def cost_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Means per fusion, rate and condition, with the PSNR lost to a shuffled or missing caption."""
    table = summarize(rows).set_index(["fusion", "lmbda", "condition"])
    columns = [c for c in ("bpp_latent", "psnr", "psnr_patterned", "attributes_accuracy") if c in table]
    table = table[columns]
    wide = table["psnr"].unstack("condition")
    for condition in ("shuffled", "none"):
        if condition in wide and "true" in wide:
            table = table.join((wide["true"] - wide[condition]).rename(f"cost_of_{condition}"), on=["fusion", "lmbda"])
    return table
