"""Codecs measured the same way: real files, real bytes, PSNR per image.

Taught in notebooks/02_hyperprior (JPEG and WebP baselines).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

from .bitstream import decode, encode, unpack
from .metrics import psnr
from .models import Codec

PIL_FORMATS = {"jpeg": "JPEG", "webp": "WEBP"}


def to_pil(x: torch.Tensor) -> Image.Image:
    """(3, H, W) in [0, 1] -> 8-bit RGB PIL image."""
    array = (x.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
    return Image.fromarray(array)


def pil_codec(x: torch.Tensor, fmt: str, quality: int) -> tuple[torch.Tensor, int]:
    """Code a (3, H, W) image with Pillow's JPEG or WebP; return the decoded image and the file size."""
    if fmt not in PIL_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(PIL_FORMATS)}")
    buffer = io.BytesIO()
    options = {"subsampling": 0} if fmt == "jpeg" else {"method": 6}
    to_pil(x).save(buffer, format=PIL_FORMATS[fmt], quality=int(quality), **options)
    data = buffer.getvalue()
    decoded = np.array(Image.open(io.BytesIO(data)).convert("RGB"))
    return torch.from_numpy(decoded).permute(2, 0, 1).float() / 255.0, len(data)


def pil_curve(images: list[torch.Tensor], fmt: str, qualities) -> list[dict]:
    """Mean whole-file bpp and PSNR over `images` at each quality."""
    rows = []
    for q in qualities:
        bpps, psnrs = [], []
        for x in images:
            x_hat, nbytes = pil_codec(x, fmt, q)
            bpps.append(8 * nbytes / (x.shape[1] * x.shape[2]))
            psnrs.append(psnr(x_hat, x).item())
        rows.append({"codec": fmt, "quality": q, "bpp": float(np.mean(bpps)), "psnr": float(np.mean(psnrs))})
    return rows


def codec_point(model: Codec, images: list[torch.Tensor], captions: list[str] | None = None) -> dict:
    """Mean latent bpp, whole-file bpp and PSNR of a learned codec, through real files."""
    latent, total, psnrs = [], [], []
    for i, x in enumerate(images):
        data = encode(model, x, captions[i] if captions else None)
        header = unpack(data)
        latent.append(header.bpp_latent)
        total.append(header.bpp_total)
        psnrs.append(psnr(decode(model, data), x).item())
    return {"bpp_latent": float(np.mean(latent)), "bpp": float(np.mean(total)), "psnr": float(np.mean(psnrs))}


def shapes_test_scenes(p) -> tuple[list[torch.Tensor], list[str], list]:
    """The profile's held-out CaptionedShapes evaluation scenes: images, captions, scene parameters."""
    from .data import CaptionedShapes

    test = CaptionedShapes("test", size=p.image_size, n=p.n_test, seed=p.seed)
    n = min(p.eval_images, len(test))
    return [test[i][0] for i in range(n)], [test.caption(i) for i in range(n)], [test.scene(i) for i in range(n)]


def decode_conditions(captions: list[str]) -> dict[str, list[str | None]]:
    """What the decoder is given: each image's caption, the next image's (shuffled), or none."""
    return {"true": list(captions), "shuffled": captions[1:] + captions[:1], "none": [None] * len(captions)}


def object_regions(scenes, size: int) -> dict[str, list[np.ndarray]]:
    """Per-scene masks of all objects and of the patterned ones, for `caption_decode_rows`."""
    from .data import object_mask

    return {"objects": [object_mask(s, size) for s in scenes],
            "patterned": [object_mask(s, size, patterned_only=True) for s in scenes]}


def region_psnr(x_hat: torch.Tensor, x: torch.Tensor, region: np.ndarray) -> float:
    """PSNR over the pixels where `region` (H, W) is True; NaN for an empty region."""
    if not region.any():
        return float("nan")
    squared = ((x_hat - x) ** 2).mean(0)[torch.from_numpy(region)]
    return float(-10 * torch.log10(squared.mean().clamp_min(1e-10)))


@torch.no_grad()
def caption_decode_rows(model: Codec, encoder, images: list[torch.Tensor], captions: list[str],
                        conditions: dict[str, list[str | None]], regions: dict[str, list[np.ndarray]] | None = None,
                        **labels) -> list[dict]:
    """Code each image once (its caption stored in the file) and decode it under each caption condition.

    `conditions` maps a name to the caption each image's decoder is given (None: no caption), so
    "true", "shuffled" and "empty" decodes share one bitstream and differ only in the decoder's
    side information. `regions` maps a name to one (H, W) mask per image and adds `psnr_<name>`.
    One row per image and condition, with `labels` (e.g. variant, lmbda) copied into each.
    """
    rows = []
    for i, (x, caption) in enumerate(zip(images, captions)):
        data = encode(model, x, caption)
        header = unpack(data)
        for condition, given in conditions.items():
            x_hat = decode(model, data, given[i], text_encoder=encoder)
            row = {**labels, "image": i, "condition": condition, "bpp_latent": header.bpp_latent,
                   "bpp_file": header.bpp_total, "caption_bpp": 8 * header.caption_bytes / header.num_pixels,
                   "psnr": psnr(x_hat, x).item()}
            for name, masks in (regions or {}).items():
                row[f"psnr_{name}"] = region_psnr(x_hat, x, masks[i])
            rows.append(row)
    return rows


VARIANT_COMPARISONS = (  # (test, anchor, caption the test model decodes with); notebook 05's table
    ("tcic", "control", "true"), ("tcic", "notext", "true"), ("control", "notext", "true"),
    ("tcic", "control", "shuffled"), ("tcic", "control", "none"),
)


def variant_curve(summary: pd.DataFrame, variant: str, condition: str = "true", column: str = "psnr"):
    """(latent bpp, metric) over the rates of one variant and caption condition of a summary
    indexed by (variant, lmbda, condition)."""
    part = summary.xs((variant, condition), level=("variant", "condition"))
    return part["bpp_latent"].to_numpy(), part[column].to_numpy()


def bd_table(summary: pd.DataFrame, comparisons=VARIANT_COMPARISONS, columns=("psnr", "psnr_patterned")) -> pd.DataFrame:
    """BD-PSNR and BD-rate of each (test, anchor, test's caption condition); anchors use the true caption."""
    from .metrics import bd_psnr, bd_rate

    rows = []
    for column in columns:
        for test, anchor, condition in comparisons:
            rt, dt = variant_curve(summary, test, condition, column)
            ra, da = variant_curve(summary, anchor, "true", column)
            rows.append({"test": f"{test} ({condition} caption)", "anchor": anchor, "metric": column,
                         "BD-PSNR (dB)": bd_psnr(ra, da, rt, dt), "BD-rate (%)": bd_rate(ra, da, rt, dt)})
    return pd.DataFrame(rows)


# --- any codec on any captioned dataset: per-image rows and set-level scores ---------------------

Coder = Callable[[torch.Tensor, "str | None"], tuple[torch.Tensor, int, int]]


@dataclass(frozen=True)
class CodecSetting:
    """One codec at one operating point: `code(x, caption) -> (x_hat, file bytes, caption bytes)`."""

    codec: str
    setting: str
    code: Coder


def pil_settings(fmt: str, qualities) -> list[CodecSetting]:
    """JPEG or WebP (Pillow) at each quality."""
    def coder(q):
        return lambda x, caption: (*pil_codec(x, fmt, q), 0)
    return [CodecSetting(fmt, f"q{q}", coder(q)) for q in qualities]


def model_setting(codec: str, model: Codec, setting: str, encoder=None) -> CodecSetting:
    """A learned codec through real files; caption-reading models store the caption and read it back."""
    reads = getattr(model, "reads_captions", False)
    if reads and encoder is None:
        raise ValueError(f"{model.arch} reads captions: give the text encoder it was trained with")

    def code(x, caption):
        data = encode(model, x, caption if reads else None)
        return decode(model, data, text_encoder=encoder), len(data), unpack(data).caption_bytes
    return CodecSetting(codec, setting, code)


def compressai_settings(arch: str, qualities, metric: str = "mse") -> list[CodecSetting]:
    """A pretrained CompressAI zoo model per quality, when its weights are in the torch hub cache."""
    from compressai.zoo import image as compressai_zoo

    from .metrics import Unavailable
    from .pretrained import torch_hub_checkpoint

    settings = []
    for q in qualities:
        url = compressai_zoo.model_urls[arch][metric][q]
        if torch_hub_checkpoint(os.path.basename(url)) is None:
            raise Unavailable(f"CompressAI {arch} q{q}: {os.path.basename(url)} not in the torch hub cache")
        model = getattr(compressai_zoo, arch)(quality=q, metric=metric, pretrained=True).eval()
        model.update(force=True)
        settings.append(CodecSetting(f"compressai {arch}", f"q{q}", _compressai_coder(model)))
    return settings


def _compressai_coder(model) -> Coder:
    @torch.no_grad()
    def code(x, caption):
        h, w = x.shape[-2:]
        padded = F.pad(x[None], (0, -w % 64, 0, -h % 64), mode="replicate")
        out = model.compress(padded)
        x_hat = model.decompress(out["strings"], out["shape"])["x_hat"][0, :, :h, :w].clamp(0, 1)
        return x_hat, sum(len(s[0]) for s in out["strings"]), 0
    return code


def evaluate_codecs(settings: list[CodecSetting], dataset, metrics, set_level: bool = True,
                    progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every setting on every (image, caption) of `dataset`: per-image rows and a per-setting summary.

    Rates: `bpp_image` (file without the caption), `bpp_caption` (the caption stored in the file)
    and `bpp_total` (the whole file). The summary averages the rows and adds FID/KID on patches
    of the whole set (`metrics.set_level`).
    """
    items = [dataset[i] for i in range(len(dataset))]
    rows, summaries = [], []
    for s in tqdm(settings, desc="codecs", disable=not progress):
        coded = [s.code(x, caption) for x, caption in items]
        reconstructions = [x_hat for x_hat, _, _ in coded]
        scores = _per_image_scores(metrics, reconstructions, items)
        part = []
        for i, ((x, _), (_, file_bytes, caption_bytes)) in enumerate(zip(items, coded)):
            pixels = x.shape[1] * x.shape[2]
            part.append({"codec": s.codec, "setting": s.setting, "image": i, "height": x.shape[1], "width": x.shape[2],
                         "bpp_image": 8 * (file_bytes - caption_bytes) / pixels,
                         "bpp_caption": 8 * caption_bytes / pixels, "bpp_total": 8 * file_bytes / pixels} | scores[i])
        rows += part
        summary = pd.DataFrame(part).drop(columns=["image", "height", "width"]).mean(numeric_only=True)
        summary = {"codec": s.codec, "setting": s.setting, **summary.to_dict()}
        if set_level:
            summary |= metrics.set_level([x for x, _ in items], reconstructions)
        summaries.append(summary)
    return pd.DataFrame(rows), pd.DataFrame(summaries)


def _per_image_scores(metrics, reconstructions: list[torch.Tensor], items) -> list[dict]:
    """Metric rows for every image; one batched call when the images share a size."""
    captions = [caption for _, caption in items]
    if len({tuple(x.shape) for x, _ in items}) == 1:
        return metrics.per_image(torch.stack(reconstructions), torch.stack([x for x, _ in items]), captions)
    return [metrics.per_image(x_hat[None], x[None], [c])[0] for x_hat, (x, c) in zip(reconstructions, items)]
