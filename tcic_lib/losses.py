"""Training objectives. The rate-distortion loss is shared by every codec in the course.

Taught in notebooks/02_hyperprior.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn


def bits_per_pixel(likelihoods: dict[str, torch.Tensor], num_pixels: int) -> torch.Tensor:
    """Estimated rate: the sum of -log2 likelihoods over every latent, per image pixel."""
    return sum(torch.log(lk).sum() for lk in likelihoods.values()) / (-math.log(2) * num_pixels)


class RateDistortionLoss(nn.Module):
    """`loss = lmbda * 255^2 * MSE + bpp`, returned with its named terms (CompressAI's form)."""

    def __init__(self, lmbda: float = 0.01):
        super().__init__()
        self.lmbda = float(lmbda)

    def forward(self, output: dict, target: torch.Tensor) -> dict[str, torch.Tensor]:
        n, _, h, w = target.shape
        bpp = bits_per_pixel(output["likelihoods"], n * h * w)
        mse = torch.mean((output["x_hat"] - target) ** 2)
        return {"bpp_loss": bpp, "mse_loss": mse, "loss": self.lmbda * 255**2 * mse + bpp}
