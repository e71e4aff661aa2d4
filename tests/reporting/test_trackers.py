"""The experiment trackers against the real thing: ``logger=many`` runs into a real MLflow server
(tests/mlflow_server.py), read back through MLflow's client, and into W&B offline (no account), read back from
W&B's own files (tests/wandb_files.py): what a run, a multirun, a failed job and a resumed run logged, and a
tracking URI checked before training."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

import tensorboard_client as tb
from helpers import TINY_RUN, compose_run, job_folders, run_cli
from wandb_files import offline_runs

from cifar import metric_names as M
from cifar.errors import ConfigError
from cifar.reporting.hparams import curated_hparams
from cifar.reporting.mlflow_tracker import check_tracking_uri
from cifar.train import train

TRACKERS = ["logger=many", "accelerator=cpu"]  # TensorBoard, CSV, W&B and MLflow


@pytest.fixture(autouse=True)
def no_wandb_account(monkeypatch, tmp_path):
    """No W&B API key anywhere (so its logger chooses offline itself), W&B's own files in the test's folder."""
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # (no ~/.netrc from `wandb login`)
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / ".config-wandb"))
    monkeypatch.setenv("WANDB_SILENT", "true")


def client(url: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=url)


def mlflow_runs(url: str, experiment: str) -> list:
    found = client(url).get_experiment_by_name(experiment)
    assert found is not None, f"no MLflow experiment {experiment!r}"
    return client(url).search_runs([found.experiment_id], order_by=["attributes.start_time ASC"])


def artifacts(url: str, run_id: str, path: str | None = None) -> list[str]:
    found = []
    for entry in client(url).list_artifacts(run_id, path):
        found += artifacts(url, run_id, entry.path) if entry.is_dir else [entry.path]
    return found


def steps(url: str, run_id: str, key: str) -> list[int]:
    return [m.step for m in client(url).get_metric_history(run_id, key)]


@pytest.fixture(scope="module")
def single_run(mlflow_server, tiny_data, tmp_path_factory):
    """One run made as a user makes it, into every tracker, MLflow keeping the checkpoint: (its folder, its
    metrics.json, its MLflow run)."""
    root = tmp_path_factory.mktemp("trackers")
    result = run_cli("train", *TRACKERS, *TINY_RUN, f"paths.data_dir={tiny_data}", f"hydra.run.dir={root}/run",
                     f"logger.mlflow.tracking_uri={mlflow_server}", "logger.mlflow.log_checkpoints=true", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = mlflow_runs(mlflow_server, "cifar")
    return root / "run", json.loads((root / "run" / "metrics.json").read_text()), run


def test_mlflow_shows_the_curated_settings_tags_and_run_name(single_run):
    folder, metrics, run = single_run
    curated = curated_hparams(metrics["config"])
    assert set(run.data.params) == set(curated)  # the columns of TensorBoard's HParams table, the same names
    assert (run.data.params["model"], run.data.params["data.batch_size"]) == ("smallnet", "32")
    assert run.data.params["optimizer.lr"] == str(curated["optimizer.lr"])
    tags = run.data.tags
    assert (tags["recipe"], tags["seed"], tags["machine"]) == ("smallnet", "42", metrics["machine"])
    assert run.info.run_name == metrics["config"]["logger"]["mlflow"]["run_name"]  # what ran, as folders are named
    assert run.info.run_name.startswith("smallnet+accelerator-cpu+") and "logger" not in run.info.run_name
    assert run.info.status == "FINISHED"


def test_mlflow_shows_the_metrics_under_tensorboards_keys(single_run, mlflow_server):
    folder, metrics, run = single_run
    logged = run.data.metrics
    assert logged[M.TEST_ACC] == pytest.approx(metrics[M.TEST_ACC])
    assert logged[M.VAL_ACC_BEST] == pytest.approx(metrics[M.VAL_ACC_BEST])
    assert {"epoch/acc_train", "epoch/loss_val", "epoch/lr_default", "train/loss_step", "lr/default",
            M.WALL_SECONDS} <= set(logged)
    assert "epoch" not in logged  # the epoch/* series carry the epoch as their step instead
    assert steps(mlflow_server, run.info.run_id, "epoch/acc_train") == [0, 1]
    assert len(steps(mlflow_server, run.info.run_id, "train/loss_step")) > 2


def test_mlflow_keeps_the_figures_metrics_file_and_checkpoint(single_run, mlflow_server):
    folder, metrics, run = single_run
    files = artifacts(mlflow_server, run.info.run_id)
    images = {Path(f).name.split("+")[0].replace("~", "/") for f in files if f.startswith("images/")}
    assert {"confusion/val", "confusion/test", "confusion/test_counts", "curves/loss", "samples/test"} <= images
    assert "metrics.json" in files
    assert Path(metrics["best_checkpoint"]).name in files  # uploaded because log_checkpoints=true (off by default)


def test_wandb_writes_the_run_offline_with_what_tensorboard_shows(single_run):
    folder, metrics, _ = single_run
    (run,) = offline_runs(folder)  # in the run folder, to `wandb sync` later
    curated = curated_hparams(metrics["config"])
    assert list(run.config) == list(curated)  # TensorBoard's HParams columns, the same names
    assert (run.config["model"], run.config["optimizer"], run.config["data.batch_size"]) == ("smallnet", "adamw", "32")
    assert run.config["optimizer.lr"] == curated["optimizer.lr"]
    assert run.name == metrics["config"]["logger"]["wandb"]["name"] and run.name.startswith("smallnet+")
    assert {"recipe:smallnet", "seed:42", f"machine:{metrics['machine']}"} <= set(run.tags)
    assert run.group == ""  # a single run belongs to no sweep
    assert [epoch for epoch, _ in run.series("epoch/acc_train")] == [0, 1]
    assert run.step_metrics["epoch/acc_train"] == "epoch" and run.step_metrics["*"] == "trainer/global_step"  # (Lightning: every other key)
    assert [value for _, value in run.series(M.TEST_ACC)] == [pytest.approx(metrics[M.TEST_ACC])]
    assert run.series(M.WALL_SECONDS) and len(run.series("train/loss_step")) > 2
    assert "metrics.json" in run.files
    images = {f.split("/", 2)[-1].rsplit("_", 2)[0] for f in run.files if f.startswith("media/images/")}
    assert {"confusion/val", "confusion/test", "curves/loss", "samples/test"} <= images
    assert not any(f.endswith(".ckpt") for f in run.files)  # W&B's log_checkpoints is off (the default)
    assert run.exit_code == 0


@pytest.fixture(scope="module")
def sweep(mlflow_server, tiny_data, tmp_path_factory) -> Path:
    """A 2-job multirun (two learning rates) into every tracker: its sweep folder."""
    root = tmp_path_factory.mktemp("tracked_sweep")
    result = run_cli("train", "-m", *TRACKERS, *TINY_RUN, f"paths.data_dir={tiny_data}", "optimizer.lr=0.001,0.01",
                     f"logger.mlflow.tracking_uri={mlflow_server}",
                     f"hydra.sweep.dir={root}/sweep", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    return root / "sweep"


def test_a_multirun_is_one_mlflow_experiment_and_one_wandb_group(mlflow_server, sweep):
    jobs = job_folders(sweep)
    runs = mlflow_runs(mlflow_server, str(sweep))
    assert sorted(r.data.params["optimizer.lr"] for r in runs) == ["0.001", "0.01"]
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert sorted(r.info.run_name for r in runs) == sorted(f.name.split("-", 1)[1] for f in jobs)
    offline = [run for job in jobs for run in offline_runs(job)]
    assert [run.group for run in offline] == [str(sweep)] * 2
    assert sorted(run.config["optimizer.lr"] for run in offline) == [0.001, 0.01]


needs_browser = pytest.mark.skipif(not tb.browser_available() and os.environ.get("CI") != "true",
                                   reason="no chromium/chromedriver (apt-get install chromium chromium-driver)")


@needs_browser
def test_a_sweep_in_mlflows_ui(mlflow_server, sweep):
    """What a user sees in MLflow's own web page: the sweep's experiment with both jobs, the sections of their
    confusion matrices and of their per-epoch curves. With ``CIFAR_MLFLOW_SCREENSHOTS=<folder>`` the curves are
    saved there (docs/images/mlflow_sweep_curves.png)."""
    experiment = client(mlflow_server).get_experiment_by_name(str(sweep)).experiment_id
    names = [r.info.run_name for r in mlflow_runs(mlflow_server, str(sweep))]
    shots = os.environ.get("CIFAR_MLFLOW_SCREENSHOTS")
    with tb.browser(width=1500, height=1000) as driver:
        driver.get(f"{mlflow_server}/#/experiments/{experiment}/runs?compareRunsMode=CHART")
        tb.wait_for(driver, lambda d: (t := tb.page_text(d)) and all(n[:25] in t for n in names), timeout=90)
        driver.execute_script(CLOSE_ASSISTANT)
        # the charts' sections are named after the metrics' prefixes: the epoch series, the confusion matrices
        assert tb.wait_for(driver, lambda d: d.execute_script(SHOW_SECTION, "confusion"), timeout=60) == 1
        assert tb.wait_for(driver, lambda d: d.execute_script(SHOW_SECTION, "epoch"), timeout=60) == 1
        if shots:
            time.sleep(8)  # (the charts draw)
            driver.save_screenshot(os.path.join(shots, "mlflow_sweep_curves.png"))


CLOSE_ASSISTANT = """for (const b of document.querySelectorAll("button[aria-label='Close']")) { b.click(); }"""
# scrolls the section of charts named arguments[0] to the top; returns how many such names there are (null: none)
SHOW_SECTION = """const titles = Array.from(document.querySelectorAll('*'))
    .filter(e => e.childElementCount === 0 && e.textContent.trim() === arguments[0]);
if (!titles.length) return null;
titles[0].scrollIntoView({block: 'start'});
return titles.length;"""


def test_a_job_that_fails_in_training_is_marked_failed(mlflow_server, tiny_data, tmp_path, monkeypatch):
    from cifar.training.module import ImageClassifier

    def broken(self, batch, batch_idx):
        raise RuntimeError("the batch is gone")

    monkeypatch.setattr(ImageClassifier, "training_step", broken)
    with pytest.raises(RuntimeError):
        train(compose_run(tmp_path, *TRACKERS, *TINY_RUN, "trainer.max_epochs=1", f"logger.mlflow.tracking_uri={mlflow_server}",
                          "logger.mlflow.experiment_name=failing", data_dir=tiny_data))
    (run,) = mlflow_runs(mlflow_server, "failing")
    assert run.info.status == "FAILED"
    assert "metrics.json" in artifacts(mlflow_server, run.info.run_id)  # with the error it recorded
    (offline,) = offline_runs(tmp_path)
    assert offline.exit_code == 1 and "metrics.json" in offline.files


def test_a_tracker_that_fails_at_the_end_leaves_the_run_and_the_other_trackers_finished(mlflow_server, tiny_data,
                                                                                          tmp_path, monkeypatch):
    from cifar.reporting.wandb_tracker import WandbRunLogger

    def refused(self, paths):
        raise OSError("upload refused: 413 Request Entity Too Large")

    monkeypatch.setattr(WandbRunLogger, "log_files", refused)
    metrics = train(compose_run(tmp_path, *TRACKERS, *TINY_RUN, "trainer.max_epochs=1",
                                f"logger.mlflow.tracking_uri={mlflow_server}", "logger.mlflow.experiment_name=refused",
                                data_dir=tiny_data))
    assert metrics["status"] == "ok" and json.loads((tmp_path / "metrics.json").read_text())["status"] == "ok"
    (run,) = mlflow_runs(mlflow_server, "refused")
    assert run.info.status == "FINISHED" and "metrics.json" in artifacts(mlflow_server, run.info.run_id)
    (offline,) = offline_runs(tmp_path)
    assert offline.exit_code == 0 and "metrics.json" not in offline.files  # ended all the same


def test_a_resumed_run_continues_its_tracker_runs(mlflow_server, tiny_data, tmp_path):
    settings = [*TRACKERS, *TINY_RUN, f"logger.mlflow.tracking_uri={mlflow_server}",
                "logger.mlflow.experiment_name=resumed", "scheduler=none"]  # (a one-cycle schedule is fixed to its length)
    train(compose_run(tmp_path, *settings, "trainer.max_epochs=1", data_dir=tiny_data))
    train(compose_run(tmp_path, *settings, "trainer.max_epochs=2", f"ckpt_path={tmp_path}/checkpoints/last.ckpt",
                      data_dir=tiny_data))
    (run,) = mlflow_runs(mlflow_server, "resumed")  # one run, not a second one
    assert steps(mlflow_server, run.info.run_id, "epoch/acc_train") == [0, 1]
    assert run.info.status == "FINISHED"
    assert run.data.params["trainer.max_epochs"] == "1"  # (params cannot change in MLflow: a tag says what did)
    assert run.data.tags["resumed with"] == "trainer.max_epochs=2"
    first, second = offline_runs(tmp_path)  # offline, each part has its folder; `wandb sync` joins them in one run
    assert first.run_id == second.run_id
    assert [epoch for epoch, _ in first.series("epoch/acc_train") + second.series("epoch/acc_train")] == [0, 1]


def test_without_a_server_mlflow_runs_go_to_a_local_store_in_outputs(tiny_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # (the logger sets it; restored after the test)
    train(compose_run(tmp_path / "run", "logger=mlflow", *TINY_RUN, "trainer.max_epochs=1", data_dir=tiny_data))
    (run,) = mlflow_runs((tmp_path / "outputs" / "mlruns").as_uri(), "cifar")
    assert run.info.status == "FINISHED" and M.TEST_ACC in run.data.metrics


def test_a_bad_or_unreachable_tracking_uri_fails_before_training(tiny_data, tmp_path):
    import mlflow_server

    closed = f"http://127.0.0.1:{mlflow_server.free_port()}"  # nothing listens there
    result = run_cli("train", "logger=mlflow", *TINY_RUN, f"paths.data_dir={tiny_data}", f"hydra.run.dir={tmp_path}/run",
                     f"logger.mlflow.tracking_uri={closed}", cwd=tmp_path)
    assert result.returncode == 2
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"error: logger.mlflow.tracking_uri={closed}: no MLflow server answers there (")
    assert not (tmp_path / "run" / "checkpoints").exists()  # nothing trained
    with pytest.raises(ConfigError, match=r"^logger\.mlflow\.tracking_uri=sqlite:///x\.db: expected http\(s\)://"):
        check_tracking_uri("sqlite:///x.db")


@pytest.mark.parametrize("tracker", ["wandb", "mlflow"])
def test_a_tracker_whose_client_is_not_installed_is_one_line_naming_the_extra(tracker, tmp_path, monkeypatch):
    import sys

    from cifar.training.factory import build_group

    monkeypatch.setitem(sys.modules, tracker, None)  # as if the trackers extra were not installed
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=rf"^logger={tracker} needs the {tracker} package, from the trackers extra: "
                                          r"pip install -e '\.\[trackers\]'"):
        build_group(compose_run(tmp_path, f"logger={tracker}").logger, "logger")
