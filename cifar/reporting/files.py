"""Writers for the files a run leaves behind (CSV, PNG, JSON), all atomic.

Each file is written to a temporary name in the same folder and renamed into place, so a crash
mid-write leaves the previous version (or nothing), never half a file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display needed

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


@contextmanager
def exclusive_lock(lock_path: str | Path) -> Iterator[None]:
    """An advisory lock across processes (a no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes it private; results are for everyone to read
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return atomic_write_text(path, buffer.getvalue())


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


def write_confusion_csv(path: str | Path, matrix: Sequence[Sequence[int]], class_names: Sequence[str]) -> Path:
    """Rows are true classes, columns predicted classes."""
    rows = [[name, *(int(v) for v in row)] for name, row in zip(class_names, matrix)]
    return write_csv(path, ["true\\predicted", *class_names], rows)


def per_class_accuracy(matrix: Sequence[Sequence[int]]) -> list[tuple[int, int, float]]:
    """(correct, total, accuracy) per true class from a confusion matrix (rows true)."""
    rows = []
    for i, row in enumerate(matrix):
        total = int(sum(row))
        correct = int(row[i])
        rows.append((correct, total, correct / total if total else float("nan")))
    return rows


def write_per_class_csv(path: str | Path, matrix: Sequence[Sequence[int]], class_names: Sequence[str]) -> Path:
    rows = [[name, c, t, f"{a:.4f}"] for name, (c, t, a) in zip(class_names, per_class_accuracy(matrix))]
    return write_csv(path, ["class", "correct", "total", "accuracy"], rows)


def per_class_table(matrix: Sequence[Sequence[int]], class_names: Sequence[str]) -> str:
    """A markdown table of per-class accuracy, for printing."""
    lines = ["| class | correct | total | accuracy |", "|---|---:|---:|---:|"]
    for name, (c, t, a) in zip(class_names, per_class_accuracy(matrix)):
        lines.append(f"| {name} | {c} | {t} | {a:.2%} |")
    return "\n".join(lines)


def confusion_figure(matrix, class_names: Sequence[str], title: str) -> Figure:
    """torchmetrics' confusion-matrix plot, sized for ten classes."""
    import torch
    from torchmetrics.utilities.plot import plot_confusion_matrix

    fig, ax = plot_confusion_matrix(torch.as_tensor(matrix), add_text=True, labels=list(class_names))
    fig.set_size_inches(9, 8)
    ax.set_title(title)
    return fig
