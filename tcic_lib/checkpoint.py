"""One checkpoint format for everything the course trains, written atomically, loaded safely.

A checkpoint is a dict that `torch.load(..., weights_only=True)` reads:

    {"format": 2, "arch": "TCIC", "model_config": {...}, "state_dict": {...},
     "train_config": {...}, "step": 4000, "history": {"train": [...], "val": [...]},
     "extra": {...}}          # loop-specific state: optimisers, a discriminator, losses

`arch` + `model_config` rebuild the model (`architectures.model_from_checkpoint`, or the
mini-CLIP's own config), so a file names what it holds and a wrong one is refused with one clear line.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

FORMAT = 2
REQUIRED = ("arch", "model_config", "state_dict")


class CheckpointError(ValueError):
    """A file that is not a checkpoint of the kind asked for; the message is one line."""


def write_atomically(state: dict, path: Path) -> None:
    """torch.save through a temporary file in the same folder, so a crash (or a second process
    writing the same file) never leaves a half-written checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def make_state(model, step: int, history: dict, train_config: dict, extra: dict | None = None) -> dict:
    """The checkpoint dict of a codec (or any module with `config()`) at `step`."""
    return {"format": FORMAT, "arch": type(model).__name__, "model_config": model.config(),
            "state_dict": model.state_dict(), "train_config": train_config, "step": int(step),
            "history": history, "extra": extra or {}}


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    """A checkpoint's contents (weights_only=True); `CheckpointError` in one line for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001  torch raises many kinds for a file that is not a checkpoint
        raise CheckpointError(f"{path}: not a tcic checkpoint (expected a file written by `tcic train`; "
                              f"reading it failed with {type(err).__name__})") from None
    if not isinstance(state, dict) or not set(REQUIRED) <= state.keys():
        raise CheckpointError(f"{path}: not a tcic checkpoint (expected a dict with {', '.join(REQUIRED)})")
    history = state.get("history") or {}
    if "rows" in history:  # format 1 fine-tuning runs logged their steps under "rows"
        history = {"train": history["rows"], "val": []}
    state["history"] = {"train": history.get("train", []), "val": history.get("val", [])}
    return state
