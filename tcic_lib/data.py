"""Captioned images: synthetic CaptionedShapes scenes and an offline set of real photos.

CaptionedShapes draws 1-3 objects (shape, colour, size, grid cell, fill pattern) over a smooth
background and writes a caption that names them. Patterns matter: a caption only saves bits if
it names something expensive to send in pixels. Colours are cheap; stripes, checks and dots are
not, and they are fully determined by the object's geometry plus the pattern word.

Taught in notebooks/00_setup (preview) and notebooks/03_clip_text_features.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

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
    count = int(rng.integers(1, 4))
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


def render_scene(scene: Scene, size: int) -> np.ndarray:
    """The scene as a (size, size, 3) uint8 image."""
    yy, xx = np.mgrid[0:size, 0:size]
    t = (np.cos(scene.angle) * (xx / size - 0.5) + np.sin(scene.angle) * (yy / size - 0.5) + 0.71) / 1.42
    c0, c1 = (np.array(c, dtype=np.float64) for c in scene.background)
    image = (1 - t[..., None]) * c0 + t[..., None] * c1
    for obj in scene.objects:
        inside = _object_pixels(obj, size, yy, xx)
        image[inside] = 255.0
        image[inside & _pattern_mask(obj.pattern, yy, xx)] = COLOURS[obj.colour]
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


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


def caption_for(scene: Scene, rng: np.random.Generator) -> str:
    """A caption naming every object's attributes, in one of several phrasings."""
    template = _TEMPLATES[int(rng.integers(len(_TEMPLATES)))]
    parts = [
        template.format(
            size=o.size, colour=o.colour, shape=o.shape, place=o.place,
            pattern=_PATTERN_WORDS[o.pattern][int(rng.integers(3))],
        )
        for o in scene.objects
    ]
    return parts[0] if len(parts) == 1 else ", and ".join([", ".join(parts[:-1]), parts[-1]])


def caption_information_bits(scene: Scene) -> float:
    """Bits the caption's content carries: count, cells and every object's attributes."""
    per_object = math.log2(len(SHAPES) * len(COLOURS) * len(SIZES) * len(PATTERNS))
    n = len(scene.objects)
    cells = math.log2(math.comb(GRID * GRID, n))
    return math.log2(3) + cells + n * per_object


class CaptionedShapes(Dataset):
    """Synthetic captioned scenes; deterministic by seed, splits disjoint in scene content.

    `ds[i]` is `(image, caption)` with `image` a float tensor (3, size, size) in [0, 1];
    `ds.scene(i)` gives the parameters behind it.
    """

    def __init__(self, split: str = "train", size: int = 64, n: int = 1000, seed: int = 0):
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
        if size < GRID * 4:
            raise ValueError(f"size {size} too small: need at least {GRID * 4} pixels")
        if n < 1:
            raise ValueError(f"n must be positive, got {n}")
        self.split, self.size, self.n, self.seed = split, size, n, seed
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
            records.append((scene, caption_for(scene, rng)))
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


# Real photos that ship with scikit-image, each with a caption written for this project.
PHOTO_CAPTIONS = {
    "astronaut": "an astronaut in a white spacesuit smiling in front of an american flag",
    "chelsea": "a ginger tabby cat with green eyes looking to the side",
    "coffee": "a cup of coffee with latte art on a saucer with a spoon on a wooden table",
    "rocket": "a rocket on the launch pad under a blue sky with a service tower",
    "hubble_deep_field": "a deep field of distant galaxies scattered over a black sky",
    "retina": "a fundus photograph of a human retina with red blood vessels and a bright optic disc",
    "immunohistochemistry": "a microscope image of stained tissue with brown and blue cells",
    "colorwheel": "a colour wheel of smoothly changing hues on a white background",
    "camera": "a black and white photo of a man with a camera on a tripod on a lawn",
    "coins": "a grey photo of many old coins arranged in rows",
    "brick": "a grey brick wall texture with mortar lines",
    "grass": "a close-up texture of green grass blades in grey",
    "gravel": "a grey texture of small gravel stones",
    "moon": "a grey close-up of the cratered surface of the moon",
}


def load_photo(name: str) -> np.ndarray:
    """One scikit-image photo as (H, W, 3) uint8 (greyscale photos are repeated to RGB)."""
    if name not in PHOTO_CAPTIONS:
        raise ValueError(f"unknown photo {name!r}; known: {', '.join(PHOTO_CAPTIONS)}")
    import skimage.data

    array = np.asarray(getattr(skimage.data, name)())
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return array[..., :3].astype(np.uint8)


class CaptionedPhotos(Dataset):
    """The offline real-photo evaluation set: `(image, caption)` with images in [0, 1]."""

    def __init__(self, names: list[str] | None = None, max_side: int | None = None):
        self.names, self.max_side = list(names or PHOTO_CAPTIONS), max_side
        for name in self.names:
            if name not in PHOTO_CAPTIONS:
                raise ValueError(f"unknown photo {name!r}; known: {', '.join(PHOTO_CAPTIONS)}")

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        name = self.names[index]
        image = torch.from_numpy(load_photo(name)).permute(2, 0, 1).float().div(255.0)
        longest = max(image.shape[1:])
        if self.max_side and longest > self.max_side:  # downscale keeping the aspect ratio (area filter)
            size = [max(1, round(side * self.max_side / longest)) for side in image.shape[1:]]
            image = torch.nn.functional.interpolate(image[None], size=size, mode="area")[0]
        return image, PHOTO_CAPTIONS[name]


# Real caption datasets in their published on-disk layouts. Nothing here downloads.


class DatasetLayoutError(FileNotFoundError):
    """A dataset root that does not have the expected layout."""


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise DatasetLayoutError(f"{what} not found: expected {path}")
    return path


def _read_captions(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise DatasetLayoutError(f"{path}: captions are not UTF-8 ({err})") from err
    return [line.strip() for line in lines if line.strip()]


def _load_rgb(path: Path, size: int | None) -> torch.Tensor:
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            if size is not None:  # centre crop to a square, then resize
                side = min(image.size)
                left, top = (image.width - side) // 2, (image.height - side) // 2
                image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)
            array = np.asarray(image, dtype=np.uint8).copy()
    except OSError as err:
        raise ValueError(f"{path}: not a readable image ({err})") from err
    return torch.from_numpy(array).permute(2, 0, 1).float().div(255.0)


class CaptionedImageFiles(Dataset):
    """Images on disk, each with one or more captions; `ds[i]` is `(image, caption)`.

    The caption is one of the image's captions, chosen by a seeded draw per index (so a
    dataset object always gives the same pairs); `captions_of(i)` lists all of them.
    `size` centre-crops and resizes to a square; `None` keeps the original size.
    """

    def __init__(self, items: list[tuple[Path, list[str]]], size: int | None = None, seed: int = 0):
        if not items:
            raise DatasetLayoutError("no captioned images found")
        self.items, self.size, self.seed = items, size, seed

    def __len__(self) -> int:
        return len(self.items)

    def captions_of(self, index: int) -> list[str]:
        return self.items[index][1]

    def caption(self, index: int) -> str:
        """The caption `ds[index]` pairs with its image (a seeded draw among its captions)."""
        captions = self.items[index][1]
        return captions[int(np.random.default_rng([self.seed, index]).integers(len(captions)))]

    @property
    def captions(self) -> list[str]:
        return [self.caption(i) for i in range(len(self))]

    def subset(self, indices) -> "CaptionedImageFiles":
        return CaptionedImageFiles([self.items[i] for i in indices], self.size, self.seed)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        return _load_rgb(self.items[index][0], self.size), self.caption(index)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def caption_folder(root: str | Path, size: int | None = None, seed: int = 0) -> CaptionedImageFiles:
    """A folder of images with sidecar captions: `cat.jpg` + `cat.txt` (one caption a line)."""
    root = _require(Path(root), "image folder")
    items = []
    for image in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        sidecar = image.with_suffix(".txt")
        if sidecar.is_file() and (captions := _read_captions(sidecar)):
            items.append((image, captions))
    if not items:
        raise DatasetLayoutError(f"{root}: no image has a sidecar caption file (name.jpg + name.txt)")
    return CaptionedImageFiles(items, size, seed)


def cub200(root: str | Path, split: str = "train", size: int | None = None, seed: int = 0) -> CaptionedImageFiles:
    """CUB-200-2011 with the per-image captions of Reed et al. (2016).

    Layout: `root/images.txt`, `root/train_test_split.txt`, `root/images/<class>/<name>.jpg`,
    `root/text_c10/<class>/<name>.txt` (ten captions each).
    """
    root = Path(root)
    listing = _read_captions(_require(root / "images.txt", "CUB images.txt"))
    splits = dict(line.split() for line in _read_captions(_require(root / "train_test_split.txt", "CUB train_test_split.txt")))
    want = {"train": "1", "test": "0"}.get(split)
    if want is None:
        raise ValueError(f"CUB splits are train and test, not {split!r}")
    items = []
    for line in listing:
        image_id, relative = line.split(maxsplit=1)
        if splits.get(image_id) != want:
            continue
        image = _require(root / "images" / relative, "CUB image")
        text = _require((root / "text_c10" / relative).with_suffix(".txt"), "CUB caption file")
        items.append((image, _read_captions(text)))
    return CaptionedImageFiles(items, size, seed)


def oxford_flowers(root: str | Path, size: int | None = None, seed: int = 0) -> CaptionedImageFiles:
    """Oxford-102 Flowers with the captions of Reed et al. (2016).

    Layout: `root/jpg/image_NNNNN.jpg`, `root/text_c10/class_NNNNN/image_NNNNN.txt`.
    """
    root = Path(root)
    images = {p.stem: p for p in _require(root / "jpg", "Flowers jpg folder").glob("image_*.jpg")}
    texts = sorted(_require(root / "text_c10", "Flowers text_c10 folder").glob("class_*/image_*.txt"))
    items = [(images[t.stem], _read_captions(t)) for t in texts if t.stem in images]
    if not items:
        raise DatasetLayoutError(f"{root}: no image in jpg/ has a caption file in text_c10/class_*/")
    return CaptionedImageFiles(items, size, seed)


def coco_captions(images_dir: str | Path, annotations: str | Path, size: int | None = None,
                  seed: int = 0) -> CaptionedImageFiles:
    """MS-COCO captions: an image folder (e.g. `train2017/`) and its `captions_*.json`."""
    import json

    images_dir = _require(Path(images_dir), "COCO image folder")
    try:
        data = json.loads(_require(Path(annotations), "COCO captions JSON").read_text(encoding="utf-8"))
        files = {img["id"]: img["file_name"] for img in data["images"]}
        captions: dict[int, list[str]] = {}
        for ann in data["annotations"]:
            captions.setdefault(ann["image_id"], []).append(ann["caption"].strip())
    except (ValueError, KeyError, TypeError) as err:
        raise DatasetLayoutError(f"{annotations}: not a COCO captions file ({err!r})") from err
    items = [(images_dir / files[i], caps) for i, caps in sorted(captions.items()) if i in files]
    missing = [p for p, _ in items if not p.is_file()]
    if missing:
        raise DatasetLayoutError(f"{len(missing)} images listed in {annotations} are missing, e.g. {missing[0]}")
    return CaptionedImageFiles(items, size, seed)


REAL_DATASETS = ("cub200", "folder")


def open_dataset(name: str, root: str | Path, split: str, size: int, seed: int = 0, n_val: int = 200):
    """A real caption dataset for training: `cub200` (its train split; val = the first `n_val` test
    images) or `folder` (name.jpg + name.txt; val = the 5% (at least one) first in a hash of their names)."""
    if name == "cub200":
        if split == "train":
            return cub200(root, "train", size, seed)
        test = cub200(root, "test", size, seed)
        return test.subset(range(min(n_val, len(test))))
    if name == "folder":
        everything = caption_folder(root, size, seed)
        by_hash = sorted(range(len(everything)), key=lambda i: hashlib.sha256(everything.items[i][0].name.encode()).digest())
        n_held = max(1, len(everything) // 20)
        return everything.subset(sorted(by_hash[n_held:] if split == "train" else by_hash[:n_held]))
    raise ValueError(f"unknown dataset {name!r}; known: shapes, {', '.join(REAL_DATASETS)}")
