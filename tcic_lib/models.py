"""Learned image codecs in CompressAI's conventions, for any input size.

`forward(x, text=None) -> {"x_hat", "likelihoods"}`, `compress(x, text=None) -> {"strings",
"shape", "size"}`, `decompress(strings, shape, text=None, size=None) -> {"x_hat"}`; call
`update()` after training and before coding. `Factorized` and `Hyperprior` ignore `text`;
the caption-reading models build on `Hyperprior` (`tcic_lib.tcic`).

Coding: `compress` also returns `checks`, a CRC-16 of each image's symbols, and `decompress` the
same of what it decoded (`bitstream` stores and compares them). The tables y's symbols are read
with come from an integer hyper-synthesis (`tcic_lib.exact`), so they are the same on every
machine, batch size and thread count. CompressAI's rANS coder ends every string with its 32-bit state. The hyperprior codes
`z` and then `y` into **one** string (one flush, not two): at the course's 64 px scenes a flush
is 0.008 bpp, and at the ultra-low rates of notebook 05 (about 0.03 bpp) a second one would
cost a quarter of the file.

Taught in notebooks/02_hyperprior.
"""

from __future__ import annotations

import binascii

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from compressai.ans import BufferedRansEncoder, RansDecoder
from compressai.entropy_models import EntropyBottleneck, EntropyModel, GaussianConditional
from compressai.layers import GDN
from compressai.models import CompressionModel
from compressai.models.base import get_scale_table
from compressai.models.utils import conv, deconv
from compressai.ops import compute_padding

from .exact import IntegerNetwork, scale_indexes


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


def pad_to_multiple(x: torch.Tensor, stride: int) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Replicate-pad (B, C, H, W) evenly on all sides to multiples of `stride` (CompressAI's
    `compute_padding`); returns the padded batch and the `unpad` that crops a reconstruction back."""
    pad, unpad = compute_padding(*x.shape[-2:], min_div=stride)
    return (F.pad(x, pad, mode="replicate") if any(pad) else x), unpad


def crop(x_hat: torch.Tensor, unpad: tuple[int, int, int, int]) -> torch.Tensor:
    """Undo `pad_to_multiple` (a negative pad crops)."""
    return F.pad(x_hat, unpad) if any(unpad) else x_hat


def check_image_batch(x: torch.Tensor) -> None:
    """A clear error for inputs the codecs cannot take."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"expected an image batch of shape (B, 3, H, W), got {shape}")
    if x.shape[-2] < 1 or x.shape[-1] < 1:
        raise ValueError(f"image has no pixels: {tuple(x.shape)}")


def _tables(model: EntropyModel) -> tuple[list, list, list]:
    """The coder's CDF tables of an updated entropy model (CompressAI's public properties)."""
    return model.quantized_cdf.tolist(), model.cdf_length.reshape(-1).int().tolist(), model.offset.reshape(-1).int().tolist()


def _flat(t: torch.Tensor) -> list[int]:
    return t.reshape(-1).int().tolist()


def medians(bottleneck: EntropyBottleneck) -> torch.Tensor:
    """The bottleneck's per-channel medians (1, C, 1, 1): the middle one of its learnt quantiles."""
    return bottleneck.quantiles[:, 0, 1].detach().reshape(1, -1, 1, 1)


def channel_indexes(shape: tuple[int, ...]) -> torch.Tensor:
    """A factorized model's table per symbol: its channel (CPU, int32)."""
    return torch.arange(shape[1], dtype=torch.int32).reshape(1, -1, 1, 1).expand(shape)


def symbol_check(*symbols: torch.Tensor) -> int:
    """CRC-16 (CCITT) of one image's coded symbols, in coding order: what `bitstream` stores so that a
    decoder that drifted out of step with the encoder reports it instead of returning an image."""
    data = b"".join(np.asarray(_flat(s), dtype="<i4").tobytes() for s in symbols)
    return binascii.crc_hqx(data, 0)


def _stream(string: bytes) -> RansDecoder:
    decoder = RansDecoder()
    decoder.set_stream(string)
    return decoder


def _decode_symbols(decoder: RansDecoder, indexes: torch.Tensor, model: EntropyModel) -> torch.Tensor:
    return torch.tensor(decoder.decode_stream(_flat(indexes), *_tables(model)), dtype=torch.int32).reshape(indexes.shape)


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

    @property
    def reads_captions(self) -> bool:
        """Whether decoding needs a caption's features (only caption-reading models)."""
        return False

    @property
    def encoder_reads_captions(self) -> bool:
        """Whether coding needs them too (conditional coding: the caption at both ends)."""
        return False

    def config(self) -> dict:
        """Keyword arguments that rebuild this architecture."""
        return {"N": self.N, "M": self.M}

    @property
    def placement(self) -> tuple[torch.device, torch.dtype]:
        """(device, dtype) of the weights: decoded symbols become tensors there."""
        weight = next(self.parameters())
        return weight.device, weight.dtype

    def update(self, scale_table: torch.Tensor | None = None, force: bool = True) -> bool:
        """Tabulate the entropy models' CDFs for the coder.

        Forced by default (stale tables cost bits silently), and the bottleneck's coding range is
        recomputed from its density rather than taken from the slowly trained aux quantiles. Works
        for a model of any float dtype (CompressAI's tabulation itself runs in float32).
        """
        table = get_scale_table() if scale_table is None else scale_table
        dtype = self.placement[1]
        entropy_models = [m for m in self.modules() if isinstance(m, EntropyModel)]
        for m in entropy_models:  # CompressAI tabulates in float32 only
            m.float()
        try:
            return super().update(scale_table=table, force=force, update_quantiles=True)
        finally:
            for m in entropy_models:
                m.to(dtype)


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
        x_pad, unpad = pad_to_multiple(x, self.stride)
        y = self.g_a(x_pad)  # (B, M, H/16, W/16)
        y_hat, y_likelihoods = self.entropy_bottleneck(y)
        return {"x_hat": crop(self.g_s(y_hat), unpad), "likelihoods": {"y": y_likelihoods}}

    def compress(self, x: torch.Tensor, text=None) -> dict:
        check_image_batch(x)
        x_pad, _ = pad_to_multiple(x, self.stride)
        y = self.g_a(x_pad)
        eb = self.entropy_bottleneck
        symbols = eb.quantize(y, "symbols", medians(eb)).cpu()
        indexes = channel_indexes(symbols.shape)
        strings, checks = [], []
        for i in range(len(x)):
            coder = BufferedRansEncoder()
            coder.encode_with_indexes(_flat(symbols[i]), _flat(indexes[i]), *_tables(eb))
            strings.append(coder.flush())
            checks.append(symbol_check(symbols[i]))
        return {"strings": [strings], "shape": tuple(y.shape[-2:]), "size": x.shape[-2:], "checks": checks}

    def decompress(self, strings, shape, text=None, size=None) -> dict:
        eb, (device, dtype) = self.entropy_bottleneck, self.placement
        indexes = channel_indexes((len(strings[0]), self.M, *shape))
        symbols = torch.stack([_decode_symbols(_stream(s), indexes[i], eb) for i, s in enumerate(strings[0])])
        y_hat = eb.dequantize(symbols.to(device), medians(eb), dtype)
        x_hat = self.g_s(y_hat).clamp(0, 1)
        if size is not None:
            x_hat = crop(x_hat, compute_padding(*size, min_div=self.stride)[1])
        return {"x_hat": x_hat, "checks": [symbol_check(s) for s in symbols]}


class Hyperprior(Codec):
    """Ballé et al. 2018 scale hyperprior (with `hyper_stages` stride-2 steps in h_a; the paper has 2)::

        x --g_a--> y --Q--> y_hat --g_s--> x_hat
                   |          ^
                  h_a      N(0, scales_hat)
                   v          |
                   z --Q--> z_hat --h_s--> scales_hat

    `z` and `y` share one rANS string (z first: the decoder needs it for y's scales).
    """

    num_strings = 1

    def __init__(self, N: int = 64, M: int = 96, hyper_stages: int = 2):
        super().__init__(N, M)
        if hyper_stages < 1:
            raise ValueError(f"hyper_stages must be at least 1, got {hyper_stages}")
        self.hyper_stages = int(hyper_stages)
        self.stride = 16 * 2**self.hyper_stages  # z is 1/stride of the image
        self.g_a = self.build_analysis()
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

    def build_analysis(self) -> nn.Module:
        """g_a; conditional coding replaces it with one that reads the caption."""
        return analysis_transform(self.N, self.M)

    def build_synthesis(self) -> nn.Module:
        """g_s; subclasses that condition the decoder replace it."""
        return synthesis_transform(self.N, self.M)

    def analyse(self, x: torch.Tensor, text=None) -> torch.Tensor:
        """y from x; the encoder-side place for a caption (conditional coding only)."""
        return self.g_a(x)

    def means(self, z_hat: torch.Tensor, text=None) -> torch.Tensor | None:
        """The means of y's Gaussian; None: zero-mean (conditional coding predicts them from the caption)."""
        return None

    def synthesize(self, y_hat: torch.Tensor, text=None) -> torch.Tensor:
        """x_hat from y_hat; the one place a decoder-side caption enters."""
        return self.g_s(y_hat)

    def forward(self, x: torch.Tensor, text=None) -> dict:
        check_image_batch(x)
        x_pad, unpad = pad_to_multiple(x, self.stride)
        y = self.analyse(x_pad, text)  # (B, M, H/16, W/16)
        z = self.h_a(torch.abs(y))  # (B, N, H/stride, W/stride)
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        y_hat, y_likelihoods = self.gaussian_conditional(y, self.h_s(z_hat), self.means(z_hat, text))
        x_hat = crop(self.synthesize(y_hat, text), unpad)
        return {"x_hat": x_hat, "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    def coding_parameters(self, z_hat: torch.Tensor, text=None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(y's table indexes, y's means) for the coder. The indexes come from the integer hyper-synthesis
        (`tcic_lib.exact`): the same on every machine, so encoder and decoder read every symbol alike."""
        indexes = scale_indexes(IntegerNetwork(self.h_s)(z_hat), self.gaussian_conditional.scale_table)
        return indexes, self.means(z_hat, text)

    def compress(self, x: torch.Tensor, text=None) -> dict:
        check_image_batch(x)
        x_pad, _ = pad_to_multiple(x, self.stride)
        y = self.analyse(x_pad, text)
        z = self.h_a(torch.abs(y))
        eb, gc = self.entropy_bottleneck, self.gaussian_conditional
        z_symbols = eb.quantize(z, "symbols", medians(eb))
        z_hat = eb.dequantize(z_symbols, medians(eb), y.dtype)
        indexes, means = self.coding_parameters(z_hat, text)
        y_symbols = gc.quantize(y, "symbols", means).cpu()
        z_symbols, z_indexes = z_symbols.cpu(), channel_indexes(z.shape)
        strings, checks = [], []
        for i in range(len(x)):
            coder = BufferedRansEncoder()
            coder.encode_with_indexes(_flat(z_symbols[i]), _flat(z_indexes[i]), *_tables(eb))
            coder.encode_with_indexes(_flat(y_symbols[i]), _flat(indexes[i]), *_tables(gc))
            strings.append(coder.flush())
            checks.append(symbol_check(z_symbols[i], y_symbols[i]))
        return {"strings": [strings], "shape": tuple(z.shape[-2:]), "size": x.shape[-2:], "checks": checks}

    def decompress(self, strings, shape, text=None, size=None) -> dict:
        eb, gc = self.entropy_bottleneck, self.gaussian_conditional
        device, dtype = self.placement
        decoders = [_stream(s) for s in strings[0]]
        z_indexes = channel_indexes((len(decoders), self.N, *shape))
        z_symbols = torch.stack([_decode_symbols(d, z_indexes[i], eb) for i, d in enumerate(decoders)])
        z_hat = eb.dequantize(z_symbols.to(device), medians(eb), dtype)
        indexes, means = self.coding_parameters(z_hat, text)
        y_symbols = torch.stack([_decode_symbols(d, indexes[i], gc) for i, d in enumerate(decoders)])
        x_hat = self.synthesize(gc.dequantize(y_symbols.to(device), means, dtype), text).clamp(0, 1)
        if size is not None:
            x_hat = crop(x_hat, compute_padding(*size, min_div=self.stride)[1])
        return {"x_hat": x_hat, "checks": [symbol_check(z, y) for z, y in zip(z_symbols, y_symbols)]}
