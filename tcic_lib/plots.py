"""Figures in one style: rate-distortion / rate-perception curves, crop grids, mask overlays.

Taught in notebooks/07_evaluation; notebooks 05 and 08 use the same helpers.
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import matplotlib.ticker as ticker
import pandas as pd
import torch

from .metrics import direction

MARKERS = "osd^v<>phx*"
LABEL_WIDTH = 36  # characters per line of an axis label: metric names with their backbone run to ~90


RATE_LABELS = {"bpp_latent": "bits per pixel (payload)", "bpp_file": "bits per pixel (file, caption not counted)",
               "bpp_total": "bits per pixel (whole file, caption included)"}


def curves(ax, summary: pd.DataFrame, y: str, x: str = "bpp_total", by: str = "codec", label: str | None = None,
           legend: bool = True, **style) -> None:
    """One line per `by` group of `summary`, sorted by rate; the y label says which way is better."""
    for k, (name, group) in enumerate(summary.groupby(by, sort=False)):
        group = group.sort_values(x)
        ax.plot(group[x], group[y], marker=MARKERS[k % len(MARKERS)], label=str(name), **style)
    better = direction(y)
    ax.set_xlabel(RATE_LABELS.get(x, x))
    ax.set_ylabel(textwrap.fill(f"{label or y} ({better} is better)", LABEL_WIDTH), fontsize=9)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize=8)


def rd_rp_figure(summary: pd.DataFrame, labels: dict[str, str], metrics=("psnr", "ms_ssim", "lpips", "fid"),
                 x: str = "bpp_total", title: str = ""):
    """Panels in rows of three, one per available metric (distortion first, then perception), on a log
    rate axis (codecs' rates span decades), with one legend: in the spare panel if there is one."""
    present = [m for m in metrics if m in summary and summary[m].notna().any()]
    columns = min(3, len(present))  # rows of three: wider rows shrink every label once exported
    rows = -(-len(present) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.8 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, present):
        curves(ax, summary, metric, x=x, label=labels.get(metric, metric), legend=False)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))  # 0.1, 0.2, 0.5, 1, ...
        ax.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())  # labelled minor ticks overlap on a log axis
    spare = list(axes.flat)[len(present):]
    for ax in spare:
        ax.axis("off")
    handles, names = axes.flat[0].get_legend_handles_labels()
    (spare[0] if spare else axes.flat[0]).legend(handles, names, fontsize=8, loc="center" if spare else "best")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_image(ax, image: torch.Tensor, title: str = "", zoom: int = 1) -> None:
    """A (3, H, W) tensor in [0, 1], optionally nearest-neighbour zoomed, without axes."""
    if zoom > 1:
        image = torch.nn.functional.interpolate(image[None], scale_factor=zoom, mode="nearest")[0]
    ax.imshow(image.clamp(0, 1).permute(1, 2, 0).cpu())
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def objects_crop(scene, size: int, side: int) -> tuple[int, int, int, int]:
    """(top, left, side, side): the square crop of a CaptionedShapes scene holding the most object pixels,
    so a zoomed figure shows objects, not background."""
    import numpy as np

    from .data import object_mask

    mask = object_mask(scene, size).astype(np.int64)
    counts = np.pad(mask.cumsum(0).cumsum(1), ((1, 0), (1, 0)))  # summed-area table
    inside = counts[side:, side:] - counts[:-side, side:] - counts[side:, :-side] + counts[:-side, :-side]
    top, left = np.unravel_index(np.argmax(inside), inside.shape)
    return int(top), int(left), side, side


def crop_grid(rows: list[dict[str, torch.Tensor]], box: tuple[int, int, int, int] | None = None, zoom: int = 1):
    """A grid of images: one row per dict (title -> image), all cropped to `box` = (top, left, height, width)."""
    fig, axes = plt.subplots(len(rows), len(rows[0]), figsize=(2.2 * len(rows[0]), 2.3 * len(rows)), squeeze=False)
    for r, row in enumerate(rows):
        for c, (title, image) in enumerate(row.items()):
            if box:
                top, left, h, w = box
                image = image[:, top:top + h, left:left + w]
            show_image(axes[r, c], image, title, zoom)
    fig.tight_layout()
    return fig


def mask_overlay(ax, image: torch.Tensor, mask: torch.Tensor, title: str = "", alpha: float = 0.6) -> None:
    """A mask in [0, 1] (h, w), upsampled to the image, over the image."""
    mask = torch.nn.functional.interpolate(mask[None, None].float(), size=image.shape[-2:], mode="nearest")[0, 0]
    show_image(ax, image, title)
    ax.imshow(mask.cpu(), vmin=0, vmax=1, cmap="magma", alpha=alpha)
