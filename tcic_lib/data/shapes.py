"""CaptionedShapes: synthetic scenes whose captions say exactly what is in them.

A scene is 1-3 objects (shape, colour, size, grid cell, fill pattern) over a smooth background;
its caption names them. Patterns matter: a caption only saves bits if it names something
expensive to send in pixels. Colours are cheap; stripes, checks and dots are not, and they are
fully determined by the object's geometry plus the pattern word. Because the generator knows
every scene's parameters, the information a caption carries is exact (`caption_information_bits`),
and captions can name more or less (`DETAILS`: the caption-detail ladder of notebook 05).

Taught in notebooks/00_setup (preview), 03_clip_text_features and 05_tcic.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import torch
from torch.utils.data import Dataset

SHAPES = ("circle", "square", "triangle", "diamond")
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 205, 40),
    "purple": (150, 60, 190),
    "orange": (245, 130, 30),
}
SIZES = {"small": 0.55, "large": 0.92}  # fraction of a grid cell the object spans
PATTERNS = ("solid", "stripes", "checks", "dots")
GRID = 3  # objects sit in the cells of a GRID x GRID grid
MAX_OBJECTS = 3  # a scene has 1 to MAX_OBJECTS objects, the count drawn uniformly
PLACES = (
    ("top left", "top", "top right"),
    ("left", "centre", "right"),
    ("bottom left", "bottom", "bottom right"),
)
PATTERN_PERIOD = 4  # pixels per pattern period; anchored to the image origin, so no phase to send
SPLITS = {"train": range(0, 8), "val": range(8, 9), "test": range(9, 10)}  # buckets of 10
RENDER_CACHE_BYTES = 512 * 2**20  # datasets up to this size keep their rendered images in memory


@dataclass(frozen=True)
class ShapeObject:
    """One object of a scene: every attribute a caption can name."""

    shape: str
    colour: str
    size: str
    pattern: str
    row: int
    col: int

    @property
    def place(self) -> str:
        return PLACES[self.row][self.col]


@dataclass(frozen=True)
class Scene:
    """A whole scene: its objects and its smooth background (two colours and an angle)."""

    objects: tuple[ShapeObject, ...]
    background: tuple[tuple[int, int, int], tuple[int, int, int]]
    angle: float

    @property
    def signature(self) -> str:
        """The scene's discrete content; splits are disjoint in it."""
        return ";".join(
            f"{o.shape},{o.colour},{o.size},{o.pattern},{o.row},{o.col}"
            for o in sorted(self.objects, key=lambda o: (o.row, o.col))
        )


def split_of(scene: Scene) -> str:
    """Which split a scene's content belongs to (a stable hash of its signature)."""
    bucket = int(hashlib.sha256(scene.signature.encode()).hexdigest(), 16) % 10
    return next(name for name, buckets in SPLITS.items() if bucket in buckets)


def sample_scene(rng: np.random.Generator) -> Scene:
    """Draw one scene's parameters."""
    count = int(rng.integers(1, MAX_OBJECTS + 1))
    cells = rng.choice(GRID * GRID, size=count, replace=False)
    objects = tuple(
        ShapeObject(
            shape=str(rng.choice(SHAPES)),
            colour=str(rng.choice(list(COLOURS))),
            size=str(rng.choice(list(SIZES))),
            pattern=str(rng.choice(PATTERNS)),
            row=int(cell) // GRID,
            col=int(cell) % GRID,
        )
        for cell in cells
    )
    muted = rng.integers(90, 200, size=(2, 3))
    background = (tuple(int(v) for v in muted[0]), tuple(int(v) for v in muted[1]))
    return Scene(objects, background, float(rng.uniform(0, 2 * math.pi)))


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Pixels inside a unit shape, with (u, v) in [-1, 1] object coordinates."""
    if shape == "circle":
        return u**2 + v**2 <= 1.0
    if shape == "square":
        return (np.abs(u) <= 0.85) & (np.abs(v) <= 0.85)
    if shape == "triangle":
        return (v <= 0.85) & (v >= -0.95 + 2.0 * np.abs(u))
    if shape == "diamond":
        return np.abs(u) + np.abs(v) <= 1.0
    raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")


def _pattern_mask(pattern: str, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Where the object shows its colour (True) versus white (False)."""
    half = PATTERN_PERIOD // 2
    if pattern == "solid":
        return np.ones_like(yy, dtype=bool)
    if pattern == "stripes":
        return (yy % PATTERN_PERIOD) < half
    if pattern == "checks":
        return ((yy // half) + (xx // half)) % 2 == 0
    if pattern == "dots":
        return ~(((yy % PATTERN_PERIOD) == half) & ((xx % PATTERN_PERIOD) == half))
    raise ValueError(f"unknown pattern {pattern!r}; known: {', '.join(PATTERNS)}")


def _object_pixels(obj: ShapeObject, size: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Pixels covered by `obj` in a `size` x `size` image."""
    cell = size / GRID
    cy, cx = (obj.row + 0.5) * cell, (obj.col + 0.5) * cell
    radius = 0.5 * cell * SIZES[obj.size]
    return _shape_mask(obj.shape, (xx + 0.5 - cx) / radius, (yy + 0.5 - cy) / radius)


def _background(scene: Scene, yy: np.ndarray, xx: np.ndarray, size: int) -> np.ndarray:
    t = (np.cos(scene.angle) * (xx / size - 0.5) + np.sin(scene.angle) * (yy / size - 0.5) + 0.71) / 1.42
    c0, c1 = (np.array(c, dtype=np.float64) for c in scene.background)
    return (1 - t[..., None]) * c0 + t[..., None] * c1


def _paint(image: np.ndarray, obj: ShapeObject, size: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Paint `obj` into `image` (float, at pixel coordinates yy, xx); return its outline."""
    inside = _object_pixels(obj, size, yy, xx)
    image[inside] = 255.0
    image[inside & _pattern_mask(obj.pattern, yy, xx)] = COLOURS[obj.colour]
    return inside


def render_scene(scene: Scene, size: int) -> np.ndarray:
    """The scene as a (size, size, 3) uint8 image."""
    yy, xx = np.mgrid[0:size, 0:size]
    image = _background(scene, yy, xx, size)
    for obj in scene.objects:
        _paint(image, obj, size, yy, xx)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def object_box(obj: ShapeObject, size: int) -> tuple[slice, slice]:
    """The rows and columns of the square that any shape of `obj`'s size and cell can cover."""
    cell = size / GRID
    radius = 0.5 * cell * SIZES[obj.size]
    cy, cx = (obj.row + 0.5) * cell, (obj.col + 0.5) * cell
    rows = slice(max(0, int(np.floor(cy - radius))), min(size, int(np.ceil(cy + radius)) + 1))
    cols = slice(max(0, int(np.floor(cx - radius))), min(size, int(np.ceil(cx + radius)) + 1))
    return rows, cols


def object_layers(scene: Scene, obj: ShapeObject, size: int, box: tuple[slice, slice]):
    """Everything an object of `obj`'s size and cell could look like inside `box`:
    (background (h, w, 3) rounded as rendered, outlines {shape: (h, w) bool}, fills {pattern: (h, w) bool})."""
    yy, xx = np.mgrid[box]
    background = np.clip(np.rint(_background(scene, yy, xx, size)), 0, 255)
    outlines = {shape: _object_pixels(replace(obj, shape=shape), size, yy, xx) for shape in SHAPES}
    fills = {pattern: _pattern_mask(pattern, yy, xx) for pattern in PATTERNS}
    return background, outlines, fills


def object_mask(scene: Scene, size: int, patterned_only: bool = False) -> np.ndarray:
    """(size, size) bool: pixels covered by the scene's objects (only the non-solid ones if asked)."""
    yy, xx = np.mgrid[0:size, 0:size]
    mask = np.zeros((size, size), dtype=bool)
    for obj in scene.objects:
        if not (patterned_only and obj.pattern == "solid"):
            mask |= _object_pixels(obj, size, yy, xx)
    return mask


_PATTERN_WORDS = {
    "solid": ("solid", "plain", "solid"),
    "stripes": ("striped", "stripy", "striped"),
    "checks": ("checked", "checkered", "chequered"),
    "dots": ("dotted", "spotted", "polka-dot"),
}
_TEMPLATES = (
    "a {size} {pattern} {colour} {shape} at the {place}",
    "{place}: a {size} {colour} {shape}, {pattern}",
    "a {pattern} {colour} {shape}, {size}, in the {place}",
    "there is a {size} {colour} {shape} with a {pattern} fill at the {place}",
)


_DETAIL_TEMPLATES = {  # what a caption names besides the places (which every level names)
    "colour": ("something {colour} at the {place}", "{place}: a thing in {colour}", "a patch of {colour} in the {place}"),
    "pattern": ("a {pattern} {colour} object at the {place}", "{place}: something {colour}, {pattern}",
                "something {colour} with a {pattern} fill in the {place}"),
    "full": _TEMPLATES,
}
DETAILS = tuple(_DETAIL_TEMPLATES)  # colour < pattern < full: each names what the one before does, and more
_NAMED = {"colour": ("colour",), "pattern": ("colour", "pattern"), "full": ("colour", "pattern", "shape", "size")}
_CHOICES = {"shape": len(SHAPES), "colour": len(COLOURS), "size": len(SIZES), "pattern": len(PATTERNS)}


def _check_detail(detail: str) -> None:
    if detail not in DETAILS:
        raise ValueError(f"unknown caption detail {detail!r}; known: {', '.join(DETAILS)}")


def caption_for(scene: Scene, rng: np.random.Generator, detail: str = "full") -> str:
    """A caption naming every object's place and the attributes of `detail`, in one of several phrasings."""
    _check_detail(detail)
    templates = _DETAIL_TEMPLATES[detail]
    template = templates[int(rng.integers(len(templates)))]
    parts = [
        template.format(
            size=o.size, colour=o.colour, shape=o.shape, place=o.place,
            pattern=_PATTERN_WORDS[o.pattern][int(rng.integers(3))],
        )
        for o in scene.objects
    ]
    return parts[0] if len(parts) == 1 else ", and ".join([", ".join(parts[:-1]), parts[-1]])


def split_share(split: str) -> float:
    """The share of all scene contents a split holds (its hash buckets out of 10): rejection sampling
    makes each content of the split that much more likely than the generator alone would."""
    return len(SPLITS[split]) / 10


def caption_information_bits(scene: Scene, detail: str = "full", split: str | None = None) -> float:
    """Bits of scene content a caption of `detail` carries: -log2 p(content).

    Object count (1-3, uniform), their cells, and per object each attribute the caption names
    (uniform choices); the phrasing is chosen at random too but says nothing about the image.
    With `split`, p is the split's own distribution: its scenes are rejection-sampled by a hash of
    their full content, so a `full` caption tells log2(1 / split_share) bits less (3.3 for test);
    a partial one names too little to tell which split a scene is in, and keeps its bits.
    """
    _check_detail(detail)
    n = len(scene.objects)
    per_object = sum(math.log2(_CHOICES[a]) for a in _NAMED[detail])
    bits = math.log2(MAX_OBJECTS) + math.log2(math.comb(GRID * GRID, n)) + n * per_object
    if split is not None and detail == "full":
        bits += math.log2(split_share(split))
    return bits


BACKGROUND_LEVELS = 110  # each of the background's two colours has three channels drawn from 90..199


def scene_information_bits(scene: Scene, split: str | None = None) -> float:
    """Bits that fix a scene's whole image: its content (as a full caption names it), the background's
    two colours, and its gradient's angle to the precision that moves no pixel by more than about one
    grey level (1 / the largest colour difference, in radians). An ideal codec that knows the generator
    sends these and renders the scene exactly: the source's own limit."""
    colours = 6 * math.log2(BACKGROUND_LEVELS)
    spread = max(1, max(abs(a - b) for a, b in zip(*scene.background)))
    return caption_information_bits(scene, "full", split) + colours + math.log2(2 * math.pi * spread)


class CaptionedShapes(Dataset):
    """Synthetic captioned scenes; deterministic by seed, splits disjoint in scene content.

    `ds[i]` is `(image, caption)` with `image` a float tensor (3, size, size) in [0, 1];
    `ds.scene(i)` gives the parameters behind it. `detail` sets what captions name (`DETAILS`);
    the scenes do not depend on it, and the `full` captions are the course's default.
    """

    def __init__(self, split: str = "train", size: int = 64, n: int = 1000, seed: int = 0, detail: str = "full"):
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
        if size < GRID * 4:
            raise ValueError(f"size {size} too small: need at least {GRID * 4} pixels")
        if n < 1:
            raise ValueError(f"n must be positive, got {n}")
        _check_detail(detail)
        self.split, self.size, self.n, self.seed, self.detail = split, size, n, seed, detail
        self._rendered: dict[int, np.ndarray] | None = {} if n * size * size * 3 <= RENDER_CACHE_BYTES else None

    @cached_property
    def _records(self) -> list[tuple[Scene, str]]:
        split_id = list(SPLITS).index(self.split)
        records = []
        for index in range(self.n):
            rng = np.random.default_rng([self.seed, split_id, index])
            scene = sample_scene(rng)
            while split_of(scene) != self.split:  # rejection keeps splits disjoint in content
                scene = sample_scene(rng)
            if self.detail != "full":  # its own stream, so the scenes (and full captions) stay as they are
                rng = np.random.default_rng([self.seed, split_id, index, DETAILS.index(self.detail)])
            records.append((scene, caption_for(scene, rng, self.detail)))
        return records

    def __len__(self) -> int:
        return self.n

    def scene(self, index: int) -> Scene:
        return self._records[index][0]

    def caption(self, index: int) -> str:
        return self._records[index][1]

    @property
    def captions(self) -> list[str]:
        return [caption for _, caption in self._records]

    def image(self, index: int) -> torch.Tensor:
        if self._rendered is None:
            array = render_scene(self.scene(index), self.size)
        elif index in self._rendered:
            array = self._rendered[index]
        else:
            array = self._rendered[index] = render_scene(self.scene(index), self.size)
        return torch.from_numpy(array).permute(2, 0, 1).float().div(255.0)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        if not -self.n <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} scenes")
        index %= self.n
        return self.image(index), self.caption(index)
