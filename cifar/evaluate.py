"""Evaluate a checkpoint on the test set: ``python -m cifar.evaluate ckpt_path=PATH [tta=LEVEL]``.

This is the training run's own test step, not a second implementation: the ``ImageClassifier`` is
rebuilt from the checkpoint (its network and weights, its loss and TTA settings, through the same
``module`` config node that training used) and Lightning's ``trainer.test`` runs it on the run's test
split, under the run's precision. For the same checkpoint, data and ``tta`` it gives exactly the
``test/*`` figures of the training run's ``metrics.json``. Writes ``evaluation.json``,
``per_class_accuracy_test.csv`` and ``confusion_test.csv/png`` into its output folder.
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any

import lightning as L
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from cifar import metric_names as M
from cifar.callbacks import ConfusionMatrixCallback
from cifar.cli import CONF_DIR, entry_point
from cifar.data.constants import CLASS_NAMES
from cifar.data.datamodule import CIFAR10DataModule
from cifar.errors import ConfigError
from cifar.inference.checkpoints import TrainedModel, load_trained_model
from cifar.inference.tta import check_level
from cifar.reporting.files import write_json
from cifar.reporting.tables import per_class_table
from cifar.training.devices import resolve_device, trainer_device
from cifar.training.module import ImageClassifier
from cifar.training.precision import cpu_precision, precision_plugins

log = logging.getLogger(__name__)

BUILT_HERE = ("_target_", "_convert_", "net", "optimizer", "scheduler")  # not rebuilt from the checkpoint
FP16 = ("16-mixed", "16-true", "16-true-bn32")


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
    out = Path(cfg.paths.output_dir)
    trained = load_trained_model(cfg.ckpt_path)
    run = trained.config
    tta = check_level(cfg.tta if cfg.tta is not None else run.get("tta", "none"))
    device = resolve_device(cfg.device)
    precision = test_precision(cfg.precision, str(run.get("precision") or "32-true"), device)

    module = classifier_for_test(trained, tta)
    datamodule = datamodule_for_test(run, cfg.data)
    confusion = ConfusionMatrixCallback(out)
    plugins = precision_plugins(precision)
    trainer = L.Trainer(**trainer_device(device), precision=None if plugins else precision, plugins=plugins or None,
                        callbacks=[confusion], logger=False, enable_checkpointing=False, enable_model_summary=False,
                        enable_progress_bar=False, default_root_dir=out)
    results = trainer.test(module, datamodule=datamodule, verbose=False)[0]

    matrix = confusion.last["test"]
    report = {
        "checkpoint": str(trained.path),
        "model": run.model._target_,
        "epoch": trained.epoch,
        "images": int(sum(map(sum, matrix))),
        "tta": tta,
        "precision": precision,
        "device": str(device),
        **{name: float(results[name]) for name in (M.TEST_LOSS, M.TEST_ACC, M.TEST_ACC_NO_TTA) if name in results},
        "training_config": OmegaConf.to_container(run, resolve=True),
    }
    write_json(out / "evaluation.json", report)
    print(f"checkpoint {trained.path} ({report['model']}, epoch {trained.epoch})")
    no_tta = f" ({report[M.TEST_ACC_NO_TTA]:.2%} without TTA)" if M.TEST_ACC_NO_TTA in report else ""
    print(f"test: {report['images']} images, tta={tta}, {precision}: loss {report[M.TEST_LOSS]:.4f}, "
          f"accuracy {report[M.TEST_ACC]:.2%}{no_tta}")
    print(per_class_table(matrix, CLASS_NAMES))
    print(f"written to {out}")
    return report


@entry_point("evaluate")
def main(cfg: DictConfig) -> float:
    return evaluate(cfg)[M.TEST_ACC]


if __name__ == "__main__":
    main()
