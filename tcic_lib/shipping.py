"""Shipped checkpoints: trained once, stored in fp16 with a sha256 in a manifest, installed into the cache.

A CPU learner cannot train long enough to see every effect the course shows, so the models the
default (`cpu`) profile needs ship in `checkpoints/`: fp16 weights, no optimiser state, thinned
training logs, and a manifest entry per file (sha256, bytes and its model-card line: command,
steps, wall time, validation numbers). `install_shipped` copies one into the model cache in fp32
before the zoo would train it; a file that fails its sha256 check is ignored with a warning.
See checkpoints/README.md (written by scripts/ship_checkpoints.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import torch

from .architectures import ARCHITECTURES, model_from_state
from .bitstream import model_fingerprint
from .checkpoint import load_checkpoint, write_atomically

log = logging.getLogger(__name__)

SHIPPED_ENV = "TCIC_SHIPPED"
MANIFEST = "manifest.json"
LOG_THINNING = 10  # shipped training logs keep every 10th step; validation rows all stay
KEPT = ("format", "arch", "model_config", "state_dict", "train_config", "step", "history", "extra")


def shipped_dir() -> Path:
    """`$TCIC_SHIPPED`, else the repository's checkpoints/ folder."""
    return Path(os.environ.get(SHIPPED_ENV) or Path(__file__).resolve().parent.parent / "checkpoints")


def shipped_manifest(folder: Path | None = None) -> dict:
    """key -> {"file", "sha256", "bytes", ...card fields} of every shipped checkpoint (empty when none)."""
    path = Path(folder or shipped_dir()) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {}


def write_manifest(manifest: dict, folder: Path | None = None) -> None:
    (Path(folder or shipped_dir()) / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _cast_floats(value, dtype: torch.dtype):
    """The floating-point tensors of a (nested) state dict cast to `dtype`; everything else as it is."""
    if isinstance(value, torch.Tensor):
        return value.to(dtype) if value.is_floating_point() else value
    if isinstance(value, dict):
        return {k: _cast_floats(v, dtype) for k, v in value.items()}
    return value


def install_shipped(key: str, dest: Path) -> bool:
    """Copy the shipped checkpoint `key` to `dest` in fp32 if `dest` is missing; False when none fits."""
    if dest.is_file():
        return False
    entry = shipped_manifest().get(key)
    if entry is None:
        return False
    source = shipped_dir() / entry["file"]
    if not source.is_file() or sha256(source) != entry["sha256"]:
        log.warning("zoo: shipped %s is missing or fails its sha256 check; training instead", source)
        return False
    state = load_checkpoint(source)
    state["state_dict"] = _cast_floats(state["state_dict"], torch.float32)
    state["extra"] = _cast_floats(state.get("extra", {}), torch.float32)
    write_atomically(state, dest)
    log.debug("zoo: %s from shipped %s", key, source)
    return True


def fingerprint(state: dict) -> str | None:
    """The weights fingerprint a .tcic file made by this (shipped) codec records; None for other models."""
    if state["arch"] not in ARCHITECTURES:
        return None
    return model_fingerprint(model_from_state(state | {"state_dict": _cast_floats(state["state_dict"], torch.float32)})).hex()


def ship(checkpoint: Path, out_dir: Path | None = None, card: dict | None = None) -> dict:
    """Store a finished checkpoint in fp16 (no optimiser state, thinned logs) and list it in the manifest."""
    checkpoint, out_dir = Path(checkpoint), Path(out_dir or shipped_dir())
    state = load_checkpoint(checkpoint)
    state = {k: v for k, v in state.items() if k in KEPT}  # e.g. the top-level optimiser states of format 1
    state["state_dict"] = _cast_floats(state["state_dict"], torch.float16)
    state["extra"] = {k: _cast_floats(v, torch.float16) for k, v in state.get("extra", {}).items() if not k.startswith("opt")}
    state["history"]["train"] = state["history"]["train"][::LOG_THINNING]
    out = out_dir / checkpoint.name
    write_atomically(state, out)
    manifest = shipped_manifest(out_dir)
    entry = {"file": out.name, "sha256": sha256(out), "bytes": out.stat().st_size, "fingerprint": fingerprint(state)}
    manifest[checkpoint.stem] = entry | (card or {})
    write_manifest(manifest, out_dir)
    return manifest[checkpoint.stem]


RECIPE_STUDY = "recipe_study.json"  # benchmarks/recipe_study.py's result for the shipped profile
GAN_STUDY = "gan_study.json"  # benchmarks/gan_study.py's


def _study(name: str, folder: Path | None) -> dict | None:
    path = Path(folder or shipped_dir()) / name
    return json.loads(path.read_text()) if path.is_file() else None


def recipe_study(folder: Path | None = None) -> dict | None:
    """The shipped result of the ultra-low recipe study ({"profile", "summary", "rows", "chosen"}), or None."""
    return _study(RECIPE_STUDY, folder)


def gan_study(folder: Path | None = None) -> dict | None:
    """The shipped result of the GAN study at the lowest ultra-low rate (`benchmarks/gan_study.py`), or None."""
    return _study(GAN_STUDY, folder)
