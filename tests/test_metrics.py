import json

import numpy as np
import pandas as pd
import pytest
import torch

from tcic_lib import cli
from tcic_lib.data import CaptionedPhotos
from tcic_lib.evaluate import compressai_settings, evaluate, pil_settings, set_level_scores, summarize
from tcic_lib.metrics import (HANDCRAFTED, FeatureExtractor, QualityMetrics, SetMetrics, Unavailable, direction, fid_kid, ms_ssim,
                              patch_size_for, patches)

from .conftest import FakeEncoder


def mean_colour_features():
    """A tiny injected feature extractor: per-channel mean and std (no weights needed)."""
    fn = lambda x: torch.cat([x.mean((2, 3)), x.std((2, 3))], dim=1)  # noqa: E731
    return FeatureExtractor(fn, 6, "colour statistics")


def test_patches_follow_the_hific_grid():
    images = torch.rand(2, 3, 64, 96)
    assert patch_size_for(64) == 64 and patch_size_for(300) == 300 and patch_size_for(1024) == 256
    # 2 x 3 aligned patches and 1 x 2 shifted ones per image
    assert patches(images, 32).shape == (2 * (6 + 2), 3, 32, 32)


def test_fid_kid_grow_with_the_difference():
    torch.manual_seed(0)
    real = [torch.rand(3, 64, 64) for _ in range(8)]
    close = [(x + 0.01 * torch.randn_like(x)).clamp(0, 1) for x in real]
    far = [x * 0.5 for x in real]
    features = mean_colour_features()
    near, distant = fid_kid(real, close, features), fid_kid(real, far, features)
    assert near["fid"] < distant["fid"] and near["kid"] < distant["kid"]
    assert distant["features"] == "colour statistics" and distant["patches"] == 8  # a 64 px image is one patch
    once = SetMetrics(real, features)  # the real features computed once, for every set compared with them
    again = [once(close), once(far), once(close)]
    assert again[0] == again[2] == near and again[1] == distant
    assert distant["kid_std"] > 1e-5  # KID's subsets are drawn from the patches, not all of them every time


def test_ms_ssim_says_what_it_computed():
    x = torch.rand(1, 3, 200, 200)
    assert ms_ssim(x, x)[1] == "MS-SSIM" and ms_ssim(x, x)[0].item() == pytest.approx(1.0)
    assert ms_ssim(x[..., :64, :64], x[..., :64, :64])[1] == "MS-SSIM (3-tap window)"
    assert ms_ssim(x[..., :24, :24], x[..., :24, :24])[1].startswith("SSIM")


def test_ten_weight_free_metrics_have_their_best_value_on_identical_images_and_worsen_with_noise():
    torch.manual_seed(0)
    metrics = QualityMetrics(encoder=None, use_pyiqa=False)
    x = torch.rand(2, 3, 64, 64)
    slightly, badly = ((x + s * torch.randn_like(x)).clamp(0, 1) for s in (0.02, 0.2))
    same, near, far = (metrics.per_image(y, x)[0] for y in (x, slightly, badly))
    weight_free = [*HANDCRAFTED, "psnr", "ms_ssim"]
    assert len(weight_free) >= 10
    for name in weight_free:
        sign = -1 if direction(name) == "lower" else 1
        assert sign * same[name] >= sign * near[name] > sign * far[name], name
        if name != "psnr":
            best = 0.0 if direction(name) == "lower" else 1.0
            assert same[name] == pytest.approx(best, abs=1e-4), name
    assert direction("lpips") == "lower" and direction("vif") == "higher"


def test_metrics_say_which_image_sizes_they_need():
    metrics = QualityMetrics(encoder=None, use_pyiqa=False)
    x = torch.rand(1, 3, 32, 32)
    row = metrics.per_image(x, x)[0]
    assert np.isnan(row["vif"]) and "41 px" in metrics.unavailable["vif"]
    assert np.isnan(row["srsim"]) and row["fsim"] == pytest.approx(1.0)


def test_the_encoder_the_codecs_read_cannot_judge_them():
    with pytest.raises(ValueError, match="circular"):
        QualityMetrics(FakeEncoder(), use_pyiqa=False, codec_encoders=(FakeEncoder.key,))


def test_missing_weights_are_reported_per_metric():
    metrics = QualityMetrics(encoder=None)
    assert "uncalibrated" in metrics.labels["lpips"]  # no AlexNet weights offline: labelled, not hidden
    for name in ("clip_caption", "clip_image", "fid", "kid", "dists"):
        assert metrics.unavailable[name]
    x = torch.rand(2, 3, 48, 48)
    rows = metrics.per_image(x * 0.9, x, ["a cat", "a dog"])
    assert set(rows[0]) == {"psnr", "ms_ssim", "lpips", *HANDCRAFTED} and rows[0]["lpips"] > 0
    assert metrics.set_level([x[0]], [x[0]]) == {}
    with pytest.raises(Unavailable, match="not in the torch hub cache"):
        compressai_settings("bmshj2018-hyperprior", [1])


def test_evaluate_rows_follow_the_schema_and_repeat():
    data = CaptionedPhotos(["coffee", "camera", "moon"], max_side=64)
    images, captions = (list(t) for t in zip(*(data[i] for i in range(len(data)))))
    metrics = QualityMetrics(encoder=None, fid_features=mean_colour_features(), use_pyiqa=False)
    settings = pil_settings("jpeg", [20, 80])
    rows = evaluate(settings, images, captions, metrics=metrics)
    assert {"codec", "setting", "variant", "condition", "image", "bpp_latent", "bpp_caption", "bpp_total",
            "psnr", "ms_ssim", "lpips"} <= set(rows.columns) and len(rows) == 6
    assert (rows["bpp_caption"] == 0).all() and np.allclose(rows["bpp_total"], rows["bpp_latent"])
    summary = summarize(rows).merge(set_level_scores(settings, images, captions, metrics), how="left")
    assert list(summary["setting"]) == ["q20", "q80"] and summary["psnr"].is_monotonic_increasing and "fid" in summary
    pd.testing.assert_frame_equal(rows, evaluate(settings, images, captions, metrics=metrics))


@pytest.mark.slow
def test_tcic_eval_writes_a_table_and_figures(tmp_path, monkeypatch):
    monkeypatch.setenv("TCIC_CACHE", str(tmp_path / "cache"))
    args = ["eval", "--codec", "jpeg", "--qualities", "50", "--max-side", "48", "--profile", "quick", "--quiet"]
    assert cli.main(args + ["--out", str(tmp_path / "a")]) == 0
    assert cli.main(args + ["--out", str(tmp_path / "b")]) == 0
    table = pd.read_csv(tmp_path / "a" / "results.csv")
    assert len(table) == len(CaptionedPhotos()) and set(table["setting"]) == {"q50"}
    assert (tmp_path / "a" / "curves.png").stat().st_size > 0
    report = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert report["unavailable"]["dists"] and "judge" in report["labels"]["clip_caption"]
    assert sum(table[m].notna().all() for m in (*HANDCRAFTED, "psnr", "ms_ssim")) >= 10  # no downloaded weights
    for name in ("results.csv", "summary.csv"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()


def test_tcic_eval_rejects_unknown_codecs(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TCIC_CACHE", str(tmp_path))
    assert cli.main(["eval", "--codec", "gif", "--profile", "quick"]) == 2
    assert "unknown codec 'gif'" in capsys.readouterr().err
