"""Evaluate a checkpoint on the test set: ``python -m cifar.evaluate ckpt_path=PATH [tta=LEVEL] [calibrate=temperature]``.

This is the training run's own test step, not a second implementation: the ``ImageClassifier`` is
rebuilt from the checkpoint (its network and weights, its loss and TTA settings, through the same
``module`` config node that training used) and Lightning's ``trainer.test`` runs it on the run's test
split, under the run's precision. For the same checkpoint, data and ``tta`` it gives exactly the
``test/*`` figures of the training run's ``metrics.json``. Writes ``evaluation.json``,
``per_class_accuracy_test.csv``, ``confusion_test.csv/png`` and the reliability diagram
(``reliability_test.png/csv``) into its output folder. ``calibrate=temperature`` fits a temperature on
the run's validation split (or on ``calibration.test_holdout`` test images) and reports the calibration
before and after it. ``corruptions.names=all`` (or a list) adds the corruption benchmark
(``cifar/evaluation/robustness.py``): ``corruptions.csv/png`` and its table on stdout.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from cifar import metric_names as M
from cifar.reporting.callbacks.confusion_matrix import ConfusionMatrixCallback
from cifar.reporting.callbacks.test_outputs import TestOutputsCallback
from cifar.cli import entry_point
from cifar.data.constants import CLASS_NAMES
from cifar.errors import ConfigError, check_choice, check_range, is_int
from cifar.evaluation import calibration as C
from cifar.evaluation import robustness
from cifar.inference.checkpoints import load_trained_model
from cifar.inference.tta import check_level
from cifar.reporting.evaluations import recipe_of
from cifar.files import write_json
from cifar.reporting.evaluation_files import calibration_words, write_calibration, write_corruptions
from cifar.reporting.tables import per_class_table
from cifar.training.devices import resolve_device
from cifar.training.factory import build_test_run, testing_precision, testing_trainer

log = logging.getLogger(__name__)

CALIBRATIONS = ("none", "temperature")


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    if not cfg.get("ckpt_path"):
        raise ConfigError("ckpt_path is required: python -m cifar.evaluate ckpt_path=<run>/checkpoints/<file>.ckpt")
    calibrate = check_choice("calibrate", cfg.calibrate, CALIBRATIONS)
    holdout = cfg.calibration.test_holdout
    check_range("calibration.test_holdout", holdout, is_int(holdout, 0), "an integer >= 0 (0: fit on the validation split)")
    if holdout and calibrate != "temperature":
        raise ConfigError(f"calibration.test_holdout={holdout} holds test images out for calibrate=temperature, "
                          "which is not set")
    corruptions = robustness.selected_names(cfg.corruptions.names)
    severities = robustness.selected_severities(cfg.corruptions.severities)
    out = Path(cfg.paths.output_dir)
    trained = load_trained_model(cfg.ckpt_path)
    run = trained.config
    tta = check_level(cfg.tta if cfg.tta is not None else run.get("tta", "none"))
    device = resolve_device(cfg.device)
    precision = testing_precision(cfg.precision, str(run.get("precision") or "32-true"), device)
    confusion = ConfusionMatrixCallback(out)
    collector = TestOutputsCallback()
    test_run = build_test_run(trained, tta, precision, device, cfg.data, out, [confusion, collector])
    module, datamodule, trainer = test_run.module, test_run.datamodule, test_run.trainer
    if calibrate == "temperature" and not holdout and not datamodule.val_size:
        raise ConfigError("calibrate=temperature fits on the run's validation split, and this run has none "
                          "(data.val_size=0): hold out test images for it with calibration.test_holdout=N")
    if holdout:  # refused before any image is tested
        datamodule.prepare_data()  # (downloads, or names what is missing, as trainer.test would)
        datamodule.setup("test")
        images = len(datamodule.test_set)
        check_range("calibration.test_holdout", holdout, holdout < images, f"fewer than the {images} test images")
    results = trainer.test(module, datamodule=datamodule, verbose=False)[0]
    outputs, targets = collector.collected()
    test_images, test_labels = datamodule.test_set.images, datamodule.test_set.labels.numpy()

    matrix = confusion.last["test"]
    report = {
        "checkpoint": str(trained.path),
        "recipe": recipe_of(trained.path, run.model._target_),  # (kept: the run folder may move or go)
        "model": run.model._target_,
        "epoch": trained.epoch,
        "images": int(sum(map(sum, matrix))),
        "tta": tta,
        "precision": precision,
        "device": str(device),
        **{name: float(results[name]) for name in (M.TEST_LOSS, M.TEST_ACC, M.TEST_ACC_NO_TTA, M.TEST_ECE, M.TEST_BRIER)
           if name in results},
    }
    fit = None
    if calibrate == "temperature" and holdout:
        outputs, targets, *fit = C.split_holdout(outputs, targets, holdout)
    elif calibrate == "temperature":  # the same test step on the validation split
        datamodule.setup("fit")
        datamodule.use_as_test_set(datamodule.val_set.images, datamodule.val_set.labels.numpy())
        testing_trainer(device, precision, out, [collector]).test(module, datamodule=datamodule, verbose=False)
        fit = [*collector.collected(), f"the validation split ({len(datamodule.val_set)} images)"]
    report["calibration"], bins, scaled_bins = C.calibration_report(outputs, targets, *(fit or []))
    write_calibration(report["calibration"], bins, scaled_bins, out, trained.epoch)
    if corruptions:
        source = robustness.corrupted_source(cfg.corruptions, datamodule.data_dir, test_images, test_labels)
        corrupted_trainer = testing_trainer(device, precision, out, [])

        def test(images, labels) -> dict[str, float]:  # the run's test step on corrupted images
            datamodule.use_as_test_set(images, labels)
            return corrupted_trainer.test(module, datamodule=datamodule, verbose=False)[0]

        report["corruptions"] = robustness.run_benchmark(source, corruptions, severities, test)
        write_corruptions(report["corruptions"], out, trained.epoch)
    report["training_config"] = OmegaConf.to_container(run, resolve=True)
    write_json(out / "evaluation.json", report)
    print(f"checkpoint {trained.path} ({report['model']}, epoch {trained.epoch})")
    no_tta = f" ({report[M.TEST_ACC_NO_TTA]:.2%} without TTA)" if M.TEST_ACC_NO_TTA in report else ""
    print(f"test: {report['images']} images, tta={tta}, {precision}: loss {report[M.TEST_LOSS]:.4f}, "
          f"accuracy {report[M.TEST_ACC]:.2%}{no_tta}, ECE {report[M.TEST_ECE]:.4f}, Brier {report[M.TEST_BRIER]:.4f}")
    print(calibration_words(report["calibration"]))
    print(per_class_table(matrix, CLASS_NAMES))
    if corruptions:
        print(robustness.markdown(report["corruptions"], report[M.TEST_ACC]))
    print(f"written to {out}")
    return report


@entry_point("evaluate")
def main(cfg: DictConfig) -> float:
    return evaluate(cfg)[M.TEST_ACC]


if __name__ == "__main__":
    main()
