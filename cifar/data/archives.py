"""Unpack a tar or zip archive that someone else made, without letting it write outside its folder or fill the disk.

torchvision's ``extract_archive`` trusts every member name (on Python 3.11 ``tarfile.extractall`` has no
filter by default): a member named ``../../x`` or ``/home/me/.bashrc``, or a link pointing out of the folder,
writes where it points (tar-slip, CVE-2007-4559). Here every member is checked before anything is written,
and the archive is refused whole, with one line naming it and the member, when one of them:

* has an absolute name, or a name whose ``..`` climbs out of the folder;
* is a symbolic or hard link (a CIFAR-10 layout holds only folders and files, and a link inside is the first
  step of an escape), a device file or a FIFO;
* brings the declared unpacked size over ``MAX_UNPACKED_BYTES`` (a compression bomb), or over the free space.

Tar members are then extracted with Python's own ``"data"`` filter as a second guard; zip members by
``zipfile``, which writes a member's declared size at most (and fails its CRC if the data says otherwise),
so the bytes written never exceed the declared total checked here. A tar header record (a long name, a
PAX header) is read into memory whole: one over ``MAX_HEADER_BYTES`` is refused before it is read. A
member that fails while it is unpacked (a bad CRC, a corrupt stream) stops the extraction part way:
extract into a folder of your own (``fetch`` uses a temporary one and removes it).
"""

from __future__ import annotations

import lzma
import os
import shutil
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from cifar.errors import DataError

# 1 GiB: over 5 times the largest CIFAR-10 layout (the binary one, 60,000 x 3,073 bytes = 184 MB)
MAX_UNPACKED_BYTES = 1 << 30
# 4 times the folder layout's 60,000 images with their folders
MAX_MEMBERS = 250_000
MAX_HEADER_BYTES = 1 << 16  # a long name or PAX header record; real ones are a few hundred bytes
BLOCK = 4096  # what a file takes on disk at least (the free-space check)
READ_ERRORS = (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, RuntimeError, ValueError, zlib.error,
               lzma.LZMAError, MemoryError)
_HEADER_TYPES = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE,
                 tarfile.SOLARIS_XHDTYPE)


class _OversizedHeader(Exception):
    pass


class _BoundedTarInfo(tarfile.TarInfo):
    """A ``TarInfo`` that refuses a header record larger than ``MAX_HEADER_BYTES`` before tarfile reads it into
    memory (``_proc_member`` is the hook tarfile documents for subclasses)."""

    def _proc_member(self, tarfile_):
        if self.type in _HEADER_TYPES and self.size > MAX_HEADER_BYTES:
            raise _OversizedHeader(self.size)
        return super()._proc_member(tarfile_)


@dataclass(frozen=True)
class Member:
    """What the checks need of a tar or zip member."""

    name: str
    kind: str  # "file", "folder", "symbolic link", "hard link", "device file" or "FIFO"
    size: int  # declared unpacked bytes
    link: str = ""  # where a link points


def extract_safely(archive: str | Path, dest: str | Path, source: str = "") -> None:
    """Unpack the tar (any compression ``tarfile`` reads) or zip ``archive`` into the folder ``dest``, or raise
    :class:`~cifar.errors.DataError` before writing anything (see the module's docstring). Errors name
    ``source`` (where the archive came from: its URL), else the archive."""
    archive, dest = Path(archive), Path(dest)
    source = source or str(archive)
    try:
        try:  # tar first: a tar that ends with a zip member would pass zipfile's test
            tar = tarfile.open(archive, "r:*", tarinfo=_BoundedTarInfo)
        except tarfile.ReadError:
            if not zipfile.is_zipfile(archive):
                raise
            with zipfile.ZipFile(archive) as zf:
                check_members(source, dest, (_zip_member(info) for info in zf.infolist()))
                zf.extractall(dest)
            return
        with tar:
            check_members(source, dest, (_tar_member(m) for m in tar))  # (stops at the first bad member)
            tar.extractall(dest, filter="data")
    except DataError:
        raise
    except _OversizedHeader as exc:
        raise DataError(f"{source}: a tar header record declares {_size(exc.args[0])}, far more than any name or "
                        "attribute needs (a header bomb?): refused, nothing was extracted") from None
    except READ_ERRORS as exc:
        reason = " ".join(str(exc).split())  # (tarfile lists each method it tried on a line of its own)
        raise DataError(f"{source}: cannot extract archive (expected a tar or zip file): {reason}") from None


def check_members(archive: str, dest: Path, members) -> None:
    """Refuse ``archive`` at its first member that is unsafe to unpack into ``dest``, or once the members'
    declared sizes add up to more than ``MAX_UNPACKED_BYTES`` or the free space of ``dest``."""
    root = os.path.realpath(dest)
    total = count = on_disk = 0
    for member in members:
        count += 1
        why = _unsafe(member, root)
        if why:
            raise DataError(f"{archive}: member {member.name!r} {why}: refused, nothing was extracted")
        total += member.size
        on_disk += max(1, -(-member.size // BLOCK)) * BLOCK
        if total > MAX_UNPACKED_BYTES or count > MAX_MEMBERS:
            raise DataError(
                f"{archive}: unpacks to more than {_size(MAX_UNPACKED_BYTES)} or {MAX_MEMBERS:,} members (at member "
                f"{member.name!r}), more than any CIFAR-10 layout (a compression bomb?): refused, nothing was extracted")
    free = shutil.disk_usage(dest).free
    if on_disk > free:
        raise DataError(f"{archive}: unpacks to {_size(on_disk)} on disk but {dest} has {_size(free)} free: "
                        "nothing was extracted; free some space or set data.data_dir to another disk")


def _unsafe(member: Member, root: str) -> str | None:
    name = member.name
    if name.startswith(("/", "\\")) or os.path.isabs(name) or (len(name) > 1 and name[1] == ":"):
        return "has an absolute path"
    target = os.path.realpath(os.path.join(root, name))
    if os.path.commonpath([target, root]) != root:
        return "climbs out of the folder it is extracted into"
    if member.kind == "encrypted file":
        return "is encrypted"
    if member.kind not in ("file", "folder"):
        to = f" (to {member.link!r})" if member.link else ""
        return f"is a {member.kind}{to}, not a file or folder"
    return None


def _tar_member(member: tarfile.TarInfo) -> Member:
    if member.issym() or member.islnk():
        kind = "symbolic link" if member.issym() else "hard link"
        return Member(member.name, kind, 0, member.linkname)
    kind = ("file" if member.isreg() else "folder" if member.isdir() else "FIFO" if member.isfifo() else
            "device file" if member.ischr() or member.isblk() else f"member of tar type {member.type!r}")
    return Member(member.name, kind, member.size if member.isreg() else 0)


_ZIP_KINDS = {stat.S_IFLNK: "symbolic link", stat.S_IFCHR: "device file", stat.S_IFBLK: "device file",
              stat.S_IFIFO: "FIFO", stat.S_IFSOCK: "socket"}


def _zip_member(info: zipfile.ZipInfo) -> Member:
    # a zip made on Unix keeps the file's mode in the top 16 bits of external_attr (zipfile writes a link as a
    # file holding its target; refused all the same)
    mode = info.external_attr >> 16 if info.create_system == 3 else 0
    kind = _ZIP_KINDS.get(stat.S_IFMT(mode), "folder" if info.is_dir() else "file")
    if kind == "file" and info.flag_bits & 0x1:
        kind = "encrypted file"
    return Member(info.filename, kind, info.file_size)


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"
