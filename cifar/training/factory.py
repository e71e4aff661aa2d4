"""Assemble a run from its composed config: the module, the Trainer with its callbacks, loggers and plugins.

Everything is built with ``hydra.utils.instantiate`` from the config's ``_target_`` nodes; this module
only adds what instantiate cannot say: errors that name the config node, and the few switches that
depend on one another (a precision Lightning has no name for, callbacks the trainer config turns off).
"""

from __future__ import annotations

import os

import functools
import inspect
from typing import Any

import lightning as L
import torch
from hydra.errors import InstantiationException
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from cifar.errors import CifarError, ConfigError
from cifar.training.module import ImageClassifier
from cifar.training.precision import precision_plugins
from cifar.training.slurm import cluster_plugins


def build(node: DictConfig, what: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` that turns our own errors back into themselves and names ``what``.

    A ``_partial_`` target is checked against its signature now, so that a misspelt or foreign
    argument fails before training rather than when the partial is finally called.
    """
    try:
        obj = instantiate(node, **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__
        if isinstance(cause, CifarError):
            raise cause from None
        raise ConfigError(f"cannot build {what} ({node.get('_target_', '?')}): {cause or exc}") from None
    check_partial(obj, what, node.get("_target_", "?"))
    return obj


def check_partial(obj: Any, what: str, target: str) -> None:
    """A ``_partial_`` object's arguments fit its signature (a misspelt or foreign one fails now)."""
    if isinstance(obj, functools.partial):
        try:
            inspect.signature(obj.func).bind_partial(*obj.args, **obj.keywords)
        except TypeError as exc:
            raise ConfigError(f"{what} ({target}): {exc}") from None


def build_module(cfg: DictConfig) -> ImageClassifier:
    """The ``module`` node of ``conf/train.yaml`` (each of its keys an argument of ``ImageClassifier``),
    with the resolved run config as its hyperparameters (so checkpoints and TensorBoard carry it)."""
    # _partial_: instantiate would otherwise merge the run config into the node and build its targets
    make = build(cfg.module, "module", _partial_=True)
    module = make(run_config=OmegaConf.to_container(cfg, resolve=True))
    for what, factory, target in (("optimizer", module.optimizer_factory, "optimizer._target_"),
                                  ("scheduler", module.scheduler_factory, "scheduler.scheduler._target_")):
        check_partial(factory, what, OmegaConf.select(cfg, target, default="?"))
    speed = cfg.get("speed") or {}
    if speed.get("compile"):
        # in place: parameter names (and so checkpoints) stay those of the plain network
        module.net.compile(mode=speed.get("compile_mode", "default"))
    return module


def apply_global_speed_settings(cfg: DictConfig) -> None:
    """Process-wide switches: TF32 matmuls and convolutions on GPUs that have them."""
    if (cfg.get("speed") or {}).get("tf32"):
        torch.set_float32_matmul_precision("high")
        torch.backends.cudnn.allow_tf32 = True


def build_group(group: DictConfig | None, what: str) -> list[Any]:
    """Instantiate every entry of a dict-shaped group (callbacks, loggers); null entries are skipped."""
    if not group:
        return []
    return [build(node, f"{what}.{name}") for name, node in group.items() if node is not None and "_target_" in node]


def build_trainer(cfg: DictConfig) -> L.Trainer:
    callbacks = build_group(cfg.get("callbacks"), "callbacks")
    loggers = build_group(cfg.get("logger"), "logger")
    # switches in the trainer config win over the callbacks group, instead of clashing with it
    unwanted: list[type] = []
    if not cfg.trainer.get("enable_progress_bar", True):
        unwanted.append(ProgressBar)
    if not cfg.trainer.get("enable_checkpointing", True):
        unwanted.append(ModelCheckpoint)
    callbacks = [c for c in callbacks if not isinstance(c, tuple(unwanted))]
    precision = precision_plugins(str(cfg.trainer.get("precision")))
    environment = cluster_plugins(dict(os.environ))  # (in a SLURM job: requeue left to the launcher)
    if not precision and not environment:
        return build(cfg.trainer, "trainer", callbacks=callbacks, logger=loggers or False)
    # a precision Lightning has no name for: its plugin joins the configured ones, and the
    # Trainer's own precision argument stays unset (Lightning refuses both)
    plugins = [build(node, "trainer.plugins") for node in cfg.trainer.get("plugins") or []] + precision + environment
    return build(cfg.trainer, "trainer", callbacks=callbacks, logger=loggers or False, plugins=plugins,
                 **({"precision": None} if precision else {}))
