"""Run by tests/test_distributed.py under `torchrun --nproc_per_node=2`: trains, then compares replicas."""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from tcic_lib import cli, zoo
from tcic_lib.config import profile
from tcic_lib.data import CaptionedShapes
from tcic_lib.distributed import process_group, rank, world_size
from tcic_lib.train import _batch

out = Path(sys.argv[1])
with process_group():
    p = profile("quick").replace(n_train=32, val_every=3)
    r = zoo.recipe("hyperprior", p, lmbda=0.01, steps=3)
    model = zoo.train_recipe(r, out / "model.pt", progress=False)
    flat = torch.cat([t.detach().flatten().float() for t in model.state_dict().values() if t.is_floating_point()])
    replicas = [torch.zeros_like(flat) for _ in range(world_size())]
    dist.all_gather(replicas, flat)
    first = _batch(CaptionedShapes("train", **r.data), r.train_config, 0, rank(), world_size())[0].sum().reshape(1)
    batches = [torch.zeros_like(first) for _ in range(world_size())]
    dist.all_gather(batches, first)
    # the command line, unchanged, resumes the same checkpoint to step 5 in the same process group
    status = cli.main(["train", "--model", "hyperprior", "--profile", "quick", "--lmbda", "0.01", "--steps", "5",
                       "--out", str(out / "model.pt")])
    if rank() == 0:
        result = {"world_size": world_size(), "cli_status": status,
                  "replicas_equal": all(torch.equal(replicas[0], other) for other in replicas[1:]),
                  "distinct_batches": len({b.item() for b in batches}) == world_size()}
        (out / "result.json").write_text(json.dumps(result))
