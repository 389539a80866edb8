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
# # 06 · Text-conditional adversarial fine-tuning
#
# **Why MSE blurs.** A decoder trained on MSE outputs, for each bitstream, the *average* of all
# images that could have produced it. At low rate many images share a bitstream, and their
# average is smooth: textures the bits did not pin down are washed out. A GAN loss asks instead
# for an output that looks like a *sample* from the data: sharp, even if not the exact pixels.
#
# TCIC's abstract says a **text-conditional GAN** fine-tunes its codec. Our design (the
# paper's body is not available): the RD-trained TCIC of notebook 05 keeps its encoder and
# entropy models (so its files and its bpp do not change, as in HiFiC's second stage) and its
# decoder is fine-tuned on
#
# $$L_G = \lambda \cdot 255^2 \cdot \mathrm{MSE} + w_P \cdot \mathrm{LPIPS} + w_A \cdot (-D(\hat x, t))$$
#
# against a discriminator $D(x, t)$ that reads the caption $t$.
#
# **Learning goals**
# 1. Measure why an MSE-trained decoder blurs.
# 2. Build a text-conditional discriminator's loss: hinge terms, mismatched captions, and the
#    matching-aware gradient penalty.
# 3. Fine-tune at identical files and tell the adversary's gain from what fine-tuning alone
#    does, with a plain D and a no-adversary twin.
#
# The perceptual term is LPIPS; offline, without AlexNet's ImageNet weights, its backbone is
# random and the course labels it *uncalibrated*: still a deep-feature distance, not the
# published LPIPS.

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
import inspect
import logging

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from IPython.display import Markdown, display

from tcic_lib import plan, zoo
from tcic_lib.adversarial import TextConditionalDiscriminator, matching_aware_gradient_penalty
from tcic_lib.config import profile, seed_everything
from tcic_lib.evaluate import evaluate, model_setting, reconstruct, set_level_scores, shapes_test_scenes, summarize
from tcic_lib.losses import d_hinge_loss
from tcic_lib.metrics import QualityMetrics
from tcic_lib.plots import crop_grid, objects_crop
from tcic_lib.texture import high_frequency_energy, median_with_interval, paired_separation, texture_kept

logging.basicConfig(level=logging.WARNING, format="%(message)s")
logging.getLogger("tcic_lib").setLevel(logging.INFO)  # the zoo says where each model comes from

p = profile()
g = seed_everything(p.data.seed)
encoder = zoo.text_encoder("minclip", p, progress=False)
lmbda = p.lmbdas[0]  # the lowest of the ordinary rates (notebook 05's ultra-low ones come later)
print(f"profile {p.name}: fine-tuning at λ={lmbda:g} for {p.gan_steps} steps")

# %% [markdown]
# ## The blur, measured
# The RD-trained TCIC at the lowest ordinary rate: its reconstructions carry less high-frequency energy
# (the mean squared Laplacian) than the originals.

# %%
test_images, captions, _ = shapes_test_scenes(p)
images, n_eval = torch.stack(test_images), len(test_images)
rd_recipe = zoo.tcic_recipe("tcic", encoder, p, lmbda)
rd_model = zoo.fetch(rd_recipe, encoder, progress=False)
conditioner = zoo.caption_conditioner(rd_recipe, rd_model, encoder)


def detail(x):
    laplacian = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).expand(3, 1, 3, 3)
    return F.conv2d(x, laplacian, groups=3).pow(2).mean().item()


assert np.isclose(detail(images), high_frequency_energy(images))  # the library's, used after fine-tuning
with torch.no_grad():
    rd_hat = rd_model(images, conditioner(captions))["x_hat"].clamp(0, 1)
print(f"high-frequency energy of the RD reconstructions: {detail(rd_hat) / detail(images):.2f} x the originals'")

# %% [markdown]
# ## The discriminator reads the caption
# `TextConditionalDiscriminator` scores every patch as $w \cdot f(x) + \langle P t, f(x)\rangle$:
# a projection discriminator (Miyato and Koyama, 2018), so the caption moves the boundary
# between real and fake. Spectral normalisation keeps it smooth.
#
# Its hinge loss has a third term, as in text-to-image GANs: a **real image with a wrong
# caption counts as fake**, so D must check that image and caption match, not just realism.
# With scores $s$ and mismatch weight $w$:
#
# $$L_D = \mathbb E[\max(0, 1 - s_{\text{real}})] + (1 - w)\,\mathbb E[\max(0, 1 + s_{\text{fake}})]
#        + w\,\mathbb E[\max(0, 1 + s_{\text{real, wrong caption}})]$$
#
# so $w$ splits the "fake" half of the loss between reconstructions and mismatched pairs ($w = 0$:
# no matching term; the course uses 0.5). Write it (the library's `d_hinge_loss` is the reference):

# %%
def my_d_hinge(real, fake, mismatched, mismatch_weight=0.5):
    ### BEGIN SOLUTION
    d_real = torch.relu(1 - real).mean()
    d_fake = torch.relu(1 + fake).mean()
    d_mismatch = torch.relu(1 + mismatched).mean()
    return d_real + (1 - mismatch_weight) * d_fake + mismatch_weight * d_mismatch
    ### END SOLUTION


# %%
scores = [torch.randn(4, 16, generator=g) for _ in range(3)]
real, fake, mismatched = scores
assert torch.allclose(torch.as_tensor(my_d_hinge(real, fake, mismatched, mismatch_weight=0.0)),
                      torch.relu(1 - real).mean() + torch.relu(1 + fake).mean()), (
    "with no mismatched term: hinge on real scores, mean(relu(1 - D(real))), plus mean(relu(1 + D(fake)))")
for w in (0.25, 0.5, 1.0):
    assert torch.allclose(torch.as_tensor(my_d_hinge(*scores, mismatch_weight=w)),
                          d_hinge_loss(*scores, mismatch_weight=w)["d_loss"]), (
        f"at mismatch_weight={w}: a real image with a wrong caption counts as fake, and the two 'fake' terms share "
        "the weight: (1 - w) * fake term + w * mismatched term")
print("hinge loss with the mismatched-caption term, at every weight: ok")

# %% [markdown]
# The **matching-aware gradient penalty** (DF-GAN, Tao et al. 2022) penalises the gradient of
# $D$ with respect to both the real image and its caption, $2 \cdot \lVert \nabla_{x,t} D \rVert^6$:
# it smooths D around real, matching pairs, which keeps the adversarial signal useful.

# %%
print(inspect.getsource(matching_aware_gradient_penalty))
d = TextConditionalDiscriminator(encoder.dim, channels=16)
t = conditioner(captions[:4]).pooled
print(f"an untrained D: penalty {matching_aware_gradient_penalty(d, images[:4], t).item():.4f}, "
      f"{sum(q.numel() for q in d.parameters()):,} parameters")

# %% [markdown]
# ## Fine-tuning, three ways, at two rates
# - **text D**: TCIC with the text-conditional discriminator (the paper's claim);
# - **plain D**: TCIC with the same discriminator minus its caption term;
# - **no adversary**: TCIC fine-tuned with the same loop and losses but the adversarial weight
#   at zero. The RD model's decoder was trained on noisy latents and decodes rounded ones, and
#   the fine-tuning adds an LPIPS term: both move PSNR and LPIPS by themselves (either way), and
#   this run measures how much. Only what the GAN runs gain beyond it is the adversary's.
#
# The same steps, learning rates and weights for all three (printed below; the twin keeps the
# LPIPS term and still trains its D, whose score G ignores), and the RD-only TCIC and its
# capacity-matched control of notebook 05 as references. Frozen encoders: every model's files
# are byte-for-byte those of its RD model, so the comparison is at identical bpp. Two rate
# points: the lowest ordinary rate (SSA), where the image bits already carry what a caption says,
# and the lowest ultra-low rate of notebook 05 (positional cross-attention), where patterns and
# colours are lost without the caption: there a text-conditional D has something to check. At the
# ordinary rate the reconstructions already show almost every object's colour and pattern (the
# attribute column below), and a caption is a function of the scene: a D that checks the caption
# against the image finds nothing the image does not already say.

# %%
rates = plan.gan_rates(p)
gan_recipes = {(rate, name): r for rate, (lmbda_r, fusion) in rates.items()
               for name, r in plan.gan_runs(p, encoder, lmbda_r, fusion).items()}
finetuned = {key: zoo.fetch(r, encoder, progress=False) for key, r in gan_recipes.items()}

print({k: v for k, v in gan_recipes[next(iter(gan_recipes))].settings["gan"].items() if k not in ("seed",)})
fig, axes = plt.subplots(len(rates), 3, figsize=(13, 3.4 * len(rates)), squeeze=False, layout="constrained")
for row, rate in enumerate(rates):
    for (r_rate, name), r in gan_recipes.items():
        if r_rate != rate:
            continue
        history = pd.DataFrame(zoo.history(r)["train"])
        smooth = history.rolling(max(1, len(history) // 20), min_periods=1).mean()
        for ax, column in zip(axes[row], ("d_loss", "g_adv", "lpips")):
            ax.plot(smooth["step"], smooth[column], label=name, linestyle="--" if "no adversary" in name else "-")
    for ax, title in zip(axes[row], ("D hinge loss", "G adversarial term, -mean D(x̂)", "LPIPS (training batches)")):
        ax.set_title(f"{title}, {rate} rate", fontsize=9)
        ax.set_xlabel("step")
    axes[row, 0].legend(fontsize=8)
plt.show()

# %% [markdown]
# ## Before and after, at the same bits
# Every model through real files on the held-out test scenes. LPIPS was also a training term,
# so it is not an independent judge; KID (with its spread over subsets; an unbiased estimate, so
# it can dip below 0), the attribute reader of notebook 05 and the CLIP similarities are: the CLIP that
# judges is pretrained CLIP when present, else a second mini-CLIP trained on other scenes from
# another seed, never the one the decoders read (`QualityMetrics` refuses that one).

# %%
judge = zoo.text_encoder("judge", p, progress=False)  # semantic metrics from an image-text model no codec reads
metrics = QualityMetrics(judge, codec_encoders=(encoder.key,))
_, _, test_scenes = shapes_test_scenes(p)
settings, summaries = {}, []
for rate, (lmbda_r, fusion) in rates.items():
    rd = {v: zoo.fetch(zoo.tcic_recipe(v, encoder, p, lmbda_r, fusion=fusion), encoder, progress=False)
          for v in ("tcic", "control")}
    settings[rate] = [model_setting(f"RD only ({v})", m, rate, encoder) for v, m in rd.items()]
    settings[rate] += [model_setting(name, finetuned[rate, name], rate, encoder)
                       for (r_rate, name) in gan_recipes if r_rate == rate]
    part = summarize(evaluate(settings[rate], test_images, captions, metrics=metrics, scenes=test_scenes))
    summaries.append(part.merge(set_level_scores(settings[rate], test_images, captions, metrics), how="left"))
summary = pd.concat(summaries)
columns = ["setting", "codec", "bpp_latent", "psnr", "lpips", "dists", "kid", "kid_std", "attributes_accuracy",
           "clip_caption"]
print({k: metrics.labels[k] for k in ("lpips", "kid", "clip_caption") if k in metrics.labels})
summary[[c for c in columns if c in summary]].set_index(["setting", "codec"]).round(4)

# %%
table = summary.set_index(["setting", "codec"])
for rate in rates:
    base, text_d = table.loc[(rate, "RD only (tcic)")], table.loc[(rate, "TCIC + text D")]
    assert base["bpp_latent"] == text_d["bpp_latent"]  # frozen encoder: the same files
    print(f"{rate}: LPIPS {base['lpips']:.4f} -> text D {text_d['lpips']:.4f}, PSNR {text_d['psnr'] - base['psnr']:+.2f} dB, "
          f"attributes right {base['attributes_accuracy']:.0%} -> {text_d['attributes_accuracy']:.0%}, "
          f"KID {base['kid']:.4f}±{base['kid_std']:.4f} -> {text_d['kid']:.4f}±{text_d['kid_std']:.4f}")

# %% [markdown]
# ## Texture, measured where the scene puts it
# The blur measure of the first section, re-measured after fine-tuning, and a texture statistic read
# from the scenes' known geometry: inside each patterned object, the pattern's contrast (mean colour
# of the pixels its fill paints minus the pixels it leaves white: a matched filter at the pattern's
# own period), reconstruction over original. 1 keeps the whole pattern; a blur that keeps the
# object's colour but not its stripes scores near 0. The first table gives medians over the
# patterned objects with bootstrap intervals; the second compares two runs object by object on
# the same files (the mean of the paired differences, which can order two runs differently from
# their medians), and says roughly how many objects a difference of that size needs before its
# interval excludes 0, $(1.96\,\mathrm{sd}/|\mathrm{mean}|)^2$. One training seed each: seed-to-seed
# spread is not in these intervals. The high-frequency energy rises with sharper edges but also
# with any artefact, so it is read beside the pattern contrast, not alone.

# %%
texture_rows, kept_by = [], {}
for rate in rates:
    for s in settings[rate]:
        payloads, _ = s.encode(test_images, captions)
        x_hat = [x.clamp(0, 1) for x in s.decode(payloads, captions)]
        per_object = kept_by[rate, s.codec] = texture_kept(x_hat, test_images, test_scenes)
        kept = median_with_interval(per_object, n_boot=p.n_boot)
        texture_rows.append({"rate": rate, "setting": s.codec, "objects": len(per_object),
                             "pattern contrast kept (median)": kept[0], "95% low": kept[1], "95% high": kept[2],
                             "high-frequency energy / original's": high_frequency_energy(torch.stack(x_hat))
                             / high_frequency_energy(images)})
texture = pd.DataFrame(texture_rows).set_index(["rate", "setting"])
display(texture.round(3))
# the adversary's own effect (against the no-adversary twin) and the caption's (text D against plain D), object by
# object on the same files: the difference, its interval, and about how many objects would separate them
comparisons = {"adversary: text D - no adversary": ("TCIC + text D", "TCIC, no adversary"),
               "caption in D: text D - plain D": ("TCIC + text D", "TCIC + plain D")}
separation = pd.DataFrame([{"rate": rate, "comparison": label,
                            **paired_separation(kept_by[rate, a], kept_by[rate, b], n_boot=p.n_boot)}
                           for rate in rates for label, (a, b) in comparisons.items()]).set_index(["rate", "comparison"])
separation.round(3)

# %% [markdown]
# ## Side by side, at the ultra-low rate
# Original, RD-only and fine-tuned reconstructions of the same files, each row a 2x zoom of the
# half-size square of its scene that holds the most object pixels; the rate in a title is the
# payload's (the file adds its header and checksums; the caption travels beside it). Regular dot
# grids in the reconstructions are the codec's artefacts, not the scene's dotted fill.

# %%
side = p.data.image_size // 2
for i in range(min(3, n_eval)):
    row = {"original": images[i]}
    for s in settings["ultra-low"]:
        x_hat, rate_of = reconstruct(s, images[i], captions[i], captions[i])
        row[f"{s.codec}\n{rate_of['bpp_latent']:.4f} bpp payload"] = x_hat
    crop_grid([row], box=objects_crop(test_scenes[i], p.data.image_size, side), zoom=2)
    plt.show()

# %% [markdown]
# ## What the discriminator does with a wrong caption
# The fine-tuned text-conditional D scores real test images with their own caption, with the
# next image's caption, and the fine-tuned reconstructions with their own caption. A D that
# learned to match image and text ranks the wrong-caption pairs below the true ones.

# %%
low_rd_recipe = zoo.tcic_recipe("tcic", encoder, p, rates["ultra-low"][0], fusion=rates["ultra-low"][1])
model = finetuned["ultra-low", "TCIC + text D"]
cond = zoo.caption_conditioner(low_rd_recipe, model, encoder)
disc = zoo.discriminator(gan_recipes["ultra-low", "TCIC + text D"], encoder)
with torch.no_grad():
    true_t = cond(captions).pooled
    wrong_t = true_t.roll(1, dims=0)
    fake = model(images, cond(captions))["x_hat"].clamp(0, 1)
    d_scores = {"real, true caption": disc(images, true_t).mean(1), "real, wrong caption": disc(images, wrong_t).mean(1),
                "reconstruction, true caption": disc(fake, true_t).mean(1)}
fig, ax = plt.subplots(figsize=(6, 3))
ax.boxplot([v.numpy() for v in d_scores.values()], tick_labels=list(d_scores), orientation="horizontal")
ax.set_xlabel("D score (higher: judged real and matching)")
plt.show()
print({k: round(v.mean().item(), 3) for k, v in d_scores.items()})

# %% [markdown]
# ## Reading the results
# Written by the cell from the numbers above (nothing typed in):

# %%
def delta(rate, metric, a, b):
    return table.loc[(rate, a), metric] - table.loc[(rate, b), metric]


def fmt(value, digits):
    return f"{value + 0.0:+.{digits}f}"  # + 0.0: no "-0.000"


hf = texture["high-frequency energy / original's"]
lines = []
for rate in rates:
    rd, twin = table.loc[(rate, "RD only (tcic)")], table.loc[(rate, "TCIC, no adversary")]
    text_d, plain_d = table.loc[(rate, "TCIC + text D")], table.loc[(rate, "TCIC + plain D")]
    lines.append(
        f"- **{rate} rate** ({rd['bpp_latent']:.4f} bpp of payload, the same files for every run; one training seed "
        f"each, so these differences carry no seed interval). *Fine-tuning alone* (RD model to its no-adversary twin): "
        f"PSNR {fmt(twin['psnr'] - rd['psnr'], 2)} dB, LPIPS {fmt(twin['lpips'] - rd['lpips'], 4)} (lower is better), "
        f"KID {fmt(twin['kid'] - rd['kid'], 3)}, attributes {rd['attributes_accuracy']:.0%} -> "
        f"{twin['attributes_accuracy']:.0%}, high-frequency energy {hf[(rate, 'RD only (tcic)')]:.2f} -> "
        f"{hf[(rate, 'TCIC, no adversary')]:.2f} of the originals'. *The adversary* (text D minus the twin): PSNR "
        f"{fmt(text_d['psnr'] - twin['psnr'], 2)} dB, LPIPS {fmt(text_d['lpips'] - twin['lpips'], 4)}, KID "
        f"{fmt(text_d['kid'] - twin['kid'], 3)}, attributes {fmt(100 * (text_d['attributes_accuracy'] - twin['attributes_accuracy']), 0)} "
        f"points. *The caption in D* (text D minus plain D): LPIPS {fmt(text_d['lpips'] - plain_d['lpips'], 4)}, KID "
        f"{fmt(text_d['kid'] - plain_d['kid'], 3)}, attributes "
        f"{fmt(100 * (text_d['attributes_accuracy'] - plain_d['attributes_accuracy']), 0)} points.")
for (rate, label), row in separation.iterrows():
    separated = row["95% low"] > 0 or row["95% high"] < 0
    lines.append(f"- {label} at the {rate} rate, pattern contrast kept (paired mean over objects): {fmt(row['difference'], 3)} "
                 f"({row['95% low']:+.3f} to {row['95% high']:+.3f}) over {row['items']:.0f} objects: "
                 + ("separated on these objects (one training seed)." if separated else
                    f"not separated; a difference this size needs about {row['items needed']:.0f} objects."))
lines.append(f"- D's mean score at the ultra-low rate: real with its caption {d_scores['real, true caption'].mean():+.3f}, "
             f"real with a wrong caption {d_scores['real, wrong caption'].mean():+.3f}, reconstruction "
             f"{d_scores['reconstruction, true caption'].mean():+.3f}.")
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## What you learned, and what comes next
# - MSE decoders average what the bits leave open; an adversary asks for a plausible sample.
# - A text-conditional D scores (image, caption) pairs, counts real images with wrong captions
#   as fake, and is kept smooth by a matching-aware gradient penalty.
# - A claim that the text-conditional GAN helps needs the same fine-tuning without the
#   adversary and with a plain D, at identical files. Here most of what the GAN runs change,
#   fine-tuning without an adversary changes too; the reading above says, from this run's
#   numbers and on one training seed, what is left to the adversary and to the caption in D.
#   Where the image bits already carry what the caption says (notebook 05's ordinary rates), a
#   text D has little left to fix.
#
# Next, notebook 07 measures every codec with many metrics and explains what each one sees.
