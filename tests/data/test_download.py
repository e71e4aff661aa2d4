"""Download through a URL (file:// here), MD5 check, atomic extraction."""

from __future__ import annotations

import functools
import http.server
import threading

import numpy as np
import pytest

from cifar.data.datamodule import CIFAR10DataModule
from cifar.data.download import fetch
from cifar.data.formats import is_present, read_split
from cifar.errors import DataError
from helpers import make_archive, write_binary_layout, write_python_layout


@pytest.fixture
def python_archive(tmp_path):
    source = tmp_path / "source"
    folder = write_python_layout(source, per_batch=20)
    archive = tmp_path / "mirror" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    return archive, make_archive(folder, archive)


def leftovers(folder):
    """What a fetch left in ``folder``, besides its lock file."""
    return sorted(p.name for p in folder.iterdir() if p.name != ".fetch.lock") if folder.exists() else []


def test_downloads_checks_and_extracts_from_a_file_url(tmp_path, python_archive):
    archive, md5 = python_archive
    data_dir = tmp_path / "data"
    layout = fetch(data_dir, "python", url=archive.as_uri(), md5=md5)
    assert layout == data_dir
    assert is_present(data_dir, "python")
    assert len(read_split(data_dir, "python", "train")) == 100
    # only the verified archive and the layout remain
    assert leftovers(data_dir) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]
    # a second call finds the data and downloads nothing
    archive.unlink()
    assert fetch(data_dir, "python", url=archive.as_uri(), md5=md5) == layout


def test_bad_md5_is_refused_and_nothing_is_extracted(tmp_path, python_archive):
    archive, md5 = python_archive
    data_dir = tmp_path / "data"
    wrong = "0" * 32
    with pytest.raises(DataError, match=rf"MD5 checksum mismatch \(expected {wrong}, got {md5}\).*nothing was extracted"):
        fetch(data_dir, "python", url=archive.as_uri(), md5=wrong)
    assert leftovers(data_dir) == []


def test_archive_without_the_layout_leaves_nothing_behind(tmp_path):
    source = tmp_path / "source"
    folder = write_binary_layout(source, per_batch=20)  # binary inside, python asked for
    archive = tmp_path / "cifar-10-python.tar.gz"
    md5 = make_archive(folder, archive)
    data_dir = tmp_path / "data"
    with pytest.raises(DataError, match=r"cifar-10-python\.tar\.gz: archive does not contain a complete python layout \(cifar-10-batches-py/\)"):
        fetch(data_dir, "python", url=archive.as_uri(), md5=md5)
    assert not (data_dir / "cifar-10-batches-py").exists()
    assert [n for n in leftovers(data_dir) if n.startswith(".")] == []


def test_leftovers_of_an_interrupted_fetch_are_cleaned_and_never_pass_for_data(tmp_path, python_archive):
    archive, md5 = python_archive
    data_dir = tmp_path / "data"
    (data_dir / ".extract-killed" / "cifar-10-batches-py").mkdir(parents=True)
    (data_dir / "cifar-10-python.tar.gz.part").write_bytes(b"half an archive")
    assert not is_present(data_dir, "python")
    fetch(data_dir, "python", url=archive.as_uri(), md5=md5)
    assert leftovers(data_dir) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]


def test_unreachable_url_says_what_to_do(tmp_path):
    with pytest.raises(DataError, match=r"could not download CIFAR-10 from file://.*data\.url"):
        fetch(tmp_path / "data", "binary", url=(tmp_path / "nowhere.tar.gz").as_uri(), md5="0" * 32)


def test_a_url_without_its_md5_is_refused_before_downloading(tmp_path):
    with pytest.raises(DataError, match=r"data\.url=file://.* needs data\.md5"):
        fetch(tmp_path / "data", "auto", url=(tmp_path / "mirror.tar.gz").as_uri())


def test_datamodule_downloads_when_data_is_missing(tmp_path, python_archive):
    archive, md5 = python_archive
    dm = CIFAR10DataModule(data_dir=str(tmp_path / "data"), url=archive.as_uri(), md5=md5, val_size=10, num_workers=0)
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.train_set) == 90 and len(dm.val_set) == 10
    images, labels = next(iter(dm.train_dataloader()))
    assert images.dtype.is_floating_point is False and images.shape[1:] == (3, 32, 32)
    assert np.all(labels.numpy() < 10)


def test_datamodule_without_download_names_the_missing_folder(tmp_path):
    dm = CIFAR10DataModule(data_dir=str(tmp_path / "nothing"), download=False)
    with pytest.raises(DataError, match=r"CIFAR-10 not found: expected cifar-10-batches-py/, cifar-10-batches-bin/ or train/ and test/ image folders in .*nothing; set data\.data_dir"):
        dm.prepare_data()


def test_http_mirror_with_a_query_string(tmp_path, python_archive):
    archive, md5 = python_archive
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(archive.parent))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/{archive.name}?dl=1"
        fetch(tmp_path / "data", "python", url=url, md5=md5)
    finally:
        server.shutdown()
    # the archive is named after the URL's path, not its query
    assert leftovers(tmp_path / "data") == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]
