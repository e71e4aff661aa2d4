"""Fetch a CIFAR-10 archive (the official one of a layout, or any ``data.url``), check its MD5, extract it atomically.

torchvision's ``calculate_md5`` does the checking and ``cifar.data.archives`` the unpacking (which
refuses an archive that would write outside its folder or fill the disk); the download is a plain urllib stream (torchvision's ``download_url`` needs a Content-Length, which
``file://`` URLs lack). An interrupted download or extraction never leaves a folder that later
passes for data: the archive is downloaded under a temporary name and renamed only once its checksum
matches, and it is extracted into a temporary folder whose layout is renamed into place only once
every batch file (or both image folders) is there. The layout may sit at the archive's top level or
in one folder inside it (``cifar10/train/...``).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from torchvision.datasets.utils import calculate_md5

from cifar.data.archives import extract_safely
from cifar.data.formats import FORMATS, Format, is_present, is_started, layout_entries, layout_problem
from cifar.errors import DataError
from cifar.files import exclusive_lock

log = logging.getLogger(__name__)

_EXTRACT_PREFIX = ".extract-"
_PART_SUFFIX = ".part"


@dataclass(frozen=True)
class Archive:
    url: str
    md5: str


OFFICIAL_ARCHIVES: dict[Format, Archive] = {
    "python": Archive("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),
    "binary": Archive("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530"),
}


def fetch(data_dir: str | Path, fmt: Format | str, url: str | None = None, md5: str | None = None) -> Path:
    """Make sure the ``fmt`` layout exists under ``data_dir``, downloading it if needed.

    ``url`` and ``md5`` default to the official archive of the layout; give both for a mirror,
    a ``file://`` copy, or the folder layout (which has no official archive). ``fmt="auto"``
    takes whichever layout the archive holds (the official python archive by default).
    Returns ``data_dir``.
    """
    data_dir = Path(data_dir)
    candidates: tuple[Format, ...] = FORMATS if fmt == "auto" else (fmt,)  # type: ignore[assignment]
    if any(is_present(data_dir, f) for f in candidates):
        return data_dir
    for f in candidates:
        if is_started(data_dir, f):
            raise DataError(f"{layout_problem(data_dir, f)}; complete or remove it, or point data.data_dir at a "
                            "complete copy")
    official = OFFICIAL_ARCHIVES.get(candidates[0])
    if url and not md5:
        raise DataError(f"data.url={url} needs data.md5, the archive's MD5, to check the download against")
    if official is None and not (url and md5):
        raise DataError(
            f"data.format={candidates[0]} has no official archive: set data.url and data.md5 to a .tar.gz of train/<class>/ "
            f"and test/<class>/ image folders, or put those folders in {data_dir} (data.data_dir)"
        )
    url = url or official.url
    md5 = (md5 or official.md5).lower()

    data_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(data_dir / ".fetch.lock"):  # parallel jobs: one downloads, the others wait
        if any(is_present(data_dir, f) for f in candidates):
            return data_dir
        _remove_leftovers(data_dir)
        archive, downloaded = download_archive(url, data_dir, md5)
        try:
            extract_atomically(archive, data_dir, candidates, source=url if downloaded else "")
        except BaseException:  # a refused archive: the data folder as it was (a copy that was there stays)
            if downloaded:
                archive.unlink(missing_ok=True)
            raise
    return data_dir


def archive_path(url: str, data_dir: Path) -> Path:
    """Where the archive at ``url`` is downloaded to: ``data_dir``/<the URL path's file name>, or
    ``cifar-10.tar.gz`` where that is no plain file name (empty, ``..``)."""
    name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name
    return data_dir / (name if name not in ("", ".", "..") and "\0" not in name else "cifar-10.tar.gz")


DATA_HINT = "Set data.url (and data.md5) to a reachable copy, or put the data in data.data_dir and set data.download=false"


def download_archive(url: str, data_dir: Path, md5: str, what: str = "CIFAR-10",
                     hint: str = DATA_HINT) -> tuple[Path, bool]:
    """Download ``url`` (``what`` it holds) into ``data_dir``; the archive's path, and whether it was downloaded
    now (False: a copy with that MD5 was there). A bad MD5, or a file or folder of that name that is not the
    archive (never overwritten), is a :class:`DataError`; one that cannot be downloaded ends with ``hint``."""
    archive = archive_path(url, data_dir)
    if archive.is_dir():
        raise DataError(f"{archive}: a folder has the name the download of {url} takes: rename it, or set "
                        "data.data_dir to another folder")
    if archive.is_file():
        actual = calculate_md5(archive)
        if actual != md5:
            raise DataError(f"{archive}: already there with another MD5 ({actual}; data.md5 is {md5}), and not "
                            "overwritten: remove it, or check data.md5")
        log.info("using %s (MD5 ok)", archive)
        return archive, False
    part = archive.with_name(archive.name + _PART_SUFFIX)
    log.info("downloading %s -> %s", url, archive)
    try:
        _stream(url, part)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        raise DataError(f"could not download {what} from {url}: {exc}. {hint}") from None
    actual = calculate_md5(part)
    if actual != md5:
        part.unlink(missing_ok=True)
        raise DataError(
            f"{url}: MD5 checksum mismatch (expected {md5}, got {actual}); the download was deleted "
            "and nothing was extracted. Check data.url and data.md5"
        )
    os.replace(part, archive)
    return archive, True


def _stream(url: str, dest: Path, chunk_bytes: int = 1 << 20) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "cifar-downloader"})
    with urllib.request.urlopen(request, timeout=60) as response, open(dest, "wb") as out:
        shutil.copyfileobj(response, out, chunk_bytes)
        out.flush()
        os.fsync(out.fileno())


def extract_atomically(archive: Path, data_dir: Path, formats: tuple[Format, ...], source: str = "") -> Path:
    """Extract ``archive`` into a temporary folder, find the first of ``formats`` complete in it, then
    rename that layout into place. Errors name ``source`` (the URL it came from), else the archive."""
    tmp = Path(tempfile.mkdtemp(prefix=_EXTRACT_PREFIX, dir=data_dir))
    source = source or str(archive)
    try:
        extract_safely(archive, tmp, source)
        inner = [p for p in tmp.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX"))]
        roots = [tmp] + (inner if len(inner) == 1 else [])
        found = next(((r, f) for f in formats for r in roots if is_present(r, f)), None)
        if found is None:
            fmt = formats[0]
            raise DataError(f"{source}: archive does not contain a complete {fmt} layout "
                            f"({', '.join(name + '/' for name in layout_entries(fmt))}) at its top level or in its one folder")
        root, fmt = found
        if fmt == "folder":  # every image folder checked before anything is moved into place
            from cifar.data.image_folders import image_files

            for split in layout_entries(fmt):
                image_files(root / split)
        for name in reversed(layout_entries(fmt)):  # (the folder layout: test/ first, train/ completes it)
            os.rename(root / name, data_dir / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return data_dir


def _remove_leftovers(data_dir: Path) -> None:
    """Delete temporary folders and partial downloads left by an interrupted earlier fetch."""
    for path in data_dir.iterdir():
        if path.name.startswith(_EXTRACT_PREFIX) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.name.endswith(_PART_SUFFIX) and path.is_file():
            path.unlink(missing_ok=True)
