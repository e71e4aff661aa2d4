"""The learning rate of every parameter group, as ``lr/<group>`` (``lr/default`` for a single group)."""

from __future__ import annotations

import lightning as L

from cifar.errors import check_choice
from cifar.reporting.tensorboard import logging_step
from cifar.training.param_groups import learning_rates

INTERVALS = ("step", "epoch")


class LearningRateCallback(L.Callback):
    """Logs ``lr/<group name>`` on every step the loggers write (``trainer.log_every_n_steps``), or once per
    epoch. Ours because Lightning's ``LearningRateMonitor`` names its tags after the optimizer class
    (``lr-AdamW``, ``lr-Muon/filters``), so the curves of runs with different optimizers never share a chart."""

    def __init__(self, logging_interval: str = "step"):
        check_choice("callbacks.learning_rate.logging_interval", logging_interval, INTERVALS)
        self.logging_interval = logging_interval

    def on_train_batch_start(self, trainer: L.Trainer, pl_module, batch, batch_idx: int) -> None:
        if self.logging_interval == "step" and trainer._logger_connector.should_update_logs:
            self._log(trainer)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module) -> None:
        if self.logging_interval == "epoch":
            self._log(trainer)

    @staticmethod
    def _log(trainer: L.Trainer) -> None:
        if not trainer.optimizers or not trainer.loggers:  # (no logger: nowhere for the curve to go)
            return
        rates = {f"lr/{name}": lr for name, lr in learning_rates(trainer.optimizers[0]).items()}
        for logger in trainer.loggers:
            logger.log_metrics(rates, step=logging_step(trainer))
