"""Test-time augmentation: logits averaged over flipped and translated views of each image."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from cifar.errors import check_choice

LEVELS = ("none", "flip", "flip_translate")


def check_level(level: str) -> str:
    return check_choice("tta", level, LEVELS)


def tta_logits(forward: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, level: str,
               shift: int = 1, plain: torch.Tensor | None = None) -> torch.Tensor:
    """``none``: one view. ``flip``: the mean of the image and its mirror. ``flip_translate`` (6
    views, airbench94's): half the ``flip`` mean, half the mean of the ``flip`` means of the image
    shifted by ``shift`` px up-left and down-right (reflect-padded). ``plain``: ``forward(images)``
    if the caller has it already (it is not computed again)."""
    check_level(level)
    if plain is None:
        plain = forward(images)
    if level == "none":
        return plain

    def mirrored(x: torch.Tensor, first: torch.Tensor | None = None) -> torch.Tensor:
        return 0.5 * (forward(x) if first is None else first) + 0.5 * forward(x.flip(-1))

    logits = mirrored(images, plain)
    if level == "flip":
        return logits
    h, w = images.shape[-2:]
    padded = F.pad(images, (shift,) * 4, mode="reflect")
    up_left = padded[..., : h, : w]
    down_right = padded[..., 2 * shift : 2 * shift + h, 2 * shift : 2 * shift + w]
    return 0.5 * logits + 0.25 * mirrored(up_left) + 0.25 * mirrored(down_right)
