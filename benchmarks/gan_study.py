"""What the adversary and the caption in D add, measured with power: GAN runs x seeds on thousands of scenes.

    TCIC_PROFILE=cpu .venv/bin/python benchmarks/gan_study.py --ship

At the lowest ultra-low rate, for each training seed: the RD-only TCIC and its three decoder
fine-tunes (text D, plain D, and the no-adversary twin: same loop and losses without the adversarial
term; `tcic_lib.plan.all_gan_runs`), all decoding the seed's *identical files*. Each model decodes
`--scenes` held-out test scenes through real files, with their own captions and with shuffled ones
(the control for what the caption makes the decoder draw), and is measured by

- PSNR, LPIPS (the course's; uncalibrated offline), the colour+pattern reader of notebook 05, the
  judge's caption similarity, the pattern contrast kept inside patterned objects and the
  high-frequency energy kept (`tcic_lib.texture`);
- KID on 32 px patches (5 per 64 px scene) in 10 independent blocks of scenes, with a t-interval; FID of
  the originals of half the scenes against the reconstructions of the other half; both between the
  two halves of the originals: what a perfect codec scores (`tcic_lib.realism`);
- paired comparisons on the same files: the adversary (text D - twin) and the caption in D (text D -
  plain D), with how many scenes or objects their difference needs.

Fetches each model (training what is neither shipped nor cached); keeps each seed's measurements in
build/ (a rerun measures only new seeds or models); writes build/gan_study.json and .md, and with
`--ship` checkpoints/gan_study.json, which notebook 06 shows.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

PATCH = 32


def models_by_seed(p, encoder) -> dict[int, dict[str, object]]:
    """{seed: {arm: recipe}} at the lowest ultra-low rate, the RD model first."""
    from tcic_lib import plan

    out: dict[int, dict] = {}
    for (rate, arm, seed), r in plan.all_gan_runs(p, encoder).items():
        if rate == "ultra-low":
            out.setdefault(seed, {"RD only": r.base})[arm] = r
    return out


def decode_all(model, encoder, files, captions) -> torch.Tensor:
    from tcic_lib.bitstream import decode_batch

    return torch.stack([x.clamp(0, 1) for x in decode_batch(model, files, captions, text_encoder=encoder)])


def per_image(x_hat, images, captions, scenes, lpips_net, judge) -> pd.DataFrame:
    """One row per scene: PSNR, LPIPS, attributes right / objects, caption similarity."""
    from tcic_lib.attributes import attribute_counts
    from tcic_lib.evaluate import METRIC_BATCH
    from tcic_lib.metrics import lpips_distance, psnr

    rows = pd.DataFrame([attribute_counts(a, s) for a, s in zip(x_hat, scenes)])
    rows["psnr"] = psnr(x_hat, images).numpy()
    similarity, distance = [], []
    with torch.no_grad():
        for i in range(0, len(images), METRIC_BATCH):
            part = slice(i, i + METRIC_BATCH)
            distance.append(lpips_distance(lpips_net, x_hat[part], images[part]))
            rec = torch.nn.functional.normalize(judge.encode_image(x_hat[part]), dim=-1)
            text = torch.nn.functional.normalize(judge.encode(list(captions[part]))[1].to(rec.device), dim=-1)
            similarity.append((rec * text).sum(-1).cpu())
    rows["lpips"], rows["caption similarity"] = torch.cat(distance).numpy(), torch.cat(similarity).numpy()
    return rows


def measure_seed(p, encoder, recipes: dict, data: dict, features, judge, lpips_net) -> tuple[list, list]:
    """(rows, paired comparisons) of one training seed's runs on the study's scenes."""
    from tcic_lib import plan, zoo
    from tcic_lib.bitstream import encode_batch, unpack
    from tcic_lib.realism import kid_with_interval, paired_kid, patch_features, split_fid
    from tcic_lib.texture import high_frequency_energy, paired_separation, texture_kept

    images_list, images, captions, shuffled, scenes = (data[k] for k in ("list", "images", "captions", "shuffled",
                                                                          "scenes"))
    real_f, scene_of = data["real"], data["scene_of"]
    rows, fakes, kept, payloads = [], {}, {}, {}
    for arm, r in recipes.items():
        model = zoo.fetch(r, encoder, progress=False)
        began = time.perf_counter()
        files = encode_batch(model, images_list, captions, text_encoder=encoder)
        payloads[arm] = [unpack(f).strings for f in files]  # the header names the model; the payload must not move
        assert payloads[arm] == payloads["RD only"], f"{arm} codes other payloads than its RD model: its encoder moved"
        x_hat = decode_all(model, encoder, files, captions)
        scores = per_image(x_hat, images, captions, scenes, lpips_net, judge)
        wrong = per_image(decode_all(model, encoder, files, shuffled), images, shuffled, scenes, lpips_net, judge)
        fakes[arm], _ = patch_features(x_hat, features, PATCH)
        kept[arm] = texture_kept(list(x_hat), images_list, scenes)
        rows.append({"arm": arm, "key": r.key(), "scenes": len(images),
                     "psnr": float(scores["psnr"].mean()), "lpips": float(scores["lpips"].mean()),
                     "attributes": float(scores["attributes_right"].sum() / scores["objects"].sum()),
                     "attributes, shuffled captions": float(wrong["attributes_right"].sum() / wrong["objects"].sum()),
                     "caption similarity": float(scores["caption similarity"].mean()),
                     "caption similarity, shuffled": float(wrong["caption similarity"].mean()),
                     "pattern contrast kept": float(np.median(kept[arm])),
                     "high-frequency energy kept": high_frequency_energy(x_hat) / data["hf_real"],
                     **kid_with_interval(real_f, fakes[arm], scene_of),
                     "fid": split_fid(real_f, fakes[arm], scene_of), "minutes": (time.perf_counter() - began) / 60})
        logging.info("%s: %s", arm, {k: round(v, 4) for k, v in rows[-1].items() if isinstance(v, float)})
    paired = []
    for label, (a, b) in plan.GAN_COMPARISONS.items():
        texture = paired_separation(kept[a], kept[b], n_boot=p.n_boot)
        paired.append({"comparison": label,
                       **{f"KID {k}": v for k, v in paired_kid(real_f, fakes[a], fakes[b], scene_of).items()},
                       **{f"texture {k}": v for k, v in texture.items()}})
    return rows, paired


def measure(p, encoder, judge, features, scenes_n: int, seeds, out: Path) -> dict:
    """Every seed's runs; a seed measured before on the same models and scenes is read back from `out`."""
    from tcic_lib.evaluate import decode_conditions, shapes_test_scenes
    from tcic_lib.metrics import lpips_model
    from tcic_lib.realism import patch_features, real_floor
    from tcic_lib.texture import high_frequency_energy

    images_list, captions, scenes = shapes_test_scenes(p, n=scenes_n)
    images = torch.stack(images_list)
    real_f, scene_of = patch_features(images, features, PATCH)
    data = {"list": images_list, "images": images, "captions": captions, "scenes": scenes, "real": real_f,
            "shuffled": decode_conditions(captions)["shuffled"], "scene_of": scene_of,
            "hf_real": high_frequency_energy(images)}
    lpips_net, lpips_label = lpips_model()
    rows, paired = [], []
    for seed, recipes in models_by_seed(p, encoder).items():
        if seed not in seeds:
            continue
        keys = sorted(r.key() for r in recipes.values())
        kept = out / f"gan_study-seed{seed}-{scenes_n}.json"
        done = json.loads(kept.read_text()) if kept.is_file() else {}
        if done.get("keys") != keys:
            done = dict(zip(("rows", "paired"), measure_seed(p, encoder, recipes, data, features, judge, lpips_net)))
            out.mkdir(parents=True, exist_ok=True)
            kept.write_text(json.dumps({"keys": keys, **done}, indent=1, default=float))
        rows += [{"seed": seed, **row} for row in done["rows"]]
        paired += [{"seed": seed, **row} for row in done["paired"]]
    return {"rows": rows, "paired": paired, "floor": real_floor(real_f, scene_of), "lpips": lpips_label,
            "features": features.name, "patch": PATCH, "scenes": len(images), "patches": len(real_f)}


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per arm: the median over seeds and the seed range of every measure."""
    from tcic_lib.ledger import over_seeds

    columns = ["psnr", "lpips", "attributes", "attributes, shuffled captions", "caption similarity",
               "pattern contrast kept", "high-frequency energy kept", "kid", "fid"]
    out = {}
    for arm, part in rows.groupby("arm", sort=False):
        out[arm] = {"seeds": len(part)}
        for c in columns:
            s = over_seeds(part[c])
            out[arm] |= {c: s["median"], f"{c} seed low": s["seed low"], f"{c} seed high": s["seed high"]}
    return pd.DataFrame(out).T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=2000, help="held-out test scenes (5 KID patches each)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("build"))
    parser.add_argument("--ship", action="store_true", help="also store the result beside the shipped checkpoints")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    from tcic_lib import zoo
    from tcic_lib.config import profile
    from tcic_lib.metrics import QualityMetrics

    p = profile()
    encoder = zoo.text_encoder("minclip", p, progress=False)
    judge = zoo.text_encoder("judge", p, progress=False)
    features = QualityMetrics(judge, use_pyiqa=False).fid_features
    result = {"profile": p.name, "lmbda": p.lowest_lmbda,
              **measure(p, encoder, judge, features, args.scenes, args.seeds, args.out)}
    result["summary"] = summary(pd.DataFrame(result["rows"])).reset_index(names="arm").to_dict("records")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gan_study.json").write_text(json.dumps(result, indent=1, default=float))
    if args.ship:
        from tcic_lib.shipping import GAN_STUDY, shipped_dir

        (shipped_dir() / GAN_STUDY).write_text(json.dumps(result, indent=1, default=float))
    text = (f"GAN study, profile {p.name}, λ={p.lowest_lmbda:g}, {result['scenes']} held-out scenes\n\n"
            + pd.DataFrame(result["summary"]).round(4).to_string() + "\n\npaired, per seed:\n\n"
            + pd.DataFrame(result["paired"]).round(4).to_string() + f"\n\nreal vs real: {result['floor']}\n")
    (args.out / "gan_study.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
