import math
from collections import Counter

import numpy as np
import pytest
import torch

from tcic_lib.data import (
    PATTERNS, PHOTO_CAPTIONS, CaptionedPhotos, CaptionedShapes, caption_information_bits, render_scene, split_of,
)


def test_deterministic_by_seed():
    a, b = CaptionedShapes("train", 32, 20, seed=3), CaptionedShapes("train", 32, 20, seed=3)
    assert a.captions == b.captions
    assert torch.equal(a[5][0], b[5][0])
    assert CaptionedShapes("train", 32, 20, seed=4).captions != a.captions


def test_splits_are_disjoint_in_content():
    train_set = CaptionedShapes("train", 32, 400)
    train = {train_set.scene(i).signature for i in range(400)}
    test = CaptionedShapes("test", 32, 100)
    assert all(split_of(test.scene(i)) == "test" for i in range(100))
    assert not train & {test.scene(i).signature for i in range(100)}


def test_images_and_captions_agree():
    ds = CaptionedShapes("val", 48, 30)
    for i in range(30):
        image, caption = ds[i]
        assert image.shape == (3, 48, 48) and 0 <= image.min() and image.max() <= 1
        for obj in ds.scene(i).objects:
            for word in (obj.shape, obj.colour, obj.size, obj.place):
                assert word in caption


def test_patterns_are_drawn():
    """A patterned object has many more colour changes than a solid one."""
    ds = CaptionedShapes("train", 64, 200)
    edges = {pattern: [] for pattern in PATTERNS}
    for i in range(200):
        scene = ds.scene(i)
        if len(scene.objects) == 1:
            image = render_scene(scene, 64).astype(int)
            jumps = [np.abs(np.diff(image, axis=a)).sum(axis=2) > 60 for a in (0, 1)]
            edges[scene.objects[0].pattern].append(sum(j.sum() for j in jumps))
    assert all(edges.values())
    assert min(np.mean(edges[p]) for p in ("stripes", "checks")) > 1.5 * np.mean(edges["solid"])


def test_caption_information():
    ds = CaptionedShapes("train", 32, 50)
    bits = [caption_information_bits(ds.scene(i)) for i in range(50)]
    assert all(b > 10 for b in bits)
    many = [b for i, b in enumerate(bits) if len(ds.scene(i).objects) == 3]
    one = [b for i, b in enumerate(bits) if len(ds.scene(i).objects) == 1]
    assert min(many) > max(one)


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        CaptionedShapes("training")
    with pytest.raises(ValueError, match="too small"):
        CaptionedShapes("train", size=4)
    with pytest.raises(IndexError):
        CaptionedShapes("train", 32, 3)[3]


def test_photos_ship_offline():
    photos = CaptionedPhotos()
    assert len(photos) == len(PHOTO_CAPTIONS) >= 10
    for i in range(len(photos)):
        image, caption = photos[i]
        assert image.shape[0] == 3 and image.min() >= 0 and image.max() <= 1 and caption
    with pytest.raises(ValueError, match="unknown photo"):
        CaptionedPhotos(["kodim01"])


def test_a_full_caption_tells_less_within_a_split_than_under_the_generator():
    from tcic_lib.data import sample_scene, scene_information_bits, split_share

    rng = np.random.default_rng(3)
    shares = Counter(split_of(sample_scene(rng)) for _ in range(20_000))
    assert abs(shares["test"] / 20_000 - split_share("test")) < 0.01  # the hash spreads contents evenly
    scene = CaptionedShapes("test", 64, 1).scene(0)
    assert caption_information_bits(scene, "full", "test") == pytest.approx(
        caption_information_bits(scene) - math.log2(10))
    assert caption_information_bits(scene, "colour", "test") == caption_information_bits(scene, "colour")
    whole = scene_information_bits(scene, "test")
    assert whole - caption_information_bits(scene, "full", "test") == pytest.approx(
        6 * math.log2(110) + math.log2(2 * math.pi * max(abs(a - b) for a, b in zip(*scene.background))))
    assert 55 < whole < 90  # a whole scene: tens of bits, where the codecs spend about a hundred


def test_a_figure_crop_holds_the_objects_not_the_background():
    from tcic_lib.data.shapes import ShapeObject, Scene, object_mask
    from tcic_lib.plots import objects_crop

    obj = ShapeObject("circle", "red", "large", "stripes", row=2, col=2)  # bottom-right cell
    scene = Scene((obj,), ((0, 0, 0), (255, 255, 255)), 0.0)
    size, side = 64, 32
    top, left, h, w = objects_crop(scene, size, side)
    mask = object_mask(scene, size)
    assert (h, w) == (side, side) and 0 <= top <= size - side and 0 <= left <= size - side
    assert mask[top:top + h, left:left + w].sum() == mask.sum() > 0  # the whole object is in the crop
    assert mask[:side, :side].sum() < mask.sum()  # which the old top-left quarter missed
