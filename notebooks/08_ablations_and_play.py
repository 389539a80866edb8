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
# # 08 · Ablations and a caption playground
#
# Two tools for asking your own questions:
#
# 1. **An ablation grid**: which fusion block (notext, concat, FiLM, SSA, cross-attention),
#    decoded with which caption (true, shuffled, none), at which rate. One call,
#    `tcic_lib.ablate.run_grid`, or `tcic ablate` from the command line; models come from the
#    zoo (trained once, cached; the `cpu` profile's five grid models ship with the course).
# 2. **A playground**: one bitstream, decoded with any caption you type.
#
# **Learning goals**
# 1. Run a fusion x caption grid (x rate, where the profile trains several) and read it honestly: a decode-time cost shows that a
#    model *relies* on its caption, not that the caption *helps* it.
# 2. Compute what a wrong or missing caption costs from the per-image table.
# 3. Decode one bitstream with captions of your own, and check that its bits do not move.
#
# For exercises, `make student` turns the course's solution regions into `NotImplementedError`
# (see the README's section for instructors).

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
import textwrap
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display

from tcic_lib import plan, zoo
from tcic_lib.ablate import cost_table, run_grid
from tcic_lib.config import profile, seed_everything
from tcic_lib.data import COLOURS, PATTERNS, PHOTO_CAPTIONS, caption_for, caption_information_bits, object_mask
from tcic_lib.evaluate import shapes_test_scenes
from tcic_lib.metrics import psnr
from tcic_lib.plots import curves
from tcic_lib.widgets import CaptionPlayground

logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)  # plain output, not a red box
logging.getLogger("tcic_lib").setLevel(logging.INFO)  # the zoo says where each model comes from

p = profile()
seed_everything(p.data.seed)
encoder = zoo.text_encoder("minclip", p, progress=False)
middle = p.middle_lmbda
# the whole grid at every rate in the quick profile; elsewhere one rate (the cpu profile ships its five models)
lmbdas = plan.ablation_lmbdas(p)
print(f"profile {p.name}: rates {lmbdas}")

# %% [markdown]
# ## The grid
# Every fusion is trained the same way (the profile's TCIC recipe, its own captions; the ones
# with a caption path see no caption on 10 % of training steps, *caption dropout*, meant to let
# them decode without one; how well, the `none` rows say). The fusion `notext` is the text-free
# model (notebook 07's `notext`: no caption path at all). Every test file is coded once per model
# and decoded three times: with its own caption (`true`), with the next scene's (`shuffled`) and
# with none (`none`: the decoder's text input is all zeros, as in caption dropout).
#
# The table, per fusion, rate point $\lambda$ (the rate-distortion weight: larger, more bits) and
# decode condition, means over the test scenes (their number is printed just above the table).
# The fusions: `concat` appends a caption vector to the decoder's features, `film` scales and
# shifts every pixel alike, `ssa` does so where its mask says (notebook 04), `xattn` lets every
# pixel attend to the caption's tokens without knowing its own position (notebook 05's positional
# cross-attention, `pxattn`, adds it). Columns:
# `bpp_latent` (the entropy-coded payload, bits per pixel; `bpp_file` adds the header and
# checksums, `bpp_total` also the caption when a file stores it, as the course's TCIC files do so
# that one file decodes on its own; notebook 02 defines them), `psnr`
# (dB, whole image) and `psnr_patterned` (over the pixels of objects with a striped, checked or
# dotted fill), `attributes_accuracy` (share of objects whose colour and pattern notebook 05's
# reader, a classifier trained on originals, reads right), and `cost_of_shuffled` /
# `cost_of_none`: the PSNR the model loses with a shuffled or no caption against its own (one
# value per fusion, repeated on its three rows; 0 by construction for `notext`).

# %%
rows = run_grid(encoder, p, fusions=("none", "concat", "film", "ssa", "xattn"), lmbdas=lmbdas)
rows["fusion"] = rows["fusion"].replace({"none": "notext"})  # the fusion, told apart from the `none` condition
table = cost_table(rows)
objects = rows.drop_duplicates("image")["objects"].sum() if "objects" in rows else float("nan")
print(f"{rows['image'].nunique()} test scenes ({objects:.0f} objects) per row of the table; one training seed per fusion")
table.round(3)

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
true = table.xs("true", level="condition").reset_index()
if len(lmbdas) > 1:
    curves(axes[0], true, "psnr", x="bpp_latent", by="fusion", label="PSNR (dB), true caption")
else:
    for fusion, row in true.set_index("fusion").iterrows():
        axes[0].scatter(row["bpp_latent"], row["psnr"], label=fusion)
    axes[0].set_xlabel("latent bits per pixel")
    axes[0].set_ylabel("PSNR (dB); caption models: true caption")
    axes[0].legend()
costs = table.xs(middle, level="lmbda").xs("true", level="condition")[["cost_of_shuffled", "cost_of_none"]]
costs.rename(columns={"cost_of_shuffled": "shuffled caption", "cost_of_none": "no caption"}).plot.bar(ax=axes[1], rot=0)
axes[1].set_ylabel("PSNR lost vs the true caption (dB)")
axes[1].set_title(f"reliance on the caption at λ={middle:g} (not its benefit)", fontsize=10)
axes[0].set_title(f"each fusion block at λ={middle:g}: the same λ, its own bpp", fontsize=10)
plt.tight_layout()
plt.show()
at_middle = table.xs(middle, level="lmbda").xs("true", level="condition")
no_text, no_text_bpp = at_middle.loc["notext", "psnr"], at_middle.loc["notext", "bpp_latent"]


def reading(fusion, row):
    if fusion == "notext":
        return f"- `notext` (no caption path): {row['psnr']:.2f} dB at {row['bpp_latent']:.3f} bpp"
    without = row["psnr"] - row["cost_of_none"]
    line = (f"- {fusion}: {row['psnr']:.2f} dB with its caption at {row['bpp_latent']:.3f} bpp "
            f"({row['psnr'] - no_text:+.2f} dB and {100 * (row['bpp_latent'] / no_text_bpp - 1):+.0f} % bits against "
            f"`notext`); it loses {row['cost_of_shuffled']:.2f} dB with a shuffled caption and {row['cost_of_none']:.2f} dB "
            "with none")
    if max(abs(row["cost_of_shuffled"]), abs(row["cost_of_none"])) < 0.1:
        return line + (": it hardly reads its caption, so its gain over `notext` does not come from reading it (one "
                       "seed: the extra layers or run-to-run spread).")
    if without < no_text:
        return line + (f": with no caption it decodes at {without:.2f} dB, below `notext`; despite caption dropout it "
                       "has not learned to decode without one.")
    kept = (without - no_text) / (row["psnr"] - no_text) if row["psnr"] > no_text else float("nan")
    return line + (f": even with no caption it decodes at {without:.2f} dB, {without - no_text:+.2f} dB against `notext`: "
                   f"{kept:.0%} of its lead survives without the caption (one seed; what needs the caption is reliance, "
                   "not proof of benefit).")


display(Markdown("\n".join(reading(fusion, row) for fusion, row in at_middle.iterrows())))
images, captions, scenes = shapes_test_scenes(p)  # the grid's test scenes; the playground below uses them too
h_t = np.mean([caption_information_bits(s, split="test") for s in scenes])
fewest = at_middle["bpp_latent"].idxmin()
bits_gap = (no_text_bpp - at_middle.loc[fewest, "bpp_latent"]) * p.data.image_size**2
print(f"a caption can save at most H(T) = {h_t:.1f} bits per scene; {fewest} spends {bits_gap:.0f} bits per scene "
      f"fewer than `notext` at this λ" + (f", {bits_gap / h_t:.0f} times that: differences of this size between fusions "
                                           "are the layers and the training, not the caption's information"
                                           if bits_gap > 2 * h_t else ""))

# %% [markdown]
# ## Reading the grid honestly
# - Differences between fusions at the **true** caption mix two things: the caption's content
#   and the extra layers. The content is only isolated by a capacity-matched control, which
#   notebook 05 trains (the same architecture trained with unrelated captions, so it has the
#   layers but not the information). The decode-time costs (right panel) show *reliance*: a fusion whose
#   output does not change with a shuffled caption is not using the caption, but one whose output
#   does change may still gain nothing from it (notebook 05's control relies on captions it was
#   trained on and has learned nothing from them).
# - `notext` has no caption path: its costs are zero by construction, a check on the table.
# - A wrong caption misleads: with one, the models that read their caption read fewer objects right
#   (`attributes_accuracy`) and lose most on the patterned objects (`psnr_patterned`). No caption
#   is what caption dropout trained them for, so for most fusions it costs less than a wrong one;
#   a fusion for which it costs more has not learned dropout's lesson.
# - The same λ is not the same rate: each fusion lands at its own bpp (left panel). With one rate
#   point a curve cannot be interpolated, so the only comparison this grid supports is a model
#   that wins on both, fewer bits and higher PSNR (the lines above give both).
# - One training seed per fusion: the seed-to-seed spread is not measured at this rate, so no
#   difference between fusions here is established, the largest included; notebook 05 measures
#   what holds over seeds.

# %%
at_middle = table.xs(middle, level="lmbda")
for fusion in at_middle.index.get_level_values("fusion").unique():
    row = at_middle.loc[(fusion, "true")]
    print(f"{fusion:7s} PSNR {row['psnr']:.2f} dB at {row['bpp_latent']:.4f} bpp; "
          f"shuffled caption costs {row['cost_of_shuffled']:+.2f} dB, none {row['cost_of_none']:+.2f} dB")
assert abs(at_middle.loc[("notext", "true"), "cost_of_shuffled"]) < 1e-9, "`notext` has no caption path: its cost must be 0"
files = rows.groupby(["fusion", "lmbda", "image"])["bpp_total"].nunique()
assert (files == 1).all(), "every condition must decode the same file: only the decoder's caption changes"

# %% [markdown]
# Write the cost of a condition from the per-image rows (`rows`: one row per fusion, rate,
# condition and test image, with the columns `fusion`, `lmbda`, `condition`, `image`, `psnr`, ...):
# the mean PSNR with the true caption minus the mean PSNR with the given condition, for one fusion
# at one rate.

# %%
def my_cost_of(rows, fusion, lmbda, condition) -> float:
    ### BEGIN SOLUTION
    part = rows[(rows["fusion"] == fusion) & (rows["lmbda"] == lmbda)]
    return part.loc[part["condition"] == "true", "psnr"].mean() - part.loc[part["condition"] == condition, "psnr"].mean()
    ### END SOLUTION


# %%
toy = pd.DataFrame({"codec": "TCIC", "setting": "λ=0.1", "variant": "tcic", "fusion": "film", "lmbda": 0.1,
                    "condition": ["true", "true", "shuffled", "shuffled"], "image": [0, 1, 0, 1],
                    "bpp_latent": 0.1, "psnr": [30.0, 32.0, 29.0, 30.0]})
other = toy.assign(fusion="ssa", psnr=[10.0, 10.0, 40.0, 40.0])  # another fusion in the same table
other_rate = toy.assign(lmbda=0.2, psnr=[10.0, 10.0, 40.0, 40.0])  # and the same fusion at another rate
cost = my_cost_of(pd.concat([toy, other, other_rate]), "film", 0.1, "shuffled")
assert abs(cost + 1.5) > 1e-9, "the sign: the cost is PSNR with the true caption minus PSNR with the other one"
assert abs(cost - 1.5) < 1e-9, f"{cost}: keep only the rows of this fusion *and* this rate, then true minus `condition`"
assert abs(my_cost_of(toy, "film", 0.1, "shuffled") - cost_table(toy).loc[("film", 0.1, "true"), "cost_of_shuffled"]) < 1e-9, (
    "your cost differs from the library's cost_table on the toy table")
print("cost of a condition: ok")

# %%
for fusion in ("film", "ssa"):
    for condition in ("shuffled", "none"):
        assert abs(my_cost_of(rows, fusion, middle, condition)
                   - table.loc[(fusion, middle, "true"), f"cost_of_{condition}"]) < 1e-9, (
            f"{fusion}, {condition} caption: your cost differs from the library's cost_table on the grid")
print("cost on the grid, shuffled and no caption: ok")

# %% [markdown]
# ## The playground
# Pick a test image, edit its caption, move the rate: the **same bitstream** is decoded with
# your caption. Try naming a different fill pattern or colour for one object, or deleting the
# caption. The captions use synonyms at random ("solid" or "plain", "striped" or "stripy"). The
# bpp (the file's, `bpp_file`: payload and header of this one image, so not the grid's mean
# payload) does not move: the caption is
# decoder-side information. The rates λ (smaller: fewer bits) run from the ultra-low ones of
# notebook 05 (TCIC with positional cross-attention, where image bits are too few to draw the
# patterns and the caption has to) to the ordinary ones (TCIC with SSA, where the image bits
# carry most of it). Below, one scene's first object gets another colour and pattern in the
# caption; where on the picture does the decoder draw the change?

# %%
tcic_models = {r.settings["train"]["lmbda"]: zoo.fetch(r, encoder, progress=False) for r in plan.playground_models(p, encoder)}
print("the playground's rates: " + ", ".join(f"λ={lmbda:g} ({'positional cross-attention' if lmbda in p.low_lmbdas else 'SSA'})"
                                              for lmbda in sorted(tcic_models))
      + f"; λ={middle:g}, the middle of the SSA rates, is the grid's")
playground = CaptionPlayground(tcic_models, encoder, images, captions)

scene = scenes[0]
first = scene.objects[0]  # another colour and pattern for the first object, said in the captions' own grammar
changed = replace(first, colour=next(c for c in COLOURS if c != first.colour),
                  pattern=next(q for q in PATTERNS if q != first.pattern))
edited_caption = caption_for(replace(scene, objects=(changed, *scene.objects[1:])), np.random.default_rng(0))
print("true caption:  ", captions[0])
print("edited caption:", edited_caption)
def object_pixels(scene, obj):
    return torch.from_numpy(object_mask(replace(scene, objects=(obj,)), p.data.image_size))


views, lines = {}, []
for lmbda in (p.lowest_lmbda, middle):
    original, edited = playground.update(0, captions[0], lmbda), playground.update(0, edited_caption, lmbda)
    views[lmbda] = (original, edited)
    assert original.bpp == edited.bpp, "the same file decoded with another caption: its bits cannot change"
    change = (original.x_hat - edited.x_hat).abs().mean(0)  # per pixel, on the 0-1 scale
    on = {o.place: change[object_pixels(scene, o)].mean().item() for o in scene.objects}
    where = max(on, key=on.get)
    lines.append(f"- λ={lmbda:g} ({'positional cross-attention' if lmbda in p.low_lmbdas else 'SSA'}), file "
                 f"{original.bpp:.3f} bpp either way: the decoded pixels change by {change.mean():.4f} on average "
                 f"(0-1 scale); most on the object at the {where} ({on[where]:.3f}, {on[where] * 255:.0f} of 255 levels)"
                 + (f", the one the edit names ({on[where] * 255:.0f} of 255 levels on average: "
                    + ("visible, by the course's rule of thumb of 20 levels on a flat patch)." if on[where] * 255 >= 20
                       else "under the course's rule of thumb of 20 levels for a visible change on a flat patch).")
                    if where == first.place else
                    f", not on the edited one at the {first.place} ({on[first.place]:.3f}): here the words were bound "
                    "to the wrong place (notebook 05 measures how often its decoder reads each object right)."))

fig, axes = plt.subplots(2, 3, figsize=(9, 6.4))
fig.suptitle(textwrap.fill(f"one file per row, two captions; edited: {edited_caption}", 90), fontsize=9)
for row, (lmbda, (original, edited)) in enumerate(views.items()):
    for ax, (picture, title) in zip(axes[row], [(images[0], "original"),
                                                (original.x_hat, f"λ={lmbda:g} ({'pos. cross-attn' if lmbda in p.low_lmbdas else 'SSA'}), "
                                                                 f"file {original.bpp:.3f} bpp:\ntrue caption"),
                                                (edited.x_hat, "same file: edited caption")]):
        ax.imshow(picture.permute(1, 2, 0).clamp(0, 1))
        ax.set_title(title, fontsize=9)
        ax.axis("off")
fig.tight_layout(h_pad=2)
plt.show()
display(Markdown("\n".join(lines)))

# %%
playground.panel()  # interactive in Jupyter / Colab (an exported page shows only the widget's description)

# %% [markdown]
# ## Your own image through a shipped model
# Any image works (any size, greyscale or RGBA is converted): put its path below. Here, a photo that
# ships with scikit-image stands in, shrunk to 128 px so the course's small models code it in a
# moment. The learned codecs were trained on 64 px synthetic scenes, so
# on a photo they show how far a course-sized model carries, not what TCIC does on natural images;
# CompressAI's pretrained hyperprior (`tcic fetch-weights`, then `--model bmshj2018-hyperprior`) is
# the real-photo codec. The same from the command line:
# `tcic compress my.png -o my.tcic --model tcic-ssa --quality 2 --caption "..."` (`--quality`
# counts `tcic-ssa`'s rates from 1, the lowest, so 2 is the middle one used here; `tcic models`
# lists them).

# %%
from tcic_lib.bitstream import decode, encode
from tcic_lib.data import load_photo
from tcic_lib.evaluate import file_rates
from tcic_lib.images import as_image_tensor

your_image = as_image_tensor(load_photo("astronaut"))  # or: as_image_tensor(PIL.Image.open("my.png"))
your_image = torch.nn.functional.interpolate(your_image[None], size=(128, 128), mode="area")[0]
your_caption = PHOTO_CAPTIONS["astronaut"]  # words the course's mini-CLIP never saw: shapes, colours, places only
print(f"caption: {your_caption!r}; model: TCIC with SSA at λ={middle:g}")
model = tcic_models[middle]
data = encode(model, your_image, your_caption)
yours = decode(model, data, text_encoder=encoder)
without = decode(model, data, text_encoder=encoder, caption=None)
yours_psnr = psnr(yours[None], your_image[None]).item()
print(f"the same file decoded with no caption: {psnr(without[None], your_image[None]).item():.1f} dB, against "
      f"{yours_psnr:.1f} dB with it")
fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.4))
for ax, (picture, title) in zip(axes, [(your_image, "the image (128 px)"),
                                       (yours, f"decoded: file {file_rates(data)['bpp_file']:.3f} bpp (caption not counted),\n"
                                               f"PSNR {yours_psnr:.1f} dB")]):
    ax.imshow(picture.permute(1, 2, 0).clamp(0, 1))
    ax.set_title(title, fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# Expect little: a decoder trained on flat shapes over smooth gradients draws a photo's detail
# as blobs, and its mini-CLIP has never read words like these. That is the distance between this
# course's small models and a codec for natural images.

# %% [markdown]
# ## Which model is which, across the course
# | notebook | model | what it is |
# |---|---|---|
# | 01 | `EntropyBottleneck` on a fixed transform | a factorized entropy model, trained in the notebook |
# | 02 | `factorized`, `hyperprior` | image-only codecs (`models.Factorized`, `models.Hyperprior`), three rates |
# | 04 | painters | small decoders with each fusion block, trained in the notebook on one task |
# | 05 | `tcic-pxattn`, `control-pxattn`, `positional`, `notext`, bases | ultra-low rates, shared-encoder recipe, several seeds |
# | 05, 07, 08 | `tcic-ssa`, `control-ssa`, `notext` | ordinary rates (SSA); 07's `learned notext` is this `notext`, not 02's `hyperprior` |
# | 05 | `conditional` | the caption at both ends (encoder and means), several seeds |
# | 06 | `gan-tcic-<fusion>-<textD, plainD or noadv>-seed<s>` | decoders of notebook 05's TCIC fine-tuned with a text D, a plain D or no adversary (files unchanged); three seeds at the ultra-low rate |
# | 08 | the grid | one TCIC per fusion block at the middle rate, and `notext`; its `ssa` model is the playground's SSA model at that rate |
# | 08 | the playground | notebook 05's TCIC (seed 0): positional cross-attention at the ultra-low rates, SSA above |
#
# `tcic models` lists the named ones with their rates and test numbers; `checkpoints/README.md`
# gives every shipped model's command, seed, steps and wall time.
#
# ## References
# - J. Ballé, V. Laparra, E. P. Simoncelli, *End-to-end optimized image compression*, ICLR 2017. [arXiv:1611.01704](https://arxiv.org/abs/1611.01704)
# - J. Ballé, D. Minnen, S. Singh, S. J. Hwang, N. Johnston, *Variational image compression with a scale hyperprior*, ICLR 2018. [arXiv:1802.01436](https://arxiv.org/abs/1802.01436)
# - D. Minnen, J. Ballé, G. Toderici, *Joint autoregressive and hierarchical priors for learned image compression*, NeurIPS 2018. [arXiv:1809.02736](https://arxiv.org/abs/1809.02736)
# - J. Ballé, N. Johnston, D. Minnen, *Integer networks for data compression with latent-variable models*, ICLR 2019. [openreview](https://openreview.net/forum?id=S1zz2i0cY7)
# - A. D. Wyner, J. Ziv, *The rate-distortion function for source coding with side information at the decoder*, IEEE Trans. Inf. Theory 22(1), 1976. [doi:10.1109/TIT.1976.1055508](https://doi.org/10.1109/TIT.1976.1055508)
# - X. Qin et al., *Perceptual image compression with cooperative cross-modal side information* (TCIC), 2023. [arXiv:2311.13847](https://arxiv.org/abs/2311.13847)
# - W. Liao et al., *Text to image generation with semantic-spatial aware GAN* (SSA-GAN), CVPR 2022. [arXiv:2104.00567](https://arxiv.org/abs/2104.00567)
# - M. Tao et al., *DF-GAN: a simple and effective baseline for text-to-image synthesis*, CVPR 2022. [arXiv:2008.05865](https://arxiv.org/abs/2008.05865)
# - Y. Blau, T. Michaeli, *Rethinking lossy compression: the rate-distortion-perception tradeoff*, ICML 2019. [arXiv:1901.07821](https://arxiv.org/abs/1901.07821)
# - F. Mentzer, G. Toderici, M. Tschannen, E. Agustsson, *High-fidelity generative image compression* (HiFiC), NeurIPS 2020. [arXiv:2006.09965](https://arxiv.org/abs/2006.09965)
# - M. Muckley et al., *Improving statistical fidelity for neural image compression with implicit local likelihood models* (MS-ILLM), ICML 2023. [arXiv:2301.11189](https://arxiv.org/abs/2301.11189)
# - M. Careil, M. J. Muckley, J. Verbeek, S. Lathuilière, *Towards image compression with perfect realism at ultra-low bitrates* (PerCo), ICLR 2024. [arXiv:2310.10325](https://arxiv.org/abs/2310.10325)
# - A. Radford et al., *Learning transferable visual models from natural language supervision* (CLIP), ICML 2021. [arXiv:2103.00020](https://arxiv.org/abs/2103.00020)
# - F. Brand, J. Seiler, A. Kaup, *On benefits and challenges of conditional interframe video coding in light of information theory*, 2023. [arXiv:2307.12864](https://arxiv.org/abs/2307.12864)

# %% [markdown]
# ## What you learned, and where the course leaves you
# - A grid of fusions and captions is cheap to run; a decode-time cost shows reliance on the
#   caption, and only a capacity-matched control shows a gain from it.
# - The same bits decode differently with different words: the caption is decoder-side
#   information, free when the decoder already holds it; where the decoder draws what the words
#   say depends on how well it binds them to places.
#
# **The course in one paragraph.** TCIC codes an image with a learned hyperprior codec whose
# decoder also reads a caption through CLIP features (notebooks 01-04). A caption can save at most
# what it tells about the image, $I(X;T) \le H(T)$ bits (notebook 05, about twenty per scene here): next to the thousand-odd bits
# a scene takes at ordinary rates (the grid's bpp times the scene's pixels) that is little, but at the ultra-low rates, where image bits are
# scarce, a decoder that reads the caption's words by position can draw more of what the caption
# names (when it binds them to the right place; the playground above says, for one file at each rate, where the edit landed);
# notebook 05 measures how much of $H(T)$ it saves against the best text-free codec we have, over
# training seeds. Notebook 06 measures what a text-conditional discriminator adds beyond
# fine-tuning without one, and notebook 07 reads every codec with many metrics, none of them
# computed with the text encoder the decoders read.
#
# **What to try next.** With a GPU, `TCIC_PROFILE=gpu` trains the same studies at 128 px; the
# README's recipe trains TCIC, its control and the no-text model on CUB-200 captions (real photos,
# real sentences), with `torchrun` across GPUs. On real data the caption tells less about each
# pixel and more about what kind of thing is where: measure it with the same ledger, against the
# same controls.
