"""Learned image codecs in CompressAI's conventions, for any input size.

`forward(x, text=None) -> {"x_hat", "likelihoods"}`, `compress(x, text=None) -> {"strings",
"shape", "size"}`, `decompress(strings, shape, text=None, size=None) -> {"x_hat"}`; call
`update(force=True)` after training and before coding. `Factorized` and `Hyperprior` ignore
`text`; `TCIC` builds on `Hyperprior` and sends the caption to `g_s` only.

Taught in notebooks/02_hyperprior (Factorized, Hyperprior); TCIC in notebooks/05_tcic (not
written yet).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from compressai.layers import GDN
from compressai.models import CompressionModel
from compressai.models.utils import conv, deconv

from .fusion import TextCondition, build_fusion

SCALES_MIN, SCALES_MAX, SCALES_LEVELS = 0.11, 256, 64


def scale_table() -> torch.Tensor:
    """Log-spaced Gaussian scales that the coder tabulates (as in Ballé et al. 2018)."""
    return torch.exp(torch.linspace(math.log(SCALES_MIN), math.log(SCALES_MAX), SCALES_LEVELS))


def analysis_transform(N: int, M: int, stages: int = 4) -> nn.Sequential:
    """g_a: `stages` stride-2 convolutions with GDN between them, 3 -> N ... -> M channels."""
    widths = [3] + [N] * (stages - 1) + [M]
    layers: list[nn.Module] = []
    for i, (c_in, c_out) in enumerate(zip(widths, widths[1:])):
        layers.append(conv(c_in, c_out))
        if i < stages - 1:
            layers.append(GDN(c_out))
    return nn.Sequential(*layers)


def synthesis_transform(N: int, M: int, stages: int = 4) -> nn.Sequential:
    """g_s: the mirror of g_a, transposed convolutions with inverse GDN, M -> N ... -> 3."""
    widths = [M] + [N] * (stages - 1) + [3]
    layers: list[nn.Module] = []
    for i, (c_in, c_out) in enumerate(zip(widths, widths[1:])):
        layers.append(deconv(c_in, c_out))
        if i < stages - 1:
            layers.append(GDN(c_out, inverse=True))
    return nn.Sequential(*layers)


def pad_to_multiple(x: torch.Tensor, stride: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Replicate-pad (B, C, H, W) on the right and bottom to multiples of `stride`."""
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % stride, (-w) % stride
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    return x, (h, w)


def check_image_batch(x: torch.Tensor) -> None:
    """A clear error for inputs the codecs cannot take."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"expected an image batch of shape (B, 3, H, W), got {shape}")
    if x.shape[-2] < 1 or x.shape[-1] < 1:
        raise ValueError(f"image has no pixels: {tuple(x.shape)}")


class Codec(CompressionModel):
    """Shared plumbing: padding to the model's stride and cropping back."""

    stride: int = 16  # total downsampling of the coarsest latent that `compress` returns
    num_strings: int = 1  # entropy-coded strings per image

    def __init__(self, N: int, M: int):
        super().__init__()
        self.N, self.M = int(N), int(M)

    @property
    def arch(self) -> str:
        """Architecture name with sizes, written into bitstreams and checkpoints."""
        sizes = ",".join(f"{k}={v}" for k, v in self.config().items())
        return f"{type(self).__name__}({sizes})"

    def config(self) -> dict:
        """Keyword arguments that rebuild this architecture."""
        return {"N": self.N, "M": self.M}

    def update(self, scale_table_: torch.Tensor | None = None, force: bool = True) -> bool:
        """Tabulate the entropy models' CDFs for the coder.

        Forced by default (stale tables cost bits silently), and the bottleneck's coding range is
        recomputed from its density rather than taken from the slowly trained aux quantiles.
        """
        table = scale_table() if scale_table_ is None else scale_table_
        return super().update(scale_table=table, force=force, update_quantiles=True)


class Factorized(Codec):
    """Ballé et al. 2017/2018 factorized-prior codec::

        x --g_a--> y --Q--> y_hat --g_s--> x_hat
                     EntropyBottleneck(y)
    """

    stride = 16

    def __init__(self, N: int = 64, M: int = 96):
        super().__init__(N, M)
        self.g_a = analysis_transform(N, M)
        self.g_s = synthesis_transform(N, M)
        self.entropy_bottleneck = EntropyBottleneck(M)

    def forward(self, x: torch.Tensor, text=None) -> dict:
        check_image_batch(x)
        x_pad, (h, w) = pad_to_multiple(x, self.stride)
        y = self.g_a(x_pad)  # (B, M, H/16, W/16)
        y_hat, y_likelihoods = self.entropy_bottleneck(y)
        x_hat = self.g_s(y_hat)[..., :h, :w]
        return {"x_hat": x_hat, "likelihoods": {"y": y_likelihoods}}

    def compress(self, x: torch.Tensor, text=None) -> dict:
        check_image_batch(x)
        x_pad, size = pad_to_multiple(x, self.stride)
        y = self.g_a(x_pad)
        strings = self.entropy_bottleneck.compress(y)
        return {"strings": [strings], "shape": tuple(y.shape[-2:]), "size": size}

    def decompress(self, strings, shape, text=None, size=None) -> dict:
        y_hat = self.entropy_bottleneck.decompress(strings[0], shape)
        x_hat = self.g_s(y_hat).clamp(0, 1)
        if size is not None:
            x_hat = x_hat[..., : size[0], : size[1]]
        return {"x_hat": x_hat}


class Hyperprior(Codec):
    """Ballé et al. 2018 scale hyperprior (with `hyper_stages` stride-2 steps in h_a; the paper has 2)::

        x --g_a--> y --Q--> y_hat --g_s--> x_hat
                   |          ^
                  h_a      N(0, scales_hat)
                   v          |
                   z --Q--> z_hat --h_s--> scales_hat
    """

    stride = 64
    num_strings = 2

    def __init__(self, N: int = 64, M: int = 96, hyper_stages: int = 2):
        super().__init__(N, M)
        if hyper_stages < 1:
            raise ValueError(f"hyper_stages must be at least 1, got {hyper_stages}")
        self.hyper_stages = int(hyper_stages)
        self.stride = 16 * 2**self.hyper_stages  # z is 1/stride of the image
        self.g_a = analysis_transform(N, M)
        self.g_s = self.build_synthesis()
        h_a: list[nn.Module] = [conv(M, N, stride=1, kernel_size=3)]
        h_s: list[nn.Module] = []
        for _ in range(self.hyper_stages):
            h_a += [nn.ReLU(inplace=True), conv(N, N)]
            h_s += [deconv(N, N), nn.ReLU(inplace=True)]
        self.h_a = nn.Sequential(*h_a)
        self.h_s = nn.Sequential(*h_s, conv(N, M, stride=1, kernel_size=3), nn.ReLU(inplace=True))
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gaussian_conditional = GaussianConditional(None)

    def config(self) -> dict:
        return {"N": self.N, "M": self.M, "hyper_stages": self.hyper_stages}

    def build_synthesis(self) -> nn.Module:
        """g_s; subclasses that condition the decoder replace it."""
        return synthesis_transform(self.N, self.M)

    def synthesize(self, y_hat: torch.Tensor, text=None) -> torch.Tensor:
        """x_hat from y_hat; the one place a subclass may use decoder-side information."""
        return self.g_s(y_hat)

    def forward(self, x: torch.Tensor, text=None) -> dict:
        check_image_batch(x)
        x_pad, (h, w) = pad_to_multiple(x, self.stride)
        y = self.g_a(x_pad)  # (B, M, H/16, W/16)
        z = self.h_a(torch.abs(y))  # (B, N, H/64, W/64)
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        scales_hat = self.h_s(z_hat)
        y_hat, y_likelihoods = self.gaussian_conditional(y, scales_hat)
        x_hat = self.synthesize(y_hat, text)[..., :h, :w]
        return {"x_hat": x_hat, "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    def compress(self, x: torch.Tensor, text=None) -> dict:
        check_image_batch(x)
        x_pad, size = pad_to_multiple(x, self.stride)
        y = self.g_a(x_pad)
        z = self.h_a(torch.abs(y))
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.shape[-2:])
        indexes = self.gaussian_conditional.build_indexes(self.h_s(z_hat))
        y_strings = self.gaussian_conditional.compress(y, indexes)
        return {"strings": [y_strings, z_strings], "shape": tuple(z.shape[-2:]), "size": size}

    def decompress(self, strings, shape, text=None, size=None) -> dict:
        z_hat = self.entropy_bottleneck.decompress(strings[1], shape)
        indexes = self.gaussian_conditional.build_indexes(self.h_s(z_hat))
        y_hat = self.gaussian_conditional.decompress(strings[0], indexes, z_hat.dtype)
        x_hat = self.synthesize(y_hat, text).clamp(0, 1)
        if size is not None:
            x_hat = x_hat[..., : size[0], : size[1]]
        return {"x_hat": x_hat}


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
            x = fuse(stage(x), text)
        return self.stages[-1](x)


class TCIC(Hyperprior):
    """Hyperprior codec whose decoder reads a caption (text as decoder-side information)::

        x --g_a--> y --Q--> y_hat --[g_s stage, fusion(t)] x3 -- g_s stage--> x_hat
                   |          ^                       ^
                  h_a      N(0, scales_hat)           t = caption features (decoder only)
                   v          |
                   z --Q--> z_hat --h_s--> scales_hat

    The encoder and the entropy models never see the caption. With `fusion="none"` this is the
    plain `Hyperprior` (same parameters).
    """

    @property
    def reads_captions(self) -> bool:
        """Whether the decoder uses a caption (with fusion `none` it is the plain hyperprior)."""
        return self.fusion != "none"

    def __init__(self, N: int = 64, M: int = 96, hyper_stages: int = 2, fusion: str = "ssa", text_dim: int = 512):
        self.fusion, self.text_dim = fusion, int(text_dim)
        super().__init__(N, M, hyper_stages)
        # mean caption embedding of the training captions; conditions are centred on it, so
        # "no caption" (all zeros) means "the average caption"
        self.register_buffer("text_mean", torch.zeros(self.text_dim))

    def condition(self, encoder, captions: list[str | None]) -> TextCondition:
        """Caption features for the decoder: encoded, centred; `None` (no caption) gives zeros."""
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

    def config(self) -> dict:
        return {**super().config(), "fusion": self.fusion, "text_dim": self.text_dim}


ARCHITECTURES: dict[str, type[Codec]] = {"Factorized": Factorized, "Hyperprior": Hyperprior, "TCIC": TCIC}


def build_model(arch: str, **kwargs) -> Codec:
    """An architecture by class name, e.g. `build_model("Hyperprior", N=64, M=96)`."""
    try:
        return ARCHITECTURES[arch](**kwargs)
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}") from None
