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
# # 04 · The Semantic-Spatial Aware (SSA) block
#
# TCIC's abstract describes how its decoder reads the caption: a **Semantic-Spatial Aware
# block** predicts a *semantic mask* and applies a *text-adaptive affine transform at pixel
# level*, guided by that mask. The idea comes from SSA-GAN (Liao et al., CVPR 2022), a
# text-to-image generator. The details below are **our design** (the paper's body is not
# public): a residual form that is the identity at initialisation, a batch-independent
# normalisation (a codec decodes one image at a time) and a mask predictor that may read the
# caption too.
#
# $$m = \sigma(\langle k(x), w + q(t)\rangle + b),\qquad x' = x + m \odot \big(\gamma(t) \odot \mathrm{norm}(x) + \beta(t)\big)$$
#
# The caption $t$ decides *what* to change ($\gamma$, $\beta$ per channel); the mask decides *where*.
#
# **Learning goals**
# 1. Build the SSA block (mask head, text-adaptive affine) and check it against the library.
# 2. See why every fusion block starts as the identity.
# 3. On a task where only the caption knows the answer, tell a caption gain from a capacity gain
#    with shuffled captions, and read what the mask learned.

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
import textwrap
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from IPython.display import Markdown, display

from tcic_lib import zoo
from tcic_lib.config import profile, seed_everything
from tcic_lib.data import PATTERNS, CaptionedShapes, object_mask, render_scene
from tcic_lib.data.shapes import PATTERN_PERIOD
from tcic_lib.fusion import SSAFusion, TextCondition, build_fusion
from tcic_lib.progress import tqdm

p = profile()
g = seed_everything(p.data.seed)
print(f"profile {p.name}")

# %% [markdown]
# ## Building the block
# The mask predictor gives every pixel a small key $k(x)$ (a 1x1 conv, then a depthwise 3x3 for
# context) and the caption a query $q(t)$; the mask is $\sigma(\langle k(x), w + q(t)\rangle + b)$:
# the design's aim is that the caption asks "where is what I describe?" (whether a trained block
# does is measured below). $w$ is a learned vector (the image-only query), $b$ a learned bias, and
# $\langle\cdot,\cdot\rangle$ a dot product over the key channels at each pixel; $q(t)$'s last
# layer also starts at zero, so the untrained mask reads the image alone. Keys 16 wide keep the head cheap.
# $\gamma$ and $\beta$ are MLPs of the caption whose last layers start at zero, so the block
# starts as the identity and a decoder that gains one loses nothing before training.
# $\mathrm{norm}$ is a GroupNorm with one group and no learned affine: each image's features
# scaled to zero mean and unit variance over all its channels and pixels.
#
# **Exercise:** finish `forward` below: compute the affine $\gamma(t)\,\mathrm{norm}(x) + \beta(t)$
# and return $x$ plus the mask-gated affine. The cell after it checks that the block is the
# identity at initialisation, that the mask gates the affine, and that you used $\mathrm{norm}(x)$.

# %%
def zero_linear(d_in, d_out):
    layer = nn.Linear(d_in, d_out)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class MySSA(nn.Module):
    def __init__(self, channels, text_dim, hidden=64, mask_dim=16):
        super().__init__()
        self.mask_keys = nn.Sequential(
            nn.Conv2d(channels, mask_dim, 1), nn.ReLU(), nn.Conv2d(mask_dim, mask_dim, 3, padding=1, groups=mask_dim))
        self.mask_weight = nn.Parameter(torch.randn(mask_dim) / mask_dim**0.5)
        self.mask_bias = nn.Parameter(torch.zeros(()))
        self.mask_query = nn.Sequential(nn.Linear(text_dim, hidden), nn.ReLU(), zero_linear(hidden, mask_dim))
        self.norm = nn.GroupNorm(1, channels, affine=False)
        self.gamma = nn.Sequential(nn.Linear(text_dim, hidden), nn.ReLU(), zero_linear(hidden, channels))
        self.beta = nn.Sequential(nn.Linear(text_dim, hidden), nn.ReLU(), zero_linear(hidden, channels))

    def forward(self, x, t):  # x (B, C, H, W), t (B, D)
        query = self.mask_weight + self.mask_query(t)  # (B, mask_dim)
        logits = torch.einsum("bkhw,bk->bhw", self.mask_keys(x), query)[:, None] + self.mask_bias
        mask = torch.sigmoid(logits)  # (B, 1, H, W)
        ### BEGIN SOLUTION
        affine = self.gamma(t)[..., None, None] * self.norm(x) + self.beta(t)[..., None, None]
        return x + mask * affine
        ### END SOLUTION


# %%
x = torch.randn(2, 16, 8, 8, generator=g)
t = torch.randn(2, 32, generator=g)
mine = MySSA(16, 32)
assert torch.equal(mine(x, t), x), "an untrained SSA block must be the identity"
for layer in (mine.gamma[-1], mine.beta[-1]):  # as if trained: the caption now sets a scale and a shift
    torch.nn.init.normal_(layer.weight, generator=g)
with torch.no_grad():
    out = mine(x, t)
    mask = torch.sigmoid(torch.einsum("bkhw,bk->bhw", mine.mask_keys(x), mine.mask_weight + mine.mask_query(t))[:, None]
                         + mine.mask_bias)
    expected = x + mask * (mine.gamma(t)[..., None, None] * mine.norm(x) + mine.beta(t)[..., None, None])
assert not torch.equal(out, x), "with trained text layers the block must change x: add the mask-gated affine to x"
assert not torch.allclose(out, x + mine.gamma(t)[..., None, None] * mine.norm(x) + mine.beta(t)[..., None, None]), (
    "the affine acts everywhere: gate it with the mask (x + mask * affine)")
assert torch.allclose(out, expected, atol=1e-5), (
    "affine = gamma(t) * norm(x) + beta(t), with gamma and beta per channel ([..., None, None]) and norm(x) "
    "the normalised features (self.norm), not x itself")
print("identity at initialisation, and the text-gated affine once trained: ok")

# %% [markdown]
# The library's `SSAFusion` is the same block behind the course's common fusion interface
# (`block(x, TextCondition)`, where no caption means zeros); it folds the normalisation and the
# affine into one per-channel scale and shift for speed. With the same weights, after moving them
# away from zero, both give the same output:

# %%
print(SSAFusion.__doc__)
library = SSAFusion(16, 32)
for layer in (mine.gamma[-1], mine.beta[-1]):
    nn.init.normal_(layer.weight, std=0.1)
library.load_state_dict(mine.state_dict())
assert torch.allclose(library(x, TextCondition(t)), mine(x, t), atol=1e-6), (
    "MySSA differs from SSAFusion with the same weights by up to "
    f"{(library(x, TextCondition(t)) - mine(x, t)).abs().max():.2e}: return x + mask * (gamma(t) * norm(x) + beta(t))")
assert not torch.allclose(mine(x, t), x), "with its text layers away from zero the block should change x"
print("MySSA == tcic_lib.fusion.SSAFusion")

# %% [markdown]
# ## A task where the caption is needed: draw the named pattern
# Give a small network a scene with every object drawn **solid**, and ask it for the real
# scene with its stripes, checks and dots. The pixels do not say which pattern each object
# has; the caption does. This is a toy version of what TCIC's decoder faces at low rate,
# where the bits were too few to carry the texture.
#
# The network: two convolutions, a fusion block, then a per-pixel head (its last layer starting
# at zero, so the untrained network returns its input), added to its input. The fills are drawn
# on a grid anchored to the image (period `PATTERN_PERIOD` pixels), and a stack of small
# convolutions cannot tell where in that period a pixel lies; so, like notebook 05's positional
# features, the network also gets the phase: the sine and cosine of each pixel's row and column
# at the pattern's period. We train it three times, changing only
# the fusion: `none` (no caption), `film` (FiLM, Perez et al. 2018: $x(1 + \gamma(t)) + \beta(t)$,
# the caption changes every pixel alike, with no mask and no normalisation) and `ssa` (the caption
# acts where the mask says, on normalised features). The caption vectors are centred (the mean
# training caption subtracted), so that "no caption", the zero vector, means the average caption;
# `encoder.encode(captions)[1]` is the pooled sentence vector of notebook 03.

# %%
train_set = CaptionedShapes("train", size=p.data.image_size, n=p.data.n_train, seed=p.data.seed)
test_set = CaptionedShapes("test", size=p.data.image_size, n=max(p.data.n_test, p.eval_images), seed=p.data.seed)


def solid(scene):
    return replace(scene, objects=tuple(replace(o, pattern="solid") for o in scene.objects))


def pair(ds, i):
    """(solid input, real target) as float tensors."""
    to_tensor = lambda a: torch.from_numpy(a).permute(2, 0, 1).float() / 255.0
    return to_tensor(render_scene(solid(ds.scene(i)), ds.size)), ds[i][0]


encoder = zoo.text_encoder("minclip", p)
text_mean = encoder.encode(train_set.captions)[1].mean(0)


def text_of(captions):
    return TextCondition(encoder.encode(captions)[1] - text_mean)


def pattern_phase(x):
    """(B, 4, H, W): sin and cos of each pixel's row and column at the fill pattern's period."""
    b, _, h, w = x.shape
    angle = 2 * torch.pi / PATTERN_PERIOD
    rows, cols = torch.meshgrid(torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij")
    phase = torch.stack([(angle * rows).sin(), (angle * rows).cos(), (angle * cols).sin(), (angle * cols).cos()])
    return phase.expand(b, -1, -1, -1)


class PatternPainter(nn.Module):
    def __init__(self, fusion, channels=16):
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(3 + 4, channels, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU())
        self.fusion = build_fusion(fusion, channels, encoder.dim)
        self.tail = nn.Sequential(nn.Conv2d(channels + 4, channels, 1), nn.ReLU(), nn.Conv2d(channels, 3, 1))
        nn.init.zeros_(self.tail[-1].weight)  # start as the identity: output = solid input
        nn.init.zeros_(self.tail[-1].bias)

    def forward(self, x, text):
        phase = pattern_phase(x)
        features = self.fusion(self.head(torch.cat([x, phase], 1)), text)
        return x + self.tail(torch.cat([features, phase], 1))


def train_painter(fusion):
    torch.manual_seed(p.data.seed)
    batches = torch.Generator().manual_seed(p.data.seed)  # the same batches for every fusion
    net = PatternPainter(fusion)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for _ in tqdm(range(p.train.steps), desc=f"painter ({fusion})"):
        idx = torch.randint(len(train_set), (p.train.batch_size,), generator=batches).tolist()
        inputs, targets = map(torch.stack, zip(*(pair(train_set, i) for i in idx)))
        loss = F.mse_loss(net(inputs, text_of([train_set.caption(i) for i in idx])), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return net, losses


painters, curves = {}, {}
for fusion in ("none", "film", "ssa"):
    painters[fusion], curves[fusion] = train_painter(fusion)

plt.figure(figsize=(6, 3))
for fusion, losses in curves.items():
    plt.plot(torch.tensor(losses).unfold(0, min(50, len(losses)), 1).mean(1), label=fusion,
             linestyle="--" if fusion == "film" else "-")
plt.xlabel("step")
plt.ylabel("MSE, pixels in [0, 1]\n(training batches, running mean)")
plt.title("the painters' training loss (running mean over 50 steps)", fontsize=10)
plt.legend(loc="upper right")
plt.show()
print(f"{p.train.steps} steps, batches of {p.train.batch_size} from {len(train_set)} training scenes of "
      f"{p.data.image_size} px, Adam at 1e-3; the same batches for every fusion, so the curves move together")
print({f: f"{sum(q.numel() for q in net.parameters()):,} parameters" for f, net in painters.items()})

# %% [markdown]
# What each painter draws, on held-out scenes (true captions; the last column is the SSA painter
# given another scene's caption):

# %%
n = p.eval_images
inputs, targets = map(torch.stack, zip(*(pair(test_set, i) for i in range(n))))
captions = [test_set.caption(i) for i in range(n)]
shuffled = captions[1:] + captions[:1]
shown = [i for i in range(n) if any(o.pattern != "solid" for o in test_set.scene(i).objects)][:3]
columns = {"target": targets[shown], "input (solid objects)": inputs[shown]}
with torch.no_grad():
    for fusion, net in painters.items():
        columns[f"{fusion}, true caption" if fusion != "none" else "none (reads no caption)"] = net(
            inputs[shown], text_of([captions[i] for i in shown]))
    columns["ssa, another scene's caption"] = painters["ssa"](inputs[shown], text_of([shuffled[i] for i in shown]))
fig, axes = plt.subplots(len(shown), len(columns), figsize=(2.1 * len(columns), 2.3 * len(shown)))
for row in range(len(shown)):
    for col, (title, pictures) in enumerate(columns.items()):
        axes[row, col].imshow(pictures[row].clamp(0, 1).permute(1, 2, 0))
        axes[row, col].set_title(title if row == 0 else "", fontsize=8)
        axes[row, col].axis("off")
fig.tight_layout()
plt.show()
for row, i in enumerate(shown):
    print(f"row {row + 1}: {captions[i]}\n       another scene's: {shuffled[i]}")

# %% [markdown]
# Look before reading the numbers. `none` cannot know which pattern an object has, so the best it
# can do under mean squared error is a blend of all of them on every object. The painters that
# read the caption can draw the named pattern, and where they do, they sometimes draw it on the
# wrong object: the pooled sentence vector says which patterns the scene has, not which object has
# which (notebook 03 measured that binding): in the rows above, look for objects that get another
# object's pattern. With another scene's caption (the next scene's) they draw that scene's patterns.
#
# ## Held-out scenes, true and shuffled captions
# PSNR on test scenes never seen in training, from the mean squared error over the whole set
# (a per-image mean would be dominated by all-solid scenes, whose input is already perfect).
# *Shuffled* gives each scene another scene's caption: if a model's gain over `none` survives
# shuffling, the gain came from extra layers, not from what the caption says. (`none` has
# fewer parameters than the others here; the codec notebooks use a capacity-matched control.)

# %%
def set_psnr(x_hat, x):
    return (-10 * torch.log10(F.mse_loss(x_hat.clamp(0, 1), x))).item()


def set_psnr_of(mse_per_image):
    return (-10 * torch.log10(mse_per_image.mean())).item()


results = {}
with torch.no_grad():
    for fusion, net in painters.items():
        results[fusion] = {
            "true caption": set_psnr(net(inputs, text_of(captions)), targets),
            "shuffled caption": set_psnr(net(inputs, text_of(shuffled)), targets),
            "average caption": set_psnr(net(inputs, None), targets),  # the zero vector: the layers without the words
        }
print(f"input (solid objects): {set_psnr(inputs, targets):.2f} dB over {n} test scenes")
for fusion, r in results.items():
    print(f"{fusion:5s} true {r['true caption']:.2f} dB   shuffled {r['shuffled caption']:.2f} dB   "
          f"average caption {r['average caption']:.2f} dB")
assert results["none"]["true caption"] == results["none"]["shuffled caption"], (  # none ignores text
    f"the `none` painter ignores the caption, so true and shuffled captions should give the same PSNR; got "
    f"{results['none']['true caption']:.4f} and {results['none']['shuffled caption']:.4f} dB")

# %% [markdown]
# ## Where the SSA block looks
# The masks of the trained SSA block on test scenes, with the true caption, the same caption
# with every pattern word swapped, and no caption (the zero vector: after centring the caption
# features, that is the *average* caption). A mask that follows the objects, and changes
# when the caption names other patterns, is the "semantic-spatial" part at work. Four scenes are
# drawn (columns: the target, the solid input, then the three masks, which share one colour scale
# per row, its bar at the right); the numbers under the figure are over all test scenes. The thin
# bright or dark lines along the borders come from the convolutions' zero padding, not from the
# scene.

# %%
swap = {"striped": "chequered", "stripy": "dotted", "checked": "striped", "checkered": "striped",
        "chequered": "dotted", "dotted": "striped", "spotted": "checked", "polka-dot": "striped",
        "solid": "striped", "plain": "dotted"}


def swapped(caption):
    return " ".join(swap.get(word.strip(","), word) + ("," if word.endswith(",") else "") for word in caption.split())


ssa = painters["ssa"].fusion
with torch.no_grad():  # every test scene
    masks = {}
    for label, caps in {"true caption": captions, "patterns swapped": [swapped(c) for c in captions]}.items():
        painters["ssa"](inputs, text_of(caps))
        masks[label] = ssa.last_mask[:, 0]
    painters["ssa"](inputs, None)
    masks["no caption"] = ssa.last_mask[:, 0]
picks = list(range(min(4, n)))
fig, axes = plt.subplots(len(picks), 5, figsize=(13, 3.3 * len(picks)))
for row, i in enumerate(picks):
    axes[row, 0].imshow(targets[i].permute(1, 2, 0))
    axes[row, 0].set_title("target", fontsize=9)
    axes[row, 0].set_xlabel(textwrap.fill(captions[i], 34), fontsize=8)
    axes[row, 1].imshow(inputs[i].permute(1, 2, 0))
    axes[row, 1].set_title("input (solid objects)", fontsize=9)
    low, high = min(m[i].min().item() for m in masks.values()), max(m[i].max().item() for m in masks.values())
    for col, (label, mask) in enumerate(masks.items(), start=2):
        shown = axes[row, col].imshow(mask[i], cmap="magma", vmin=low, vmax=high)  # one scale per row
        axes[row, col].set_title(f"mask, {label}", fontsize=9)
    fig.colorbar(shown, ax=axes[row, 2:], fraction=0.02, label="mask value")
    for ax in axes[row]:
        ax.set_xticks([])
        ax.set_yticks([])
plt.subplots_adjust(hspace=0.55)
plt.show()

on_objects = torch.stack([torch.from_numpy(object_mask(test_set.scene(i), p.data.image_size)) for i in range(n)])


def object_contrast(mask):
    """Per scene: mean mask on the objects' pixels minus mean mask on the background."""
    return torch.stack([m[o].mean() - m[~o].mean() for m, o in zip(mask, on_objects)])


def centred_correlation(a, b):
    """Per scene: correlation of two masks' maps after removing each map's mean (same shape at any level: 1)."""
    a, b = (m.flatten(1) - m.flatten(1).mean(1, keepdim=True) for m in (a, b))
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)


contrast = {label: object_contrast(m).mean().item() for label, m in masks.items()}
shape_kept = centred_correlation(masks["true caption"], masks["patterns swapped"]).mean().item()
shape_without = centred_correlation(masks["true caption"], masks["no caption"]).mean().item()
level_shift = (masks["patterns swapped"] - masks["true caption"]).flatten(1).mean(1).abs().mean().item()
no_caption_shift = (masks["no caption"] - masks["true caption"]).flatten(1).mean(1).abs().mean().item()
level = masks["true caption"].flatten(1).mean(1)
print(f"over {n} test scenes:")
print("  mask on objects minus mask on background:", {k: round(v, 3) for k, v in contrast.items()})
print(f"  the map's shape, true vs swapped caption (correlation of the centred maps): {shape_kept:.2f}; "
      f"true vs no caption: {shape_without:.2f}")
print(f"  its level, |mean(swapped) - mean(true)| per scene: {level_shift:.3f}; mean level per scene "
      f"{level.min():.2f} to {level.max():.2f}")

# %% [markdown]
# Read the numbers with the pictures: the object/background contrast says whether the mask marks
# *where* the objects are; the correlation of the maps under two captions says whether the
# caption changes that *where*; the level shift says how much the caption changes the mask
# overall. The reading, written from the numbers of this run (the SSA-FiLM gap is one training run
# of each, with a 95 % bootstrap interval over the test scenes only, so seed-to-seed spread is not
# in it):

# %%
with torch.no_grad():
    per_image = {f: F.mse_loss(painters[f](inputs, text_of(captions)).clamp(0, 1), targets, reduction="none")
                 .flatten(1).mean(1) for f in ("film", "ssa")}
rng = np.random.default_rng(0)
draws = [set_psnr_of(per_image["ssa"][k]) - set_psnr_of(per_image["film"][k])
         for k in (torch.from_numpy(rng.integers(n, size=n)) for _ in range(p.n_boot))]
gap, (gap_low, gap_high) = (set_psnr_of(per_image["ssa"]) - set_psnr_of(per_image["film"]),
                            np.percentile(draws, [2.5, 97.5]))
background_spread = torch.stack([m[~o].std() for m, o in zip(masks["true caption"], on_objects)]).mean().item()
marks_objects = abs(contrast["true caption"]) > background_spread  # the objects stand out of the background's own variation
side = "higher" if contrast["true caption"] > 0 else "lower"
lines = [
    f"- The mask {'marks the objects' if marks_objects else 'barely marks the objects'} (the background itself varies by "
    f"{background_spread:.3f}): on them it is {side} than on the background, by {contrast['true caption']:+.3f} with the "
    f"true caption, {contrast['patterns swapped']:+.3f} with the patterns swapped, {contrast['no caption']:+.3f} with no "
    "caption"
    + (". So the block gates the caption's affine *less* on the objects than around them; nothing in the training asks "
       "for either sign, and we have not measured why it chose this one." if side == "lower" else ".")
    + f" The mask's level per scene stays between {level.min():.2f} and {level.max():.2f}: "
    + ("it is nearly open over the background and dips on the objects, so the caption's affine acts almost everywhere."
       if level.min() > 0.7 else "it scales the caption's affine down everywhere rather than switching it on where an "
       "object is.")
    + f" Its map keeps its shape when the caption changes: correlation {shape_kept:.2f} with the patterns swapped and "
    f"{shape_without:.2f} with no caption at all, so the image sets *where*; we did not see the mask single out one "
    f"object the caption describes (this test, which changes every pattern word at once, cannot isolate that). "
    f"Swapping the pattern words moves its level by {level_shift:.3f} per scene, taking the caption away by "
    f"{no_caption_shift:.3f}: the caption sets *how much*.",
    f"- With true captions: SSA {results['ssa']['true caption']:.2f} dB, FiLM {results['film']['true caption']:.2f} dB, "
    f"`none` {results['none']['true caption']:.2f} dB. SSA minus FiLM {gap:+.2f} dB (95 % interval over {n} scenes, "
    f"{p.n_boot} resamples: {gap_low:+.3f} to {gap_high:+.3f}): "
    + ("a tie." if gap_low <= 0 <= gap_high else "SSA ahead on this run." if gap_low > 0 else "FiLM ahead on this run.")
    + " One run each, and the blocks differ in normalisation, in the mask and in size ("
    + ", ".join(f"{f} {sum(q.numel() for q in painters[f].parameters()):,} parameters" for f in ("film", "ssa"))
    + "), so this does not say which idea wins.",
    "- With shuffled captions: " + ", ".join(f"{f} {results[f]['shuffled caption']:.2f} dB" for f in ("film", "ssa"))
    + f" (`none` {results['none']['shuffled caption']:.2f} dB); with the average caption (the zero vector: the layers "
    f"without the words) film {results['film']['average caption']:.2f} dB, ssa {results['ssa']['average caption']:.2f} dB: "
    + ("a wrong caption paints the wrong patterns, which costs more than `none`'s blend, so these models rely on "
       "the caption; " if max(results[f]["shuffled caption"] for f in ("film", "ssa")) < results["none"]["true caption"]
       else "")
    + ("with the average caption the better of them is "
       f"{max(results[f]['average caption'] for f in ('film', 'ssa')) - results['none']['true caption']:+.2f} dB against "
       "`none`: the layers without the words add little, so the gain with the true caption is the caption's."
       if max(results[f]["average caption"] for f in ("film", "ssa")) < results["none"]["true caption"] + 0.3 else
       "with the average caption they still beat `none`, so part of the gain is the extra layers'."),
    f"- `none` itself gains {results['none']['true caption'] - set_psnr(inputs, targets):+.2f} dB over its solid input "
    "without any caption: what the pixels alone allow (see its pictures above).",
]
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## What you learned, and what comes next
# - The SSA block is the identity until trained, so it can be added after every upsampling stage
#   of a decoder (the `g_s` of notebook 02).
# - On a task where the caption carries information the pixels lack, the blocks that read it
#   can beat the one that does not, and shuffled captions tell a caption gain from a capacity gain.
# - A pooled sentence vector hears a place word, but binds attributes to places less well (notebook
#   03 measured both against chance). Our SSA mask reads both the
#   image features and the caption (a caption query against per-pixel keys); in this run the
#   caption's query did not change *where*, only the image features did, and the caption set *how
#   much* (the reading above). With few image bits there is little for the image features to find. Notebook 05 puts these blocks
#   in the hyperprior decoder (TCIC), measures them against a capacity-matched control at equal
#   bits, and adds a block that binds words to places by their position.
