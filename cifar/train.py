"""Train, validate and test a network: ``python -m cifar.train [overrides]``.

Composes ``conf/train.yaml``, fits the model, re-validates and tests the best checkpoint, writes
``metrics.json`` into the run directory and returns ``optimized_metric`` for sweepers.
"""

from __future__ import annotations

import logging
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

from cifar import metric_names as M
from cifar.callbacks import TargetAccuracyCallback
from cifar.inference.checkpoints import load_checkpoint_file
from cifar.training.preflight import check_config
from cifar.errors import CifarError, ConfigError
from cifar.training.factory import apply_global_speed_settings, build, build_module, build_trainer, resolve_precision
from cifar.reporting.files import write_json
from cifar.reporting.sweep_summary import summarize

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run one training job described by ``cfg``; returns what it writes to ``metrics.json``."""
    started = time.time()
    check_config(cfg)
    check_optimized_metric(cfg)
    if cfg.ckpt_path:
        check_resume_checkpoint(cfg)
    output_dir = Path(cfg.paths.output_dir)
    resolve_precision(cfg)
    apply_global_speed_settings(cfg)
    L.seed_everything(cfg.seed, workers=True)

    datamodule = build(cfg.data, "data")
    module = build_module(cfg)
    trainer = build_trainer(cfg)

    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
    if trainer.interrupted:
        raise KeyboardInterrupt
    fit_seconds = time.time() - started
    best_val_acc = _value(trainer.callback_metrics.get(M.VAL_ACC_BEST))

    # Final figures are those of the best checkpoint (the last weights without checkpointing).
    checkpoint = trainer.checkpoint_callback
    best_path = checkpoint.best_model_path if checkpoint is not None else ""
    ckpt = "best" if best_path else None
    results: dict[str, Any] = {}
    if datamodule.val_size:
        results.update(trainer.validate(module, datamodule=datamodule, ckpt_path=ckpt, verbose=False)[0])
    if cfg.test_after_fit:
        results.update(trainer.test(module, datamodule=datamodule, ckpt_path=ckpt)[0])

    metrics = {
        "status": "ok",
        M.VAL_ACC_BEST: best_val_acc,
        M.VAL_ACC: _value(results.get(M.VAL_ACC)),
        M.VAL_LOSS: _value(results.get(M.VAL_LOSS)),
        M.TEST_ACC: _value(results.get(M.TEST_ACC)),
        M.TEST_LOSS: _value(results.get(M.TEST_LOSS)),
        M.TEST_ACC_NO_TTA: _value(results.get(M.TEST_ACC_NO_TTA)),
        "epochs": trainer.fit_loop.epoch_progress.current.completed,
        "steps": trainer.global_step,
        "stopped_early": trainer.fit_loop.epoch_progress.current.completed < (trainer.max_epochs or 0),
        "target_acc": cfg.target_acc,
        "target_reached_epoch": next(
            (c.reached_epoch for c in trainer.callbacks if isinstance(c, TargetAccuracyCallback)), None
        ),
        "fit_seconds": round(fit_seconds, 2),
        "wall_seconds": round(time.time() - started, 2),
        "best_checkpoint": best_path or None,
        "output_dir": str(output_dir),
        "optimized_metric": cfg.optimized_metric,
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    if trainer.is_global_zero:
        write_json(output_dir / METRICS_FILE, metrics)
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                # one hparams session, with the run's figure of merit as hp_metric
                logger.log_hyperparams(module.hparams, metrics={"hp_metric": metrics[cfg.optimized_metric] or 0.0})
                logger.finalize("success")
    log.info(
        "best val/acc %.4f, test/acc %s, %d epochs in %.0f s; run in %s",
        best_val_acc if best_val_acc is not None else float("nan"),
        metrics[M.TEST_ACC],
        metrics["epochs"],
        fit_seconds,
        output_dir,
    )
    return metrics


def check_resume_checkpoint(cfg: DictConfig) -> None:
    """The checkpoint to resume from is safe to load and was trained with this run's network."""
    checkpoint = load_checkpoint_file(cfg.ckpt_path)  # refuses missing, foreign and unsafe files
    trained = (checkpoint.get("hyper_parameters") or {}).get("model")
    wanted = OmegaConf.to_container(cfg.model, resolve=True)
    if trained is not None and trained != wanted:
        raise ConfigError(
            f"{cfg.ckpt_path}: trained with model {trained.get('_target_')} {trained}, but this run "
            f"builds {wanted.get('_target_')} {wanted}: resume with the original run's overrides"
        )


def run_dir_for(ckpt_path: str | None, default: str) -> str:
    """Hydra's run folder: that of the checkpoint being resumed (<run>/checkpoints/x.ckpt), else ``default``."""
    if ckpt_path:
        path = Path(ckpt_path)
        if path.parent.name == "checkpoints":
            return str(path.parent.parent)
    return default


# used by conf/hydra/default.yaml, so that `ckpt_path=<run>/checkpoints/last.ckpt` resumes in <run>
OmegaConf.register_new_resolver("cifar_run_dir", run_dir_for, replace=True)

OPTIMIZABLE = (M.VAL_ACC_BEST, M.VAL_ACC, M.VAL_LOSS, M.TEST_ACC, M.TEST_LOSS)


def check_optimized_metric(cfg: DictConfig) -> None:
    name = cfg.optimized_metric
    if name not in OPTIMIZABLE:
        raise ConfigError(f"optimized_metric={name!r} is unknown: expected one of {', '.join(OPTIMIZABLE)}")
    if name.startswith("test/") and not cfg.test_after_fit:
        raise ConfigError(f"optimized_metric={name} needs test_after_fit=true")
    direction = HydraConfig.get().sweeper.get("direction") if HydraConfig.initialized() else None
    wanted = "minimize" if name.endswith("loss") else "maximize"
    if isinstance(direction, str) and direction != wanted:
        raise ConfigError(f"optimized_metric={name} should be {wanted}d: set hydra.sweeper.direction={wanted}")


def _value(x: Any) -> float | None:
    if x is None:
        return None
    value = float(x)
    return None if math.isnan(value) else value


def record_failure(cfg: DictConfig, exc: BaseException) -> None:
    """metrics.json for a job that failed, so a sweep summary can say what happened."""
    try:
        config = OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # noqa: BLE001 - the config itself may be what is broken
        config = OmegaConf.to_container(cfg, resolve=False)
    error = str(exc) if isinstance(exc, CifarError) else f"{type(exc).__name__}: {exc}"
    write_json(Path(cfg.paths.output_dir) / METRICS_FILE, {"status": "failed", "error": error,
                                                        "optimized_metric": cfg.optimized_metric, "config": config})


def update_sweep_summary() -> None:
    """Refresh the sweep's summary after every job, so it is there even if the sweep stops early."""
    try:
        summarize(HydraConfig.get().sweep.dir)
    except Exception as exc:  # noqa: BLE001 - a summary problem must not fail the job
        log.warning("could not update the sweep summary: %s", exc)


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    # noise from lightning's pytree helper under torch >= 2.10; says nothing about the run
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    try:
        metrics = train(cfg)
    except Exception as exc:
        if in_multirun():
            # Record the failure for the sweep summary, then let Hydra see it: the other jobs
            # still run, a search (Optuna) marks the trial failed and goes on.
            log.error("job failed: %s", exc, exc_info=not isinstance(exc, CifarError))
            print(f"error: {exc}", file=sys.stderr)
            record_failure(cfg, exc)
            update_sweep_summary()
            raise
        if isinstance(exc, CifarError):
            log.error("%s", exc)
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        raise
    if in_multirun():
        update_sweep_summary()
    return metrics[cfg.optimized_metric]


if __name__ == "__main__":
    main()
