"""The real command line: ``python -m cifar.train ...`` in a subprocess, on CPU, with tiny data."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest

from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from cifar.errors import ConfigError
from cifar.train import train
from helpers import TINY_RUN, compose_run, job_folders, run_cli


def cifar_train(*args: str) -> subprocess.CompletedProcess:
    return run_cli("train", *args)


def tensorboard_tags(folder: Path) -> set[str]:
    tags = set()
    for events in folder.glob("events.out.tfevents.*"):
        for event in EventFileLoader(str(events)).Load():
            tags.update(value.tag for value in event.summary.value)
    return tags


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def test_train_end_to_end(tmp_path, tiny_data):
    run_dir = tmp_path / "run"
    result = cifar_train(
        *TINY_RUN, f"paths.data_dir={tiny_data}", "accelerator=cpu", f"hydra.run.dir={run_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr

    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").glob("*.ckpt"))
    assert "last.ckpt" in checkpoints and any(name.startswith("epoch") for name in checkpoints)

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {"val/acc", "val/loss", "val/acc_best", "test/acc", "test/loss", "epochs", "wall_seconds", "config"} <= set(metrics)
    assert metrics["epochs"] == 2 and metrics["epochs_trained"] == 2.0
    assert metrics["machine"].startswith("cpu: ") and metrics["machine"].endswith(" threads")  # where it trained
    assert metrics["config"]["data"]["data_dir"] == str(tiny_data)

    for stage, count in (("val", 40), ("test", 40)):
        rows = read_csv(run_dir / f"confusion_{stage}.csv")
        assert rows[0][1:] == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        assert len(rows) == 11 and sum(int(v) for row in rows[1:] for v in row[1:]) == count
        assert (run_dir / f"confusion_{stage}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    per_class = read_csv(run_dir / "per_class_accuracy_test.csv")
    assert per_class[0] == ["class", "correct", "total", "accuracy"] and len(per_class) == 11
    assert sum(int(row[2]) for row in per_class[1:]) == 40
    assert (run_dir / "sample_predictions.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    curves = read_csv(run_dir / "curves.csv")
    assert curves[0] == ["epoch", "train/loss", "val/loss", "train/acc", "val/acc", "lr", "seconds"] and len(curves) == 3
    assert (run_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    tags = tensorboard_tags(run_dir)  # (the events are in the run folder itself)
    expected = {
        "train/loss_step", "train/loss_epoch", "train/acc", "val/loss", "val/acc", "val/acc_best",
        "test/loss", "test/acc", "lr/default", "confusion/val", "confusion/val_counts", "confusion/test",
        "curves/loss", "samples/test", "epoch/acc_val", "time/wall_seconds", "_hparams_/session_start_info",
    }
    assert expected <= tags, expected - tags
    assert not {"hp_metric", "epoch"} & tags
    assert (run_dir / ".hydra" / "config.yaml").is_file()


def test_missing_data_gives_a_short_clear_error(tmp_path):
    missing = tmp_path / "no-data-here"
    result = cifar_train(f"paths.data_dir={missing}", "data.download=false", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert f"error: CIFAR-10 not found: expected cifar-10-batches-py/, cifar-10-batches-bin/ or train/ and test/ image folders in {missing}" in result.stderr
    assert "Traceback" not in result.stderr


def test_multirun_puts_each_job_in_its_own_folder(tmp_path, tiny_data):
    sweep = tmp_path / "sweep"
    result = cifar_train(
        "-m", *TINY_RUN, "trainer.max_epochs=1", "logger=csv", f"paths.data_dir={tiny_data}",
        "optimizer.lr=0.001,0.002", f"hydra.sweep.dir={sweep}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = job_folders(sweep)
    assert [job.name.split("+")[:2] for job in jobs] == [["0-smallnet", "precision-32-true"], ["1-smallnet", "precision-32-true"]]
    assert jobs[0].name.endswith("+optimizer.lr-0.001") and jobs[1].name.endswith("+optimizer.lr-0.002")  # named by their overrides
    lrs = [json.loads((job / "metrics.json").read_text())["config"]["optimizer"]["lr"] for job in jobs]
    assert lrs == [0.001, 0.002]
    assert (jobs[0] / "csv" / "metrics.csv").is_file()


def test_unknown_config_choice_lists_the_options(tmp_path):
    result = cifar_train("model=nope", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode != 0
    assert "Could not find 'model/nope'" in result.stderr
    assert "Available options in 'model':" in result.stderr and "smallnet" in result.stderr
    assert "Traceback" not in result.stderr


def test_out_of_range_value_is_a_one_line_error(tmp_path):
    result = cifar_train("optimizer.lr=-1", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert "error: optimizer.lr=-1 is out of range: expected a number > 0" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("override, message", [
    ("module.tta=flip", "module.tta=flip: module.tta is wired to ${tta} in conf/train.yaml; set tta=flip instead"),
    ("module.channels_last=false", "module.channels_last=false: module.channels_last is wired to "
                                   "${speed.channels_last} in conf/train.yaml; set speed.channels_last=false instead"),
    ("+module.dropout=0.5", "module.dropout is unknown: the module node wires only _target_, _convert_, net,"),
])
def test_a_setting_has_one_key_and_the_module_node_is_refused_before_training(tmp_path, override, message):
    """``module.tta=flip`` would run flip while metrics.json, hparams.yaml and TensorBoard record tta: none."""
    with pytest.raises(ConfigError) as refused:
        train(compose_run(tmp_path, override, "logger=none"))
    assert str(refused.value).startswith(message)
    assert not (tmp_path / "checkpoints").exists()
