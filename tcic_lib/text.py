"""Caption features for the decoder: pretrained OpenAI CLIP when present, else the course's mini-CLIP.

Both are open_clip `CLIP` models read through the real CLIP BPE tokenizer; the mini-CLIP is the
same class with a small config (`build_minclip`), trained contrastively by `tcic_lib.contrastive`
and fetched by the zoo. This module only builds and loads encoders (it trains nothing and reads
no cache): `load_text_encoder` always says which one it returned.

Taught in notebooks/03_clip_text_features.
"""

from __future__ import annotations

import hashlib

import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F

from .checkpoint import CheckpointError, load_checkpoint
from .pretrained import clip_weights_path

log = logging.getLogger(__name__)

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
PRETRAINED_SPEC = "clip:ViT-B-32/openai"
DOWNLOAD_ENV = "TCIC_ALLOW_DOWNLOAD"  # set to 1 to let `clip:` specs fetch weights from the hub


class MissingWeightsError(RuntimeError):
    """Pretrained weights were asked for but are not on this machine."""


@lru_cache(maxsize=1)
def tokenizer():
    """open_clip's CLIP BPE tokenizer (its vocabulary ships in the package; works offline)."""
    import open_clip

    return open_clip.get_tokenizer("ViT-B-32")


def tokenize(captions: list[str], context_length: int = 77) -> torch.Tensor:
    """Token ids (B, context_length); logs a warning when a caption had to be truncated."""
    tok = tokenizer()
    for caption in captions:
        n = len(tok.encode(caption)) + 2  # start and end tokens
        if n > context_length:
            log.warning("caption of %d tokens truncated to %d: %.40r...", n, context_length, caption)
    return tok(list(captions), context_length=context_length)


@dataclass(frozen=True)
class MiniClipConfig:
    """The mini-CLIP's sizes (a small open_clip CLIP)."""

    embed_dim: int  # joint embedding width
    width: int  # text and image transformer width
    layers: int  # text and image transformer depth
    image_size: int  # image tower input (px)
    patch_size: int  # image tower patch (px)
    context_length: int = 77  # tokens per caption, as in CLIP

    @classmethod
    def for_images(cls, clip, image_size: int) -> "MiniClipConfig":
        """The sizes of a profile's `ClipConfig` for images of `image_size` px (patches of 1/8 the side)."""
        return cls(clip.embed_dim, clip.width, clip.layers, image_size, max(4, image_size // 8))


def build_minclip(cfg: MiniClipConfig):
    """An untrained open_clip `CLIP` of the given sizes."""
    from open_clip import CLIP
    from open_clip.model import CLIPTextCfg, CLIPVisionCfg

    heads = max(1, cfg.width // 32)
    return CLIP(
        embed_dim=cfg.embed_dim,
        vision_cfg=CLIPVisionCfg(layers=cfg.layers, width=cfg.width, head_width=32, patch_size=cfg.patch_size,
                                 image_size=cfg.image_size),
        text_cfg=CLIPTextCfg(context_length=cfg.context_length, width=cfg.width, heads=heads, layers=cfg.layers),
        output_dict=True,
    )


def normalize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """[0, 1] images -> CLIP's input: resized to `size` and standardised with OpenAI's statistics."""
    if images.shape[-1] != size or images.shape[-2] != size:
        images = F.interpolate(images, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
    mean = torch.tensor(OPENAI_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_STD, device=images.device).view(1, 3, 1, 1)
    return (images - mean) / std


IMAGES_KEPT = 20_000  # image embeddings a TextEncoder keeps


class TextEncoder:
    """A frozen CLIP: per-token and pooled caption features, image features, and a caption cache."""

    def __init__(self, model, name: str, image_size: int, key: str | None = None):
        self.model = model.eval().requires_grad_(False)
        self.name = name
        self.key = key or name  # identifies the exact weights, for caches of models trained on these features
        self.image_size = image_size
        self.context_length = int(model.positional_embedding.shape[0])
        self.dim = int(model.text_projection.shape[1] if isinstance(model.text_projection, torch.Tensor)
                       else model.text_projection.out_features)
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._images: dict[bytes, torch.Tensor] = {}  # image bytes' digest -> embedding (bounded: IMAGES_KEPT)

    def __repr__(self) -> str:
        return f"TextEncoder({self.name!r}, dim={self.dim})"

    @property
    def device(self) -> torch.device:
        return self.model.positional_embedding.device

    def to(self, device) -> "TextEncoder":
        """Move the encoder (and its caption cache) to `device`; returns itself."""
        self.model.to(device)
        self._cache = {c: (t.to(device), p.to(device)) for c, (t, p) in self._cache.items()}
        self._images = {k: v.to(device) for k, v in self._images.items()}
        return self

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        proj = self.model.text_projection
        return proj(x) if isinstance(proj, torch.nn.Linear) else x @ proj

    @torch.no_grad()
    def _encode_uncached(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        from open_clip.transformer import text_global_pool

        m = self.model
        text = tokenize(captions, self.context_length).to(self.device)
        x = m.token_embedding(text) + m.positional_embedding
        x = m.ln_final(m.transformer(x, attn_mask=m.attn_mask))  # (B, T, width)
        pooled = text_global_pool(x, text, m.text_pool_type, eos_token_id=getattr(m, "text_eos_id", None))
        tokens = self._project(x) * (text != 0).unsqueeze(-1)  # padding positions are zero
        return tokens, self._project(pooled)

    def encode(self, captions: list[str], return_mask: bool = False):
        """Captions -> (tokens (B, T, D), pooled (B, D)) [+ mask (B, T), True on real tokens].

        Pooled equals open_clip's `encode_text`. Every caption is encoded once and cached.
        """
        if isinstance(captions, str):
            raise ValueError("encode takes a list of captions, not one string")
        missing = [c for c in dict.fromkeys(captions) if c not in self._cache]
        if missing:
            tokens, pooled = self._encode_uncached(missing)
            for i, caption in enumerate(missing):
                self._cache[caption] = (tokens[i], pooled[i])
        tokens = torch.stack([self._cache[c][0] for c in captions])
        pooled = torch.stack([self._cache[c][1] for c in captions])
        if return_mask:
            return tokens, pooled, tokens.abs().sum(-1) > 0
        return tokens, pooled

    @torch.no_grad()
    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """[0, 1] images (B, 3, H, W) -> image embeddings (B, D). Each image is embedded once and kept (up to
        `IMAGES_KEPT`): the metrics of notebooks 06-07 embed every reconstruction for two scores."""
        keys = [hashlib.sha1(image.detach().cpu().float().numpy().tobytes()).digest() for image in images]
        new = {key: i for i, key in enumerate(keys) if key not in self._images}  # first place of each unseen image
        if new:
            if len(self._images) + len(new) > IMAGES_KEPT:
                self._images.clear()
            features = self.model.encode_image(normalize_images(images[list(new.values())].to(self.device),
                                                                self.image_size))
            self._images.update(zip(new, features))
        return torch.stack([self._images[key] for key in keys])


def retrieval_accuracy(encoder: TextEncoder, images: torch.Tensor, captions: list[str]) -> float:
    """Top-1 text-to-image retrieval: how often a caption's nearest image is its own."""
    image_features = F.normalize(encoder.encode_image(images), dim=-1)
    text_features = F.normalize(encoder.encode(captions)[1], dim=-1)
    best = (text_features @ image_features.T).argmax(dim=1)
    return (best == torch.arange(len(captions))).float().mean().item()


def minclip_encoder(path: Path, name: str = "minclip") -> TextEncoder:
    """The mini-CLIP saved at `path` (a checkpoint whose arch is MiniCLIP), frozen, as a `TextEncoder`."""
    state = load_checkpoint(path)
    if state["arch"] != "MiniCLIP":
        raise CheckpointError(f"{path}: holds a {state['arch']}, not a mini-CLIP")
    cfg = MiniClipConfig(**state["model_config"])
    model = build_minclip(cfg)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state["state_dict"].items()})
    return TextEncoder(model, name, cfg.image_size, key=Path(path).stem)


def pretrained_clip(weights: Path | None = None) -> TextEncoder:
    """OpenAI CLIP ViT-B/32 from a local file or cache; from the hub only if $TCIC_ALLOW_DOWNLOAD=1."""
    import open_clip

    path = weights or clip_weights_path()
    if path is None:
        if os.environ.get(DOWNLOAD_ENV) != "1" or os.environ.get("HF_HUB_OFFLINE") == "1":
            raise MissingWeightsError(
                "OpenAI CLIP ViT-B/32 weights not found: set $TCIC_CLIP_WEIGHTS to a local file, or "
                f"{DOWNLOAD_ENV}=1 (with network) to download them"
            )
        model = open_clip.create_model("ViT-B-32", pretrained="openai")
        return TextEncoder(model, PRETRAINED_SPEC, 224)
    try:
        model = open_clip.create_model("ViT-B-32-quickgelu", pretrained=str(path))
    except Exception as err:
        raise MissingWeightsError(f"{path}: not loadable as open_clip ViT-B-32 weights ({err})") from err
    return TextEncoder(model, f"{PRETRAINED_SPEC} ({path})", 224)


def load_text_encoder(spec: str = "auto", minclip_path: Path | None = None) -> TextEncoder:
    """`auto` | `clip:ViT-B-32/openai` | `minclip` | a path to ViT-B-32 weights.

    `minclip` loads the mini-CLIP checkpoint at `minclip_path` (the zoo fetches it: use
    `zoo.text_encoder`, which trains it when neither shipped nor cached). `auto` takes pretrained
    CLIP when its weights are on disk (or downloads are allowed) and the mini-CLIP otherwise; it
    never waits on the network when `HF_HUB_OFFLINE=1`.
    """
    if spec == "minclip":
        if minclip_path is None:
            raise ValueError("the mini-CLIP needs its checkpoint: use zoo.text_encoder('minclip', profile)")
        encoder = minclip_encoder(minclip_path)
    elif spec == PRETRAINED_SPEC:
        encoder = pretrained_clip()
    elif spec == "auto":
        try:
            encoder = pretrained_clip()
        except MissingWeightsError as err:
            if minclip_path is None:
                raise
            log.info("auto: %s; using the mini-CLIP", err)
            encoder = minclip_encoder(minclip_path)
    elif Path(spec).expanduser().is_file():
        encoder = pretrained_clip(Path(spec).expanduser())
    else:
        raise ValueError(f"unknown text encoder {spec!r}: use auto, minclip, {PRETRAINED_SPEC} or a weights file")
    log.info("text encoder: %s", encoder.name)
    return encoder
