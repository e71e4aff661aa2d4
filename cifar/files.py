"""Writers for the files a run leaves behind (JSON, CSV, any bytes), all atomic, and a lock across processes.

Each file is written to a temporary name in the same folder and renamed into place, so a crash
mid-write leaves the previous version (or nothing), never half a file.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cifar.errors import DiskFullError

@contextmanager
def exclusive_lock(lock_path: str | Path) -> Iterator[None]:
    """An advisory lock across processes (a no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def atomic_write_bytes(path: str | Path, data: bytes | memoryview) -> Path:
    """``data`` into ``path``, through a temporary file beside it (never in the system temp dir): no byte
    lands outside ``path``'s folder. A full disk raises :class:`~cifar.errors.DiskFullError` naming the
    file and the space it needed, and leaves no partial file."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o644)  # mkstemp makes it private; results are for everyone to read
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            free = shutil.disk_usage(path.parent).free if path.parent.is_dir() else 0
            raise DiskFullError(f"{path}: cannot write it, no space left on its disk: it needs {_size(len(data))}, "
                                f"{_size(free)} is free") from None
        raise
    return path


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 100_000 else f"{n / 1024:.1f} KiB"


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return atomic_write_text(path, buffer.getvalue())
