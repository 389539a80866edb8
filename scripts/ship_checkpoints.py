"""Ship notebook 05's cpu-profile models: fp16 files + sha256 manifest + a model card with measured metrics.

Run after training them (each with `tcic train --model {tcic,control,notext} --lmbda L [--fusion xattn]`
in the cpu profile, which writes into the model cache):

    TCIC_PROFILE=cpu python scripts/ship_checkpoints.py [--logs build/shipped_logs]

The card's metrics are measured here, on the held-out CaptionedShapes test scenes, with the
shipped (fp16-stored) weights, exactly as notebook 05 measures them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import tempfile
from pathlib import Path

import pandas as pd
import torch

from tcic_lib import zoo
from tcic_lib.config import profile
from tcic_lib.evaluate import bd_table, caption_decode_rows, decode_conditions, object_regions, shapes_test_scenes
from tcic_lib.text import _minclip_path, minclip

VARIANTS = ("notext", "control", "tcic")
GAN_RUNS = (("tcic", True, {}), ("tcic", False, {}), ("control", True, {}), ("tcic", True, {"adv_weight": 0.0}))


def shipped_models(p, encoder) -> list[tuple[str, float, str]]:
    middle = p.lmbdas[len(p.lmbdas) // 2]
    return [(v, lmbda, "ssa") for v in VARIANTS for lmbda in p.lmbdas] + [(v, middle, "xattn") for v in ("control", "tcic")]


def wall_seconds(logs: Path, variant: str, lmbda: float, fusion: str) -> int | None:
    log = logs / f"{variant}-{lmbda:g}-{fusion}.log"
    found = re.search(r"rc 0 wall_s (\d+)", log.read_text()) if log.is_file() else None
    return int(found.group(1)) if found else None


def gan_wall_seconds(logs: Path, variant: str, conditional: bool, changes: dict) -> int | None:
    pattern = rf"DONE {variant} noadv wall_s (\d+)" if changes else rf"DONE {variant} conditional={conditional} wall_s (\d+)"
    text = " ".join(log.read_text() for log in sorted(logs.glob("gan*.log")))
    found = re.search(pattern, text)
    return int(found.group(1)) if found else None


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}; 2-4 jobs shared the 2 cores "
            "(1 thread each), so wall times are upper bounds")


def measure(p, encoder) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Notebook 05's measurement with the shipped weights, loaded through a fresh cache."""
    images, captions, scenes = shapes_test_scenes(p)
    conditions, regions = decode_conditions(captions), object_regions(scenes, p.image_size)
    rows = []
    for variant, lmbda, fusion in shipped_models(p, encoder):
        model = zoo.get_tcic(variant, encoder, p, lmbda, fusion=fusion, progress=False)[0]
        rows += caption_decode_rows(model, encoder, images, captions, conditions, regions,
                                    variant=variant, lmbda=lmbda, fusion=fusion)
    table = pd.DataFrame(rows)
    summary = table.groupby(["fusion", "variant", "lmbda", "condition"])[
        ["bpp_latent", "psnr", "psnr_objects", "psnr_patterned"]].mean()
    return summary, bd_table(summary.xs("ssa", level="fusion"))


def card(p, entries: dict, summary: pd.DataFrame, bd: pd.DataFrame, n_test: int) -> str:
    lines = ["# Shipped checkpoints (cpu profile)", "",
             "Written by `scripts/ship_checkpoints.py`; every number below was measured by it with these files.", "",
             "Models: notebook 05's `notext` (hyperprior architecture), `control` (TCIC fed captions of random other",
             "scenes) and `tcic` (its own captions), SSA fusion at three rates, plus the `xattn` pair at the middle",
             f"rate, and the mini-CLIP they read. Data: `CaptionedShapes('train', size={p.image_size}, n={p.n_train}, "
             f"seed={p.seed})`; validation on {max(8, p.n_train // 20)} val scenes; metrics on {n_test} held-out test scenes.",
             "", "| file | command | steps | wall time | val bpp | val PSNR | bytes | sha256 |", "|---|---|---|---|---|---|---|---|"]
    for key, e in sorted(entries.items()):
        wall = f"{e['wall_s'] / 60:.1f} min" if e.get("wall_s") else "n/a"
        lines.append(f"| `{e['file']}` | `{e.get('command', '')}` | {e.get('steps', '')} | {wall} | "
                     f"{e.get('val_bpp', float('nan')):.4f} | {e.get('val_psnr', float('nan')):.2f} | {e['bytes']:,} | "
                     f"`{e['sha256'][:16]}…` |")
    lines += ["", f"Machine: {machine()}.", "",
              "## Held-out test scenes (latent bpp, PSNR in dB; `none` = no caption at decode)", "",
              "```", summary.round(3).to_string(), "```", "", "## BD metrics (SSA models; BD-PSNR is the headline)", "",
              "```", bd.round(3).to_string(index=False), "```", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=Path, default=Path("build/shipped_logs"))
    parser.add_argument("--out", type=Path, default=zoo.shipped_dir())
    args = parser.parse_args()
    p = profile()
    encoder = minclip(p, progress=False)
    entries = {}
    clip_path = _minclip_path(p)[0]
    entries[clip_path.stem] = zoo.ship(clip_path, args.out, card={"command": "notebook 03 (text.minclip)",
                                                                   "steps": p.clip_steps})
    for variant, lmbda, fusion in shipped_models(p, encoder):
        r, _ = zoo.tcic_recipe(variant, encoder, p, lmbda, fusion=fusion)
        state = zoo.load_checkpoint(r.path)
        if state["step"] < r.train_config.steps:
            raise SystemExit(f"{r.path} is at step {state['step']} of {r.train_config.steps}: train it first")
        last = state["history"]["val"][-1]
        command = f"tcic train --profile {p.name} --model {variant} --lmbda {lmbda:g}" + \
            (f" --fusion {fusion}" if fusion != "ssa" else "")
        entries[r.key()] = zoo.ship(r.path, args.out, card={
            "command": command, "steps": state["step"], "wall_s": wall_seconds(args.logs, variant, lmbda, fusion),
            "val_bpp": last["bpp_loss"], "val_psnr": last["psnr"], "variant": variant, "lmbda": lmbda, "fusion": fusion})
    for variant, conditional, changes in GAN_RUNS:  # notebook 06
        key, cfg = zoo.gan_recipe(variant, encoder, p, p.lmbdas[0], conditional, **changes)
        path = zoo.cache_dir() / f"{key}.pt"
        entries[key] = zoo.ship(path, args.out, card={
            "command": f"notebook 06: zoo.get_gan({variant!r}, conditional={conditional}"
                       + "".join(f", {k}={v}" for k, v in changes.items()) + f") at λ={p.lmbdas[0]:g}",
            "steps": zoo.load_checkpoint(path)["step"], "wall_s": gan_wall_seconds(args.logs, variant, conditional, changes)})
    # measure what learners will load: the shipped files through an empty cache
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[zoo.CACHE_ENV], os.environ[zoo.SHIPPED_ENV] = tmp, str(args.out)
        encoder = minclip(p, progress=False)
        summary, bd = measure(p, encoder)
    (args.out / "README.md").write_text(card(p, entries, summary, bd, min(p.eval_images, p.n_test)))
    print((args.out / "README.md").read_text())


if __name__ == "__main__":
    main()
