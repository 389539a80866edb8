"""Every codec measured the same way, into one table: real files, real bytes, one row per image.

The result schema (every evaluation entry point returns it: notebooks 02, 05-08, `tcic eval`,
`tcic ablate`): one row per (codec, setting, variant, condition, image) with

- labels: `codec` (jpeg, webp, hyperprior, TCIC/ssa, ...), `setting` (the rate point: q30,
  λ=0.013), `variant` (tcic, control, notext, conditional; empty for image-only codecs),
  `condition` (the caption the decoder was given: true, shuffled, none), `image`, and any
  extra labels the caller adds (lmbda, fusion, detail, seed);
- rates, one set of names for every notebook, in bits per pixel:
  `bpp_latent` the **payload** (a learned codec's entropy-coded strings; a JPEG/WebP file is all payload),
  `bpp_file` the **file without its caption** (payload + header + checksums: what to compare across
  codec families), `bpp_caption` the caption stored in the file, `bpp_total` the **whole file**
  (`bpp_file + bpp_caption`);
- metrics: `psnr` always, `psnr_<region>` for masks given, the attribute counts of
  `tcic_lib.attributes` for scenes given, and whatever `QualityMetrics` computes.

`summarize` averages it per curve point, `curve` reads one curve, `bd_table` compares curves.

Taught in notebooks/02_hyperprior (JPEG and WebP baselines) and 07_evaluation.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from PIL import Image
from .progress import tqdm

from .attributes import attribute_counts
from .bitstream import decode_batch, encode_batch, unpack
from .images import to_pil
from .metrics import bd_psnr, bd_rate, psnr

PIL_FORMATS = {"jpeg": "JPEG", "webp": "WEBP"}
LABELS = ("codec", "setting", "variant", "condition")
EXTRA_LABELS = ("lmbda", "fusion", "detail", "seed")  # labels callers add; any text column is a label too
RATES = ("bpp_latent", "bpp_file", "bpp_caption", "bpp_total")


def pil_codec(x: torch.Tensor, fmt: str, quality: int) -> tuple[torch.Tensor, int]:
    """Code a (3, H, W) image with Pillow's JPEG (4:4:4) or WebP; the decoded image and the file size."""
    if fmt not in PIL_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(PIL_FORMATS)}")
    buffer = io.BytesIO()
    options = {"subsampling": 0} if fmt == "jpeg" else {"method": 6}
    to_pil(x).save(buffer, format=PIL_FORMATS[fmt], quality=int(quality), **options)
    data = buffer.getvalue()
    decoded = np.array(Image.open(io.BytesIO(data)).convert("RGB"))
    return torch.from_numpy(decoded).permute(2, 0, 1).float() / 255.0, len(data)


# --- codec settings: encode once, decode under each caption condition -----------------------------

@dataclass(frozen=True)
class CodecSetting:
    """One codec at one operating point.

    `encode(images, captions) -> (payloads, rates)` makes each file once; `decode(payloads, captions)`
    reconstructs them, each with the caption its decoder is given (ignored by codecs that read
    none). Both take lists, and run in one batch where the codec can.
    """

    codec: str
    setting: str
    encode: Callable
    decode: Callable
    variant: str = ""
    labels: dict = field(default_factory=dict)


def pil_settings(fmt: str, qualities) -> list[CodecSetting]:
    """JPEG or WebP (Pillow) at each quality: the whole file is the coded image."""
    def make(q):
        def enc(images, captions):
            coded = [pil_codec(x, fmt, q) for x in images]
            return [x_hat for x_hat, _ in coded], [_whole_file(8 * n / x[0].numel()) for x, (_, n) in zip(images, coded)]
        return CodecSetting(fmt, f"q{q}", enc, lambda payloads, captions: list(payloads))
    return [make(q) for q in qualities]


def _whole_file(bpp: float) -> dict[str, float]:
    """The rates of a file that is all image (no caption in it)."""
    return {"bpp_latent": bpp, "bpp_file": bpp, "bpp_caption": 0.0, "bpp_total": bpp}


def file_rates(data: bytes) -> dict[str, float]:
    """The three rates of a .tcic file."""
    header = unpack(data)
    caption = 8 * header.caption_bytes / header.num_pixels
    return {"bpp_latent": header.bpp_latent, "bpp_file": header.bpp_total - caption, "bpp_caption": caption,
            "bpp_total": header.bpp_total}


def model_setting(codec: str, model, setting: str, encoder=None, variant: str = "", **labels) -> CodecSetting:
    """A learned codec through real files; caption-reading models store the caption and read the one given."""
    if model.reads_captions and encoder is None:
        raise ValueError(f"{model.arch} reads captions: give the text encoder it was trained with")

    def enc(images, captions):
        files = encode_batch(model, images, captions if model.reads_captions else None, text_encoder=encoder)
        return files, [file_rates(data) for data in files]

    def dec(files, captions):
        return decode_batch(model, files, captions if model.reads_captions else None, text_encoder=encoder)
    return CodecSetting(codec, setting, enc, dec, variant, labels)


def tcic_setting(model, encoder, variant: str, lmbda: float, **labels) -> CodecSetting:
    """A TCIC-family model (any variant) at rate point `lmbda`, labelled with its fusion and rate."""
    return model_setting(type(model).__name__, model, f"λ={lmbda:g}", encoder, variant, lmbda=lmbda,
                         fusion=model.config().get("fusion", "none"), **labels)


def reconstruct(setting: CodecSetting, x: torch.Tensor, caption: str, given: str | None) -> tuple[torch.Tensor, dict]:
    """One image through one setting: coded with `caption` stored, decoded with `given`; (x_hat, rates)."""
    payloads, rates = setting.encode([x], [caption])
    return setting.decode(payloads, [given])[0], rates[0]


def compressai_settings(arch: str, qualities, metric: str = "mse") -> list[CodecSetting]:
    """A pretrained CompressAI zoo model per quality, when its weights are in the torch hub cache."""
    import os

    from compressai.zoo import image as compressai_zoo

    from .metrics import Unavailable
    from .models import crop, pad_to_multiple
    from .pretrained import torch_hub_checkpoint

    settings = []
    for q in qualities:
        url = compressai_zoo.model_urls[arch][metric][q]
        if torch_hub_checkpoint(os.path.basename(url)) is None:
            raise Unavailable(f"CompressAI {arch} q{q}: {os.path.basename(url)} not in the torch hub cache")
        model = getattr(compressai_zoo, arch)(quality=q, metric=metric, pretrained=True).eval()
        model.update(force=True)

        @torch.no_grad()
        def code(x, model=model):
            padded, unpad = pad_to_multiple(x[None], 64)
            out = model.compress(padded)
            x_hat = crop(model.decompress(out["strings"], out["shape"])["x_hat"], unpad)[0].clamp(0, 1)
            return x_hat, _whole_file(8 * sum(len(s[0]) for s in out["strings"]) / x[0].numel())

        def enc(images, captions, code=code):
            return tuple(zip(*(code(x) for x in images)))
        settings.append(CodecSetting(f"compressai {arch}", f"q{q}", enc, lambda payloads, captions: list(payloads)))
    return settings


# --- the per-image table ------------------------------------------------------------------------------

def shapes_test_scenes(p, n: int | None = None, seed: int | None = None) -> tuple[list[torch.Tensor], list[str], list]:
    """Held-out CaptionedShapes scenes of profile `p`: images, captions, scene parameters.

    Default: the profile's `eval_images` test scenes; `n` and `seed` draw others (a seed the
    training never used gives scenes no model selection has seen).
    """
    from .data import CaptionedShapes

    n = n or min(p.eval_images, p.data.n_test)
    test = CaptionedShapes("test", size=p.data.image_size, n=n, seed=p.data.seed if seed is None else seed)
    return [test[i][0] for i in range(n)], [test.caption(i) for i in range(n)], [test.scene(i) for i in range(n)]


def object_regions(scenes, size: int) -> dict[str, list[np.ndarray]]:
    """Per-scene masks of all objects and of the patterned ones (for `psnr_objects`, `psnr_patterned`)."""
    from .data import object_mask

    return {"objects": [object_mask(s, size) for s in scenes],
            "patterned": [object_mask(s, size, patterned_only=True) for s in scenes]}


def decode_conditions(captions: list[str]) -> dict[str, list[str | None]]:
    """What the decoder is given: each image's caption, the next image's (shuffled), or none."""
    return {"true": list(captions), "shuffled": captions[1:] + captions[:1], "none": [None] * len(captions)}


def region_psnr(x_hat: torch.Tensor, x: torch.Tensor, region: np.ndarray) -> float:
    """PSNR over the pixels where `region` (H, W) is True; NaN for an empty region."""
    if not region.any():
        return float("nan")
    squared = ((x_hat - x) ** 2).mean(0)[torch.from_numpy(region)]
    return float(-10 * torch.log10(squared.mean().clamp_min(1e-10)))


METRIC_BATCH = 32  # images per call of the metrics' networks (LPIPS, CLIP, ...)


def _scores(x_hats, images, captions, metrics, regions, scenes) -> list[dict]:
    """Each image's scores: the metrics run on batches of same-size images, the rest per image."""
    scores: list[dict] = [{} for _ in images]
    if metrics is None:
        for i, (x_hat, x) in enumerate(zip(x_hats, images)):
            scores[i]["psnr"] = psnr(x_hat, x).item()
    else:
        for group in _same_size_batches([tuple(x.shape) for x in images], METRIC_BATCH):
            values = metrics.per_image(torch.stack([x_hats[i] for i in group]), torch.stack([images[i] for i in group]),
                                       [captions[i] for i in group])
            for i, v in zip(group, values):
                scores[i] |= v
    for i, (x_hat, x) in enumerate(zip(x_hats, images)):
        for name, masks in (regions or {}).items():
            scores[i][f"psnr_{name}"] = region_psnr(x_hat, x, masks[i])
        if scenes is not None:
            scores[i] |= attribute_counts(x_hat, scenes[i])
    return scores


def _same_size_batches(shapes: list[tuple], size: int) -> list[list[int]]:
    groups: dict[tuple, list[int]] = {}
    for i, shape in enumerate(shapes):
        groups.setdefault(shape, []).append(i)
    return [g[k:k + size] for g in groups.values() for k in range(0, len(g), size)]


@torch.no_grad()
def evaluate(settings: list[CodecSetting], images: list[torch.Tensor], captions: list[str],
             conditions: dict[str, list[str | None]] | None = None, metrics=None,
             regions: dict[str, list[np.ndarray]] | None = None, scenes=None, progress: bool = False) -> pd.DataFrame:
    """Every setting on every image: coded once (its own caption stored), decoded under each condition.

    `conditions` maps a name to the caption each image's decoder gets (default: its own);
    `metrics` is a `QualityMetrics` (default: PSNR only); `regions` adds `psnr_<name>` per mask;
    `scenes` (CaptionedShapes parameters) adds the attribute counts. Returns the per-image table.
    """
    conditions = conditions or {"true": list(captions)}
    rows = []
    for s in tqdm(settings, desc="codecs", disable=not progress):
        payloads, rates = s.encode(images, captions)
        for condition, given in conditions.items():
            scores = _scores(s.decode(payloads, given), images, captions, metrics, regions, scenes)
            for i, score in enumerate(scores):
                rows.append({"codec": s.codec, "setting": s.setting, "variant": s.variant, "condition": condition,
                             **s.labels, "image": i, **rates[i], **score})
    return pd.DataFrame(rows)


def set_level_scores(settings: list[CodecSetting], images: list[torch.Tensor], captions: list[str], metrics) -> pd.DataFrame:
    """FID/KID on patches of the whole set per setting (true captions): `metrics.set_level`."""
    rows = []
    for s in settings:
        fakes = s.decode(s.encode(images, captions)[0], captions)
        rows.append({"codec": s.codec, "setting": s.setting, "variant": s.variant, **metrics.set_level(images, fakes)})
    return pd.DataFrame(rows)


# --- summaries, curves and BD tables ------------------------------------------------------------------

def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """Means per curve point (every label column but `image`); attribute counts become `attr_accuracy`."""
    labels = [c for c in rows.columns if c in LABELS + EXTRA_LABELS or not pd.api.types.is_numeric_dtype(rows[c])]
    numeric = [c for c in rows.columns if c not in labels and c != "image"]
    summary = rows.groupby(labels, sort=False)[numeric].mean().reset_index()
    if "objects" in summary:
        for name in ("attributes", "colour", "pattern", "shape"):
            summary[f"{name}_accuracy"] = summary[f"{name}_right"] / summary["objects"]
    return summary


def select(table: pd.DataFrame, **where) -> pd.DataFrame:
    """The rows whose columns equal the given values."""
    mask = np.ones(len(table), dtype=bool)
    for column, value in where.items():
        mask &= (table[column] == value).to_numpy()
    return table[mask]


def curve(summary: pd.DataFrame, y: str = "psnr", x: str = "bpp_latent", **where) -> tuple[np.ndarray, np.ndarray]:
    """(rates, values) of the summary rows matching `where`, sorted by rate: one RD (or RP) curve."""
    part = select(summary, **where).sort_values(x)
    if part.empty:
        raise ValueError(f"no rows match {where}")
    return part[x].to_numpy(), part[y].to_numpy()


def bd_table(summary: pd.DataFrame, comparisons: list[tuple[str, dict, dict]], columns=("psnr",),
             x: str = "bpp_latent") -> pd.DataFrame:
    """BD-PSNR and BD-rate of each `(label, test, anchor)` (dicts selecting the two curves) per metric column."""
    rows = []
    for column in columns:
        for label, test, anchor in comparisons:
            rt, dt = curve(summary, column, x, **test)
            ra, da = curve(summary, column, x, **anchor)
            rows.append({"comparison": label, "metric": column, "BD-PSNR (dB)": bd_psnr(ra, da, rt, dt),
                         "BD-rate (%)": bd_rate(ra, da, rt, dt)})
    return pd.DataFrame(rows)
