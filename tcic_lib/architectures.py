"""Every codec architecture by name: what checkpoints and bitstreams record, and how to rebuild one from a checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch

from .checkpoint import CheckpointError, load_checkpoint
from .models import Codec, Factorized, Hyperprior
from .pretrained import compressai_hyperprior_file, torch_hub_checkpoint
from .tcic import TCIC, ConditionalTCIC

ARCHITECTURES: dict[str, type[Codec]] = {cls.__name__: cls for cls in (Factorized, Hyperprior, TCIC, ConditionalTCIC)}


def build_model(arch: str, **config) -> Codec:
    """An architecture by class name and its config, e.g. `build_model("Hyperprior", N=64, M=96, hyper_stages=1)`."""
    try:
        return ARCHITECTURES[arch](**config)
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}") from None


def model_from_checkpoint(path: Path, expect_arch: str | None = None):
    """Rebuild the codec a checkpoint describes, ready to code (update() already run)."""
    state = load_checkpoint(path)
    if expect_arch and state["arch"] != expect_arch:
        raise CheckpointError(f"{path}: holds a {state['arch']} model, expected {expect_arch}")
    return model_from_state(state, source=str(path))


def model_from_state(state: dict, source: str = "checkpoint"):
    """The codec of a loaded checkpoint `state`, ready to code; `source` names it in errors."""
    if state["arch"] not in ARCHITECTURES:
        raise CheckpointError(f"{source}: holds a {state['arch']}, not a codec ({', '.join(ARCHITECTURES)})")
    model = build_model(state["arch"], **state["model_config"])
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{source}: weights do not fit {model.arch}: {str(err).splitlines()[0]}") from None
    model.update(force=True)
    return model.eval()


def pretrained_hyperprior(quality: int) -> Hyperprior | None:
    """CompressAI's pretrained bmshj2018-hyperprior (MSE) as the course's `Hyperprior(128, 192, 2)`,
    from the torch hub cache (`tcic fetch-weights` puts it there); None when its file is missing.

    Same layers, same names: the state dict loads key by key, so a pretrained codec codes real
    photos through the course's own bitstream.
    """
    from compressai.zoo import image as compressai_zoo
    from compressai.zoo.pretrained import load_pretrained

    path = torch_hub_checkpoint(compressai_hyperprior_file(quality))
    if path is None:
        return None
    N, M = compressai_zoo.cfgs["bmshj2018-hyperprior"][quality]
    model = Hyperprior(N, M, hyper_stages=2)
    model.load_state_dict(load_pretrained(torch.load(path, map_location="cpu", weights_only=True)))
    model.update(force=True)
    return model.eval()
