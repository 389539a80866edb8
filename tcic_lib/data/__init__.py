"""Captioned images: synthetic scenes (`shapes`), offline photos (`photos`), real caption datasets (`datasets`)."""

from .datasets import (
    REAL_DATASETS, CaptionedImageFiles, DatasetLayoutError, caption_folder, coco_captions, cub200, open_dataset,
    oxford_flowers,
)
from .photos import PHOTO_CAPTIONS, CaptionedPhotos, load_photo
from .shapes import (
    COLOURS, DETAILS, GRID, PATTERNS, PLACES, SHAPES, SIZES, CaptionedShapes, Scene, ShapeObject,
    caption_for, caption_information_bits, object_box, object_layers, object_mask, render_scene, sample_scene,
    scene_information_bits, split_of, split_share,
)

__all__ = [
    "REAL_DATASETS", "CaptionedImageFiles", "DatasetLayoutError", "caption_folder", "coco_captions", "cub200",
    "open_dataset", "oxford_flowers", "PHOTO_CAPTIONS", "CaptionedPhotos", "load_photo", "COLOURS", "DETAILS", "GRID",
    "PATTERNS", "PLACES", "SHAPES", "SIZES", "CaptionedShapes", "Scene", "ShapeObject", "caption_for",
    "caption_information_bits", "object_box", "object_layers", "object_mask", "render_scene", "sample_scene",
    "scene_information_bits", "split_of", "split_share",
]
