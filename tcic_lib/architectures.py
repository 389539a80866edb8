"""Every codec architecture by name: what checkpoints and bitstreams record, and how to rebuild it."""

from __future__ import annotations

from .models import Codec, Factorized, Hyperprior
from .tcic import TCIC, ConditionalTCIC

ARCHITECTURES: dict[str, type[Codec]] = {cls.__name__: cls for cls in (Factorized, Hyperprior, TCIC, ConditionalTCIC)}


def build_model(arch: str, **config) -> Codec:
    """An architecture by class name and its config, e.g. `build_model("Hyperprior", N=64, M=96, hyper_stages=1)`."""
    try:
        return ARCHITECTURES[arch](**config)
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}") from None
