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
# # 00 · Setup: profile, device, what runs offline
#
# This course builds, step by step, a **perceptual image codec whose decoder reads a caption**:
# the TCIC system of *Perceptual Image Compression with Cooperative Cross-Modal Side
# Information* (Qin et al., [arXiv 2311.13847](https://arxiv.org/abs/2311.13847)).
# The paper's abstract fixes four ideas, and each gets its own notebooks:
#
# 1. a CLIP **text** encoder gives side information that only the **decoder** sees;
# 2. a **Semantic-Spatial Aware (SSA) block** predicts a semantic mask and applies a
#    text-adaptive affine transform at pixel level;
# 3. a **text-conditional GAN** fine-tunes the codec for perceptual quality;
# 4. results are **rate-distortion-perception** curves under many quality metrics.
#
# The paper's body and code are not public. Every architecture detail beyond the abstract is
# *our* design, and every number in this course is measured by its code (on the models that ship
# with it, or that you train), never copied from the paper.
#
# **The course, notebook by notebook**
# - 00 (this one): the profile, the offline rules, the data.
# - 01 Entropy models: quantisation, a learned probability model, a real arithmetic (rANS) coder.
# - 02 Hyperprior: a full image codec; besides the coded image features (its *latents*) its file
#   carries a small summary of their statistics, the hyperprior.
# - 03 CLIP text features: a caption turned into vectors the decoder can read.
# - 04 SSA block: a text-adaptive affine transform gated by a predicted mask.
# - 05 TCIC: the caption given to the decoder; what it saves, against controls and the bound.
# - 06 Adversarial fine-tuning: a text-conditional GAN for perceptual quality.
# - 07 Evaluation: rate-distortion-perception curves under many metrics.
# - 08 Ablations and play: which fusion block, and your own captions and images.
#
# **Words used from here on** (each notebook defines its own again where it needs them)
# - *rate*: the bits a file takes, usually in **bits per pixel (bpp)**; *distortion*: how far the
#   decoded image is from the original (MSE, or PSNR in dB: higher is closer).
# - *side information*: something the decoder knows besides the file, here the image's caption.
# - *perception*: whether decoded images look real, measured by FID/KID (distances between sets of
#   images); LPIPS, a learned distance between two images, is a perceptual kind of distortion
#   (notebook 07).
#
# **Learning goals**
# 1. Know the profile that sizes every later notebook, and why the default (`cpu`) is the one
#    whose models ship with the course.
# 2. Know what runs offline and which pretrained weights are used when present.
# 3. Meet CaptionedShapes: scenes whose captions carry a known number of bits.
# 4. See, before running anything long, what each notebook will load and what it would train.

# %% [markdown]
# ## Colab setup
# In Colab this cell fetches the course and installs only the packages that are missing; it
# never reinstalls torch. Elsewhere (`make course`, `make test`, a local Jupyter) it does nothing.

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

# %% [markdown]
# ## The profile: one knob for every size
# The environment variable `TCIC_PROFILE` picks it (set it before starting Jupyter, e.g.
# `TCIC_PROFILE=gpu make course`, or `os.environ["TCIC_PROFILE"] = "gpu"` before importing
# `tcic_lib`): `quick` (the tests: tiny models trained for seconds, numbers that mean
# nothing), `cpu` (the default: the sizes whose trained models ship with the course, so the
# effects show on a laptop and a GPU only makes it faster), `gpu` (opt-in: bigger models that
# train for hours). `device()` is CUDA when a GPU is visible, else the CPU (`TCIC_DEVICE` overrides it).
#
# A profile is a few small configs plus the rate points. The fields later notebooks use:
#
# | field | what it sets |
# |---|---|
# | `data` | image size in pixels, how many training / validation / test scenes, the data seed |
# | `codec` | `N`: channels inside the transforms; `M`: channels of the latent that is quantised and coded |
# | `train` | one codec's training run (steps, batch, learning rate); its `lmbda` is a placeholder that each model's rate point replaces |
# | `clip` | the course's mini-CLIP (notebook 03) |
# | `lmbdas` | the ordinary rate points: weights λ of the loss `λ·255²·MSE + bits per pixel` (pixels in [0, 1], so 255² puts the MSE in grey levels of 0-255); a larger λ buys more bits and less distortion, and each λ gives one point of a rate-distortion curve; the middle one (printed below) is the default where a notebook needs a single rate |
# | `low_lmbdas` | the ultra-low rate points where the caption matters most (notebook 05) |
# | `low_rate` | the ultra-low-rate recipe: its steps, training seeds (`seeds` for the headline, `other_seeds` for the rest), `bridge_lmbdas` (a point between the two ranges), `gan_steps` (notebook 06) |
# | `eval_images` | how many held-out scenes each table is measured on (the first of the test split, fewer than `data`'s test scenes to keep the metrics fast), unless it says otherwise |
# | `n_boot` | bootstrap resamples behind every interval over images |
#
# The other fields are explained where a notebook uses them. Every later notebook reads its sizes
# from this object and hard-codes none; `profile("gpu")` also returns any profile by name.

# %%
import torch

import tcic_lib
from tcic_lib.config import PROFILES, device, profile, seed_everything

p = profile()
print(f"profile: {p.name}   device: {device()}")
for field, value in vars(p).items():
    print(f"  {field:15s} {value}")
print(f"  middle rate point: λ = {p.middle_lmbda}")

# %% [markdown]
# Profiles differ in size, not in kind: each step up trains on more, larger images with
# wider models. A quick check that they grow the way the names say:

# %%
sizes = {name: (prof.data.image_size, prof.data.n_train, prof.codec.N, prof.train.steps) for name, prof in PROFILES.items()}
print("profile  (image px, train scenes, N, steps)")
for name, size in sizes.items():
    print(f"  {name:6s} {size}")
assert all(q < c < g for q, c, g in zip(sizes["quick"], sizes["cpu"], sizes["gpu"])), f"profiles must grow in every size: {sizes}"

# %% [markdown]
# An unknown profile name is an error that names the valid ones:

# %%
try:
    profile("bogus")
except ValueError as err:
    print(err)

# %% [markdown]
# ## Seeds
# Every random thing in the course takes a seed; `seed_everything` seeds Python, NumPy and
# torch at once and returns a generator. Two seeded draws agree:

# %%
a = torch.rand(3, generator=seed_everything(p.data.seed))
b = torch.rand(3, generator=seed_everything(p.data.seed))
print(a, b)
assert torch.equal(a, b), "two draws from the same seed must agree"

# %% [markdown]
# ## Library versions

# %%
from importlib.metadata import PackageNotFoundError, version

for package in ["torch", "torchvision", "compressai", "open_clip_torch", "lpips", "torchmetrics",
                "pytorch-msssim", "scikit-image", "numpy"]:
    try:
        print(f"{package:16s} {version(package)}")
    except PackageNotFoundError:
        print(f"{package:16s} not installed")
print(f"{'tcic_lib':16s} {tcic_lib.__version__}")

# %% [markdown]
# ## Pretrained weights on this machine
# The course uses pretrained weights **when they are on disk** and says so when they are not
# (the list below is the library's; it includes CompressAI's own pretrained codecs). It never swaps in a different network under the same name:
#
# - OpenAI CLIP ViT-B/32: the text encoder. Missing, the course trains its own mini-CLIP
#   (notebook 03) and every plot says which encoder made it.
# - AlexNet: calibrated LPIPS. Missing, LPIPS runs with random backbone weights and is
#   labelled *uncalibrated*: it still ranks images by a deep-feature distance, but its values are
#   not comparable with published LPIPS.
# - Inception-v3: FID/KID as the literature computes them. Missing, FID/KID use other image
#   features and every FID/KID label names them (notebook 07).
# - CompressAI's pretrained hyperprior (Ballé et al. 2018): a reference codec for photos in
#   notebooks 07 and 08. Missing, its curve is left out and the notebooks say so.
#
# Nothing below goes online; it only looks at local files and caches.

# %%
from tcic_lib.pretrained import weights_report

report = weights_report()
for w in report:
    status = f"present: {w.path}" if w.available else f"missing: {w.reason}"
    print(f"{w.name:32s} {status}\n{'':32s} used for {w.used_for}")
missing = [w.name for w in report if not w.available]
print("\nOn this machine: " + (f"{len(missing)} of {len(report)} missing ({', '.join(missing)}): the later notebooks use "
      "the fallbacks listed above and label every number that depends on them." if missing else "every pretrained weight is present."))

# %% [markdown]
# With a network (Colab, or a workstation), one call downloads all of them into those caches:
# `tcic fetch-weights` from a shell, or the cell below, which runs it in Colab only (it skips
# what is already there). Every label above then switches to the real metric by itself; runs
# without a network are unaffected.

# %%
from tcic_lib.download import fetch_weights

if "google.colab" in sys.modules:
    fetch_weights(progress=False)

# %% [markdown]
# ## The data
# The course trains on **CaptionedShapes**: synthetic scenes of 1-3 objects with fill patterns
# over a smooth background, each with a generated caption that names every object. The
# generator knows each scene's parameters, so we can count the information a caption carries:
# $-\log_2 p$ of what it names, with the object count (1-3), the objects' cells on a 3×3 grid
# (a set: their order says nothing) and each object's shape, colour, size and pattern drawn
# uniformly. Every scene with the same number of objects carries the same bits. The wording
# ("plain" or "solid" fill, "checkered" or "chequered", the sentence's template and word order) is drawn at random too, but carries no bits
# about the image. Real photos that ship with scikit-image, with captions written for this course,
# are the offline real-image set (for evaluation only; notebooks 07 and 08 shrink them).

# %%
import textwrap

import matplotlib.pyplot as plt

from tcic_lib.data import CaptionedPhotos, CaptionedShapes, caption_information_bits

shapes = CaptionedShapes("train", size=p.data.image_size, n=p.data.n_train, seed=p.data.seed)
photos = CaptionedPhotos()
fig, axes = plt.subplots(1, 4, figsize=(13, 4.8))
for k, ax in enumerate(axes[:3]):
    image, caption = shapes[k]
    ax.imshow(image.permute(1, 2, 0))
    ax.set_title(f"a {p.data.image_size}×{p.data.image_size} scene; its caption\ncarries "
                 f"{caption_information_bits(shapes.scene(k)):.1f} bits", fontsize=10)
    ax.set_xlabel(textwrap.fill(caption, 36), fontsize=9)
photo, photo_caption = photos[0]
axes[3].imshow(photo.permute(1, 2, 0))
axes[3].set_title(f"a captioned photo\n{photo.shape[2]}×{photo.shape[1]} px", fontsize=10)
axes[3].set_xlabel(textwrap.fill(photo_caption, 36), fontsize=9)
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()
print(f"{len(shapes)} training scenes of {p.data.image_size} px; {len(photos)} captioned photos")
print("bits each caption above carries:", [round(caption_information_bits(shapes.scene(k)), 1) for k in range(3)])
assert shapes[0][0].shape == (3, p.data.image_size, p.data.image_size), f"a scene is (3, H, W): got {tuple(shapes[0][0].shape)}"

# %% [markdown]
# Where these bits come from, for a scene of $n$ objects: $\log_2 3$ for the count,
# $\log_2\binom{9}{n}$ for which cells, and $n$ times the bits of one object's attributes.
# And why they matter: the caption is not in the file, the decoder gets it for free, so these bits
# are the most a caption could save (the bound notebook 05 measures against). The last lines
# below compare them with a whole scene's file at two assumed example rates, about notebook 02's
# lowest ordinary rate and notebook 05's ultra-low ones (those notebooks measure the real ones).
# The caption fixes the objects; the background's gradient must still be coded.

# %%
import math

from tcic_lib.data.shapes import COLOURS, GRID, MAX_OBJECTS, PATTERNS, SHAPES, SIZES

per_object = sum(math.log2(len(choices)) for choices in (SHAPES, COLOURS, SIZES, PATTERNS))


def caption_bits_by_hand(n: int) -> float:
    """log2 of the object count's choices + log2 of which cells + n objects' attributes."""
    return math.log2(MAX_OBJECTS) + math.log2(math.comb(GRID * GRID, n)) + n * per_object


print(f"one object: shape {math.log2(len(SHAPES)):.2f} + colour {math.log2(len(COLOURS)):.2f} + size "
      f"{math.log2(len(SIZES)):.2f} + pattern {math.log2(len(PATTERNS)):.2f} = {per_object:.2f} bits")
for n in range(1, MAX_OBJECTS + 1):
    by_hand = caption_bits_by_hand(n)
    scene = next(shapes.scene(k) for k in range(len(shapes)) if len(shapes.scene(k).objects) == n)
    print(f"{n} object(s): {math.log2(MAX_OBJECTS):.2f} + {math.log2(math.comb(GRID * GRID, n)):.2f} + "
          f"{n}×{per_object:.2f} = {by_hand:.1f} bits"
          f" = {by_hand / p.data.image_size ** 2:.4f} bpp of a {p.data.image_size} px scene")
    assert abs(by_hand - caption_information_bits(scene)) < 1e-9, "the formula above must be the library's"
fewest, richest = caption_bits_by_hand(1), caption_bits_by_hand(MAX_OBJECTS)
for example_bpp in (0.25, 0.025):  # about notebook 02's lowest ordinary rate, and notebook 05's ultra-low ones
    file_bits = example_bpp * p.data.image_size ** 2
    print(f"at {example_bpp} bpp a {p.data.image_size} px scene's file is {file_bits:.0f} bits: a caption's "
          f"{fewest:.0f}-{richest:.0f} bits would be {fewest / file_bits:.0%}-{richest / file_bits:.0%} of it")

# %% [markdown]
# ## What each notebook will load, and what it would train
# The course's trained models come from one place (`zoo.fetch`): a checkpoint shipped with the
# course, else the model cache, else training now. `plan.course_plan` says, per notebook, how many
# models are ready and how many would be trained, with the training FLOPs counted
# (`torch.utils.flop_counter`) and the time estimated from one measured step on this machine; both
# count only the models that would be trained here, so they read 0 when everything is shipped or
# cached. A notebook's "models" are all its rates, seeds and variants (notebook 05's: TCIC, its
# control, the text-free codec and their shared bases at the ultra-low rates with up to five
# training seeds each, the conditional codec, and the three ordinary-rate codecs, each defined there). The table counts the zoo's models;
# notebooks 01 and 04 also train small models of their own, in a few minutes each, with a
# progress bar. Whether every zoo model ships in this profile:

# %%
from tcic_lib.plan import course_plan

plan_table = course_plan(p)
to_train = int(plan_table["to train"].sum())
print(f"{to_train} zoo models to train here, about {plan_table['est. minutes here'].sum():.0f} minutes" if to_train
      else f"every zoo model of profile {p.name} is shipped or cached: nothing to train")
plan_table

# %% [markdown]
# ## What you learned, and what comes next
# - One profile sizes the whole course; the default, `cpu`, is the one whose models ship (the plan
#   above says whether any would train here).
# - The course runs offline; pretrained weights are used when present and named when missing.
# - CaptionedShapes scenes come with captions whose information content is known exactly.
#
# Next, notebook 01 turns pixels into bits: quantisation, an entropy model and a real coder.
