"""A summary of every job of a Hydra multirun, in the sweep folder: ``summary.md`` (one row per job,
best first, then one row per recipe over its seeds), ``summary.csv`` (the jobs) and
``summary_by_recipe.csv`` (the recipes).

``cifar.train`` refreshes it after every job (so it survives a sweep that stops early), and the
Hydra callback registered in ``conf/hydra/default.yaml`` writes and prints it once the sweep has
ended. Jobs are read as ``cifar.report`` reads runs (``cifar/reporting/results.py``): a job whose
``metrics.json`` says ``failed`` is named with its error, one without it is still running or died.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from cifar import metric_names as M
from cifar.reporting import results
from cifar.files import atomic_write_text, exclusive_lock, write_csv

log = logging.getLogger(__name__)

COLUMNS = ("job", "status", "overrides", "optimized", M.VAL_ACC_BEST, M.TEST_ACC, M.TEST_ECE, "epochs", "wall_seconds",
           "error")
LOWER_IS_BETTER = (M.VAL_LOSS, M.TEST_LOSS)


def job_row(run: results.RunResult) -> dict[str, Any]:
    name = run.metrics.get("optimized_metric") or M.VAL_ACC_BEST
    value = run.metrics.get(name)
    status, error = run.status, run.error
    if status == "ok" and not results.finite(value):
        status, error = "failed", f"{name} is {value}"
    return {
        "job": run.folder.name, "status": status, "overrides": " ".join(run.overrides),
        "optimized": value if status == "ok" else None, "metric_name": name,
        **{key: run.metrics.get(key) for key in (M.VAL_ACC_BEST, M.TEST_ACC, M.TEST_ECE, "epochs", "wall_seconds")},
        "error": error,
    }


def summarize(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """Write the summary files from the job folders now there (jobs in parallel take turns)."""
    sweep_dir = Path(sweep_dir)
    with exclusive_lock(sweep_dir / ".summary.lock"):
        return _summarize(sweep_dir)


def _summarize(sweep_dir: Path) -> list[dict[str, Any]]:
    jobs = sorted((d for d in sweep_dir.iterdir() if (d / ".hydra" / "overrides.yaml").is_file()),
                  key=results.natural_order)
    runs = [results.read_run(d) for d in jobs]
    rows = [job_row(r) for r in runs]
    ok = [r for r in rows if r["status"] == "ok"]
    lower_better = bool(ok) and ok[0]["metric_name"] in LOWER_IS_BETTER
    ok.sort(key=lambda r: r["optimized"], reverse=not lower_better)
    ordered = ok + [r for r in rows if r["status"] != "ok"]
    groups = results.group_runs(runs)
    write_csv(sweep_dir / "summary.csv", COLUMNS, (["" if r.get(c) is None else r[c] for c in COLUMNS] for r in ordered))
    write_csv(sweep_dir / "summary_by_recipe.csv", results.CSV_COLUMNS, results.csv_rows(groups))
    atomic_write_text(sweep_dir / "summary.md",
                      markdown(ordered) + "\n\nBy recipe (runs that differ only in their seed):\n\n"
                      + results.markdown(groups) + "\n")
    return ordered


def markdown(rows: list[dict[str, Any]]) -> str:
    name = next((r["metric_name"] for r in rows if "metric_name" in r), M.VAL_ACC_BEST)
    lines = [
        f"| job | status | overrides | {name} | best val acc | test acc | test ECE | epochs | wall s | error |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        cells = [r["job"], r["status"], f"`{r['overrides']}`"] + [_fmt(r.get(c)) for c in COLUMNS[3:]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value).replace("|", "/").replace("\n", " ")


class SweepSummaryCallback(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        rows = summarize(sweep_dir)
        failed = sum(r["status"] != "ok" for r in rows)
        print(f"\nsweep summary ({len(rows)} runs, {failed} failed): {sweep_dir / 'summary.md'}")
        print((sweep_dir / "summary.md").read_text())
