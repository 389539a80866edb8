"""Texture a learner can see, measured from the scenes' known geometry.

Two statistics of a reconstruction against its original:

- `high_frequency_energy`: the mean squared Laplacian of an image: how much fine detail it carries
  (an MSE-trained decoder at a low rate keeps little of it);
- `pattern_contrast`: for each patterned object of a CaptionedShapes scene, the mean colour of the
  pixels its fill paints minus the mean of the pixels it leaves white (the pattern's amplitude at its
  own period: the fill mask is a matched filter). A blurred pattern keeps its place but loses contrast;
  `texture_kept` divides a reconstruction's contrast by the original's, object by object.

Taught in notebooks/06_adversarial_finetuning.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .data.shapes import Scene, object_box, object_layers

LAPLACIAN = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])


def high_frequency_energy(x: torch.Tensor) -> float:
    """Mean squared Laplacian of a (N, 3, H, W) batch in [0, 1]."""
    kernel = LAPLACIAN.to(x).expand(x.shape[1], 1, 3, 3)
    return F.conv2d(x, kernel, groups=x.shape[1]).pow(2).mean().item()


def pattern_contrast(image: torch.Tensor, scene: Scene) -> list[float]:
    """Per patterned object of `scene` (solid ones have no pattern): the RMS over channels of
    mean(painted pixels) - mean(white pixels) inside the object, for a (3, H, W) image in [0, 1]."""
    size = image.shape[-1]
    pixels = image.detach().float().cpu().numpy()
    contrasts = []
    for obj in scene.objects:
        if obj.pattern == "solid":
            continue
        box = object_box(obj, size)
        _, outlines, fills = object_layers(scene, obj, size, box)
        inside, painted = outlines[obj.shape], fills[obj.pattern]
        crop = pixels[:, box[0], box[1]]
        on, off = crop[:, inside & painted], crop[:, inside & ~painted]
        if on.shape[1] == 0 or off.shape[1] == 0:  # too small at this size to show its pattern
            continue
        contrasts.append(float(np.sqrt(np.mean((on.mean(1) - off.mean(1)) ** 2))))
    return contrasts


def texture_kept(x_hat: list[torch.Tensor], x: list[torch.Tensor], scenes: list[Scene]) -> np.ndarray:
    """Per patterned object over all scenes: reconstruction's pattern contrast / the original's (1 = all kept)."""
    kept = [np.array(pattern_contrast(a, s)) / np.array(pattern_contrast(b, s)) for a, b, s in zip(x_hat, x, scenes)]
    return np.concatenate(kept) if kept else np.array([])


def median_with_interval(values: np.ndarray, n_boot: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """(median, 95 % bootstrap low, high) over the items of `values` (objects, images)."""
    values = np.asarray(values, float)
    rng = np.random.default_rng(seed)
    draws = np.median(values[rng.integers(len(values), size=(n_boot, len(values)))], axis=1)
    return float(np.median(values)), float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))


def paired_separation(a: np.ndarray, b: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict:
    """Mean of a - b over paired items (the same objects), its 95 % bootstrap interval, and roughly how many
    items a normal approximation needs for that interval to exclude 0: (1.96 sd / |mean|)^2."""
    d = np.asarray(a, float) - np.asarray(b, float)
    rng = np.random.default_rng(seed)
    draws = d[rng.integers(len(d), size=(n_boot, len(d)))].mean(1)
    mean, sd = float(d.mean()), float(d.std(ddof=1)) if len(d) > 1 else float("nan")
    needed = float("inf") if mean == 0 else float(np.ceil((1.96 * sd / abs(mean)) ** 2))
    return {"difference": mean, "95% low": float(np.percentile(draws, 2.5)), "95% high": float(np.percentile(draws, 97.5)),
            "items": len(d), "items needed": needed}
