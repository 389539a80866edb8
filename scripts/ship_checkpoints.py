"""Ship every model the default course needs: fp16 files, a sha256 manifest and a model card with measured numbers.

Train what is missing first (each line of `python scripts/ship_checkpoints.py --missing` is a
`tcic train` command; `--train 2` trains them all, two processes at once), then run

    TCIC_PROFILE=cpu python scripts/ship_checkpoints.py

It stores each finished recipe of `tcic_lib.plan.notebook_recipes` from the model cache into
checkpoints/ (files already shipped are kept as they are), then measures every codec through a
fresh cache that holds only the shipped files, exactly as the notebooks load them: rate, PSNR and
attribute accuracy on the profile's held-out test scenes, and (each manifest entry also records
the weights' fingerprint that `tcic decompress` uses to find a file's model). checkpoints/README.md is written from those numbers.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

import pandas as pd
import torch

from tcic_lib import plan, shipping, zoo
from tcic_lib.checkpoint import load_checkpoint
from tcic_lib.config import profile
from tcic_lib.jobs import train_all
from tcic_lib.evaluate import decode_conditions, evaluate, shapes_test_scenes, summarize, tcic_setting


def unique_recipes(p, encoder) -> dict[str, zoo.Recipe]:
    """What the notebooks fetch, and notebook 05's extended studies (which a profile may leave out)."""
    fetched = {r.key(): r for recipes in plan.notebook_recipes(p, encoder).values() for r in recipes}
    return fetched | {r.key(): r for r in plan.caption_study(p, encoder).values()}


def card_fields(r: zoo.Recipe, p, previous: dict, path: Path) -> dict:
    state = load_checkpoint(path)
    val = state["history"]["val"][-1] if state["history"]["val"] else {}
    s = r.codec_settings
    fields = {"kind": r.kind, "command": zoo.train_command(r, p), "steps": state["step"],
              "wall_s": state["extra"].get("wall_s") or previous.get("wall_s"),
              "val_bpp": val.get("bpp_loss"), "val_psnr": val.get("psnr")}
    if r.kind in ("codec", "tcic", "gan"):
        fields |= {"variant": r.variant or r.name.removeprefix("tcic-"), "lmbda": s["train"]["lmbda"],
                   "fusion": s["model"].get("fusion", "none"), "detail": s["data"].get("detail", "full"),
                   "seed": s["train"]["seed"],
                   "protocol": r.protocol or ("decoder fine-tune, files unchanged" if r.kind == "gan" else "scratch")}
    return fields


def measure(p, recipes: dict[str, zoo.Recipe]) -> pd.DataFrame:
    """Every shipped codec on the held-out scenes, loaded from the shipped files through an empty cache."""
    encoder = zoo.text_encoder("minclip", p, progress=False)
    images, captions, scenes = shapes_test_scenes(p, n=p.data.n_test)
    summaries = []
    for key, r in recipes.items():
        if r.kind == "minclip":
            continue
        model = zoo.fetch(r, encoder, progress=False)
        lmbda = r.codec_settings["train"]["lmbda"]
        s = tcic_setting(model, encoder, r.name, lmbda, key=key)
        decoder_only = model.reads_captions and not model.encoder_reads_captions
        conditions = decode_conditions(captions) if decoder_only else {"true": captions}
        summary = summarize(evaluate([s], images, captions, conditions, scenes=scenes))
        summaries.append(summary)
    return pd.concat(summaries)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}; two jobs shared the cores (one thread each), "
            "so wall times are upper bounds")


def card(p, manifest: dict, results: pd.DataFrame, n_test: int, missing: list) -> str:
    true = results[results["condition"] == "true"].set_index("key")
    lines = ["# Shipped checkpoints (cpu profile)", "",
             "Written by `scripts/ship_checkpoints.py`; every number below was measured by it with these files,",
             f"on {n_test} held-out CaptionedShapes test scenes (`shapes_test_scenes(profile, n={n_test})`), "
             "as notebook 05 measures them.", "",
             f"Training data: `CaptionedShapes('train', size={p.data.image_size}, n={p.data.n_train}, seed={p.data.seed})`."
             f" Machine: {machine()}.", "",
             "| file | what | command | steps | wall time | test bpp | test PSNR | attributes right | bytes | sha256 |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for key, e in sorted(manifest.items()):
        what = ", ".join(f"{k}={e[k]}" for k in ("variant", "fusion", "lmbda", "detail", "seed", "protocol") if e.get(k) is not None)
        wall = f"{e['wall_s'] / 60:.1f} min" if e.get("wall_s") else "n/a"
        row = true.loc[key] if key in true.index else None
        numbers = ("n/a", "n/a", "n/a") if row is None else (f"{row['bpp_latent']:.4f}", f"{row['psnr']:.2f}",
                                                              f"{row['attributes_accuracy']:.1%}")
        lines.append(f"| `{e['file']}` | {what or e.get('kind', '')} | `{e.get('command', '')}` | {e.get('steps', '')} | "
                     f"{wall} | {' | '.join(numbers)} | {e['bytes']:,} | `{e['sha256'][:16]}…` |")
    if missing:
        lines += ["", "Not shipped: notebook 05's extended studies, which the cpu profile does not train inside the",
                  "notebook (it lists them and says which sections they leave empty); train them with:", "",
                  *[f"- `{zoo.train_command(r, p)}`" for r in missing]]
    lines += ["", "## Every decode condition (the caption the decoder was given)", "", "```",
              results.round(4).to_string(index=False), "```", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=shipping.shipped_dir())
    parser.add_argument("--missing", action="store_true", help="print the commands that train what is not finished")
    parser.add_argument("--partial", action="store_true", help="ship what is finished; the card lists the commands for the rest")
    parser.add_argument("--train", type=int, metavar="JOBS", help="first train what is missing, JOBS processes at once")
    parser.add_argument("--retire", action="store_true", help="remove shipped files no recipe of the course fetches")
    args = parser.parse_args()
    p = profile()
    encoder = zoo.text_encoder("minclip", p, progress=False)
    recipes = unique_recipes(p, encoder)
    if args.train:
        train_all(list(recipes.values()), p.name, args.train)
    missing = [r for r in recipes.values() if not zoo.available(r)]
    if args.missing or (missing and not args.partial):
        print("\n".join(zoo.train_command(r, p) for r in missing) or "nothing is missing")
        raise SystemExit(1 if missing else 0)
    needed = set(recipes)
    recipes = {key: r for key, r in recipes.items() if zoo.available(r)}
    manifest = shipping.shipped_manifest(args.out)
    if args.retire:
        for key in [k for k in manifest if k not in needed]:
            (args.out / manifest.pop(key)["file"]).unlink(missing_ok=True)
            print(f"retired {key}")
        shipping.write_manifest(manifest, args.out)
    for key, r in recipes.items():
        shipped = args.out / manifest[key]["file"] if key in manifest else None
        if shipped is not None and shipped.is_file():  # the file stays, its card is refreshed
            fields = card_fields(r, p, manifest[key], shipped)
            manifest[key] |= fields | {"fingerprint": shipping.fingerprint(load_checkpoint(shipped))}
            shipping.write_manifest(manifest, args.out)
        else:
            fields = card_fields(r, p, {}, r.path)
            manifest = shipping.shipped_manifest(args.out) | {key: shipping.ship(r.path, args.out, fields)}
    with tempfile.TemporaryDirectory() as tmp:  # what learners load: the shipped files, through an empty cache
        os.environ[zoo.CACHE_ENV], os.environ[shipping.SHIPPED_ENV] = tmp, str(args.out)
        results = measure(p, recipes)
    true = results[results["condition"] == "true"].set_index("key")
    for key, row in true.iterrows():
        manifest[key] |= {"test_bpp": round(float(row["bpp_latent"]), 6), "test_psnr": round(float(row["psnr"]), 4),
                          "test_attributes": round(float(row["attributes_accuracy"]), 4)}
    shipping.write_manifest(manifest, args.out)
    (args.out / "README.md").write_text(card(p, manifest, results, p.data.n_test, missing))
    print((args.out / "README.md").read_text())


if __name__ == "__main__":
    main()
