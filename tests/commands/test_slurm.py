"""Multiruns through the SLURM launcher, on a live (private, single-node) cluster: real sbatch, real jobs."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from helpers import ROOT, TINY_RUN, job_folders

pytestmark = pytest.mark.slurm

ONE_EPOCH = [*TINY_RUN, "trainer.max_epochs=1", "logger=none"]


def submit(cluster, *args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    """``python -m cifar.train -m hydra/launcher=slurm args...`` against the cluster, from the project root."""
    return subprocess.run([sys.executable, "-m", "cifar.train", "-m", "hydra/launcher=slurm",
                           "hydra.launcher.partition=debug", "hydra.launcher.mem_gb=1", *args],
                          cwd=ROOT, env=cluster.env(), capture_output=True, text=True, timeout=timeout)


def summary(sweep) -> list[dict[str, str]]:
    with open(sweep / "summary.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_multirun_runs_as_slurm_jobs_and_writes_the_sweep_summary(tmp_path, tiny_data, slurm_cluster):
    sweep = tmp_path / "sweep"
    result = submit(slurm_cluster, *ONE_EPOCH, f"paths.data_dir={tiny_data}", "model=deepcnn,compactnet",
                    f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = summary(sweep)
    assert sorted(r["status"] for r in rows) == ["ok", "ok"] and len(job_folders(sweep)) == 2
    for job in job_folders(sweep):
        metrics = json.loads((job / "metrics.json").read_text())
        assert metrics["status"] == "ok" and metrics["epochs"] == 1
        assert (job / "checkpoints" / "last.ckpt").is_file() and (job / "confusion_test.csv").is_file()
    logs = sorted((sweep / ".submitit").glob("*/*_log.out"))  # each job's own SLURM log
    assert len(logs) == 2 and all(log.stat().st_size > 0 for log in logs)
    assert "sweep summary (2 runs, 0 failed)" in result.stdout


def test_a_failing_slurm_job_is_marked_failed_while_the_others_finish(tmp_path, tiny_data, slurm_cluster):
    sweep = tmp_path / "sweep"
    result = submit(slurm_cluster, *ONE_EPOCH, f"paths.data_dir={tiny_data}", "optimizer.lr=0.001,-1",
                    f"hydra.sweep.dir={sweep}")
    assert result.returncode == 1
    rows = {r["overrides"].split("optimizer.lr=")[1].split()[0]: r for r in summary(sweep)}
    assert rows["0.001"]["status"] == "ok"
    assert rows["-1"]["status"] == "failed" and "lr" in rows["-1"]["error"]
