"""The records behind a results table: ``python -m cifar.report PATH... --records DIR``.

A record is the few small files of a run (or of an evaluation) that ``cifar.report`` reads, copied
without the checkpoints, logs and figures: kilobytes, not megabytes, so they can be kept beside a
write-up or in version control, and ``python -m cifar.report DIR/...`` rebuilds the same table
from them on any machine. Each folder keeps its path below the parent of the PATH it was found
under: ``outputs/results`` → ``DIR/results/<recipe>/<seed>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cifar.files import atomic_write_bytes
from cifar.reporting.results import expand_paths


def copy_records(folders: Sequence[Path], given: Sequence[str], names: Sequence[str], dest: str | Path) -> None:
    """Copies the files ``names`` (those that exist) of each folder, found under one of the ``given``
    paths, to ``dest``."""
    roots = [path.resolve() for path in expand_paths(given)]
    for folder in folders:
        folder = folder.resolve()
        root = next(r for r in roots if r == folder or r in folder.parents)
        target = Path(dest) / folder.relative_to(root.parent)
        for name in names:
            if (folder / name).is_file():
                atomic_write_bytes(target / name, (folder / name).read_bytes())
