"""What a caption is worth, in bits: the side-information bound and the bits ledger.

A decoder that holds side information T can save at most what T tells about the image X:

    R_X(D) - I(X;T)  <=  R_X|T(D)  <=  R_WZ(D)  <=  R_X(D)

(R_X|T: both ends know T, conditional coding; R_WZ: only the decoder does, Wyner and Ziv 1976.)
So a caption of H(T) bits can save at most I(X;T) <= H(T) bits per image at any quality. The
ledger measures, at each rate point of a codec that reads captions, how many bits per image it
saves at equal quality against an anchor's RD curve, and divides by H(T): the caption's
*efficiency*, 0 when the caption is unused and at most 1 (beyond 1 only by noise, or by a
difference in the models rather than the caption: hence the capacity-matched control).

Every number comes with a paired bootstrap interval over images: the same resampled images for
the test and the anchor, so image difficulty cancels. `gaussian_*` are the exact bounds of the
toy source that opens notebook 05.

Taught in notebooks/05_tcic.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .evaluate import select
from .metrics import bd_psnr, bd_rate

N_BOOT = 1000  # bootstrap resamples: enough for 95 % intervals to two digits


# --- the Gaussian toy source: X ~ N(0, var_x), side information Y = X + N(0, var_n) --------------------

def gaussian_rate(distortion, variance: float):
    """R(D) = max(0, 1/2 log2(variance / D)) bits per sample: a Gaussian under MSE."""
    return np.maximum(0.0, 0.5 * np.log2(variance / np.asarray(distortion, dtype=float)))


def gaussian_conditional_variance(var_x: float, var_n: float) -> float:
    """Var(X | Y) for Y = X + noise: what is left of X once Y is known."""
    return var_x * var_n / (var_x + var_n)


def gaussian_mutual_information(var_x: float, var_n: float) -> float:
    """I(X;Y) = 1/2 log2(var_x / Var(X|Y)) bits: the most side information can save, at every D below Var(X|Y)."""
    return 0.5 * math.log2(var_x / gaussian_conditional_variance(var_x, var_n))


# --- the ledger on measured curves ------------------------------------------------------------------

def rate_at(rates: np.ndarray, qualities: np.ndarray, target: float) -> float:
    """The rate a curve needs for quality `target`: log-rate interpolated linearly in quality, and
    extrapolated from the nearest segment outside the curve (flagged by `inside_curve`)."""
    order = np.argsort(qualities)
    q, log_r = np.asarray(qualities, float)[order], np.log(np.asarray(rates, float)[order])
    if len(q) < 2 or np.any(np.diff(q) <= 0):
        return float("nan")  # a curve whose quality does not rise with rate gives no answer
    if target <= q[0]:
        i = 0
    elif target >= q[-1]:
        i = len(q) - 2
    else:
        i = int(np.searchsorted(q, target)) - 1
    slope = (log_r[i + 1] - log_r[i]) / (q[i + 1] - q[i])
    return float(np.exp(log_r[i] + slope * (target - q[i])))


def inside_curve(qualities: np.ndarray, target: float) -> bool:
    return bool(np.min(qualities) <= target <= np.max(qualities))


def _points(rows: pd.DataFrame, where: dict, images: np.ndarray, column: str, x: str) -> pd.DataFrame:
    """Mean rate and quality per rate point over the given image indices (repeats allowed)."""
    part = select(rows, **where)
    picked = part.set_index("image").loc[images].reset_index()
    return picked.groupby("setting", sort=False)[[x, column]].mean().sort_values(x)


def _saved(test: pd.DataFrame, anchor: pd.DataFrame, column: str, x: str, pixels: int) -> np.ndarray:
    return np.array([(rate_at(anchor[x].to_numpy(), anchor[column].to_numpy(), q) - r) * pixels
                     for r, q in zip(test[x], test[column])])


def _interval(samples: np.ndarray) -> tuple[float, float]:
    finite = samples[np.isfinite(samples)]
    if len(finite) < 0.9 * len(samples):
        return float("nan"), float("nan")
    return float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5))


def bits_ledger(rows: pd.DataFrame, test: dict, anchor: dict, caption_bits: float, pixels: int,
                column: str = "psnr", x: str = "bpp_latent", n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """Per rate point of `test`: bits per image saved at equal `column` against `anchor`'s curve,
    `caption_bits` (H(T), bits per image) and efficiency = saved / H(T), each with a 95 % paired
    bootstrap interval over images. `test` and `anchor` select rows of the per-image table."""
    images = np.sort(select(rows, **test)["image"].unique())
    t, a = _points(rows, test, images, column, x), _points(rows, anchor, images, column, x)
    saved = _saved(t, a, column, x, pixels)
    rng = np.random.default_rng(seed)
    draws = np.array([_saved(_points(rows, test, s, column, x), _points(rows, anchor, s, column, x), column, x, pixels)
                      for s in (rng.choice(images, len(images)) for _ in range(n_boot))])
    out = pd.DataFrame({"setting": t.index, f"test {x}": t[x].to_numpy(), f"test {column}": t[column].to_numpy(),
                        "inside anchor curve": [inside_curve(a[column].to_numpy(), q) for q in t[column]],
                        "bits saved": saved, "H(T) bits": caption_bits, "efficiency": saved / caption_bits})
    lows, highs = zip(*(_interval(draws[:, k]) for k in range(len(t))))
    out["saved 95% low"], out["saved 95% high"] = lows, highs
    out["efficiency 95% low"], out["efficiency 95% high"] = np.array(lows) / caption_bits, np.array(highs) / caption_bits
    return out


def bootstrap_bd(rows: pd.DataFrame, test: dict, anchor: dict, column: str = "psnr", x: str = "bpp_latent",
                 n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """BD-PSNR (in `column`'s unit) and BD-rate (%) of `test` against `anchor`, with 95 % paired bootstrap intervals."""
    import warnings

    images = np.sort(select(rows, **test)["image"].unique())

    def both(sample):
        t, a = _points(rows, test, sample, column, x), _points(rows, anchor, sample, column, x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return (bd_psnr(a[x], a[column], t[x], t[column]), bd_rate(a[x], a[column], t[x], t[column]))

    point = both(images)
    rng = np.random.default_rng(seed)
    draws = np.array([both(rng.choice(images, len(images))) for _ in range(n_boot)])
    (psnr_lo, psnr_hi), (rate_lo, rate_hi) = _interval(draws[:, 0]), _interval(draws[:, 1])
    return {"BD-PSNR": point[0], "BD-PSNR 95% low": psnr_lo, "BD-PSNR 95% high": psnr_hi,
            "BD-rate %": point[1], "BD-rate 95% low": rate_lo, "BD-rate 95% high": rate_hi}


def paired_difference(rows: pd.DataFrame, test: dict, anchor: dict, column: str, n_boot: int = N_BOOT,
                      seed: int = 0) -> dict:
    """Mean of `column` under `test` minus under `anchor` (same images), with a 95 % bootstrap interval."""
    a = select(rows, **anchor).set_index("image")[column]
    t = select(rows, **test).set_index("image")[column].reindex(a.index)
    diff = (t - a).to_numpy()
    rng = np.random.default_rng(seed)
    draws = np.array([diff[rng.integers(len(diff), size=len(diff))].mean() for _ in range(n_boot)])
    low, high = _interval(draws)
    return {"difference": float(diff.mean()), "95% low": low, "95% high": high}
