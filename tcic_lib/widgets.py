"""An interactive caption panel: one bitstream, decoded with whatever caption you type.

`CaptionPlayground.update(image_index, caption, lmbda)` is plain Python (tests call it): it
codes the chosen test image once per rate (cached), decodes that same file with the edited
caption, and returns the reconstruction, the finest SSA mask and the file's bpp. `panel()`
wraps it in ipywidgets: an image picker, a caption text box and a rate slider.

Taught in notebooks/08_ablations_and_play.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .bitstream import decode, encode, unpack


@dataclass
class PlaygroundView:
    x_hat: torch.Tensor  # (3, H, W) reconstruction
    mask: torch.Tensor | None  # (H', W') mask of the finest SSA block, None for other fusions
    bpp: float  # bits per pixel of the (unchanged) file, the caption it stores not counted (`bpp_file`)
    caption: str | None


class CaptionPlayground:
    """Decode the same files with edited captions; `models` maps lmbda -> a caption-reading model."""

    def __init__(self, models: dict[float, torch.nn.Module], encoder, images: list[torch.Tensor], captions: list[str]):
        if not models:
            raise ValueError("give at least one model")
        self.models, self.encoder, self.images, self.captions = models, encoder, images, captions
        self._files: dict[tuple[int, float], bytes] = {}

    def file(self, image_index: int, lmbda: float) -> bytes:
        """The bitstream of one test image at one rate, coded once (with its true caption stored)."""
        key = (image_index, lmbda)
        if key not in self._files:
            self._files[key] = encode(self.models[lmbda], self.images[image_index], self.captions[image_index])
        return self._files[key]

    def update(self, image_index: int, caption: str | None, lmbda: float) -> PlaygroundView:
        """Decode image `image_index`'s file at rate `lmbda` with `caption` (None or blank: no caption)."""
        if lmbda not in self.models:
            raise ValueError(f"no model at λ={lmbda}; have {sorted(self.models)}")
        caption = caption if caption and caption.strip() else None
        model, data = self.models[lmbda], self.file(image_index, lmbda)
        x_hat = decode(model, data, caption, text_encoder=self.encoder)
        fusions = getattr(model.g_s, "fusions", [])
        mask = getattr(fusions[-1], "last_mask", None) if len(fusions) else None
        header = unpack(data)
        bpp_file = 8 * (header.total_bytes - header.caption_bytes) / header.num_pixels
        return PlaygroundView(x_hat, mask[0, 0] if mask is not None else None, bpp_file, caption)

    def panel(self):
        """ipywidgets: image picker, caption box, rate slider -> original, reconstruction, mask, bpp."""
        import ipywidgets as w
        import matplotlib.pyplot as plt

        picker = w.IntSlider(0, 0, len(self.images) - 1, description="image")
        text = w.Text(self.captions[0], description="caption", layout=w.Layout(width="90%"))
        rate = w.SelectionSlider(options=sorted(self.models), description="λ")
        out = w.Output()

        def redraw(*_):
            view = self.update(picker.value, text.value, rate.value)
            with out:
                out.clear_output(wait=True)
                fig, axes = plt.subplots(1, 3, figsize=(9, 3))
                axes[0].imshow(self.images[picker.value].permute(1, 2, 0))
                axes[0].set_title("original")
                axes[1].imshow(view.x_hat.permute(1, 2, 0).clamp(0, 1))
                axes[1].set_title(f"decoded, {view.bpp:.3f} bpp (caption not counted)")
                if view.mask is not None:
                    axes[2].imshow(view.mask, vmin=0, vmax=1, cmap="magma")
                axes[2].set_title("SSA mask (finest block)")
                for ax in axes:
                    ax.axis("off")
                plt.show()

        def new_image(change):
            text.value = self.captions[change["new"]]  # triggers redraw

        picker.observe(new_image, names="value")
        text.observe(redraw, names="value")
        rate.observe(redraw, names="value")
        redraw()
        return w.VBox([picker, text, rate, out])
