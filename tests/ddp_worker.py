"""Run by tests/test_distributed.py under `torchrun --nproc_per_node=2`: trains, then compares replicas."""

import json
import sys
from dataclasses import replace
from pathlib import Path

import torch
import torch.distributed as dist

from tcic_lib import cli, zoo
from tcic_lib.config import profile
from tcic_lib.distributed import process_group, rank, world_size
from tcic_lib.loop import batch_indices

out = Path(sys.argv[1])
with process_group():
    p = profile("quick")
    p = p.replace(data=p.data.replace(n_train=32), train=p.train.replace(val_every=3))
    r = replace(zoo.codec_recipe("hyperprior", p, lmbda=0.01, steps=3), out=out / "model.pt")
    model = zoo.fetch(r, progress=False)
    flat = torch.cat([t.detach().flatten().float() for t in model.state_dict().values() if t.is_floating_point()])
    replicas = [torch.zeros_like(flat) for _ in range(world_size())]
    dist.all_gather(replicas, flat)
    first = torch.tensor(batch_indices(32, p.train.batch_size, p.train.seed, 0, rank(), world_size()))
    batches = [torch.zeros_like(first) for _ in range(world_size())]
    dist.all_gather(batches, first)
    # the command line, unchanged, resumes the same checkpoint to step 5 in the same process group
    status = cli.main(["train", "--model", "hyperprior", "--profile", "quick", "--lmbda", "0.01", "--steps", "5",
                       "--out", str(out / "model.pt"), "--quiet"])
    if rank() == 0:
        seen = [set(b.tolist()) for b in batches]
        result = {"world_size": world_size(), "cli_status": status,
                  "replicas_equal": all(torch.equal(replicas[0], other) for other in replicas[1:]),
                  "distinct_batches": not (seen[0] & seen[1])}
        (out / "result.json").write_text(json.dumps(result))
