"""Train, validate and test a network: ``python -m cifar.train [overrides]``.

Composes ``conf/train.yaml``, checks it, fits the model, re-validates and tests the best
checkpoint, writes ``metrics.json`` into the run directory and returns ``optimized_metric`` for
sweepers. A job that fails still writes ``metrics.json`` (``status: failed`` and the error).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

from cifar import metric_names as M
from cifar.training.callbacks.target_accuracy import TargetAccuracyCallback
from cifar.cli import entry_point, in_multirun
from cifar.errors import CifarError
from cifar.files import write_json
from cifar.reporting.hparams import METRIC_COLUMNS, NONE, SHOWN_FIRST, curated_hparams
from cifar.reporting.results import METRICS_FILE
from cifar.reporting.sweep_summary import summarize
from cifar.reporting.tensorboard import logging_step
from cifar.reporting.trackers import end_runs, trackers
from cifar.training.devices import describe_machine
from cifar.training.factory import build_run, prepare
from cifar.training.slurm import requeued_checkpoint

log = logging.getLogger(__name__)

FAILED_FILE = "metrics_failed.json"  # a failed resume of a finished run: its metrics.json stays


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run one training job described by ``cfg``; returns what it writes to ``metrics.json``.

    Whatever ends the job, ``metrics.json`` is written: with ``status: failed``, the error and
    the figures the fit reached when something fails."""
    started = time.time()
    metrics: dict[str, Any] = {"status": "failed", "optimized_metric": cfg.get("optimized_metric")}
    trainer = None
    try:
        resume_if_requeued(cfg)
        prepare(cfg)
        run = build_run(cfg)
        datamodule, module, trainer = run.datamodule, run.module, run.trainer
        start_sessions(cfg, trainer)

        trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
        if trainer.interrupted:
            raise KeyboardInterrupt("training was interrupted")
        metrics.update(fit_figures(cfg, trainer, started))
        metrics.update(final_figures(cfg, trainer, module, datamodule, "best" if metrics["best_checkpoint"] else None))
    except BaseException as exc:
        status, written = record_failure(cfg, metrics, exc)
        end_sessions(trainer, status, started, written, metrics.get("best_checkpoint"))
        raise
    metrics.update(status="ok", wall_seconds=round(time.time() - started, 2))
    write_metrics(cfg, metrics)
    end_sessions(trainer, "success", started, Path(cfg.paths.output_dir) / METRICS_FILE, metrics["best_checkpoint"])
    log.info(
        "best val/acc %s, test/acc %s, %d epochs in %.0f s; run in %s",
        metrics[M.VAL_ACC_BEST], metrics[M.TEST_ACC], metrics["epochs"], metrics["fit_seconds"], cfg.paths.output_dir,
    )
    return metrics


def resume_if_requeued(cfg: DictConfig) -> None:
    """A SLURM job requeued before its time limit or on preemption resumes from its run's last.ckpt."""
    if cfg.get("ckpt_path"):
        return
    last = requeued_checkpoint(cfg.paths.output_dir, dict(os.environ))
    if last is not None:
        log.info("requeued SLURM job (restart %s): resuming from %s", os.environ.get("SLURM_RESTART_COUNT"), last)
        with open_dict(cfg):
            cfg.ckpt_path = str(last)


def start_sessions(cfg: DictConfig, trainer: L.Trainer) -> None:
    """The run in each tracker: its curated settings, the metric columns, and tags for recipe, seed and machine."""
    hparams = curated_hparams(config_of(cfg), HydraConfig.get().runtime.choices if HydraConfig.initialized() else {})
    tags = {"recipe": hparams["experiment"] if hparams["experiment"] != NONE else hparams["model"],
            "seed": str(cfg.seed), "machine": describe_machine(trainer.strategy.root_device)}
    for tracker in trackers(trainer.loggers):
        tracker.start_session(hparams, tags, METRIC_COLUMNS, SHOWN_FIRST)


def end_sessions(trainer: L.Trainer | None, status: str, started: float, metrics_file: Path | None,
                 best_checkpoint: str | None) -> None:
    """The job's wall time (a metric column), its files (the ``metrics.json`` it wrote; the best checkpoint for
    trackers that keep checkpoints) and its end status, in each tracker (``end_runs``: never an error)."""
    if trainer is not None:
        files = [metrics_file] if metrics_file is not None and metrics_file.is_file() else []
        end_runs(trainer.loggers, status, files, best_checkpoint, {M.WALL_SECONDS: round(time.time() - started, 2)},
                 logging_step(trainer))


def fit_figures(cfg: DictConfig, trainer: L.Trainer, started: float) -> dict[str, Any]:
    """What the fit itself reached: best val accuracy, epochs, steps, early stop, time, best checkpoint."""
    checkpoint = trainer.checkpoint_callback
    epochs = trainer.fit_loop.epoch_progress.current.completed
    return {
        M.VAL_ACC_BEST: _value(trainer.callback_metrics.get(M.VAL_ACC_BEST)),
        "epochs": epochs,
        "steps": trainer.global_step,
        # fractional where max_steps ends the last epoch early (the speed record's recipes: 9.9, 3.5)
        "epochs_trained": epochs_trained(trainer),
        "stopped_early": epochs < (trainer.max_epochs or 0),
        "target_acc": cfg.target_acc,
        "target_reached_epoch": next(
            (c.reached_epoch for c in trainer.callbacks if isinstance(c, TargetAccuracyCallback)), None
        ),
        "fit_seconds": round(time.time() - started, 2),
        "machine": describe_machine(trainer.strategy.root_device),  # where the run trained (cifar.report groups by it)
        "torch": torch.__version__,
        "best_checkpoint": (checkpoint.best_model_path if checkpoint is not None else "") or None,
        "output_dir": cfg.paths.output_dir,
    }


def epochs_trained(trainer: L.Trainer) -> float | None:
    """The batches trained over the batches of a full epoch (None where the loader has no length)."""
    per_epoch = trainer.num_training_batches
    if not per_epoch or math.isinf(per_epoch):
        return None
    return round(trainer.fit_loop.epoch_loop.batch_progress.total.completed / per_epoch, 2)


def final_figures(cfg: DictConfig, trainer: L.Trainer, module, datamodule, ckpt: str | None) -> dict[str, Any]:
    """Validation and test figures of the best checkpoint (the last weights without checkpointing)."""
    results: dict[str, Any] = {}
    if datamodule.val_size:
        for figures in trainer.validate(module, datamodule=datamodule, ckpt_path=ckpt, verbose=False):
            results.update(figures)
    if cfg.test_after_fit:
        for figures in trainer.test(module, datamodule=datamodule, ckpt_path=ckpt):
            results.update(figures)
    return {name: _value(results.get(name)) for name in (M.VAL_ACC, M.VAL_LOSS, M.TEST_ACC, M.TEST_LOSS,
                                                         M.TEST_ACC_NO_TTA, M.TEST_ECE, M.TEST_BRIER)}


def record_failure(cfg: DictConfig, metrics: dict[str, Any], exc: BaseException) -> tuple[str, Path | None]:
    """``metrics.json`` with ``status: failed`` (or ``interrupted``), the error and the figures reached; never in
    place of a finished run's results (a resume that fails writes ``metrics_failed.json`` beside them). Returns the
    status and the file written (None where it could not be)."""
    interrupted = isinstance(exc, (KeyboardInterrupt, SystemExit))  # (Lightning turns Ctrl-C into SystemExit)
    record = {**metrics, "status": "interrupted" if interrupted else "failed",
              "error": "interrupted" if interrupted else describe(exc)}
    existing = Path(cfg.paths.output_dir) / METRICS_FILE
    try:
        finished = existing.is_file() and json.loads(existing.read_text()).get("status") == "ok"
        written = existing.with_name(FAILED_FILE if finished else METRICS_FILE)
        write_metrics(cfg, record, written.name)
    except Exception as write_error:  # noqa: BLE001 - the job's own error is the one to raise
        log.warning("could not record the failure in %s: %s", existing, write_error)
        written = None
    return record["status"], written


def write_metrics(cfg: DictConfig, metrics: dict[str, Any], name: str = METRICS_FILE) -> None:
    """``metrics.json`` with the run config, written once (by rank 0 under DDP), atomically."""
    if rank_zero_only.rank == 0:
        write_json(Path(cfg.paths.output_dir) / name, {**metrics, "config": config_of(cfg)})


def config_of(cfg: DictConfig) -> dict[str, Any]:
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # noqa: BLE001 - the config itself may be what is broken
        return OmegaConf.to_container(cfg, resolve=False)


def describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, CifarError) else f"{type(exc).__name__}: {exc}"


def _value(x: Any) -> float | None:
    if x is None:
        return None
    value = float(x)
    return None if math.isnan(value) else value


def update_sweep_summary() -> None:
    """Refresh the sweep's summary after every job, so it is there even if the sweep stops early."""
    try:
        summarize(HydraConfig.get().sweep.dir)
    except Exception as exc:  # noqa: BLE001 - a summary problem must not fail the job
        log.warning("could not update the sweep summary: %s", exc)


@entry_point("train")
def main(cfg: DictConfig) -> float:
    try:
        metrics = train(cfg)
    except Exception as exc:
        if in_multirun():
            # train() wrote metrics.json (status failed): refresh the sweep summary, then let Hydra see the
            # error: the other jobs still run, a search (Optuna) marks the trial failed and goes on.
            if not isinstance(exc, CifarError):
                log.error("job failed: %s", exc, exc_info=True)
            update_sweep_summary()
        raise
    if in_multirun():
        update_sweep_summary()
    return metrics[cfg.optimized_metric]


if __name__ == "__main__":
    main()
