"""Keeps the test step's outputs, for figures computed once testing is over (calibration, temperature)."""

from __future__ import annotations

import lightning as L
import torch


class TestOutputsCallback(L.Callback):
    """Collects the ``outputs`` (logits or log-probabilities, after TTA) and ``targets`` that
    ``test_step`` returns, on the CPU. Lightning keeps no step outputs, and a metric holds only its own
    state; 10,000 test images take 400 kB. One process only (evaluate tests on one device)."""

    def __init__(self) -> None:
        self._outputs: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []

    def on_test_start(self, trainer, pl_module) -> None:
        self._outputs.clear()
        self._targets.clear()

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._outputs.append(outputs["outputs"].float().cpu())
        self._targets.append(outputs["targets"].cpu())

    def collected(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The outputs [N, classes] and targets [N] of the latest test, in the loader's order."""
        if not self._outputs:
            raise RuntimeError("no test batches collected")
        return torch.cat(self._outputs), torch.cat(self._targets)
