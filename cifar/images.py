"""Read user images the way a user expects them to be seen by a CIFAR-10 model."""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.io import ImageReadMode, decode_image, read_file
from torchvision.transforms.v2 import functional as TF

from cifar.errors import DataError

SIZE = 32


def load_image(path: str | Path) -> torch.Tensor:
    """Any PNG/JPEG (also GIF/WebP), any size -> uint8 RGB [3, 32, 32].

    Grayscale is repeated to three channels; transparency is composited over white; the shorter
    side is resized to 32 px (antialiased) and the centre 32x32 kept, so the aspect ratio holds.
    """
    path = Path(path)
    try:
        image = decode_image(read_file(str(path)), mode=ImageReadMode.UNCHANGED)
    except (RuntimeError, ValueError, OSError):
        raise DataError(f"{path}: not a readable image (expected JPEG, PNG, WebP or GIF)") from None
    if image.ndim != 3 or image.shape[0] not in (1, 2, 3, 4):
        raise DataError(f"{path}: unsupported image layout {list(image.shape)}")
    if image.shape[0] in (2, 4):  # with alpha: composite over white
        colour, alpha = image[:-1].float(), image[-1:].float() / 255.0
        image = (colour * alpha + 255.0 * (1.0 - alpha)).round().to(torch.uint8)
    if image.shape[0] == 1:
        image = image.expand(3, -1, -1)
    image = TF.resize(image, SIZE, antialias=True)
    return TF.center_crop(image, [SIZE, SIZE]).contiguous()


def list_inputs(inputs: str | Path) -> list[Path]:
    """A file, or every (non-hidden) file below a folder, sorted."""
    inputs = Path(inputs)
    if inputs.is_file():
        return [inputs]
    if inputs.is_dir():
        return sorted(p for p in inputs.rglob("*") if p.is_file() and not p.name.startswith("."))
    raise DataError(f"{inputs}: no such file or folder")
