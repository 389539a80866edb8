"""How long the course takes where the pretrained weights are present (Colab after `tcic fetch-weights`).

    .venv/bin/python benchmarks/weights_present.py [--notebooks 06 07]

Offline, random weights of the right architectures stand in for them: an open_clip ViT-B-32
state dict through `TCIC_CLIP_WEIGHTS` (the judge of notebooks 06-07 becomes a ViT-B/32, and FID/KID
use its image features, as they do without Inception) and torchvision's AlexNet in a fresh torch hub
cache (calibrated LPIPS). The scores are meaningless; the time is what a learner waits. Each
notebook runs in the cpu profile from the shipped models; writes build/weights_present.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import torch


def stand_in_weights(folder: Path) -> dict[str, str]:
    """Random-weight files where the course looks for pretrained ones; the environment that points at them."""
    import open_clip
    import torchvision

    from tcic_lib.pretrained import ALEXNET_FILE

    clip_file = folder / "clip-vit-b-32-random.pt"
    torch.save(open_clip.create_model("ViT-B-32-quickgelu", pretrained=None).state_dict(), clip_file)
    hub = folder / "torch"
    (hub / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(torchvision.models.alexnet().state_dict(), hub / "hub" / "checkpoints" / ALEXNET_FILE)
    return {"TCIC_CLIP_WEIGHTS": str(clip_file), "TORCH_HOME": str(hub)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", nargs="*", default=["06", "07"])
    args = parser.parse_args()
    from tcic_lib.course.runner import course_notebooks, execute_notebook

    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ |= stand_in_weights(Path(tmp)) | {"TCIC_PROFILE": "cpu", "TCIC_CACHE": str(Path(tmp) / "cache")}
        for notebook in course_notebooks(Path("notebooks")):
            if any(notebook.stem.startswith(n) for n in args.notebooks):
                run = execute_notebook(notebook, Path(tmp) / "out")
                times[notebook.stem] = {"seconds": round(run.seconds, 1), "status": run.status, "error": run.error}
                print(f"{notebook.stem}: {run.seconds:.0f} s ({run.status}) {run.error or ''}", flush=True)
    Path("build").mkdir(exist_ok=True)
    Path("build/weights_present.json").write_text(json.dumps(times, indent=1))


if __name__ == "__main__":
    main()
