"""The frost photographs that CIFAR-10-C's frost corruption overlays, fetched once and checked by SHA-256.

``make_cifar_c.py`` picks one of its first five photographs (``frost1.png`` ... ``frost5.jpg``) per image. The
PyPI package ``imagecorruptions`` ships the same files in its ``frost/`` folder. They are taken from its wheel,
downloaded through the project's checked path (MD5 of the wheel, every member checked before extraction), or
copied from an installed ``imagecorruptions`` (never imported: it would pull scikit-image and a second OpenCV).
Offline, put the five files in the folder yourself: each is checked against the digest below.
"""

from __future__ import annotations

import functools
import importlib.util
import tempfile
from pathlib import Path

import cv2
import numpy as np

from cifar.data.archives import extract_safely
from cifar.data.download import download_archive
from cifar.errors import DataError
from cifar.evaluation.corrupted_sets import digest
from cifar.files import atomic_write_bytes, exclusive_lock

WHEEL_URL = ("https://files.pythonhosted.org/packages/3e/40/ff4a79ad7ab6463fe2fde7912b71084a6606e33676078a50b40a3"
             "377112b/imagecorruptions-1.1.2-py3-none-any.whl")
WHEEL_MD5 = "9311416fb21be0bf95ef30207c3905d7"
WHEEL_FOLDER = "imagecorruptions/frost"
PHOTOGRAPHS = {  # the script's first five, in its order, with the SHA-256 of imagecorruptions 1.1.2's copies
    "frost1.png": "ff9f907860bd7a835d459e32f9d588062b7f61ee267343cc7222b56753a14755",
    "frost2.png": "fe211a89b336999c207a852ce05818d4545d0b57c5beadd824b4cc9d9a9b6137",
    "frost3.png": "2d0d50b4a9bb213f38b024ef7768731bb83cc08d2f26b5766bbc167cdfa0e504",
    "frost4.jpg": "3f8b91ca1a9fa7167b09e773da53f5ae60d0a1fd88f02a783f6e328a72887f6e",
    "frost5.jpg": "5fc6a19df4a429ba68abdcc8f8a4278d4c9f81c9ccafd2c92ab0c8cf8992ebd2",
}
SCALE = 0.2  # the script shrinks each photograph to a fifth before cropping 32 x 32


def complete(folder: Path) -> bool:
    return all((folder / name).is_file() and digest((folder / name).read_bytes()) == sha256
               for name, sha256 in PHOTOGRAPHS.items())


def installed_copy() -> Path | None:
    """``imagecorruptions``' own frost folder, where that package is installed (found without importing it)."""
    spec = importlib.util.find_spec("imagecorruptions")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "frost"
    return folder if complete(folder) else None


def ensure(folder: str | Path, url: str = WHEEL_URL, md5: str = WHEEL_MD5) -> Path:
    """``folder`` holding the five photographs, checked; copied or downloaded there first when missing."""
    folder = Path(folder).expanduser()
    if complete(folder):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(folder / ".fetch.lock"):  # parallel evaluations: one fetches, the others wait
        if complete(folder):
            return folder
        source = installed_copy()
        with tempfile.TemporaryDirectory(prefix=".frost-", dir=folder) as tmp:
            if source is None:
                hint = (f"or put {', '.join(PHOTOGRAPHS)} (the frost/ folder of the PyPI package imagecorruptions "
                        f"1.1.2) in {folder}")
                wheel, _ = download_archive(url, Path(tmp), md5, what="the frost photographs", hint=hint)
                (Path(tmp) / "wheel").mkdir()
                extract_safely(wheel, Path(tmp) / "wheel", url)
                source = Path(tmp) / "wheel" / WHEEL_FOLDER
            for name, sha256 in PHOTOGRAPHS.items():
                path = source / name
                data = path.read_bytes() if path.is_file() else None
                if data is None or digest(data) != sha256:
                    raise DataError(f"{path}: {'missing' if data is None else 'not the frost photograph'} "
                                    f"CIFAR-10-C overlays (expected SHA-256 {sha256})")
                atomic_write_bytes(folder / name, data)
    return folder


@functools.lru_cache(maxsize=4)
def _load(folder: str) -> tuple[np.ndarray, ...]:
    photos = []
    for name in PHOTOGRAPHS:
        bgr = cv2.imread(str(Path(folder) / name))
        if bgr is None:
            raise DataError(f"{Path(folder) / name}: not a readable image")
        photos.append(np.ascontiguousarray(cv2.resize(bgr, (0, 0), fx=SCALE, fy=SCALE)[..., ::-1]))
    return tuple(photos)


def photographs(folder: str | Path) -> list[np.ndarray]:
    """The five photographs as the script uses them: RGB uint8, shrunk to a fifth (fetched into ``folder`` first
    when missing)."""
    return list(_load(str(ensure(folder).resolve())))
