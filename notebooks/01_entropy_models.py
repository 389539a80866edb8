# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Entropy models and real bitstreams
#
# A learned codec turns an image into a tensor of numbers (the *latent* `y`), rounds them to
# integers, and writes those integers with an entropy coder driven by a probability model: here
# rANS (range asymmetric numeral systems), which writes a symbol of probability p in about
# $-\log_2 p$ bits, plus a few bytes for the whole file. The rate is the length of that file. This notebook builds each piece on a fixed transform,
# so the entropy model is the only thing that learns.
#
# **Learning goals**
# 1. Quantise, and train through quantisation: the additive-noise proxy, the straight-through
#    estimator, and where each one differs from real rounding.
# 2. Fit a factorized entropy model (CompressAI's `EntropyBottleneck`) to the course's latents.
# 3. Compare the estimated rate, $\sum -\log_2 p(\hat y)$, with the **real** rANS bytes.
# 4. Know why `update()` must run before coding.

# %%
import importlib.util
import subprocess
import sys

if "google.colab" in sys.modules and importlib.util.find_spec("tcic_lib") is None:
    repo_dir = "/content/tcic-course"
    subprocess.run(["git", "clone", "--depth=1", "https://github.com/tcic-course/tcic-course", repo_dir], check=True)
    # only what Colab lacks, each with --no-deps, so Colab's torch and numpy stay (pyproject: [tool.tcic.colab])
    subprocess.run([sys.executable, "-m", "tcic_lib.course.colab", repo_dir], cwd=repo_dir, check=True)
    sys.path.insert(0, repo_dir)

# %%
import tcic_lib  # noqa: F401  first: it quiets a deprecation warning compressai triggers on torch 2.14
import math

import matplotlib.pyplot as plt
import torch
from compressai.entropy_models import EntropyBottleneck

from tcic_lib.config import profile, seed_everything
from tcic_lib.data import CaptionedShapes
from tcic_lib.metrics import psnr
from tcic_lib.progress import tqdm
from tcic_lib.quantization import block_dct, estimated_bits, inverse_block_dct, quantize

p = profile()
g = seed_everything(p.data.seed)
train_set = CaptionedShapes("train", size=p.data.image_size, n=p.data.n_train, seed=p.data.seed)
test_set = CaptionedShapes("test", size=p.data.image_size, n=p.data.n_test, seed=p.data.seed)
print(f"profile {p.name}: {len(train_set)} training and {len(test_set)} test scenes of {p.data.image_size} px")

# %% [markdown]
# ## A latent to code
# Before learning a transform (notebook 02) we use JPEG's idea, the block DCT, on 4x4 blocks (JPEG's
# are 8x8; our scenes are small). Each block's 16
# coefficients per colour become 48 channels (red's 16 first: its block mean, the *DC*, then its
# variations, the *AC* coefficients; then green's, then blue's). We divide by a quantisation step
# `STEP` (in pixel units, 0-255) so that rounding to integers is the only loss. Everything below is
# measured on the first `p.eval_images` test scenes (printed).

# %%
BLOCK, STEP = 4, 12.0


def to_latent(x: torch.Tensor) -> torch.Tensor:
    return block_dct(x * 255.0, BLOCK) / STEP  # (B, 48, H/4, W/4)


def from_latent(y: torch.Tensor) -> torch.Tensor:
    return (inverse_block_dct(y * STEP, BLOCK) / 255.0).clamp(0, 1)


x_test = torch.stack([test_set[i][0] for i in range(p.eval_images)])
y_test = to_latent(x_test)
print(f"measured on the first {len(x_test)} of the {len(test_set)} test scenes")
print("x", tuple(x_test.shape), "-> y", tuple(y_test.shape))
assert torch.allclose(from_latent(y_test), x_test, atol=1e-5), (  # the transform itself loses nothing
    f"the block DCT and its inverse should lose nothing; max error {(from_latent(y_test) - x_test).abs().max():.2e}")

# %% [markdown]
# ## Quantisation and its noise proxy
# Rounding makes the latent codable but has zero gradient almost everywhere. During training
# Ballé et al. replace it with additive uniform noise $y + u$, $u \sim U(-\tfrac12, \tfrac12)$:
# smooth, and its error is exactly uniform. Rounding's error is uniform only when `y` spreads over
# many integers; for latents peaked at zero (most of these DCT coefficients) it is not, as the
# variances below show. Write the proxy (the library's `quantize(y, "noise")` is the reference):

# %%
def my_noise_proxy(y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    ### BEGIN SOLUTION
    return y + torch.rand(y.shape, generator=generator) - 0.5
    ### END SOLUTION


# %%
y_check = torch.randn(50_000, generator=g).requires_grad_(True)
proxy = my_noise_proxy(y_check, g)
error = (proxy - y_check).detach()
assert abs(error.mean().item()) < 0.01, (f"the noise averages {error.mean().item():+.3f}: centre it on zero, "
                                         "U(-0.5, 0.5) (torch.rand gives U(0, 1))")
assert error.abs().max() <= 0.5, "the noise leaves the quantisation bin (|noise| > 0.5): uniform noise, not Gaussian"
assert abs(error.var().item() - 1 / 12) < 0.005, f"noise variance {error.var().item():.4f}; uniform on a bin gives 1/12"
assert proxy.requires_grad, "the proxy must stay differentiable: add noise to y, do not detach or round it"
proxy.sum().backward()
assert torch.equal(y_check.grad, torch.ones_like(y_check)), (
    "the gradient must pass straight through (d proxy / d y = 1); rounding has gradient zero almost everywhere")
print("noise proxy: error variance 1/12, gradient 1: ok")

# %%
y = y_test.flatten()[:20000]
round_error = (quantize(y, "round") - y).numpy()
noise_error = (quantize(y, "noise", generator=g) - y).numpy()
fig, ax = plt.subplots(figsize=(6, 3))
ax.hist(round_error, bins=50, histtype="step", linewidth=1.5, label="round(y) - y")
ax.hist(noise_error, bins=50, histtype="step", linewidth=1.5, label="(y + u) - y")
ax.set_yscale("log")
ax.set_xlabel("quantisation error (units of STEP)")
ax.set_ylabel("count (log scale)")
ax.legend()
plt.show()
print(f"error variance: round {round_error.var():.4f}, noise {noise_error.var():.4f}, theory 1/12 = {1 / 12:.4f}")
assert abs(noise_error.var() - 1 / 12) < 0.01, (
    f"uniform noise on [-0.5, 0.5) has variance 1/12; measured {noise_error.var():.4f}")
near_zero = y.abs() < 0.5
print(f"{near_zero.float().mean():.0%} of these {len(y):,} latent values (the first test scenes, every channel) round to 0; "
      "their rounding error variance is "
      f"{round_error[near_zero.numpy()].var():.4f}, the noise proxy's on the same latents "
      f"{noise_error[near_zero.numpy()].var():.4f}")

# %%
y_req = y_test[:1].clone().requires_grad_(True)
quantize(y_req, "round").sum().backward()
grad_round = y_req.grad.abs().sum().item()
y_req.grad = None
quantize(y_req, "noise", generator=g).sum().backward()
grad_noise = y_req.grad.abs().sum().item()
print(f"gradient through round: {grad_round}, through the noise proxy: {grad_noise} "
      f"(= {y_req.numel()} latent elements of one scene, gradient 1 each)")
assert grad_round == 0 and grad_noise > 0, (
    f"rounding should pass no gradient and the noise proxy some; measured {grad_round} and {grad_noise}")

# %% [markdown]
# The **straight-through estimator** (`quantize(y, "ste")`) rounds in the forward pass and passes
# the gradient through unchanged: the decoder sees exactly what it will decode, but the gradient
# pretends rounding is the identity. *Mixed* quantisation (common in recent codecs) uses noise for
# the rate term and STE for what the decoder sees. The difference is measurable: here, the
# distortion each proxy reports against the distortion of real rounding.

# %%
x_pixels = x_test[:4]
reported = {}
for mode in ("noise", "ste"):
    y_q = quantize(to_latent(x_pixels), mode, generator=g)
    reported[mode] = ((from_latent(y_q) - x_pixels) ** 2).mean().item()
real = ((from_latent(quantize(to_latent(x_pixels), "round")) - x_pixels) ** 2).mean().item()
print({mode: f"{mse:.6f}" for mode, mse in reported.items()}, f"real rounding: {real:.6f}")
assert abs(reported["ste"] - real) <= 1e-6 * real, (  # STE rounds forward: training sees what decoding gets
    f"STE's distortion should equal real rounding's; STE {reported['ste']:.6f}, real {real:.6f}")
print(f"the noise proxy reports {reported['noise'] / real:.1f}x the real distortion: it moves every latent by "
      "U(-1/2, 1/2), while rounding barely moves the many latents that sit at 0")

# %% [markdown]
# ## A factorized entropy model
# CompressAI's `EntropyBottleneck` learns one flexible density per channel (Ballé et al. 2018).
# In training mode it adds the noise itself and returns the likelihood of each noisy value; its
# rate is $\sum -\log_2 p$ (write it; the library's `estimated_bits` is the reference). We
# train it on latents of the training scenes to minimise that rate, plus the *auxiliary* loss
# that places the *quantiles* the coder needs: three learned numbers per channel, where the
# density's CDF reaches a tiny tail probability, 1/2 (the median) and one minus that tail. The
# coder's tables cover the values between the tails, and a value outside them is sent with a
# costly escape code. Every CompressAI model trains this loss, because its default `update()`
# builds the tables from these quantiles; only the auxiliary loss moves them, so they get an
# optimiser of their own and the rate loss never touches them. The training loop below uses your
# `my_rate_bits`, divided by the pixels: **bits per pixel (bpp)**, all three colours of a pixel
# together (the raw RGB bytes are the comparison printed further down).

# %%
def my_rate_bits(likelihoods: torch.Tensor) -> torch.Tensor:
    ### BEGIN SOLUTION
    return -torch.log2(likelihoods).sum()
    ### END SOLUTION


# %%
probabilities = torch.rand(4, 8, generator=g).clamp_min(1e-3)
expected, yours = estimated_bits({"y": probabilities}), float(my_rate_bits(probabilities))
assert abs(yours - expected * math.log(2)) > 1e-3 * expected, "that is in nats: bits need log2, not the natural log"
assert abs(yours - expected / probabilities.numel()) > 1e-3 * expected, "that is bits per element: sum, not mean"
assert abs(yours - expected) < 1e-4 * expected, f"{yours:.2f} bits, expected {expected:.2f}: the sum of -log2(p)"
assert float(my_rate_bits(torch.full((8,), 0.5))) == 8.0, "eight fair coin flips (p = 1/2 each) are eight bits"
print("rate estimate: ok")

# %%
entropy_model = EntropyBottleneck(y_test.shape[1])
optimizer = torch.optim.Adam([q for n, q in entropy_model.named_parameters() if not n.endswith("quantiles")], lr=1e-2)
aux_optimizer = torch.optim.Adam([entropy_model.quantiles], lr=1e-2)


def train_latents(steps: int, scale: float = 1.0) -> list[float]:
    """Fit the entropy model to training latents (times `scale`); return bits per pixel per step."""
    entropy_model.train()  # noise in training mode; eval mode would fit rounded values
    rates = []
    for step in tqdm(range(steps), desc="entropy model"):
        idx = torch.randint(len(train_set), (p.train.batch_size,), generator=g)
        x = torch.stack([train_set[int(i)][0] for i in idx])
        _, likelihoods = entropy_model(to_latent(x) * scale)
        bpp = estimated_bits(likelihoods) / (x.shape[0] * x.shape[2] * x.shape[3])
        loss = my_rate_bits(likelihoods) / (x.shape[0] * x.shape[2] * x.shape[3])  # your function trains it
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        aux = entropy_model.loss()
        aux_optimizer.zero_grad()
        aux.backward()
        aux_optimizer.step()
        rates.append(bpp)
    return rates


rates = train_latents(2 * p.train.steps)  # twice a codec's steps: a cheap model, and the quantiles settle slowly
plt.figure(figsize=(6, 3))
plt.plot(rates)
plt.xlabel("step")
plt.ylabel("estimated bpp\n(noisy training latents)")
plt.show()
print(f"rate: {rates[0]:.2f} bpp at the start, {sum(rates[-10:]) / 10:.2f} bpp at the end")
assert sum(rates[-10:]) / 10 < rates[0], (
    f"training did not lower the estimated rate: {rates[0]:.2f} bpp at the start, "
    f"{sum(rates[-10:]) / 10:.2f} at the end")

# %% [markdown]
# The learned densities over every value the test latents take: the DC channel (each block's
# mean red, times 4 in this orthonormal transform, over `STEP`) is wide and sits far from zero;
# the AC channels (the block's variations) are sharply peaked at zero, which is where the bits
# are saved.

# %%
entropy_model.eval()
fig, axes = plt.subplots(1, 3, figsize=(11, 3))
for ax, (channel, label) in zip(axes, [(0, "DC (red): 4 x block mean / STEP"), (1, "first AC (red)"),
                                      (15, "last AC (red)")]):
    low, high = y_test[:, channel].min().floor().item() - 3, y_test[:, channel].max().ceil().item() + 3
    values = torch.arange(min(low, -15.0), max(high, 16.0))  # integer symbols over every value the test scenes take
    with torch.no_grad():  # every channel gets the same symbols; we read the one we plot
        _, pmf = entropy_model(values.view(1, 1, 1, -1).expand(1, y_test.shape[1], 1, -1).contiguous())
    ax.bar(values, pmf[0, channel, 0], width=0.8)
    ax.set_title(f"channel {channel}: {label}", fontsize=10)
    if channel:  # the AC mass sits within a few steps of zero
        ax.set_xlim(-8, 8)
    ax.set_xlabel("quantised value (units of STEP)")
axes[0].set_ylabel("probability mass")
fig.tight_layout()
plt.show()
print(f"DC values of the test scenes: {y_test[:, 0].min():.1f} to {y_test[:, 0].max():.1f}; "
      f"first AC within ±1 of zero: {(y_test[:, 1].abs() <= 1).float().mean():.0%}")

# %% [markdown]
# ## The real thing: rANS bytes
# `update()` tabulates each channel's quantised CDF (with `update_quantiles=True` it first
# recomputes the quantiles from the density itself, so the tables are right however far the
# slowly trained auxiliary loss got; the medians move with them, and so does the estimate a
# little, because eval mode rounds around the median); `compress` then runs CompressAI's rANS
# coder and returns real bytes. The file holds only the symbols: encoder and decoder share the
# model and its tables, so the rate counts no model parameters. In eval mode the model rounds instead of adding noise (CompressAI
# rounds each channel around its median m: `round(y - m) + m`), and
# its likelihoods give the estimate to compare with.

# %%
entropy_model.update(force=True, update_quantiles=True)
rows = []
for i in range(len(x_test)):
    y_i = y_test[i : i + 1]
    with torch.no_grad():
        y_hat, likelihoods = entropy_model(y_i)
    strings = entropy_model.compress(y_i)
    decoded = entropy_model.decompress(strings, y_i.shape[-2:])
    assert torch.equal(decoded, y_hat), (  # the decoder recovers exactly what the estimate priced
        f"image {i}: the rANS decoder did not recover the rounded latent the estimate priced; "
        f"{(decoded != y_hat).sum().item()} elements differ")
    rows.append((estimated_bits(likelihoods) / 8, len(strings[0])))
estimated, real = (sum(col) for col in zip(*rows))
print(f"{len(rows)} test scenes: estimated {estimated:.0f} bytes, real {real} bytes, ratio {real / estimated:.3f}, "
      f"{(real - estimated) / len(rows):.0f} B per scene more than the estimate")
assert 0.95 < real / estimated < 1.05, (
    f"the rANS bytes should be within 5 % of the estimate; real {real} B, estimated {estimated:.0f} B, "
    f"ratio {real / estimated:.3f}")

# %% [markdown]
# The same bytes decode to an image: the block DCT, inverted. This is a (crude) image codec
# with a learned entropy model. Its error (bottom row, amplified 40 times) is the rounding of each
# 4×4 block's coefficients: it sits on edges and patterns and shows the blocks, and it bands the
# smooth background gradients, because a block's mean moves in steps (`STEP` / 4 grey levels),
# which turns a gradient into contours.

# %%
pixels = x_test.shape[0] * x_test.shape[2] * x_test.shape[3]
y_hat = entropy_model.decompress(entropy_model.compress(y_test), y_test.shape[-2:])
x_hat = from_latent(y_hat)
print(f"{8 * real / pixels:.2f} bpp on {len(x_test)} test scenes, against 24 bpp for raw 8-bit RGB; mean PSNR "
      f"{psnr(x_hat, x_test).mean():.1f} dB (peak 1). The training curve above priced noisy latents of training "
      "scenes: noise spreads the peaked AC values, so it prices them higher than rounding does")
error_gain = 40
fig, axes = plt.subplots(3, 4, figsize=(8, 6.4))
for k in range(4):
    rows = (x_test[k], x_hat[k], ((x_hat[k] - x_test[k]).abs() * error_gain).clamp(0, 1))
    for row, picture in enumerate(rows):
        axes[row, k].imshow(picture.permute(1, 2, 0))
        axes[row, k].axis("off")
    axes[1, k].set_title(f"PSNR {psnr(x_hat[k:k + 1], x_test[k:k + 1]).item():.1f} dB", fontsize=9)
for row, label in enumerate(("original", "decoded from rANS bytes", f"|error| x {error_gain}")):
    axes[row, 0].text(-0.1, 0.5, label, transform=axes[row, 0].transAxes, rotation=90, ha="right", va="center", fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Why `update()` must run before coding
# The coder does not read the density network: it reads the tables `update()` wrote. A fresh
# model has no tables at all:

# %%
fresh = EntropyBottleneck(y_test.shape[1])
try:
    fresh.compress(y_test[:1])
except ValueError as err:
    print("compress before update():", err)

# %% [markdown]
# Worse, tables go **stale** silently. Keep training on latents of a different scale (as if the
# transform changed), then code with the old tables: the estimate follows the new density, the
# file follows the old tables. And CompressAI's `update()` without `force=True` does nothing
# once tables exist, which is why the course's models always call `update(force=True)`.

# %%
train_latents(p.train.steps, scale=3.0)
entropy_model.eval()
y_big = y_test * 3.0


def real_vs_estimate() -> tuple[float, int]:
    with torch.no_grad():
        _, likelihoods = entropy_model(y_big)
    return estimated_bits(likelihoods) / 8, sum(len(s) for s in entropy_model.compress(y_big))


stale = real_vs_estimate()
print("update() without force changed something:", entropy_model.update())
fixed_flag = entropy_model.update(force=True, update_quantiles=True)
fresh_tables = real_vs_estimate()
print(f"stale tables: estimate {stale[0]:.0f} B, file {stale[1]} B ({stale[1] / stale[0]:.2f}x: coding with the wrong "
      "density costs its cross-entropy instead of the entropy, and values beyond the old tables' range need escape codes)")
print(f"after update(force=True): estimate {fresh_tables[0]:.0f} B, file {fresh_tables[1]} B ({fresh_tables[1] / fresh_tables[0]:.3f}x)")
print("the file can land a little under the estimate: the tables store each probability as an integer count, and "
      "rounding those counts can favour the values that occur most")
assert fixed_flag and fresh_tables[1] < stale[1], (
    f"update(force=True) should rebuild the tables (it returned {fixed_flag}) and shrink the file: "
    f"stale tables {stale[1]} B, fresh tables {fresh_tables[1]} B")

# %% [markdown]
# ## What you learned, and what comes next
# - Rounding for coding; for training, noise (smooth, but its error statistics differ from
#   rounding's on peaked latents) or STE (exact forward pass, approximate gradient).
# - An entropy model's estimated rate is what the rANS coder really writes, within about 1 % either
#   way, once its tables are current: `update(force=True)` after every change to the model, before
#   any coding (here with `update_quantiles=True`, so the tables do not depend on how far the
#   auxiliary loss got).
# - The same `EntropyBottleneck` codes the hyperprior's side information in every codec of the
#   course, TCIC included: its rate term is the "bits" of every loss from notebook 02 on.
#
# Next (notebook 02): learn the transform too, and let a hyperprior adapt the density to each image.
