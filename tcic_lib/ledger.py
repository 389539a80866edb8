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
    return float(np.exp(_piecewise_linear(q, log_r, target)))


def quality_at(rates: np.ndarray, qualities: np.ndarray, rate: float) -> float:
    """The quality a curve reaches at `rate` (the inverse of `rate_at`, same interpolation)."""
    order = np.argsort(rates)
    log_r, q = np.log(np.asarray(rates, float)[order]), np.asarray(qualities, float)[order]
    return _piecewise_linear(log_r, q, float(np.log(rate)))


def _piecewise_linear(xs: np.ndarray, ys: np.ndarray, x: float) -> float:
    """y at `x` on the polyline through (xs, ys) (xs ascending), extrapolating the end segments."""
    i = 0 if x <= xs[0] else len(xs) - 2 if x >= xs[-1] else int(np.searchsorted(xs, x)) - 1
    return float(ys[i] + (ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i]) * (x - xs[i]))


def inside_curve(qualities: np.ndarray, target: float) -> bool:
    return bool(np.min(qualities) <= target <= np.max(qualities))


class _Curve:
    """One curve's per-image rates and qualities as (images, rate points) arrays, for fast resampling."""

    def __init__(self, rows: pd.DataFrame, where: dict, column: str, x: str):
        table = select(rows, **where).pivot(index="image", columns="setting", values=[x, column])
        if table.empty:
            raise ValueError(f"no rows match {where}")
        self.images = table.index.to_numpy()
        self.rates, self.qualities = table[x].to_numpy(), table[column].to_numpy()
        self.settings = list(table[x].columns)

    def means(self, picks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean rate and quality per rate point over the picked image positions, sorted by rate."""
        rates, qualities = self.rates[picks].mean(0), self.qualities[picks].mean(0)
        order = np.argsort(rates)
        return rates[order], qualities[order]


def _saved(test: tuple, anchor: tuple, pixels: int) -> np.ndarray:
    (t_rate, t_quality), (a_rate, a_quality) = test, anchor
    return np.array([(rate_at(a_rate, a_quality, q) - r) * pixels for r, q in zip(t_rate, t_quality)])


def _interval(samples: np.ndarray) -> tuple[float, float]:
    finite = samples[np.isfinite(samples)]
    if len(finite) < 0.9 * len(samples):
        return float("nan"), float("nan")
    return float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5))


def _paired(rows: pd.DataFrame, test: dict, anchor: dict, column: str, x: str) -> tuple[_Curve, _Curve]:
    t, a = _Curve(rows, test, column, x), _Curve(rows, anchor, column, x)
    if not np.array_equal(t.images, a.images):
        raise ValueError("test and anchor were measured on different images")
    return t, a


def bits_ledger(rows: pd.DataFrame, test: dict, anchor: dict, caption_bits: float, pixels: int,
                column: str = "psnr", x: str = "bpp_latent", n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """Per rate point of `test`: bits per image saved at equal `column` against `anchor`'s curve,
    `caption_bits` (H(T), bits per image) and efficiency = saved / H(T), each with a 95 % paired
    bootstrap interval over images. `test` and `anchor` select rows of the per-image table."""
    t, a = _paired(rows, test, anchor, column, x)
    everything = np.arange(len(t.images))
    (t_rate, t_quality), anchor_point = t.means(everything), a.means(everything)
    saved = _saved((t_rate, t_quality), anchor_point, pixels)
    rng = np.random.default_rng(seed)
    draws = np.array([_saved(t.means(s), a.means(s), pixels)
                      for s in (rng.integers(len(everything), size=len(everything)) for _ in range(n_boot))])
    lows, highs = zip(*(_interval(draws[:, k]) for k in range(len(t_rate))))
    return pd.DataFrame({
        f"test {x}": t_rate, f"test {column}": t_quality,
        "inside anchor curve": [inside_curve(anchor_point[1], q) for q in t_quality],
        "bits saved": saved, "saved 95% low": lows, "saved 95% high": highs, "H(T) bits": caption_bits,
        "efficiency": saved / caption_bits, "efficiency 95% low": np.array(lows) / caption_bits,
        "efficiency 95% high": np.array(highs) / caption_bits})


def bootstrap_bd(rows: pd.DataFrame, test: dict, anchor: dict, column: str = "psnr", x: str = "bpp_latent",
                 n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """BD-PSNR (in `column`'s unit) and BD-rate (%) of `test` against `anchor`, with 95 % paired bootstrap intervals."""
    import warnings

    t, a = _paired(rows, test, anchor, column, x)

    def both(picks):
        (tr, tq), (ar, aq) = t.means(picks), a.means(picks)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return bd_psnr(ar, aq, tr, tq), bd_rate(ar, aq, tr, tq)

    n = len(t.images)
    point = both(np.arange(n))
    rng = np.random.default_rng(seed)
    draws = np.array([both(rng.integers(n, size=n)) for _ in range(n_boot)])
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
