"""Lightning's TQDM progress bar, plus the training loss so far in the epoch."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar
from torchmetrics import MeanMetric

from cifar.metric_names import TRAIN_LOSS_RUNNING


class RunningLossProgressBar(TQDMProgressBar):
    """Adds ``train/loss_running``, the mean training loss of the epoch so far, each time the
    training bar refreshes (every ``refresh_rate`` batches).

    The step loss is not a progress-bar metric (``self.log(..., prog_bar=True)``) because
    Lightning turns every progress-bar value into a number after every batch, which waits for the
    GPU each step. This reads the module's running mean (``ImageClassifier.train_loss``) only when
    the bar refreshes, from this process's data (no cross-process sync, which only some ranks
    would reach).
    """

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict:
        items = super().get_metrics(trainer, pl_module)
        running = getattr(pl_module, "train_loss", None)
        if trainer.training and isinstance(running, MeanMetric) and running.update_called:
            items[TRAIN_LOSS_RUNNING] = float(running.mean_value / running.weight)
        return items
