"""Images in and out: any PIL image, array or tensor to a (3, H, W) float tensor in [0, 1], and back.

Greyscale becomes RGB, alpha is dropped, 16-bit images are scaled from their full range, and
anything else gets a clear `ValueError`. Used by the bitstream, the CLI and the evaluations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

_SCALES = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0, np.dtype(np.int32): 65535.0,
           np.dtype(bool): 1.0}


def as_image_tensor(image) -> torch.Tensor:
    """A (3, H, W) float tensor in [0, 1] from a PIL image, an array or a tensor.

    Greyscale becomes RGB, alpha is dropped (composited on nothing: the colour channels are kept),
    and 16-bit images are scaled from their full range.
    """
    if isinstance(image, torch.Tensor):
        x = image.detach().float()
        if x.dim() == 2:
            x = x[None]
        if x.dim() != 3:
            raise ValueError(f"expected an image tensor (C, H, W), got shape {tuple(x.shape)}")
        if x.numel() == 0:
            raise ValueError(f"image has no pixels: {tuple(x.shape)}")
        if x.min() < 0 or x.max() > 1:
            raise ValueError("image tensor values must lie in [0, 1]")
    else:
        array = _pil_to_array(image) if hasattr(image, "mode") else np.asarray(image)
        if array.ndim not in (2, 3):
            raise ValueError(f"expected an image array (H, W) or (H, W, C), got shape {array.shape}")
        if array.size == 0:
            raise ValueError(f"image has no pixels: {array.shape}")
        scale = 1.0 if np.issubdtype(array.dtype, np.floating) else _SCALES.get(array.dtype)
        if scale is None:
            raise ValueError(f"unsupported image dtype {array.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(array).astype(np.float32) / scale)
        x = x[None] if x.dim() == 2 else x.permute(2, 0, 1)
    channels = x.shape[0]
    if channels in (1, 2):  # grey, grey + alpha
        x = x[:1].expand(3, -1, -1)
    elif channels in (3, 4):  # RGB, RGBA
        x = x[:3]
    else:
        raise ValueError(f"expected 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA) channels, got {channels}")
    if x.shape[1] < 1 or x.shape[2] < 1:
        raise ValueError(f"image has no pixels: {tuple(x.shape)}")
    return x.clamp(0, 1).contiguous()


def _pil_to_array(image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return np.asarray(image).astype(np.uint16 if image.mode.startswith("I;16") else np.int32)
    if image.mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    return np.asarray(image)


def to_pil(x: torch.Tensor) -> Image.Image:
    """(3, H, W) in [0, 1] -> 8-bit RGB PIL image (rounded, not truncated)."""
    array = (x.detach().cpu().clamp(0, 1).permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
    return Image.fromarray(array)


def read_image(path: str | Path) -> torch.Tensor:
    """An image file as (3, H, W) in [0, 1]; a file that is not an image gives one clear `ValueError`."""
    try:
        with Image.open(path) as image:
            image.load()
            return as_image_tensor(image)
    except OSError as err:  # PIL's UnidentifiedImageError is an OSError too
        raise ValueError(f"{path}: not a readable image ({err})") from err
