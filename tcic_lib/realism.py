"""Realism with power: KID over many patches, in independent blocks, and how many patches separate two models.

KID (Bińkowski et al., 2018) is an unbiased estimate of the squared MMD between two feature sets under
a cubic polynomial kernel (torchmetrics' `poly_kernel`). On a few hundred patches its noise is larger than
the differences between fine-tuned decoders, so here:

- each scene gives several patches (`metrics.patches`: a grid plus a grid shifted by half a patch).
  Patches of one scene are not independent (nor are an original's and its reconstruction's), and the
  textbook estimator, which assumes they are, is biased by them (two draws of the same source score
  above 0). `scene_mmd` averages the kernel over pairs of patches from *different* scenes only: an
  unbiased estimate again, since scenes are drawn independently;
- the scenes are split into `blocks` disjoint groups, and KID is computed in each block against the
  originals of the same scenes: `blocks` independent estimates, whose mean carries a t-interval;
- two decoders of the same files are compared block by block (paired differences), and the spread of
  those differences gives roughly how many scenes a difference of that size needs before its 95 %
  interval excludes 0: n (half-width / |mean|)^2 for n scenes (patches of one scene are correlated,
  so the variance of a KID estimate falls with the number of scenes, not of patches);
- `real_floor` splits the scenes in two halves, A and B: KID and FID between the originals of A and
  of B are what a perfect codec scores on this protocol. A codec is scored on the same footing by
  `split_fid`: originals of A against its reconstructions of B (same number of patches, different
  scenes; FID's bias grows as the number of samples falls, so only equal numbers compare).

Taught in notebooks/06_adversarial_finetuning.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import linalg, stats
from torchmetrics.image.kid import poly_kernel

from .metrics import FEATURE_BATCH, FeatureExtractor, patches


def patch_features(images: torch.Tensor, features: FeatureExtractor, size: int) -> tuple[torch.Tensor, np.ndarray]:
    """Features of every patch of a (N, 3, H, W) batch, and the scene each patch came from."""
    found, scene_of = [], []
    for start in range(0, len(images), FEATURE_BATCH):
        batch = images[start:start + FEATURE_BATCH]
        tiles = patches(batch, size)
        per_scene = len(tiles) // len(batch)
        # `patches` lists every scene's tiles of the first grid, then of the shifted one
        first = (batch.shape[-2] // size) * (batch.shape[-1] // size)
        order = np.r_[np.repeat(np.arange(len(batch)), first), np.repeat(np.arange(len(batch)), per_scene - first)]
        found.append(torch.cat([features(tiles[i:i + FEATURE_BATCH]) for i in range(0, len(tiles), FEATURE_BATCH)]))
        scene_of.append(start + order)
    return torch.cat(found).double().cpu(), np.concatenate(scene_of)


def block_of(scene_of: np.ndarray, blocks: int) -> np.ndarray:
    """Which of `blocks` contiguous groups of scenes each patch belongs to."""
    n_scenes = scene_of.max() + 1
    if n_scenes < blocks:
        raise ValueError(f"{n_scenes} scenes cannot fill {blocks} blocks")
    return scene_of * blocks // n_scenes


def scene_mmd(real: torch.Tensor, fake: torch.Tensor, scene_of: np.ndarray, fake_scene_of: np.ndarray | None = None
              ) -> float:
    """Squared MMD (cubic kernel) of two sets of patch features over pairs of patches from different scenes
    (`fake_scene_of`: the fake patches' scenes, by default those of the real patches, in the same order)."""
    fake_scene_of = scene_of if fake_scene_of is None else fake_scene_of
    terms = [poly_kernel(a, b)[torch.from_numpy(sa[:, None] != sb[None, :])].mean()
             for a, b, sa, sb in ((real, real, scene_of, scene_of), (fake, fake, fake_scene_of, fake_scene_of),
                                  (real, fake, scene_of, fake_scene_of))]
    return float(terms[0] + terms[1] - 2 * terms[2])


def block_kid(real: torch.Tensor, fake: torch.Tensor, scene_of: np.ndarray, blocks: int = 10) -> np.ndarray:
    """KID of `fake` against `real` (patch features of the same scenes, same order) in each block."""
    block = block_of(scene_of, blocks)
    return np.array([scene_mmd(real[block == b], fake[block == b], scene_of[block == b]) for b in range(blocks)])


def t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the t-interval of the mean of independent `values`."""
    values = np.asarray(values, float)
    mean, sem = values.mean(), values.std(ddof=1) / np.sqrt(len(values))
    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * sem
    return float(mean), float(mean - half), float(mean + half)


def kid_with_interval(real: torch.Tensor, fake: torch.Tensor, scene_of: np.ndarray, blocks: int = 10) -> dict:
    """KID over all the patches' blocks: the mean with its 95 % t-interval over blocks, and the patch count."""
    kid, low, high = t_interval(block_kid(real, fake, scene_of, blocks))
    return {"kid": kid, "kid 95% low": low, "kid 95% high": high, "patches": len(fake)}


def paired_kid(real: torch.Tensor, fake_a: torch.Tensor, fake_b: torch.Tensor, scene_of: np.ndarray,
               blocks: int = 10) -> dict:
    """KID(a) - KID(b) on the same scenes, block by block: the mean, its 95 % interval, and about how many
    scenes a difference of this size needs before the interval excludes 0."""
    diff = block_kid(real, fake_a, scene_of, blocks) - block_kid(real, fake_b, scene_of, blocks)
    mean, low, high = t_interval(diff)
    scenes = int(scene_of.max() + 1)
    needed = scenes * ((high - low) / 2 / abs(mean)) ** 2 if mean else float("inf")
    return {"difference": mean, "95% low": low, "95% high": high, "scenes": scenes, "scenes needed": needed}


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """FID between two feature sets: |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))."""
    a, b = a.numpy(), b.numpy()
    mu_a, mu_b, s_a, s_b = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(s_a @ s_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * root))


def _halves(scene_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    first = scene_of < (scene_of.max() + 1) // 2
    return first, ~first


def split_fid(real: torch.Tensor, fake: torch.Tensor, scene_of: np.ndarray) -> float:
    """FID of the originals' patches of the first half of the scenes against `fake`'s of the second half."""
    a, b = _halves(scene_of)
    return frechet_distance(real[a], fake[b])


def real_floor(real: torch.Tensor, scene_of: np.ndarray, blocks: int = 10) -> dict:
    """What a perfect codec scores: KID between the originals of the two halves of the scenes, block by block
    (mean and 95 % t-interval), and `split_fid` of the originals against themselves."""
    a, b = _halves(scene_of)
    block_a, block_b = block_of(scene_of[a] - scene_of[a].min(), blocks), block_of(scene_of[b] - scene_of[b].min(), blocks)
    kids = [scene_mmd(real[a][block_a == k], real[b][block_b == k], scene_of[a][block_a == k],
                      scene_of[b][block_b == k]) for k in range(blocks)]
    kid, low, high = t_interval(kids)
    return {"kid": kid, "kid 95% low": low, "kid 95% high": high, "fid": split_fid(real, real, scene_of),
            "patches per half": int(min(a.sum(), b.sum()))}
