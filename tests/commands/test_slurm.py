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
                           f"hydra.launcher.partition={cluster.partition}", "hydra.launcher.mem_gb=1", *args],
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


def confusion_total(path) -> int:
    with open(path, newline="") as fh:
        return sum(int(v) for row in list(csv.reader(fh))[1:] for v in row[1:])


def test_ddp_across_two_slurm_tasks_is_one_run_with_both_ranks_data(tmp_path, tiny_data, slurm_cluster):
    sweep = tmp_path / "sweep"
    result = submit(slurm_cluster, *ONE_EPOCH, f"paths.data_dir={tiny_data}", "accelerator=cpu",
                    "trainer.strategy=ddp", "trainer.devices=2", "data.batch_size=8", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr[-3000:]
    [job] = job_folders(sweep)  # one run folder for the two tasks
    logs = sorted(p.name for p in (sweep / ".submitit").glob("*/*_log.out"))
    assert len(logs) == 2 and logs[0].endswith("_0_log.out") and logs[1].endswith("_1_log.out")  # SLURM's 2 tasks
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in next(
        (sweep / ".submitit").glob("*/*_1_log.err")).read_text()  # Lightning took SLURM's tasks as its ranks
    metrics = json.loads((job / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["epochs"] == 1
    assert not (job / "metrics_failed.json").exists()
    assert sorted(p.name for p in (job / "checkpoints").iterdir() if not p.name.startswith(".")) == sorted(
        [metrics["best_checkpoint"].rsplit("/", 1)[-1], "last.ckpt"])
    assert confusion_total(job / "confusion_val.csv") == 40 and confusion_total(job / "confusion_test.csv") == 40


def test_a_job_whose_tasks_are_not_the_runs_devices_is_refused_before_training(tmp_path, tiny_data, slurm_cluster):
    sweep = tmp_path / "sweep"
    result = submit(slurm_cluster, *ONE_EPOCH, f"paths.data_dir={tiny_data}", "accelerator=cpu",
                    "trainer.strategy=ddp", "trainer.devices=2", "hydra.launcher.tasks_per_node=1",
                    f"hydra.sweep.dir={sweep}")
    assert result.returncode == 1
    [row] = summary(sweep)
    assert row["status"] == "failed" and row["error"] == (
        "this SLURM job runs 1 task(s), but trainer.devices=2 x trainer.num_nodes=1 asks for 2 process(es): give "
        "the job one task per device (hydra.launcher.tasks_per_node=trainer.devices, its default) or change "
        "trainer.devices")
    [job] = job_folders(sweep)
    assert not (job / "checkpoints").exists()  # refused before training


def test_a_signalled_job_is_requeued_and_resumes_to_the_uninterrupted_runs_figures(tmp_path, tiny_data, slurm_cluster):
    """The warning before the time limit (or a preemption): submitit requeues the job, which resumes from its
    run's last.ckpt and ends with the figures of a run that was never interrupted."""
    import time

    args = [*ONE_EPOCH, f"paths.data_dir={tiny_data}", "data.batch_size=8", "trainer.max_epochs=4"]
    plain = submit(slurm_cluster, *args, f"hydra.sweep.dir={tmp_path / 'plain'}")
    assert plain.returncode == 0, plain.stderr[-3000:]
    sweep = tmp_path / "signalled"
    command = [sys.executable, "-m", "cifar.train", "-m", "hydra/launcher=slurm",
               f"hydra.launcher.partition={slurm_cluster.partition}",
               "hydra.launcher.mem_gb=1", *args, f"hydra.sweep.dir={sweep}"]
    submitter = subprocess.Popen(command, cwd=ROOT, env=slurm_cluster.env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not list(sweep.glob("*/checkpoints/last.ckpt")) and time.time() < deadline:  # an epoch is done
            time.sleep(0.2)
        job = slurm_cluster.jobs()[-1]
        slurm_cluster.call("scancel", "--signal=USR2", job)  # what SLURM sends signal_delay_s before the limit
        while slurm_cluster.job_state(job) not in ("PENDING", "") and time.time() < deadline:
            time.sleep(0.2)
        # SLURM holds a requeued job for a while before it may start again: start it now
        slurm_cluster.call("scontrol", "update", f"jobid={job}", "StartTime=now")
        out, err = submitter.communicate(timeout=180)
    finally:
        submitter.kill()
    assert submitter.returncode == 0, err[-3000:]
    [run] = job_folders(sweep)
    assert "requeued SLURM job (restart 1): resuming from" in (run / "train.log").read_text()
    resumed = json.loads((run / "metrics.json").read_text())
    [uninterrupted] = [json.loads((j / "metrics.json").read_text()) for j in job_folders(tmp_path / "plain")]
    assert resumed["status"] == "ok" and resumed["epochs"] == 4
    for name in ("val/acc_best", "val/loss", "test/acc", "test/loss"):
        assert resumed[name] == pytest.approx(uninterrupted[name], abs=1e-6), name
    assert len(summary(sweep)) == 1  # one row for the job, requeued or not


def test_an_optuna_search_runs_its_trials_as_slurm_jobs(tmp_path, tiny_data, slurm_cluster):
    sweep = tmp_path / "search"
    result = submit(slurm_cluster, *ONE_EPOCH, f"paths.data_dir={tiny_data}", "hparams_search=smallnet_optuna",
                    "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert [r["status"] for r in summary(sweep)] == ["ok", "ok"]
    assert len(list((sweep / ".submitit").glob("*/*_log.out"))) == 2  # each trial a SLURM job
    best = (sweep / "optimization_results.yaml").read_text()
    assert "best_params:" in best and "optimizer.lr:" in best
