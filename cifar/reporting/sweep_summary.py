"""A summary of every job of a Hydra multirun: ``summary.csv`` and ``summary.md`` in the sweep folder.

``cifar.train`` refreshes it after every job (so it survives a sweep that stops early), and the
Hydra callback registered in ``conf/hydra/default.yaml`` writes and prints it once the sweep
has ended. Reads each job folder's
``.hydra/overrides.yaml`` and ``metrics.json`` (``cifar.train`` writes one even for a failed
job); jobs are sorted by ``optimized_metric``, best first, failed ones last.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from cifar import metric_names as M
from cifar.reporting.files import atomic_write_text, exclusive_lock, write_csv

log = logging.getLogger(__name__)

COLUMNS = ("job", "status", "overrides", "optimized", M.VAL_ACC_BEST, M.TEST_ACC, "epochs", "wall_seconds", "error")
LOWER_IS_BETTER = (M.VAL_LOSS, M.TEST_LOSS)


def read_job(job_dir: Path) -> dict[str, Any]:
    overrides = OmegaConf.load(job_dir / ".hydra" / "overrides.yaml")
    row: dict[str, Any] = {"job": job_dir.name, "overrides": " ".join(str(o) for o in overrides)}
    metrics_file = job_dir / "metrics.json"
    if not metrics_file.is_file():
        return {**row, "status": "missing", "error": "no metrics.json yet: still running, killed, or crashed"}
    metrics = json.loads(metrics_file.read_text())
    status = metrics.get("status", "ok")
    name = metrics.get("optimized_metric", M.VAL_ACC_BEST)
    value = metrics.get(name)
    if status == "ok" and (value is None or not math.isfinite(value)):
        status, metrics["error"] = "failed", f"{name} is {value}"
    return {
        **row,
        "status": status,
        "optimized": value if status == "ok" else None,
        "metric_name": name,
        M.VAL_ACC_BEST: metrics.get(M.VAL_ACC_BEST),
        M.TEST_ACC: metrics.get(M.TEST_ACC),
        "epochs": metrics.get("epochs"),
        "wall_seconds": metrics.get("wall_seconds"),
        "error": metrics.get("error", ""),
    }


def summarize(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """Write summary.csv/md from the job folders now there (jobs in parallel take turns)."""
    sweep_dir = Path(sweep_dir)
    with exclusive_lock(sweep_dir / ".summary.lock"):
        return _summarize(sweep_dir)


def _summarize(sweep_dir: Path) -> list[dict[str, Any]]:
    jobs = sorted(
        (d for d in sweep_dir.iterdir() if (d / ".hydra" / "overrides.yaml").is_file()),
        key=lambda d: (len(d.name), d.name),
    )
    rows = [read_job(d) for d in jobs]
    ok = [r for r in rows if r["status"] == "ok"]
    lower_better = bool(ok) and ok[0]["metric_name"] in LOWER_IS_BETTER
    ok.sort(key=lambda r: r["optimized"], reverse=not lower_better)
    ordered = ok + [r for r in rows if r["status"] != "ok"]
    write_csv(sweep_dir / "summary.csv", COLUMNS, (["" if r.get(c) is None else r[c] for c in COLUMNS] for r in ordered))
    atomic_write_text(sweep_dir / "summary.md", markdown(ordered) + "\n")
    return ordered


def markdown(rows: list[dict[str, Any]]) -> str:
    name = next((r["metric_name"] for r in rows if "metric_name" in r), M.VAL_ACC_BEST)
    lines = [
        f"| job | status | overrides | {name} | best val acc | test acc | epochs | wall s | error |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
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
        print(markdown(rows))
