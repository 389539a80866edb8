"""Data-parallel training under `torchrun`: one process per device, gradients averaged by DDP.

`tcic train` runs unchanged under `torchrun --nproc_per_node=K`: each process reads its rank
from the environment torchrun sets, joins the process group (gloo on CPU, nccl on GPU), trains
on its own share of every batch, and only rank 0 logs, validates and writes checkpoints.
Without torchrun everything here is a no-op and training is single-process.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import torch
import torch.distributed as dist


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@contextmanager
def process_group():
    """Join torchrun's process group for the block (when launched by torchrun), then leave it."""
    if not launched_by_torchrun() or dist.is_initialized():
        yield
        return
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    try:
        yield
    finally:
        dist.barrier()
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every process (a no-op without torchrun): e.g. until rank 0 has written a checkpoint."""
    if dist.is_initialized():
        dist.barrier()


def device_for_rank(default: torch.device) -> torch.device:
    """Each process its own GPU (LOCAL_RANK); CPU stays CPU."""
    if default.type == "cuda" and dist.is_initialized():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return default


def average_gradients(parameters) -> None:
    """All-reduce and average the gradients of parameters DDP does not manage (the auxiliary loss's)."""
    if world_size() == 1:
        return
    for p in parameters:
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad /= world_size()


def wrap(model: torch.nn.Module) -> torch.nn.Module:
    """DistributedDataParallel around `model` when training with several processes, else `model`.

    `find_unused_parameters`: the entropy bottleneck's quantiles get gradients from the
    auxiliary loss only, never from the RD loss that goes through DDP.
    """
    if world_size() == 1:
        return model
    device_ids = [model_device.index] if (model_device := next(model.parameters()).device).type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=True)
