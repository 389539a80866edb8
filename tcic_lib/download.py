"""Fetch the pretrained weights the course uses when present: one explicit call, never run offline or by tests.

`fetch_weights()` downloads OpenAI CLIP ViT-B/32, LPIPS' AlexNet, FID's Inception and CompressAI's
pretrained bmshj2018-hyperprior qualities into the caches where `tcic_lib.pretrained` (and the
libraries themselves) look for them, so every label switches from its offline stand-in to the
real metric on its own. Colab's setup cell runs it (`tcic fetch-weights`); `make test` and
`make course` never do. `sources` replaces any URL (a mirror, or a `file://` path in tests).

Taught in notebooks/00_setup.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from .pretrained import (ALEXNET_FILE, INCEPTION_FILE, compressai_hyperprior_file, compressai_hyperprior_url,
                         hub_checkpoints)

log = logging.getLogger(__name__)

CLIP_URL = ("https://openaipublic.azureedge.net/clip/models/"
            "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt")
ALEXNET_URL = f"https://download.pytorch.org/models/{ALEXNET_FILE}"
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}"
COMPRESSAI_QUALITIES = (1, 2, 3, 4, 5)  # the ones whose N, M are our Hyperprior(128, 192, 2)


def weight_files() -> dict[str, tuple[str, Path]]:
    """name -> (URL, where it goes): the standard cache of the library that reads it."""
    files = {"clip": (CLIP_URL, Path("~/.cache/clip").expanduser() / os.path.basename(CLIP_URL)),
             "alexnet": (ALEXNET_URL, hub_checkpoints() / ALEXNET_FILE),
             "inception": (INCEPTION_URL, hub_checkpoints() / INCEPTION_FILE)}
    for q in COMPRESSAI_QUALITIES:
        files[f"bmshj2018-hyperprior-{q}"] = (compressai_hyperprior_url(q), hub_checkpoints() / compressai_hyperprior_file(q))
    return files


def fetch_weights(names: list[str] | None = None, sources: dict[str, str] | None = None,
                  progress: bool = True) -> dict[str, Path]:
    """Download the named weights (default: all) that are not on disk yet; return where each one is."""
    files = weight_files()
    unknown = set(names or []) - set(files)
    if unknown:
        raise ValueError(f"unknown weights {sorted(unknown)}; known: {', '.join(files)}")
    placed = {}
    for name in names or list(files):
        url, dest = files[name]
        url = (sources or {}).get(name, url)
        if not dest.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            log.info("downloading %s from %s", name, url)
            torch.hub.download_url_to_file(url, str(dest), progress=progress)
        placed[name] = dest
    return placed
