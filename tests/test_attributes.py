"""The attribute reader: exact on rendered scenes, wrong on images that do not show the objects."""

import math

import torch

from tcic_lib.attributes import attribute_counts, read_scene
from tcic_lib.data import COLOURS, DETAILS, PATTERNS, SHAPES, CaptionedShapes, caption_information_bits, render_scene


def test_rendered_scenes_read_exactly():
    scenes = CaptionedShapes("test", 64, 40, seed=3)
    for i in range(40):
        counts = attribute_counts(scenes[i][0], scenes.scene(i))
        n = counts["objects"]
        assert counts == {"colour_right": n, "pattern_right": n, "attributes_right": n, "shape_right": n, "objects": n}


def test_a_flat_grey_image_reads_wrong():
    scenes = CaptionedShapes("test", 64, 40, seed=3)
    totals = {"attributes_right": 0, "objects": 0}
    for i in range(40):
        counts = attribute_counts(torch.full((3, 64, 64), 0.5), scenes.scene(i))
        totals = {k: totals[k] + counts[k] for k in totals}
    assert totals["attributes_right"] / totals["objects"] < 0.15  # chance is 1/24


def test_a_changed_attribute_is_read_as_changed():
    from dataclasses import replace

    scene = CaptionedShapes("test", 64, 1, seed=5).scene(0)
    obj = scene.objects[0]
    colour = next(c for c in COLOURS if c != obj.colour)
    pattern = next(p for p in PATTERNS if p != obj.pattern)
    changed = replace(scene, objects=(replace(obj, colour=colour, pattern=pattern), *scene.objects[1:]))
    reading = read_scene(torch.from_numpy(render_scene(changed, 64)).permute(2, 0, 1) / 255.0, scene)[0]
    assert (reading.colour, reading.pattern) == (colour, pattern) and not reading.attributes_right


def test_caption_detail_ladder_information_by_hand():
    scene = CaptionedShapes("train", 64, 50).scene(0)
    n = len(scene.objects)
    where = math.log2(3) + math.log2(math.comb(9, n))  # how many objects, and which cells
    expected = {"colour": where + n * math.log2(6), "pattern": where + n * math.log2(6 * 4),
                "full": where + n * math.log2(6 * 4 * 4 * 2)}
    for detail in DETAILS:
        assert math.isclose(caption_information_bits(scene, detail), expected[detail])
    assert [caption_information_bits(scene, d) for d in DETAILS] == sorted(expected.values())


def test_detail_levels_name_only_their_attributes():
    for detail in DETAILS:
        data = CaptionedShapes("train", 64, 30, detail=detail)
        for i in range(30):
            caption, scene = data.caption(i), data.scene(i)
            assert all(o.colour in caption and o.place in caption for o in scene.objects)
            named_shape = any(s in caption for s in SHAPES)
            assert named_shape == (detail == "full")
    full, coarse = CaptionedShapes("train", 64, 30), CaptionedShapes("train", 64, 30, detail="colour")
    assert all(full.scene(i) == coarse.scene(i) for i in range(30))  # the same scenes, less said
