"""Per-sample training augmentation with albumentations, chosen by name (``data.augment``).

Recipes work on uint8 HWC images; conversion to float and normalization happen later, once per
batch on the training device (see ``CIFAR10DataModule.on_after_batch_transfer``).
"""

from __future__ import annotations

from typing import Callable

import albumentations as A
import cv2

from cifar.errors import check_choice

PIPELINE_HINT = " (or data.pipeline=tensor for its own recipes)"


def _none() -> None:
    return None


def _crop_flip() -> A.Compose:
    """Random 32x32 crop from the image zero-padded by 4 px, then a random horizontal flip."""
    return A.Compose(
        [
            A.PadIfNeeded(min_height=40, min_width=40, border_mode=cv2.BORDER_CONSTANT, fill=0),
            A.RandomCrop(height=32, width=32),
            A.HorizontalFlip(p=0.5),
        ]
    )


def _flip_affine_cutout() -> A.Compose:
    """The netv2 write-up's set in albumentations 2.x names.

    HorizontalFlip p=0.5; shift 10%, scale 10%, rotate 15 degrees (``Affine``, which replaces
    ``ShiftScaleRotate``; reflected borders and p=0.5 as that transform had by default);
    CoarseDropout of one 16x16 hole filled with 0, p=0.3.
    """
    return A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            A.Affine(
                translate_percent=(-0.1, 0.1),
                scale=(0.9, 1.1),
                rotate=(-15, 15),
                border_mode=cv2.BORDER_REFLECT_101,
                p=0.5,
            ),
            A.CoarseDropout(
                num_holes_range=(1, 1),
                hole_height_range=(16, 16),
                hole_width_range=(16, 16),
                fill=0,
                p=0.3,
            ),
        ]
    )


RECIPES: dict[str, Callable[[], A.Compose | None]] = {
    "none": _none,
    "crop_flip": _crop_flip,
    "flip_affine_cutout": _flip_affine_cutout,
}


def build_augmentation(name: str) -> A.Compose | None:
    """The albumentations pipeline called ``name``, or None for ``none``."""
    return RECIPES[check_choice("data.augment", name, RECIPES, hint=PIPELINE_HINT)]()
