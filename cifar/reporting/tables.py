"""Per-class accuracy and confusion-matrix tables: CSV files and markdown for printing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cifar.files import write_csv


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
