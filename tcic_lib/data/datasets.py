"""Real caption datasets read from their published on-disk layouts: CUB-200-2011 and Oxford-102 Flowers
(with the captions of Reed et al. 2016), MS-COCO captions, and any folder of images with sidecar captions.

Nothing here downloads. A missing or malformed root names what was expected where. Used by
`tcic train --data cub200|folder` (the gpu recipe in the README).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset


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
