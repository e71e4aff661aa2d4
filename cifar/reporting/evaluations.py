"""The calibration and robustness table of ``python -m cifar.report --evaluations PATH...``.

One row per ``cifar.evaluate`` output folder (its ``evaluation.json``): the recipe of the checkpoint's
run (as ``cifar.report`` names it), the clean test accuracy, ECE before and after temperature scaling,
the mean corruption accuracy and the worst corruption, with the corrupted set's source. Against a baseline
recipe (``--baseline``), also the mean corruption error (mCE) and the relative mCE of Hendrycks and Dietterich
(ICLR 2019), in per cent of the baseline's: for each corruption c, CE_c = sum_s E_cs / sum_s E_cs(baseline)
and relative CE_c = sum_s (E_cs - E_clean) / sum_s (E_cs - E_clean)(baseline), E being the error at
severity s; each averaged over the corruptions.
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
        "cells": corruptions.get("accuracy") or {},  # corruption -> severity -> accuracy
        "source": corruptions.get("source"),
        "folder": str(path.parent),
    }


def find_baseline(rows: Sequence[dict[str, Any]], name: str) -> dict[str, Any]:
    """The row whose recipe is ``name``, or else the one row whose recipe starts with it."""
    exact = [r for r in rows if r["recipe"] == name]
    matches = exact or [r for r in rows if str(r["recipe"]).startswith(name)]
    recipes = ", ".join(f"`{r['recipe']}`" for r in (matches if len(matches) > 1 else rows))
    if len(matches) != 1:
        raise ReportError(f"--baseline {name}: {'matches ' + str(len(matches)) if matches else 'matches no'} "
                          f"evaluation's recipe; expected one of {recipes}")
    if not matches[0]["cells"] or matches[0]["test acc"] is None:
        raise ReportError(f"--baseline {name}: {matches[0]['folder']} has no corruption benchmark to compare with")
    return matches[0]


def corruption_errors(row: dict[str, Any], baseline: dict[str, Any]) -> tuple[float | None, float | None]:
    """``row``'s mCE and relative mCE against ``baseline`` (fractions: 1 is the baseline's), or None where the
    two were not tested on the same corruptions and severities (or the baseline lost nothing to one)."""
    cells, base = row["cells"], baseline["cells"]
    if not cells or row["test acc"] is None or set(cells) != set(base) or any(set(cells[c]) != set(base[c])
                                                                            for c in cells):
        return None, None
    ce, relative = [], []
    for name, by_severity in cells.items():
        errors = [1 - by_severity[s] for s in by_severity]
        base_errors = [1 - base[name][s] for s in by_severity]
        ce.append(sum(errors) / sum(base_errors))
        base_drop = sum(e - (1 - baseline["test acc"]) for e in base_errors)
        relative.append(sum(e - (1 - row["test acc"]) for e in errors) / base_drop if base_drop > 0 else None)
    return sum(ce) / len(ce), None if None in relative else sum(relative) / len(relative)


def with_corruption_errors(rows: Sequence[dict[str, Any]], baseline: str | None) -> list[dict[str, Any]]:
    """``rows`` with their mCE and relative mCE against the recipe called ``baseline`` (none: as they are)."""
    if baseline is None:
        return list(rows)
    base = find_baseline(rows, baseline)
    return [{**r, **dict(zip(("mCE", "relative mCE"), corruption_errors(r, base))), "baseline": base["recipe"]}
            for r in rows]


def _worst(r: dict[str, Any]) -> str:
    return "-" if r["worst corruption"] is None else f"{r['worst corruption']} ({r['worst acc']:.2%})"


def _errors_note(rows: Sequence[dict[str, Any]]) -> list[str]:
    base = next((r["baseline"] for r in rows if r.get("baseline")), None)
    return [] if base is None else [
        f"mCE and relative mCE (Hendrycks and Dietterich, 2019): the corruption errors in per cent of `{base}`'s."]


def _sources_note(rows: Sequence[dict[str, Any]]) -> list[str]:
    sources = sorted({r["source"] for r in rows if r["source"]})
    return ["Corrupted images: " + "; ".join(sources) + ". In brackets: the number of corruptions."] if sources else []


def _f(value: Any, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def _corruption_acc(r: dict[str, Any]) -> str:
    return _f(r["mean corruption acc"], "{:.2%}") + (f" ({r['corruptions']})" if r["corruptions"] else "")


def _calibration_columns():
    return [
        ("TTA", "---", lambda r: r["tta"] or "-"),
        ("test acc", "---:", lambda r: _f(r["test acc"], "{:.2%}")),
        ("ECE", "---:", lambda r: _f(r["ECE"], "{:.4f}")),
        ("ECE after T (T)", "---:", lambda r: _f(r["ECE after T"], "{:.4f}")
         + (f" ({r['temperature']:.2f})" if r["temperature"] is not None else "")),
        ("NLL, after T", "---:", lambda r: _f(r["NLL"], "{:.3f}")
         + (f", {r['NLL after T']:.3f}" if r["NLL after T"] is not None else "")),
    ]


def _table(rows: Sequence[dict[str, Any]], columns) -> str:
    """One row per evaluation, best clean accuracy first: the recipe, ``columns`` ((header, alignment, cell)),
    the corruption columns (with mCE where there is a baseline), then the notes."""
    columns = [*columns, ("mean corruption acc", "---:", _corruption_acc), ("worst corruption", "---", _worst)]
    if any(r.get("baseline") for r in rows):
        columns += [("mCE", "---:", lambda r: _f(r.get("mCE"), "{:.1%}")),
                    ("relative mCE", "---:", lambda r: _f(r.get("relative mCE"), "{:.1%}"))]
    lines = ["| recipe | " + " | ".join(c[0] for c in columns) + " |", "|---|" + "".join(c[1] + "|" for c in columns)]
    for r in sorted(rows, key=lambda r: -(r["test acc"] or 0)):
        lines.append(f"| `{r['recipe']}` | " + " | ".join(cell(r) for _, _, cell in columns) + " |")
    notes = _sources_note(rows) + _errors_note(rows)
    return "\n".join(lines + ([""] + notes if notes else []))


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    return _table(rows, _calibration_columns())


def brief_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The short robustness table: clean and mean corruption accuracy, the worst corruption, and the mCE figures
    where there is a baseline."""
    return _table(rows, [("clean acc", "---:", lambda r: _f(r["test acc"], "{:.2%}"))])


CSV_COLUMNS = ("recipe", "epoch", "tta", "test acc", "ECE", "ECE after T", "temperature", "NLL", "NLL after T",
               "mean corruption acc", "worst corruption", "worst acc", "corruptions", "mCE", "relative mCE", "baseline",
               "source", "folder")


def csv_rows(rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
    return [["" if r.get(c) is None else r[c] for c in CSV_COLUMNS] for r in rows]
