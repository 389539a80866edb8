"""Entropy-model parameters computed in integers, so a file decodes the same on every machine.

The rANS decoder must pick, for every symbol, exactly the table the encoder picked. A hyperprior
picks y's table from `scales = h_s(z_hat)`, a float network: a batch of another size, another
thread count, BLAS build or a GPU sums its products in another order, the scales move by ~1e-7,
and a scale that sits next to a table boundary lands on the other side. The decoder then reads
every later symbol with the wrong probabilities and returns garbage (measured here: once in
100-400 files coded in a batch and decoded alone).

Ballé, Johnston and Minnen ("Integer networks for data compression with latent-variable models",
ICLR 2019) remove the cause: compute the hyper-synthesis in integer arithmetic. We do the same
after training, for any `h_s` made of convolutions, transposed convolutions and ReLUs:

- weights and biases are rounded to multiples of 2**-FRACTION_BITS, activations likewise after
  every layer (round half to even: the same on every IEEE machine);
- each layer's sums of products then are sums of *integers*. They are computed in float64,
  where every integer below 2**53 is exact, so neither the order of the sum (threads, BLAS,
  batch size) nor fused multiply-adds can change a single bit. A bound on every sum is checked
  before it is computed; a file whose latents would overflow it is refused;
- convolutions run as explicit im2col + matrix product on the CPU (never an FFT or Winograd
  algorithm, which round), whatever device the model lives on: z is 1/16 to 1/64 the size of
  the image per side, so this costs little.

Rounding the weights to 2**-16 moves the scales by ~1e-5 of their size: a negligible rate cost,
and the same at both ends. The means of a mean-and-scale model need no such care: they shift
y_hat, never the table a symbol is read with (a 1e-7 difference in a mean moves a pixel by ~1e-7).
What remains a float is checked instead: `bitstream` stores a CRC-16 of the coded symbols, so
any desynchronisation is reported, never returned as an image.

Taught in notebooks/02_hyperprior.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

FRACTION_BITS = 16  # weights, biases and activations on a grid of 2**-16
EXACT_LIMIT = 2.0**53  # float64 holds every integer below this exactly


class InexactError(ValueError):
    """An integer computation would leave the range float64 holds exactly (implausible latents)."""


def to_grid(x: torch.Tensor, bits: int = FRACTION_BITS) -> torch.Tensor:
    """`x` in units of 2**-bits, rounded to integers (float64 on the CPU)."""
    return torch.round(x.detach().to("cpu", torch.float64) * 2.0**bits)


def _as_conv(layer: nn.Module) -> tuple[torch.Tensor, torch.Tensor, int, int, int]:
    """(weight (out, in, k, k), bias, stride, padding, upsampling) of a layer as a stride-1-or-more convolution.

    A transposed convolution is a convolution over its input with zeros inserted between pixels
    (`upsampling`), padded by k - 1 - padding, with the kernel flipped and its in/out swapped.
    """
    if layer.groups != 1 or layer.dilation != (1, 1) or len(set(layer.kernel_size)) != 1:
        raise ValueError(f"integer networks here take plain square convolutions, not {layer}")
    bias = layer.bias if layer.bias is not None else torch.zeros(layer.out_channels)
    k, s, p = layer.kernel_size[0], layer.stride[0], layer.padding[0]
    if isinstance(layer, nn.ConvTranspose2d):
        weight = layer.weight.flip(-1, -2).transpose(0, 1)
        return weight, bias, 1, k - 1 - p, s
    return layer.weight, bias, s, p, 1


class IntegerConv:
    """One convolution in integer arithmetic: integer activations in, integer sums out (units 2**-2b)."""

    def __init__(self, layer: nn.Module, bits: int = FRACTION_BITS):
        weight, bias, self.stride, self.padding, self.upsampling = _as_conv(layer)
        self.output_padding = layer.output_padding[0] if isinstance(layer, nn.ConvTranspose2d) else 0
        self.kernel = weight.shape[-1]
        self.weight = to_grid(weight, bits).reshape(weight.shape[0], -1)  # (out, in * k * k)
        self.bias = to_grid(bias, 2 * bits)
        self.bound = self.weight.abs().sum(1).max().item()  # largest sum of |w| any output sees

    def __call__(self, a: torch.Tensor) -> torch.Tensor:
        largest = a.abs().max().item() if a.numel() else 0.0
        if largest * self.bound + self.bias.abs().max().item() >= EXACT_LIMIT:
            raise InexactError(f"latent values up to {largest * 2.0**-FRACTION_BITS:.3g} overflow the integer "
                               "hyper-synthesis: not a latent this model could have made")
        if self.upsampling > 1:
            b, c, h, w = a.shape
            dilated = a.new_zeros(b, c, (h - 1) * self.upsampling + 1, (w - 1) * self.upsampling + 1)
            dilated[..., :: self.upsampling, :: self.upsampling] = a
            a = dilated
        before, after = self.padding, self.padding + self.output_padding
        a = F.pad(a, (before, after, before, after))
        b, _, h, w = a.shape
        cols = F.unfold(a, self.kernel, stride=self.stride)  # (B, in * k * k, L): gathers, no arithmetic
        out = self.weight @ cols + self.bias[:, None]  # integer products and sums below 2**53: exact
        h_out, w_out = (h - self.kernel) // self.stride + 1, (w - self.kernel) // self.stride + 1
        return out.reshape(b, -1, h_out, w_out)


class IntegerNetwork:
    """A `nn.Sequential` of convolutions, transposed convolutions and ReLUs, evaluated in integers.

    `IntegerNetwork(h_s)(z_hat)` equals `h_s(z_hat)` to ~1e-5 and is bit-identical on every
    machine, batch size and thread count. Build it after training (it copies the weights).
    """

    def __init__(self, network: nn.Sequential, bits: int = FRACTION_BITS):
        self.bits = bits
        self.layers: list = []
        for layer in network:
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                self.layers.append(IntegerConv(layer, bits))
            elif isinstance(layer, nn.ReLU):
                self.layers.append(torch.relu)
            else:
                raise ValueError(f"integer networks here take Conv2d, ConvTranspose2d and ReLU, not {type(layer).__name__}")

    def integers(self, x: torch.Tensor) -> torch.Tensor:
        """The output in units of 2**-bits: integer-valued float64 on the CPU, the same everywhere."""
        a = to_grid(x, self.bits)
        for layer in self.layers:
            a = layer(a)
            if isinstance(layer, IntegerConv):
                a = torch.round(a * 2.0**-self.bits)  # back to 2**-bits: exact division, then round half to even
        return a

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.integers(x) * 2.0**-self.bits


def scale_indexes(scales: torch.Tensor, scale_table: torch.Tensor) -> torch.Tensor:
    """Which table each scale codes with: the number of table entries (but the last) below it.

    Matches CompressAI's `GaussianConditional.build_indexes` (scales below the first entry take
    index 0), computed here on the float64 output of an integer network, so it is the same everywhere.
    """
    table = scale_table.detach().to("cpu", torch.float64)[:-1].contiguous()
    return torch.searchsorted(table, scales.to("cpu", torch.float64).contiguous(), right=False).int()
