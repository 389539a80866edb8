"""Colab setup: install what Colab's image lacks, without touching its torch, torchvision or numpy.

Every notebook's first cell clones the course and runs `python -m tcic_lib.course.colab` from
the clone (only the standard library is imported here, so it runs before anything is installed).
The list of packages lives in one place, `[tool.tcic.colab]` of pyproject.toml, and each is
installed with `--no-deps` only when its module is missing: ordinary dependency resolution
would downgrade Colab's numpy (compressai declares numpy<2) and replace its torch. The list
therefore names the dependencies those packages need and Colab lacks as well (ftfy for
open_clip's tokenizer, lightning-utilities for torchmetrics, torch-geometric, which compressai
imports); tests/test_colab.py checks it against the imports the course makes and runs this
installer in a simulated Colab environment.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _toml(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        from pip._vendor import tomli as tomllib
    return tomllib.loads(path.read_text(encoding="utf-8"))


def colab_settings(repo: Path = REPO) -> dict:
    """`[tool.tcic.colab]` of the repository's pyproject.toml."""
    return _toml(Path(repo) / "pyproject.toml")["tool"]["tcic"]["colab"]


def missing_packages(no_deps: dict[str, str]) -> list[str]:
    """The distributions of `no_deps` (distribution -> module it provides) whose module is not importable."""
    return [dist for dist, module in no_deps.items() if importlib.util.find_spec(module) is None]


def install_command(repo: Path = REPO) -> list[str]:
    """`pip install --no-deps <missing packages> -e <repo>`."""
    missing = missing_packages(colab_settings(repo)["no-deps"])
    return [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *missing, "-e", str(repo)]


def main(argv: list[str] | None = None) -> int:
    """`python -m tcic_lib.course.colab [REPO] [--no-weights]`: install, then fetch the pretrained weights
    (Colab has a network), so metrics and encoders switch from their offline stand-ins on their own."""
    args = list(sys.argv[1:] if argv is None else argv)
    fetch = "--no-weights" not in args
    repo = Path(next((a for a in args if not a.startswith("--")), str(REPO))).resolve()
    command = install_command(repo)
    print("installing:", " ".join(command[command.index("--no-deps") + 1:]), flush=True)
    status = subprocess.run(command).returncode
    if status == 0 and fetch:
        status = subprocess.run([sys.executable, "-m", "tcic_lib.cli", "fetch-weights", "--quiet"], cwd=repo).returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
