"""The side-information bound on the Gaussian toy, and the bits ledger against hand-computed values."""

import math

import numpy as np
import pandas as pd
import pytest

from tcic_lib.ledger import (bits_ledger, bootstrap_bd, gaussian_conditional_variance, gaussian_mutual_information,
                             gaussian_rate, paired_difference, quality_at, rate_at)

ANCHOR = (np.array([0.02, 0.04, 0.08]), np.array([22.0, 24.0, 26.0]))


def test_gaussian_bound_by_hand():
    assert gaussian_conditional_variance(1.0, 1.0) == 0.5
    assert gaussian_mutual_information(1.0, 1.0) == pytest.approx(0.5)  # 1/2 log2(1 / 0.5)
    assert gaussian_rate(0.25, 1.0) == pytest.approx(1.0) and gaussian_rate(2.0, 1.0) == 0.0


def test_rate_and_quality_interpolate_log_rate():
    assert rate_at(*ANCHOR, 23.0) == pytest.approx(math.sqrt(0.02 * 0.04))  # halfway in quality: geometric mean
    assert quality_at(*ANCHOR, math.sqrt(0.02 * 0.04)) == pytest.approx(23.0)
    assert rate_at(*ANCHOR, 28.0) == pytest.approx(0.16)  # extrapolated along the last segment
    assert math.isnan(rate_at(ANCHOR[0], np.array([22.0, 22.0, 26.0]), 23.0))  # quality must rise


def _rows(noise=0.0, seed=0):
    """Per-image rows: the anchor's curve, and a test that reaches the anchor's quality with 30 bits less."""
    rng = np.random.default_rng(seed)
    rows = []
    for image in range(20):
        offset = noise * rng.standard_normal()
        for k, (rate, quality) in enumerate(zip(*ANCHOR)):
            rows.append({"variant": "anchor", "setting": f"s{k}", "image": image, "bpp_latent": rate,
                         "psnr": quality + offset})
            rows.append({"variant": "test", "setting": f"s{k}", "image": image, "bpp_latent": rate - 30 / 4096,
                         "psnr": quality + offset})
    return pd.DataFrame(rows)


def test_ledger_against_hand_computed_savings():
    table = bits_ledger(_rows(), {"variant": "test"}, {"variant": "anchor"}, caption_bits=60.0, pixels=4096, n_boot=50)
    assert np.allclose(table["bits saved"], 30.0) and np.allclose(table["efficiency"], 0.5)
    assert np.allclose(table["saved 95% low"], 30.0) and np.allclose(table["saved 95% high"], 30.0)  # no image noise
    assert table["inside anchor curve"].all()


def test_ledger_intervals_widen_with_image_noise_and_stay_paired():
    table = bits_ledger(_rows(noise=1.0), {"variant": "test"}, {"variant": "anchor"}, 60.0, 4096, n_boot=200)
    assert np.allclose(table["bits saved"], 30.0, atol=1e-6)  # paired: image difficulty cancels exactly here
    assert (table["saved 95% low"] <= 30.0 + 1e-6).all() and (table["saved 95% high"] >= 30.0 - 1e-6).all()


def test_bootstrap_bd_and_paired_difference():
    rows = _rows(noise=0.5)
    shifted = rows.copy()
    shifted.loc[shifted["variant"] == "test", "bpp_latent"] = shifted.loc[shifted["variant"] == "anchor", "bpp_latent"].values
    shifted.loc[shifted["variant"] == "test", "psnr"] += 0.5
    bd = bootstrap_bd(shifted, {"variant": "test"}, {"variant": "anchor"}, n_boot=100)
    assert bd["BD-PSNR"] == pytest.approx(0.5, abs=1e-6) and bd["BD-PSNR 95% low"] <= 0.5 <= bd["BD-PSNR 95% high"]
    diff = paired_difference(shifted, {"variant": "test", "setting": "s1"}, {"variant": "anchor", "setting": "s1"},
                             "psnr", n_boot=100)
    assert diff["difference"] == pytest.approx(0.5) and diff["95% low"] == pytest.approx(0.5)
