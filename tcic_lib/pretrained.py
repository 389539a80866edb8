"""Where pretrained weights are found offline, and a report of which are present.

No function here touches the network: each looks only at local files and caches, so a
notebook can say what it will use before it tries (`tcic_lib.download` fetches them, when asked). Taught in notebooks/00_setup.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

CLIP_WEIGHTS_ENV = "TCIC_CLIP_WEIGHTS"
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"  # torchvision's AlexNet, used by LPIPS(net="alex")
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's FID Inception
HF_CLIP_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


@dataclass(frozen=True)
class WeightStatus:
    """Whether one set of pretrained weights is present, and where (or why not)."""

    name: str
    used_for: str
    path: Path | None
    reason: str = ""

    @property
    def available(self) -> bool:
        return self.path is not None


def hub_checkpoints() -> Path:
    """torch hub's checkpoint cache, where torchvision, torchmetrics and CompressAI look for weights."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def torch_hub_checkpoint(filename: str) -> Path | None:
    """A file in torch hub's checkpoint cache, if present."""
    path = hub_checkpoints() / filename
    return path if path.is_file() else None


def clip_weights_path(model: str = "ViT-B-32", tag: str = "openai") -> Path | None:
    """Pretrained CLIP weights on disk: `$TCIC_CLIP_WEIGHTS`, then open_clip's caches."""
    explicit = os.environ.get(CLIP_WEIGHTS_ENV)
    if explicit:
        path = Path(explicit).expanduser()
        return path if path.is_file() else None
    from open_clip.pretrained import get_pretrained_cfg

    cfg = get_pretrained_cfg(model, tag)
    if not cfg:
        return None
    hub_id = cfg.get("hf_hub", "")
    if hub_id:
        from huggingface_hub import try_to_load_from_cache

        repo_id, filename = os.path.split(hub_id)  # "org/model/" or "org/model/file.bin"
        for name in ([filename] if filename else []) + list(HF_CLIP_FILES):
            hit = try_to_load_from_cache(repo_id, name)
            if isinstance(hit, str):
                return Path(hit)
    url = cfg.get("url", "")
    if url:
        path = Path("~/.cache/clip").expanduser() / os.path.basename(url)
        if path.is_file():
            return path
    return None


def weights_report() -> list[WeightStatus]:
    """The pretrained weights the course can use, each present or missing with a reason."""
    clip = clip_weights_path()
    alex = torch_hub_checkpoint(ALEXNET_FILE)
    inception = torch_hub_checkpoint(INCEPTION_FILE)
    compressai = [q for q in range(1, 9) if torch_hub_checkpoint(compressai_hyperprior_file(q)) is not None]
    return [
        WeightStatus(
            "OpenAI CLIP ViT-B-32", "text encoder (else the course's mini-CLIP)", clip,
            "" if clip else f"not in ${CLIP_WEIGHTS_ENV}, the Hugging Face cache or ~/.cache/clip",
        ),
        WeightStatus(
            "AlexNet (LPIPS)", "calibrated LPIPS (else uncalibrated, labelled so)", alex,
            "" if alex else f"{ALEXNET_FILE} not in the torch hub cache",
        ),
        WeightStatus(
            "Inception-v3 (FID)", "FID/KID with the standard features (else other named features)", inception,
            "" if inception else f"{INCEPTION_FILE} not in the torch hub cache",
        ),
        WeightStatus(
            "CompressAI bmshj2018-hyperprior", f"a pretrained codec for photos (qualities {compressai or 'none downloaded'})",
            torch_hub_checkpoint(compressai_hyperprior_file(compressai[0])) if compressai else None,
            "" if compressai else "no quality in the torch hub cache",
        ),
    ]


def compressai_hyperprior_url(quality: int) -> str:
    """Where CompressAI publishes its pretrained bmshj2018-hyperprior (MSE) of this quality."""
    from compressai.zoo import image as compressai_zoo

    return compressai_zoo.model_urls["bmshj2018-hyperprior"]["mse"][quality]


def compressai_hyperprior_file(quality: int) -> str:
    """That checkpoint's file name in the torch hub cache."""
    return os.path.basename(compressai_hyperprior_url(quality))
