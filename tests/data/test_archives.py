"""Hostile archives, tar and zip, fetched as ``data.url=file://...`` with their own ``data.md5``: each is refused
with one line naming the archive and the member, nothing appears outside the folder it is extracted into,
and the data folder is left as it was."""

from __future__ import annotations

import gzip
import hashlib
import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from cifar.data import archives
from cifar.data.archives import MAX_UNPACKED_BYTES, extract_safely
from cifar.data.download import fetch
from cifar.data.formats import is_present
from cifar.errors import DataError
from helpers import write_python_layout


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def place(tmp_path):
    """A data folder three levels down (``X/a/b``, as a user's would be) holding one file of its own, and
    ``fetch_hostile(archive)``: fetches it into that folder, asserts that nothing changed anywhere under
    ``X`` (the archive's own folder aside) and returns the error's one line."""
    data_dir = tmp_path / "X" / "a" / "b"
    data_dir.mkdir(parents=True)
    (data_dir / "notes.txt").write_text("mine")
    before = tree(tmp_path / "X")

    def fetch_hostile(archive: Path) -> str:
        md5 = hashlib.md5(archive.read_bytes()).hexdigest()
        with pytest.raises(DataError) as refused:
            fetch(data_dir, "auto", url=archive.as_uri(), md5=md5)
        message = str(refused.value)
        assert "\n" not in message
        assert tree(tmp_path / "X") - {"a/b/.fetch.lock"} == before  # nothing outside, the data folder as it was
        assert (data_dir / "notes.txt").read_text() == "mine"
        assert not (tmp_path / "escaped.txt").exists()
        return message

    fetch_hostile.archive_dir = tmp_path / "archives"
    fetch_hostile.archive_dir.mkdir()
    return fetch_hostile


def tar_with(path: Path, *members: tuple[tarfile.TarInfo, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def tar_member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def zip_with(path: Path, *members: tuple[str, bytes, int]) -> Path:
    """Members as (name, data, Unix file type and mode, 0 for a plain file)."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name)
            if mode:
                info.create_system, info.external_attr = 3, mode << 16
            zf.writestr(info, data)
    return path


ESCAPE = "../../escaped.txt"  # from X/a/b/.extract-*/: lands in X/a/


def test_a_tar_member_climbing_out_with_dotdot_is_refused(place):
    archive = tar_with(place.archive_dir / "slip.tar.gz", (tar_member(ESCAPE), b"pwned"))
    message = place(archive)
    assert message == f"{archive.as_uri()}: member '{ESCAPE}' climbs out of the folder it is extracted into: refused, nothing was extracted"


def test_a_zip_member_climbing_out_with_dotdot_is_refused(place):
    archive = zip_with(place.archive_dir / "slip.zip", (ESCAPE, b"pwned", 0))
    assert place(archive).endswith(f"member '{ESCAPE}' climbs out of the folder it is extracted into: refused, nothing was extracted")


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_a_member_with_an_absolute_path_is_refused(place, tmp_path, kind):
    target = str(tmp_path / "escaped.txt")
    if kind == "tar":
        archive = tar_with(place.archive_dir / "abs.tar.gz", (tar_member(target), b"pwned"))
    else:
        archive = zip_with(place.archive_dir / "abs.zip", (target, b"pwned", 0))
    assert f"member '{target}' has an absolute path: refused" in place(archive)


def test_a_tar_symlink_out_and_a_file_written_through_it_are_refused(place):
    archive = tar_with(place.archive_dir / "symlink.tar.gz", (tar_member("train", tarfile.SYMTYPE, "../.."), b""),
                       (tar_member("train/escaped.txt"), b"pwned"))
    assert "member 'train' is a symbolic link (to '../..'), not a file or folder: refused" in place(archive)


def test_a_tar_symlink_pointing_inside_is_refused_too(place):
    """The first step of a two-step escape (``a -> .``, then ``a/b -> ..``): a CIFAR-10 layout has no links."""
    archive = tar_with(place.archive_dir / "inside.tar.gz", (tar_member("a", tarfile.SYMTYPE, "."), b""),
                       (tar_member("a/b", tarfile.SYMTYPE, ".."), b""))
    assert "member 'a' is a symbolic link (to '.')" in place(archive)


def test_a_zip_symlink_is_refused(place):
    archive = zip_with(place.archive_dir / "symlink.zip", ("train", b"/etc", stat.S_IFLNK | 0o777))
    assert "member 'train' is a symbolic link, not a file or folder: refused" in place(archive)


def test_a_tar_hard_link_out_is_refused(place):
    archive = tar_with(place.archive_dir / "hardlink.tar.gz", (tar_member("passwd", tarfile.LNKTYPE, "/etc/passwd"), b""))
    assert "member 'passwd' is a hard link (to '/etc/passwd'), not a file or folder: refused" in place(archive)


@pytest.mark.parametrize("kind, tar_type, zip_mode, what", [
    ("device", tarfile.CHRTYPE, stat.S_IFCHR | 0o666, "a device file"),
    ("block device", tarfile.BLKTYPE, stat.S_IFBLK | 0o666, "a device file"),
    ("fifo", tarfile.FIFOTYPE, stat.S_IFIFO | 0o666, "a FIFO"),
])
@pytest.mark.parametrize("archive_kind", ["tar", "zip"])
def test_device_files_and_fifos_are_refused(place, kind, tar_type, zip_mode, what, archive_kind):
    if archive_kind == "tar":
        archive = tar_with(place.archive_dir / "special.tar.gz", (tar_member("test/null", tar_type), b""))
    else:
        archive = zip_with(place.archive_dir / "special.zip", ("test/null", b"", zip_mode))
    assert f"member 'test/null' is {what}, not a file or folder: refused" in place(archive)


def test_a_refused_archive_writes_none_of_its_safe_members_either(place):
    archive = tar_with(place.archive_dir / "mixed.tar.gz", (tar_member("train/ok.txt"), b"fine"),
                       (tar_member(ESCAPE), b"pwned"))
    place(archive)  # (place asserts the data folder holds no train/)


def gzip_tar_bomb(path: Path, size: int) -> Path:
    """A .tar.gz of one file of ``size`` zero bytes, made without compressing them (gzip members of 1 MiB of
    zeros, concatenated): a few hundred kB on disk."""
    info = tarfile.TarInfo("zeros.bin")
    info.size = size
    chunk, mib = gzip.compress(bytes(1 << 20)), 1 << 20
    padded = -(-size // 512) * 512 + 1024  # the data to a whole block, then the end-of-archive blocks
    with open(path, "wb") as out:
        out.write(gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT)))
        for _ in range(padded // mib):
            out.write(chunk)
        out.write(gzip.compress(bytes(padded % mib)))
    return path


def test_a_tar_gz_bomb_is_refused_before_anything_is_written(place):
    archive = gzip_tar_bomb(place.archive_dir / "bomb.tar.gz", MAX_UNPACKED_BYTES + (300 << 20))
    assert archive.stat().st_size < 2 << 20
    assert "unpacks to more than 1.0 GiB or 250,000 members (at member 'zeros.bin'), more than any CIFAR-10 " \
           "layout (a compression bomb?): refused, nothing was extracted" in place(archive)


def test_a_zip_declaring_more_than_the_bound_is_refused_from_its_directory(place):
    archive = zip_with(place.archive_dir / "bomb.zip", ("zeros.bin", bytes(1000), 0))
    declared = MAX_UNPACKED_BYTES + (300 << 20)
    raw = archive.read_bytes()
    central = raw.rindex(b"PK\x01\x02")  # the central directory entry's uncompressed size, at offset 24
    archive.write_bytes(raw[:central + 24] + declared.to_bytes(4, "little") + raw[central + 28:])
    assert "unpacks to more than 1.0 GiB" in place(archive)


def test_a_zip_member_holding_more_than_it_declares_writes_no_more_than_declared(tmp_path):
    """zipfile stops at the declared size and fails the CRC: the declared total, checked, bounds the bytes written."""
    archive = zip_with(tmp_path / "liar.zip", ("big.bin", bytes(100_000), 0))
    raw = bytearray(archive.read_bytes())
    for header, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # local and central uncompressed sizes
        at = raw.index(header) + offset
        raw[at:at + 4] = (1000).to_bytes(4, "little")
    archive.write_bytes(bytes(raw))
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(DataError, match=r"liar\.zip: cannot extract archive .*CRC"):
        extract_safely(archive, dest)
    assert sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()) <= 1000


def test_many_members_over_the_bound_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(archives, "MAX_MEMBERS", 5)
    archive = zip_with(tmp_path / "many.zip", *((f"train/{i}.png", b"x", 0) for i in range(6)))
    (tmp_path / "dest").mkdir()
    with pytest.raises(DataError, match=r"many\.zip: unpacks to more than 1\.0 GiB or 5 members \(at member 'train/5\.png'\)"):
        extract_safely(archive, tmp_path / "dest")
    assert tree(tmp_path / "dest") == set()


def test_an_archive_larger_than_the_free_space_is_refused(tmp_path, monkeypatch):
    archive = zip_with(tmp_path / "fits.zip", ("train/a.bin", bytes(50_000), 0))
    (tmp_path / "dest").mkdir()
    monkeypatch.setattr(archives.shutil, "disk_usage", lambda path: type("Usage", (), {"free": 10_000})())
    with pytest.raises(DataError, match=r"fits\.zip: unpacks to 52\.0 KiB on disk but .*dest has 9\.8 KiB free: nothing was "
                                        r"extracted; free some space or set data\.data_dir"):
        extract_safely(archive, tmp_path / "dest")
    assert tree(tmp_path / "dest") == set()


def test_a_plain_file_is_no_archive(tmp_path):
    (tmp_path / "dest").mkdir()
    (tmp_path / "notes.tar.gz").write_text("not an archive")
    with pytest.raises(DataError, match=r"notes\.tar\.gz: cannot extract archive \(expected a tar or zip file\)"):
        extract_safely(tmp_path / "notes.tar.gz", tmp_path / "dest")


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_a_safe_archive_of_the_python_layout_still_extracts(tmp_path, kind):
    folder = write_python_layout(tmp_path / "source", per_batch=10)
    archive = tmp_path / f"cifar-10-python.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            for path in sorted(folder.rglob("*")):
                zf.write(path, path.relative_to(folder.parent))
    else:
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(folder, arcname=folder.name)
    data_dir = tmp_path / "data"
    fetch(data_dir, "python", url=archive.as_uri(), md5=hashlib.md5(archive.read_bytes()).hexdigest())
    assert is_present(data_dir, "python")


def test_a_tar_header_record_too_large_to_read_is_refused_unread(place):
    """A long-name (or PAX) record is read into memory whole: one declaring 1.5 GiB is refused before it is."""
    record = tarfile.TarInfo("././@LongLink")
    record.type, record.size = tarfile.GNUTYPE_LONGNAME, 3 << 29
    archive = place.archive_dir / "header-bomb.tar.gz"
    with open(archive, "wb") as out:
        out.write(gzip.compress(record.tobuf(format=tarfile.GNU_FORMAT)))
        out.write(gzip.compress(bytes(1 << 20)) * 64)  # (the record's first 64 MiB: enough to tell)
    assert "a tar header record declares 1.5 GiB, far more than any name or attribute needs (a header bomb?): " \
           "refused, nothing was extracted" in place(archive)


def test_an_encrypted_zip_member_is_refused(place):
    archive = zip_with(place.archive_dir / "secret.zip", ("train/a.png", b"x", 0))
    raw = bytearray(archive.read_bytes())
    for header, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # the general purpose flags: bit 0, encrypted
        raw[raw.index(header) + offset] |= 1
    archive.write_bytes(bytes(raw))
    assert "member 'train/a.png' is encrypted: refused" in place(archive)


@pytest.mark.parametrize("content", [b"not an archive", gzip.compress(b"a gzip of no tar"), b"\xfd7zXZ\x00 broken xz"])
def test_a_file_that_is_no_archive_or_a_corrupt_one_is_one_line(place, content):
    archive = place.archive_dir / "broken.tar.gz"
    archive.write_bytes(content)
    assert "broken.tar.gz: cannot extract archive (expected a tar or zip file): " in place(archive)


def test_a_file_of_the_archives_name_in_the_data_folder_is_never_overwritten(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "notes.txt").write_text("mine")
    source = tmp_path / "notes.txt"
    source.write_text("theirs")
    md5 = hashlib.md5(b"theirs").hexdigest()
    with pytest.raises(DataError, match=r"data/notes\.txt: already there with another MD5 .* not overwritten"):
        fetch(data_dir, "auto", url=source.as_uri(), md5=md5)
    assert (data_dir / "notes.txt").read_text() == "mine"


def test_a_tar_that_ends_with_a_zip_is_read_as_the_tar(tmp_path):
    inner = tmp_path / "extras.zip"
    zip_with(inner, ("inner.txt", b"x", 0))
    archive = tmp_path / "layout.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(inner, arcname="train/extras.zip")
    (tmp_path / "dest").mkdir()
    extract_safely(archive, tmp_path / "dest")
    assert tree(tmp_path / "dest") == {"train", "train/extras.zip"}
