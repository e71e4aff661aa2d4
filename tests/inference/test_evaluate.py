"""``python -m cifar.evaluate`` is the training run's own test step: the same figures, the same names."""

from __future__ import annotations

import csv
import json
import shutil
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
TEST_FIGURES = (M.TEST_ACC, M.TEST_LOSS, M.TEST_ACC_NO_TTA, M.TEST_ECE, M.TEST_BRIER)


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


def test_evaluate_reports_the_calibration_and_draws_the_reliability_diagram(tmp_path, runs):
    report = evaluate(tmp_path, f"ckpt_path={checkpoint_of(runs['default'])}")
    calibration = report["calibration"]
    assert "after" not in calibration and calibration["bins"] == 15
    # the test step's metrics and the figures from its collected outputs agree
    assert calibration["before"]["ece"] == pytest.approx(report[M.TEST_ECE], abs=1e-6)
    assert calibration["before"]["brier"] == pytest.approx(report[M.TEST_BRIER], abs=1e-6)
    # (the NLL is not test/loss: the recipe's loss smooths its labels)
    assert calibration["before"]["nll"] != pytest.approx(report[M.TEST_LOSS], abs=1e-4)
    assert sum(row["count"] for row in calibration["reliability"]) == 40
    out = tmp_path / "evaluation"
    with open(out / "reliability_test.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 15 and sum(int(r["count"]) for r in rows) == 40
    assert (out / "reliability_test.png").read_bytes()[:4] == b"\x89PNG"


def test_temperature_scaling_fits_on_the_validation_split_and_keeps_every_prediction(tmp_path, runs):
    report = evaluate(tmp_path, f"ckpt_path={checkpoint_of(runs['default'])}", "calibrate=temperature")
    calibration = report["calibration"]
    assert calibration["fit_on"] == "the validation split (40 images)" and calibration["temperature"] > 0
    assert calibration["after"]["accuracy"] == calibration["before"]["accuracy"] == pytest.approx(report[M.TEST_ACC])
    assert calibration["after"]["images"] == 40
    assert {"count_scaled", "accuracy_scaled"} <= set(calibration["reliability"][0])


def test_a_run_without_a_validation_split_needs_held_out_test_images_to_calibrate(tmp_path, runs):
    ckpt = f"ckpt_path={checkpoint_of(runs['speedrun'])}"  # trained on all 200 images: no validation split
    result = run_cli("evaluate", ckpt, "calibrate=temperature", f"hydra.run.dir={tmp_path / 'refused'}")
    assert result.returncode == 2
    assert ("error: calibrate=temperature fits on the run's validation split, and this run has none (data.val_size=0)"
            ": hold out test images for it with calibration.test_holdout=N") in result.stderr
    report = evaluate(tmp_path, ckpt, "calibrate=temperature", "calibration.test_holdout=15")
    calibration = report["calibration"]
    assert calibration["fit_on"] == "15 held-out test images"
    assert calibration["before"]["images"] == calibration["after"]["images"] == 25  # the others
    assert calibration["after"]["accuracy"] == calibration["before"]["accuracy"]
    result = run_cli("evaluate", ckpt, "calibration.test_holdout=15", f"hydra.run.dir={tmp_path / 'alone'}")
    assert result.returncode == 2 and "error: calibration.test_holdout=15 holds test images out for " \
        "calibrate=temperature, which is not set" in result.stderr
    result = run_cli("evaluate", ckpt, "calibrate=temperature", "calibration.test_holdout=40",
                     f"hydra.run.dir={tmp_path / 'all'}")
    assert result.returncode == 2 and "error: calibration.test_holdout=40 is out of range: expected fewer than the " \
        "40 test images" in result.stderr
    assert not (tmp_path / "all" / "evaluation.json").exists()


def test_each_corruption_cell_is_the_test_step_on_those_images(tmp_path, runs, tiny_data):
    """An "official" set whose every severity is the clean test set: every cell is exactly test/acc."""
    import numpy as np

    from cifar.data.datamodule import CIFAR10DataModule

    datamodule = CIFAR10DataModule(data_dir=str(tiny_data), num_workers=0)
    datamodule.setup("test")
    folder = tmp_path / "cifar10-c"
    folder.mkdir()
    np.save(folder / "labels.npy", np.tile(datamodule.test_set.labels.numpy(), 5))
    np.save(folder / "fog.npy", np.tile(datamodule.test_set.images, (5, 1, 1, 1)))
    report = evaluate(tmp_path, f"ckpt_path={checkpoint_of(runs['default'])}", "corruptions.names=[fog]",
                      f"corruptions.data_dir={folder}")
    table = report["corruptions"]
    assert table["source"] == "CIFAR-10-C (the official release)" and table["images_per_cell"] == 40
    assert table["accuracy"]["fog"] == {str(s): report[M.TEST_ACC] for s in (1, 2, 3, 4, 5)}
    assert table["mean_corruption_accuracy"] == report[M.TEST_ACC] and table["worst"]["corruption"] == "fog"


def test_the_corruption_benchmark_on_generated_images_through_the_command_line(tmp_path, runs, frost_photographs):
    ckpt = f"ckpt_path={checkpoint_of(runs['default'])}"
    shutil.copytree(frost_photographs, tmp_path / "cache" / "frost")  # where a run keeps them (else fetched there)
    args = [ckpt, "corruptions.names=[gaussian_noise,frost,contrast]", "corruptions.severities=[1,5]",
            f"corruptions.cache_dir={tmp_path / 'cache'}"]
    result = run_cli("evaluate", *args, f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Corruption accuracy, generated here (make_cifar_c.py's steps" in result.stdout
    assert "CIFAR-10-C's distribution, not its images" in result.stdout
    assert "| gaussian_noise |" in result.stdout and "| frost |" in result.stdout and "| **mean** |" in result.stdout
    out = tmp_path / "run"
    report = json.loads((out / "evaluation.json").read_text())["corruptions"]
    assert set(report["accuracy"]) == {"gaussian_noise", "frost", "contrast"} and report["severities"] == [1, 5]
    with open(out / "corruptions.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["corruption", "severity 1", "severity 5", "mean"]
    assert [r[0] for r in rows[1:]] == ["gaussian_noise", "frost", "contrast", "mean"]
    assert float(rows[1][1]) == pytest.approx(report["accuracy"]["gaussian_noise"]["1"], abs=1e-4)
    assert (out / "corruptions.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in (tmp_path / "cache" / "seed0").iterdir()) == [
        "contrast.npy", "frost.npy", "gaussian_noise.npy", "labels.npy", "manifest.json"]
    again = run_cli("evaluate", *args, f"hydra.run.dir={tmp_path / 'again'}")  # from the cache: the same figures
    assert json.loads((tmp_path / "again" / "evaluation.json").read_text())["corruptions"]["accuracy"] == report["accuracy"]


def test_the_report_lists_evaluations_with_their_calibration_and_robustness(tmp_path, runs):
    ckpt = f"ckpt_path={checkpoint_of(runs['default'])}"
    first = evaluate(tmp_path / "a", ckpt, "calibrate=temperature", "corruptions.names=[contrast]",
                     "corruptions.severities=[2]", f"corruptions.cache_dir={tmp_path / 'cache'}")
    evaluate(tmp_path / "b", ckpt, "tta=none")
    result = run_cli("report", "--evaluations", str(tmp_path), "--csv", str(tmp_path / "table.csv"))
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("| `")]
    assert len(lines) == 2
    calibrated = next(line for line in lines if "(1)" in line)  # one corruption
    assert f"{first[M.TEST_ACC]:.2%}" in calibrated and f"{first['calibration']['after']['ece']:.4f}" in calibrated
    assert f"contrast ({first['corruptions']['mean_accuracy']['contrast']:.2%})" in calibrated
    assert first["tta"] == "flip" and "| flip |" in calibrated  # the run's own TTA, unless told otherwise
    assert "| none |" in next(line for line in lines if line != calibrated)
    assert "Corrupted images: generated here (make_cifar_c.py's steps" in result.stdout
    assert (tmp_path / "table.csv").read_text().startswith("recipe,epoch,tta,test acc,ECE,ECE after T")
    result = run_cli("report", "--evaluations", str(tmp_path / "cache"))
    assert result.returncode == 2 and "holds no evaluation.json (the output of python -m cifar.evaluate)" in result.stderr


def test_an_evaluation_names_its_run_after_the_run_folder_is_gone(tmp_path, runs):
    run = shutil.copytree(runs["default"]["output_dir"], tmp_path / "run")  # (moved, then deleted below)
    report = evaluate(tmp_path, f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", "tta=none")
    seed = runs["default"]["config"]["seed"]
    assert report["recipe"] == f"(defaults), seed {seed}"  # the run's overrides (none here) and its seed
    result = run_cli("report", "--evaluations", str(tmp_path / "evaluation"), "--records", str(tmp_path / "records"))
    assert result.returncode == 0, result.stderr[-2000:]
    shutil.rmtree(run)
    # no figures or tables (and no .hydra/: this evaluation ran in-process)
    assert [p.name for p in (tmp_path / "records" / "evaluation").rglob("*") if p.is_file()] == ["evaluation.json"]
    kept = run_cli("report", "--evaluations", str(tmp_path / "records"))
    assert kept.returncode == 0 and kept.stdout == result.stdout and f"| `(defaults), seed {seed}` | none |" in kept.stdout
