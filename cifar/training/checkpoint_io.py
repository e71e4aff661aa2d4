"""Checkpoint writing that a crash cannot tear, and that writes each checkpoint once, in the run folder."""

from __future__ import annotations

import io
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from cifar.files import atomic_write_bytes


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's torch checkpoint IO, but each checkpoint is written once, to a temporary file beside its
    target, fsynced and renamed (``atomic_write_bytes``): a kill during a save leaves the previous file (e.g.
    ``last.ckpt``) loadable, and a full disk is one line naming the file. (Lightning's own save stages every
    checkpoint in the system temp dir first, through an fsspec transaction: twice the I/O, and a small /tmp
    stops the run.)"""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(path, buffer.getbuffer())
