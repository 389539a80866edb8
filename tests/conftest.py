import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

# Tests never wait on the network, whatever the caller's environment says.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TCIC_PROFILE", "quick")


class FakeEncoder:
    """Deterministic caption features (a hash of the text, one feature per word), so tests need no CLIP.

    Same interface as `tcic_lib.text.TextEncoder`: `encode(captions, return_mask)` gives per-token
    features (B, T, dim) with padding zeroed, pooled features (B, dim) and the token mask.
    """

    name = key = "fake"
    dim = 8
    context_length = 12

    def _word(self, word: str) -> torch.Tensor:
        return torch.randn(self.dim, generator=torch.Generator().manual_seed(sum(map(ord, word)) * 31 + len(word)))

    def encode(self, captions, return_mask=False):
        if isinstance(captions, str):
            raise ValueError("encode takes a list of captions, not one string")
        tokens = torch.zeros(len(captions), self.context_length, self.dim)
        mask = torch.zeros(len(captions), self.context_length, dtype=torch.bool)
        for i, caption in enumerate(captions):
            words = (["<start>"] + caption.split() + ["<end>"])[: self.context_length]
            for j, word in enumerate(words):
                tokens[i, j], mask[i, j] = self._word(word), True
        pooled = tokens.sum(1) / mask.sum(1, keepdim=True)
        return (tokens, pooled, mask) if return_mask else (tokens, pooled)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A fresh, empty model cache and no shipped checkpoints: the zoo trains what it is asked for."""
    monkeypatch.setenv("TCIC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TCIC_SHIPPED", str(tmp_path / "no-shipped"))
    return tmp_path / "cache"
