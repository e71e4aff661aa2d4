"""What a run records in its experiment trackers (TensorBoard, Weights & Biases, MLflow) beyond Lightning's scalars,
behind one interface, so that a reviewer sees the same run in each, from the same code.

Lightning's loggers carry the per-step scalars. A :class:`Tracker` (each of ours is a Lightning logger too) adds
the rest: the curated hyperparameters (``cifar/reporting/hparams.py``) and the run's tags, the figures as
images, the per-epoch series with the epoch as their step, the run's files, and its end status.
``cifar/train.py`` and the recording callbacks call these methods on every tracker of the run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cifar.errors import ConfigError
from cifar.files import write_json

log = logging.getLogger(__name__)

RUN_IDS_FILE = "tracker_runs.json"  # in the run folder: each tracker's run id, so a resume continues that run


class Tracker:
    """The recording interface; listed first among a logger's bases, so ``log_metrics`` filters for each."""

    log_checkpoints = False  # upload the best checkpoint with the run's files (a switch in each logger's config)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Lightning's scalars without the ``epoch`` value it adds to every write (it jumps at the test step; the
        ``epoch/*`` series replace it)."""
        super().log_metrics({k: v for k, v in metrics.items() if k != "epoch"}, step)  # type: ignore[misc]

    def start_session(self, hparams: Mapping[str, Any], tags: Mapping[str, str], metrics: Sequence[str],
                      shown_first: Sequence[str] = ()) -> None:
        """The run's curated settings and tags, the metric columns a comparison shows, and those shown first."""
        raise NotImplementedError

    def log_card(self, tag: str, image: Any, step: int) -> None:
        """A figure (an HxWx3 uint8 array drawn at its card size) as image ``tag`` at ``step``."""
        raise NotImplementedError

    def log_epoch_series(self, series: Mapping[str, float], epoch: int) -> None:
        """The ``epoch/*`` values of one epoch, with the epoch as their step."""
        self.log_metrics(series, step=epoch)

    def log_files(self, paths: Iterable[str | Path]) -> None:
        """The run's files (``metrics.json``, the best checkpoint where asked): kept by the tracker."""

    def end_session(self, status: str) -> None:
        """The run's end: ``success``, ``failed`` or ``interrupted``."""
        raise NotImplementedError


def require_package(module: str, option: str) -> None:
    """A tracker's client is installed (the ``trackers`` extra), else one line saying how to install it."""
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ConfigError(f"{option} needs the {module} package, from the trackers extra: "
                          "pip install -e '.[trackers]' (make install installs it)")


def trackers(loggers: Iterable[Any]) -> list[Tracker]:
    return [logger for logger in loggers if isinstance(logger, Tracker)]


def end_runs(loggers: Iterable[Any], status: str, files: Sequence[str | Path] = (), checkpoint: str | Path | None = None,
             metrics: Mapping[str, float] | None = None, step: int = 0) -> None:
    """Each tracker's run: its last ``metrics`` at ``step``, its ``files`` (and ``checkpoint`` where the tracker keeps
    checkpoints), then its end with ``status``. A step that fails (a server gone, an upload refused) is a warning:
    it never keeps a tracker's run from ending, the other trackers from theirs, or a finished run from its results."""
    for tracker in trackers(loggers):
        kept = [*files, *([checkpoint] if checkpoint and tracker.log_checkpoints else [])]
        steps = [("log the last metrics", lambda: metrics and tracker.log_metrics(metrics, step=step)),
                 ("upload the run's files", lambda: tracker.log_files(kept)),
                 (f"mark the run {status}", lambda: tracker.end_session(status))]
        for what, action in steps:
            try:
                action()
            except Exception as exc:  # noqa: BLE001 - see the docstring
                log.warning("%s: could not %s: %s", type(tracker).__name__, what, exc)


def sweep_folder() -> str | None:
    """The multirun's sweep folder, which groups its jobs in a tracker; None in a single run."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return str(HydraConfig.get().sweep.dir)
    return None


def remembered_run(run_dir: str | Path, tracker: str) -> str | None:
    """The id of ``tracker``'s run that this run folder logged to (``RUN_IDS_FILE``), if any; ``tracker`` names the
    store too (``mlflow <uri>``), so a run resumed into another store starts a run there."""
    path = Path(run_dir) / RUN_IDS_FILE
    return json.loads(path.read_text()).get(tracker) if path.is_file() else None


def remember_run(run_dir: str | Path, tracker: str, run_id: str) -> None:
    path = Path(run_dir) / RUN_IDS_FILE
    ids = json.loads(path.read_text()) if path.is_file() else {}
    write_json(path, {**ids, tracker: run_id})
