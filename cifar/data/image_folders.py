"""The image-folder layout (``data.format=folder``): CIFAR-10 stored as image files.

``<data_dir>/train/<class>/*`` and ``<data_dir>/test/<class>/*``, PNG or JPEG, 32x32, with the ten
class folders named as the official classes (``airplane`` ... ``truck``): the layout of the public
image copies of the data set and of ``cifar2png``. A class's label is its index in the official
order; images are read by file name within a class, the classes interleaved (the first image of
each class, then the second, ...).

Every file is validated (an unknown class folder, a stray file, an image that is not 32x32 or not
readable: one line naming it), and every class folder of a split must hold the same number of
images, as in the official release (an incomplete copy is named). The decoded split is cached
beside the images (``<data_dir>/<split>_decoded.npz``) with a fingerprint of the file names,
sizes and modification times, so the images are decoded once and a changed copy is decoded again.
"""

from __future__ import annotations

import hashlib
import io
import logging
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from cifar.data.constants import CLASS_NAMES, IMAGE_SHAPE
from cifar.errors import DataError
from cifar.files import atomic_write_bytes

log = logging.getLogger(__name__)

EXTENSIONS = (".png", ".jpg", ".jpeg")
IMAGE_FORMATS = ("PNG", "JPEG")
SIZE = IMAGE_SHAPE[2], IMAGE_SHAPE[1]  # (width, height), as Pillow gives it


def cache_path(data_dir: str | Path, split: str) -> Path:
    return Path(data_dir) / f"{split}_decoded.npz"


def image_files(split_dir: Path) -> list[tuple[Path, int]]:
    """(file, label) for every image of one split, validated as the module doc says."""
    entries = sorted(p for p in split_dir.iterdir() if not p.name.startswith("."))
    for entry in entries:
        if not entry.is_dir():
            raise DataError(f"{entry}: expected only class folders in {split_dir} ({', '.join(CLASS_NAMES)})")
        if entry.name not in CLASS_NAMES:
            raise DataError(f"{entry}: unknown class folder: expected the CIFAR-10 classes {', '.join(CLASS_NAMES)}")
    per_class: list[list[Path]] = []
    counts: dict[Path, int] = {}
    for label, name in enumerate(CLASS_NAMES):
        class_dir = split_dir / name
        if not class_dir.is_dir():
            raise DataError(f"{class_dir}: missing class folder (folder layout: {split_dir.name}/<class>/<image>)")
        images = sorted(p for p in class_dir.iterdir() if not p.name.startswith("."))
        for path in images:
            if not path.is_file() or path.suffix.lower() not in EXTENSIONS:
                raise DataError(f"{path}: not a PNG or JPEG image file (expected {', '.join(EXTENSIONS)})")
        counts[class_dir] = len(images)
        per_class.append(images)
    expected = max(counts.values())
    if expected == 0:
        raise DataError(f"{split_dir}: its class folders hold no images")
    for class_dir, count in counts.items():
        if count != expected:
            raise DataError(f"{class_dir}: holds {count} images but the other class folders hold {expected} "
                            "(incomplete copy?)")
    # class-interleaved: the first image of every class, then the second, ... (classes mixed, as in the
    # official batch files, so any prefix holds every class: the whitening fit reads the first images)
    return [(per_class[label][i], label) for i in range(expected) for label in range(len(CLASS_NAMES))]


def fingerprint(files: list[tuple[Path, int]], root: Path) -> str:
    """A digest of every file's path, size and modification time: changes when the copy changes."""
    digest = hashlib.sha1()
    for path, label in files:
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}\t{label}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def decode(path: Path) -> np.ndarray:
    """One image as uint8 [32, 32, 3] RGB; its size is checked from its header, before it is decoded."""
    try:
        with Image.open(path) as image:  # (reads the header only; Pillow refuses a header of a giant image itself)
            if image.format not in IMAGE_FORMATS:
                raise DataError(f"{path}: is a {image.format} image, expected PNG or JPEG")
            if image.size != SIZE:
                raise DataError(f"{path}: is {image.size[0]}x{image.size[1]} pixels, expected 32x32")
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except Image.DecompressionBombError as exc:
        raise DataError(f"{path}: refused before decoding: {exc} (expected 32x32 pixels)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise DataError(f"{path}: not a readable image (truncated or foreign file)") from None


def read_folder_split(data_dir: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The ``split`` (train or test) of the folder layout under ``data_dir`` as (images, labels), from the
    cache when it still fits the files."""
    data_dir = Path(data_dir)
    split_dir = data_dir / split
    if not split_dir.is_dir():
        raise DataError(f"{split_dir}: missing, expected a folder of class folders (folder layout)")
    files = image_files(split_dir)
    key = fingerprint(files, data_dir)
    cache = cache_path(data_dir, split)
    if cache.is_file():
        try:
            with np.load(cache) as cached:
                if str(cached["fingerprint"]) == key:
                    return cached["images"], cached["labels"]
        except (OSError, ValueError, KeyError):
            log.warning("%s: unreadable cache, decoding the images again", cache)
    log.info("decoding %d %s images from %s (once: cached in %s)", len(files), split, split_dir, cache.name)
    images = np.stack([decode(path) for path, _ in files])
    labels = np.array([label for _, label in files], dtype=np.int64)
    buffer = io.BytesIO()
    np.savez(buffer, images=images, labels=labels, fingerprint=np.array(key))
    try:
        atomic_write_bytes(cache, buffer.getvalue())
    except OSError as exc:  # a read-only copy: decode every time
        log.warning("%s: cannot write the decoded cache (%s); the images are decoded on every run", cache, exc)
    return images, labels
