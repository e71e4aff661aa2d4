"""Results of finished runs, read back from their folders and grouped by recipe.

One home for the tables of ``python -m cifar.report`` and of a sweep's summary. A run folder is
what ``cifar.train`` writes (``.hydra/`` and, once it has ended, ``metrics.json``). Runs whose
resolved configs differ only in ``seed`` and in where they read and write (data and output folders)
are one recipe; a group shows the mean ± std over its finished runs and names the others: failed
(``status: failed`` with the error) or incomplete (no ``metrics.json`` yet: running, killed, crashed).
"""

from __future__ import annotations

import csv
import functools
import glob
import json
import math
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import OmegaConf

from cifar import metric_names as M
from cifar.data.constants import TRAIN_SIZE
from cifar.errors import CifarError, is_number
from cifar.models.flops import train_step_flops
from cifar.reporting.write_ups import reported_for

METRICS_FILE = "metrics.json"
CURVES_FILE = "curves.csv"
CONFIG_FILE = ".hydra/config.yaml"
OVERRIDES_FILE = ".hydra/overrides.yaml"
# what the report reads of a run: kept by ``cifar.report --records`` (no checkpoints, logs or figures)
RUN_RECORD = (METRICS_FILE, CURVES_FILE, CONFIG_FILE, OVERRIDES_FILE)
# keys that say where a run reads and writes, which seed it drew, or what it shows and records while it runs
# (its loggers): not part of its recipe (at any depth of the config)
NOT_RECIPE = {"seed", "paths", "output_dir", "dirpath", "save_dir", "default_root_dir", "data_dir", "ckpt_path",
              "enable_progress_bar", "enable_model_summary", "progress_bar", "run_name", "write_up", "logger"}
FIGURES = (M.TEST_ACC, M.VAL_ACC_BEST, M.TEST_LOSS, M.TEST_ECE)
DISTURBED = 3  # an epoch over 3 times its run's median was slowed by other work


class ReportError(CifarError):
    """A path given to the report is not a run, nor a folder holding runs."""


@dataclass
class RunResult:
    folder: Path
    status: str  # ok | failed | incomplete
    overrides: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    @property
    def config(self) -> dict[str, Any] | None:
        return self.metrics.get("config")

    @property
    def label(self) -> str:
        """The command-line overrides without the seed: how the user asked for this recipe."""
        kept = [o for o in self.overrides if not outside_recipe(o.split("=")[0])]
        return " ".join(kept) or "(defaults)"

    @cached_property
    def train_flops(self) -> int | None:
        """The run's training FLOPs: its optimizer steps times one step's forward + backward FLOPs of its
        network at its batch (``cifar/models/flops.py``; one device's). None without steps or a config."""
        config, steps = self.config or {}, self.metrics.get("steps")
        batch = (config.get("data") or {}).get("batch_size")
        if not is_number(steps) or not is_number(batch) or not isinstance(config.get("model"), dict):
            return None
        return int(steps) * step_flops(json.dumps(config["model"], sort_keys=True), int(batch))

    @cached_property
    def epoch_times(self) -> list[float]:
        """Each epoch's seconds (training and validation), from ``curves.csv``; none without it."""
        curves = self.folder / CURVES_FILE
        if not curves.is_file():
            return []
        with open(curves, newline="") as fh:
            return [float(row["seconds"]) for row in csv.DictReader(fh) if row.get("seconds")]

    @property
    def epochs_trained(self) -> float | None:
        """Epochs trained, fractional where ``trainer.max_steps`` ended the last one early: from ``metrics.json``,
        or, for records made before it was kept, the optimizer steps over the batches of a full epoch."""
        if is_number(self.metrics.get("epochs_trained")):
            return float(self.metrics["epochs_trained"])
        data = (self.config or {}).get("data") or {}
        steps, batch = self.metrics.get("steps"), data.get("batch_size")
        if not is_number(steps) or not is_number(batch) or not batch:
            return self.metrics.get("epochs")
        images = TRAIN_SIZE - int(data.get("val_size") or 0)
        per_epoch = images // batch if data.get("drop_last") else math.ceil(images / batch)
        return round(steps / per_epoch, 2) if per_epoch else self.metrics.get("epochs")

    @property
    def full_epoch_times(self) -> list[float]:
        """The times of the epochs that ran whole (not a last epoch that ``max_steps`` cut short)."""
        trained = self.epochs_trained
        partial = trained is not None and trained != int(trained) and len(self.epoch_times) > int(trained)
        return self.epoch_times[:-1] if partial else self.epoch_times

    @property
    def disturbed_epochs(self) -> list[tuple[int, float]]:
        """(epoch, seconds) of each epoch that took over ``DISTURBED`` times the run's median: slowed by
        something else on the machine (the median, and so the speed shown, stays the machine's)."""
        times = self.full_epoch_times
        median = statistics.median(times) if times else 0
        return [(i, t) for i, t in enumerate(times) if median and t > DISTURBED * median]

    @property
    def median_epoch_seconds(self) -> float | None:
        """The median epoch time (a few epochs slowed by other work on the machine do not move it), else
        the fit time over the epochs."""
        if self.full_epoch_times:
            return statistics.median(self.full_epoch_times)
        epochs, fit = self.metrics.get("epochs"), self.metrics.get("fit_seconds")
        return fit / epochs if epochs and fit else None


@functools.lru_cache(maxsize=None)
def step_flops(model_config: str, batch_size: int) -> int:
    """One training step's FLOPs of the network a (JSON) model config builds, at ``batch_size``."""
    return train_step_flops(instantiate(OmegaConf.create(json.loads(model_config))), batch_size)


def outside_recipe(key: str) -> bool:
    """An override's key (``logger.mlflow.tracking_uri``, ``~callbacks.x.dirpath``) names no part of the recipe."""
    parts = key.lstrip("+~").split(".")
    return parts[0] in NOT_RECIPE or parts[-1] in NOT_RECIPE


def is_run(folder: Path) -> bool:
    """A training run's folder: its ``metrics.json``, or Hydra's record of a ``cifar.train`` config (not
    the folders of evaluate or predict, whose configs have no model or trainer)."""
    if (folder / METRICS_FILE).is_file():
        return True
    config = folder / CONFIG_FILE
    return config.is_file() and {"model", "trainer"} <= set(OmegaConf.load(config).keys())


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """The given paths with glob patterns expanded (in name order); a path that matches nothing is an error."""
    expanded: list[Path] = []
    for given in paths:
        for match in map(Path, sorted(glob.glob(str(given))) or [str(given)]):
            if not match.exists():
                raise ReportError(f"{match}: no such file or folder")
            expanded.append(match)
    return expanded


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Run folders: each path (glob patterns expanded) is a run, or a folder searched for runs below it."""
    found: list[Path] = []
    for match in expand_paths(paths):
        if is_run(match):
            found.append(match)
            continue
        below = sorted({p for p in {q.parent.parent for q in match.rglob(CONFIG_FILE)} |
                        {q.parent for q in match.rglob(METRICS_FILE)} if is_run(p)}, key=natural_order)
        below = [p for p in below if not any(q != p and q in p.parents for q in below)]  # not inside another run
        if not below:
            raise ReportError(f"{match}: not a run folder (no {METRICS_FILE} or .hydra/) and holds no runs")
        found += below
    return list(dict.fromkeys(found))


def natural_order(path: Path) -> tuple:
    """Folders in name order with their numbers as numbers: job ``10-...`` after job ``9-...``."""
    return tuple(tuple((1, int(bit), "") if bit.isdigit() else (0, 0, bit) for bit in re.split(r"(\d+)", part))
                 for part in path.parts)


def read_run(folder: Path) -> RunResult:
    overrides_file = folder / OVERRIDES_FILE
    overrides = [str(o) for o in OmegaConf.load(overrides_file)] if overrides_file.is_file() else []
    metrics_file = folder / METRICS_FILE
    if not metrics_file.is_file():
        return RunResult(folder, "incomplete", overrides, error=f"no {METRICS_FILE}: still running, killed or crashed")
    try:
        metrics = json.loads(metrics_file.read_text())
    except (OSError, ValueError) as exc:
        return RunResult(folder, "failed", overrides, error=f"{metrics_file}: unreadable ({exc})")
    status = metrics.get("status", "ok")
    error = metrics.get("error", "")
    if status == "ok" and not finite(metrics.get(M.TEST_ACC)) and not finite(metrics.get(M.VAL_ACC_BEST)):
        status, error = "failed", "no test or validation accuracy"
    return RunResult(folder, status, overrides, metrics, error)


def recipe(config: dict[str, Any] | None) -> str:
    """A run's recipe: its resolved config without seeds and paths, as one comparable string. A ``_target_`` counts
    by its class name: a class that moved to another module (``cifar.callbacks`` before) is the same recipe."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: str(v).rsplit(".", 1)[-1] if k == "_target_" else strip(v)
                    for k, v in node.items() if k not in NOT_RECIPE}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return json.dumps(strip(config or {}), sort_keys=True, default=str)


@dataclass
class Group:
    label: str
    key: Any
    runs: list[RunResult] = field(default_factory=list)

    @property
    def finished(self) -> list[RunResult]:
        return [r for r in self.runs if r.status == "ok"]

    @property
    def unfinished(self) -> list[RunResult]:
        return [r for r in self.runs if r.status != "ok"]

    def values(self, name: str) -> list[float]:
        return [float(r.metrics[name]) for r in self.finished if finite(r.metrics.get(name))]

    def summary(self) -> dict[str, Any]:
        row: dict[str, Any] = {"recipe": self.label, "n": len(self.finished), "failed": len(self.unfinished)}
        configs = [r.config for r in self.runs if r.config]
        row["precision"] = ", ".join(sorted({str(c.get("precision")) for c in configs})) or None
        # speed is the machine's: one entry per machine in "machine", "seconds per epoch" and "fastest
        # epoch seconds", never a mean over runs on different machines
        machines: dict[str | None, list[RunResult]] = {}
        for run in self.finished:
            machines.setdefault(run.metrics.get("machine"), []).append(run)
        row["machine"] = [m or "-" for m in machines] or None  # ("-": a run from before runs recorded it)
        row["machine seeds"] = [[(r.config or {}).get("seed") for r in runs] for runs in machines.values()]
        for name in FIGURES:
            values = self.values(name)
            row[f"{name} mean"] = statistics.mean(values) if values else None
            row[f"{name} std"] = statistics.stdev(values) if len(values) > 1 else None
            row[f"{name} values"] = values
        row["epochs"] = [r.epochs_trained for r in self.finished]
        row["disturbed epochs"] = [[(r.config or {}).get("seed"), epoch, seconds] for r in self.finished
                                   for epoch, seconds in r.disturbed_epochs]
        row["seconds per epoch"], row["fastest epoch seconds"] = [], []
        for runs in machines.values():
            per_epoch = [s for s in (r.median_epoch_seconds for r in runs) if s is not None]
            row["seconds per epoch"].append(statistics.mean(per_epoch) if per_epoch else None)
            # the fastest epoch of any run: near the machine's own speed where other work slowed most epochs
            row["fastest epoch seconds"].append(min((min(r.full_epoch_times) for r in runs if r.full_epoch_times),
                                                    default=None))
        row["target reached (epoch)"] = [r.metrics.get("target_reached_epoch") for r in self.finished
                                         if r.metrics.get("target_acc") is not None]
        row["seconds per run"] = [statistics.median(s) if (s := [r.metrics["fit_seconds"] for r in runs
                                                                 if is_number(r.metrics.get("fit_seconds"))]) else None
                                  for runs in machines.values()]
        flops = [f for f in (r.train_flops for r in self.finished) if f is not None]
        row["train flops per run"] = statistics.median(flops) if flops else None
        row["seeds"] = [(r.config or {}).get("seed") for r in self.finished]
        reported = {reported_for(r.label) for r in self.runs}  # (one, unless --by mixes recipes)
        reported = reported.pop() if len(reported) == 1 else None
        row["write-up"] = reported.label if reported else None
        row["gap (points)"] = reported.gap(row[f"{reported.metric} mean"]) if reported else None
        row["runs"] = [str(r.folder) for r in self.runs]
        return row


def group_runs(runs: Sequence[RunResult], by: Sequence[str] | None = None) -> list[Group]:
    """Runs grouped by recipe (or by the config keys ``by``), in the order they were given. A run without
    a config (incomplete) joins the group of the same command-line overrides, or forms its own."""
    groups: dict[Any, Group] = {}
    for run in runs:  # first the runs with a config, then the others by their overrides
        if run.config is not None:
            if by:
                key = tuple(_select(run.config, k) for k in by)
                label = " ".join(f"{k}={v}" for k, v in zip(by, key))
            else:
                key, label = recipe(run.config), run.label
            groups.setdefault(key, Group(label, key)).runs.append(run)
    for run in runs:
        if run.config is None:
            key = next((g.key for g in groups.values() if g.label == run.label), ("unknown", run.label))
            groups.setdefault(key, Group(run.label, key)).runs.append(run)
    return list(groups.values())


def _select(config: dict[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return json.dumps(node, sort_keys=True) if isinstance(node, (dict, list)) else node


def finite(value: Any) -> bool:
    return is_number(value) and math.isfinite(value)


# -- tables -------------------------------------------------------------------------------------


def _pct(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "-"
    return f"{100 * mean:.2f}%" + (f" ± {100 * std:.2f}" if std is not None else "")


def _list(values: Sequence[Any], fmt: str = "{}") -> str:
    return ", ".join("never" if v is None else fmt.format(v) for v in values)


def _machines(row: dict[str, Any]) -> str:
    """The machine a group ran on; where its runs ran on several, each with its seeds (in the order of
    the speeds beside it)."""
    if not row["machine"]:
        return "-"
    if len(row["machine"]) == 1:
        return row["machine"][0]
    return "; ".join(f"{m} (seed{'s' if len(seeds) > 1 else ''} {_list(seeds)})"
                     for m, seeds in zip(row["machine"], row["machine seeds"]))


def _speed(mean: float | None, fastest: float | None) -> str:
    return "-" if mean is None else f"{mean:.1f}" + ("" if fastest is None else f" ({fastest:.1f})")


def markdown(groups: Sequence[Group]) -> str:
    """One row per group (best test accuracy first), then every run that did not finish, named. The test
    ECE has a column where some run logged it (runs made before it existed did not)."""
    rows = sorted((g.summary() for g in groups), key=lambda r: -(r[f"{M.TEST_ACC} mean"] or -1.0))
    ece = any(r[f"{M.TEST_ECE} mean"] is not None for r in rows)
    write_up = any(r["write-up"] for r in rows)
    lines = [
        "| recipe | precision | machine | n | test acc, mean ± std | test acc per run | best val acc | test loss "
        + ("| test ECE " if ece else "") + "| epochs | s / epoch (fastest) | training PFLOP per run | failed "
        + ("| write-up (official files) | gap, points |" if write_up else "|"),
        "|---|---|---|---:|---:|---|---:|---:|" + ("---:|" if ece else "") + "---|---:|---:|---:|"
        + ("---|---:|" if write_up else ""),
    ]
    for r in rows:
        epochs = [f"{e:g}" if is_number(e) else e for e in sorted(set(r["epochs"]), key=lambda e: (e is None, e or 0))]
        reached = f" (val target at {_list(r['target reached (epoch)'])})" if r["target reached (epoch)"] else ""
        lines.append("| " + " | ".join([
            f"`{r['recipe']}`", r["precision"] or "-", _machines(r), str(r["n"]),
            _pct(r[f"{M.TEST_ACC} mean"], r[f"{M.TEST_ACC} std"]),
            _list(r[f"{M.TEST_ACC} values"], "{:.2%}") or "-",
            _pct(r[f"{M.VAL_ACC_BEST} mean"], r[f"{M.VAL_ACC_BEST} std"]),
            "-" if r[f"{M.TEST_LOSS} mean"] is None else f"{r[f'{M.TEST_LOSS} mean']:.4f}",
            *(["-" if r[f"{M.TEST_ECE} mean"] is None else f"{r[f'{M.TEST_ECE} mean']:.4f}"] if ece else []),
            (_list(epochs) or "-") + reached,
            "; ".join(_speed(mean, fastest) for mean, fastest in zip(r["seconds per epoch"], r["fastest epoch seconds"]))
            or "-",
            "-" if r["train flops per run"] is None else f"{r['train flops per run'] / 1e15:.3g}",
            str(r["failed"]),
            *([r["write-up"] or "-", "-" if r["gap (points)"] is None else f"{r['gap (points)']:.1f}"]
              if write_up else []),
        ]) + " |")
    lines += disturbed_lines(rows, "the medians above are not moved by them")
    unfinished = [run for g in groups for run in g.unfinished]
    if unfinished:
        lines += ["", "Not averaged in:", ""]
        lines += [f"- `{run.folder}` ({run.status}): {run.error.splitlines()[0] if run.error else '?'}"
                  for run in unfinished]
    return "\n".join(lines)


def disturbed_lines(rows: Sequence[dict[str, Any]], effect: str) -> list[str]:
    """A note under a table naming each epoch slowed by other work on the machine (``Run.disturbed_epochs``)."""
    disturbed = [(r["recipe"], *d) for r in rows for d in r["disturbed epochs"]]
    if not disturbed:
        return []
    return ["", f"Disturbed epochs (over {DISTURBED}x their run's median, slowed by other work on the machine; "
                f"{effect}):", ""] + [f"- `{recipe}` seed {seed}, epoch {epoch}: {seconds:.0f} s"
                                     for recipe, seed, epoch, seconds in disturbed]


def short_machine(machine: str) -> str:
    """``cpu: Intel(R) Xeon(R) Processor (amx_bf16, avx512_bf16), 2 threads`` -> ``Intel Xeon, 2 threads``."""
    text = re.sub(r"\(R\)|\(TM\)|\bProcessor\b|\([^)]*\)|^(cpu|gpu): ", "", machine)
    return re.sub(r"\s+", " ", re.sub(r"\s+,", ",", text)).strip()


def brief_markdown(groups: Sequence[Group]) -> str:
    """The short table: recipe, test accuracy (mean ± std, n), epochs, and the median time of a run (fit, with
    its validation) on each machine the recipe ran on."""
    rows = sorted((g.summary() for g in groups), key=lambda r: -(r[f"{M.TEST_ACC} mean"] or -1.0))
    lines = ["| recipe | test acc, mean ± std | n | epochs | time per run (machine) |", "|---|---:|---:|---:|---|"]
    for r in rows:
        epochs = ", ".join(f"{e:g}" for e in sorted({e for e in r["epochs"] if is_number(e)})) or "-"
        times = "; ".join(f"{seconds / 60:.1f} min ({short_machine(machine)})"
                          for machine, seconds in zip(r["machine"] or [], r["seconds per run"]) if seconds is not None)
        lines.append(f"| `{r['recipe']}` | {_pct(r[f'{M.TEST_ACC} mean'], r[f'{M.TEST_ACC} std'])} | {r['n']} | "
                     f"{epochs} | {times or '-'} |")
    return "\n".join(lines + disturbed_lines(rows, "the times above include them"))


CSV_COLUMNS = ("recipe", "precision", "machine", "n", "failed", f"{M.TEST_ACC} mean", f"{M.TEST_ACC} std",
               f"{M.TEST_ACC} values", f"{M.VAL_ACC_BEST} mean", f"{M.VAL_ACC_BEST} std", f"{M.TEST_LOSS} mean",
               f"{M.TEST_LOSS} std", f"{M.TEST_ECE} mean", f"{M.TEST_ECE} std", "epochs", "seconds per epoch",
               "target reached (epoch)", "seeds", "runs", "fastest epoch seconds", "write-up", "gap (points)", "machine seeds",
               "disturbed epochs", "seconds per run")


def csv_rows(groups: Sequence[Group]) -> list[list[Any]]:
    def cell(value: Any) -> Any:
        if isinstance(value, list):
            return ";".join("" if v is None else " ".join(map(str, v)) if isinstance(v, list) else str(v)
                            for v in value)
        return "" if value is None else value

    summaries = [g.summary() for g in groups]
    return [[cell(summary[c]) for c in CSV_COLUMNS] for summary in summaries]
