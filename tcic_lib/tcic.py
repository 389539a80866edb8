"""TCIC: a hyperprior codec whose decoder reads a caption (text as decoder-side information).

- `TCIC`: the caption reaches the synthesis transform only, through a fusion block after each
  upsampling stage (`tcic_lib.fusion`); the encoder and the entropy models never see it, so a
  file is the same whatever the caption. With `fusion="none"` it is the plain `Hyperprior`.
- `ConditionalTCIC`: the caption at both ends (conditional coding, the R_X|T side of the
  side-information bound): the analysis transform and the entropy model's scales read it too.
  It is the reference a decoder-only caption is measured against.

Caption features are centred on the mean embedding of the training captions, so "no caption"
(all zeros) means "the average caption", and both models decode without one.

Taught in notebooks/05_tcic.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from compressai.layers import GDN
from compressai.models.utils import conv, deconv

from .fusion import TextCondition, build_fusion
from .models import Hyperprior


class ConditionalSynthesis(nn.Module):
    """g_s with a fusion block after every upsampling stage that yields features (not the last)."""

    def __init__(self, N: int, M: int, fusion: str, text_dim: int, stages: int = 4):
        super().__init__()
        widths = [M] + [N] * (stages - 1) + [3]
        self.stages = nn.ModuleList()
        self.fusions = nn.ModuleList()
        for i, (c_in, c_out) in enumerate(zip(widths, widths[1:])):
            last = i == stages - 1
            self.stages.append(deconv(c_in, c_out) if last else nn.Sequential(deconv(c_in, c_out), GDN(c_out, inverse=True)))
            if not last:
                self.fusions.append(build_fusion(fusion, c_out, text_dim))

    def forward(self, y_hat: torch.Tensor, text: TextCondition | None = None) -> torch.Tensor:
        x = y_hat
        for stage, fuse in zip(self.stages, self.fusions):
            x = fuse(stage(x), text)  # (B, N, 2h, 2w) at each stage
        return self.stages[-1](x)


class ConditionalAnalysis(nn.Module):
    """g_a with a fusion block after every downsampling stage but the last (the encoder reads the caption)."""

    def __init__(self, N: int, M: int, fusion: str, text_dim: int, stages: int = 4):
        super().__init__()
        widths = [3] + [N] * (stages - 1) + [M]
        self.stages = nn.ModuleList()
        self.fusions = nn.ModuleList()
        for i, (c_in, c_out) in enumerate(zip(widths, widths[1:])):
            last = i == stages - 1
            self.stages.append(conv(c_in, c_out) if last else nn.Sequential(conv(c_in, c_out), GDN(c_out)))
            if not last:
                self.fusions.append(build_fusion(fusion, c_out, text_dim))

    def forward(self, x: torch.Tensor, text: TextCondition | None = None) -> torch.Tensor:
        for stage, fuse in zip(self.stages, self.fusions):
            x = fuse(stage(x), text)  # (B, N, h/2, w/2) at each stage
        return self.stages[-1](x)


class TCIC(Hyperprior):
    """Hyperprior codec whose decoder reads a caption::

        x --g_a--> y --Q--> y_hat --[g_s stage, fusion(t)] x3 -- g_s stage--> x_hat
                   |          ^                       ^
                  h_a      N(0, scales_hat)           t = caption features (decoder only)
                   v          |
                   z --Q--> z_hat --h_s--> scales_hat
    """

    def __init__(self, N: int = 64, M: int = 96, hyper_stages: int = 2, fusion: str = "ssa", text_dim: int = 512):
        self.fusion, self.text_dim = fusion, int(text_dim)
        super().__init__(N, M, hyper_stages)
        self.register_buffer("text_mean", torch.zeros(self.text_dim))

    @property
    def reads_captions(self) -> bool:
        """Whether the decoder uses a caption (with fusion `none` it is the plain hyperprior)."""
        return self.fusion != "none"

    def config(self) -> dict:
        return {**super().config(), "fusion": self.fusion, "text_dim": self.text_dim}

    def condition(self, encoder, captions: list[str | None]) -> TextCondition:
        """Caption features for the model: encoded, centred; `None` (no caption) gives zeros."""
        if encoder.dim != self.text_dim:
            raise ValueError(f"{encoder.name} gives {encoder.dim}-d features; this model reads {self.text_dim}-d")
        tokens, pooled, mask = encoder.encode([c or "" for c in captions], return_mask=True)
        tokens = (tokens - self.text_mean) * mask[..., None]
        pooled = pooled - self.text_mean
        absent = torch.tensor([c is None for c in captions])
        pooled[absent], tokens[absent], mask[absent] = 0.0, 0.0, False
        return TextCondition(pooled.to(self.text_mean.device), tokens.to(self.text_mean.device), mask)

    def build_synthesis(self) -> nn.Module:
        return ConditionalSynthesis(self.N, self.M, self.fusion, self.text_dim)

    def synthesize(self, y_hat: torch.Tensor, text: TextCondition | None = None) -> torch.Tensor:
        return self.g_s(y_hat, text)


class ConditionalTCIC(TCIC):
    """TCIC with the caption at both ends: g_a and the scales of y's entropy model read it too::

        x --[g_a stage, fusion(t)] x3 -- g_a stage--> y --Q--> y_hat --g_s(t)--> x_hat
                   |                                      ^
                  h_a                        N(0, scales_hat)
                   v                                      |
                   z --Q--> z_hat --h_s body--fusion(t)--h_s head--> scales_hat

    Both sides must hold the caption: files need it to be coded *and* decoded.
    """

    def __init__(self, N: int = 64, M: int = 96, hyper_stages: int = 2, fusion: str = "pxattn", text_dim: int = 512):
        super().__init__(N, M, hyper_stages, fusion, text_dim)
        self.scale_fusion = build_fusion(fusion, N, text_dim)

    @property
    def encoder_reads_captions(self) -> bool:
        return True

    def build_analysis(self) -> nn.Module:
        return ConditionalAnalysis(self.N, self.M, self.fusion, self.text_dim)

    def analyse(self, x: torch.Tensor, text: TextCondition | None = None) -> torch.Tensor:
        return self.g_a(x, text)

    def scales(self, z_hat: torch.Tensor, text: TextCondition | None = None) -> torch.Tensor:
        body, head = self.h_s[:-2], self.h_s[-2:]
        return head(self.scale_fusion(body(z_hat), text))
