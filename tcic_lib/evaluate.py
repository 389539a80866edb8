"""Codecs measured the same way: real files, real bytes, PSNR per image.

Taught in notebooks/02_hyperprior (JPEG and WebP baselines).
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

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
