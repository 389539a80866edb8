"""`make bench`: speed and size ratios measured in one run, written to build/bench.json.

Ratios, not seconds, are the numbers to compare across machines. Each timing is the median of
several repeats after a warm-up. Random weights: speed does not depend on training.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from compressai.losses import RateDistortionLoss
from compressai.models import ScaleHyperprior

from tcic_lib.bitstream import encode, unpack
from tcic_lib.config import profile
from tcic_lib.fusion import TextCondition
from tcic_lib.models import Hyperprior
from tcic_lib.quantization import estimated_bits
from tcic_lib.tcic import TCIC

REPEATS = 5


def median_seconds(fn, repeats: int = REPEATS) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def train_step_seconds(model, x, text) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    criterion = RateDistortionLoss(0.01)

    def step():
        loss = criterion(model(x, text), x)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return median_seconds(step)


def peak_memory_mb(fusion: str, p, text_dim: int) -> float:
    """Peak memory of one training step of TCIC(fusion): CUDA's peak counter, or on CPU the growth of the
    process's peak resident set over the step (Linux: the peak is reset after the imports), in a fresh
    process so one model's allocations never hide another's."""
    if torch.cuda.is_available():
        model = TCIC(p.codec.N, p.codec.M, p.codec.hyper_stages, fusion=fusion, text_dim=text_dim).cuda()
        x = torch.rand(p.train.batch_size, 3, p.data.image_size, p.data.image_size, device="cuda")
        text = TextCondition(torch.randn(p.train.batch_size, text_dim, device="cuda")) if fusion != "none" else None
        torch.cuda.reset_peak_memory_stats()
        RateDistortionLoss(0.01)(model(x, text), x)["loss"].backward()
        return torch.cuda.max_memory_allocated() / 2**20
    c, b, size = p.codec, p.train.batch_size, p.data.image_size
    script = f"""
import torch
from compressai.losses import RateDistortionLoss
from tcic_lib.fusion import TextCondition
from tcic_lib.tcic import TCIC
model = TCIC({c.N}, {c.M}, {c.hyper_stages}, fusion={fusion!r}, text_dim={text_dim})
x = torch.rand({b}, 3, {size}, {size})
text = TextCondition(torch.randn({b}, {text_dim})) if {fusion!r} != "none" else None
def status_kb(field):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(field))
before = status_kb("VmRSS:")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current resident set: imports no longer count
RateDistortionLoss(0.01)(model(x, text), x)["loss"].backward()
print((status_kb("VmHWM:") - before) / 1024)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return float(done.stdout.split()[-1])


GPU_FLOPS = 4e12  # stated, not measured: a free Colab T4 sustains about half its 8.1 TFLOP/s fp32 peak
COLD_START_MODEL = ("hyperprior", "2")  # a shipped named model of the default profile


def cold_start(repeats: int = 3) -> dict:
    """`tcic compress` of a 512x512 photo (a shipped named model) against `python -c "import torch"`, in seconds."""
    import numpy as np
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (512, 512, 3), dtype=np.uint8)).save(photo)
        env = {**os.environ, "TCIC_CACHE": str(Path(tmp) / "cache"), "TCIC_PROFILE": "cpu"}
        name, quality = COLD_START_MODEL
        command = [sys.executable, "-m", "tcic_lib.cli", "compress", str(photo), "-o", str(Path(tmp) / "x.tcic"),
                   "--model", name, "--quality", quality]
        subprocess.run(command, env=env, check=True, capture_output=True)  # installs the shipped file once

        def seconds(cmd):
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                subprocess.run(cmd, env=env, check=True, capture_output=True)
                times.append(time.perf_counter() - start)
            return statistics.median(times)

        compress, torch_import = seconds(command), seconds([sys.executable, "-c", "import torch"])
    return {"cold_start_compress_s": compress, "import_torch_s": torch_import, "cold_start_ratio": compress / torch_import}


def auto_encoder_seconds() -> float:
    """`zoo.text_encoder("auto")` offline in a fresh process: falls back to the shipped mini-CLIP without waiting."""
    script = ("import time; t = time.perf_counter(); from tcic_lib import zoo; from tcic_lib.config import profile; "
              "zoo.text_encoder('auto', profile('cpu'), progress=False); print(time.perf_counter() - t)")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "TCIC_CACHE": tmp, "HF_HUB_OFFLINE": "1"}
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.split()[-1])


def course_estimates(notebook_times: dict[str, float]) -> dict:
    """Per notebook of the default profile: training FLOPs left (0 when its models ship), the time to train them
    here (one measured step) and on a GPU (FLOPs over `GPU_FLOPS`), beside the measured wall time."""
    from tcic_lib.plan import course_plan

    plan = course_plan(profile("cpu")).set_index("notebook")
    out = {}
    for notebook, row in plan.iterrows():
        out[f"plan[cpu] {notebook}: models to train"] = int(row["to train"])
        out[f"plan[cpu] {notebook}: training PFLOP"] = float(row["training PFLOP"])
        out[f"plan[cpu] {notebook}: training minutes here (measured step)"] = float(row["est. minutes here"])
        out[f"plan[cpu] {notebook}: training minutes on a GPU (stated {GPU_FLOPS / 1e12:g} TFLOP/s)"] = \
            float(row["training PFLOP"]) * 1e15 / GPU_FLOPS / 60
    if notebook_times:
        out["course[cpu] measured minutes, all notebooks"] = sum(notebook_times.values()) / 60
    return out


def notebook_seconds(profile_name: str, fresh_cache: bool) -> dict[str, float]:
    """Wall time of every course notebook in a profile (nbclient, a fresh kernel each)."""
    from tcic_lib.course.runner import course_notebooks, execute_notebook

    saved = {k: os.environ.get(k) for k in ("TCIC_PROFILE", "TCIC_CACHE")}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TCIC_PROFILE"] = profile_name
        if fresh_cache:
            os.environ["TCIC_CACHE"] = str(Path(tmp) / "cache")
        try:
            return {nb.stem: round(execute_notebook(nb, Path(tmp) / "out").seconds, 1)
                    for nb in course_notebooks(Path("notebooks"))}
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def ultra_low_minutes() -> dict:
    """Minutes one ultra-low model of the cpu profile needs alone on this machine: its recipe's steps x one
    measured training step (batch, 64 px scenes, a caption of the course's length), base and arm apart."""
    from tcic_lib.plan import random_text_condition

    p = profile("cpu")
    lr, text_dim = p.low_rate, p.clip.embed_dim
    batch = torch.rand(p.train.batch_size, 3, p.data.image_size, p.data.image_size)
    text = random_text_condition(text_dim, p.train.batch_size)
    text.tokens, text.mask = text.tokens[:, :CAPTION_TOKENS], text.mask[:, :CAPTION_TOKENS]
    step = {fusion: train_step_seconds(TCIC(p.codec.N, p.codec.M, p.codec.hyper_stages, fusion=fusion, text_dim=text_dim),
                                       batch, text if fusion != "none" else None) for fusion in ("none", "pxattn")}
    base = lr.base_steps * step["none"] / 60
    arm = lr.steps * step["pxattn"] / 60
    return {"ultra_low step_s notext": step["none"], "ultra_low step_s pxattn": step["pxattn"],
            f"ultra_low minutes: base ({lr.base_steps} steps)": base,
            f"ultra_low minutes: one pxattn arm ({lr.steps} steps)": arm,
            "ultra_low minutes: base + one arm (a model from scratch, alone)": base + arm,
            "ultra_low minutes: one seed (base + tcic, control, positional, notext)": base + 3 * arm
            + lr.steps * step["none"] / 60}


CAPTION_TOKENS = 41  # the longest caption of a training batch of 8, on average (measured): TCIC.condition trims the rest


def codec_times(model, x, text=None) -> tuple[float, float]:
    model.eval().update()
    with torch.no_grad():
        coded = model.compress(x)
        encode_s = median_seconds(lambda: model.compress(x))
        args = (coded["strings"], coded["shape"]) + ((text,) if text is not None else ())  # CompressAI's take no text
        decode_s = median_seconds(lambda: model.decompress(*args))
    return encode_s, decode_s


def main(notebook_profiles: list[str]) -> dict:
    torch.manual_seed(0)
    p = profile()
    text_dim = 64
    results: dict = {"profile": p.name, "torch_threads": torch.get_num_threads()}

    # TCIC (ssa) vs the same-size no-text model (TCIC with fusion none = the hyperprior)
    batch = torch.rand(p.train.batch_size, 3, p.data.image_size, p.data.image_size)
    text = TextCondition(torch.randn(p.train.batch_size, text_dim))
    tcic = TCIC(p.codec.N, p.codec.M, p.codec.hyper_stages, fusion="ssa", text_dim=text_dim)
    plain = TCIC(p.codec.N, p.codec.M, p.codec.hyper_stages, fusion="none", text_dim=text_dim)
    results["tcic_vs_notext_train_step"] = train_step_seconds(tcic, batch, text) / train_step_seconds(plain, batch, None)
    image = torch.rand(1, 3, 512, 768)
    one = TextCondition(torch.randn(1, text_dim))
    tcic_enc, tcic_dec = codec_times(tcic, image, one)
    plain_enc, plain_dec = codec_times(plain, image, None)
    results["tcic_vs_notext_encode"] = tcic_enc / plain_enc
    results["tcic_vs_notext_decode"] = tcic_dec / plain_dec
    results["tcic_vs_notext_peak_memory"] = peak_memory_mb("ssa", p, text_dim) / peak_memory_mb("none", p, text_dim)

    # our hyperprior vs CompressAI's bmshj2018 ScaleHyperprior of the same N, M (512x768)
    ours = Hyperprior(128, 192, hyper_stages=2)
    theirs = ScaleHyperprior(128, 192)
    ours_enc, ours_dec = codec_times(ours, image)
    theirs_enc, theirs_dec = codec_times(theirs, image)
    results["hyperprior_vs_compressai_encode"] = ours_enc / theirs_enc
    results["hyperprior_vs_compressai_decode"] = ours_dec / theirs_dec

    # file bytes vs estimated bits, on the 512x768 image
    with torch.no_grad():
        estimate = estimated_bits(ours(image)["likelihoods"]) / 8
    header = unpack(encode(ours, image[0]))
    results["file_bytes_vs_estimate"] = header.total_bytes / estimate
    results["header_bytes"] = header.total_bytes - header.latent_bytes

    results |= ultra_low_minutes()
    results |= cold_start()
    results["auto_text_encoder_offline_s"] = auto_encoder_seconds()  # must not wait on the network
    # notebooks with a fresh cache: quick (what CI sees), cpu (a learner's first run: the shipped models)
    cpu_times = {}
    for name in notebook_profiles:
        for notebook, seconds in notebook_seconds(name, fresh_cache=True).items():
            results[f"notebook_s[{name}] {notebook}"] = seconds
            if name == "cpu":
                cpu_times[notebook] = seconds
    results |= course_estimates(cpu_times)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", nargs="*", default=["quick"],
                        help="profiles in which to time every notebook (none: skip)")
    out = main(parser.parse_args().notebooks)
    Path("build").mkdir(exist_ok=True)
    Path("build/bench.json").write_text(json.dumps(out, indent=2))
    width = max(map(len, out))
    for key, value in out.items():
        print(f"{key:{width}s}  {value:.3f}" if isinstance(value, float) else f"{key:{width}s}  {value}")
