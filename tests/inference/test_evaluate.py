"""``python -m cifar.evaluate`` is the training run's own test step: the same figures, the same names."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cifar import metric_names as M
from cifar.data.constants import CLASS_NAMES
from cifar.evaluate import evaluate as run_evaluate
from cifar.train import train
from helpers import TINY_RUN, compose_run, run_cli

# one epoch of speedrun85 on the tiny data (200 training images, no validation split), 6-view TTA
TINY_SPEEDRUN = ["experiment=speedrun85", "data.batch_size=32", "data.eval_batch_size=20", "trainer.max_epochs=1",
                 "trainer.max_steps=-1", "trainer.enable_progress_bar=false", "logger=none"]
TEST_FIGURES = (M.TEST_ACC, M.TEST_LOSS, M.TEST_ACC_NO_TTA)


def evaluate(tmp_path: Path, *args: str) -> dict:
    """``python -m cifar.evaluate args...`` in this process (the command line itself: the last test)."""
    out = tmp_path / "evaluation"
    report = run_evaluate(compose_run(out, *args, config="evaluate"))
    assert report == json.loads((out / "evaluation.json").read_text())
    return report


def checkpoint_of(metrics: dict) -> str:
    return metrics["best_checkpoint"] or str(Path(metrics["output_dir"]) / "checkpoints" / "last.ckpt")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_data) -> dict[str, dict]:
    """Two finished runs, by their metrics.json: the default recipe with flip TTA, and a speedrun (6 views)."""
    found = {}
    for name, overrides in (("default", [*TINY_RUN, "trainer.max_epochs=1", "logger=none", "tta=flip"]),
                            ("speedrun", TINY_SPEEDRUN)):
        out = tmp_path_factory.mktemp(name)
        train(compose_run(out, *overrides, data_dir=tiny_data))
        found[name] = json.loads((out / "metrics.json").read_text())
    return found


@pytest.mark.parametrize("run", ["default", "speedrun"])
def test_evaluate_gives_exactly_the_training_runs_test_figures(tmp_path, runs, run):
    metrics = runs[run]
    report = evaluate(tmp_path, f"ckpt_path={checkpoint_of(metrics)}")
    assert report["tta"] == ("flip" if run == "default" else "flip_translate")
    assert report["precision"] == metrics["config"]["precision"]
    for name in TEST_FIGURES:
        assert report[name] == metrics[name], name  # exactly: the same step, data, batches and precision
    assert report["images"] == 40


def test_evaluate_takes_the_tta_levels_and_writes_the_runs_file_names(tmp_path, runs, tiny_data):
    metrics = runs["default"]
    ckpt = checkpoint_of(metrics)
    plain = evaluate(tmp_path / "none", f"ckpt_path={ckpt}", "tta=none", f"data.data_dir={tiny_data}")
    assert plain[M.TEST_ACC] == metrics[M.TEST_ACC_NO_TTA] and M.TEST_ACC_NO_TTA not in plain  # the plain view
    six = evaluate(tmp_path / "six", f"ckpt_path={ckpt}", "tta=flip_translate")
    assert six["tta"] == "flip_translate" and six[M.TEST_ACC_NO_TTA] == metrics[M.TEST_ACC_NO_TTA]
    out = tmp_path / "six" / "evaluation"
    with open(out / "per_class_accuracy_test.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert [r[0] for r in rows[1:]] == list(CLASS_NAMES)
    assert sum(int(r[1]) for r in rows[1:]) == round(six[M.TEST_ACC] * 40)
    assert (out / "confusion_test.csv").is_file() and (out / "confusion_test.png").read_bytes()[:4] == b"\x89PNG"


def test_the_evaluate_command_prints_the_figures_and_refuses_an_unknown_tta_level(tmp_path, runs):
    ckpt = checkpoint_of(runs["default"])
    result = run_cli("evaluate", f"ckpt_path={ckpt}", f"hydra.run.dir={tmp_path / 'ok'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"accuracy {runs['default'][M.TEST_ACC]:.2%}" in result.stdout and "| airplane |" in result.stdout
    result = run_cli("evaluate", f"ckpt_path={ckpt}", "tta=true", f"hydra.run.dir={tmp_path / 'bad'}")
    assert result.returncode == 2
    assert "error: tta=True is unknown: expected one of none, flip, flip_translate" in result.stderr


def test_a_checkpoint_from_before_the_module_node_evaluates_the_same(tmp_path, runs):
    import torch

    metrics = runs["default"]
    checkpoint = torch.load(checkpoint_of(metrics), map_location="cpu", weights_only=True)
    del checkpoint["hyper_parameters"]["module"]  # what first-round checkpoints carry
    old = tmp_path / "old.ckpt"
    torch.save(checkpoint, old)
    report = evaluate(tmp_path, f"ckpt_path={old}")
    assert report["tta"] == "flip" and report[M.TEST_ACC] == metrics[M.TEST_ACC]


def test_evaluate_builds_nothing_the_checkpoints_data_config_names(tmp_path, runs, capsys):
    import torch

    metrics = runs["default"]
    checkpoint = torch.load(checkpoint_of(metrics), map_location="cpu", weights_only=True)
    checkpoint["hyper_parameters"]["data"]["augment"] = {"_target_": "builtins.print", "_args_": ["pwned"]}
    crafted = tmp_path / "crafted.ckpt"
    torch.save(checkpoint, crafted)
    report = evaluate(tmp_path, f"ckpt_path={crafted}")
    assert "pwned" not in capsys.readouterr().out and report[M.TEST_ACC] == metrics[M.TEST_ACC]
