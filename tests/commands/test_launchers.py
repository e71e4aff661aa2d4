"""Hyper-parameter search (Optuna) and the launchers: joblib and submitit run here, SLURM composes."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest
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


def slurm_script(tmp_path, monkeypatch, *overrides: str) -> str:
    """The sbatch script the SLURM launcher would submit for one job of ``overrides``."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=slurm", f"hydra.sweep.dir={tmp_path}", "hydra.job.num=0",
                                          *overrides], return_hydra_config=True)
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)  # (resolvable without a running Hydra)
    assert launcher["_target_"].endswith("SlurmLauncher")
    params = {k: v for k, v in launcher.items() if k not in ("_target_", "submitit_folder", "max_num_timeout")}
    # the same mapping the Hydra submitit launcher applies before it calls sbatch
    monkeypatch.setattr(submitit.SlurmExecutor, "affinity", classmethod(lambda cls: 1))  # no srun here
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit", cluster="slurm")
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()
                                  if v is not None and v != {}})
    script = executor._executor._make_submission_file_text("python -m cifar.train", "0")
    assert script.startswith("#!/bin/bash")
    return script


def test_slurm_jobs_ask_for_what_the_run_uses(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_PARTITION", "gpu-a100")
    gpu = slurm_script(tmp_path, monkeypatch, "accelerator=gpu", "trainer.devices=2", "trainer.strategy=ddp")
    for line in ("#SBATCH --partition=gpu-a100", "#SBATCH --time=240", "#SBATCH --gpus-per-node=2",
                 "#SBATCH --ntasks-per-node=2", "#SBATCH --cpus-per-task=5", "#SBATCH --mem=8GB", "#SBATCH --nodes=1"):
        assert line in gpu, line  # (accelerator=gpu loads with 4 workers: 5 CPUs per task)
    assert 'source "$SLURM_SUBMIT_DIR/.venv/bin/activate"' in gpu
    monkeypatch.delenv("SLURM_PARTITION")
    cpu = slurm_script(tmp_path, monkeypatch, "accelerator=cpu", "hydra.launcher.mem_gb=2")
    assert "--gpus" not in cpu and "--partition" not in cpu  # no GPU asked for, the cluster's default partition
    for line in ("#SBATCH --ntasks-per-node=1", "#SBATCH --cpus-per-task=1", "#SBATCH --mem=2GB"):  # (0 workers)
        assert line in cpu, line
    with pytest.raises(Exception, match="trainer.devices='auto': a SLURM job needs a number of devices"):
        slurm_script(tmp_path, monkeypatch, "accelerator=gpu", "trainer.devices=auto")

