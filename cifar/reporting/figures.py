"""Figures as PNG files and TensorBoard images: drawn once, written atomically, closed."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display needed

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from cifar.files import atomic_write_bytes  # noqa: E402


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """``fig`` rendered as PNG bytes (trimmed to its content); closes it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def save_figure(fig: Figure, path: str | Path, dpi: int = 100) -> Path:
    """Save ``fig`` as PNG (atomically) and close it."""
    return atomic_write_bytes(path, figure_png(fig, dpi))


# TensorBoard's image cards (Time Series and Images, default card width) show an image in a box of about
# 324-372 x 215 px, shrunk with nearest-neighbour sampling: figures for them are drawn at this size and
# rendered 1:1, so their text stays legible; the PNG beside the run is the same figure at FILE_DPI
CARD_INCHES = (3.24, 2.15)  # 324 x 215 px
CARD_DPI = 100
FILE_DPI = 250
SMALL = 6  # points: tick labels and cell text on a card-sized figure
SHORT_NAMES = {"airplane": "plane", "automobile": "car"}  # the usual short CIFAR-10 names, where space is short


def log_figure(fig: Figure, loggers: Iterable[Any], tag: str, step: int, close: bool = True) -> None:
    """Log ``fig`` (drawn at ``CARD_INCHES``) as image ``tag`` to every tracker of the run, rendered 1:1."""
    import numpy as np
    from PIL import Image

    from cifar.reporting.trackers import trackers

    found = trackers(loggers)
    if found:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=CARD_DPI)  # not trimmed: the card's size exactly
        image = np.asarray(Image.open(buffer).convert("RGB"))
        for tracker in found:
            tracker.log_card(tag, image, step)
    if close:
        plt.close(fig)


def save_and_log_figure(fig: Figure, path: str | Path, loggers: Iterable[Any], tag: str, step: int) -> Path:
    """A card-sized figure to TensorBoard as ``tag`` (1:1) and to ``path`` at ``FILE_DPI``; closes it."""
    log_figure(fig, loggers, tag, step, close=False)
    return save_figure(fig, path, dpi=FILE_DPI)


def confusion_figure(matrix, class_names: Sequence[str], title: str, normalized: bool) -> Figure:
    """A confusion matrix (rows: true class) sized for a TensorBoard card, with a colour bar: the counts, or
    each row's shares in percent (``normalized``). Ours: torchmetrics' plot has no colour bar, no
    normalized view and text sized for a large figure."""
    import numpy as np

    counts = np.asarray(matrix, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    values = 100 * counts / np.where(rows == 0, 1, rows) if normalized else counts
    fig = plt.figure(figsize=CARD_INCHES)
    ax = fig.add_axes((0.2, 0.2, 0.56, 0.7))  # room for class names left and below, the colour bar right
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=100 if normalized else None, aspect="auto")
    colorbar = fig.colorbar(image, cax=fig.add_axes((0.78, 0.2, 0.025, 0.7)))
    colorbar.ax.tick_params(labelsize=SMALL - 0.5, length=2, pad=1)
    colorbar.set_label("% of the true class" if normalized else "images", fontsize=SMALL - 0.5, labelpad=2)
    threshold = (100 if normalized else max(values.max(), 1)) / 2
    for (i, j), value in np.ndenumerate(values):
        ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=SMALL - 0.5,
                color="white" if value > threshold else "black")
    names = [SHORT_NAMES.get(name, name) for name in class_names]
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=SMALL)
    ax.set_yticks(range(len(names)), names, fontsize=SMALL)
    ax.tick_params(length=0, pad=1.5)
    ax.set_xlabel("predicted", fontsize=SMALL, labelpad=1)
    ax.set_ylabel("true", fontsize=SMALL, labelpad=1)
    ax.set_title(title, fontsize=SMALL + 1, pad=3)
    return fig


def reliability_figure(bins: Sequence[Any], title: str, scaled: Sequence[Any] | None = None) -> Figure:
    """A reliability diagram: each confidence bin's accuracy (bars) against the diagonal of perfect
    calibration, and below it the bin's image count; ``scaled``: the same bins after temperature scaling,
    drawn as points. ``bins`` are ``cifar.evaluation.calibration.Bin``s."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.2, 4.6), sharex=True, gridspec_kw={"height_ratios": (3, 1)})
    width = bins[0].upper - bins[0].lower
    lefts = [b.lower for b in bins]
    top.bar(lefts, [b.accuracy or 0 for b in bins], width=width, align="edge", color="#4a7ab7", edgecolor="white",
            label="accuracy")
    top.bar(lefts, [(b.confidence - b.accuracy) if b.count else 0 for b in bins],
            bottom=[b.accuracy or 0 for b in bins], width=width, align="edge", color="#e07b7b", alpha=0.45,
            edgecolor="none", label="gap to the mean confidence")
    top.plot((0, 1), (0, 1), color="black", linestyle="--", linewidth=0.8, label="perfect calibration")
    if scaled is not None:
        shown = [b for b in scaled if b.count]
        top.plot([b.confidence for b in shown], [b.accuracy for b in shown], "o", color="#2a9d5c", markersize=4,
                 label="after temperature scaling")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy", fontsize=8)
    top.legend(fontsize=6.5, loc="upper left", frameon=False)
    top.set_title(title, fontsize=8.5)
    bottom.bar(lefts, [b.count for b in bins], width=width, align="edge", color="#8c8c8c", edgecolor="white")
    for b in bins:
        if b.count:
            bottom.text(b.lower + width / 2, b.count, str(b.count), ha="center", va="bottom", fontsize=5, rotation=90)
    bottom.set_yscale("log")
    bottom.set_ylim(0.8, max(b.count for b in bins) * 8)
    bottom.set_ylabel("images", fontsize=8)
    bottom.set_xlabel("confidence (top-class probability)", fontsize=8)
    for ax in (top, bottom):
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def corruption_figure(table: dict[str, Any], title: str) -> Figure:
    """A heat map of accuracy per corruption (rows) and severity (columns), the means in the last column."""
    import numpy as np

    severities = [str(s) for s in table["severities"]]
    names = list(table["accuracy"])
    values = np.array([[table["accuracy"][n][s] for s in severities] + [table["mean_accuracy"][n]] for n in names])
    fig, ax = plt.subplots(figsize=(4.6, 0.9 + 0.28 * len(names)))
    image = ax.imshow(100 * values, cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        ax.text(j, i, f"{100 * value:.1f}", ha="center", va="center", fontsize=6.5)
    ax.axvline(len(severities) - 0.5, color="white", linewidth=2)
    ax.set_xticks(range(len(severities) + 1), [f"sev. {s}" for s in severities] + ["mean"], fontsize=7)
    ax.set_yticks(range(len(names)), [n.replace("_", " ") for n in names], fontsize=7)
    ax.tick_params(length=0)
    colorbar = fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02)
    colorbar.ax.tick_params(labelsize=6)
    colorbar.set_label("accuracy, %", fontsize=7)
    ax.set_title(title, fontsize=7.5)
    fig.tight_layout()
    return fig
