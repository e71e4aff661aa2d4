"""``python -m cifar.evaluate`` is the training run's own test step: the same figures, the same names."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cifar import metric_names as M
from cifar.data.constants import CLASS_NAMES
from cifar.train import train
from helpers import TINY_RUN, compose_run, run_cli

# one epoch of speedrun85 on the tiny data (200 training images, no validation split), 6-view TTA
TINY_SPEEDRUN = ["experiment=speedrun85", "data.batch_size=32", "data.eval_batch_size=20", "trainer.max_epochs=1",
                 "trainer.max_steps=-1", "trainer.enable_progress_bar=false", "logger=none"]
TEST_FIGURES = (M.TEST_ACC, M.TEST_LOSS, M.TEST_ACC_NO_TTA)


def evaluate(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "evaluation"
    result = run_cli("evaluate", *args, f"hydra.run.dir={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| airplane |" in result.stdout  # the per-class table
    return json.loads((out / "evaluation.json").read_text())


def checkpoint_of(metrics: dict) -> str:
    return metrics["best_checkpoint"] or str(Path(metrics["output_dir"]) / "checkpoints" / "last.ckpt")


@pytest.mark.parametrize("run", ["default", "speedrun"])
def test_evaluate_gives_exactly_the_training_runs_test_figures(tmp_path, tiny_data, run):
    overrides = [*TINY_RUN, "trainer.max_epochs=1", "logger=none", "tta=flip"] if run == "default" else TINY_SPEEDRUN
    train(compose_run(tmp_path / "run", *overrides, data_dir=tiny_data))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    report = evaluate(tmp_path, f"ckpt_path={checkpoint_of(metrics)}")
    assert report["tta"] == ("flip" if run == "default" else "flip_translate")
    assert report["precision"] == metrics["config"]["precision"]
    for name in TEST_FIGURES:
        assert report[name] == metrics[name], name  # exactly: the same step, data, batches and precision
    assert report["images"] == 40


def test_evaluate_takes_the_tta_levels_and_writes_the_runs_file_names(tmp_path, tiny_data):
    metrics = train(compose_run(tmp_path / "run", *TINY_RUN, "trainer.max_epochs=1", "logger=none",
                                data_dir=tiny_data))
    assert metrics[M.TEST_ACC_NO_TTA] is None  # trained with tta=none
    ckpt = checkpoint_of(metrics)
    plain = evaluate(tmp_path / "none", f"ckpt_path={ckpt}", f"data.data_dir={tiny_data}")
    assert plain[M.TEST_ACC] == metrics[M.TEST_ACC] and M.TEST_ACC_NO_TTA not in plain
    flipped = evaluate(tmp_path / "flip", f"ckpt_path={ckpt}", "tta=flip_translate")
    assert flipped["tta"] == "flip_translate"
    assert flipped[M.TEST_ACC_NO_TTA] == metrics[M.TEST_ACC]  # the un-augmented view is the plain test
    out = tmp_path / "flip" / "evaluation"
    with open(out / "per_class_accuracy_test.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert [r[0] for r in rows[1:]] == list(CLASS_NAMES)
    assert sum(int(r[1]) for r in rows[1:]) == round(flipped[M.TEST_ACC] * 40)
    assert (out / "confusion_test.csv").is_file() and (out / "confusion_test.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_refuses_an_unknown_tta_level(tmp_path, tiny_data):
    metrics = train(compose_run(tmp_path / "run", *TINY_RUN, "trainer.max_epochs=1", "logger=none",
                                data_dir=tiny_data))
    result = run_cli("evaluate", f"ckpt_path={checkpoint_of(metrics)}", "tta=true", f"hydra.run.dir={tmp_path / 'e'}")
    assert result.returncode == 2
    assert "error: tta=True is unknown: expected one of none, flip, flip_translate" in result.stderr
