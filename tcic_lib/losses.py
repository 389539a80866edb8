"""Perceptual and adversarial training terms (the rate-distortion loss is CompressAI's `RateDistortionLoss`).

Taught in notebooks/06_adversarial_finetuning.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class LPIPSLoss(nn.Module):
    """LPIPS (lpips package) as a training term on [0, 1] images; `label` says whether it is calibrated.

    Offline, without AlexNet's ImageNet weights, the backbone is random (`pnet_rand=True`) and
    the label says "uncalibrated": still a deep-feature distance, but not the published LPIPS.
    """

    def __init__(self):
        super().__init__()
        from .metrics import lpips_model

        self.net, self.label = lpips_model()

    def forward(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        from .metrics import lpips_distance

        return lpips_distance(self.net, x_hat, x).mean()


def d_hinge_loss(real: torch.Tensor, fake: torch.Tensor, mismatched: torch.Tensor | None = None,
                 mismatch_weight: float = 0.5) -> dict[str, torch.Tensor]:
    """Discriminator hinge loss; a real image with a wrong caption counts as fake (matching-aware)."""
    terms = {"d_real": torch.relu(1 - real).mean(), "d_fake": torch.relu(1 + fake).mean()}
    if mismatched is None:
        return terms | {"d_mismatch": real.new_zeros(()), "d_loss": terms["d_real"] + terms["d_fake"]}
    terms["d_mismatch"] = torch.relu(1 + mismatched).mean()
    terms["d_loss"] = terms["d_real"] + (1 - mismatch_weight) * terms["d_fake"] + mismatch_weight * terms["d_mismatch"]
    return terms


def g_hinge_loss(fake: torch.Tensor) -> torch.Tensor:
    """Generator (decoder) hinge loss: raise the discriminator's score of reconstructions."""
    return -fake.mean()
