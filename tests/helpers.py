"""What the tests share, written once: the project's paths, tiny CIFAR-10 copies in every layout,
composing a run as ``python -m cifar.train`` does, running a command in a subprocess, and a
pickle that would run code when loaded.

Tiny images are random but unique (image i carries i in its first pixels) and separable (the green
plane's brightness says the class, so a few epochs learn well above chance); labels cycle 0..9.
"""

from __future__ import annotations

import hashlib
import pickle
import shutil
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

import cv2
import numpy as np
from omegaconf import DictConfig
from PIL import Image

from cifar.cli import compose_config
from cifar.data.constants import CLASS_NAMES

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
TRAIN_NAMES = [f"data_batch_{i}" for i in range(1, 6)]

# small and quick: the tiny data sets of conftest.py, 2 epochs, no worker processes, fp32 on every CPU
TINY_RUN = [
    "precision=32-true",
    "data.val_size=40",
    "data.batch_size=32",
    "data.num_workers=0",
    "trainer.max_epochs=2",
    "trainer.log_every_n_steps=1",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]

# one epoch of a speedrun recipe on the tiny data (200 training images, all used: no validation split), fp32
TINY_SPEEDRUN = [
    "data.batch_size=32", "data.eval_batch_size=20", "trainer.max_epochs=1", "trainer.max_steps=-1",
    "trainer.enable_progress_bar=false", "logger=none", "precision=32-true",
]


# -- running the project -------------------------------------------------------------------------


def compose_run(output_dir: Path, *overrides: str, data_dir: Path | None = None, config: str = "train") -> DictConfig:
    """The config ``python -m cifar.<config> overrides...`` would run, writing into ``output_dir``."""
    data = [f"paths.data_dir={data_dir or Path(output_dir) / 'data'}", "data.num_workers=0"] if config == "train" else []
    return compose_config([f"paths.output_dir={output_dir}", *data, *overrides], config)


def run_cli(command: str, *args: str, timeout: int = 600, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``python -m cifar.<command> args...`` from the project root, or from ``cwd`` (where ``outputs/`` then goes)."""
    return subprocess.run([sys.executable, "-m", f"cifar.{command}", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def job_folders(sweep: Path) -> list[Path]:
    """A multirun's job folders (``<job number>-<run name>``), in job order."""
    from cifar.reporting.results import natural_order

    return sorted((d for d in Path(sweep).iterdir() if (d / ".hydra").is_dir()), key=natural_order)


def start_cli(command: str, *args: str) -> subprocess.Popen:
    """The same, in the background."""
    return subprocess.Popen([sys.executable, "-m", f"cifar.{command}", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def tiny_datamodule(data_dir: Path, **settings):
    """A ``CIFAR10DataModule`` over a tiny copy, set up for every stage: 50 validation images, batches of 16,
    no workers, no download (``settings`` override these)."""
    from cifar.data.datamodule import CIFAR10DataModule

    settings = {"val_size": 50, "batch_size": 16, "num_workers": 0, "download": False, **settings}
    datamodule = CIFAR10DataModule(data_dir=str(data_dir), **settings)
    datamodule.prepare_data()
    datamodule.setup()
    return datamodule


class CodeRunningPickle:
    """Unpickling this copies a file to ``marker``: what a crafted data file or checkpoint would do.
    A loader that refuses it leaves ``marker`` missing."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (shutil.copy, (__file__, str(self.marker)))


# -- tiny CIFAR-10 copies --------------------------------------------------------------------------


def make_arrays(n: int, seed: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images as official-layout rows uint8 [n, 3072] and their labels."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    ids = np.arange(offset, offset + n)
    data[:, 0] = ids % 256
    data[:, 1] = ids // 256
    labels = (ids % 10).astype(np.int64)
    data[:, 1024:2048] = (10 + 25 * labels)[:, None]  # the green plane: the class
    return data, labels


def layout_arrays(per_batch: int, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Rows and labels of every batch file (``data_batch_1..5``, ``test_batch``)."""
    return {name: make_arrays(per_batch, seed=seed + i, offset=i * per_batch)
            for i, name in enumerate([*TRAIN_NAMES, "test_batch"])}


def rows_to_hwc(data: np.ndarray) -> np.ndarray:
    """Official-layout rows [N, 3072] -> uint8 images [N, 32, 32, 3]."""
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


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


def write_folder_layout(root: Path, per_batch: int = 30, seed: int = 0, suffix: str = ".png") -> Path:
    """The same images as the other layouts, as ``train/<class>/NNNN.png`` and ``test/<class>/NNNN.png``
    (PNG: lossless, so the pixels read back equal the arrays; numbered in the order of the other layouts)."""
    root = Path(root)
    arrays = layout_arrays(per_batch, seed)
    splits = {"train": [arrays[name] for name in TRAIN_NAMES], "test": [arrays["test_batch"]]}
    for split, parts in splits.items():
        images = rows_to_hwc(np.concatenate([p[0] for p in parts]))
        labels = np.concatenate([p[1] for p in parts])
        for name in CLASS_NAMES:
            (root / split / name).mkdir(parents=True, exist_ok=True)
        for i, (image, label) in enumerate(zip(images, labels)):
            Image.fromarray(image).save(root / split / CLASS_NAMES[label] / f"{i:05d}{suffix}")
    return root


def accuracy_from_confusion(path: Path) -> float:
    """The accuracy a confusion-matrix CSV (rows true, columns predicted) holds: its trace over its sum."""
    import csv

    with open(path, newline="") as fh:
        rows = [[int(v) for v in row[1:]] for row in list(csv.reader(fh))[1:]]
    return sum(rows[i][i] for i in range(len(rows))) / sum(map(sum, rows))


def giant_png_header(path: Path, width: int, height: int) -> Path:
    """A 32x32 PNG whose header (IHDR) claims ``width`` x ``height`` pixels: what a decompression bomb looks like
    to a reader that trusts the header."""
    Image.new("RGB", (32, 32)).save(path)
    raw = bytearray(path.read_bytes())
    at = raw.index(b"IHDR")
    raw[at + 4:at + 12] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    raw[at + 17:at + 21] = zlib.crc32(bytes(raw[at:at + 17])).to_bytes(4, "big")
    path.write_bytes(bytes(raw))
    return path


def make_archive(source: Path, archive: Path, arcname: str | None = None) -> str:
    """tar.gz ``source`` (as the top-level entry ``arcname``, default its name) into ``archive``; returns its MD5."""
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname=arcname or source.name)
    return hashlib.md5(archive.read_bytes()).hexdigest()


def photo_like_images(n: int, seed: int = 0) -> np.ndarray:
    """uint8 [n, 32, 32, 3] RGB images made here that behave like photos under corruptions: smooth colour
    fields, one sharp-edged object, fine texture, the whole range from dark to bright (never real data). The same
    on every machine: numpy's PCG64 streams and OpenCV's cubic resize."""
    rng = np.random.default_rng(seed)
    images = np.empty((n, 32, 32, 3), np.float32)
    rows, cols = np.mgrid[0:32, 0:32]
    for k in range(n):
        coarse = rng.uniform(20, 235, (5, 5, 3)).astype(np.float32)
        image = cv2.resize(coarse, (32, 32), interpolation=cv2.INTER_CUBIC)
        centre, radius = rng.uniform(8, 24, 2), rng.uniform(4, 11)
        inside = (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 < radius ** 2
        image[inside] = image[inside] * rng.uniform(0.3, 0.7) + rng.uniform(0, 255, 3) * 0.5
        image *= rng.uniform(0.5, 1.1)  # overall exposure
        images[k] = image + rng.normal(0, 4, image.shape)
    return np.clip(images, 0, 255).round().astype(np.uint8)
