"""Hyper-parameter search (Optuna) and the launchers: joblib and submitit run here, SLURM composes."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from cifar.cli import register_resolvers
from helpers import CONF, TINY_RUN, run_cli
QUICK = [*TINY_RUN, "trainer.max_epochs=1", "logger=none"]


def multirun(*args: str) -> subprocess.CompletedProcess:
    keys = {a.split("=", 1)[0] for a in args}
    base = [a for a in QUICK if a.split("=", 1)[0] not in keys]
    return run_cli("train", "-m", *base, *args, timeout=900)


def summary(sweep: Path) -> list[dict[str, str]]:
    with open(sweep / "summary.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_optuna_search_goes_on_past_failed_trials(tmp_path, tiny_data):
    sweep = tmp_path / "search"
    result = multirun(
        "hparams_search=smallnet_optuna", f"paths.data_dir={tiny_data}", f"hydra.sweep.dir={sweep}",
        "hydra.sweeper.n_trials=4", "hydra.sweeper.sampler.n_startup_trials=4",
        # half the space cannot run (val_size above the 200 training images): those trials fail
        "data.val_size=choice(40,100000)",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = summary(sweep)
    statuses = sorted(r["status"] for r in rows)
    assert len(rows) == 4 and "ok" in statuses and "failed" in statuses
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_params"]["data.val_size"] == 40
    best_ok = max(float(r["optimized"]) for r in rows if r["status"] == "ok")
    assert best["best_value"] == best_ok


def test_joblib_launcher_runs_jobs_in_parallel_processes(tmp_path, tiny_data):
    sweep = tmp_path / "parallel"
    result = multirun("hydra/launcher=parallel", "hydra.launcher.n_jobs=2", f"paths.data_dir={tiny_data}",
                      "optimizer.lr=0.001,0.002", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert [r["status"] for r in summary(sweep)] == ["ok", "ok"]
    assert "Joblib.Parallel(n_jobs=2" in result.stdout + result.stderr


def test_submitit_local_launcher_runs_jobs(tmp_path, tiny_data):
    sweep = tmp_path / "submitit"
    result = multirun("hydra/launcher=local_cluster", f"paths.data_dir={tiny_data}", "optimizer.lr=0.001",
                      f"hydra.sweep.dir={sweep}", "hydra.launcher.timeout_min=10")
    assert result.returncode == 0, result.stderr[-3000:]
    assert [r["status"] for r in summary(sweep)] == ["ok"]
    assert list((sweep / ".submitit").glob("*/*_log.out"))


def test_slurm_launcher_composes_into_a_valid_job_description(tmp_path, monkeypatch):
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    monkeypatch.setenv("SLURM_PARTITION", "gpu-a100")
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=slurm", f"hydra.sweep.dir={tmp_path}", "hydra.job.num=0"],
                      return_hydra_config=True)
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=False)
    assert launcher["_target_"].endswith("SlurmLauncher")
    params = {k: v for k, v in OmegaConf.to_container(cfg.hydra.launcher, resolve=False).items()
              if k not in ("_target_", "submitit_folder", "setup")}
    params["partition"] = "gpu-a100"
    # the same mapping the Hydra submitit launcher applies before it calls sbatch
    monkeypatch.setattr(submitit.SlurmExecutor, "affinity", classmethod(lambda cls: 1))  # no srun here
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit", cluster="slurm")
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    params.pop("max_num_timeout")
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items() if v is not None and v != {}})
    script = executor._executor._make_submission_file_text("python -m cifar.train", "0")
    for line in ("#SBATCH --partition=gpu-a100", "#SBATCH --time=240", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --cpus-per-task=8", "#SBATCH --mem=32GB", "#SBATCH --ntasks-per-node=1"):
        assert line in script, line
    assert script.startswith("#!/bin/bash")
