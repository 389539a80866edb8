"""Semantic fidelity with ground truth: read each object's colour, fill pattern and shape off a reconstruction.

On CaptionedShapes the generator knows every object's cell and size, so a reconstruction can be
read without any learned network: for each object, every (colour, pattern) it could have is
rendered inside its true outline, and the nearest one in squared error is what the
reconstruction shows; the shape is read the same way over (shape, pattern, colour) in the
object's bounding box, with the scene's own background around it. A blurred pattern reads as
whichever hypothesis is nearest, so accuracy falls towards chance (1/24 for colour and pattern)
as the pattern disappears.

This is the course's semantic score on shapes: it never uses the text encoder the decoder reads.

Taught in notebooks/05_tcic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .data import COLOURS, PATTERNS, SHAPES, Scene, ShapeObject, object_box, object_layers


@dataclass(frozen=True)
class ObjectReading:
    """What a reconstruction shows for one object, next to the truth."""

    truth: ShapeObject
    colour: str
    pattern: str
    shape: str

    @property
    def colour_right(self) -> bool:
        return self.colour == self.truth.colour

    @property
    def pattern_right(self) -> bool:
        return self.pattern == self.truth.pattern

    @property
    def attributes_right(self) -> bool:
        """Colour and pattern both right: what a caption names that is expensive in pixels."""
        return self.colour_right and self.pattern_right

    @property
    def shape_right(self) -> bool:
        return self.shape == self.truth.shape


def _as_array(image) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().clamp(0, 1).permute(1, 2, 0).numpy() * 255.0
    return np.asarray(image, dtype=np.float64)


def read_object(image, scene: Scene, index: int) -> ObjectReading:
    """Read object `index` of `scene` off `image` ((3, H, W) in [0, 1] or (H, W, 3) in 0..255).

    Every (shape, fill pattern, colour) is rendered at once over the object's box, and the
    squared error to the image picks the reading: colour and pattern inside the true outline,
    the shape over the whole box.
    """
    array = _as_array(image)
    size = array.shape[0]
    truth = scene.objects[index]
    box = object_box(truth, size)
    patch = array[box]  # (h, w, 3)
    background, outlines, fills = object_layers(scene, truth, size, box)
    inside = np.stack([outlines[s] for s in SHAPES])  # (S, h, w)
    filled = inside[:, None] & np.stack([fills[q] for q in PATTERNS])[None]  # (S, P, h, w)
    colours = np.array([COLOURS[c] for c in COLOURS], dtype=np.float64)  # (C, 3)
    renders = np.where(filled[:, :, None, ..., None], colours[None, None, :, None, None, :],
                       np.where(inside[:, None, None, ..., None], 255.0, background))  # (S, P, C, h, w, 3)
    squared = ((renders - patch) ** 2).sum(-1)  # (S, P, C, h, w)
    true_shape = SHAPES.index(truth.shape)
    in_outline = (squared[true_shape] * inside[true_shape]).sum((-2, -1))  # (P, C)
    pattern, colour = np.unravel_index(in_outline.argmin(), in_outline.shape)
    shape = np.unravel_index(squared.sum((-2, -1)).argmin(), squared.shape[:3])[0]
    return ObjectReading(truth, list(COLOURS)[colour], PATTERNS[pattern], SHAPES[shape])


def read_scene(image, scene: Scene) -> list[ObjectReading]:
    """One reading per object of the scene."""
    return [read_object(image, scene, i) for i in range(len(scene.objects))]


def attribute_counts(image, scene: Scene) -> dict[str, int]:
    """How many of the scene's objects read right: colour, pattern, both, shape; and how many there are.

    Counts, not fractions, so accuracies pool over objects (`sum(right) / sum(objects)`).
    """
    readings = read_scene(image, scene)
    return {"colour_right": sum(r.colour_right for r in readings),
            "pattern_right": sum(r.pattern_right for r in readings),
            "attributes_right": sum(r.attributes_right for r in readings),
            "shape_right": sum(r.shape_right for r in readings),
            "objects": len(readings)}
