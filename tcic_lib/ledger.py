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

MAX_RATE_RATIO = 2.0  # interpolate only between neighbouring points at most this far apart in rate


def _rising(rates: np.ndarray, qualities: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(rates, qualities) sorted by rate, or None unless quality rises strictly with rate."""
    order = np.argsort(rates)
    r, q = np.asarray(rates, float)[order], np.asarray(qualities, float)[order]
    if len(r) < 2 or np.any(np.diff(q) <= 0) or np.any(np.diff(r) <= 0):
        return None
    return r, q


def rate_at(rates: np.ndarray, qualities: np.ndarray, target: float) -> float:
    """The rate a curve needs for quality `target`: log-rate interpolated linearly in quality, and
    extrapolated from the nearest segment outside the curve (`inside_curve` says which). NaN for a
    curve whose quality does not rise with its rate: it answers no question of this kind."""
    curve = _rising(rates, qualities)
    if curve is None:
        return float("nan")
    r, q = curve
    return float(np.exp(_piecewise_linear(q, np.log(r), target)))


def quality_at(rates: np.ndarray, qualities: np.ndarray, rate: float) -> float:
    """The quality a curve reaches at `rate` (the inverse of `rate_at`, same interpolation)."""
    order = np.argsort(rates)
    log_r, q = np.log(np.asarray(rates, float)[order]), np.asarray(qualities, float)[order]
    return _piecewise_linear(log_r, q, float(np.log(rate)))


def _piecewise_linear(xs: np.ndarray, ys: np.ndarray, x: float) -> float:
    """y at `x` on the polyline through (xs, ys) (xs ascending), extrapolating the end segments."""
    i = 0 if x <= xs[0] else len(xs) - 2 if x >= xs[-1] else int(np.searchsorted(xs, x)) - 1
    return float(ys[i] + (ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i]) * (x - xs[i]))


def bracket(rates: np.ndarray, qualities: np.ndarray, target: float) -> tuple[float, float]:
    """(lower, upper) bounds on the rate a rising curve needs for `target`: the rates of its points just
    below and just above it (-inf below the first point, +inf above the last): no interpolation needed."""
    curve = _rising(rates, qualities)
    if curve is None:
        return float("nan"), float("nan")
    r, q = curve
    above = int(np.searchsorted(q, target, side="left"))
    return (float(r[above - 1]) if above > 0 else -math.inf), (float(r[above]) if above < len(r) else math.inf)


def inside_curve(rates: np.ndarray, qualities: np.ndarray, target: float, max_rate_ratio: float = MAX_RATE_RATIO) -> bool:
    """Whether `rate_at` interpolates (not extrapolates) for `target`, between two neighbouring points
    at most `max_rate_ratio` apart in rate: across a wider gap a straight line says little."""
    low, high = bracket(rates, qualities, target)
    return bool(0 < low and math.isfinite(high) and high / low <= max_rate_ratio) or bool(
        np.any(np.isclose(np.asarray(qualities, float), target)))


def upper_envelope(rates: np.ndarray, qualities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The best of several codecs: the points no other point beats (higher quality at lower or equal rate)
    that also lie on the upper hull in (log rate, quality), sorted by rate. Between two of them any
    codec can be approached by sending some images with one and the rest with the other."""
    r, q = np.asarray(rates, float), np.asarray(qualities, float)
    keep = np.isfinite(r) & np.isfinite(q) & (r > 0)
    order = np.lexsort((-q[keep], r[keep]))
    hull: list[tuple[float, float]] = []
    for x, y in zip(np.log(r[keep][order]), q[keep][order]):
        if hull and y <= hull[-1][1]:
            continue  # beaten by a cheaper point
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], (x, y)) > 0:
            hull.pop()  # under the line from its neighbours
        hull.append((x, y))
    return np.exp([h[0] for h in hull]), np.array([h[1] for h in hull])


def _cross(a, b, c) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


QUALITY_RATIOS = {"attributes_accuracy": ("attributes_right", "objects"), "colour_accuracy": ("colour_right", "objects"),
                  "pattern_accuracy": ("pattern_right", "objects")}  # pooled over objects, not averaged per image


class _Curve:
    """One curve's per-image rates and qualities as (images, rate points) arrays, for fast resampling."""

    def __init__(self, rows: pd.DataFrame, where: dict, column: str, x: str):
        numerator, denominator = QUALITY_RATIOS.get(column, (column, None))
        values = [x, numerator] + ([denominator] if denominator else [])
        table = select(rows, **where).pivot(index="image", columns="setting", values=values)
        if table.empty:
            raise ValueError(f"no rows match {where}")
        self.images = table.index.to_numpy()
        self.rates, self.numerator = table[x].to_numpy(), table[numerator].to_numpy()
        self.denominator = table[denominator].to_numpy() if denominator else None

    def means(self, picks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean rate and quality (pooled for accuracies) per rate point over the picked images, sorted by rate."""
        rates = self.rates[picks].mean(0)
        qualities = self.numerator[picks].mean(0)
        if self.denominator is not None:
            qualities = self.numerator[picks].sum(0) / self.denominator[picks].sum(0)
        order = np.argsort(rates)
        return rates[order], qualities[order]


def _interval(samples: np.ndarray) -> tuple[float, float]:
    finite = samples[np.isfinite(samples)]
    if len(finite) < 0.9 * len(samples):
        return float("nan"), float("nan")
    return float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5))


def _reference(refs: list[_Curve], picks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The anchors' envelope (one anchor: its own curve) over the picked images."""
    points = [a.means(picks) for a in refs]
    if len(points) == 1:
        return points[0]
    return upper_envelope(np.concatenate([p[0] for p in points]), np.concatenate([p[1] for p in points]))


def _per_image_bits(rows: pd.DataFrame, where: dict, caption_bits, images: np.ndarray) -> np.ndarray:
    if isinstance(caption_bits, str):  # a column of the per-image table: each scene's own H(T)
        return select(rows, **where).groupby("image")[caption_bits].first().reindex(images).to_numpy(float)
    return np.full(len(images), float(caption_bits))


def bits_ledger(rows: pd.DataFrame, test: dict | list[dict], anchors: dict | list[dict], caption_bits: float | str,
                pixels: int, column: str = "psnr", x: str = "bpp_latent", n_boot: int = N_BOOT, seed: int = 0,
                max_rate_ratio: float = MAX_RATE_RATIO) -> pd.DataFrame:
    """Per rate point of `test`: bits per image saved at equal `column` against the anchors' curve (several
    anchors: their upper envelope, the best of them at each rate), H(T) and efficiency = saved / H(T), each
    with a 95 % paired bootstrap interval over images.

    `test` may be a list: one selection per training seed, each with the same rate points; every number
    is then the median over the seeds (`seed low` / `seed high`: their range), and the image interval is
    that of the median (the same resampled images for every seed and every anchor).
    `caption_bits` is H(T) per image: a number, or the name of a per-image column (each scene's own
    H(T); the efficiency then divides by the resampled images' mean). Where the anchor curve must be
    extrapolated, or interpolated across a gap wider than `max_rate_ratio`, `inside anchor curve` is
    False and the estimate is NaN; `saved at least` / `saved at most` bound it from the anchor points
    on either side of the test's quality, which holds without any interpolation.
    """
    tests = [test] if isinstance(test, dict) else list(test)
    curves = [_Curve(rows, t, column, x) for t in tests]
    refs = [_Curve(rows, a, column, x) for a in ([anchors] if isinstance(anchors, dict) else anchors)]
    if any(not np.array_equal(curves[0].images, c.images) for c in curves + refs):
        raise ValueError("test and anchor were measured on different images")
    everything = np.arange(len(curves[0].images))
    bits = _per_image_bits(rows, tests[0], caption_bits, curves[0].images)

    def saved(picks) -> tuple[np.ndarray, float]:  # (seeds, rate points) bits saved; mean H(T) of the picks
        a_rate, a_quality = _reference(refs, picks)
        out = []
        for c in curves:
            t_rate, t_quality = c.means(picks)
            out.append([(rate_at(a_rate, a_quality, q) - r) * pixels
                        if inside_curve(a_rate, a_quality, q, max_rate_ratio) else np.nan for r, q in zip(t_rate, t_quality)])
        return np.array(out), bits[picks].mean()

    per_seed, mean_bits = saved(everything)
    point = np.median(per_seed, axis=0)
    rng = np.random.default_rng(seed)
    draws = [saved(rng.integers(len(everything), size=len(everything))) for _ in range(n_boot)]
    saved_draws = np.array([np.median(d[0], axis=0) for d in draws])
    efficiency_draws = np.array([np.median(d[0], axis=0) / d[1] for d in draws])
    t_rate, t_quality = (np.median([c.means(everything)[k] for c in curves], axis=0) for k in (0, 1))
    a_rate, a_quality = _reference(refs, everything)
    brackets = [bracket(a_rate, a_quality, q) for q in t_quality]
    lows, highs = zip(*(_interval(saved_draws[:, k]) for k in range(len(t_rate))))
    e_lows, e_highs = zip(*(_interval(efficiency_draws[:, k]) for k in range(len(t_rate))))
    return pd.DataFrame({
        f"test {x}": t_rate, f"test {column}": t_quality, "seeds": len(curves), "inside anchor curve": np.isfinite(point),
        "bits saved": point, "seed low": per_seed.min(0), "seed high": per_seed.max(0),
        "saved 95% low": lows, "saved 95% high": highs,
        "saved at least": [(low - r) * pixels for (low, _), r in zip(brackets, t_rate)],
        "saved at most": [(high - r) * pixels for (_, high), r in zip(brackets, t_rate)],
        "H(T) bits": mean_bits, "efficiency": point / mean_bits, "efficiency 95% low": e_lows,
        "efficiency 95% high": e_highs})


def seed_summary(rows: pd.DataFrame, selections: list[dict], column: str, minus: list[dict] | None = None,
                 n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """One number per training seed (the mean of `column` over the images of `selections[i]`, pooled for
    accuracies; minus that of `minus[i]`, paired): the median over seeds, their range, and a 95 % paired
    image-bootstrap interval of the median."""
    curves = [_Curve(rows, s, column, "bpp_latent") for s in selections]
    others = [_Curve(rows, s, column, "bpp_latent") for s in (minus or [])]
    if any(not np.array_equal(curves[0].images, c.images) for c in curves + others):
        raise ValueError("the selections were measured on different images")

    def per_seed(picks) -> np.ndarray:
        values = np.array([c.means(picks)[1][0] for c in curves])
        return values - np.array([c.means(picks)[1][0] for c in others]) if others else values

    n = len(curves[0].images)
    values = per_seed(np.arange(n))
    rng = np.random.default_rng(seed)
    low, high = _interval(np.array([np.median(per_seed(rng.integers(n, size=n))) for _ in range(n_boot)]))
    return over_seeds(values) | {"values": [float(v) for v in values], "image 95% low": low, "image 95% high": high}


def bootstrap_bd(rows: pd.DataFrame, test: dict, anchor: dict, column: str = "psnr", x: str = "bpp_latent",
                 n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """BD-PSNR (in `column`'s unit) and BD-rate (%) of `test` against `anchor`, with 95 % paired bootstrap
    intervals. The point estimate warns where a BD value is unreliable (`metrics.bd_rate`); its resamples do not."""
    import warnings

    t, a = _Curve(rows, test, column, x), _Curve(rows, anchor, column, x)
    if not np.array_equal(t.images, a.images):
        raise ValueError("test and anchor were measured on different images")

    def both(picks):
        (tr, tq), (ar, aq) = t.means(picks), a.means(picks)
        return bd_psnr(ar, aq, tr, tq), bd_rate(ar, aq, tr, tq)

    n = len(t.images)
    point = both(np.arange(n))
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the point estimate above has said it once
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


# --- over training seeds -----------------------------------------------------------------------------

def median_coverage(n: int) -> float:
    """The probability that the range [min, max] of n seeds holds the median over all seeds (1 - 2 / 2^n):
    94 % for 5 seeds, 75 % for 3."""
    return 1 - 2 * 0.5**n


def over_seeds(values) -> dict:
    """Median over training seeds with the seed interval [min, max] and its coverage of the seeds' median."""
    v = np.asarray(list(values), float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return {"median": float("nan"), "seed low": float("nan"), "seed high": float("nan"), "seeds": 0,
                "coverage": float("nan")}
    return {"median": float(np.median(v)), "seed low": float(v.min()), "seed high": float(v.max()), "seeds": len(v),
            "coverage": median_coverage(len(v))}
