"""Write tiny CIFAR-10 copies in the two official on-disk formats, and archives of them.

Images are random but unique (image i carries i in its first pixels), labels cycle 0..9.
"""

from __future__ import annotations

import hashlib
import pickle
import tarfile
from pathlib import Path

import numpy as np

TRAIN_NAMES = [f"data_batch_{i}" for i in range(1, 6)]


def make_arrays(n: int, seed: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images as official-layout rows uint8 [n, 3072] and their labels (list of int)."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    ids = np.arange(offset, offset + n)
    data[:, 0] = ids % 256
    data[:, 1] = ids // 256
    labels = (ids % 10).astype(np.int64)
    return data, labels


def layout_arrays(per_batch: int, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Rows and labels of every batch file (``data_batch_1..5``, ``test_batch``)."""
    arrays = {}
    for i, name in enumerate([*TRAIN_NAMES, "test_batch"]):
        arrays[name] = make_arrays(per_batch, seed=seed + i, offset=i * per_batch)
    return arrays


def write_python_batch(path: Path, data: np.ndarray, labels, batch_label: str = "batch") -> None:
    """A Python 2 style pickle (protocol 2, bytes keys) like the official release."""
    content = {
        b"batch_label": batch_label.encode(),
        b"labels": [int(x) for x in labels],
        b"data": data,
        b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
    }
    path.write_bytes(pickle.dumps(content, protocol=2))


def write_binary_batch(path: Path, data: np.ndarray, labels) -> None:
    records = np.concatenate([np.asarray(labels, dtype=np.uint8)[:, None], data], axis=1)
    path.write_bytes(records.tobytes())


def write_python_layout(root: Path, per_batch: int = 30, seed: int = 0) -> Path:
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for name, (data, labels) in layout_arrays(per_batch, seed).items():
        write_python_batch(folder / name, data, labels, batch_label=name)
    meta = {b"num_cases_per_batch": per_batch, b"label_names": [b"airplane"] * 10, b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def write_binary_layout(root: Path, per_batch: int = 30, seed: int = 0) -> Path:
    folder = Path(root) / "cifar-10-batches-bin"
    folder.mkdir(parents=True, exist_ok=True)
    for name, (data, labels) in layout_arrays(per_batch, seed).items():
        write_binary_batch(folder / f"{name}.bin", data, labels)
    (folder / "batches.meta.txt").write_text("\n".join(["airplane"] * 10) + "\n")
    return folder


def make_archive(source_dir: Path, archive: Path) -> str:
    """tar.gz ``source_dir`` (as its own top-level folder) into ``archive``; returns its MD5."""
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source_dir, arcname=source_dir.name)
    return hashlib.md5(archive.read_bytes()).hexdigest()
