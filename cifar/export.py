"""Export a trained network: ``python -m cifar.export ckpt_path=PATH format=onnx|torchscript output=FILE``.

The exported model takes float RGB in [0, 1], NCHW, any batch size, and returns the 10 class
scores (normalization is built in). After writing, the file is loaded back (onnxruntime for
ONNX, ``torch.jit.load`` for TorchScript) and compared with PyTorch on random inputs: the
command fails, and removes the file, if the logits differ by more than ``tolerance``.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path

import torch
from omegaconf import DictConfig

from cifar.cli import entry_point
from cifar.errors import CifarError, ConfigError, check_choice
from cifar.inference.checkpoints import NormalizedClassifier, load_trained_model

log = logging.getLogger(__name__)

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
INPUT_NAME, OUTPUT_NAME = "images", "logits"

HOW_TO_RUN = {
    "onnx": (
        "import onnxruntime, numpy\n"
        "session = onnxruntime.InferenceSession('{path}')\n"
        "logits = session.run(None, {{'images': images}})[0]  # images: float32 [N, 3, 32, 32], RGB in [0, 1]"
    ),
    "torchscript": (
        "import torch\n"
        "model = torch.jit.load('{path}')\n"
        "logits = model(images)  # images: float32 tensor [N, 3, 32, 32], RGB in [0, 1]"
    ),
}


def export_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    batch = torch.export.Dim("batch", min=1, max=4096)
    torch.onnx.export(
        model, (example,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
        dynamic_shapes={"x": {0: batch}}, external_data=False, dynamo=True, verbose=False,
    )


def run_onnx(path: Path, images: torch.Tensor) -> torch.Tensor:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {INPUT_NAME: images.numpy()})[0])


def export_torchscript(model: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    with warnings.catch_warnings():  # torch >= 2.10 marks TorchScript deprecated; it still works
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.trace(model, example), str(path))


def run_torchscript(path: Path, images: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(str(path), map_location="cpu")(images)


def export(ckpt_path: str, fmt: str, output: str | None, tolerance: float, check_batch: int = 16) -> tuple[Path, float]:
    """Writes the model and returns (path, max abs logit difference against PyTorch)."""
    check_choice("format", fmt, FORMATS)
    model = load_trained_model(ckpt_path)
    classifier = NormalizedClassifier(model.net).eval()
    path = Path(output) if output else model.path.with_suffix(FORMATS[fmt])
    path.parent.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(0)
    example = torch.rand(2, 3, 32, 32)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=FORMATS[fmt], dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        (export_onnx if fmt == "onnx" else export_torchscript)(classifier, example, tmp)
        images = torch.rand(check_batch, 3, 32, 32)
        with torch.inference_mode():
            expected = classifier(images)
        actual = (run_onnx if fmt == "onnx" else run_torchscript)(tmp, images)
        diff = float((actual - expected).abs().max())
        if not diff <= tolerance:
            raise CifarError(
                f"exported {fmt} model disagrees with PyTorch: max |logit difference| {diff:.3g} > "
                f"tolerance {tolerance:g}; nothing was written"
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path, diff


@entry_point("export")
def main(cfg: DictConfig) -> None:
    for noisy in ("onnx_ir", "onnxscript", "torch.onnx"):  # per-pass INFO lines of the ONNX exporter
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not cfg.get("ckpt_path"):
        raise ConfigError("ckpt_path is required: python -m cifar.export ckpt_path=FILE.ckpt format=onnx output=model.onnx")
    path, diff = export(cfg.ckpt_path, cfg.format, cfg.output, float(cfg.tolerance))
    print(f"wrote {path} ({cfg.format}); max |logit difference| against PyTorch: {diff:.3g} (tolerance {cfg.tolerance:g})")
    print("input: float32 [N, 3, 32, 32], RGB in [0, 1] (normalization is built in); output: 10 class scores")
    print("run it with:\n" + HOW_TO_RUN[cfg.format].format(path=path))


if __name__ == "__main__":
    main()
