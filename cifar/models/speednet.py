"""SpeedNet: the network of the CIFAR-10 speed record (airbench94), written for this project.

A frozen 2x2 patch-whitening convolution (24 channels, see ``whitening.py``), GELU, then three
groups of [conv3x3 -> max-pool 2 -> BatchNorm -> GELU -> conv3x3 -> BatchNorm -> GELU] (widths
64, 256, 256 by default: 1.97 M parameters, 0.28 GFLOP per image), max-pool 3, a linear layer
without bias, and logits scaled by ``scale`` (1/9). Convolutions have no bias and start as the
identity (Dirac) on their first input channels; BatchNorm weights are frozen at 1, eps 1e-12,
running-statistics momentum 0.4. ``head_std`` rescales the linear layer's initial weights to that
standard deviation (the record's Muon variant: 1, with ``scale`` = 1/width). ``activation`` is the
conv groups' (``silu`` in the 2025 record); the one after the whitening stays GELU.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from cifar.models.whitening import PatchWhitening


class FrozenScaleBatchNorm(nn.BatchNorm2d):
    """BatchNorm whose weight (scale) is fixed at 1; only its bias trains."""

    def __init__(self, channels: int, momentum: float = 0.4, eps: float = 1e-12):
        super().__init__(channels, eps=eps, momentum=momentum)
        self.weight.requires_grad_(False)


class DiracConv(nn.Conv2d):
    """3x3 'same' convolution without bias, initialized as the identity on its first input channels."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(in_channels, out_channels, kernel_size=3, padding="same", bias=False)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        with torch.no_grad():
            nn.init.dirac_(self.weight[: min(self.in_channels, self.out_channels)])


ACTIVATIONS: dict[str, type[nn.Module]] = {"gelu": nn.GELU, "silu": nn.SiLU}


class ConvGroup(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, bn_momentum: float, activation: str = "gelu"):
        act = ACTIVATIONS[activation]
        super().__init__(
            DiracConv(in_channels, out_channels),
            nn.MaxPool2d(2),
            FrozenScaleBatchNorm(out_channels, bn_momentum),
            act(),
            DiracConv(out_channels, out_channels),
            FrozenScaleBatchNorm(out_channels, bn_momentum),
            act(),
        )


class SpeedNet(nn.Module):
    def __init__(self, widths: Sequence[int] = (64, 256, 256), bn_momentum: float = 0.4, scale: float = 1 / 9,
                 whiten_kernel: int = 2, num_classes: int = 10, head_std: float | None = None,
                 activation: str = "gelu"):
        super().__init__()
        if len(widths) != 3:
            raise ValueError(f"SpeedNet: widths must have 3 entries (one per group), got {list(widths)}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"SpeedNet: activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        self.whiten = PatchWhitening(3, whiten_kernel)
        in_channels = self.whiten.out_channels
        groups = []
        for width in widths:
            groups.append(ConvGroup(in_channels, width, bn_momentum, activation))
            in_channels = width
        self.features = nn.Sequential(nn.GELU(), *groups, nn.MaxPool2d(3), nn.Flatten())
        self.head = nn.Linear(in_channels, num_classes, bias=False)
        if head_std is not None:
            if head_std <= 0:
                raise ValueError(f"SpeedNet: head_std must be > 0, got {head_std}")
            with torch.no_grad():
                self.head.weight.mul_(head_std / self.head.weight.std())
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.whiten(x))) * self.scale
