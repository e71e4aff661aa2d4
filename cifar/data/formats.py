"""The CIFAR-10 on-disk layouts: find, read and validate them.

* python layout, ``cifar-10-batches-py``: Python 2 pickles of a dict with ``data`` (uint8 array
  [N, 3072], R, G, B planes of 32x32) and ``labels`` (N ints); loaded with ``encoding="bytes"``
  (as the official release needs) by an unpickler that only admits numpy arrays, so a crafted
  file cannot run code.
* binary layout, ``cifar-10-batches-bin``: 3,073-byte records, one label byte then 3,072 pixel
  bytes in R, G, B planes.
* folder layout, ``train/<class>/*`` and ``test/<class>/*``: PNG or JPEG images, read by
  ``cifar.data.image_folders``.

Every reader returns images as uint8 ``[N, 32, 32, 3]`` (HWC, what albumentations expects) and
labels as int64 ``[N]``, and raises :class:`~cifar.errors.DataError` naming the file when
something is wrong.
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
    from numpy._core.numeric import _frombuffer
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct
    from numpy.core.numeric import _frombuffer

from cifar.data.constants import IMAGE_BYTES, NUM_CLASSES
from cifar.errors import DataError

Format = Literal["python", "binary", "folder"]
Split = Literal["train", "test"]
FORMATS: tuple[Format, ...] = ("python", "binary", "folder")  # data.format=auto takes the first one present
SPLITS: tuple[Split, ...] = ("train", "test")

LAYOUT_DIRS: dict[Format, str] = {"python": "cifar-10-batches-py", "binary": "cifar-10-batches-bin"}
_BATCH_FILES: dict[Format, dict[Split, tuple[str, ...]]] = {
    "python": {
        "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test": ("test_batch",),
    },
    "binary": {
        "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
        "test": ("test_batch.bin",),
    },
}
RECORD_BYTES = 1 + IMAGE_BYTES  # binary layout: label byte + pixels


@dataclass(frozen=True)
class ImageSet:
    """Images as uint8 [N, 32, 32, 3] and labels as int64 [N]."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def batch_files(data_dir: str | Path, fmt: Format, split: Split) -> list[Path]:
    """Paths of the batch files of ``split`` in the python or binary layout under ``data_dir``."""
    layout = Path(data_dir) / LAYOUT_DIRS[fmt]
    return [layout / name for name in _BATCH_FILES[fmt][split]]


def layout_entries(fmt: Format) -> tuple[str, ...]:
    """The names a layout occupies directly under ``data_dir`` (what a download puts there)."""
    return SPLITS if fmt == "folder" else (LAYOUT_DIRS[fmt],)


def layout_problem(data_dir: str | Path, fmt: Format) -> str | None:
    """None when every file or folder of the ``fmt`` layout is there; else what is wrong with the
    first one that is not, as ``<path>: <what is wrong>``."""
    data_dir = Path(data_dir)
    if fmt == "folder":
        paths = [(data_dir / split, "a folder of class folders") for split in SPLITS]
    else:
        paths = [(p, "a batch file") for split in SPLITS for p in batch_files(data_dir, fmt, split)]
    for path, kind in paths:
        wants_dir = fmt == "folder"
        if not path.exists():
            return f"{path}: missing ({fmt} layout)"
        if path.is_dir() != wants_dir:
            return f"{path}: is {'a file' if wants_dir else 'a directory'}, expected {kind} ({fmt} layout)"
    return None


def is_present(data_dir: str | Path, fmt: Format) -> bool:
    """True when every file or folder of the ``fmt`` layout exists under ``data_dir``."""
    return layout_problem(data_dir, fmt) is None


def is_started(data_dir: str | Path, fmt: Format) -> bool:
    """True when some part of the ``fmt`` layout is there (a complete or a partial copy)."""
    return any(os.path.lexists(Path(data_dir) / name) for name in layout_entries(fmt))  # (a dangling link counts)


def read_split(data_dir: str | Path, fmt: Format, split: Split) -> ImageSet:
    """Read and validate all batch files of one split and concatenate them."""
    if fmt not in FORMATS:
        raise DataError(f"unknown data format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if fmt == "folder":
        from cifar.data.image_folders import read_folder_split  # (decodes images: Pillow)

        images, labels = read_folder_split(data_dir, split)
        return ImageSet(images=images, labels=labels)
    reader = read_python_batch if fmt == "python" else read_binary_batch
    parts = []
    for path in batch_files(data_dir, fmt, split):
        if not path.is_file():
            what = "is a directory" if path.is_dir() else "missing"
            raise DataError(f"{path}: {what}, expected a CIFAR-10 {split} batch file ({fmt} layout)")
        parts.append(reader(path))
    expected = None
    if split == "test":  # a single file: it must hold as many images as each training file
        first_train = batch_files(data_dir, fmt, "train")[0]
        if first_train.is_file():
            expected = _record_count(first_train, fmt)
    _check_counts(batch_files(data_dir, fmt, split), [len(p) for p in parts], expected)
    return ImageSet(
        images=np.concatenate([p.images for p in parts]),
        labels=np.concatenate([p.labels for p in parts]),
    )


# ---------------------------------------------------------------------------------------------
# python layout


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits the globals a pickled numpy array needs and nothing else.

    ``_codecs.encode`` is how Python 3 writes bytes at protocol 2 (a copy re-pickled by Python 3);
    it only turns a string into bytes. ``_frombuffer`` is how numpy writes arrays at protocol 5.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):  # noqa: D102 - pickle API
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        if name == "_reconstruct":
            return _reconstruct
        if name == "_frombuffer":
            return _frombuffer
        if module == "_codecs":
            return codecs.encode
        return getattr(np, name)


def _load_pickle(path: Path) -> dict:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        obj = _NumpyOnlyUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise DataError(
            f"{path}: not a readable CIFAR-10 python batch (truncated or foreign file): {exc}"
        ) from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict with 'data' and 'labels', got {type(obj).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def read_python_batch(path: str | Path) -> ImageSet:
    """Read one batch file of the python layout (``data_batch_N`` or ``test_batch``)."""
    path = Path(path)
    batch = _load_pickle(path)
    for key in ("data", "labels"):
        if key not in batch:
            raise DataError(f"{path}: field {key!r} missing (found {sorted(batch)})")
    data = batch["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        kind = getattr(data, "dtype", type(data).__name__)
        raise DataError(f"{path}: field 'data' must be a uint8 array, got {kind}")
    if data.ndim != 2 or data.shape[1] != IMAGE_BYTES or data.shape[0] == 0:
        raise DataError(f"{path}: field 'data' must have shape [N, {IMAGE_BYTES}] with N > 0, got {list(data.shape)}")
    labels = np.asarray(batch["labels"])
    if labels.dtype.kind not in "iu":
        raise DataError(f"{path}: field 'labels' must be a list of integers, got {labels.dtype} values")
    labels = labels.astype(np.int64)
    if labels.shape != (data.shape[0],):
        raise DataError(f"{path}: field 'labels' has {labels.size} entries but 'data' has {data.shape[0]} images")
    _check_labels(path, labels)
    return ImageSet(images=_planes_to_hwc(data), labels=labels)


# ---------------------------------------------------------------------------------------------
# binary layout


def read_binary_batch(path: str | Path) -> ImageSet:
    """Read one batch file of the binary layout (``data_batch_N.bin`` or ``test_batch.bin``)."""
    path = Path(path)
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if raw.size == 0 or raw.size % RECORD_BYTES:
        raise DataError(
            f"{path}: size {raw.size} bytes is not a positive multiple of the {RECORD_BYTES}-byte "
            "CIFAR-10 record (truncated or foreign file)"
        )
    records = raw.reshape(-1, RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    _check_labels(path, labels)
    return ImageSet(images=_planes_to_hwc(records[:, 1:]), labels=labels)


# ---------------------------------------------------------------------------------------------


def _planes_to_hwc(data: np.ndarray) -> np.ndarray:
    """[N, 3072] R, G, B planes -> contiguous uint8 [N, 32, 32, 3]."""
    return np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


def _check_counts(paths: list[Path], counts: list[int], expected: int | None = None) -> None:
    """Every batch file of a layout holds the same number of images (10,000 officially)."""
    expected = max(counts) if expected is None else expected
    for path, count in zip(paths, counts):
        if count != expected:
            raise DataError(
                f"{path}: holds {count} images but the other batch files hold {expected} "
                "(truncated file?)"
            )


def _record_count(path: Path, fmt: Format) -> int:
    """Images in one batch file, without decoding it where the format allows."""
    if fmt == "binary":
        return path.stat().st_size // RECORD_BYTES
    return len(read_python_batch(path))


def _check_labels(path: Path, labels: np.ndarray) -> None:
    bad = (labels < 0) | (labels >= NUM_CLASSES)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{path}: label {int(labels[first])} at record {first} is out of range: "
            f"expected 0..{NUM_CLASSES - 1} ({int(bad.sum())} bad labels in all)"
        )
