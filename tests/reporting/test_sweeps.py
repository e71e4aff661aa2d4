"""Multirun summaries, failed jobs, divergence."""

from __future__ import annotations

import csv

import pytest

from cifar.training.callbacks.finite_loss import DivergedError
from cifar.train import train
from helpers import TINY_RUN, compose_run, job_folders, run_cli


def test_multirun_summary_ranks_jobs_and_marks_the_failed_one(tmp_path, tiny_data):
    sweep = tmp_path / "sweep"
    result = run_cli("train", "-m", *TINY_RUN, "trainer.max_epochs=1", "logger=none", f"paths.data_dir={tiny_data}",
                     "data.val_size=40,100000", "optimizer.lr=0.001,0.003", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 1  # some jobs failed: said at the end, after all of them ran
    with open(sweep / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4
    assert [r["status"] for r in rows] == ["ok", "ok", "failed", "failed"]
    ok = [float(r["optimized"]) for r in rows[:2]]
    assert ok == sorted(ok, reverse=True)
    for failed in rows[2:]:
        assert "data.val_size=100000" in failed["overrides"]
        assert "data.val_size=100000 must be smaller than the 200 training images" in failed["error"]
    assert "| job | status | overrides |" in (sweep / "summary.md").read_text()
    assert [job.name.split("-")[0] for job in job_folders(sweep)] == ["0", "1", "2", "3"]
    assert all((job / "metrics.json").is_file() for job in job_folders(sweep))


@pytest.mark.parametrize("every_n_steps", [1, 10_000])  # caught at a step, or at the end of the epoch
def test_a_diverging_run_stops_with_a_clear_message_and_saves_nothing_bad(tmp_path, tiny_data, every_n_steps):
    cfg = compose_run(
        tmp_path, *TINY_RUN, "logger=none", "optimizer=sgd", "optimizer.lr=1e30", "scheduler=none",
        f"callbacks.finite_loss.every_n_steps={every_n_steps}", data_dir=tiny_data,
    )
    with pytest.raises(DivergedError, match=r"training diverged: loss is (nan|inf).*lower optimizer\.lr"):
        train(cfg)
    assert not list(tmp_path.glob("checkpoints/*.ckpt"))  # no checkpoint of diverged weights
