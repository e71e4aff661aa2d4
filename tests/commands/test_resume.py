"""A run killed with SIGKILL and resumed from its last checkpoint ends like an uninterrupted one."""

from __future__ import annotations

import json
import signal
import time

import pytest
import torch

from cifar.errors import ConfigError
from cifar.train import train
from helpers import TINY_RUN, CodeRunningPickle, compose_run, run_cli, start_cli
RUN = [*TINY_RUN, "trainer.max_epochs=4", "logger=none", "data.augment=flip_affine_cutout", "seed=7"]
COMPARED = ("val/acc_best", "val/acc", "val/loss", "test/acc", "test/loss")


def test_sigkill_then_resume_gives_the_same_final_metrics(tmp_path, tiny_data):
    reference = train(compose_run(tmp_path / "reference", *RUN, data_dir=tiny_data))

    run_dir = tmp_path / "killed"
    last = run_dir / "checkpoints" / "last.ckpt"
    process = start_cli("train", *RUN, f"paths.data_dir={tiny_data}", f"hydra.run.dir={run_dir}")
    deadline = time.time() + 300
    while not last.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # somewhere in the next epoch, maybe mid-save
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run_dir / "metrics.json").exists()
    killed_at = torch.load(last, weights_only=True)["epoch"]
    assert killed_at < 3

    # resuming needs only the checkpoint (and the same overrides): the run folder follows from it
    resumed = run_cli("train", *RUN, f"paths.data_dir={tiny_data}", f"ckpt_path={last}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs"] == 4 and metrics["epochs_trained"] == 4.0  # (batches counted across the resume)
    for key in COMPARED:
        assert metrics[key] == pytest.approx(reference[key], abs=1e-6), key
    # the curves continue where they were: one row per epoch, as in the uninterrupted run
    curves = (run_dir / "curves.csv").read_text().splitlines()
    expected = (tmp_path / "reference" / "curves.csv").read_text().splitlines()
    assert [line.rsplit(",", 1)[0] for line in curves] == [line.rsplit(",", 1)[0] for line in expected]


def test_resuming_with_another_network_is_refused(tmp_path, tiny_data):
    first = train(compose_run(tmp_path / "a", *TINY_RUN, "trainer.max_epochs=1", "logger=none", data_dir=tiny_data))
    with pytest.raises(ConfigError, match=r"trained with model cifar\.models\.smallnet\.SmallNet.*builds cifar\.models\.netv2\.NetV2"):
        train(compose_run(tmp_path / "b", *TINY_RUN, "model=netv2", f"ckpt_path={first['best_checkpoint']}", data_dir=tiny_data))


def test_resuming_from_a_crafted_checkpoint_is_refused_without_running_it(tmp_path, tiny_data):
    marker = tmp_path / "pwned"
    evil = tmp_path / "run" / "checkpoints" / "last.ckpt"
    evil.parent.mkdir(parents=True)
    torch.save({"state_dict": {}, "hyper_parameters": {}, "x": CodeRunningPickle(marker)}, evil)
    from cifar.inference.checkpoints import CheckpointError

    with pytest.raises(CheckpointError, match=r"last\.ckpt: refused"):
        train(compose_run(tmp_path / "run", *TINY_RUN, f"ckpt_path={evil}", data_dir=tiny_data))
    assert not marker.exists()
