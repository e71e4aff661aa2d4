"""Checks on the composed run config that no single object can make, before anything is built.

Options of our own classes are checked by those classes, when the config builds them (still before
training): ``data.*`` by the datamodule, ``loss``/``label_smoothing``/``tta`` by the module, each
callback its own arguments. What is left comes here: options of code we do not own (Lightning's
Trainer, torch's optimizers, Lightning's callbacks), and settings that must agree with each other
(a validation split and the recipe's validation; ``optimized_metric`` and the sweeper; the
checkpoint to resume and the network).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from cifar import CONF_DIR
from cifar import metric_names as M
from cifar.errors import ConfigError, check_choice, check_range, is_int, is_number
from cifar.inference.checkpoints import load_checkpoint_file
from cifar.training.slurm import check_job_tasks

_ABSENT = object()

# (option, test, what is expected) for options no class of ours owns; options missing from a config are skipped
RULES: list[tuple[str, Callable[[Any], bool], str]] = [
    ("seed", lambda v: is_int(v) and 0 <= v < 2**32, "an integer in 0..2**32-1"),
    ("optimizer.lr", lambda v: is_number(v) and v > 0, "a number > 0"),
    ("optimizer.weight_decay", lambda v: is_number(v) and v >= 0, "a number >= 0"),
    ("optimizer.momentum", lambda v: is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
    ("trainer.max_epochs", lambda v: v is None or (is_int(v) and (v >= 1 or v == -1)), "an integer >= 1 (or -1)"),
    ("trainer.log_every_n_steps", lambda v: is_int(v, 1), "an integer >= 1"),
    ("callbacks.early_stopping.patience", lambda v: is_int(v, 1), "an integer >= 1"),
]

OPTIMIZABLE = (M.VAL_ACC_BEST, M.VAL_ACC, M.VAL_LOSS, M.TEST_ACC, M.TEST_LOSS)


def check_run(cfg: DictConfig) -> None:
    """Every check of this module, in order; raises :class:`ConfigError` naming the option(s)."""
    check_module_wiring(cfg)
    check_options(cfg)
    check_validation(cfg)
    check_optimized_metric(cfg)
    check_job_tasks(OmegaConf.select(cfg, "trainer.devices"), OmegaConf.select(cfg, "trainer.num_nodes", default=1),
                    dict(os.environ))
    if cfg.get("ckpt_path"):
        check_resume_checkpoint(cfg)


def check_module_wiring(cfg: DictConfig) -> None:
    """The ``module`` node only wires settings to ``ImageClassifier`` (``module.tta: ${tta}``): a setting has one
    key, the one it points to, so ``module.tta=flip`` (which would run flip and record ``tta: none``) is refused
    with the key to set instead, and so is a key ``conf/train.yaml``'s node does not have."""
    if "module" not in cfg:
        return
    wiring = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "train.yaml").module, resolve=False)
    given = OmegaConf.to_container(cfg.module, resolve=False)
    for key, value in given.items():
        if key not in wiring:
            raise ConfigError(f"module.{key} is unknown: the module node wires only {', '.join(wiring)} "
                              "(conf/train.yaml); a new ImageClassifier argument is a setting there")
        if value != wiring[key]:
            wired = str(wiring[key])
            right = wired[2:-1] if wired.startswith("${") and wired.endswith("}") else None
            shown = str(value).lower() if isinstance(value, bool) else value
            hint = f"set {right}={shown} instead" if right else "it is not a setting"
            raise ConfigError(f"module.{key}={shown}: module.{key} is wired to {wired} in conf/train.yaml; {hint}")


def check_options(cfg: DictConfig) -> None:
    """The first option of :data:`RULES` whose value is out of its range."""
    for option, test, expected in RULES:
        value = OmegaConf.select(cfg, option, default=_ABSENT)
        if value is not _ABSENT:
            check_range(option, value, test(value), expected)


def check_validation(cfg: DictConfig) -> None:
    """A validation split and the recipe's validation agree: with ``data.val_size=0`` nothing may wait
    for a ``val/`` metric, and a split is refused where the trainer would never validate on it."""
    val_size = OmegaConf.select(cfg, "data.val_size", default=None)
    if val_size == 0:
        needs = [f"{name}={value}" for name, value in monitors(cfg) if str(value).startswith("val/")]
        if needs:
            raise ConfigError(
                f"data.val_size=0 leaves no validation set, but {', '.join(needs)} need(s) one: set "
                "optimized_metric=test/acc, remove or re-point those callbacks (e.g. ~callbacks.early_stopping, "
                "callbacks.model_checkpoint.monitor=null), or keep a validation split"
            )
    elif val_size and OmegaConf.select(cfg, "trainer.limit_val_batches", default=None) in (0, 0.0):
        raise ConfigError(
            f"data.val_size={val_size} asks for a validation split, but trainer.limit_val_batches=0 never "
            "validates on it: set data.val_size=0, or trainer.limit_val_batches=null to validate"
        )


def monitors(cfg: DictConfig) -> list[tuple[str, Any]]:
    """(option, metric) for everything that watches a metric: the sweep's, the scheduler's, the callbacks'."""
    found = [("optimized_metric", cfg.get("optimized_metric")),
             ("scheduler.monitor", OmegaConf.select(cfg, "scheduler.monitor", default=None))]
    for name, node in (cfg.get("callbacks") or {}).items():
        if node is not None and isinstance(node.get("monitor"), str):
            found.append((f"callbacks.{name}.monitor", node.monitor))
    return [(option, metric) for option, metric in found if metric]


def check_optimized_metric(cfg: DictConfig) -> None:
    name = check_choice("optimized_metric", cfg.optimized_metric, OPTIMIZABLE)
    if name.startswith("test/") and not cfg.test_after_fit:
        raise ConfigError(f"optimized_metric={name} needs test_after_fit=true")
    direction = HydraConfig.get().sweeper.get("direction") if HydraConfig.initialized() else None
    wanted = "minimize" if name.endswith("loss") else "maximize"
    if isinstance(direction, str) and direction != wanted:
        raise ConfigError(f"optimized_metric={name} should be {wanted}d: set hydra.sweeper.direction={wanted}")


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
