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
# 1. **An ablation grid**: which fusion block (none, concat, FiLM, SSA, cross-attention),
#    decoded with which caption (true, shuffled, none), at which rate. One call,
#    `tcic_lib.ablate.run_grid`, or `tcic ablate` from the command line; models come from the
#    zoo (trained once, cached; the `cpu` profile's SSA, xattn and no-text models ship with the course).
# 2. **A playground**: one bitstream, decoded with any caption you type.
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

import matplotlib.pyplot as plt
import torch

from tcic_lib import zoo
from tcic_lib.ablate import cost_table, run_grid
from tcic_lib.config import profile, seed_everything
from tcic_lib.evaluate import shapes_test_scenes
from tcic_lib.plots import curves
from tcic_lib.widgets import CaptionPlayground

logging.basicConfig(level=logging.INFO, format="%(message)s")  # the zoo says where each model comes from

p = profile()
seed_everything(p.data.seed)
encoder = zoo.text_encoder("minclip", p, progress=False)
middle = p.middle_lmbda
# the whole grid at every rate in the quick profile; elsewhere one rate, so that only concat and
# FiLM need training (about 10 minutes each on a CPU in the cpu profile)
lmbdas = p.lmbdas if p.name == "quick" else (middle,)
print(f"profile {p.name}: rates {lmbdas}")

# %% [markdown]
# ## The grid
# Every fusion is trained the same way (the profile's TCIC recipe, its own captions, 10 %
# caption dropout). Every test file is coded once per model and decoded three times.

# %%
rows = run_grid(encoder, p, fusions=("none", "concat", "film", "ssa", "xattn"), lmbdas=lmbdas)
table = cost_table(rows)
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
    axes[0].set_ylabel("PSNR (dB), true caption")
    axes[0].legend()
costs = table.xs(middle, level="lmbda").xs("true", level="condition")[["cost_of_shuffled", "cost_of_none"]]
costs.plot.bar(ax=axes[1])
axes[1].set_ylabel("PSNR lost vs the true caption (dB)")
axes[1].set_title(f"what the caption is worth at λ={middle:g}")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Reading the grid honestly
# - Differences between fusions at the **true** caption mix two things: the caption's content
#   and the extra layers. The content is only isolated by a capacity-matched control
#   (notebook 05 trains one for SSA and xattn); here, the decode-time costs (right panel) are
#   the content signal: a fusion whose output does not change when its caption is shuffled is
#   not using the caption, whatever its PSNR.
# - `none` has no caption path: its costs are zero by construction, a check on the table.
# - One seed, a few dozen test scenes: differences of a few hundredths of a dB are noise.

# %%
at_middle = table.xs(middle, level="lmbda")
for fusion in at_middle.index.get_level_values("fusion").unique():
    row = at_middle.loc[(fusion, "true")]
    print(f"{fusion:7s} PSNR {row['psnr']:.2f} dB at {row['bpp_latent']:.4f} bpp; "
          f"shuffled caption costs {row['cost_of_shuffled']:+.2f} dB, none {row['cost_of_none']:+.2f} dB")
assert abs(at_middle.loc[("none", "true"), "cost_of_shuffled"]) < 1e-9  # no caption path, no cost

# %% [markdown]
# ## The playground
# Pick a test image, edit its caption, move the rate: the **same bitstream** is decoded with
# your caption. Try naming a different fill pattern or colour for one object, or deleting the
# caption. The bpp does not move: the caption is decoder-side information.

# %%
images, captions, _ = shapes_test_scenes(p)
tcic_models = {lmbda: zoo.fetch(zoo.tcic_recipe("tcic", encoder, p, lmbda), encoder, progress=False) for lmbda in p.lmbdas}
playground = CaptionPlayground(tcic_models, encoder, images, captions)

original = playground.update(0, captions[0], middle)
edited_caption = captions[0].replace("striped", "dotted").replace("solid", "checked") + " in red"
edited = playground.update(0, edited_caption, middle)
print("true caption:  ", captions[0])
print("edited caption:", edited_caption)
print(f"bpp {original.bpp:.4f} and {edited.bpp:.4f}; mean |change| of the decoded pixels: "
      f"{(original.x_hat - edited.x_hat).abs().mean().item():.4f}")

fig, axes = plt.subplots(1, 3, figsize=(9, 3))
for ax, (picture, title) in zip(axes, [(images[0], "original"), (original.x_hat, "true caption"),
                                       (edited.x_hat, "edited caption")]):
    ax.imshow(picture.permute(1, 2, 0).clamp(0, 1))
    ax.set_title(title, fontsize=9)
    ax.axis("off")
plt.show()

# %%
playground.panel()  # interactive in Jupyter / Colab; a static figure elsewhere
