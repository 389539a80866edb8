"""From captions to the decoder's side information, in training and at evaluation.

The caption modes of notebook 05's comparisons:
- `true`: each image's own caption (TCIC);
- `unrelated`: captions of other, random training scenes (the capacity-matched control: the
  same architecture and parameters, but its captions carry nothing about its images);
- `none`: no caption at all (with `fusion="none"`, the plain hyperprior).

In training a caption is dropped with probability `dropout`, so "no caption" stays a valid
input. Random draws use torch's global generator, which `train` seeds per step, so runs resume
exactly.

Taught in notebooks/05_tcic.
"""

from __future__ import annotations

import torch

from .fusion import TextCondition

CAPTION_MODES = ("true", "unrelated", "none")


def fit_text_mean(model, encoder, captions: list[str]) -> None:
    """Centre the model's caption features on the mean embedding of `captions` (the training set)."""
    with torch.no_grad():
        model.text_mean.copy_(encoder.encode(captions)[1].mean(0))


class CaptionConditioner:
    """`conditioner(captions, training) -> TextCondition | None` for a caption-reading model."""

    def __init__(self, model, encoder, mode: str = "true", dropout: float = 0.1, pool: list[str] | None = None):
        if mode not in CAPTION_MODES:
            raise ValueError(f"unknown caption mode {mode!r}; known: {', '.join(CAPTION_MODES)}")
        if mode == "unrelated" and not pool:
            raise ValueError("the unrelated-caption control needs a pool of training captions")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"caption dropout must lie in [0, 1), got {dropout}")
        self.model, self.encoder, self.mode, self.dropout, self.pool = model, encoder, mode, dropout, pool

    def __call__(self, captions: list[str], training: bool = False) -> TextCondition | None:
        if self.mode == "none":
            return None
        chosen: list[str | None] = list(captions)
        if self.mode == "unrelated":
            chosen = [self.pool[i] for i in torch.randint(len(self.pool), (len(captions),)).tolist()]
        if training and self.dropout > 0:
            keep = torch.rand(len(chosen)) >= self.dropout
            chosen = [c if k else None for c, k in zip(chosen, keep.tolist())]
        return self.model.condition(self.encoder, chosen)
