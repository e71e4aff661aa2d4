"""Test-time augmentation: logits averaged over flipped and translated views of each image."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from cifar.errors import check_choice

LEVELS = ("none", "flip", "flip_translate", "uncertain_flip_translate")
UNCERTAIN_FRACTION = 0.2  # the share of each batch that uncertain_flip_translate augments (the 2025 record's)


def check_level(level: str) -> str:
    return check_choice("tta", level, LEVELS)


def shifted(images: torch.Tensor, shift: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """``images`` moved by ``shift`` px up-left and down-right (crops of the reflect-padded images)."""
    h, w = images.shape[-2:]
    padded = F.pad(images, (shift,) * 4, mode="reflect")
    return padded[..., :h, :w], padded[..., 2 * shift : 2 * shift + h, 2 * shift : 2 * shift + w]


def tta_logits(forward: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, level: str,
               shift: int = 1, plain: torch.Tensor | None = None) -> torch.Tensor:
    """``none``: one view. ``flip``: the mean of the image and its mirror. ``flip_translate`` (6
    views, airbench94's): half the ``flip`` mean, half the mean of the ``flip`` means of the image
    shifted by ``shift`` px up-left and down-right (reflect-padded). ``uncertain_flip_translate``
    (the 2025 record's): the plain view, except for the ``UNCERTAIN_FRACTION`` of the batch whose
    top softmax probability is lowest, which get the plain mean of those 6 views (run as one
    batch). ``plain``: ``forward(images)`` if the caller has it already (it is not computed again)."""
    check_level(level)
    if plain is None:
        plain = forward(images)
    if level == "none":
        return plain
    if level == "uncertain_flip_translate":
        return _uncertain_views(forward, images, plain, shift)

    def mirrored(x: torch.Tensor, first: torch.Tensor | None = None) -> torch.Tensor:
        return 0.5 * (forward(x) if first is None else first) + 0.5 * forward(x.flip(-1))

    logits = mirrored(images, plain)
    if level == "flip":
        return logits
    up_left, down_right = shifted(images, shift)
    return 0.5 * logits + 0.25 * mirrored(up_left) + 0.25 * mirrored(down_right)


def _uncertain_views(forward: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, plain: torch.Tensor,
                     shift: int) -> torch.Tensor:
    count = int(len(images) * UNCERTAIN_FRACTION)
    if count == 0:
        return plain
    confidence = plain.float().softmax(dim=1).amax(dim=1)
    chosen = confidence.topk(count, largest=False, sorted=False).indices
    few = images[chosen]
    views = torch.cat([few, *shifted(few, shift)])
    views = torch.cat([views, views.flip(-1)])
    averaged = forward(views).view(6, count, -1).mean(dim=0)
    logits = plain.clone()
    logits[chosen] = averaged.to(logits.dtype)
    return logits
