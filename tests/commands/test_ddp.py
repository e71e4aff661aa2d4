"""DDP through Lightning under Hydra, on the CPU with two processes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from helpers import TINY_RUN, run_cli


def confusion_total(path: Path) -> int:
    with open(path, newline="") as fh:
        return sum(int(v) for row in list(csv.reader(fh))[1:] for v in row[1:])


def test_two_process_ddp_writes_one_run_with_synchronized_metrics(tmp_path, tiny_data):
    run_dir = tmp_path / "run"
    result = run_cli("train", *TINY_RUN, "data.batch_size=8", f"paths.data_dir={tiny_data}", "accelerator=cpu",
                     "trainer.strategy=ddp", "trainer.devices=2", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    # one output folder for the run (not one per rank), one metrics file, checkpoints written once
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs"] == 2
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir() if not p.name.startswith(".")) == sorted(
        [Path(metrics["best_checkpoint"]).name, "last.ckpt"]
    )
    # each rank saw half of the data; the matrices count all of it
    assert confusion_total(run_dir / "confusion_val.csv") == 40
    assert confusion_total(run_dir / "confusion_test.csv") == 40
    assert (run_dir / "train_ddp_process_1.log").is_file()
