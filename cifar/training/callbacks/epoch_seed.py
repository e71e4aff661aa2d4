"""Re-seed the global random streams at the start of each training epoch from (seed, epoch)."""

from __future__ import annotations

import random

import lightning as L
import numpy as np
import torch

from cifar.seeding import global_seed


class EpochSeedCallback(L.Callback):
    """Makes the global random streams of epoch N (dropout, anything drawing from torch, numpy
    or ``random`` in the training step) a function of (seed, N) alone.

    Without it they depend on everything that drew random numbers before, which a run resumed
    from a checkpoint cannot replay (its sanity check, its data-loader set-up). Seeding happens
    just before the first training step of the epoch, after the loader's iterator is made.
    Data order and augmentation are seeded by (seed, N) in the data pipeline itself
    (``EpochShuffleSampler``, ``ImageArrayDataset``).
    """

    def __init__(self, seed: int):
        self.seed = int(seed)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if batch_idx == 0:
            s = global_seed(self.seed, trainer.current_epoch)
            random.seed(s)
            np.random.seed(s)
            torch.manual_seed(s)
