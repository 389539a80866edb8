"""Real photos that ship with scikit-image, each with a caption written for this course: the offline
real-image evaluation set.

Taught in notebooks/00_setup (preview) and notebooks/07_evaluation.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

PHOTO_CAPTIONS = {
    "astronaut": "an astronaut in an orange spacesuit smiling in front of an american flag",
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


