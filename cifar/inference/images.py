"""Read user images the way a user expects them to be seen by a CIFAR-10 model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torchvision.transforms.v2 import functional as TF

from cifar.data.constants import IMAGE_SHAPE
from cifar.errors import DataError

SIZE = IMAGE_SHAPE[1]


def load_image(path: str | Path) -> torch.Tensor:
    """Any PNG/JPEG (also GIF, WebP, BMP, TIFF), any size -> uint8 RGB [3, 32, 32].

    Decoded with Pillow (torchvision 0.29's decoder mangles palette PNGs in RGBA mode, and is
    deprecated): EXIF orientation applied, 16-bit scaled to 8, grayscale and palette expanded,
    transparency composited over white; then the shorter side is resized to 32 px
    (antialiased) and the centre 32x32 kept, so the aspect ratio holds.
    """
    path = Path(path)
    try:
        with Image.open(path) as opened:  # (the header only: a giant image is refused before it is decoded)
            if Image.MAX_IMAGE_PIXELS and opened.width * opened.height > Image.MAX_IMAGE_PIXELS:
                raise Image.DecompressionBombError(f"{opened.width}x{opened.height} pixels exceeds the limit of "
                                                   f"{Image.MAX_IMAGE_PIXELS} pixels")
            image = ImageOps.exif_transpose(opened)
            image.load()
    except Image.DecompressionBombError as exc:
        raise DataError(f"{path}: refused before decoding: {exc}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise DataError(f"{path}: not a readable image (expected JPEG, PNG, WebP, GIF, BMP or TIFF)") from None
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # high bit depth grayscale
        values = np.asarray(image, dtype=np.float64)
        scale = 255.0 / 65535.0 if image.mode.startswith("I") else 255.0 / max(float(values.max()), 1.0)
        image = Image.fromarray(np.clip(values * scale, 0, 255).round().astype(np.uint8), mode="L")
    rgba = image.convert("RGBA")
    rgb = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    tensor = torch.from_numpy(np.array(rgb)).permute(2, 0, 1)
    tensor = TF.resize(tensor, SIZE, antialias=True)
    return TF.center_crop(tensor, [SIZE, SIZE]).contiguous()


def list_inputs(inputs: str | Path) -> list[Path]:
    """A file, or every (non-hidden) file below a folder, sorted."""
    inputs = Path(inputs)
    if inputs.is_file():
        return [inputs]
    if inputs.is_dir():
        return sorted(p for p in inputs.rglob("*") if p.is_file() and not p.name.startswith("."))
    raise DataError(f"{inputs}: no such file or folder")
