"""How the decoder reads the caption: fusion blocks that modulate image features with text.

Every block has one interface, `block(x, text) -> x'` with `x` (B, C, H, W) and `text` a
`TextCondition` (or None for "no caption"), and every block is the identity at initialisation,
so adding one to a decoder changes nothing until training gives it a reason.

- `none`: the identity, no parameters (the plain hyperprior decoder).
- `concat`: the caption's vector broadcast over the image, concatenated, mixed by a 1x1 conv.
- `film`: feature-wise affine modulation, x * (1 + gamma(t)) + beta(t) (Perez et al. 2018).
- `ssa`: Semantic-Spatial Aware block after SSA-GAN (Liao et al., CVPR 2022): a mask predicted
  from the image features (and, with `text_mask=True`, from the caption too) says *where* a
  text-adaptive affine acts: x + mask * (gamma(t) * norm(x) + beta(t)).
- `xattn`: every pixel attends to the caption's tokens (spatial binding of words to places).

What TCIC's abstract fixes is the SSA idea (semantic mask + text-adaptive pixel-level affine);
the residual form, the normalisation and the text-aware mask are our design.

Taught in notebooks/04_ssa_block.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

FUSION_REVISION = 2  # 2: SSA mask from text-queried keys (1 was a full 3x3 conv stack)


@dataclass
class TextCondition:
    """A batch of caption features as the decoder sees them."""

    pooled: torch.Tensor  # (B, D) sentence embedding
    tokens: torch.Tensor | None = None  # (B, T, D) per-token features
    mask: torch.Tensor | None = None  # (B, T) True on real tokens

    @property
    def dim(self) -> int:
        return self.pooled.shape[-1]


def _zero_linear(d_in: int, d_out: int) -> nn.Linear:
    layer = nn.Linear(d_in, d_out)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def _text_mlp(text_dim: int, channels: int, hidden: int) -> nn.Sequential:
    """text -> per-channel parameters; the last layer starts at zero."""
    return nn.Sequential(nn.Linear(text_dim, hidden), nn.ReLU(inplace=True), _zero_linear(hidden, channels))


def _pooled(text: TextCondition | None, x: torch.Tensor, text_dim: int) -> torch.Tensor:
    """The sentence vector, or zeros ("no caption": the centred mean caption)."""
    if text is None:
        return x.new_zeros(x.shape[0], text_dim)
    if text.pooled.shape != (x.shape[0], text_dim):
        raise ValueError(f"caption features {tuple(text.pooled.shape)} do not fit a batch of {x.shape[0]} "
                         f"and text_dim {text_dim}")
    return text.pooled


class NoFusion(nn.Module):
    """The decoder ignores the caption."""

    def __init__(self, channels: int, text_dim: int):
        super().__init__()

    def forward(self, x: torch.Tensor, text: TextCondition | None = None) -> torch.Tensor:
        return x


class ConcatFusion(nn.Module):
    """x + conv1x1([x, broadcast(proj(t))]); the conv starts at zero."""

    def __init__(self, channels: int, text_dim: int, hidden: int = 64):
        super().__init__()
        self.text_dim = text_dim
        self.project = nn.Linear(text_dim, hidden)
        self.mix = nn.Conv2d(channels + hidden, channels, kernel_size=1)
        nn.init.zeros_(self.mix.weight)
        nn.init.zeros_(self.mix.bias)

    def forward(self, x: torch.Tensor, text: TextCondition | None = None) -> torch.Tensor:
        t = self.project(_pooled(text, x, self.text_dim))[..., None, None].expand(-1, -1, *x.shape[-2:])
        return x + self.mix(torch.cat([x, t], dim=1))


class FiLMFusion(nn.Module):
    """x * (1 + gamma(t)) + beta(t), the same everywhere in the image."""

    def __init__(self, channels: int, text_dim: int, hidden: int = 64):
        super().__init__()
        self.text_dim = text_dim
        self.gamma = _text_mlp(text_dim, channels, hidden)
        self.beta = _text_mlp(text_dim, channels, hidden)

    def forward(self, x: torch.Tensor, text: TextCondition | None = None) -> torch.Tensor:
        t = _pooled(text, x, self.text_dim)
        return x * (1 + self.gamma(t)[..., None, None]) + self.beta(t)[..., None, None]


class SSAFusion(nn.Module):
    """Semantic-spatial aware modulation: a predicted mask says where the caption's affine acts.

    mask = sigmoid(<k(x), w + q(t)> + b);  x' = x + mask * (gamma(t) * norm(x) + beta(t))

    k(x) is a small per-pixel key (1x1 conv, then a depthwise 3x3 for neighbourhood context) and
    q(t) a query from the caption, so the caption asks "where is what I describe?". With
    `text_mask=False` the mask reads the image only (w alone). Keys are `mask_dim` wide (16): the
    head costs about C * 16 multiply-adds per pixel, a fraction of one synthesis stage.
    """

    def __init__(self, channels: int, text_dim: int, hidden: int = 64, text_mask: bool = True, mask_dim: int = 16):
        super().__init__()
        self.text_dim, self.text_mask = text_dim, text_mask
        self.mask_keys = nn.Sequential(
            nn.Conv2d(channels, mask_dim, kernel_size=1), nn.ReLU(inplace=True),
            nn.Conv2d(mask_dim, mask_dim, kernel_size=3, padding=1, groups=mask_dim),
        )
        self.mask_weight = nn.Parameter(torch.randn(mask_dim) / mask_dim**0.5)
        self.mask_bias = nn.Parameter(torch.zeros(()))
        self.mask_query = _text_mlp(text_dim, mask_dim, hidden) if text_mask else None
        self.norm = nn.GroupNorm(1, channels, affine=False)  # batch-independent: decoding is per image
        self.gamma = _text_mlp(text_dim, channels, hidden)
        self.beta = _text_mlp(text_dim, channels, hidden)
        self.last_mask: torch.Tensor | None = None  # (B, 1, H, W) of the latest call, for plots

    def predict_mask(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        query = self.mask_weight.expand(x.shape[0], -1)
        if self.mask_query is not None:
            query = query + self.mask_query(t)
        logits = (self.mask_keys(x) * query[..., None, None]).sum(1, keepdim=True) + self.mask_bias
        return torch.sigmoid(logits)

    def forward(self, x: torch.Tensor, text: TextCondition | None = None) -> torch.Tensor:
        t = _pooled(text, x, self.text_dim)
        mask = self.predict_mask(x, t)  # (B, 1, H, W)
        self.last_mask = mask.detach()
        # gamma * norm(x) + beta == scale * x + shift with per-image, per-channel scale and shift:
        # two passes over the (large) feature map instead of six
        flat = x.flatten(1)
        mean = flat.mean(1)
        var = (flat.square().mean(1) - mean.square()).clamp_min(0)  # faster than var_mean on CPU
        scale = self.gamma(t) * torch.rsqrt(var + self.norm.eps)[:, None]  # (B, C)
        shift = self.beta(t) - scale * mean[:, None]
        affine = torch.addcmul(shift[..., None, None], scale[..., None, None], x)
        return torch.addcmul(x, mask, affine)


class CrossAttentionFusion(nn.Module):
    """x + out(attention(queries from pixels, keys/values from caption tokens)); `out` starts at zero."""

    def __init__(self, channels: int, text_dim: int, hidden: int = 64, heads: int = 4):
        super().__init__()
        self.text_dim = text_dim
        self.query = nn.Conv2d(channels, hidden, kernel_size=1)
        self.key_value = nn.Linear(text_dim, 2 * hidden)
        self.attention = nn.MultiheadAttention(hidden, heads, batch_first=True)
        self.out = nn.Conv2d(hidden, channels, kernel_size=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, text: TextCondition | None = None) -> torch.Tensor:
        if text is None or text.tokens is None:
            return x  # no tokens to attend to; the zero-initialised output would add nothing at init anyway
        b, _, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # (B, HW, hidden)
        k, v = self.key_value(text.tokens).chunk(2, dim=-1)  # (B, T, hidden) each
        padding = ~text.mask if text.mask is not None else None
        attended, _ = self.attention(q, k, v, key_padding_mask=padding, need_weights=False)
        return x + self.out(attended.transpose(1, 2).reshape(b, -1, h, w))


def fourier_positions(h: int, w: int, frequencies: int, device=None) -> torch.Tensor:
    """(4 * frequencies, h, w): sin/cos of normalised pixel-centre coordinates at 1, 2, 4, ... cycles per side.

    Normalised by the map's own size, so "top left" means the same place at every resolution.
    """
    ys = (torch.arange(h, device=device) + 0.5) / h
    xs = (torch.arange(w, device=device) + 0.5) / w
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"))  # (2, h, w)
    angles = (2 * torch.pi * 2.0 ** torch.arange(frequencies, device=device))[:, None, None, None] * grid  # (F, 2, h, w)
    return torch.cat([angles.sin(), angles.cos()]).reshape(-1, h, w)


class PositionalCrossAttentionFusion(nn.Module):
    """Words bound to places: pixels ask the caption "what is here?" by their position and features.

    tokens' = adapter(tokens) (one self-attention layer, so a place word can gather its object's
    words); q = W_q x + P(pos); x' = x + out(MLP([attend(q, [null; tokens']), pos])).
    A learned null token is always present, so a missing caption (or a dropped one) is attended to
    as "nothing said here". Unlike `xattn`, the queries know where they are, so the block can draw
    a named object in its named place even when the image latent carries nothing there.
    """

    def __init__(self, channels: int, text_dim: int, hidden: int = 64, heads: int = 4, frequencies: int = 5):
        super().__init__()
        self.text_dim, self.frequencies = text_dim, frequencies
        pos_dim = 4 * frequencies
        self.adapter = nn.TransformerEncoderLayer(text_dim, nhead=max(1, text_dim // 32), dim_feedforward=2 * text_dim,
                                                  dropout=0.0, batch_first=True)
        self.null = nn.Parameter(torch.zeros(1, 1, text_dim))
        self.query = nn.Conv2d(channels + pos_dim, hidden, kernel_size=1)
        self.key_value = nn.Linear(text_dim, 2 * hidden)
        self.attention = nn.MultiheadAttention(hidden, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Conv2d(hidden + pos_dim, 2 * hidden, kernel_size=1), nn.GELU(),
                                 nn.Conv2d(2 * hidden, channels, kernel_size=1))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, x: torch.Tensor, text: TextCondition | None = None) -> torch.Tensor:
        b, _, h, w = x.shape
        pos = fourier_positions(h, w, self.frequencies, x.device).expand(b, -1, -1, -1)
        tokens, padding = self.null.expand(b, -1, -1), torch.zeros(b, 1, dtype=torch.bool, device=x.device)
        if text is not None and text.tokens is not None:
            if text.tokens.shape[0] != b or text.tokens.shape[-1] != self.text_dim:
                raise ValueError(f"caption tokens {tuple(text.tokens.shape)} do not fit a batch of {b} "
                                 f"and text_dim {self.text_dim}")
            mask = text.mask if text.mask is not None else torch.ones(text.tokens.shape[:2], dtype=torch.bool)
            # the null token leads every caption, so no row is all padding (a dropped caption)
            tokens = torch.cat([tokens, text.tokens], dim=1)
            padding = torch.cat([padding, ~mask.to(x.device)], dim=1)
        tokens = self.adapter(tokens, src_key_padding_mask=padding)
        q = self.query(torch.cat([x, pos], dim=1)).flatten(2).transpose(1, 2)  # (B, HW, hidden)
        k, v = self.key_value(tokens).chunk(2, dim=-1)  # (B, 1 + T, hidden) each
        attended, _ = self.attention(q, k, v, key_padding_mask=padding, need_weights=False)
        attended = attended.transpose(1, 2).reshape(b, -1, h, w)
        return x + self.mlp(torch.cat([attended, pos], dim=1))


FUSIONS: dict[str, type[nn.Module]] = {
    "none": NoFusion, "concat": ConcatFusion, "film": FiLMFusion, "ssa": SSAFusion, "xattn": CrossAttentionFusion,
    "pxattn": PositionalCrossAttentionFusion,
}


def build_fusion(kind: str, channels: int, text_dim: int) -> nn.Module:
    """A fusion block by name: none, concat, film, ssa or xattn."""
    try:
        return FUSIONS[kind](channels, text_dim)
    except KeyError:
        raise ValueError(f"unknown fusion {kind!r}; known: {', '.join(FUSIONS)}") from None
