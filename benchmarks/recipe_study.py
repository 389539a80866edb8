"""Which training recipe holds at the ultra-low rates? Candidates x seeds x arms, trained and measured.

    TCIC_PROFILE=cpu .venv/bin/python benchmarks/recipe_study.py --jobs 2

Each candidate (`tcic_lib.plan.low_rate_candidates`: today's from-scratch recipe at the same
minutes, a warm start from a text-free base annealed down to the rate, and the shared-encoder
protocol) trains TCIC and its capacity-matched control at the lowest ultra-low rate on several
seeds, two jobs at a time (one thread each). Models land in the model cache, so a rerun only
measures. Every model is measured through real files on the profile's held-out test scenes; the
table gives, per candidate, the median over seeds and the standard deviation over seeds of PSNR,
the colour+pattern accuracy, TCIC's lead over its control, and the training minutes per model.
Writes build/recipe_study.json and build/recipe_study.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

ARMS = ("tcic", "control")


def _recipes(p, encoder, seeds, candidates, arms=ARMS):
    from tcic_lib import plan, zoo

    out = {}
    for name, cfg in plan.low_rate_candidates(p).items():
        if candidates and name not in candidates:
            continue
        q = p.replace(low_rate=cfg)
        for seed in seeds:
            for arm in arms:
                out[name, seed, arm] = zoo.tcic_recipe(arm, encoder, q, p.lowest_lmbda, fusion="pxattn", seed=seed)
    return out


def measure(p, encoder, recipes: dict) -> pd.DataFrame:
    """One row per trained model: test rate, PSNR and attribute accuracy (true and shuffled captions), minutes."""
    from tcic_lib import zoo
    from tcic_lib.checkpoint import load_checkpoint
    from tcic_lib.evaluate import decode_conditions, evaluate, shapes_test_scenes, summarize, tcic_setting

    images, captions, scenes = shapes_test_scenes(p, n=p.data.n_test)
    conditions = {k: v for k, v in decode_conditions(captions).items() if k in ("true", "shuffled")}
    rows = []
    for (candidate, seed, arm), r in recipes.items():
        model = zoo.fetch(r, encoder, progress=False)
        summary = summarize(evaluate([tcic_setting(model, encoder, arm, p.lowest_lmbda)], images, captions, conditions,
                                     scenes=scenes)).set_index("condition")
        minutes = load_checkpoint(r.path)["extra"].get("wall_s", 0) / 60
        base_minutes = load_checkpoint(r.base.path)["extra"].get("wall_s", 0) / 60 if r.base is not None else 0.0
        rows.append({"candidate": candidate, "seed": seed, "arm": arm, "bits per scene": summary.loc["true", "bpp_latent"]
                     * p.data.image_size**2, "psnr": summary.loc["true", "psnr"],
                     "attributes": summary.loc["true", "attributes_accuracy"],
                     "attributes shuffled": summary.loc["shuffled", "attributes_accuracy"],
                     "minutes": minutes, "base minutes": base_minutes, "key": r.key()})
    return pd.DataFrame(rows)


def table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per candidate: medians and seed standard deviations; TCIC's lead over its control, seed by seed."""
    wide = rows.pivot_table(index=["candidate", "seed"], columns="arm", values=["psnr", "attributes", "bits per scene"])
    lead = (wide["psnr"]["tcic"] - wide["psnr"]["control"]).rename("psnr lead")
    gap = (wide["attributes"]["tcic"] - wide["attributes"]["control"]).rename("attribute gap")
    out = {}
    for candidate, part in rows.groupby("candidate", sort=False):
        t, c = part[part["arm"] == "tcic"], part[part["arm"] == "control"]
        out[candidate] = {
            "seeds": len(t), "TCIC PSNR (median)": t["psnr"].median(), "TCIC PSNR (seed sd)": t["psnr"].std(ddof=1),
            "control PSNR (median)": c["psnr"].median(), "control PSNR (seed sd)": c["psnr"].std(ddof=1),
            "TCIC > control (seeds)": int((lead[candidate] > 0).sum()),
            "TCIC attributes (median)": t["attributes"].median(), "control attributes (median)": c["attributes"].median(),
            "min attribute gap": gap[candidate].min(), "TCIC bits per scene": t["bits per scene"].median(),
            "minutes per arm (median)": part["minutes"].median(), "base minutes (median)": part["base minutes"].median(),
        }
    return pd.DataFrame(out).T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--candidates", nargs="*", help="only these (default: every candidate)")
    parser.add_argument("--jobs", type=int, default=2, help="training processes at once, one thread each")
    parser.add_argument("--measure-only", action="store_true", help="measure what is trained; train nothing")
    parser.add_argument("--out", type=Path, default=Path("build"))
    parser.add_argument("--ship", action="store_true", help="also store the result with the shipped checkpoints "
                        "(notebook 05 shows it)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from tcic_lib import zoo
    from tcic_lib.config import profile
    from tcic_lib.jobs import train_all

    p = profile()
    encoder = zoo.text_encoder("minclip", p, progress=False)
    recipes = _recipes(p, encoder, args.seeds, args.candidates)
    if not args.measure_only:
        train_all(list(recipes.values()), p.name, args.jobs)
    recipes = {k: r for k, r in recipes.items() if zoo.available(r)}
    rows = measure(p, encoder, recipes)
    summary = table(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"profile": p.name, "lmbda": p.lowest_lmbda, "scenes": p.data.n_test, "chosen": p.low_rate.protocol,
              "summary": summary.reset_index(names="candidate").to_dict("records"), "rows": rows.to_dict("records")}
    (args.out / "recipe_study.json").write_text(json.dumps(result, indent=1))
    if args.ship:
        from tcic_lib.shipping import RECIPE_STUDY, shipped_dir

        (shipped_dir() / RECIPE_STUDY).write_text(json.dumps(result, indent=1))
    text = (f"Recipe study, profile {p.name}, λ={p.lowest_lmbda:g}, {p.data.n_test} held-out scenes\n\n"
            + summary.round(3).to_string() + "\n\nper model:\n\n" + rows.round(3).to_string(index=False) + "\n")
    (args.out / "recipe_study.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
