"""Validation and test confusion matrices: TensorBoard images plus CSV and PNG in the run folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import lightning as L
from torchmetrics.classification import MulticlassConfusionMatrix

from cifar.data.constants import CLASS_NAMES
from cifar.errors import check_bool
from cifar.reporting.figures import confusion_figure, save_and_log_figure
from cifar.reporting.tables import write_confusion_csv, write_per_class_csv
from cifar.reporting.tensorboard import logging_step


class ConfusionMatrixCallback(L.Callback):
    """Accumulates torchmetrics' ``MulticlassConfusionMatrix`` over the predictions that
    ``validation_step``/``test_step`` return (``{"preds", "targets"}``).

    At the end of every validation epoch and of testing it writes ``confusion_<stage>.csv``
    (counts; rows true, columns predicted) into ``output_dir``, replacing the previous one, and draws two
    figures titled with the stage, the epoch and the accuracy: each true class's shares in percent
    (``confusion_<stage>.png``, TensorBoard ``confusion/<stage>``) and the counts
    (``confusion_<stage>_counts.png``, ``confusion/<stage>_counts``), logged at the step of the stage's
    scalars. Testing also writes ``per_class_accuracy_test.csv``. ``figure=False`` writes the CSVs only
    (the two figures take about 0.5 s).
    """

    def __init__(self, output_dir: str | Path, class_names: Sequence[str] = CLASS_NAMES, figure: bool = True):
        check_bool("callbacks.confusion_matrix.figure", figure)
        self.output_dir = Path(output_dir)
        self.draws_figure = bool(figure)
        self.class_names = list(class_names)
        self._matrices: dict[str, MulticlassConfusionMatrix] = {}
        self.last: dict[str, list[list[int]]] = {}  # the latest matrix of each stage (rows true)

    def _matrix(self, stage: str, pl_module: L.LightningModule) -> MulticlassConfusionMatrix:
        if stage not in self._matrices:
            self._matrices[stage] = MulticlassConfusionMatrix(num_classes=len(self.class_names))
        return self._matrices[stage].to(pl_module.device)

    def _update(self, stage: str, pl_module, outputs) -> None:
        if isinstance(outputs, dict) and "preds" in outputs:
            self._matrix(stage, pl_module).update(outputs["preds"], outputs["targets"])

    def _finish(self, stage: str, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metric = self._matrix(stage, pl_module)
        if not metric.update_called:
            return
        matrix = metric.compute().cpu()  # synchronized across processes
        metric.reset()
        self.last[stage] = matrix.tolist()
        if not trainer.is_global_zero:
            return
        write_confusion_csv(self.output_dir / f"confusion_{stage}.csv", matrix.tolist(), self.class_names)
        if stage == "test":
            write_per_class_csv(self.output_dir / "per_class_accuracy_test.csv", matrix.tolist(), self.class_names)
        if not self.draws_figure:
            return
        correct = float(matrix.diagonal().sum()) / max(float(matrix.sum()), 1.0)
        title = f"{stage}, {self._epoch_words(stage, trainer, pl_module)}: {correct:.1%} correct"
        step = logging_step(trainer)
        for suffix, normalized in (("", True), ("_counts", False)):
            figure = confusion_figure(matrix, self.class_names, title + (" (counts)" if suffix else ""), normalized)
            save_and_log_figure(figure, self.output_dir / f"confusion_{stage}{suffix}.png", trainer.loggers,
                                f"confusion/{stage}{suffix}", step)

    @staticmethod
    def _epoch_words(stage: str, trainer: L.Trainer, pl_module: L.LightningModule) -> str:
        """Which epoch's weights the matrix is of (epoch 0 = the first, as in the checkpoint names)."""
        if stage == "val" and trainer.state.fn == "fit":
            return f"epoch {trainer.current_epoch}"
        epoch = getattr(pl_module, "weights_epoch", None)
        return "weights of epoch ?" if epoch is None else f"weights of epoch {epoch}"

    # -- hooks --------------------------------------------------------------------------------

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        if not trainer.sanity_checking:
            self._update("val", pl_module, outputs)

    def on_validation_epoch_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            self._matrix("val", pl_module).reset()
            return
        self._finish("val", trainer, pl_module)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self._update("test", pl_module, outputs)

    def on_test_epoch_end(self, trainer, pl_module):
        self._finish("test", trainer, pl_module)
