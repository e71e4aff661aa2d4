"""Slow: the real CIFAR-10 (JPEG copy in ../shared, or data/ from `make data`)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cifar import metric_names as M
from cifar.data.formats import read_split
from cifar.train import train
from helpers import ROOT, compose_run

pytestmark = pytest.mark.slow

SHARED_TOOL = ROOT.parent / "shared" / "tools" / "cifar10_from_jpeg.py"
JPEG_ARCHIVE = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"


@pytest.fixture(scope="module")
def real_data(tmp_path_factory) -> Path:
    if (ROOT / "data" / "cifar-10-batches-py").is_dir() and (ROOT / "data" / "cifar-10-batches-bin").is_dir():
        return ROOT / "data"
    if not SHARED_TOOL.is_file():
        pytest.skip("no real CIFAR-10: run `make data` (needs ../shared)")
    out = tmp_path_factory.mktemp("cifar10")
    subprocess.run([sys.executable, str(SHARED_TOOL), str(out)], check=True, capture_output=True)
    return out


def test_real_data_has_the_official_counts_in_both_layouts(real_data):
    for split, size in (("train", 50_000), ("test", 10_000)):
        py = read_split(real_data, "python", split)
        binary = read_split(real_data, "binary", split)
        assert len(py) == size
        assert np.bincount(py.labels, minlength=10).tolist() == [size // 10] * 10
        np.testing.assert_array_equal(py.images, binary.images)
        np.testing.assert_array_equal(py.labels, binary.labels)
        mean = py.images.reshape(-1, 3).mean(0) / 255
        np.testing.assert_allclose(mean, [0.4914, 0.4822, 0.4465], atol=0.01)


def test_the_image_folder_archive_holds_the_same_pixels_as_the_official_layouts(tmp_path, real_data):
    if not JPEG_ARCHIVE.is_file():
        pytest.skip("no archive of CIFAR-10 image folders in ../shared/data")
    from torchvision.datasets.utils import calculate_md5

    from cifar.data.download import fetch

    fetch(tmp_path, "folder", url=JPEG_ARCHIVE.as_uri(), md5=calculate_md5(JPEG_ARCHIVE))
    for split in ("train", "test"):
        folder, official = read_split(tmp_path, "folder", split), read_split(real_data, "python", split)
        # the same images and labels, whatever the order: each set sorted by (image digest, label)
        def order(images):
            digests = np.array([hashlib.sha1(image.tobytes()).hexdigest() for image in images.images])
            return np.lexsort((images.labels, digests))

        np.testing.assert_array_equal(folder.images[order(folder)], official.images[order(official)])
        np.testing.assert_array_equal(folder.labels[order(folder)], official.labels[order(official)])


def test_one_real_epoch_learns(tmp_path, real_data):
    cfg = compose_run(
        tmp_path, "trainer.max_epochs=1", "logger=none", "trainer.enable_progress_bar=false", data_dir=real_data
    )
    metrics = train(cfg)
    assert metrics[M.VAL_ACC_BEST] > 0.40
    assert metrics[M.TEST_ACC] > 0.40
