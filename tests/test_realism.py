import numpy as np
import pytest
import torch

from tcic_lib.metrics import FeatureExtractor
from tcic_lib.realism import (block_kid, frechet_distance, kid_with_interval, paired_kid, patch_features, real_floor,
                              scene_mmd, split_fid, t_interval)

MEAN_COLOUR = FeatureExtractor(lambda x: x.mean((2, 3)), 3, "mean colour")


def _scenes(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 64, 64, generator=g) * torch.rand(n, 3, 1, 1, generator=g)


def test_every_patch_knows_its_scene(monkeypatch):
    import tcic_lib.realism

    monkeypatch.setattr(tcic_lib.realism, "FEATURE_BATCH", 16)  # several batches: their offsets are right too
    colours = torch.linspace(0, 1, 300).reshape(100, 3)
    images = colours[..., None, None].expand(100, 3, 64, 64).contiguous()
    found, scene_of = patch_features(images, MEAN_COLOUR, 32)
    assert len(found) == 5 * 100  # a 2 x 2 grid plus one shifted patch per scene
    torch.testing.assert_close(found.float(), colours[scene_of], atol=1e-6, rtol=0)


def test_kid_over_scenes_is_unbiased_where_the_textbook_estimate_is_not():
    from torchmetrics.image.kid import poly_mmd

    ours, textbook = [], []
    for draw in range(8):  # independent pairs of draws of one source: the expected distance is 0
        real, scene_of = patch_features(_scenes(100, seed=2 * draw), MEAN_COLOUR, 32)
        other, _ = patch_features(_scenes(100, seed=2 * draw + 1), MEAN_COLOUR, 32)
        ours.append(scene_mmd(real, other, scene_of))
        textbook.append(float(poly_mmd(real, other)))  # counts the 5 patches of one scene as independent
    ours, textbook = np.array(ours), np.array(textbook)
    sem = ours.std(ddof=1) / np.sqrt(len(ours))
    assert abs(ours.mean()) < 3 * sem, (ours.mean(), sem)
    assert textbook.mean() > 3 * textbook.std(ddof=1) / np.sqrt(len(textbook)), textbook


def test_kid_sees_a_shift():
    real, scene_of = patch_features(_scenes(200), MEAN_COLOUR, 32)
    moved = kid_with_interval(real, real + 0.2, scene_of)
    assert moved["kid 95% low"] > 0 and moved["patches"] == 1000, moved
    assert len(block_kid(real, real + 0.2, scene_of, blocks=10)) == 10
    with pytest.raises(ValueError, match="cannot fill"):
        block_kid(real[:5], real[:5], scene_of[:5], blocks=10)


def test_a_paired_difference_says_how_many_patches_it_needs():
    real, scene_of = patch_features(_scenes(200), MEAN_COLOUR, 32)
    far, near = real + 0.3, real + 0.1
    clear = paired_kid(real, far, near, scene_of)
    assert clear["95% low"] > 0 and clear["scenes needed"] < clear["scenes"] == 200
    noise = torch.randn(real.shape, generator=torch.Generator().manual_seed(2), dtype=real.dtype) * 1e-3
    faint = paired_kid(real, near + noise, near, scene_of)
    assert faint["scenes needed"] > clear["scenes needed"]


def test_frechet_distance_of_two_gaussians_is_the_squared_mean_shift():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(20000, 4, generator=g, dtype=torch.float64)
    b = torch.randn(20000, 4, generator=g, dtype=torch.float64) + torch.tensor([1.0, 0, 0, 0], dtype=torch.float64)
    assert frechet_distance(a, b) == pytest.approx(1.0, abs=0.05)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_the_real_floor_compares_two_halves_of_different_scenes():
    real, scene_of = patch_features(_scenes(200), MEAN_COLOUR, 32)
    floor = real_floor(real, scene_of)
    assert floor["patches per half"] == 500 and floor["kid 95% low"] < 0 < floor["kid 95% high"], floor
    assert floor["fid"] < split_fid(real, real + 0.2, scene_of)  # a shifted codec, on the same footing


def test_t_interval_widens_with_fewer_values():
    values = np.random.default_rng(0).normal(size=40)
    mean, low, high = t_interval(values)
    _, low3, high3 = t_interval(values[:3])
    assert low < mean < high and high3 - low3 > high - low
