"""Training FLOPs of a network: what one optimizer step costs, as torch's FLOP counter counts it."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def train_step_flops(net: nn.Module, batch_size: int) -> int:
    """Forward + backward FLOPs of one training step of ``net`` on a batch of ``batch_size`` 32x32 images,
    as torch's ``FlopCounterMode`` counts them (convolutions and matrix products, 2 per multiply-add),
    on a copy of the network on the meta device (nothing is computed, the network is not touched)."""
    counted = copy.deepcopy(net).to("meta").train()
    with FlopCounterMode(display=False) as counter:
        counted(torch.empty(batch_size, 3, 32, 32, device="meta")).sum().backward()
    return int(counter.get_total_flops())
