"""Lookahead: an exponential average of the weights that the training weights are reset to.

Every ``every_n_steps`` optimizer steps the average moves towards the current weights,
``average = decay * average + (1 - decay) * weights``, and the weights are then set to the
average (BatchNorm running statistics included). ``decay`` grows during training as
``base_decay * (step / total_steps) ** power``: little averaging early, much at the end. After the
last step the network keeps the average. This is the airbench94 recipe's weight average; unlike
Lightning's ``WeightAveraging``, which keeps its average apart from the training weights, it
feeds the average back into training.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from cifar.errors import check_range, is_int, is_number


@torch.no_grad()
def pull_to_average(average: dict[str, torch.Tensor], weights: dict[str, torch.Tensor], decay: float) -> None:
    """``average = decay * average + (1 - decay) * weights``, then ``weights = average`` (in place)."""
    for name, w in weights.items():
        average[name].lerp_(w, 1.0 - decay)
        w.copy_(average[name])


class Lookahead(L.Callback):
    def __init__(self, every_n_steps: int = 5, base_decay: float = 0.95**5, power: float = 3.0):
        check_range("callbacks.lookahead.every_n_steps", every_n_steps, is_int(every_n_steps, 1), "an integer >= 1")
        check_range("callbacks.lookahead.base_decay", base_decay, is_number(base_decay) and 0 <= base_decay <= 1,
                    "a number in [0, 1]")
        self.every_n_steps = int(every_n_steps)
        self.base_decay = float(base_decay)
        self.power = float(power)
        self.average: dict[str, torch.Tensor] | None = None
        self._restored: dict[str, torch.Tensor] | None = None
        self._weights: dict[str, torch.Tensor] = {}
        self._total = 1

    def decay(self, step: int, total_steps: int) -> float:
        return self.base_decay * (min(step, total_steps) / total_steps) ** self.power

    @staticmethod
    def _tracked(pl_module: L.LightningModule) -> dict[str, torch.Tensor]:
        """The network's floating-point weights and buffers (views that share their storage)."""
        net = getattr(pl_module, "net", pl_module)
        return {k: v for k, v in net.state_dict(keep_vars=False).items() if v.is_floating_point()}

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        current = self._tracked(pl_module)
        self._weights = current
        self._total = int(trainer.estimated_stepping_batches)
        if self._restored is not None:
            self.average = {k: self._restored[k].to(v) for k, v in current.items()}
            self._restored = None
        else:
            self.average = {k: v.detach().clone() for k, v in current.items()}

    @torch.no_grad()
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        step, total = trainer.global_step, self._total
        if step >= total:  # the last step: keep the average, whatever the last few steps did
            self._update(pl_module, 1.0)
        elif step % self.every_n_steps == 0:
            self._update(pl_module, self.decay(step, total))

    def _update(self, pl_module: L.LightningModule, decay: float) -> None:
        assert self.average is not None
        pull_to_average(self.average, self._weights, decay)

    def state_dict(self) -> dict[str, Any]:
        return {"average": self.average}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restored = state_dict.get("average")
