import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Tests never wait on the network, whatever the caller's environment says.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TCIC_PROFILE", "quick")


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
