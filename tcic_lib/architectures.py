"""Every codec architecture by name: what checkpoints and bitstreams record, and how to rebuild one from a checkpoint."""

from __future__ import annotations

from pathlib import Path

from .checkpoint import CheckpointError, load_checkpoint
from .models import Codec, Factorized, Hyperprior
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
    if state["arch"] not in ARCHITECTURES:
        raise CheckpointError(f"{path}: holds a {state['arch']}, not a codec ({', '.join(ARCHITECTURES)})")
    model = build_model(state["arch"], **state["model_config"])
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit {model.arch}: {str(err).splitlines()[0]}") from None
    model.update(force=True)
    return model.eval()
