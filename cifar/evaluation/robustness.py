"""The corruption benchmark: a checkpoint's accuracy on corrupted copies of the test set, corruption x severity.

``python -m cifar.evaluate ckpt_path=... corruptions.names=all`` runs it (``corruptions.*`` in
``conf/evaluate.yaml``): on the official CIFAR-10-C files when ``corruptions.data_dir`` names them, else on
a set generated here (``cifar/evaluation/corruptions.py``). Each (corruption, severity) is tested by the
run's own test step, with its TTA views, so a cell is exactly what ``test/acc`` would be on those images.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, ListConfig

from cifar import metric_names as M
from cifar.errors import ConfigError, check_range, is_int
from cifar.evaluation import corruptions as generated
from cifar.evaluation.corrupted_sets import CORRUPTIONS, SEVERITIES, GeneratedSet, OfficialSet, severity_slice
from cifar.files import write_csv

CACHE_FOLDER = "cifar10-corrupted-generated"  # beside the data, unless corruptions.cache_dir says where
FROST_FOLDER = "frost"  # in the cache folder: the photographs frost overlays (cifar/evaluation/frost.py)


def selected_names(given: Any) -> tuple[str, ...]:
    """``corruptions.names``: ``[]`` (none), ``all`` (the fifteen) or a list of names."""
    if given in (None, "none"):
        return ()
    if given == "all":
        return CORRUPTIONS
    if isinstance(given, str) and given in CORRUPTIONS:
        given = [given]
    if not isinstance(given, (list, tuple, ListConfig)):
        raise ConfigError(f"corruptions.names={given!r} is unknown: expected all or a list such as "
                          "[gaussian_noise,fog]")
    names = tuple(dict.fromkeys(str(n) for n in given))
    for name in names:
        if name not in CORRUPTIONS:
            raise ConfigError(f"corruptions.names: {name!r} is unknown: expected all or some of {', '.join(CORRUPTIONS)}")
    return names


def selected_severities(given: Any) -> tuple[int, ...]:
    values = list(given) if isinstance(given, (list, tuple, ListConfig)) else [given]
    check_range("corruptions.severities", given, bool(values) and all(is_int(v) and v in SEVERITIES for v in values),
                "a list of severities 1..5")
    return tuple(sorted(set(values)))


def corrupted_source(cfg: DictConfig, data_dir: Path, test_images: np.ndarray, test_labels: np.ndarray):
    if cfg.data_dir:
        return OfficialSet(cfg.data_dir)
    check_range("corruptions.seed", cfg.seed, is_int(cfg.seed, 0), "an integer >= 0")
    cache = Path(cfg.cache_dir) if cfg.cache_dir else data_dir / CACHE_FOLDER
    make = functools.partial(generated.corrupt, frost_dir=cache / FROST_FOLDER)
    return GeneratedSet(cache, test_images, test_labels, cfg.seed, make, generated.VERSION,
                        f"generated here ({generated.VERSION}; seed {cfg.seed}; CIFAR-10-C's distribution, "
                        "not its images)")


def run_benchmark(source, names: Sequence[str], severities: Sequence[int],
                  test: Callable[[np.ndarray, np.ndarray], dict[str, float]]) -> dict[str, Any]:
    """``test(images, labels)`` (the test step's figures) on every (corruption, severity); the table, with the
    seconds it took and, of those, the seconds spent generating corrupted images."""
    started = time.time()
    source.check(tuple(names))
    labels = source.labels()
    cells: dict[str, dict[int, dict[str, float]]] = {}
    for name in names:
        images = source.images(name)
        cells[name] = {}
        for severity in severities:
            part = severity_slice(len(labels), severity)
            figures = test(images[part], labels[part])
            cells[name][severity] = {key: float(figures[metric]) for key, metric in
                                     (("acc", M.TEST_ACC), ("loss", M.TEST_LOSS), ("ece", M.TEST_ECE))}
    means = {name: statistics.mean(c["acc"] for c in row.values()) for name, row in cells.items()}
    worst = min(means, key=means.get)
    return {
        "source": source.description,
        "severities": list(severities),
        "images_per_cell": len(labels) // len(SEVERITIES),
        "accuracy": {name: {str(s): c["acc"] for s, c in row.items()} for name, row in cells.items()},
        "ece": {name: {str(s): c["ece"] for s, c in row.items()} for name, row in cells.items()},
        "mean_accuracy": means,
        "mean_corruption_accuracy": statistics.mean(means.values()),
        "worst": {"corruption": worst, "mean_accuracy": means[worst]},
        "seconds": round(time.time() - started, 1),
        "generation_seconds": round(getattr(source, "generation_seconds", 0.0), 1),
    }


def write_table(path: Path, table: dict[str, Any]) -> Path:
    severities = table["severities"]
    rows = [[name, *(f"{row[str(s)]:.4f}" for s in severities), f"{table['mean_accuracy'][name]:.4f}"]
            for name, row in table["accuracy"].items()]
    rows.append(["mean", *(f"{statistics.mean(r[str(s)] for r in table['accuracy'].values()):.4f}" for s in severities),
                 f"{table['mean_corruption_accuracy']:.4f}"])
    return write_csv(path, ["corruption", *(f"severity {s}" for s in severities), "mean"], rows)


def markdown(table: dict[str, Any], clean_accuracy: float | None = None) -> str:
    severities = table["severities"]
    lines = [f"Corruption accuracy, {table['source']}, {table['images_per_cell']} images per cell:", "",
             "| corruption | " + " | ".join(f"severity {s}" for s in severities) + " | mean |",
             "|---|" + "---:|" * (len(severities) + 1)]
    for name, row in table["accuracy"].items():
        lines.append(f"| {name} | " + " | ".join(f"{row[str(s)]:.2%}" for s in severities)
                     + f" | {table['mean_accuracy'][name]:.2%} |")
    by_severity = [statistics.mean(r[str(s)] for r in table["accuracy"].values()) for s in severities]
    lines.append("| **mean** | " + " | ".join(f"{v:.2%}" for v in by_severity)
                 + f" | **{table['mean_corruption_accuracy']:.2%}** |")
    clean = f" (clean: {clean_accuracy:.2%})" if clean_accuracy is not None else ""
    lines += ["", f"mean corruption accuracy {table['mean_corruption_accuracy']:.2%}{clean}; worst: "
              f"{table['worst']['corruption']} ({table['worst']['mean_accuracy']:.2%})"]
    return "\n".join(lines)

