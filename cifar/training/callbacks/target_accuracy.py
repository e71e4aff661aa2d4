"""Stop training as soon as validation accuracy reaches a target."""

from __future__ import annotations

from typing import Any

import lightning as L

from cifar import metric_names as M
from cifar.errors import check_range, is_number


class TargetAccuracyCallback(L.Callback):
    """Stops fit after the first validation whose ``monitor`` is >= ``target`` (no-op for None).

    Lightning's ``EarlyStopping(stopping_threshold=...)`` compares with a strict ``>`` and is
    tied to early stopping being on; a recipe such as "stop as soon as val accuracy reaches 85%"
    needs neither. ``reached_epoch`` (1-based) says when the target was reached.
    """

    def __init__(self, target: float | None, monitor: str = M.VAL_ACC):
        check_range("target_acc", target, target is None or (is_number(target) and 0 < target <= 1),
                    "null or a number in (0, 1]")
        self.target = target
        self.monitor = monitor
        self.reached_epoch: int | None = None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.target is None or trainer.sanity_checking or trainer.state.fn != "fit":
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is not None and float(value) >= self.target:
            if self.reached_epoch is None:
                self.reached_epoch = trainer.current_epoch + 1
            trainer.should_stop = True

    def state_dict(self) -> dict[str, Any]:
        return {"reached_epoch": self.reached_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.reached_epoch = state_dict.get("reached_epoch")
