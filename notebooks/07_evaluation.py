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
#   and its original in CLIP's embedding space? Reported here as similarities (higher is less
#   semantic distortion).
#
# Every metric here comes from its library (pytorch_msssim, piq, lpips, torchmetrics, open_clip)
# and is reported under an honest name: when its pretrained weights are missing it says so and
# names what it uses instead (LPIPS on a random AlexNet, labelled *uncalibrated*; FID/KID and the
# semantic scores on a second mini-CLIP, the *judge*). Their values are not comparable with
# published ones; whether a stand-in ranks codecs as its published metric would is not measured
# here. Every codec in this notebook is trained for MSE (or hand-tuned), so the
# distortion-perception trade-off has little room to show: notebook 06's GAN-tuned decoders are
# the perception-trained ones. Here the question is what each axis says about the same codecs.
#
# **Words used below** (each metric's direction is printed with it):
# - **bpp**: bits per pixel, nested: `bpp_latent` (a learned codec's entropy-coded payload) within
#   `bpp_file` (the file without its caption: payload + header; for JPEG and WebP their file) within
#   `bpp_total` = `bpp_file` + `bpp_caption` (the caption's UTF-8 bytes, which TCIC's file stores;
#   the figures leave them out, as if the decoder already held the caption, except the last one). $\lambda$ is a learned
#   codec's rate-distortion weight (loss = bits + $\lambda \cdot 255^2 \cdot$ MSE): larger
#   $\lambda$, more bits.
# - **PSNR** (dB, higher is better); **MS-SSIM**: structural similarity over several scales.
# - **LPIPS**: Learned Perceptual Image Patch Similarity, a distance between deep features (lower
#   is better).
# - **FID** (Fréchet Inception Distance) and **KID** (Kernel Inception Distance): how far the set
#   of reconstructions is from the set of originals in a network's feature space (lower is better;
#   the names keep "Inception" even when other features stand in).
# - **BD-rate / BD-PSNR** (Bjøntegaard delta): the average rate difference at equal quality (%,
#   negative: fewer bits) and the average quality difference at equal rate (dB), between two curves.
# - **DISTS** (full-reference, deep features like LPIPS) and **NIQE** (no-reference: how natural an
#   image looks alone) appear in the table of metrics when the `pyiqa` package and its weights are
#   present. **VIF (pixel)** is visual information fidelity computed on pixels (piq's VIFp).
# - An uncalibrated LPIPS has its own scale (here far below published values): compare its values
#   only with each other.
# - **caption / image similarity**: cosine similarity, under the *judge*, between a reconstruction
#   and its caption or its original (higher is better). The judge is pretrained CLIP when present,
#   else a mini-CLIP trained like notebook 03's but with another seed on other scenes, so no codec
#   reads its features.
# - **HiFiC**, **MS-ILLM**: published GAN-based codecs; **TCIC**: this course's codec that reads a
#   caption (notebook 05) through SSA blocks (notebook 04: a caption-driven scale and shift of the
#   decoder's features, gated by a predicted mask), **notext** its twin without one.
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
from IPython.display import display
import numpy as np
import pandas as pd
import torch

from tcic_lib import zoo
from tcic_lib.config import profile, seed_everything
from tcic_lib.data import CaptionedPhotos, caption_information_bits
from tcic_lib.evaluate import (compressai_settings, curve, evaluate, model_setting, pil_settings, reconstruct,
                               set_level_scores, shapes_test_scenes, summarize)
from tcic_lib.metrics import HANDCRAFTED, QualityMetrics, Unavailable, bd_psnr, bd_rate, direction, fid_kid
from tcic_lib.plots import crop_grid, objects_crop, rd_rp_figure
from tcic_lib.pretrained import weights_report

logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)  # plain output, not a red box
logging.getLogger("tcic_lib").setLevel(logging.INFO)  # the zoo says where each model comes from

p = profile()
seed_everything(p.data.seed)
for w in weights_report():
    print(f"{w.name}: {'present' if w.available else 'missing (' + w.reason + ')'}")

# %% [markdown]
# ## The metrics and their names
# `QualityMetrics` builds each metric once. Its `labels` are the names results are reported
# under (FID and KID get theirs, with the features and patch size, once computed; MS-SSIM's label,
# also filled in once computed, keeps its five scales and names the window that fits: five scales halve the side four times,
# so the standard 11-tap window needs a side over (11 - 1)·2⁴ = 160 px, and a 64 px image gets a
# 3-tap one); `unavailable` lists what could not be computed here, with the reason. Ten of them are
# hand-crafted (piq: SSIM, VIF, FSIM, GMSD, MS-GMSD, HaarPSI, MDSI, VSI, SR-SIM, DSS) and need no
# downloaded weights; with PSNR and MS-SSIM that is twelve that need no weights at all. The semantic similarities use
# a CLIP the codecs do not read (pretrained when present, else a second mini-CLIP): the one they
# read would judge them in a circle.

# %%
encoder = zoo.text_encoder("minclip", p, progress=False)  # the features the course's TCIC models read
judge = zoo.text_encoder("judge", p, progress=False)  # pretrained CLIP when present, else a mini-CLIP no codec reads
metrics = QualityMetrics(judge, codec_encoders=(encoder.key,))
with pd.option_context("display.max_colwidth", None):
    display(pd.DataFrame({"reported as": pd.Series(metrics.labels),
                          "unavailable because": pd.Series(metrics.unavailable)}).fillna(""))

# %% [markdown]
# ## The codecs
# Pillow's JPEG and WebP at several qualities; the course's learned codecs at the ordinary rates
# (λ printed below), shipped with the course (notebook 05 trains them): `learned notext` (TCIC's
# network without its SSA blocks, trained with the TCIC recipe: the hyperprior architecture of notebook 02, but not
# notebook 02's checkpoint) and `learned tcic` (SSA blocks, reads the caption stored in its file);
# CompressAI's pretrained `bmshj2018-hyperprior` when its weights are in the torch hub cache.
# Every point is a real file, measured with notebook 02's three rates: the payload (`bpp_latent`),
# the file without its caption (`bpp_file`) and the whole file (`bpp_total`).

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
print(len(settings), "codec settings; learned codecs at λ =", ", ".join(f"{lmbda:g}" for lmbda in p.lmbdas))

# %% [markdown]
# ## CaptionedShapes test set
# One row per image and setting (the tidy table, also what `tcic eval` writes as CSV), then a
# summary per setting with FID/KID over the whole set's patches.

# %%
images, captions, test_scenes = shapes_test_scenes(p)
rows = evaluate(settings, images, captions, metrics=metrics)
summary = summarize(rows).merge(set_level_scores(settings, images, captions, metrics), how="left")
print(f"{len(rows)} rows: {len(images)} images x {len(settings)} settings")
if "patches" in summary:
    width = metrics.fid_features.num_features
    n_patches = int(summary["patches"].iloc[0])
    print(f"set-level FID/KID: {metrics.labels['fid']}; {n_patches} patches per set, features {width} wide"
          + ("" if n_patches > width else ": fewer patches than features, so FID's covariance is rank-deficient "
             "and its values are noisy (read them as a ranking; the section on FID below shows the bias)"))
assert len(rows) == len(images) * len(settings), (
    f"expected one row per image and setting, {len(images)} x {len(settings)}; got {len(rows)}")
rows.head(3)

# %%
columns = ["codec", "setting", "bpp_latent", "bpp_file", "bpp_caption", "psnr", "ms_ssim", "lpips", "clip_caption", "fid",
           "kid"]
summary[[c for c in columns if c in summary]].round(4)

# %% [markdown]
# Each set of reconstructions is compared with its own originals. KID estimates a squared kernel
# distance (a polynomial kernel on the same features, averaged over random subsets); its true
# value is at least 0. The estimate is unbiased only for independent samples, and here each
# reconstruction is compared with a set that holds its own original, which it resembles more
# than any other: that pulls the estimate down, the more the closer a codec is to its originals,
# mostly below 0 (a bias, not noise: read these KIDs as a ranking). Notebook 06's headline removes it
# by comparing only patches of different scenes (`tcic_lib.realism`).
#
# ## Every metric, and which way is better
# One column per metric at every codec setting. The hand-crafted ones need no downloaded weights;
# a few need images above a minimum size (VIF and SR-SIM: 41 px), and report NaN below it.

# %%
reported = [m for m in metrics.labels if m in summary and summary[m].notna().any()]
every_metric = summary.set_index(["codec", "setting"])[reported]
every_metric.columns = [f"{metrics.labels[m].split(' (')[0]} ({direction(m)})" for m in reported]
weight_free = [m for m in (*HANDCRAFTED, "psnr", "ms_ssim") if m in reported]
print(f"{len(reported)} metrics reported, {len(weight_free)} of them with no downloaded weights")
assert len(weight_free) >= (12 if p.data.image_size >= 41 else 10), (
    f"only {len(weight_free)} weight-free metrics reported at {p.data.image_size} px, expected at least "
    f"{12 if p.data.image_size >= 41 else 10}: {weight_free}")
every_metric.T.round(4)  # one column per codec setting; the labels' details are in the table of metrics above

# %% [markdown]
# Do the axes agree? Take the WebP setting and the TCIC setting closest to each other in rate and
# ask every metric which of the two is better:

# %%
webp_rows, tcic_rows = (summary[summary["codec"] == c].set_index("setting") for c in ("webp", "learned tcic"))
gaps = np.abs(webp_rows["bpp_file"].to_numpy()[:, None] - tcic_rows["bpp_file"].to_numpy()[None, :])
w, t = np.unravel_index(gaps.argmin(), gaps.shape)
a, b = webp_rows.iloc[w], tcic_rows.iloc[t]
prefers = {"webp": [], "learned tcic": []}
for m in reported:
    if np.isfinite(a[m]) and np.isfinite(b[m]) and a[m] != b[m]:
        better_webp = a[m] > b[m] if direction(m) == "higher" else a[m] < b[m]
        prefers["webp" if better_webp else "learned tcic"].append(metrics.labels[m].split(" (")[0])
print(f"webp {webp_rows.index[w]} ({a['bpp_file']:.2f} bpp) against learned tcic {tcic_rows.index[t]} "
      f"({b['bpp_file']:.2f} bpp):")
for codec, names in prefers.items():
    print(f"  better for {codec}: {', '.join(names) or 'none'}")
handcrafted = {metrics.labels[m].split(" (")[0] for m in HANDCRAFTED if m in metrics.labels}
for codec, names in prefers.items():
    crafted = [n for n in names if n in handcrafted]
    print(f"  {codec}'s: {len(crafted)} hand-crafted (structure, gradient, saliency), {len(names) - len(crafted)} others")
print("the metrics disagree at one rate, " + ("and along family lines: " if prefers["webp"] and set(prefers["webp"]) <= handcrafted
                                              else "") + "no single metric ranks these codecs for all the axes"
      if prefers["webp"] and prefers["learned tcic"] else "the metrics agree here")

# %%
fig = rd_rp_figure(summary, metrics.labels, metrics=("psnr", "ms_ssim", "lpips", "fid", "clip_caption"),
                   x="bpp_file", title=f"CaptionedShapes test, {len(images)} images of {p.data.image_size} px, "
                                       f"profile {p.name} (notebook 00)")
plt.show()


def best_at_lowest(metric):
    """The codec whose lowest-rate point scores best on `metric` (each codec at its own lowest rate)."""
    lowest = summary.loc[summary.groupby("codec")["bpp_file"].idxmin()].set_index("codec")[metric]
    return lowest.idxmax() if direction(metric) == "higher" else lowest.idxmin()


print("best at its own lowest rate (different bits for each codec; TCIC's lowest is also the fewest): " + ", ".join(f"{metrics.labels[m].split(' (')[0]}: {best_at_lowest(m)}"
                                                   for m in ("psnr", "ms_ssim", "lpips", "fid", "clip_caption")
                                                   if m in summary))

# %% [markdown]
# ## BD-rate and BD-PSNR, always together
# A caption can save at most its information content $H(T)$ (notebook 05; computed from the
# caption generator's choices, notebook 00), which the lines under the table compare with.
#
# Against WebP as the anchor, on files without the caption (`bpp_file`, notebook 02's names:
# a learned codec's payload leaves out its header, a WebP file includes its own, so payloads would
# flatter the learned codecs). BD-PSNR is the average PSNR gap at equal rate, defined only where
# the rate ranges overlap; BD-rate the average rate saving at equal PSNR, defined only where the
# PSNR ranges overlap. When curves barely overlap or are nearly flat the functions warn (each
# warning, naming the value it concerns, is printed next to its codec below): a tiny PSNR offset
# on a flat curve becomes a huge BD-rate. The payload column shows what leaving the header out
# would flatter; the last column counts TCIC's caption as sent (file + caption): the other columns
# assume the decoder already has it. The lines printed under the table ask the course's question
# directly: TCIC against its own network without the caption.

# %%
import warnings

anchor = curve(summary, x="bpp_file", codec="webp")
bd_rows = []
for name in summary["codec"].unique():
    if name == "webp":
        continue
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bd_rows.append({"codec": name,
                        "BD-rate vs WebP (%), file, caption not sent": bd_rate(*anchor, *curve(summary, x="bpp_file", codec=name)),
                        "BD-PSNR vs WebP (dB), file, caption not sent": bd_psnr(*anchor, *curve(summary, x="bpp_file", codec=name)),
                        "BD-rate vs WebP (%), payload": bd_rate(*anchor, *curve(summary, codec=name)),
                        "BD-rate vs WebP (%), file + caption": bd_rate(*anchor, *curve(summary, x="bpp_total", codec=name))})
    for message in dict.fromkeys(str(w.message) for w in caught):
        print(f"{name}: {message}")
bd_vs_webp = pd.DataFrame(bd_rows).set_index("codec")
display(bd_vs_webp.round(2))
twin = curve(summary, x="bpp_file", codec="learned notext")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    caption_free = bd_rate(*twin, *curve(summary, x="bpp_file", codec="learned tcic"))
    caption_sent = bd_rate(*twin, *curve(summary, x="bpp_total", codec="learned tcic"))
    caption_psnr = bd_psnr(*twin, *curve(summary, x="bpp_file", codec="learned tcic"))
for message in dict.fromkeys(str(w.message) for w in caught):
    print(f"learned tcic against learned notext: {message}")
print(f"learned tcic against learned notext (same network without the SSA blocks and the caption): BD-rate "
      f"{caption_free:+.1f} % and BD-PSNR {caption_psnr:+.2f} dB with the caption free at the decoder; BD-rate "
      f"{caption_sent:+.1f} % with it sent as UTF-8")
h_t_bits = np.mean([caption_information_bits(scene, split="test") for scene in test_scenes])
tcic_file_bits = summary.loc[summary["codec"] == "learned tcic", "bpp_file"].mean() * p.data.image_size**2
print(f"a caption can save at most H(T) = {h_t_bits:.1f} bits per scene, {h_t_bits / tcic_file_bits:.0%} of a TCIC file "
      "here: " + (f"a BD-rate of {caption_free:+.0f} % is far beyond it, so it is not the caption's information but the "
                  "SSA blocks and their training; notebook 05's capacity-matched control separates the two"
                  if -caption_free / 100 > 2 * h_t_bits / tcic_file_bits else "the BD-rate is within what a caption can give"))
webp_tcic, webp_notext = bd_vs_webp.loc["learned tcic"], bd_vs_webp.loc["learned notext"]
print(f"At equal PSNR, against WebP: learned tcic {webp_tcic.iloc[0]:+.0f} %, learned notext {webp_notext.iloc[0]:+.0f} % "
      f"(files without the caption); with TCIC's caption counted, {webp_tcic.iloc[3]:+.0f} % against WebP but "
      f"{caption_sent:+.0f} % against notext: "
      + ("sent as UTF-8, the caption costs more than it saves." if caption_sent > 0 else
         "TCIC keeps its lead over notext even paying for the caption."))

# %% [markdown]
# ## What the numbers look like
# The same test scene from several codecs at their lowest rates (a 2x zoom of the half-size
# square that holds the most object pixels; each title's rate is the file's, caption not counted).
# The lowest rates differ (JPEG cannot go as low: its quantisation and Huffman tables, stored in
# every file, alone cost more; its lowest mean rate over the test scenes is printed below), and so do the kinds
# of error: JPEG's blocks, WebP's smoothing, the learned codecs' own artefacts (a regular dot grid
# from their upsampling layers). Each title gives the image's PSNR and LPIPS beside its rate.

# %%
x, caption = images[0], captions[0]
first = {s.codec: s for s in reversed(settings)}  # the lowest-rate setting of each codec
panels = {"original": x}
scene_rows = rows[rows["image"] == 0].set_index(["codec", "setting"])  # this scene's scores, measured above
for name, s in first.items():
    x_hat, rates = reconstruct(s, x, caption, caption)
    scores = scene_rows.loc[(name, s.setting)]
    lpips_name = "LPIPS (uncal.)" if "uncalibrated" in metrics.labels.get("lpips", "") else "LPIPS"
    panels[f"{name}\n{rates['bpp_file']:.2f} bpp\n{scores['psnr']:.1f} dB, {lpips_name} {scores['lpips']:.3f}"] = x_hat
crop_grid([panels], box=objects_crop(test_scenes[0], p.data.image_size, p.data.image_size // 2), zoom=2)
plt.show()
print(f"JPEG's lowest mean rate here (its lowest quality, mean over {len(images)} scenes): "
      f"{summary.loc[summary['codec'] == 'jpeg', 'bpp_file'].min():.2f} bpp")

# %% [markdown]
# ## The Fréchet distance, by hand
# FID fits a Gaussian to each set's features and reports the *squared* Fréchet distance between them,
# $d^2 = \lVert \mu_1 - \mu_2 \rVert^2 + \mathrm{Tr}\big(\Sigma_1 + \Sigma_2 - 2(\Sigma_1 \Sigma_2)^{1/2}\big)$.
# Write it, taking the means and covariances as float64 torch tensors and returning a Python float;
# `scipy.linalg.sqrtm` gives the matrix square root, with tiny imaginary parts from rounding that
# `.real` drops (torchmetrics computes the same with eigenvalues):

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
print(f"squared Fréchet distance (what FID reports): ok ({my_frechet_distance(*stats[0], *stats[1]):.4f})")

# %% [markdown]
# ## Why FID needs many patches
# FID fits a Gaussian to the features of each set. Split the *originals* in two halves: both
# come from the same distribution, so the true FID between them is 0. The table cuts them into
# smaller patches, which changes two things at once: each patch shows less, and there are many
# more of them (patches are cut as a grid plus a grid shifted by half a patch, HiFiC's protocol:
# 5 per scene at half its side, 25 at a quarter; the two grids overlap). With few patches the
# estimate sits far above 0, because a covariance estimated from few samples is noisy and the
# noise adds to its trace term; with more it falls, but it does not reach 0 at these set sizes. That floor is not the codecs' floor: it is measured on smaller
# patches, and between *different* scenes, while the codecs' FIDs above compare each
# reconstruction with a set that holds its own original, which pulls FID down as it pulls KID
# (a near-lossless codec scores near 0, below this floor). What the floor shows is the size of the
# small-sample bias; the codecs' FIDs rank them on this set of images only. Notebook 06 measures
# both on the same footing (originals of one half of the scenes against the other half).

# %%
features = metrics.fid_features
half = list(images)
a, b = half[: len(half) // 2], half[len(half) // 2:]
if features is not None:
    bias = []
    for patch in sorted({p.data.image_size // 2, p.data.image_size // 4}, reverse=True):  # each patch is one pass of
        # the feature network (a ViT-B/32 at 224 px when CLIP's weights are present): thousands of patches cost minutes
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
# GPU recipe). TCIC reads each photo's caption written for the course. The semantic panel is the
# image similarity here: the judge was trained on shapes' captions, not on sentences like the
# photos'.

# %%
photos = CaptionedPhotos(max_side=2 * p.data.image_size)
photo_images, photo_captions = (list(t) for t in zip(*(photos[i] for i in range(len(photos)))))
photo_settings = [s for s in settings if s.codec in ("jpeg", "webp", "learned notext", "learned tcic")]
photo_summary = summarize(evaluate(photo_settings, photo_images, photo_captions, metrics=metrics))
rd_rp_figure(photo_summary, metrics.labels, metrics=("psnr", "lpips", "clip_image"), x="bpp_file",
             title=f"{len(photos)} photos, longest side {2 * p.data.image_size} px (the judge CLIP saw shapes, not photos)")
plt.show()
on_photos = photo_summary.groupby("codec")["psnr"].agg(["min", "max"])
print("PSNR on the photos, lowest to highest rate: " + "; ".join(f"{codec} {row['min']:.1f} to {row['max']:.1f} dB"
                                                                  for codec, row in on_photos.iterrows()))
learned_best = on_photos.loc[["learned notext", "learned tcic"], "max"].max()
print("on the photos TCIC is " + ("below" if on_photos.loc["learned tcic", "max"] < on_photos.loc["learned notext", "max"]
                                  else "at or above") + " its text-free twin; this run cannot tell whether the captions "
      "(words its mini-CLIP never read) or the SSA blocks make the difference")
print(f"the learned codecs' best PSNR on photos, {learned_best:.1f} dB, is "
      + ("below JPEG's and WebP's range: models trained on flat synthetic shapes do not carry to photos"
         if learned_best < on_photos.loc[["jpeg", "webp"], "min"].min() else "within JPEG's and WebP's range"))

# %% [markdown]
# ## What caption bits change
# The course's TCIC file stores the caption, so that one file decodes on its own. In TCIC's
# setting the decoder already has the caption (side information) and only the image bits count;
# if it must be sent, the UTF-8 caption costs much more than its information content (notebook
# 05's $H(T)$, computed from the caption generator's choices as in notebook 00; both printed
# below), and on small images it can outweigh the image itself.

# %%
tcic_points = summary[summary["codec"] == "learned tcic"]
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(tcic_points["bpp_total"] - tcic_points["bpp_caption"], tcic_points["psnr"], marker="o", color="tab:red",
        label="tcic, caption free at the decoder")
ax.plot(tcic_points["bpp_total"], tcic_points["psnr"], marker="o", color="tab:red", linestyle="--",
        label="tcic, caption sent as UTF-8")
notext = summary[summary["codec"] == "learned notext"]
ax.plot(notext["bpp_total"], notext["psnr"], marker="s", color="tab:green", label="learned notext (whole file)")
ax.set_xlabel("bits per pixel (what each line counts: see the legend)")
ax.set_ylabel("PSNR (dB)")
ax.legend(loc="lower right")
plt.show()
information = h_t_bits  # H(T), computed with the BD table above
pixels = p.data.image_size**2
print(f"mean caption cost: {tcic_points['bpp_caption'].mean():.4f} bpp as UTF-8 "
      f"({tcic_points['bpp_caption'].mean() * pixels:.0f} bits per scene); its information content H(T) "
      f"{information:.1f} bits per scene ({information / pixels:.4f} bpp)")
sent, free_twin = curve(summary, x="bpp_total", codec="learned tcic"), curve(summary, x="bpp_total", codec="learned notext")
right_of_twin = bool(np.all(np.interp(sent[1], free_twin[1], free_twin[0]) < sent[0]))
print("sent as UTF-8, the caption puts TCIC " + ("to the right of notext (more bits for the same PSNR) at every rate"
                                                   if right_of_twin else "on or left of notext at some rate"))

# %%
caption_share = tcic_points["bpp_caption"] / tcic_points["bpp_total"]
print(f"the UTF-8 caption is {caption_share.min():.0%}-{caption_share.max():.0%} of TCIC's files")
assert (tcic_points["bpp_total"] > tcic_points["bpp_total"] - tcic_points["bpp_caption"]).all(), (
    f"every TCIC file should store its caption (bpp_caption > 0); smallest {tcic_points['bpp_caption'].min():.4f}")
assert (summary.loc[summary["codec"] == "learned notext", "bpp_caption"] == 0).all(), (
    "learned notext reads no caption, so its files should store none; largest bpp_caption "
    f"{summary.loc[summary['codec'] == 'learned notext', 'bpp_caption'].max():.4f}")

# %% [markdown]
# From the command line, `tcic eval` writes the same kind of table and figures for the codecs and
# data you name; for example the JPEG/WebP comparison on the photos (at the CLI's default size, 512
# px): `tcic eval --codec jpeg --codec webp --data photos --out build/eval` (per-image
# `results.csv`, `summary.csv`, `metrics.json` with the labels and the unavailable metrics, `curves.png`).
#
# ## What you learned, and what comes next
# - Distortion, perception, realism and semantics are different axes; a metric is reported with
#   the way it is better, the weights it used, and the image sizes it needs.
# - FID is a Fréchet distance between feature Gaussians, biased upwards with few patches; FID and
#   KID compared with a set that holds each reconstruction's own original are biased down.
# - BD-rate and BD-PSNR summarise two curves only where they overlap; the warnings say where a
#   value rests on a small shared part, and a BD-rate beyond what a caption can carry is not the caption's.
# - A caption the decoder already holds is free; one that must be sent as text can cost more
#   than the image at these sizes (notebook 05 counts it as H(T) bits instead).
#
# Next, notebook 08 runs the ablation grid and lets you decode one file with your own captions.
