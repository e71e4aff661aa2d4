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

import inspect
import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from cifar import metric_names as M
from cifar.reporting.callbacks.confusion_matrix import ConfusionMatrixCallback
from cifar.reporting.callbacks.test_outputs import TestOutputsCallback
from cifar import CONF_DIR
from cifar.cli import entry_point
from cifar.data.constants import CLASS_NAMES
from cifar.data.datamodule import CIFAR10DataModule
from cifar.errors import ConfigError, check_choice, check_range, is_int
from cifar.evaluation import calibration as C
from cifar.evaluation import robustness
from cifar.inference.checkpoints import TrainedModel, load_trained_model
from cifar.inference.tta import check_level
from cifar.reporting.evaluations import recipe_of
from cifar.reporting.figures import FILE_DPI, corruption_figure, reliability_figure, save_figure
from cifar.files import write_csv, write_json
from cifar.reporting.tables import per_class_table
from cifar.training.devices import resolve_device, trainer_device
from cifar.training.module import ImageClassifier
from cifar.training.precision import cpu_precision, precision_plugins

log = logging.getLogger(__name__)

BUILT_HERE = ("_target_", "_convert_", "net", "optimizer", "scheduler")  # not rebuilt from the checkpoint
FP16 = ("16-mixed", "16-true", "16-true-bn32")
CALIBRATIONS = ("none", "temperature")
HOLDOUT_SEED = 0  # the fixed draw of calibration.test_holdout's images


def module_settings(run_config: DictConfig) -> dict[str, Any]:
    """The run's ``module`` settings (the ones evaluate does not build itself): as the checkpoint saved
    them, or, for checkpoints from before the node existed, ``conf/train.yaml``'s node resolved against
    the run's config, each key the run's config cannot give left at ``ImageClassifier``'s default."""
    accepted = inspect.signature(ImageClassifier).parameters
    if "module" in run_config:
        node = OmegaConf.to_container(run_config.module, resolve=True)
        return {k: v for k, v in node.items() if k not in BUILT_HERE and k in accepted}
    template = OmegaConf.merge(run_config, {"module": OmegaConf.load(CONF_DIR / "train.yaml").module}).module
    settings = {}
    for key in template:
        if key in BUILT_HERE or key not in accepted:
            continue
        try:
            settings[key] = OmegaConf.to_container(OmegaConf.create({"v": template[key]}), resolve=True)["v"]
        except OmegaConfBaseException:  # an older run's config lacks the key it points to
            continue
    return settings


def classifier_for_test(trained: TrainedModel, tta: str) -> ImageClassifier:
    """The run's module around the checkpoint's network, with ``tta``; no optimizer (nothing trains),
    and no class named by the checkpoint is built but the network's (``load_trained_model`` checks it)."""
    module = ImageClassifier(net=trained.net, optimizer=None, **{**module_settings(trained.config), "tta": tta})
    module.weights_epoch = trained.epoch  # (the figures' titles name it)
    return module


def datamodule_for_test(run_config: DictConfig, given: DictConfig) -> CIFAR10DataModule:
    """The run's datamodule settings, with every non-null value of evaluate's ``data`` on top. Built here
    from plain values only: nothing the checkpoint's data config names is instantiated."""
    accepted = inspect.signature(CIFAR10DataModule).parameters
    settings = {k: v for k, v in OmegaConf.to_container(run_config.get("data") or {}, resolve=True).items()
                if k in accepted and not isinstance(v, (dict, list))}
    settings.update({k: v for k, v in OmegaConf.to_container(given, resolve=True).items()
                     if v is not None and k in accepted})
    return CIFAR10DataModule(**settings)


def test_precision(wanted: str | None, run_precision: str, device) -> str:
    precision = wanted or run_precision
    if device.type == "cpu" and precision in FP16 and not wanted:
        fallback = cpu_precision()
        log.warning("the run trained with precision=%s, which CPUs do not run: testing with %s (figures may differ "
                    "slightly from the run's)", precision, fallback)
        precision = fallback
    return precision


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    if not cfg.get("ckpt_path"):
        raise ConfigError("ckpt_path is required: python -m cifar.evaluate ckpt_path=<run>/checkpoints/<file>.ckpt")
    calibrate = check_choice("calibrate", cfg.calibrate, CALIBRATIONS)
    holdout = cfg.calibration.test_holdout
    check_range("calibration.test_holdout", holdout, is_int(holdout, 0), "an integer >= 0 (0: fit on the validation split)")
    if holdout and calibrate != "temperature":
        raise ConfigError(f"calibration.test_holdout={holdout} holds test images out for calibrate=temperature, "
                          "which is not set")
    corruptions = robustness.selected_names(cfg.corruptions.names, official=bool(cfg.corruptions.data_dir))
    severities = robustness.selected_severities(cfg.corruptions.severities)
    out = Path(cfg.paths.output_dir)
    trained = load_trained_model(cfg.ckpt_path)
    run = trained.config
    tta = check_level(cfg.tta if cfg.tta is not None else run.get("tta", "none"))
    device = resolve_device(cfg.device)
    precision = test_precision(cfg.precision, str(run.get("precision") or "32-true"), device)

    module = classifier_for_test(trained, tta)
    datamodule = datamodule_for_test(run, cfg.data)
    if calibrate == "temperature" and not holdout and not datamodule.val_size:
        raise ConfigError("calibrate=temperature fits on the run's validation split, and this run has none "
                          "(data.val_size=0): hold out test images for it with calibration.test_holdout=N")
    if holdout:  # refused before any image is tested
        datamodule.prepare_data()  # (downloads, or names what is missing, as trainer.test would)
        datamodule.setup("test")
        images = len(datamodule.test_set)
        check_range("calibration.test_holdout", holdout, holdout < images, f"fewer than the {images} test images")
    confusion = ConfusionMatrixCallback(out)
    collector = TestOutputsCallback()
    trainer = test_trainer(device, precision, out, [confusion, collector])
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
    if calibrate == "temperature":
        if holdout:
            outputs, targets, fit_outputs, fit_targets, fit_on = split_holdout(outputs, targets, holdout)
        else:
            datamodule.setup("fit")
            datamodule.use_as_test_set(datamodule.val_set.images, datamodule.val_set.labels.numpy())
            test_trainer(device, precision, out, [collector]).test(module, datamodule=datamodule, verbose=False)
            fit_outputs, fit_targets = collector.collected()
            fit_on = f"the validation split ({len(fit_targets)} images)"
        report["calibration"] = calibration_report(outputs, targets, fit_outputs, fit_targets, fit_on, out, trained)
    else:
        report["calibration"] = calibration_report(outputs, targets, None, None, None, out, trained)
    if corruptions:
        source = robustness.corrupted_source(cfg.corruptions, datamodule.data_dir, test_images, test_labels)
        report["corruptions"] = corruption_report(source, corruptions, severities, module, datamodule,
                                                  test_trainer(device, precision, out, []), out, trained)
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


def test_trainer(device, precision: str, out: Path, callbacks: list) -> L.Trainer:
    plugins = precision_plugins(precision)
    return L.Trainer(**trainer_device(device), precision=None if plugins else precision, plugins=plugins or None,
                     callbacks=callbacks, logger=False, enable_checkpointing=False, enable_model_summary=False,
                     enable_progress_bar=False, default_root_dir=out)


def split_holdout(outputs, targets, holdout: int):
    """``holdout`` test images drawn at random (a fixed draw) to fit the temperature on; the others are
    reported. Returns the reported outputs and targets, the fitting ones, and where the fit was made."""
    import torch

    order = torch.randperm(len(targets), generator=torch.Generator().manual_seed(HOLDOUT_SEED))
    fit, kept = order[:holdout], order[holdout:]
    return outputs[kept], targets[kept], outputs[fit], targets[fit], f"{holdout} held-out test images"


def calibration_report(outputs, targets, fit_outputs, fit_targets, fit_on: str | None, out: Path,
                       trained: TrainedModel) -> dict[str, Any]:
    """The calibration of the test outputs (and, with fitting outputs, after temperature scaling):
    figures, the reliability bins as ``reliability_test.csv`` and the diagram ``reliability_test.png``."""
    probs = outputs.softmax(dim=1)
    before = C.calibration_figures(outputs, targets)
    bins = C.reliability_bins(probs, targets)
    report: dict[str, Any] = {"bins": C.N_BINS, "before": before}
    scaled_bins = None
    if fit_outputs is not None:
        temperature = C.fit_temperature(fit_outputs, fit_targets)
        after = C.calibration_figures(outputs, targets, temperature)
        scaled_bins = C.reliability_bins((outputs / temperature).softmax(dim=1), targets)
        report.update({"method": "temperature", "temperature": temperature, "fit_on": fit_on, "after": after})
    report["reliability"] = C.bins_table(bins) if scaled_bins is None else [
        {**b, **{f"{k}_scaled": v for k, v in s.items() if k in ("count", "confidence", "accuracy")}}
        for b, s in zip(C.bins_table(bins), C.bins_table(scaled_bins))]
    columns = list(report["reliability"][0])
    write_csv(out / "reliability_test.csv", columns, ([row[c] if row[c] is not None else "" for c in columns]
                                                      for row in report["reliability"]))
    title = (f"test ({before['images']} images), weights of epoch {trained.epoch}: ECE {before['ece']:.3f}"
             + (f", {report['after']['ece']:.3f} at T={report['temperature']:.2f}" if scaled_bins else ""))
    save_figure(reliability_figure(bins, title, scaled_bins), out / "reliability_test.png", dpi=FILE_DPI)
    return report


def corruption_report(source, names, severities, module: ImageClassifier, datamodule: CIFAR10DataModule,
                      trainer: L.Trainer, out: Path, trained: TrainedModel) -> dict[str, Any]:
    """The corruption benchmark through the run's test step; ``corruptions.csv`` and the heat map."""
    started = time.time()

    def test(images, labels) -> dict[str, float]:
        datamodule.use_as_test_set(images, labels)
        return trainer.test(module, datamodule=datamodule, verbose=False)[0]

    table = robustness.run_benchmark(source, names, severities, test)
    table["seconds"] = round(time.time() - started, 1)
    table["generation_seconds"] = round(getattr(source, "generation_seconds", 0.0), 1)
    robustness.write_table(out / "corruptions.csv", table)
    title = (f"{table['source'].split(' (')[0]}, weights of epoch {trained.epoch}: mean "
             f"{table['mean_corruption_accuracy']:.1%}")
    save_figure(corruption_figure(table, title), out / "corruptions.png", dpi=FILE_DPI)
    return table


def calibration_words(report: dict[str, Any]) -> str:
    before = report["before"]
    line = f"calibration ({before['images']} test images, {report['bins']} bins): ECE {before['ece']:.4f}, " \
           f"NLL {before['nll']:.4f}, Brier {before['brier']:.4f}"
    if "after" in report:
        after = report["after"]
        line += (f"; temperature {report['temperature']:.3f} fit on {report['fit_on']}: ECE {after['ece']:.4f}, "
                 f"NLL {after['nll']:.4f}, Brier {after['brier']:.4f}")
    return line


@entry_point("evaluate")
def main(cfg: DictConfig) -> float:
    return evaluate(cfg)[M.TEST_ACC]


if __name__ == "__main__":
    main()
