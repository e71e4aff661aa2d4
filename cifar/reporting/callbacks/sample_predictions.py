"""A grid of test images with predicted vs true class and confidence, wrong ones marked in red."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import matplotlib.pyplot as plt
import torch

from cifar.data.constants import CLASS_NAMES
from cifar.data.normalization import denormalize
from cifar.reporting.figures import CARD_INCHES, SMALL, log_figure, save_figure
from cifar.reporting.tensorboard import logging_step


class SamplePredictionsCallback(L.Callback):
    """Keeps the first ``count`` test images with what ``test_step`` returned for them
    (``preds``, ``targets``, ``confidence``) and writes ``sample_predictions.png`` at the end of
    testing; the first ``card_count`` of them, drawn to fit a TensorBoard card, go to TensorBoard as
    ``samples/test``."""

    def __init__(self, output_dir: str | Path, count: int = 32, columns: int = 8, card_count: int = 8):
        self.output_dir = Path(output_dir)
        self.count = count
        self.columns = columns
        self.card_count = min(card_count, count)
        self._samples: dict[str, torch.Tensor] | None = None

    def on_test_epoch_start(self, trainer, pl_module) -> None:
        self._samples = None

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if self._samples is not None or not isinstance(outputs, dict) or "confidence" not in outputs:
            return
        self._samples = {
            "images": denormalize(batch[0][: self.count].detach().cpu()),
            **{k: outputs[k][: self.count].detach().cpu() for k in ("preds", "targets", "confidence")},
        }

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        if not (self._samples and trainer.is_global_zero):
            return
        save_figure(self.figure(), self.output_dir / "sample_predictions.png")
        if self.card_count:
            log_figure(self.figure(self.card_count, columns=4, fontsize=SMALL, size=CARD_INCHES), trainer.loggers,
                       "samples/test", logging_step(trainer))

    def figure(self, count: int | None = None, columns: int | None = None, fontsize: float = 8,
               size: tuple[float, float] | None = None):
        s = {k: v[:count] for k, v in self._samples.items()}
        n = len(s["images"])
        columns = columns or self.columns
        rows = math.ceil(n / columns)
        fig, axes = plt.subplots(rows, columns, figsize=size or (1.9 * columns, 2.2 * rows), squeeze=False,
                                 layout="constrained" if size else None)
        for ax in axes.flat:
            ax.axis("off")
        for i, ax in enumerate(axes.flat[:n]):
            pred, true, conf = int(s["preds"][i]), int(s["targets"][i]), float(s["confidence"][i])
            ax.imshow(s["images"][i].permute(1, 2, 0).numpy(), interpolation="nearest")
            wrong = pred != true
            label = f"{CLASS_NAMES[pred]} {conf:.0%}" + (f"\n(true: {CLASS_NAMES[true]})" if wrong else "\n")
            ax.set_title(label, fontsize=fontsize, color="red" if wrong else "black", pad=2)
            if wrong:
                ax.axis("on")
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_edgecolor("red")
                    spine.set_linewidth(2)
        correct = int((s["preds"] == s["targets"]).sum())
        fig.suptitle(f"first {n} test images: predicted (confidence); {correct}/{n} correct, wrong ones in red"
                     if size is None else f"first {n} test images: {correct}/{n} correct", fontsize=fontsize + 2)
        if size is None:
            fig.tight_layout()
        return fig
