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

from cifar.reporting.files import atomic_write_bytes  # noqa: E402


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """``fig`` rendered as PNG bytes (trimmed to its content); closes it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def save_figure(fig: Figure, path: str | Path, dpi: int = 100) -> Path:
    """Save ``fig`` as PNG (atomically) and close it."""
    return atomic_write_bytes(path, figure_png(fig, dpi))


def save_and_log_figure(fig: Figure, path: str | Path, loggers: Iterable[Any], tag: str, step: int) -> Path:
    """Save ``fig`` as PNG (atomically), close it, and log the same image as ``tag`` to every
    TensorBoard logger in ``loggers``: the figure is built and drawn once for both (drawing is most
    of a figure's cost)."""
    import numpy as np
    from lightning.pytorch.loggers import TensorBoardLogger  # here, so the writers above need no Lightning
    from PIL import Image

    png = figure_png(fig)
    boards = [logger for logger in loggers if isinstance(logger, TensorBoardLogger)]
    if boards:
        image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
        for logger in boards:
            logger.experiment.add_image(tag, image, global_step=step, dataformats="HWC")
    return atomic_write_bytes(path, png)


def confusion_figure(matrix, class_names: Sequence[str], title: str) -> Figure:
    """torchmetrics' confusion-matrix plot, sized for ten classes."""
    import torch
    from torchmetrics.utilities.plot import plot_confusion_matrix

    fig, ax = plot_confusion_matrix(torch.as_tensor(matrix), add_text=True, labels=list(class_names))
    fig.set_size_inches(9, 8)
    ax.set_title(title)
    return fig
