"""Quality and rate-comparison measures, each from its library where one exists.

Taught in notebooks/02_hyperprior (PSNR, BD-rate) and notebooks/07_evaluation.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import torch

log = logging.getLogger(__name__)


def psnr(x_hat: torch.Tensor, x: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, per image of a (B, C, H, W) batch (or one (C, H, W) image)."""
    if x_hat.shape != x.shape:
        raise ValueError(f"shape mismatch: {tuple(x_hat.shape)} vs {tuple(x.shape)}")
    batched = x.dim() == 4
    diff = (x_hat.float() - x.float()).reshape(x.shape[0] if batched else 1, -1)
    mse = diff.pow(2).mean(dim=1).clamp_min(1e-12)
    out = 10 * torch.log10(data_range**2 / mse)
    return out if batched else out[0]


def _sorted_curve(rate, dist) -> tuple[np.ndarray, np.ndarray]:
    rate, dist = np.asarray(rate, dtype=float), np.asarray(dist, dtype=float)
    if rate.shape != dist.shape or rate.ndim != 1 or len(rate) < 2:
        raise ValueError("a rate-distortion curve needs matching 1-D arrays of at least 2 points")
    if np.any(rate <= 0):
        raise ValueError("rates must be positive (BD metrics work in log-rate)")
    order = np.argsort(rate)
    return rate[order], dist[order]


def bd_rate(rate_anchor, psnr_anchor, rate_test, psnr_test) -> float:
    """Bjøntegaard delta rate (%) of `test` against `anchor`: negative means fewer bits at equal PSNR.

    Uses the bjontegaard package (piecewise cubic, as in current JVET practice). Warns when the
    curves' PSNR ranges barely overlap, where a BD-rate is an extrapolation.
    """
    return _bjontegaard("bd_rate", rate_anchor, psnr_anchor, rate_test, psnr_test)


def bd_psnr(rate_anchor, psnr_anchor, rate_test, psnr_test) -> float:
    """Bjøntegaard delta PSNR (dB) of `test` against `anchor`: positive means better at equal rate."""
    return _bjontegaard("bd_psnr", rate_anchor, psnr_anchor, rate_test, psnr_test)


def _bjontegaard(name: str, rate_anchor, psnr_anchor, rate_test, psnr_test) -> float:
    """One BD metric by the bjontegaard package; NaN with a warning where it is undefined, never a crash."""
    import bjontegaard

    ra, da = _sorted_curve(rate_anchor, psnr_anchor)
    rt, dt = _sorted_curve(rate_test, psnr_test)
    if not all(np.all(np.diff(d) > 0) for d in (da, dt)):
        warnings.warn("BD value undefined: a curve's PSNR does not rise with its rate", stacklevel=3)
        return float("nan")
    if name == "bd_rate":
        _warn_if_unreliable(da, dt, "PSNR")
    else:
        _warn_if_unreliable(np.log(ra), np.log(rt), "log-rate")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(getattr(bjontegaard, name)(ra, da, rt, dt, method="pchip", require_matching_points=False,
                                                 min_overlap=0))
    if not np.isfinite(value):
        warnings.warn("BD value undefined: the curves do not overlap", stacklevel=3)
    return value


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of the narrower range that the two ranges share."""
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    narrower = min(np.ptp(a), np.ptp(b))
    return 0.0 if narrower <= 0 else max(0.0, hi - lo) / narrower


def _warn_if_unreliable(a: np.ndarray, b: np.ndarray, axis: str) -> None:
    shared = overlap(a, b)
    if shared < 0.5:
        warnings.warn(f"curves share only {shared:.0%} of their {axis} range: the BD value extrapolates",
                      stacklevel=3)
    if min(np.ptp(a), np.ptp(b)) < 0.5 and axis == "PSNR":
        warnings.warn("a curve spans under 0.5 dB: small PSNR offsets become huge BD-rates; read BD-PSNR",
                      stacklevel=3)
