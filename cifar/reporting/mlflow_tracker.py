"""MLflow (``logger=mlflow``): Lightning's ``MLFlowLogger`` as a :class:`~cifar.reporting.trackers.Tracker`.

Ours because Lightning's logs the module's whole config as params (hundreds, cut at MLflow's limits), and has no
images, epoch series or resumable run. The project installs MLflow's client only (``mlflow-skinny``): it logs to
a server over HTTP (``logger.mlflow.tracking_uri=http://host:port``), which runs in its own environment, as
deployments run it (docs/trackers.md says why and how). With no server given, runs go to MLflow's file store in
``outputs/mlruns``. A multirun is one MLflow experiment named after its sweep folder; a resumed run
(``ckpt_path=<run>/checkpoints/last.ckpt``) continues the same MLflow run.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.utilities import rank_zero_only

from cifar.errors import ConfigError
from cifar.reporting.trackers import Tracker, require_package, remember_run, remembered_run, sweep_folder

OPTION = "logger.mlflow.tracking_uri"
STATUS = {"success": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
DEFAULT_EXPERIMENT = "cifar"  # a single run's experiment


def check_tracking_uri(uri: str, timeout: float = 5.0) -> str:
    """``uri`` if an MLflow server answers there (``http(s)://``) or it names a local file store (``file:``);
    else a :class:`ConfigError` naming ``logger.mlflow.tracking_uri``, before any training."""
    scheme = urlparse(uri).scheme
    if scheme == "file":
        return uri
    if scheme not in ("http", "https"):
        raise ConfigError(f"{OPTION}={uri}: expected http(s)://host:port of an MLflow server, or file:<folder> "
                          "(a database store such as sqlite:// is the server's: docs/trackers.md)")
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as answer:
            if answer.status == 200:
                return uri
            reason = f"HTTP {answer.status}"
    except urllib.error.HTTPError as exc:
        reason = f"HTTP {exc.code} at /health, not an MLflow server?"
    except (urllib.error.URLError, OSError) as exc:
        reason = str(getattr(exc, "reason", exc))
    raise ConfigError(f"{OPTION}={uri}: no MLflow server answers there ({reason}): start one "
                      "(docs/trackers.md), or leave it unset for the local store in outputs/mlruns")


def local_store_uri(folder: str | Path) -> str:
    """MLflow's file store in ``folder``: in maintenance mode since MLflow 3, which asks for an opt-in to use it."""
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # (read by MLflow when it opens the store)
    return Path(folder).resolve().as_uri()


def create_experiment(uri: str, name: str) -> None:
    """The experiment ``name``, created now unless it exists: the jobs of a sweep that start together (joblib,
    SLURM) would otherwise race to create it, and all but one fail."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    if client.get_experiment_by_name(name) is None:
        try:
            client.create_experiment(name)
        except MlflowException:
            if client.get_experiment_by_name(name) is None:  # not the race: a real error
                raise


class MLflowRunLogger(Tracker, MLFlowLogger):
    """``tracking_uri``: a server's URL, else the file store in ``local_store``. ``experiment_name``: None for the
    sweep folder in a multirun, else ``cifar``. ``resume_from``: the checkpoint the run resumes (``ckpt_path``):
    the MLflow run this run folder logged to goes on."""

    def __init__(self, run_dir: str, tracking_uri: str | None = None, local_store: str = "outputs/mlruns",
                 experiment_name: str | None = None, run_name: str | None = None, log_checkpoints: bool = False,
                 resume_from: str | None = None, **kwargs: Any):
        require_package("mlflow", "logger=mlflow")
        self.run_dir = run_dir
        self.log_checkpoints = log_checkpoints
        uri = check_tracking_uri(tracking_uri) if tracking_uri else local_store_uri(local_store)
        experiment_name = experiment_name or sweep_folder() or DEFAULT_EXPERIMENT
        create_experiment(uri, experiment_name)
        self.store = f"mlflow {uri}"  # (the run ids this run folder remembers are per store)
        super().__init__(experiment_name=experiment_name, run_name=run_name, tracking_uri=uri, log_model=False,
                         run_id=remembered_run(run_dir, self.store) if resume_from else None, **kwargs)

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """Lightning's call with the module's whole config: the run's params are the curated settings instead."""

    @rank_zero_only
    def start_session(self, hparams: Mapping[str, Any], tags: Mapping[str, str], metrics: Sequence[str],
                      shown_first: Sequence[str] = ()) -> None:
        from mlflow.entities import Param, RunTag

        client, run_id = self.experiment, self.run_id
        remember_run(self.run_dir, self.store, run_id)
        client.update_run(run_id, status="RUNNING")  # (a resumed run ended when its first part did)
        # MLflow's params cannot change: a resume that changes one (a longer trainer.max_epochs) says so in a tag
        logged = client.get_run(run_id).data.params
        changed = [f"{k}={v}" for k, v in hparams.items() if k in logged and logged[k] != str(v)]
        tags = {**tags, **({"resumed with": " ".join(changed)} if changed else {})}
        client.log_batch(run_id, params=[Param(k, str(v)) for k, v in hparams.items() if k not in logged],
                         tags=[RunTag(k, str(v)) for k, v in tags.items()])

    @rank_zero_only
    def log_card(self, tag: str, image: Any, step: int) -> None:
        self.experiment.log_image(self.run_id, image, key=tag, step=step)

    @rank_zero_only
    def log_files(self, paths: Iterable[str | Path]) -> None:
        for path in paths:
            self.experiment.log_artifact(self.run_id, str(path))

    def finalize(self, status: str = "success") -> None:
        """Lightning ends the run after each fit and test; the run ends once, in ``end_session``."""

    @rank_zero_only
    def end_session(self, status: str) -> None:
        self.experiment.set_terminated(self.run_id, STATUS.get(status, "FAILED"))

