"""Normalization with the CIFAR-10 channel mean/std, and its inverse: the one place that applies them.

The datamodule normalizes uint8 batches on the training device, the tensor pipeline normalizes each
split once, the whitening fit and the exported model normalize their inputs, and the sample grid
turns normalized images back into pixels: all through these functions.
"""

from __future__ import annotations

import torch

from cifar.data.constants import MEAN, STD


def mean_std(device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The channel mean and std as float32 ``[1, 3, 1, 1]`` tensors on ``device`` (on the [0, 1] scale)."""
    return (torch.tensor(MEAN, device=device).view(1, 3, 1, 1),
            torch.tensor(STD, device=device).view(1, 3, 1, 1))


def normalize(images: torch.Tensor, stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """uint8 ``[N, 3, H, W]`` in 0..255 (or float in [0, 1]) -> float32 normalized with the channel mean/std.

    ``stats``: :func:`mean_std` on the images' device, when the caller keeps them (saves two small
    host-to-device copies per batch)."""
    mean, std = stats if stats is not None else mean_std(images.device)
    scaled = images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()
    return (scaled - mean) / std


def denormalize(images: torch.Tensor) -> torch.Tensor:
    """Normalized float ``[N, 3, H, W]`` -> float RGB in [0, 1] (clamped), on the images' device."""
    mean, std = mean_std(images.device)
    return (images.float() * std + mean).clamp(0.0, 1.0)


class Normalize(torch.nn.Module):
    """:func:`normalize` as a layer for float RGB in [0, 1] (the exported model's first step)."""

    def __init__(self) -> None:
        super().__init__()
        mean, std = mean_std()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std
