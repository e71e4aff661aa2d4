"""Corrupted copies of the test set: the official CIFAR-10-C files, or a generated set cached beside the data.

Both are in the official release's layout: ``<corruption>.npy`` holds uint8 ``[50000, 32, 32, 3]``, the
10,000 test images at severity 1, then at 2, ... 5; ``labels.npy`` holds their 50,000 labels. A generated
set lives in ``<cache>/seed<seed>/`` with a ``manifest.json`` naming what it was made from (the test
images' digest, the seed, the generator's version) and each file's SHA-256, checked whenever it is reused:
a file that changed, or a set made from other test images or by another version, is made again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cifar.data.constants import NUM_CLASSES
from cifar.errors import DataError
from cifar.files import atomic_write_bytes, write_json

log = logging.getLogger(__name__)

CORRUPTIONS = (  # the paper's 15, in its order: noise, blur, weather, digital
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness",
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)
SEVERITIES = (1, 2, 3, 4, 5)
IMAGE_SHAPE = (32, 32, 3)
LABELS_FILE = "labels.npy"
MANIFEST_FILE = "manifest.json"


def load_npy(path: Path) -> np.ndarray:
    """A ``.npy`` file as an array (no pickles), or a one-line error naming the file. Memory-mapped: a header
    that claims more data than the file holds is refused before anything is allocated, and the caller checks
    shape and dtype before the pixels are read."""
    if not path.is_file():
        raise DataError(f"{path}: missing")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({exc})") from None


def check_images(path: Path, images: np.ndarray, count: int) -> np.ndarray:
    if images.dtype != np.uint8 or images.shape != (count, *IMAGE_SHAPE):
        raise DataError(f"{path}: expected uint8 [{count}, 32, 32, 3] (severities 1-5 of the 10,000 test images, "
                        f"in order), got {images.dtype} {list(images.shape)}")
    return np.array(images) if isinstance(images, np.memmap) else images  # (read into memory once checked)


def check_labels(path: Path, labels: np.ndarray, count: int) -> np.ndarray:
    if labels.ndim != 1 or len(labels) != count or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: expected {count} integer labels, got {labels.dtype} {list(labels.shape)}")
    if labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise DataError(f"{path}: labels must be 0..{NUM_CLASSES - 1}, found {labels.min()}..{labels.max()}")
    return labels.astype(np.int64)


class OfficialSet:
    """The CIFAR-10-C release (Hendrycks and Dietterich, 2019) in ``data_dir``: ``<corruption>.npy`` and
    ``labels.npy``, each checked when first read (shape, dtype, count, labels 0..9, missing files)."""

    description = "CIFAR-10-C (the official release)"

    def __init__(self, data_dir: str | Path):
        self.data_dir = Path(data_dir).expanduser()
        if not self.data_dir.is_dir():
            raise DataError(f"{self.data_dir}: no such folder (corruptions.data_dir: where the CIFAR-10-C "
                            "release's <corruption>.npy and labels.npy are)")
        self._labels: np.ndarray | None = None

    def check(self, names: tuple[str, ...]) -> None:
        """Every file the evaluation needs is there, before any of it runs."""
        for path in [self.data_dir / LABELS_FILE, *(self.data_dir / f"{n}.npy" for n in names)]:
            if not path.is_file():
                raise DataError(f"{path}: missing (corruptions.data_dir holds the CIFAR-10-C release: "
                                f"<corruption>.npy and {LABELS_FILE})")

    def labels(self) -> np.ndarray:
        if self._labels is None:
            path = self.data_dir / LABELS_FILE
            labels = load_npy(path)
            per_severity = len(labels) // len(SEVERITIES)
            self._labels = check_labels(path, labels, per_severity * len(SEVERITIES))
        return self._labels

    def images(self, name: str) -> np.ndarray:
        path = self.data_dir / f"{name}.npy"
        return check_images(path, load_npy(path), len(self.labels()))


class GeneratedSet:
    """Corrupted copies of ``test_images`` made by ``generate(images, name, severity, seed)``, cached in
    ``cache_dir/seed<seed>/`` and checked on reuse (see the module's docstring)."""

    def __init__(self, cache_dir: str | Path, test_images: np.ndarray, test_labels: np.ndarray, seed: int,
                 generate: Callable[[np.ndarray, str, int, int], np.ndarray], version: str, description: str):
        self.folder = Path(cache_dir).expanduser() / f"seed{seed}"
        self.test_images = test_images
        self.test_labels = np.asarray(test_labels, dtype=np.int64)
        self.seed = seed
        self.generate = generate
        self.version = version
        self.description = description
        self.source = digest(self.test_images.tobytes(), self.test_labels.tobytes())
        self.generation_seconds = 0.0  # spent making images this time (0: all from the cache)

    def check(self, names: tuple[str, ...]) -> None:  # (nothing to find: what is missing is made)
        pass

    def labels(self) -> np.ndarray:
        return np.tile(self.test_labels, len(SEVERITIES))

    def images(self, name: str) -> np.ndarray:
        path = self.folder / f"{name}.npy"
        manifest = self._manifest()
        if name in manifest["files"] and path.is_file():
            data = path.read_bytes()
            if digest(data) == manifest["files"][name]:
                return check_images(path, load_npy(path), len(self.labels()))
            log.warning("%s: its SHA-256 is not the one in %s: making it again", path, MANIFEST_FILE)
        started = time.time()
        images = np.concatenate([self.generate(self.test_images, name, s, self.seed) for s in SEVERITIES])
        self.generation_seconds += time.time() - started
        check_images(path, images, len(self.labels()))
        self._store(name, images)
        return images

    def _manifest(self) -> dict:
        path = self.folder / MANIFEST_FILE
        fresh = {"source": self.source, "seed": self.seed, "version": self.version, "files": {}}
        if not path.is_file():
            return fresh
        try:
            manifest = json.loads(path.read_text())
        except ValueError:
            log.warning("%s: unreadable: making the corrupted set again", path)
            return fresh
        if any(manifest.get(k) != fresh[k] for k in ("source", "seed", "version")):
            log.warning("%s: made from other test images, another seed or generator version: making it again", path)
            return fresh
        return manifest

    def _store(self, name: str, images: np.ndarray) -> None:
        import io

        buffer = io.BytesIO()
        np.save(buffer, images, allow_pickle=False)
        data = buffer.getvalue()
        atomic_write_bytes(self.folder / f"{name}.npy", data)
        manifest = self._manifest()
        manifest["files"][name] = digest(data)
        labels = io.BytesIO()
        np.save(labels, self.labels(), allow_pickle=False)
        atomic_write_bytes(self.folder / LABELS_FILE, labels.getvalue())  # (for other tools reading the layout)
        write_json(self.folder / MANIFEST_FILE, manifest)


def digest(*chunks: bytes) -> str:
    sha = hashlib.sha256()
    for chunk in chunks:
        sha.update(chunk)
    return sha.hexdigest()


def severity_slice(labels_count: int, severity: int) -> slice:
    per = labels_count // len(SEVERITIES)
    return slice((severity - 1) * per, severity * per)
