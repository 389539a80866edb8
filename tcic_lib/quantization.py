"""Quantisation, its training proxies, and rate: the first ideas of learned coding (before any entropy model).

Taught in notebooks/01_entropy_models.
"""

from __future__ import annotations

import math

import torch


def quantize(y: torch.Tensor, mode: str = "round", generator: torch.Generator | None = None) -> torch.Tensor:
    """Quantise latents to integers, or stand in for that during training.

    - `round`: the real thing; its gradient is zero almost everywhere.
    - `noise`: y + U(-1/2, 1/2), the additive-noise proxy (Ballé et al. 2017): smooth in y; its
      error is uniform, which rounding's is only where y's density is flat within a bin (latents
      peaked at zero round with much smaller errors, notebook 01).
    - `ste`: rounds in the forward pass, passes the gradient straight through.
    """
    if mode == "round":
        return torch.round(y)
    if mode == "noise":
        return y + torch.rand(y.shape, generator=generator, dtype=y.dtype).to(y.device) - 0.5
    if mode == "ste":
        return y + (torch.round(y) - y).detach()
    raise ValueError(f"unknown quantisation mode {mode!r}; use round, noise or ste")


def estimated_bits(likelihoods: torch.Tensor | dict) -> float:
    """The rate an ideal entropy coder would reach: sum of -log2 p over every symbol."""
    if isinstance(likelihoods, dict):
        return sum(estimated_bits(v) for v in likelihoods.values())
    return float(-torch.log2(likelihoods.detach()).sum())


def dct_matrix(n: int) -> torch.Tensor:
    """The orthonormal DCT-II basis of size n (rows are basis vectors)."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    basis = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    basis[0] /= math.sqrt(2.0)
    return basis.float()


def block_dct(x: torch.Tensor, block: int = 4) -> torch.Tensor:
    """(B, C, H, W) -> (B, C*block^2, H/block, W/block): each block's 2-D DCT coefficients as channels.

    A fixed, invertible analysis transform (JPEG's), to study entropy models before learning one.
    """
    b, c, h, w = x.shape
    if h % block or w % block:
        raise ValueError(f"image size {h}x{w} is not a multiple of the block size {block}")
    d = dct_matrix(block).to(x)
    tiles = x.reshape(b, c, h // block, block, w // block, block)
    coeffs = torch.einsum("ki,bcyixj,lj->bcklyx", d, tiles, d)  # (B, C, k, l, H/block, W/block)
    return coeffs.reshape(b, c * block * block, h // block, w // block)


def inverse_block_dct(y: torch.Tensor, block: int = 4) -> torch.Tensor:
    """The inverse of `block_dct`."""
    b, cbb, hb, wb = y.shape
    c = cbb // (block * block)
    d = dct_matrix(block).to(y)
    coeffs = y.reshape(b, c, block, block, hb, wb)
    tiles = torch.einsum("ki,bcklyx,lj->bcyixj", d, coeffs, d)
    return tiles.reshape(b, c, hb * block, wb * block)



