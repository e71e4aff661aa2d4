"""Build the run's objects from the composed config (the detail behind ``cifar.train``)."""

from __future__ import annotations

import functools
import inspect
from typing import Any

import lightning as L
import torch
from hydra.errors import InstantiationException
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, ProgressBar
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from cifar.errors import CifarError, ConfigError
from cifar.training.devices import cpu_bf16_flags
from cifar.training.module import ImageClassifier
from cifar.training.precision import precision_plugins


def resolve_precision(cfg: DictConfig) -> str:
    """``precision: null`` means 16-mixed on a CUDA GPU and 32-true elsewhere; ``precision: auto``
    the same, except bf16-mixed on a CPU with bf16 instructions (``amx_bf16``/``avx512_bf16``)."""
    wanted = cfg.get("precision")
    if wanted is None or wanted == "auto":
        accelerator = str(cfg.trainer.get("accelerator", "auto"))
        on_cuda = accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
        if on_cuda:
            chosen = "16-mixed"
        elif wanted == "auto" and accelerator in ("auto", "cpu") and cpu_bf16_flags():
            chosen = "bf16-mixed"
        else:
            chosen = "32-true"
        with open_dict(cfg):
            cfg.precision = chosen
    return cfg.precision


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
    if isinstance(obj, functools.partial):
        try:
            inspect.signature(obj.func).bind_partial(*obj.args, **obj.keywords)
        except TypeError as exc:
            raise ConfigError(f"{what} ({node.get('_target_', '?')}): {exc}") from None
    return obj


def build_module(cfg: DictConfig) -> ImageClassifier:
    scheduler = cfg.scheduler.get("scheduler")
    speed = cfg.get("speed") or {}
    module = ImageClassifier(
        net=build(cfg.model, "model"),
        optimizer=build(cfg.optimizer, "optimizer"),
        scheduler=build(scheduler, "scheduler") if scheduler is not None else None,
        scheduler_interval=cfg.scheduler.interval,
        scheduler_monitor=cfg.scheduler.get("monitor"),
        loss=cfg.loss,
        label_smoothing=cfg.label_smoothing,
        run_config=OmegaConf.to_container(cfg, resolve=True),
        channels_last=bool(speed.get("channels_last", False)),
        loss_reduction=cfg.get("loss_reduction", "mean"),
        param_groups=OmegaConf.to_container(cfg.param_groups, resolve=True) if cfg.get("param_groups") else [],
        tta=cfg.get("tta", "none"),
    )
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
    if not loggers:  # a learning-rate curve needs somewhere to go
        unwanted.append(LearningRateMonitor)
    if not cfg.trainer.get("enable_progress_bar", True):
        unwanted.append(ProgressBar)
    if not cfg.trainer.get("enable_checkpointing", True):
        unwanted.append(ModelCheckpoint)
    callbacks = [c for c in callbacks if not isinstance(c, tuple(unwanted))]
    extra = precision_plugins(str(cfg.trainer.get("precision")))
    if not extra:
        return build(cfg.trainer, "trainer", callbacks=callbacks, logger=loggers or False)
    # a precision Lightning has no name for: its plugin joins the configured ones, and the
    # Trainer's own precision argument stays unset (Lightning refuses both)
    plugins = [build(node, "trainer.plugins") for node in cfg.trainer.get("plugins") or []] + extra
    return build(cfg.trainer, "trainer", callbacks=callbacks, logger=loggers or False, precision=None,
                 plugins=plugins)
