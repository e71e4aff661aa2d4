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


class ConfusionMatrixCallback(L.Callback):
    """Accumulates torchmetrics' ``MulticlassConfusionMatrix`` over the predictions that
    ``validation_step``/``test_step`` return (``{"preds", "targets"}``).

    At the end of every validation epoch and of testing it writes ``confusion_<stage>.csv``
    (counts; rows true, columns predicted) and ``confusion_<stage>.png`` into ``output_dir``,
    replacing the previous ones, and logs the figure to TensorBoard as ``confusion/<stage>``.
    Testing also writes ``per_class_accuracy_test.csv``. ``figure=False`` writes the CSVs only
    (drawing the figure takes 0.2-0.5 s).
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
        title = f"{stage} confusion matrix (epoch {trainer.current_epoch})"
        save_and_log_figure(confusion_figure(matrix, self.class_names, title), self.output_dir / f"confusion_{stage}.png",
                            trainer.loggers, f"confusion/{stage}", trainer.global_step)

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
