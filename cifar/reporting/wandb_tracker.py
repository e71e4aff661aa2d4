"""Weights & Biases (``logger=wandb``): Lightning's ``WandbLogger`` as a :class:`~cifar.reporting.trackers.Tracker`.

Ours because Lightning's logs the module's whole config as the run's config and has no end status or epoch
series. The run lives in ``<run>/wandb/``; without an API key (``WANDB_API_KEY``, or ``wandb login``'s netrc
entry) it is written offline there, to be uploaded later with ``wandb sync <run>/wandb/offline-run-*``. A multirun's
jobs share the sweep folder as their W&B ``group``; a resumed run (``ckpt_path=<run>/checkpoints/last.ckpt``)
continues the same W&B run.
"""

from __future__ import annotations

import netrc
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from cifar.reporting.trackers import Tracker, require_package, remember_run, remembered_run, sweep_folder

EXIT_CODES = {"success": 0, "failed": 1, "interrupted": 255}
TAG_LENGTH = 64  # W&B refuses longer tags (and with one, all of a run's tags)


def has_api_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


class WandbRunLogger(Tracker, WandbLogger):
    """``mode``: online, offline or disabled; None: ``WANDB_MODE`` if set, else online with an API key and offline
    without. ``group``: None for the sweep folder in a multirun. ``resume_from``: the checkpoint the run resumes
    (``ckpt_path``): the W&B run this run folder logged to goes on."""

    def __init__(self, save_dir: str, project: str = "cifar", name: str | None = None, group: str | None = None,
                 mode: str | None = None, log_checkpoints: bool = False, resume_from: str | None = None,
                 **kwargs: Any):
        require_package("wandb", "logger=wandb")
        self.run_dir = save_dir
        self.log_checkpoints = log_checkpoints
        self.epoch_series: set[str] = set()
        mode = mode or os.environ.get("WANDB_MODE") or ("online" if has_api_key() else "offline")
        run_id = (remembered_run(save_dir, "wandb") if resume_from else None) or uuid.uuid4().hex[:8]
        super().__init__(save_dir=save_dir, project=project, name=name, group=group or sweep_folder(), id=run_id,
                         resume="allow", mode=mode, log_model=False, **kwargs)

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """Lightning's call with the module's whole config: the run's config is the curated settings instead."""

    @rank_zero_only
    def start_session(self, hparams: Mapping[str, Any], tags: Mapping[str, str], metrics: Sequence[str],
                      shown_first: Sequence[str] = ()) -> None:
        run = self.experiment
        remember_run(self.run_dir, "wandb", run.id)
        run.config.update(dict(hparams), allow_val_change=True)
        run.tags = tuple(dict.fromkeys([*run.tags, *(f"{k}:{v}"[:TAG_LENGTH] for k, v in tags.items())]))
        run.define_metric("epoch")

    @rank_zero_only
    def log_card(self, tag: str, image: Any, step: int) -> None:
        self.log_image(tag, [image], step=step)

    @rank_zero_only
    def log_epoch_series(self, series: Mapping[str, float], epoch: int) -> None:
        for key in set(series) - self.epoch_series:  # each by name: Lightning's "*" glob would claim them otherwise
            self.experiment.define_metric(key, step_metric="epoch")
            self.epoch_series.add(key)
        self.experiment.log({**series, "epoch": epoch})

    @rank_zero_only
    def log_files(self, paths: Iterable[str | Path]) -> None:
        for path in paths:
            self.experiment.save(str(path), base_path=str(Path(path).parent), policy="now")

    @rank_zero_only
    def end_session(self, status: str) -> None:
        self.experiment.finish(exit_code=EXIT_CODES.get(status, 1))
