"""Where one decoder-only step of the ultra-low recipe (pxattn TCIC, cpu profile) spends its time: torch.profiler.

    .venv/bin/python benchmarks/profile_ultra_low_step.py

One thread; random weights and caption features (the cost does not depend on them). Prints the
mean step time, the profiler's table of the costliest operators, and the forward time of the
frozen encoder side (g_a and h_a), to tell whether caching the latents would pay.
"""

from __future__ import annotations

import time

import torch
from compressai.losses import RateDistortionLoss
from torch.profiler import ProfilerActivity, profile as torch_profile

from tcic_lib import zoo
from tcic_lib.architectures import build_model
from tcic_lib.config import profile
from tcic_lib.plan import random_text_condition
from tcic_lib.train import freeze_encoder_side


def mean_seconds(fn, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    torch.set_num_threads(1)
    p = profile("cpu")
    settings = zoo.tcic_recipe("tcic", zoo.minclip_spec(p), p, p.lowest_lmbda, fusion="pxattn").codec_settings
    model = build_model(settings["arch"], **settings["model"])
    freeze_encoder_side(model)
    x = torch.rand(p.train.batch_size, 3, p.data.image_size, p.data.image_size)
    text = random_text_condition(settings["model"]["text_dim"], len(x))
    criterion = RateDistortionLoss(p.lowest_lmbda)
    optimizer = torch.optim.Adam([q for q in model.parameters() if q.requires_grad], 1e-3)

    def step():
        loss = criterion(model(x, text), x)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    mean_seconds(step, 3)  # warm-up
    print(f"step: {mean_seconds(step, 10):.3f} s")
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        mean_seconds(step, 5)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))
    with torch.no_grad():
        encoder_side = mean_seconds(lambda: model.h_a(torch.abs(model.g_a(x))), 10)
    print(f"g_a + h_a forward: {encoder_side:.3f} s")


if __name__ == "__main__":
    main()
