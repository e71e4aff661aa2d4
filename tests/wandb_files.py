"""A W&B offline run read back from its own files: ``run-<id>.wandb`` (W&B's transaction log: a 7-byte header,
then 32 KiB blocks of records, each a 7-byte header (checksum, length, type: full, first, middle or last) and a
piece of a protobuf ``Record``), and its ``files/`` folder."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

BLOCK, HEADER = 32768, 7
FULL, LAST = 1, 4


def records(path: Path):
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path}: not a W&B transaction log"
    pos, pieces = HEADER, b""
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:  # (a block's tail too short for a header is padding)
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + HEADER])
        if length == 0 and kind == 0:
            pos += left
            continue
        pieces += data[pos + HEADER:pos + HEADER + length]
        pos += HEADER + length
        if kind in (FULL, LAST):
            record = pb.Record()
            record.ParseFromString(pieces)
            pieces = b""
            yield record


@dataclass
class OfflineRun:
    folder: Path
    run_id: str = ""
    name: str = ""
    group: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    step_metrics: dict[str, str] = field(default_factory=dict)  # metric name or glob -> the metric its charts plot against
    exit_code: int | None = None

    def series(self, key: str) -> list[tuple[float, float]]:
        """(``epoch`` or ``trainer/global_step``, value) of every history row that has ``key``."""
        step = "epoch" if key.startswith("epoch/") else "trainer/global_step"
        return [(row.get(step), row[key]) for row in self.history if key in row]

    @property
    def files(self) -> list[str]:
        return sorted(str(p.relative_to(self.folder / "files")) for p in (self.folder / "files").rglob("*") if p.is_file())


def read_offline_run(folder: Path) -> OfflineRun:
    (log,) = Path(folder).glob("run-*.wandb")
    run = OfflineRun(Path(folder))
    for record in records(log):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.run_id, run.name, run.group = record.run.run_id, record.run.display_name, record.run.run_group
            run.tags = list(record.run.tags)
        elif kind == "config":
            run.config.update({item.key: json.loads(item.value_json) for item in record.config.update})
        elif kind == "history":
            run.history.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                                for item in record.history.item})
        elif kind == "metric" and record.metric.step_metric:
            run.step_metrics[record.metric.name or record.metric.glob_name] = record.metric.step_metric
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    return run


def offline_runs(run_dir: Path) -> list[OfflineRun]:
    """Every offline run W&B wrote into a run folder (``<run>/wandb/offline-run-*``), oldest first."""
    return [read_offline_run(f) for f in sorted(Path(run_dir, "wandb").glob("offline-run-*"))]
