"""The texture statistics see a pattern where the scene's geometry puts it, and lose it when it is blurred."""

import numpy as np
import torch
import torch.nn.functional as F

from tcic_lib.data import CaptionedShapes
from tcic_lib.texture import high_frequency_energy, pattern_contrast, texture_kept


def _scenes(n=12, size=64):
    data = CaptionedShapes("test", size=size, n=n, seed=0)
    return [data[i][0] for i in range(n)], [data.scene(i) for i in range(n)]


def _blur(x, k=5):
    kernel = torch.ones(3, 1, k, k) / k**2
    return F.conv2d(F.pad(x[None], (k // 2,) * 4, mode="replicate"), kernel, groups=3)[0]


def test_an_original_keeps_all_its_texture_and_a_blur_loses_most_of_it():
    images, scenes = _scenes()
    assert np.allclose(texture_kept(images, images, scenes), 1.0)
    blurred = [_blur(x) for x in images]
    kept = texture_kept(blurred, images, scenes)
    assert len(kept) >= 5 and np.median(kept) < 0.5
    assert high_frequency_energy(torch.stack(blurred)) < 0.2 * high_frequency_energy(torch.stack(images))


def test_a_flat_object_has_no_pattern_contrast_and_solid_objects_are_skipped():
    images, scenes = _scenes()
    grey = torch.full_like(images[0], 0.5)
    assert all(c < 1e-6 for s in scenes for c in pattern_contrast(grey, s))
    patterned = sum(o.pattern != "solid" for s in scenes for o in s.objects)
    assert 0 < sum(len(pattern_contrast(x, s)) for x, s in zip(images, scenes)) <= patterned


def test_paired_separation_needs_more_items_for_a_smaller_gap():
    from tcic_lib.texture import paired_separation

    rng = np.random.default_rng(0)
    base = rng.normal(size=400)
    wide = paired_separation(base + 1.0 + rng.normal(size=400), base)
    narrow = paired_separation(base + 0.1 + rng.normal(size=400), base)
    assert wide["95% low"] > 0 and wide["items needed"] < 20
    assert narrow["items needed"] > 20 * wide["items needed"]
    same = paired_separation(base, base)
    assert same["difference"] == 0 and same["items needed"] == float("inf")
