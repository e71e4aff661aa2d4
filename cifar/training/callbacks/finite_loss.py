"""Stop a run whose training loss became NaN or infinite, with a clear message."""

from __future__ import annotations

import lightning as L
import torch

from cifar.errors import CifarError
from cifar.metric_names import TRAIN_LOSS


class DivergedError(CifarError):
    """The training loss stopped being a finite number."""


class FiniteLossCallback(L.Callback):
    """Checks the training loss every ``every_n_steps`` steps (a check is a host sync, so not
    every step) and the epoch's mean loss at its end, before the epoch's checkpoint is written
    (Lightning runs checkpoint callbacks last), and ends the run with :class:`DivergedError`
    when it is NaN or infinite. Nothing is saved after that: the last checkpoint stays the last
    good one."""

    def __init__(self, every_n_steps: int = 25):
        self.every_n_steps = max(1, int(every_n_steps))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step % self.every_n_steps:
            return
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None:
            self._check(trainer, loss)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        loss = trainer.callback_metrics.get(TRAIN_LOSS + "_epoch")
        if loss is not None:
            self._check(trainer, loss)

    @staticmethod
    def _check(trainer, loss: torch.Tensor) -> None:
        finite = bool(torch.isfinite(loss.detach()).all())
        # every rank takes the same decision, so none waits forever in the next all-reduce
        if not trainer.strategy.reduce_boolean_decision(not finite, all=False):
            return
        checkpoint = trainer.checkpoint_callback
        last = getattr(checkpoint, "last_model_path", "") or "none yet"
        raise DivergedError(
            f"training diverged: loss is {float(loss) if not finite else 'not finite on another rank'} at epoch {trainer.current_epoch}, step "
            f"{trainer.global_step}; try a lower optimizer.lr. Last good checkpoint: {last}"
        )
