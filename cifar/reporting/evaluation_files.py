"""What ``python -m cifar.evaluate`` writes and prints beside ``evaluation.json``: the reliability diagram and
its table, the corruption heat map and its table, and the calibration in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cifar.evaluation import robustness
from cifar.files import write_csv
from cifar.reporting.figures import FILE_DPI, corruption_figure, reliability_figure, save_figure


def write_calibration(report: dict[str, Any], bins, scaled_bins, out: Path, epoch: int | None) -> None:
    """``reliability_test.csv`` (the bins, and the scaled bins beside them) and ``reliability_test.png``."""
    columns = list(report["reliability"][0])
    write_csv(out / "reliability_test.csv", columns, ([row[c] if row[c] is not None else "" for c in columns]
                                                      for row in report["reliability"]))
    before = report["before"]
    title = (f"test ({before['images']} images), weights of epoch {epoch}: ECE {before['ece']:.3f}"
             + (f", {report['after']['ece']:.3f} at T={report['temperature']:.2f}" if scaled_bins else ""))
    save_figure(reliability_figure(bins, title, scaled_bins), out / "reliability_test.png", dpi=FILE_DPI)


def write_corruptions(table: dict[str, Any], out: Path, epoch: int | None) -> None:
    """``corruptions.csv`` and the heat map ``corruptions.png``."""
    robustness.write_table(out / "corruptions.csv", table)
    title = (f"{table['source'].split(' (')[0]}, weights of epoch {epoch}: mean "
             f"{table['mean_corruption_accuracy']:.1%}")
    save_figure(corruption_figure(table, title), out / "corruptions.png", dpi=FILE_DPI)


def calibration_words(report: dict[str, Any]) -> str:
    before = report["before"]
    line = f"calibration ({before['images']} test images, {report['bins']} bins): ECE {before['ece']:.4f}, " \
           f"NLL {before['nll']:.4f}, Brier {before['brier']:.4f}"
    if "after" in report:
        after = report["after"]
        line += (f"; temperature {report['temperature']:.3f} fit on {report['fit_on']}: ECE {after['ece']:.4f}, "
                 f"NLL {after['nll']:.4f}, Brier {after['brier']:.4f}")
    return line
