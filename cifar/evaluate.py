"""Evaluate a checkpoint on the test set: ``python -m cifar.evaluate ckpt_path=PATH [tta=true]``.

Prints test loss and accuracy (and beside them the flip-TTA figures with ``tta=true``) and a
per-class accuracy table; writes ``evaluation.json``, ``per_class_accuracy.csv`` and
``confusion_test.csv/png`` into the run directory. The network is rebuilt from the checkpoint;
``data.*`` overrides say where the test data is.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from cifar.inference.checkpoints import load_trained_model
from cifar.data.constants import CLASS_NAMES
from cifar.errors import CifarError, ConfigError
from cifar.evaluation import evaluate, pick_device
from cifar.training.factory import build
from cifar.reporting.files import confusion_figure, per_class_table, save_figure, write_confusion_csv, write_json, write_per_class_csv

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict:
    if not cfg.get("ckpt_path"):
        raise ConfigError("ckpt_path is required: python -m cifar.evaluate ckpt_path=<run>/checkpoints/<file>.ckpt")
    out = Path(cfg.paths.output_dir)
    model = load_trained_model(cfg.ckpt_path)
    datamodule = build(cfg.data, "data")
    datamodule.prepare_data()
    datamodule.setup("test")
    device = pick_device(cfg.device)

    plain = evaluate(model.net, datamodule.test_dataloader(), device)
    report = {
        "checkpoint": str(model.path),
        "model": model.config.model._target_,
        "epoch": model.epoch,
        "images": plain.images,
        "test/loss": plain.loss,
        "test/acc": plain.acc,
    }
    print(f"checkpoint {model.path} ({model.config.model._target_}, epoch {model.epoch})")
    print(f"test: {plain.images} images, loss {plain.loss:.4f}, accuracy {plain.acc:.2%}", end="")
    if cfg.tta:
        flipped = evaluate(model.net, datamodule.test_dataloader(), device, flip_tta=True)
        report.update({"test_tta/loss": flipped.loss, "test_tta/acc": flipped.acc})
        print(f"; with flip TTA: loss {flipped.loss:.4f}, accuracy {flipped.acc:.2%}", end="")
    print()
    print(per_class_table(plain.confusion, CLASS_NAMES))

    write_per_class_csv(out / "per_class_accuracy.csv", plain.confusion, CLASS_NAMES)
    write_confusion_csv(out / "confusion_test.csv", plain.confusion, CLASS_NAMES)
    save_figure(confusion_figure(plain.confusion, CLASS_NAMES, f"test confusion matrix ({model.path.name})"),
                out / "confusion_test.png")
    report["training_config"] = OmegaConf.to_container(model.config, resolve=True)
    write_json(out / "evaluation.json", report)
    print(f"written to {out}")
    return report


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> float:
    try:
        return run(cfg)["test/acc"]
    except CifarError as exc:
        log.error("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
