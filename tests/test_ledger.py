"""The side-information bound on the Gaussian toy, and the bits ledger against hand-computed values."""

import math

import numpy as np
import pandas as pd
import pytest

from tcic_lib.ledger import (bits_ledger, bootstrap_bd, gaussian_conditional_variance, gaussian_mutual_information,
                             gaussian_rate, over_seeds, paired_difference, quality_at, rate_at, seed_summary,
                             upper_envelope)

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


def test_a_curve_whose_quality_falls_with_rate_answers_nothing():
    falling = (np.array([0.02, 0.04, 0.08]), np.array([24.0, 23.0, 26.0]))  # sorted by quality it looks fine
    assert math.isnan(rate_at(*falling, 24.5))


def test_no_interpolation_across_a_gap_in_rate_but_bounds_from_the_neighbours():
    rows = _rows()
    gap = rows["setting"] == "s1"  # the anchor's middle point jumps to 4x the rate: 0.02 -> 0.16
    rows.loc[gap & (rows["variant"] == "anchor"), "bpp_latent"] = 0.16
    rows.loc[gap & (rows["variant"] == "anchor"), "psnr"] = 27.0
    table = bits_ledger(rows, {"variant": "test", "setting": "s1"}, {"variant": "anchor"}, 60.0, 4096, n_boot=20)
    row = table.iloc[0]  # test at 24 dB lies between the anchor's 22 dB (0.02 bpp) and 26 dB (0.08 bpp)... now 0.16
    assert not row["inside anchor curve"] and math.isnan(row["bits saved"]) and math.isnan(row["efficiency"])
    assert row["saved at least"] == pytest.approx((0.02 - (0.04 - 30 / 4096)) * 4096)
    assert row["saved at most"] == pytest.approx((0.08 - (0.04 - 30 / 4096)) * 4096)


def test_the_reference_is_the_envelope_of_every_anchor():
    rows = _rows()
    worse = rows[rows["variant"] == "anchor"].assign(variant="worse", psnr=lambda t: t["psnr"] - 1.0)
    table = bits_ledger(pd.concat([rows, worse]), {"variant": "test"}, [{"variant": "worse"}, {"variant": "anchor"}],
                        60.0, 4096, n_boot=20)
    assert np.allclose(table["bits saved"], 30.0)  # the better anchor sets the bound
    r, q = upper_envelope(np.array([0.02, 0.04, 0.03, 0.08]), np.array([22.0, 24.0, 21.0, 26.0]))
    assert np.allclose(r, [0.02, 0.04, 0.08]) and list(q) == [22.0, 24.0, 26.0]  # (0.03, 21 dB) is beaten


def test_efficiency_divides_by_the_resampled_scenes_own_caption_bits():
    rows = _rows(noise=1.0)
    rows["caption_bits"] = 10.0 + rows["image"] * 2.0  # 10 to 48 bits per scene
    for image, bits in rows.groupby("image")["caption_bits"].first().items():  # each scene saves half its H(T)
        test = (rows["variant"] == "test") & (rows["image"] == image)
        anchor = (rows["variant"] == "anchor") & (rows["image"] == image)
        rows.loc[test, "bpp_latent"] = rows.loc[anchor, "bpp_latent"].to_numpy() - bits / 2 / 4096
    table = bits_ledger(rows, {"variant": "test"}, {"variant": "anchor"}, "caption_bits", 4096, n_boot=200)
    assert np.allclose(table["efficiency"], 0.5, atol=0.02)
    assert (table["efficiency 95% high"] - table["efficiency 95% low"] < 0.05).all()  # ratio of means: tight


def test_accuracies_pool_over_objects():
    rows = pd.DataFrame([{"variant": "a", "setting": "s0", "image": i, "bpp_latent": 0.1, "psnr": 20.0,
                          "attributes_right": right, "objects": objects}
                         for i, (right, objects) in enumerate([(1, 1), (0, 3)])])
    from tcic_lib.ledger import _Curve

    _, quality = _Curve(rows, {"variant": "a"}, "attributes_accuracy", "bpp_latent").means(np.arange(2))
    assert quality[0] == pytest.approx(0.25)  # 1 of 4 objects, not the mean of 100 % and 0 %


def test_bd_warnings_of_the_point_estimate_reach_the_caller():
    rows = _rows()
    far = rows.copy()
    far.loc[far["variant"] == "test", "psnr"] += 10.0  # no shared PSNR range
    with pytest.warns(UserWarning):
        bootstrap_bd(far, {"variant": "test"}, {"variant": "anchor"}, n_boot=5)


def test_seed_summary():
    summary = over_seeds([3.0, 1.0, 2.0, float("nan"), 5.0, 4.0])
    assert summary["median"] == 3.0 and (summary["seed low"], summary["seed high"]) == (1.0, 5.0)
    assert summary["seeds"] == 5 and summary["coverage"] == pytest.approx(0.9375)


def test_over_seeds_the_ledger_reports_the_median_and_the_range():
    rows = _rows(noise=0.5)
    seeds = []
    for shift in (10, 30, 50):  # three "seeds" saving 10, 30 and 50 bits
        extra = rows[rows["variant"] == "anchor"].assign(variant=f"seed{shift}", bpp_latent=lambda t: t["bpp_latent"]
                                                         - shift / 4096)
        seeds.append(extra)
    table = bits_ledger(pd.concat([rows, *seeds]), [{"variant": f"seed{s}"} for s in (10, 30, 50)], {"variant": "anchor"},
                        60.0, 4096, n_boot=50)
    assert np.allclose(table["bits saved"], 30.0) and np.allclose(table["seed low"], 10.0)
    assert np.allclose(table["seed high"], 50.0) and (table["seeds"] == 3).all()
    summary = seed_summary(pd.concat([rows, *seeds]), [{"variant": f"seed{s}", "setting": "s0"} for s in (10, 30, 50)],
                           "bpp_latent", minus=[{"variant": "anchor", "setting": "s0"}] * 3, n_boot=50)
    assert summary["median"] == pytest.approx(-30 / 4096) and summary["seeds"] == 3
    assert summary["image 95% low"] == pytest.approx(-30 / 4096)  # paired: the images' own rates cancel
