"""Range checks on the composed run config, before anything is built or trained."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from cifar.errors import ConfigError

_ABSENT = object()


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# (option, test, what is expected); options missing from a config are skipped
RULES: list[tuple[str, Callable[[Any], bool], str]] = [
    ("seed", lambda v: _integer(v) and 0 <= v < 2**32, "an integer in 0..2**32-1"),
    ("optimizer.lr", lambda v: _number(v) and v > 0, "a number > 0"),
    ("optimizer.weight_decay", lambda v: _number(v) and v >= 0, "a number >= 0"),
    ("optimizer.momentum", lambda v: _number(v) and 0 <= v < 1, "a number in [0, 1)"),
    ("label_smoothing", lambda v: _number(v) and 0 <= v < 1, "a number in [0, 1)"),
    ("target_acc", lambda v: v is None or (_number(v) and 0 < v <= 1), "null or a number in (0, 1]"),
    ("trainer.max_epochs", lambda v: v is None or (_integer(v) and (v >= 1 or v == -1)), "an integer >= 1 (or -1)"),
    ("trainer.log_every_n_steps", lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    ("data.batch_size", lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    ("data.eval_batch_size", lambda v: v is None or (_integer(v) and v >= 1), "null or an integer >= 1"),
    ("data.val_size", lambda v: _integer(v) and v >= 0, "an integer >= 0 (and below the training-set size)"),
    ("data.num_workers", lambda v: _integer(v) and v >= 0, "an integer >= 0"),
    ("callbacks.early_stopping.patience", lambda v: _integer(v) and v >= 1, "an integer >= 1"),
]


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError naming the first option whose value is out of its range."""
    for option, test, expected in RULES:
        value = OmegaConf.select(cfg, option, default=_ABSENT)
        if value is _ABSENT:
            continue
        if not test(value):
            raise ConfigError(f"{option}={value!r} is out of range: expected {expected}")
    if OmegaConf.select(cfg, "data.val_size", default=None) == 0:
        check_no_validation_needed(cfg)


def check_no_validation_needed(cfg: DictConfig) -> None:
    """With ``data.val_size=0`` nothing may wait for a ``val/`` metric."""
    needs = []
    if str(cfg.get("optimized_metric", "")).startswith("val/"):
        needs.append(f"optimized_metric={cfg.optimized_metric}")
    if str(OmegaConf.select(cfg, "scheduler.monitor", default=None) or "").startswith("val/"):
        needs.append(f"scheduler.monitor={cfg.scheduler.monitor}")
    for name, node in (cfg.get("callbacks") or {}).items():
        monitor = node.get("monitor") if node is not None else None
        if isinstance(monitor, str) and monitor.startswith("val/"):
            needs.append(f"callbacks.{name}.monitor={monitor}")
    if needs:
        raise ConfigError(
            f"data.val_size=0 leaves no validation set, but {', '.join(needs)} need(s) one: set "
            "optimized_metric=test/acc, remove or re-point those callbacks (e.g. ~callbacks.early_stopping, "
            "callbacks.model_checkpoint.monitor=null), or keep a validation split"
        )
