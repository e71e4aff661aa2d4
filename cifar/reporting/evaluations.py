"""The calibration and robustness table of ``python -m cifar.report --evaluations PATH...``.

One row per ``cifar.evaluate`` output folder (its ``evaluation.json``): the recipe of the checkpoint's
run (as ``cifar.report`` names it), the clean test accuracy, ECE before and after temperature scaling,
the mean corruption accuracy and the worst corruption, with the corrupted set's source.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cifar import metric_names as M
from cifar.reporting.results import OVERRIDES_FILE, ReportError, expand_paths, is_run, natural_order, read_run

EVALUATION_FILE = "evaluation.json"
EVALUATION_RECORD = (EVALUATION_FILE, OVERRIDES_FILE)  # kept by ``cifar.report --evaluations --records``


def find_evaluations(paths: Iterable[str | Path]) -> list[Path]:
    """``evaluation.json`` files: each path (globs expanded) is an evaluate output folder or holds some."""
    found: list[Path] = []
    for match in expand_paths(paths):
        here = [match / EVALUATION_FILE] if (match / EVALUATION_FILE).is_file() else sorted(
            match.rglob(EVALUATION_FILE), key=natural_order)
        if not here:
            raise ReportError(f"{match}: holds no {EVALUATION_FILE} (the output of python -m cifar.evaluate)")
        found += here
    return list(dict.fromkeys(found))


def recipe_of(checkpoint: str | Path, model: str) -> str:
    """The checkpoint's run as cifar.report labels it (its overrides without seed and paths, and the seed),
    else the network's class name."""
    run = Path(checkpoint).parent.parent
    if run.is_dir() and is_run(run):
        result = read_run(run)
        seed = (result.config or {}).get("seed")
        return result.label + (f", seed {seed}" if seed is not None else "")
    return model.rsplit(".", 1)[-1]


def row(path: Path) -> dict[str, Any]:
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: unreadable ({exc})") from None
    calibration = report.get("calibration") or {}
    corruptions = report.get("corruptions") or {}
    worst = corruptions.get("worst") or {}
    return {
        # (evaluate names the run as it finds it; older files are looked up now, where the run still is)
        "recipe": report.get("recipe") or recipe_of(report.get("checkpoint", ""), str(report.get("model", "?"))),
        "epoch": report.get("epoch"),
        "tta": report.get("tta"),
        "test acc": report.get(M.TEST_ACC),
        "ECE": (calibration.get("before") or {}).get("ece", report.get(M.TEST_ECE)),  # (on the images "after" is on)
        "ECE after T": (calibration.get("after") or {}).get("ece"),
        "temperature": calibration.get("temperature"),
        "NLL": (calibration.get("before") or {}).get("nll"),
        "NLL after T": (calibration.get("after") or {}).get("nll"),
        "mean corruption acc": corruptions.get("mean_corruption_accuracy"),
        "worst corruption": worst.get("corruption"),
        "worst acc": worst.get("mean_accuracy"),
        "corruptions": len(corruptions.get("accuracy") or {}),
        "source": corruptions.get("source"),
        "folder": str(path.parent),
    }


def _f(value: Any, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| recipe | TTA | test acc | ECE | ECE after T (T) | NLL, after T | mean corruption acc | worst corruption |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in sorted(rows, key=lambda r: -(r["test acc"] or 0)):
        worst = "-" if r["worst corruption"] is None else f"{r['worst corruption']} ({r['worst acc']:.2%})"
        temperature = f" ({r['temperature']:.2f})" if r["temperature"] is not None else ""
        lines.append(" | ".join([
            f"| `{r['recipe']}`", r["tta"] or "-", _f(r["test acc"], "{:.2%}"), _f(r["ECE"], "{:.4f}"),
            _f(r["ECE after T"], "{:.4f}") + temperature,
            _f(r["NLL"], "{:.3f}") + (f", {r['NLL after T']:.3f}" if r["NLL after T"] is not None else ""),
            _f(r["mean corruption acc"], "{:.2%}") + (f" ({r['corruptions']})" if r["corruptions"] else ""),
            worst + " |",
        ]))
    sources = sorted({r["source"] for r in rows if r["source"]})
    if sources:
        lines += ["", "Corrupted images: " + "; ".join(sources) + ". In brackets: the number of corruptions."]
    return "\n".join(lines)


CSV_COLUMNS = ("recipe", "epoch", "tta", "test acc", "ECE", "ECE after T", "temperature", "NLL", "NLL after T",
               "mean corruption acc", "worst corruption", "worst acc", "corruptions", "source", "folder")


def csv_rows(rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
    return [["" if r[c] is None else r[c] for c in CSV_COLUMNS] for r in rows]
