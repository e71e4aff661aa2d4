"""Classify your own images: ``python -m cifar.predict ckpt_path=PATH inputs=FILE_OR_FOLDER [topk=N]``.

Prints one line per image: its path, then the ``topk`` most likely classes with their
probabilities; also writes ``predictions.csv`` into the run directory. Files that are not
images are reported on stderr, the others are still classified, and the exit status is 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from omegaconf import DictConfig

from cifar.cli import entry_point
from cifar.data.constants import CLASS_NAMES, NUM_CLASSES
from cifar.errors import CifarError, ConfigError, check_range, is_int
from cifar.inference.checkpoints import NormalizedClassifier, load_trained_model
from cifar.inference.images import list_inputs, load_image
from cifar.files import write_csv
from cifar.training.devices import resolve_device


@torch.inference_mode()
def classify(classifier: torch.nn.Module, images: torch.Tensor, topk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 [N, 3, 32, 32] -> (probabilities, class indices), each [N, topk], most likely first."""
    device = next(classifier.parameters()).device
    probs = torch.softmax(classifier(images.to(device).float() / 255.0).float(), dim=1)
    return probs.topk(topk, dim=1)


def run(cfg: DictConfig) -> int:
    if not cfg.get("ckpt_path") or not cfg.get("inputs"):
        raise ConfigError("ckpt_path and inputs are required: python -m cifar.predict ckpt_path=FILE.ckpt inputs=IMAGE_OR_FOLDER")
    check_range("topk", cfg.topk, is_int(cfg.topk) and 1 <= cfg.topk <= NUM_CLASSES, f"an integer in 1..{NUM_CLASSES}")
    check_range("batch_size", cfg.batch_size, is_int(cfg.batch_size, 1), "an integer >= 1")
    model = load_trained_model(cfg.ckpt_path)
    classifier = NormalizedClassifier(model.net).to(resolve_device(cfg.device)).eval()
    paths = list_inputs(cfg.inputs)

    failed, rows = 0, []
    for start in range(0, len(paths), cfg.batch_size):
        batch_paths, batch_images = [], []
        for path in paths[start : start + cfg.batch_size]:
            try:
                batch_images.append(load_image(path))
                batch_paths.append(path)
            except CifarError as exc:
                failed += 1
                print(f"error: {exc}", file=sys.stderr)
        if not batch_images:
            continue
        probs, classes = classify(classifier, torch.stack(batch_images), int(cfg.topk))
        for path, p, c in zip(batch_paths, probs.tolist(), classes.tolist()):
            guesses = [(CLASS_NAMES[i], prob) for i, prob in zip(c, p)]
            print(f"{path}  " + "  ".join(f"{name} {prob:.4f}" for name, prob in guesses), flush=True)
            rows.append([str(path), *(v for g in guesses for v in (g[0], f"{g[1]:.6f}"))])

    header = ["path"] + [f"{kind}{k}" for k in range(1, int(cfg.topk) + 1) for kind in ("class", "prob")]
    write_csv(Path(cfg.paths.output_dir) / "predictions.csv", header, rows)
    if failed:
        print(f"error: {failed} of {len(paths)} files could not be read as images", file=sys.stderr)
    return 1 if failed or not paths else 0


@entry_point("predict")
def main(cfg: DictConfig) -> None:
    status = run(cfg)
    if status:
        sys.exit(status)


if __name__ == "__main__":
    main()
