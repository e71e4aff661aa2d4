"""Build a run: the one place a composed config becomes its parts (datamodule, module, Trainer with its
callbacks, loggers, precision and device), for training and the benchmarks (``prepare`` then ``build_run``)
and for the test stage of a checkpoint (``build_test_run``, what evaluate runs).

Everything is built with ``hydra.utils.instantiate`` from the config's ``_target_`` nodes; this module
only adds what instantiate cannot say: errors that name the config node, and the few switches that
depend on one another (a precision Lightning has no name for, callbacks the trainer config turns off).
A checkpoint's saved config is read as plain values only: nothing it names is instantiated.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from cifar import CONF_DIR
from cifar.data.datamodule import CIFAR10DataModule
from cifar.errors import CifarError, ConfigError
from cifar.inference.checkpoints import TrainedModel
from cifar.training.devices import trainer_device
from cifar.training.module import ImageClassifier
from cifar.training.precision import cpu_precision, precision_plugins, resolve_precision
from cifar.training.preflight import check_run
from cifar.training.slurm import cluster_plugins

log = logging.getLogger(__name__)

BUILT_HERE = ("_target_", "_convert_", "net", "optimizer", "scheduler")  # module keys a test run does not rebuild
FP16 = ("16-mixed", "16-true", "16-true-bn32")


@dataclass
class Run:
    """What a run is made of."""

    datamodule: CIFAR10DataModule
    module: ImageClassifier
    trainer: L.Trainer


def prepare(cfg: DictConfig) -> DictConfig:
    """Every check of the composed config (``cifar.training.preflight``), the precision where it is left
    open, and the process-wide speed switches: what a config goes through before anything is built."""
    check_run(cfg)
    resolve_precision(cfg)
    apply_global_speed_settings(cfg)
    return cfg


def build_run(cfg: DictConfig, datamodule: CIFAR10DataModule | None = None) -> Run:
    """The run ``cfg`` (prepared) describes, seeded by ``cfg.seed`` first (the network's initial weights);
    ``datamodule``: one already set up, reused (the benchmarks' runs over seeds)."""
    L.seed_everything(cfg.seed, workers=True, verbose=datamodule is None)
    datamodule = datamodule if datamodule is not None else build(cfg.data, "data")
    return Run(datamodule, build_module(cfg), build_trainer(cfg))


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
    environment = cluster_plugins(dict(os.environ))  # (in a SLURM job: requeue left to the launcher)
    configured = [build(node, "trainer.plugins") for node in cfg.trainer.get("plugins") or []]
    arguments = precision_arguments(cfg.trainer.get("precision"), configured + environment)
    return build(cfg.trainer, "trainer", callbacks=callbacks, logger=loggers or False, **arguments)


def precision_arguments(precision: str | None, plugins: list[Any] | None = None) -> dict[str, Any]:
    """The Trainer's ``precision`` and ``plugins`` arguments for ``precision``: a precision Lightning has no
    name for joins ``plugins`` as a plugin, and the Trainer's own precision argument is then unset (Lightning
    refuses both)."""
    extra = precision_plugins(str(precision))
    plugins = [*(plugins or []), *extra]
    return {"precision": None if extra else precision, **({"plugins": plugins} if plugins else {})}


# -- the test stage of a checkpoint (evaluate) ---------------------------------------------------


def build_test_run(trained: TrainedModel, tta: str, precision: str, device: torch.device, data: DictConfig,
                   output_dir: str | Path, callbacks: list[L.Callback]) -> Run:
    """The checkpoint's run for its test stage: its module around the checkpoint's network with ``tta``, its
    datamodule with every non-null value of ``data`` on top, and a Trainer on ``device`` at ``precision``
    that tests with ``callbacks`` (no logger, no checkpoints)."""
    module = ImageClassifier(net=trained.net, optimizer=None, **{**module_settings(trained.config), "tta": tta})
    module.weights_epoch = trained.epoch  # (the figures' titles name it)
    return Run(testing_datamodule(trained.config, data), module, testing_trainer(device, precision, output_dir, callbacks))


def module_settings(run_config: DictConfig) -> dict[str, Any]:
    """The run's ``module`` settings (the ones a test run does not build itself): as the checkpoint saved
    them, or, for checkpoints from before the node existed, ``conf/train.yaml``'s node resolved against
    the run's config, each key the run's config cannot give left at ``ImageClassifier``'s default."""
    accepted = inspect.signature(ImageClassifier).parameters
    if "module" in run_config:
        node = OmegaConf.to_container(run_config.module, resolve=True)
        return {k: v for k, v in node.items() if k not in BUILT_HERE and k in accepted}
    template = OmegaConf.merge(run_config, {"module": OmegaConf.load(CONF_DIR / "train.yaml").module}).module
    settings = {}
    for key in template:
        if key in BUILT_HERE or key not in accepted:
            continue
        try:
            settings[key] = OmegaConf.to_container(OmegaConf.create({"v": template[key]}), resolve=True)["v"]
        except OmegaConfBaseException:  # an older run's config lacks the key it points to
            continue
    return settings


def testing_datamodule(run_config: DictConfig, given: DictConfig) -> CIFAR10DataModule:
    """The run's datamodule settings, with every non-null value of ``given`` on top. Built from plain values
    only: nothing the checkpoint's data config names is instantiated."""
    accepted = inspect.signature(CIFAR10DataModule).parameters
    settings = {k: v for k, v in OmegaConf.to_container(run_config.get("data") or {}, resolve=True).items()
                if k in accepted and not isinstance(v, (dict, list))}
    settings.update({k: v for k, v in OmegaConf.to_container(given, resolve=True).items()
                     if v is not None and k in accepted})
    return CIFAR10DataModule(**settings)


def testing_precision(wanted: str | None, run_precision: str, device: torch.device) -> str:
    """``wanted``, else the run's precision; on a CPU a run's fp16 precision (which CPUs do not run) becomes
    the CPU's own (``cpu_precision``), with a warning."""
    precision = wanted or run_precision
    if device.type == "cpu" and precision in FP16 and not wanted:
        fallback = cpu_precision()
        log.warning("the run trained with precision=%s, which CPUs do not run: testing with %s (figures may differ "
                    "slightly from the run's)", precision, fallback)
        precision = fallback
    return precision


def testing_trainer(device: torch.device, precision: str, output_dir: str | Path, callbacks: list[L.Callback]) -> L.Trainer:
    """A Trainer that only tests: on ``device``, at ``precision``, with ``callbacks``, writing nothing itself."""
    return L.Trainer(**trainer_device(device), **precision_arguments(precision), callbacks=callbacks, logger=False,
                     enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=False,
                     default_root_dir=str(output_dir))
