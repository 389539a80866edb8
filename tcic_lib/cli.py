"""The `tcic` command line: one subcommand per job, each with its own --help.

Imports are lazy (inside each command), so `tcic compress` starts without loading what it
does not use (no text encoder for a model that reads no captions).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

PROFILE_HELP = "quick, cpu or gpu (default: $TCIC_PROFILE, else cpu)"


def _info(args: argparse.Namespace) -> int:
    import torch

    from . import __version__
    from .config import device, profile
    from .plan import course_plan
    from .pretrained import weights_report

    p = profile(args.profile)
    print(f"tcic-course {__version__}, torch {torch.__version__}, device {device()}")
    print(f"profile {p.name}: {p}")
    for w in weights_report():
        print(f"  {w.name}: {w.path if w.available else 'missing (' + w.reason + ')'}")
    print("what each notebook loads (shipped or cached) and would train here:")
    print(course_plan(p).to_string(index=False))
    return 0


def _course(args: argparse.Namespace) -> int:
    from .course.runner import build_course

    out = Path(args.out)
    runs = build_course(Path(args.notebooks), out, args.only, force=args.force, cell_timeout=args.cell_timeout)
    for run in runs:
        print(f"{run.source.stem:32s} {run.status:8s} {run.seconds:7.0f} s  {run.error}")
    failed = [run for run in runs if not run.ok]
    print(f"{out / 'index.html'}: {len(runs) - len(failed)} of {len(runs)} notebooks done, "
          f"{sum(r.seconds for r in runs) / 60:.1f} min")
    return 1 if failed else 0


def _train(args: argparse.Namespace) -> int:
    from .distributed import process_group

    with process_group():
        return _train_in_group(args)


def _train_recipe(args: argparse.Namespace, p):
    from . import zoo

    changes = {k: v for k, v in {"steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
                                 "seed": args.seed}.items() if v is not None}
    dataset = None
    if args.data != "shapes":
        if not args.data_root:
            raise ValueError(f"--data {args.data} needs --data-root")
        dataset = (args.data, args.data_root)
    if args.model in zoo.TCIC_VARIANTS:
        encoder = zoo.text_encoder(args.text_encoder, p)
        return zoo.tcic_recipe(args.model, encoder, p, args.lmbda, args.fusion, dataset=dataset, detail=args.detail,
                               **changes), encoder
    return zoo.codec_recipe(args.model, p, args.lmbda, dataset, **changes), None


def _train_in_group(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from . import zoo
    from .checkpoint import load_checkpoint
    from .config import profile
    from .distributed import is_main, world_size

    p = profile(args.profile)
    r, encoder = _train_recipe(args, p)
    if args.out:  # the same recipe, trained into the given file instead of the cache
        r = replace(r, out=Path(args.out))
    zoo.fetch(r, encoder, progress=not args.quiet)
    if is_main():
        history = load_checkpoint(r.path)["history"]
        last = history["val"][-1] if history["val"] else history["train"][-1]
        processes = f" ({world_size()} processes)" if world_size() > 1 else ""
        print(f"{r.path}: step {last['step']}, bpp {last['bpp_loss']:.4f}, mse {last['mse_loss']:.6f}{processes}")
    return 0


PRETRAINED = "bmshj2018-hyperprior"  # CompressAI's pretrained codec, after `tcic fetch-weights`


def _load_model(args: argparse.Namespace):
    """`--model` as a checkpoint file, a named model at `--quality` (shipped or cached; never trained here),
    or CompressAI's pretrained bmshj2018-hyperprior."""
    from . import zoo
    from .architectures import model_from_checkpoint, pretrained_hyperprior

    if Path(args.model).suffix == ".pt" or Path(args.model).is_file():
        return model_from_checkpoint(Path(args.model))
    if args.model == PRETRAINED:
        model = pretrained_hyperprior(args.quality)
        if model is None:
            raise ValueError(f"{PRETRAINED} quality {args.quality} is not in the torch hub cache: run `tcic fetch-weights`")
        return model
    p = _profile(args)
    r = zoo.named_recipe(args.model, args.quality, p)
    if not zoo.available(r):
        raise ValueError(f"{args.model} quality {args.quality} is neither shipped nor cached for profile {p.name}; "
                         f"train it first: {zoo.train_command(r, p)}")
    return zoo.fetch(r, progress=False)


def _text_encoder_for(model, args):
    """The encoder a caption-reading model reads (none for the others: they start faster)."""
    if not model.reads_captions:
        return None
    from . import zoo

    return zoo.text_encoder(args.text_encoder, _profile(args), progress=False)


def _compress(args: argparse.Namespace) -> int:
    from .bitstream import encode, unpack
    from .images import read_image

    image = read_image(args.image)
    model = _load_model(args)
    encoder = _text_encoder_for(model, args) if model.encoder_reads_captions else None
    data = encode(model, image, args.caption, text_encoder=encoder)
    Path(args.output).write_bytes(data)
    h = unpack(data)
    print(f"{args.output}: {len(data)} bytes, {h.bpp_latent:.4f} bpp latent, {h.bpp_total:.4f} bpp whole file")
    return 0


def _decompress(args: argparse.Namespace) -> int:
    from .bitstream import STORED, decode, unpack
    from .images import to_pil

    data = Path(args.file).read_bytes()
    if args.model is None:  # find the shipped model that made the file by the fingerprint it records
        from . import zoo

        args.model, args.quality = zoo.named_model_of(unpack(data).fingerprint, _profile(args))
    model = _load_model(args)
    caption = STORED if args.caption is None else args.caption
    x_hat = decode(model, data, caption, text_encoder=_text_encoder_for(model, args))
    to_pil(x_hat).save(args.output)
    print(f"{args.output}: {x_hat.shape[2]}x{x_hat.shape[1]}")
    return 0


def _profile(args):
    from .config import profile

    return profile(args.profile)


def _fetch_weights(args: argparse.Namespace) -> int:
    from .download import fetch_weights

    sources = dict(item.split("=", 1) for item in args.source or [])
    for name, path in fetch_weights(args.only, sources, progress=not args.quiet).items():
        print(f"{name}: {path}")
    return 0


def _models(args: argparse.Namespace) -> int:
    from . import zoo

    print(zoo.model_table(_profile(args)).to_string(index=False))
    return 0


def _eval_settings(args: argparse.Namespace, encoder) -> list:
    from .architectures import model_from_checkpoint
    from .evaluate import compressai_settings, model_setting, pil_settings

    settings = []
    for spec in args.codec:
        if spec in ("jpeg", "webp"):
            settings += pil_settings(spec, args.qualities)
        elif spec.startswith("compressai:"):
            settings += compressai_settings(spec.split(":", 1)[1], args.compressai_qualities)
        else:
            model = model_from_checkpoint(Path(spec))
            settings.append(model_setting(type(model).__name__, model, Path(spec).stem,
                                          encoder if model.reads_captions else None))
    return settings


def _eval(args: argparse.Namespace) -> int:
    import json

    import matplotlib

    matplotlib.use("Agg")
    from . import zoo
    from .data import CaptionedPhotos
    from .evaluate import evaluate, set_level_scores, shapes_test_scenes, summarize
    from .metrics import QualityMetrics, Unavailable
    from .plots import rd_rp_figure

    p = _profile(args)
    for spec in args.codec:  # fail fast, before loading anything
        if spec not in ("jpeg", "webp") and not spec.startswith("compressai:") and not Path(spec).is_file():
            raise ValueError(f"unknown codec {spec!r}: use jpeg, webp, compressai:<arch> or a checkpoint file")
    encoder = zoo.text_encoder(args.text_encoder, p, progress=False)
    judge = zoo.text_encoder(args.judge, p, progress=False)
    if args.data == "photos":
        photos = CaptionedPhotos(max_side=args.max_side)
        images, captions = (list(t) for t in zip(*(photos[i] for i in range(len(photos)))))
    else:
        images, captions, _ = shapes_test_scenes(p)
    try:
        settings = _eval_settings(args, encoder)
    except Unavailable as err:
        raise ValueError(str(err)) from err
    metrics = QualityMetrics(judge, codec_encoders=(encoder.key,))
    rows = evaluate(settings, images, captions, metrics=metrics, progress=not args.quiet)
    summary = summarize(rows).merge(set_level_scores(settings, images, captions, metrics), how="left")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows.to_csv(out / "results.csv", index=False, float_format="%.6g")
    summary.to_csv(out / "summary.csv", index=False, float_format="%.6g")
    (out / "metrics.json").write_text(json.dumps({"labels": metrics.labels, "unavailable": metrics.unavailable,
                                                  "data": args.data, "images": len(images)}, indent=1) + "\n")
    rd_rp_figure(summary, metrics.labels, title=f"{args.data}, {len(images)} images").savefig(out / "curves.png", dpi=120)
    for name, reason in metrics.unavailable.items():
        print(f"{name}: unavailable: {reason}")
    print(f"{out}: results.csv ({len(rows)} rows), summary.csv, metrics.json, curves.png")
    return 0


def _ablate(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import zoo
    from .ablate import cost_table, run_grid
    from .evaluate import summarize
    from .plots import curves

    p = _profile(args)
    encoder = zoo.text_encoder(args.text_encoder, p, progress=not args.quiet)
    rows = run_grid(encoder, p, args.fusion, args.condition, args.lmbda, progress=not args.quiet)
    table = cost_table(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows.to_csv(out / "rows.csv", index=False, float_format="%.6g")
    table.to_csv(out / "summary.csv", float_format="%.6g")
    fig, ax = plt.subplots(figsize=(6, 4))
    curves(ax, summarize(rows).query("condition == 'true'"), "psnr", x="bpp_latent", by="fusion",
           label="PSNR (dB), true caption")
    fig.savefig(out / "rd.png", dpi=120)
    print(table.round(3).to_string())
    print(f"{out}: rows.csv, summary.csv, rd.png")
    return 0


def _add_model_arguments(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--model", required=required,
                        help="a named model (`tcic models` lists them: hyperprior, tcic, ...), bmshj2018-hyperprior "
             "(CompressAI's, after `tcic fetch-weights`) or a checkpoint file")
    parser.add_argument("--quality", type=int, default=1, help="for a named model: 1 = lowest rate (default 1)")
    parser.add_argument("--profile", help=PROFILE_HELP)
    parser.add_argument("--text-encoder", default="minclip",
                        help="for caption-reading models: the encoder they were trained with (default: minclip)")


def _train_parser(sub) -> None:
    tr = sub.add_parser("train", help="train a codec on CaptionedShapes (resumes from --out if it exists)")
    tr.add_argument("--model", choices=["factorized", "hyperprior", "tcic", "control", "notext", "conditional"],
                    default="hyperprior", help="tcic: decoder reads the caption; control: same model fed unrelated "
                    "captions; notext: same size, no caption; conditional: the caption at both ends")
    tr.add_argument("--fusion", default="ssa", help="fusion block of tcic/control: none, concat, film, ssa, xattn or pxattn")
    tr.add_argument("--detail", default="full", help="what training captions name: colour, pattern or full")
    tr.add_argument("--text-encoder", default="minclip", help="auto, minclip, clip:ViT-B-32/openai or a .pt path")
    tr.add_argument("--data", choices=["shapes", "cub200", "folder"], default="shapes",
                    help="training data: CaptionedShapes (default), CUB-200-2011 with captions, or a captioned folder")
    tr.add_argument("--data-root", help="dataset folder for --data cub200 / folder")
    tr.add_argument("--profile", help=PROFILE_HELP)
    tr.add_argument("--lmbda", type=float, help="RD trade-off (default: the profile's middle lambda)")
    tr.add_argument("--steps", type=int, help="override the profile's steps")
    tr.add_argument("--batch-size", type=int, help="override the profile's batch size")
    tr.add_argument("--lr", type=float, help="override the profile's learning rate")
    tr.add_argument("--seed", type=int, help="training seed: initial weights, batch order, noise (default: the profile's)")
    tr.add_argument("--out", help="checkpoint path (.pt; default: the model cache, where notebooks find it)")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(func=_train)


def _codec_parsers(sub) -> None:
    co = sub.add_parser("compress", help="code an image into a .tcic file")
    co.add_argument("image", help="input image (PNG, JPEG, ...)")
    co.add_argument("-o", "--output", required=True, help="output bitstream")
    _add_model_arguments(co, required=True)
    co.add_argument("--caption", help="caption stored in the file for the decoder")
    co.set_defaults(func=_compress)

    de = sub.add_parser("decompress", help="decode a .tcic file into a PNG")
    de.add_argument("file", help="input bitstream")
    de.add_argument("-o", "--output", required=True, help="output image (PNG)")
    _add_model_arguments(de, required=False)
    de.add_argument("--caption", help="decode with this caption instead of the stored one")
    de.set_defaults(func=_decompress)

    fw = sub.add_parser("fetch-weights", help="download pretrained weights (CLIP, AlexNet, Inception, CompressAI) "
                        "into their caches; needs a network, never run by tests")
    fw.add_argument("--only", nargs="+", help="some of: clip alexnet inception bmshj2018-hyperprior-1 ... -5")
    fw.add_argument("--source", nargs="+", metavar="NAME=URL", help="fetch these from another URL (a mirror)")
    fw.add_argument("--quiet", action="store_true", help="no progress bars")
    fw.set_defaults(func=_fetch_weights)

    mo = sub.add_parser("models", help="list the named models with their card lines (rate, bpp, PSNR)")
    mo.add_argument("--profile", help=PROFILE_HELP)
    mo.set_defaults(func=_models)


def _study_parsers(sub) -> None:
    ev = sub.add_parser("eval", help="measure codecs on a dataset: per-image CSV, summary with FID/KID, figures")
    ev.add_argument("--codec", action="append", required=True,
                    help="jpeg, webp, compressai:<arch> or a checkpoint file; repeat for several")
    ev.add_argument("--data", choices=["photos", "shapes"], default="photos",
                    help="photos: the offline scikit-image set; shapes: CaptionedShapes test scenes of the profile")
    ev.add_argument("--qualities", type=int, nargs="+", default=[10, 30, 50, 70, 90], help="for jpeg and webp")
    ev.add_argument("--compressai-qualities", type=int, nargs="+", default=[1, 3, 5], help="for compressai:<arch>")
    ev.add_argument("--max-side", type=int, default=512, help="downscale photos to this longest side (0: keep)")
    ev.add_argument("--text-encoder", default="minclip", help="what caption-reading models read (default: minclip)")
    ev.add_argument("--judge", default="judge", help="the CLIP of the semantic metrics; never one the codecs read "
                    "(default: pretrained CLIP when present, else a second mini-CLIP)")
    ev.add_argument("--profile", help=PROFILE_HELP)
    ev.add_argument("--out", default="build/eval", help="output folder")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    ev.set_defaults(func=_eval)

    ab = sub.add_parser("ablate", help="fusion x caption condition x rate grid from zoo models: tables and an RD plot")
    ab.add_argument("--fusion", nargs="+", default=["none", "concat", "film", "ssa", "xattn"])
    ab.add_argument("--condition", nargs="+", default=["true", "shuffled", "none"])
    ab.add_argument("--lmbda", type=float, nargs="+", help="rates (default: the profile's)")
    ab.add_argument("--text-encoder", default="minclip", help="the encoder the models read (default: minclip)")
    ab.add_argument("--profile", help=PROFILE_HELP)
    ab.add_argument("--out", default="build/ablate", help="output folder")
    ab.add_argument("--quiet", action="store_true", help="no progress bars")
    ab.set_defaults(func=_ablate)

    course = sub.add_parser("course", help="execute every notebook and render it to HTML")
    course.add_argument("--notebooks", default="notebooks", help="folder of NN_topic.ipynb files")
    course.add_argument("--out", default="build/course", help="output folder")
    course.add_argument("--only", nargs="*", help="run only notebooks starting with these prefixes")
    course.add_argument("--force", action="store_true",
                        help="rerun notebooks already exported from the same sources, profile and cache")
    course.add_argument("--cell-timeout", type=float, default=None,
                        help="seconds a cell may run (default: no limit; training cells take what the machine needs)")
    course.set_defaults(func=_course)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tcic", description="Perceptual image compression with text as decoder-side information.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    info = sub.add_parser("info", help="profile, device, pretrained weights, and what each notebook loads or trains")
    info.add_argument("--profile", help=PROFILE_HELP)
    info.set_defaults(func=_info)
    _train_parser(sub)
    _codec_parsers(sub)
    _study_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return args.func(args)
    except (ValueError, OSError) as err:
        print(f"tcic {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
