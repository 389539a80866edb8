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

    `reads_text=False` keeps the fusion blocks but never gives them a caption (they see "no
    caption" in training and decoding): a text-free decoder with the same layers, e.g. the
    positional features of `pxattn`, so an architecture's gain is never credited to the caption.
    """

    def __init__(self, N: int = 64, M: int = 96, hyper_stages: int = 2, fusion: str = "ssa", text_dim: int = 512,
                 reads_text: bool = True):
        self.fusion, self.text_dim, self.reads_text = fusion, int(text_dim), bool(reads_text)
        super().__init__(N, M, hyper_stages)
        self.register_buffer("text_mean", torch.zeros(self.text_dim))

    @property
    def reads_captions(self) -> bool:
        """Whether the decoder uses a caption (with fusion `none`, or `reads_text=False`, it never does)."""
        return self.fusion != "none" and self.reads_text

    def config(self) -> dict:
        # reads_text is recorded only when False, so every earlier model keeps its architecture id
        return {**super().config(), "fusion": self.fusion, "text_dim": self.text_dim} | (
            {} if self.reads_text else {"reads_text": False})

    def condition(self, encoder, captions: list[str | None]) -> TextCondition:
        """Caption features for the model: encoded, centred; `None` (no caption) gives zeros."""
        if encoder.dim != self.text_dim:
            raise ValueError(f"{encoder.name} gives {encoder.dim}-d features; this model reads {self.text_dim}-d")
        tokens, pooled, mask = encoder.encode([c or "" for c in captions], return_mask=True)
        width = int(mask.any(0).nonzero().max()) + 1 if mask.any() else 1
        tokens, mask = tokens[:, :width], mask[:, :width]  # padding past the longest caption: masked, only costs time
        tokens = (tokens - self.text_mean) * mask[..., None]
        pooled = pooled - self.text_mean
        absent = torch.tensor([c is None for c in captions])
        pooled[absent], tokens[absent], mask[absent] = 0.0, 0.0, False
        device, dtype = self.text_mean.device, self.text_mean.dtype
        return TextCondition(pooled.to(device, dtype), tokens.to(device, dtype), mask.to(device))

    def build_synthesis(self) -> nn.Module:
        return ConditionalSynthesis(self.N, self.M, self.fusion, self.text_dim)

    def synthesize(self, y_hat: torch.Tensor, text: TextCondition | None = None) -> torch.Tensor:
        return self.g_s(y_hat, text)


class ConditionalTCIC(TCIC):
    r"""TCIC with the caption at both ends (conditional coding): g_a reads it, and the entropy model
    predicts y's **means** from z_hat and the caption, so the encoder codes only the residual::

        x --g_a(t)--> y --Q(y - means)--> residual --> y_hat = means + residual --g_s(t)--> x_hat
                      |                                 ^       ^
                     h_a                                |   N(means, scales)
                      v                                 |       |
                      z --Q--> z_hat --h_m body--fusion(t)--h_m head--> means
                                  \--h_s--> scales (integer network: same on every machine)

    The caption enters the means, not the scales: a mean only shifts y_hat, while a scale picks the
    table a symbol is read with and must be computed in integers (`tcic_lib.exact`). Both sides
    must hold the caption: files need it to be coded *and* decoded.
    """

    def __init__(self, N: int = 64, M: int = 96, hyper_stages: int = 2, fusion: str = "pxattn", text_dim: int = 512):
        super().__init__(N, M, hyper_stages, fusion, text_dim)
        body: list[nn.Module] = []
        for _ in range(self.hyper_stages):
            body += [deconv(N, N), nn.ReLU(inplace=True)]
        self.h_m = nn.Sequential(*body)
        self.mean_fusion = build_fusion(fusion, N, text_dim)
        self.mean_head = conv(N, M, stride=1, kernel_size=3)
        nn.init.zeros_(self.mean_head.weight)  # zero means at first: it starts as the zero-mean hyperprior
        nn.init.zeros_(self.mean_head.bias)

    @property
    def encoder_reads_captions(self) -> bool:
        return True

    def build_analysis(self) -> nn.Module:
        return ConditionalAnalysis(self.N, self.M, self.fusion, self.text_dim)

    def analyse(self, x: torch.Tensor, text: TextCondition | None = None) -> torch.Tensor:
        return self.g_a(x, text)

    def means(self, z_hat: torch.Tensor, text: TextCondition | None = None) -> torch.Tensor:
        return self.mean_head(self.mean_fusion(self.h_m(z_hat), text))  # (B, M, H/16, W/16)


def plain_to_conditional_analysis(state: dict) -> dict:
    """A state dict whose g_a is the plain `analysis_transform` (conv, GDN, ..., conv), with g_a renamed to
    `ConditionalAnalysis`' stages: so a text-free base warm-starts a caption-at-both-ends model."""
    last = max(int(k.split(".")[1]) for k in state if k.startswith("g_a.") and k.split(".")[1].isdigit())
    renamed = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "g_a" and parts[1].isdigit():  # layer 2i is stage i's conv, 2i + 1 its GDN
            layer = int(parts[1])
            stage = f"stages.{layer // 2}" + ("" if layer == last else f".{layer % 2}")
            key = ".".join(["g_a", stage, *parts[2:]])
        renamed[key] = value
    return renamed
