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
# # 07 · Evaluating perceptual codecs: rate, distortion, perception, semantics
#
# PSNR alone cannot rank perceptual codecs: Blau and Michaeli (2019) showed that distortion and
# perceptual quality trade against each other at a fixed rate. The literature (HiFiC,
# MS-ILLM, TCIC) therefore reports, at each rate:
#
# - **distortion**: PSNR, MS-SSIM;
# - **perceptual distance**: LPIPS (deep features of the two images);
# - **realism of the set**: FID and KID between patches of originals and reconstructions;
# - **semantic distortion** (TCIC's term): does the reconstruction still match its caption
#   and its original in CLIP's embedding space?
#
# Every metric here comes from its library (pytorch_msssim, piq, lpips, torchmetrics, open_clip)
# and is reported under an honest name: when its weights are missing it says so instead of
# quietly using something else.
#
# **Learning goals**
# 1. Report a codec on distortion, perception, realism and semantics, each metric with the way it
#    is better and what it needs (weights, image size).
# 2. Compute the Fréchet distance behind FID by hand, and see why few patches bias it.
# 3. Compare codecs with BD numbers, and count what sending a caption would cost.

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
import logging

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from tcic_lib import zoo
from tcic_lib.config import profile, seed_everything
from tcic_lib.data import CaptionedPhotos
from tcic_lib.evaluate import (compressai_settings, curve, evaluate, model_setting, pil_settings, reconstruct,
                               set_level_scores, shapes_test_scenes, summarize)
from tcic_lib.metrics import HANDCRAFTED, QualityMetrics, Unavailable, bd_psnr, bd_rate, direction, fid_kid
from tcic_lib.plots import crop_grid, objects_crop, rd_rp_figure
from tcic_lib.pretrained import weights_report

logging.basicConfig(level=logging.WARNING, format="%(message)s")
logging.getLogger("tcic_lib").setLevel(logging.INFO)  # the zoo says where each model comes from

p = profile()
seed_everything(p.data.seed)
for w in weights_report():
    print(f"{w.name}: {'present' if w.available else 'missing (' + w.reason + ')'}")

# %% [markdown]
# ## The metrics and their names
# `QualityMetrics` builds each metric once. Its `labels` are the names results are reported
# under; `unavailable` lists what could not be computed here, with the reason. Ten of them are
# hand-crafted (piq: SSIM, VIF, FSIM, GMSD, MS-GMSD, HaarPSI, MDSI, VSI, SR-SIM, DSS) and need no
# downloaded weights; with PSNR and MS-SSIM that is twelve offline. The semantic similarities use
# a CLIP the codecs do not read (pretrained when present, else a second mini-CLIP): the one they
# read would judge them in a circle.

# %%
encoder = zoo.text_encoder("minclip", p, progress=False)  # the features the course's TCIC models read
judge = zoo.text_encoder("judge", p, progress=False)  # pretrained CLIP when present, else a mini-CLIP no codec reads
metrics = QualityMetrics(judge, codec_encoders=(encoder.key,))
pd.DataFrame({"reported as": pd.Series(metrics.labels), "unavailable because": pd.Series(metrics.unavailable)}).fillna("")

# %% [markdown]
# ## The codecs
# Pillow's JPEG and WebP at several qualities; the course's learned codecs from notebook 05
# (`notext`, the hyperprior architecture, and `tcic`, which reads the caption stored in its
# file); CompressAI's pretrained `bmshj2018-hyperprior` when its weights are in the torch hub
# cache. Every point is a real file: the rate is its size.

# %%
settings = pil_settings("jpeg", (10, 30, 50, 70, 90)) + pil_settings("webp", (5, 30, 60, 90))
for variant in ("notext", "tcic"):
    for lmbda in p.lmbdas:
        model = zoo.fetch(zoo.tcic_recipe(variant, encoder, p, lmbda), encoder, progress=False)
        settings.append(model_setting(f"learned {variant}", model, f"λ={lmbda:g}", encoder))
try:
    settings += compressai_settings("bmshj2018-hyperprior", (1, 3, 5))
except Unavailable as err:
    print(f"CompressAI zoo model unavailable: {err}")
print(len(settings), "codec settings")

# %% [markdown]
# ## CaptionedShapes test set
# One row per image and setting (the tidy table, also what `tcic eval` writes as CSV), then a
# summary per setting with FID/KID over the whole set's patches.

# %%
images, captions, test_scenes = shapes_test_scenes(p)
rows = evaluate(settings, images, captions, metrics=metrics)
summary = summarize(rows).merge(set_level_scores(settings, images, captions, metrics), how="left")
print(f"{len(rows)} rows: {len(images)} images x {len(settings)} settings")
assert len(rows) == len(images) * len(settings)
rows.head(3)

# %%
columns = ["codec", "setting", "bpp_latent", "bpp_file", "bpp_caption", "psnr", "ms_ssim", "lpips", "clip_caption", "fid",
           "kid"]
summary[[c for c in columns if c in summary]].round(4)

# %% [markdown]
# ## Every metric, and which way is better
# One column per metric at every codec setting. The hand-crafted ones need no downloaded weights;
# a few need images above a minimum size (VIF and SR-SIM: 41 px), and report NaN below it.

# %%
reported = [m for m in metrics.labels if m in summary and summary[m].notna().any()]
every_metric = summary.set_index(["codec", "setting"])[reported]
every_metric.columns = [f"{metrics.labels[m]} ({direction(m)} is better)" for m in reported]
weight_free = [m for m in (*HANDCRAFTED, "psnr", "ms_ssim") if m in reported]
print(f"{len(reported)} metrics reported, {len(weight_free)} of them with no downloaded weights")
assert len(weight_free) >= (12 if p.data.image_size >= 41 else 10)
every_metric.round(4)

# %%
fig = rd_rp_figure(summary, metrics.labels, metrics=("psnr", "ms_ssim", "lpips", "fid", "clip_caption"),
                   x="bpp_file", title=f"CaptionedShapes test, {len(images)} images of {p.data.image_size} px, profile {p.name}")
plt.show()

# %% [markdown]
# ## BD-rate and BD-PSNR, always together
# Against WebP as the anchor, on whole files without the caption (`bpp_file`, notebook 02's names:
# a learned codec's payload leaves out its header, a WebP file includes its own, so payloads would
# flatter the learned codecs). BD-PSNR is the average PSNR gap at equal rate; BD-rate the average
# rate saving at equal PSNR. When curves barely overlap or are nearly flat the functions warn: a
# tiny PSNR offset on a flat curve becomes a huge BD-rate. The payload column shows the difference.

# %%
anchor = curve(summary, x="bpp_file", codec="webp")
bd_vs_webp = pd.DataFrame([{"codec": name,
                            "BD-rate vs WebP (%), files": bd_rate(*anchor, *curve(summary, x="bpp_file", codec=name)),
                            "BD-PSNR vs WebP (dB), files": bd_psnr(*anchor, *curve(summary, x="bpp_file", codec=name)),
                            "BD-rate vs WebP (%), payloads": bd_rate(*anchor, *curve(summary, codec=name))}
                           for name in summary["codec"].unique() if name != "webp"])
bd_vs_webp.round(2)

# %% [markdown]
# ## What the numbers look like
# The same test scene from several codecs at their lowest rates (a 2x zoom of the half-size
# square that holds the most object pixels; each title's rate is the file's, caption not counted). JPEG's blocks, WebP's smoothing and the learned codecs' blur are different kinds of
# error with different PSNR/LPIPS trade-offs.

# %%
x, caption = images[0], captions[0]
first = {s.codec: s for s in reversed(settings)}  # the lowest-rate setting of each codec
panels = {"original": x}
for name, s in first.items():
    x_hat, rates = reconstruct(s, x, caption, caption)
    panels[f"{name}\n{rates['bpp_file']:.2f} bpp"] = x_hat
crop_grid([panels], box=objects_crop(test_scenes[0], p.data.image_size, p.data.image_size // 2), zoom=2)
plt.show()

# %% [markdown]
# ## The Fréchet distance, by hand
# FID fits a Gaussian to each set's features and measures
# $d^2 = \lVert \mu_1 - \mu_2 \rVert^2 + \mathrm{Tr}\big(\Sigma_1 + \Sigma_2 - 2(\Sigma_1 \Sigma_2)^{1/2}\big)$.
# Write it (torchmetrics computes the same with eigenvalues):

# %%
def my_frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    ### BEGIN SOLUTION
    from scipy.linalg import sqrtm

    covmean = sqrtm(sigma1.numpy() @ sigma2.numpy()).real
    return float((mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * np.trace(covmean))
    ### END SOLUTION


# %%
from torchmetrics.image.fid import _compute_fid

a_feats, b_feats = torch.randn(200, 4, dtype=torch.float64), 1.5 * torch.randn(200, 4, dtype=torch.float64) + 0.3
stats = [(f.mean(0), torch.cov(f.T)) for f in (a_feats, b_feats)]
assert abs(my_frechet_distance(*stats[0], *stats[0])) < 1e-6, (
    "a set against itself must give 0: Tr(Σ + Σ - 2 (Σ Σ)^½) = 0 only with the -2 and the matrix square root")
yours, reference = my_frechet_distance(*stats[0], *stats[1]), _compute_fid(*stats[0], *stats[1]).item()
assert abs(yours - reference) < 1e-6, (
    f"{yours:.4f}, expected {reference:.4f}: the square root is of the matrix product Σ1 Σ2 (scipy.linalg.sqrtm), "
    "not of its entries, and the mean term is the squared distance ||μ1 - μ2||²")
print(f"Fréchet distance: ok ({my_frechet_distance(*stats[0], *stats[1]):.4f})")

# %% [markdown]
# ## Why FID needs many patches
# FID fits a Gaussian to the features of each set. Split the *originals* in two halves: both
# come from the same distribution, so the true FID between them is 0. Measured with few
# patches it is far from 0: the estimate is biased upwards and noisy until the number of
# patches is well above the feature width. Small sets can rank codecs only when the gaps are large.

# %%
features = metrics.fid_features
half = list(images)
a, b = half[: len(half) // 2], half[len(half) // 2:]
if features is not None:
    bias = []
    for patch in sorted({p.data.image_size // 2, p.data.image_size // 4, p.data.image_size // 8}, reverse=True):
        result = fid_kid(a, b, features, patch=patch)
        bias.append({"patch px": patch, "patches per set": result["patches"], "FID(real, real)": result["fid"],
                     "KID(real, real)": result["kid"]})
    print(f"features: {features.name}, {features.num_features} wide")
    print(pd.DataFrame(bias).round(4).to_string(index=False))
else:
    print("FID/KID unavailable:", metrics.unavailable.get("fid"))

# %% [markdown]
# ## Real photos, out of domain
# The 14 offline scikit-image photos, downscaled. The learned codecs were trained on
# synthetic shapes only: on photos they show how far a course-sized model generalises, not
# what TCIC can do on natural images (the paper trains on real caption datasets; see the README's
# GPU recipe).

# %%
photos = CaptionedPhotos(max_side=2 * p.data.image_size)
photo_images, photo_captions = (list(t) for t in zip(*(photos[i] for i in range(len(photos)))))
photo_settings = [s for s in settings if s.codec in ("jpeg", "webp", "learned notext", "learned tcic")]
photo_summary = summarize(evaluate(photo_settings, photo_images, photo_captions, metrics=metrics))
rd_rp_figure(photo_summary, metrics.labels, metrics=("psnr", "lpips", "clip_image"),
             title=f"{len(photos)} photos, longest side {2 * p.data.image_size} px")
plt.show()

# %% [markdown]
# ## What caption bits change
# TCIC stores the caption in its file. If the decoder already has the caption (TCIC's setting:
# side information), only the image bits count; if it must be sent, the UTF-8 caption costs far
# more than its information content, and on small images it can outweigh the image itself.

# %%
tcic_points = summary[summary["codec"] == "learned tcic"]
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(tcic_points["bpp_total"] - tcic_points["bpp_caption"], tcic_points["psnr"], marker="o",
        label="tcic, caption free at the decoder")
ax.plot(tcic_points["bpp_total"], tcic_points["psnr"], marker="o", label="tcic, caption sent as UTF-8")
notext = summary[summary["codec"] == "learned notext"]
ax.plot(notext["bpp_total"], notext["psnr"], marker="s", label="notext")
ax.set_xlabel("bits per pixel")
ax.set_ylabel("PSNR (dB)")
ax.legend()
plt.show()
print("mean caption cost:", round(tcic_points["bpp_caption"].mean(), 4), "bpp")

# %%
caption_share = tcic_points["bpp_caption"] / tcic_points["bpp_total"]
print(f"the UTF-8 caption is {caption_share.min():.0%}-{caption_share.max():.0%} of TCIC's files")
assert (tcic_points["bpp_total"] > tcic_points["bpp_total"] - tcic_points["bpp_caption"]).all()
assert (summary.loc[summary["codec"] == "learned notext", "bpp_caption"] == 0).all()  # it reads no caption, stores none

# %% [markdown]
# From the command line the same table and figures come from
# `tcic eval --codec jpeg --codec webp --data photos --out build/eval` (per-image `results.csv`,
# `summary.csv`, `metrics.json` with the labels and the unavailable metrics, `curves.png`).
#
# ## What you learned, and what comes next
# - Distortion, perception, realism and semantics are different axes; a metric is reported with
#   the way it is better, the weights it used, and the image sizes it needs.
# - FID is a Fréchet distance between feature Gaussians, biased upwards with few patches.
# - A caption the decoder already holds is free; one that must be sent as text can cost more
#   than the image at these sizes (notebook 05 counts it as H(T) bits instead).
#
# Next, notebook 08 runs the ablation grid and lets you decode one file with your own captions.
