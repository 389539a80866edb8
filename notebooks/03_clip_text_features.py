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
# # 03 · CLIP text features: what the decoder will read
#
# In TCIC the decoder gets a caption's meaning from a **CLIP text encoder**; in the course's
# design the codec's encoder never sees the caption (notebook 05 also tries giving it to the
# encoder as well as the decoder). The captions describe CaptionedShapes scenes (notebook 00):
# 64×64 synthetic scenes of 1-3 shapes with a colour, a size, a fill pattern and a place on a 3×3
# grid. This notebook opens that text encoder up: the BPE tokenizer,
# the text transformer, the contrastive objective that ties text to images, and a mini-CLIP
# trained on CaptionedShapes (once, by `zoo.fetch`; the course ships the result), since OpenAI's
# weights cannot be fetched offline. When
# pretrained CLIP is on disk (after `tcic fetch-weights`, notebook 00), the retrieval cell runs it
# too and compares.
#
# **Learning goals**
# 1. Read a caption as CLIP does: BPE tokens, a causal text transformer, a pooled embedding.
# 2. See how a mini-CLIP is trained with the contrastive loss (the trained one ships) and measure
#    text-to-image retrieval.
# 3. Measure what a pooled embedding says about which attribute belongs to which object, which
#    decides how a decoder must read captions (notebooks 04 and 05).

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
import math
import re
from collections import Counter

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from IPython.display import Markdown, display
from open_clip.loss import ClipLoss

from tcic_lib import zoo
from tcic_lib.config import profile, seed_everything
from tcic_lib.contrastive import ContrastiveTraining
from tcic_lib.data import COLOURS, PATTERNS, PLACES, CaptionedShapes
from tcic_lib.plots import MARKERS
from tcic_lib.pretrained import clip_weights_path
from tcic_lib.text import (
    MiniClipConfig, TextEncoder, build_minclip, load_text_encoder, retrieval_accuracy,
    tokenize, tokenizer,
)

logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)  # plain output, not a red box
logging.getLogger("tcic_lib").setLevel(logging.INFO)  # the zoo says where each model comes from

p = profile()
seed_everything(p.data.seed)
test_set = CaptionedShapes("test", size=p.data.image_size, n=max(32, p.data.n_test), seed=p.data.seed)
caption = test_set.caption(0)
print(f"profile {p.name}; a test caption: {caption!r}")

# %% [markdown]
# ## Tokens
# CLIP reads text as byte-pair-encoded tokens (word pieces, counted below); `</w>` marks the end
# of a word. A start and an end token frame each caption, and everything is padded (with 0) or
# cut to 77 tokens. The tokenizer is open_clip's and works offline: its vocabulary ships inside
# the package.

# %%
tok = tokenizer()
print(f"vocabulary: {len(tok.encoder):,} word pieces")
ids = tok.encode(caption)
print([tok.decoder[i] for i in ids])
row = tokenize([caption])[0]
print(f"{len(ids)} word pieces -> {int((row != 0).sum())} tokens with start/end, padded to {len(row)}")
assert row[0] == tok.sot_token_id and tok.eot_token_id in row.tolist(), (
    f"a tokenized caption should start with the start token {tok.sot_token_id} and hold the end token "
    f"{tok.eot_token_id}; got {row[:len(ids) + 2].tolist()}")

# %% [markdown]
# The tokenizer lowercases and splits at punctuation ("polka-dot" becomes three pieces); rare
# words split into pieces too. Captions use synonyms ("plain" or "solid" fill, "checked" or
# "chequered", "dotted" or "spotted"): the wording is random, the content is not. The token count
# below is the word pieces plus a start and an end token; a caption longer than 77 tokens is cut, and the course logs a
# warning rather than truncating in silence.

# %%
for word in ["striped", "chequered", "polka-dot", "TCIC"]:
    print(f"{word:10s} -> {[tok.decoder[i] for i in tok.encode(word)]}")
long_caption = " and ".join([caption] * 8)
long_row = tokenize([long_caption])[0]  # logs the truncation
print(f"a caption of {len(tok.encode(long_caption))} word pieces -> {int((long_row != 0).sum())} tokens")

# %% [markdown]
# ## The text tower
# The text tower is a transformer over token embeddings plus positions, with a causal mask;
# the feature at the end token, projected, is the caption's **pooled embedding**: with a causal
# mask only the end token has attended to every word, so its feature summarises the caption,
# while an earlier token's feature has seen only the words before it. The decoder
# can read the pooled vector, or every token's feature (for attention). Both come from one pass:

# %%
print(inspect.getsource(TextEncoder._encode_uncached))

# %% [markdown]
# Our mini-CLIP is open_clip's own `CLIP` class with a small config read from the profile:
# a small ViT for images and a small transformer for text, sharing one embedding space.

# %%
cfg = MiniClipConfig.for_images(p.clip, p.data.image_size)
untrained = build_minclip(cfg)
count = lambda module: sum(q.numel() for q in module.parameters())
print(cfg)
print(f"text tower {count(untrained.transformer) / 1e6:.2f}M parameters (+ {untrained.token_embedding.weight.numel() / 1e6:.2f}M "
      f"in the token table), image tower {count(untrained.visual) / 1e6:.2f}M")

# %% [markdown]
# ## The contrastive objective
# For a batch of B image-caption pairs, CLIP scores every image against every caption
# (cosine similarity times a learned scale, the inverse of a temperature) and asks each row and column of that B x B
# matrix to pick its own pair: a cross-entropy in both directions. open_clip's `ClipLoss`:

# %%
B, D = 4, 8
features = F.normalize(torch.randn(B, D), dim=-1)
matched = ClipLoss()(features, features, logit_scale=torch.tensor(10.0))
shuffled = ClipLoss()(features, features.roll(1, 0), logit_scale=torch.tensor(10.0))
print(f"loss with matched pairs {matched:.3f}, with every caption moved to the wrong image {shuffled:.3f}, "
      f"chance log(B) = {torch.log(torch.tensor(float(B))):.3f}")
assert matched < shuffled, f"matched pairs should cost less than shuffled ones; loss {matched:.3f} vs {shuffled:.3f}"

# %% [markdown]
# Chance, log(B), is the loss of a model that spreads its bets evenly; with every pair wrong the
# loss is higher still, since a confident wrong answer costs more than a uniform guess.
#
# ## Training the mini-CLIP
# One training step is `ContrastiveTraining.step`: the batch through both towers, `ClipLoss`,
# AdamW with a warm-up then cosine learning rate. The course's shared training loop runs it;
# `zoo.fetch` does that once and caches the result (or installs the shipped one), so later
# notebooks load it in a moment.

# %%
print(inspect.getsource(ContrastiveTraining.step))
recipe = zoo.minclip_recipe(p)
encoder = zoo.fetch(recipe)
history = zoo.history(recipe)["train"]  # shipped histories keep every tenth logged step
steps, losses = [row["step"] for row in history], [row["loss"] for row in history]
plt.figure(figsize=(6, 3))
plt.plot(steps, losses)
plt.xlabel("step")
plt.ylabel("ClipLoss (nats)")
plt.axhline(math.log(p.clip.batch_size), linestyle="--", color="grey", label=f"chance, log({p.clip.batch_size})")
plt.legend()
plt.show()
window = max(1, len(losses) // 10)
print(f"{p.clip.steps} steps, batches of {p.clip.batch_size} drawn from {p.data.n_train} training scenes "
      f"(about {p.clip.steps * p.clip.batch_size / p.data.n_train:.0f} passes; profile {p.name})")
print(f"loss {sum(losses[:window]) / window:.3f} (mean over steps {steps[0]}-{steps[window - 1]}) -> "
      f"{sum(losses[-window:]) / window:.3f} (steps {steps[-window]}-{steps[-1]}); chance {math.log(p.clip.batch_size):.3f}")
assert sum(losses[-window:]) < sum(losses[:window]), (
    f"the contrastive loss did not fall: {sum(losses[:window]) / window:.3f} over the first {window} logged steps, "
    f"{sum(losses[-window:]) / window:.3f} over the last {window}")

# %% [markdown]
# ## Does it tie captions to images? Held-out retrieval
# For the first 32 of the test scenes (never seen in training: no test scene's set of objects,
# with their shapes, colours, sizes, patterns and places, occurs in training), each caption picks
# the image it matches best. Chance is 1/32.

# %%
n = 32
images = torch.stack([test_set[i][0] for i in range(n)])
captions = test_set.captions[:n]
accuracy = retrieval_accuracy(encoder, images, captions)
print(f"{encoder.name}: top-1 text-to-image retrieval {accuracy:.0%} (chance {1 / n:.0%}) on {n} of the "
      f"{len(test_set)} test scenes")
if not p.smoke:  # the quick profile trains for seconds; it only has to run
    assert accuracy > 4 / n, (
        f"top-1 retrieval {accuracy:.0%} is not above four times chance ({4 / n:.0%}): the mini-CLIP did not learn")

# %%
with torch.no_grad():
    similarity = F.normalize(encoder.encode(captions)[1], dim=-1) @ F.normalize(encoder.encode_image(images), dim=-1).T
plt.figure(figsize=(4.5, 4))
plt.imshow(similarity, cmap="viridis")
plt.xlabel("image")
plt.ylabel("caption")
plt.colorbar(label="cosine similarity")
plt.title("the diagonal is the matching pairs")
plt.show()

# %% [markdown]
# ## What the embedding encodes
# A 2-D projection (PCA) of the pooled caption embeddings of single-object test scenes,
# by two attributes. Clusters mean the embedding separates them along its two largest directions
# of variance; an attribute with no cluster here may still be encoded in other directions (the
# caption-preference test below checks every direction at once). The decoder can only use what
# the embedding keeps.

# %%
single = [i for i in range(len(test_set)) if len(test_set.scene(i).objects) == 1]
pooled = encoder.encode([test_set.caption(i) for i in single])[1]
centred = pooled - pooled.mean(0)
_, singular, V = torch.pca_lowrank(centred, q=2, center=False)
xy = centred @ V
shown = (singular**2).sum() / centred.pow(2).sum()
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, attribute, values in ((axes[0], "pattern", PATTERNS), (axes[1], "colour", list(COLOURS))):
    for value in values:
        pick = [k for k, i in enumerate(single) if getattr(test_set.scene(i).objects[0], attribute) == value]
        ax.scatter(xy[pick, 0], xy[pick, 1], s=30, label=value,
                   color=[c / 255 for c in COLOURS[value]] if attribute == "colour" else "black",
                   marker=MARKERS[values.index(value)] if attribute == "pattern" else "o")
    ax.set_title(f"caption embeddings by {attribute}")
    ax.set_xlabel("first principal component")
    ax.set_ylabel("second principal component")
    ax.legend(fontsize=8)
plt.show()
print(f"{len(single)} single-object captions projected; the two components hold {shown:.0%} of their variance")
nearest = torch.cdist(xy, xy).fill_diagonal_(float("inf")).argmin(1).tolist()
grouping = {}
for attribute in ("pattern", "colour"):  # how often a point's nearest neighbour in this plane shares its value
    values = [getattr(test_set.scene(i).objects[0], attribute) for i in single]
    counts = Counter(values).values()
    chance = sum(c * (c - 1) for c in counts) / (len(values) * (len(values) - 1))  # a random other point shares it
    grouping[attribute] = sum(values[k] == values[j] for k, j in enumerate(nearest)) / len(single)
    print(f"  nearest neighbour in the plane has the same {attribute}: {grouping[attribute]:.0%} "
          f"(a random other point: {chance:.0%})")

# %% [markdown]
# Pattern's nearest-neighbour share is higher than colour's, but pattern has fewer values: against
# a random point's share, both group about equally well (printed above); with a few dozen points,
# read this loosely. That does not mean colour is lost: it may lie along
# other directions, which the test below checks all at once.
#
# ## Which changes does the pooled caption notice, and does it bind attributes to objects?
# Take single-object test scenes and change one word group of each caption: its place, its
# colour or its pattern. If the image still prefers its own caption, the embedding heard the
# change. Write the measurement: the fraction of images whose embedding is closer (cosine) to
# their true caption than to the altered one (a tie counts as not preferred: use `>`). Caption `k`
# and its altered version both belong to image `k`; use the pooled caption vectors,
# `encoder.encode(captions)[1]`, and `encoder.encode_image(images)`. The test reads both towers:
# a miss can be the image tower's as well as the caption's.

# %%
def my_prefers_true_caption(encoder, images, true_captions, altered_captions) -> float:
    ### BEGIN SOLUTION
    image = F.normalize(encoder.encode_image(images), dim=-1)
    right = F.normalize(encoder.encode(true_captions)[1], dim=-1)
    wrong = F.normalize(encoder.encode(altered_captions)[1], dim=-1)
    return ((image * right).sum(-1) > (image * wrong).sum(-1)).float().mean().item()
    ### END SOLUTION


# %%
class Lookup:  # a stub encoder: image i and caption "c<i>" share a feature; other captions point elsewhere
    def encode_image(self, images):
        return torch.eye(3)[images[:, 0, 0, 0].long()]

    def encode(self, captions):
        return None, torch.stack([torch.eye(3)[int(c[1])] if c.startswith("c") else -torch.ones(3) for c in captions])


class Loud(Lookup):  # the wrong captions' embeddings point a little towards the image but are long
    def encode(self, captions):
        return None, torch.stack([torch.eye(3)[int(c[1])] if c.startswith("c") else
                                  10 * (0.5 * torch.eye(3)[int(c[1])] + torch.ones(3)) for c in captions])


stub_images = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 3, 2, 2)
share = my_prefers_true_caption(Lookup(), stub_images, ["c0", "c1", "c2"], ["x", "x", "x"])
assert isinstance(share, float) and 0 <= share <= 1, f"return the fraction of images, a float in [0, 1]; got {share!r}"
assert share == 1.0, "every image's own caption is its nearest here: compare each image with its own two captions"
assert abs(my_prefers_true_caption(Lookup(), stub_images, ["x", "x", "c2"], ["c0", "c1", "x"]) - 1 / 3) < 1e-6, (
    "here only image 2 is nearer its true caption, so the answer is 1/3: for each image compare its own true and "
    "altered captions (row by row, not every caption), then average over images")
assert my_prefers_true_caption(Loud(), stub_images, ["c0", "c1", "c2"], ["w0", "w1", "w2"]) == 1.0, (
    "a long embedding wins a raw dot product: compare cosine similarities (normalise both, F.normalize)")
print("caption preference: ok")

# %%
flat_places = [place for row in PLACES for place in row]


def replace_word(caption, old, new):
    """`old` replaced where it is a whole word ("red" is also inside "checkered")."""
    return re.sub(rf"(?<![\w-]){re.escape(old)}(?![\w-])", new, caption)


def altered(i, attribute):
    obj, caption = test_set.scene(i).objects[0], test_set.caption(i)
    if attribute == "place":
        return replace_word(caption, obj.place, flat_places[(flat_places.index(obj.place) + 4) % 9])
    if attribute == "colour":
        return replace_word(caption, obj.colour, list(COLOURS)[(list(COLOURS).index(obj.colour) + 3) % 6])
    words = {"solid": "striped", "stripes": "dotted", "checks": "solid", "dots": "checked"}
    pattern_word = next(w for w in caption.split() if w.strip(",") in
                        ("solid", "plain", "striped", "stripy", "checked", "checkered", "chequered", "dotted", "spotted",
                         "polka-dot"))
    return replace_word(caption, pattern_word.strip(","), words[obj.pattern])


single_images = torch.stack([test_set[i][0] for i in single])
single_captions = [test_set.caption(i) for i in single]
preference = {f"{attribute} (one object)": my_prefers_true_caption(encoder, single_images, single_captions,
                                                                   [altered(i, attribute) for i in single])
              for attribute in ("colour", "pattern", "place")}


def colours_swapped(i):  # the same words, bound to the other objects
    first, second = (o.colour for o in test_set.scene(i).objects[:2])
    caption = replace_word(replace_word(test_set.caption(i), first, "@"), second, first)
    return replace_word(caption, "@", second)


def colours_of(i):
    return [o.colour for o in test_set.scene(i).objects]


# scenes whose first two objects have colours no other object shares: the swap moves two words only
pairs = [i for i in range(len(test_set)) if len(colours_of(i)) > 1 and colours_of(i)[0] != colours_of(i)[1]
         and all(colours_of(i).count(c) == 1 for c in colours_of(i)[:2])]
words = lambda caption: sorted(re.findall(r"[\w-]+", caption))  # noqa: E731
assert all(words(colours_swapped(i)) == words(test_set.caption(i)) for i in pairs), (  # the same words, rebound
    "swapping two colours should keep every word of the caption; the words changed in scenes "
    f"{[i for i in pairs if words(colours_swapped(i)) != words(test_set.caption(i))][:5]}")
print({k: f"{v:.0%}" for k, v in preference.items()},
      f"(one-object tests on {len(single)} scenes; chance 50%; the swap between objects follows)")
if not p.smoke:  # a trained mini-CLIP hears at least the colour word
    assert preference["colour (one object)"] > 0.6, (
        f"the trained mini-CLIP should prefer the true colour word over a swapped one well above chance: {preference}")


# %% [markdown]
# Read these against chance (50 %), and like with like. Below, two tests run on the same scenes of
# two or three objects: (a) the first object's colour word replaced by a colour no object has;
# (b) the first two objects' colours swapped, so every word stays and only the binding (which
# colour goes with which object's shape, pattern and place) changes. The reading, from this run:

# %%
def colour_changed(i):  # the first object's colour word replaced by one no object of the scene has
    unused = next(c for c in COLOURS if c not in colours_of(i))
    return replace_word(test_set.caption(i), colours_of(i)[0], unused)


pair_images, pair_captions = torch.stack([test_set[i][0] for i in pairs]), [test_set.caption(i) for i in pairs]
same_scenes = {"a colour word changed": [colour_changed(i) for i in pairs],
               "two colours swapped": [colours_swapped(i) for i in pairs]}
same_scenes = {k: my_prefers_true_caption(encoder, pair_images, pair_captions, v) for k, v in same_scenes.items()}
for k, v in same_scenes.items():
    print(f"{len(pairs)} scenes of two or three objects, {k}: the true caption preferred for {round(v * len(pairs))} "
          f"({v:.0%})")
swapped = same_scenes["two colours swapped"]
above_chance = (swapped - 0.5) / (0.25 / len(pairs)) ** 0.5  # standard errors above a coin flip
display(Markdown(
    f"A single object's place word is heard {preference['place (one object)']:.0%} of the time, so the mini-CLIP "
    f"does tell *where* one thing is. On the same scenes of several objects it notices a changed colour word "
    f"{same_scenes['a colour word changed']:.0%} of the time and colours swapped between objects {swapped:.0%} "
    f"({above_chance:.1f} standard errors above chance, far from 100 %): "
    + ("what the pair of towers partly loses is the binding, which attribute belongs to which object (measured on "
       "this mini-CLIP). A decoder that must put the right colour and pattern in the right place may need more than "
       "the pooled vector; the decoder of notebook 05 also reads the per-token features, and measures what that gives."
       if same_scenes["a colour word changed"] > same_scenes["two colours swapped"] else
       "here it hears a binding as well as a word; per-token features can still tell the decoder where.")))

# %% [markdown]
# ## Pretrained CLIP, when present
# With OpenAI's weights on disk (`$TCIC_CLIP_WEIGHTS`, the Hugging Face cache or
# `~/.cache/clip`; `tcic fetch-weights` puts them there where a network exists) the same
# retrieval runs with the real ViT-B/32. On synthetic shapes it need
# not beat a mini-CLIP trained on them: it was trained on photos and their alt-text.

# %%
if clip_weights_path() is not None:
    clip = load_text_encoder("clip:ViT-B-32/openai")
    print(f"{clip.name}: top-1 retrieval {retrieval_accuracy(clip, images, captions):.0%} on the same 32 scenes")
else:
    print("pretrained CLIP: weights not on this machine, comparison skipped (see notebook 00)")

# %% [markdown]
# ## What the rest of the course uses
# `zoo.text_encoder("auto", p)` takes pretrained CLIP when its weights are present and this
# mini-CLIP otherwise, and it says which; every later result names its encoder.

# %%
auto = zoo.text_encoder("auto", p)
tokens, pooled = auto.encode(captions[:2])
print(auto, "tokens", tuple(tokens.shape), "pooled", tuple(pooled.shape))
assert pooled.shape == (2, auto.dim), (
    f"two captions should give 2 pooled vectors of {auto.dim}; got {tuple(pooled.shape)}")

# %% [markdown]
# ## What you learned, and what comes next
# - CLIP reads BPE tokens with a causal transformer; the pooled embedding is the end token's
#   feature, and every token has a feature of its own.
# - A contrastive loss ties captions to images; retrieval measures how well.
# - This mini-CLIP (both towers, with the pooled caption vector) hears a changed word better than a changed binding
#   (which colour belongs to which object), as measured above: a decoder that must put things in
#   their place may need the per-token features too (notebook 05's positional cross-attention
#   reads them, and measures what it gains).
#
# Next, notebook 04 builds the SSA block that lets a caption modulate image features.
