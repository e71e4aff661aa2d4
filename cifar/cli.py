"""The wrapper every command uses (``python -m cifar.train|evaluate|predict|export|report|bench``), and Hydra
composition for the Python API.

``entry_point("train")`` turns ``run(cfg)`` into the command's ``main()``: it registers the config
resolvers, composes ``conf/<name>.yaml`` with Hydra, silences warnings that say nothing about the
run, and turns an error the user can act on (:class:`~cifar.errors.CifarError`) into one line on
stderr and exit status 2. In a multirun the error is raised on instead, so that Hydra records the
job as failed and the other jobs still run. ``command`` does the same for a command that parses its
own arguments (``report``, ``bench``); ``compose_config`` composes a run as the command line would
(the benchmarks and the tests), a bad override being one line too.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from cifar import CONF_DIR
from cifar.errors import CifarError, ConfigError
from cifar.reporting.results import outside_recipe
from cifar.reporting.trackers import sweep_folder

log = logging.getLogger(__name__)


# noise under torch >= 2.10 from Lightning's pytree helper, and Lightning's hint to prefix `srun` on any machine
# that has it (SLURM jobs go through hydra/launcher=slurm): they say nothing about the run
QUIET_WARNINGS = (r".*isinstance\(treespec, LeafSpec\).*", r"The `srun` command is available on your system")
NAME_LENGTH = 160  # characters (a folder name may have 255)


def run_dir_for(ckpt_path: str | None, default: str) -> str:
    """Hydra's run folder: that of the checkpoint being resumed (<run>/checkpoints/x.ckpt), else ``default``."""
    if ckpt_path:
        path = Path(ckpt_path)
        if path.parent.name == "checkpoints":
            return str(path.parent.parent)
    return default


def run_name(choices: Mapping[str, Any], overrides: Iterable[str]) -> str:
    """What ran, for folder names and titles: the experiment (else the model), then the command-line
    overrides other than where the run reads and writes, each as ``key-value``, joined by ``+``: e.g.
    ``speedrun85+tta-flip`` or ``deepcnn+seed-1``. Only characters a Hydra override takes unquoted
    remain (``,`` and ``=`` would make ``ckpt_path=<run>/checkpoints/last.ckpt`` a sweep or an error):
    others become ``_``, a deletion ``~key`` becomes ``no-key``, and the middle of a name longer than
    ``NAME_LENGTH`` becomes ``..``."""
    head = str(choices.get("experiment") or choices.get("model") or "run")
    shown = []
    for override in overrides:
        key, _, value = str(override).lstrip("+").partition("=")
        if key.startswith("hydra") or (outside_recipe(key) and key.lstrip("~") != "seed"):  # the seed is named
            continue
        if key == "experiment" or (key == "model" and value == head):
            continue
        shown.append(f"no-{key[1:]}" if key.startswith("~") else f"{key}-{value}")
    name = "+".join(re.sub(r"[^\w.@%-]", "_", part) for part in [head, *shown])
    if len(name) <= NAME_LENGTH:
        return name
    half = (NAME_LENGTH - 2) // 2  # the first and the last overrides stay readable
    return name[:half] + ".." + name[-half:]


def _run_name_resolver(*, _root_: DictConfig) -> str:
    """``${cifar_run_name:}``: the run's name from Hydra's record of how it was composed (in Hydra's own
    config while it names folders, from ``HydraConfig`` in the job); composed without Hydra's record (the
    compose API), the model's class name."""
    hydra_cfg = _root_.get("hydra") if "hydra" in _root_ else (HydraConfig.get() if HydraConfig.initialized() else None)
    if hydra_cfg is None:
        target = OmegaConf.select(_root_, "model._target_", default="run")
        return run_name({"model": str(target).rsplit(".", 1)[-1]}, [])
    return run_name(hydra_cfg.runtime.choices, hydra_cfg.overrides.task)


def register_resolvers() -> None:
    """The resolvers ``conf/`` uses: ``cifar_run_dir`` (conf/hydra/default.yaml), so that resuming
    from ``<run>/checkpoints/last.ckpt`` continues in ``<run>``, and ``cifar_run_name`` (folder names and
    figure titles), and the SLURM launcher's resources (``cifar/training/slurm.py``). Called before
    anything composes."""
    from cifar.training import slurm

    OmegaConf.register_new_resolver("cifar_run_dir", run_dir_for, replace=True)
    OmegaConf.register_new_resolver("cifar_run_name", _run_name_resolver, replace=True)
    OmegaConf.register_new_resolver("cifar_slurm_gpus", slurm.slurm_gpus, replace=True)
    OmegaConf.register_new_resolver("cifar_slurm_tasks", slurm.slurm_tasks, replace=True)
    OmegaConf.register_new_resolver("cifar_slurm_cpus", slurm.slurm_cpus, replace=True)


def quiet_warnings() -> None:
    for pattern in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)


def in_multirun() -> bool:
    return sweep_folder() is not None


def fail(exc: CifarError) -> None:
    """One line on stderr (and in the run's log, where there is one), then exit status 2."""
    if logging.getLogger().handlers:  # (under Hydra: the run's train.log)
        log.error("%s", exc)
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(2)


def command(main: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator for a command that parses its own arguments: quiet warnings, and a
    :class:`~cifar.errors.CifarError` as one line and exit status 2."""

    @functools.wraps(main)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        quiet_warnings()
        try:
            return main(*args, **kwargs)
        except CifarError as exc:
            fail(exc)

    return guarded


def compose_config(overrides: Iterable[str] = (), config_name: str = "train", **options: Any) -> DictConfig:
    """``conf/<config_name>.yaml`` composed with ``overrides`` as ``python -m cifar.<config_name>`` would compose
    it (``options``: Hydra's ``compose`` keywords, e.g. ``return_hydra_config``); an unknown config group option
    or key is a :class:`~cifar.errors.ConfigError` of one line."""
    register_resolvers()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(config_name, overrides=list(overrides), **options)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(" ".join(str(exc).split("Config search path")[0].split())) from None


def entry_point(config_name: str) -> Callable[[Callable[[DictConfig], Any]], Callable[[], Any]]:
    """Decorator: ``run(cfg)`` becomes a ``main()`` that composes ``conf/<config_name>.yaml``."""

    def decorate(run: Callable[[DictConfig], Any]) -> Callable[[], Any]:
        @functools.wraps(run)
        def task(cfg: DictConfig) -> Any:
            quiet_warnings()
            try:
                return run(cfg)
            except CifarError as exc:
                if in_multirun():
                    log.error("job failed: %s", exc)
                    print(f"error: {exc}", file=sys.stderr)
                    raise
                fail(exc)

        hydra_main = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=config_name)(task)

        @functools.wraps(run)
        def main() -> Any:
            register_resolvers()
            return hydra_main()

        return main

    return decorate
