"""The image-folder layout (``data.format=folder``): read, validated, cached, downloaded; and what
``data.format=auto`` says about incomplete copies of the official layouts."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
from PIL import Image

import cifar.data.image_folders as image_folders
from cifar.data.datamodule import CIFAR10DataModule
from cifar.data.formats import read_split
from cifar.errors import DataError
from cifar.train import train
from helpers import TINY_RUN, compose_run, giant_png_header, make_archive, write_binary_layout, write_folder_layout, write_python_layout


def first_image(data):
    return sorted((data / "train" / "dog").iterdir())[0]


def copy_of(folders, tmp_path):
    return shutil.copytree(folders, tmp_path / "copy", ignore=shutil.ignore_patterns("*.npz"))


def test_folders_hold_the_same_images_and_labels_as_the_official_layouts(tiny_folders, tiny_data):
    for split in ("train", "test"):
        folder, official = read_split(tiny_folders, "folder", split), read_split(tiny_data, "python", split)
        # read with the classes interleaved, the order of the tiny official files (labels cycle 0..9)
        np.testing.assert_array_equal(folder.labels[:12], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1])
        np.testing.assert_array_equal(folder.images, official.images)
        np.testing.assert_array_equal(folder.labels, official.labels)


def test_images_are_decoded_once_and_again_when_the_copy_changes(tiny_folders, tmp_path, monkeypatch):
    data = copy_of(tiny_folders, tmp_path)
    first = read_split(data, "folder", "test")
    assert (data / "test_decoded.npz").is_file()
    calls = []
    real_decode = image_folders.decode
    monkeypatch.setattr(image_folders, "decode", lambda path: calls.append(path) or real_decode(path))
    np.testing.assert_array_equal(read_split(data, "folder", "test").images, first.images)
    assert calls == []  # from the cache
    image = data / "test" / "cat" / sorted(p.name for p in (data / "test" / "cat").iterdir())[0]
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(image)
    changed = read_split(data, "folder", "test")
    assert len(calls) == 40 and changed.images.sum() < first.images.sum()


def test_jpeg_folders_are_read(tmp_path):
    write_folder_layout(tmp_path, per_batch=10, suffix=".jpg")
    assert len(read_split(tmp_path, "folder", "train")) == 50


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "train" / "kitten").mkdir(), r"train/kitten: unknown class folder: expected the CIFAR-10 classes airplane"),
        (lambda d: (d / "train" / "notes.txt").write_text("x"), r"train/notes\.txt: expected only class folders"),
        (lambda d: shutil.rmtree(d / "train" / "frog"), r"train/frog: missing class folder"),
        (lambda d: (d / "train" / "dog" / "readme.md").write_text("x"), r"train/dog/readme\.md: not a PNG or JPEG image file"),
        (lambda d: Image.new("RGB", (33, 32)).save(first_image(d)), r"dog/\d+\.png: is 33x32 pixels, expected 32x32"),
        (lambda d: first_image(d).write_bytes(b"\x89PNG broken"), r"dog/\d+\.png: not a readable image"),
        (lambda d: giant_png_header(first_image(d), 20_000, 20_000),
         r"dog/\d+\.png: refused before decoding: Image size \(400000000 pixels\) exceeds limit .*\(expected 32x32 pixels\)"),
        (lambda d: giant_png_header(first_image(d), 10_000, 9_000), r"dog/\d+\.png: is 10000x9000 pixels, expected 32x32"),
        (lambda d: next((d / "train" / "ship").iterdir()).unlink(), r"train/ship: holds 19 images but the other class folders hold 20"),
    ],
    ids=["unknown-class", "stray-file", "missing-class", "not-an-image", "wrong-size", "unreadable", "giant-header",
         "large-header", "short-class"],
)
def test_a_bad_copy_is_named_in_one_line(tiny_folders, tmp_path, damage, message):
    data = copy_of(tiny_folders, tmp_path)
    damage(data)
    with pytest.raises(DataError, match=message):
        read_split(data, "folder", "train")


def test_a_run_trains_on_image_folders_found_by_auto(tmp_path, tiny_folders):
    metrics = train(compose_run(tmp_path, *TINY_RUN, "trainer.max_epochs=4", "logger=none", data_dir=tiny_folders))
    assert metrics["status"] == "ok" and metrics["test/acc"] > 0.25  # separable tiny data: well above chance


@pytest.mark.parametrize("nested", [False, True], ids=["top-level", "in-one-folder"])
def test_an_archive_of_image_folders_is_downloaded_checked_and_extracted(tmp_path, tiny_folders, nested):
    source = tmp_path / "source" / "cifar10"
    shutil.copytree(tiny_folders, source, ignore=shutil.ignore_patterns("*.npz"))
    archive = tmp_path / "cifar10-images.tar.gz"
    if nested:
        md5 = make_archive(source, archive)
    else:
        import hashlib
        import tarfile

        with tarfile.open(archive, "w:gz") as tar:
            for split in ("train", "test"):
                tar.add(source / split, arcname=split)
        md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    data_dir = tmp_path / "data"
    datamodule = CIFAR10DataModule(data_dir=str(data_dir), url=archive.as_uri(), md5=md5, val_size=10, num_workers=0)
    datamodule.prepare_data()  # format auto: whatever layout the archive holds
    datamodule.setup("fit")
    assert datamodule.resolved_format() == "folder" and len(datamodule.train_set) == 190
    assert sorted(p.name for p in data_dir.iterdir() if not p.name.startswith(".")) == [
        "cifar10-images.tar.gz", "test", "train", "train_decoded.npz"]


def test_the_folder_layout_has_no_official_archive(tmp_path):
    datamodule = CIFAR10DataModule(data_dir=str(tmp_path / "data"), format="folder")
    with pytest.raises(DataError, match=r"data\.format=folder has no official archive: set data\.url and data\.md5"):
        datamodule.prepare_data()


@pytest.mark.parametrize("broken", ["missing", "directory"])
def test_an_incomplete_python_layout_names_the_file(tmp_path, broken):
    write_python_layout(tmp_path, per_batch=10)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    batch.unlink()
    if broken == "directory":
        batch.mkdir()
    expected = "is a directory, expected a batch file" if broken == "directory" else "missing"
    for download in (True, False):
        with pytest.raises(DataError, match=rf"CIFAR-10 incomplete: .*cifar-10-batches-py/data_batch_1: {expected} \(python layout\)"):
            CIFAR10DataModule(data_dir=str(tmp_path), download=download).prepare_data()


def test_auto_says_when_it_passes_over_an_incomplete_layout(tmp_path, caplog):
    write_python_layout(tmp_path, per_batch=10)
    write_binary_layout(tmp_path, per_batch=10)
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").unlink()
    datamodule = CIFAR10DataModule(data_dir=str(tmp_path), val_size=10, num_workers=0)
    with caplog.at_level(logging.WARNING):
        datamodule.prepare_data()
        datamodule.setup("fit")
    assert datamodule.resolved_format() == "binary"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith("data.format=auto: ") and "data_batch_1: missing (python layout); reading the binary layout instead" in warnings[0]
