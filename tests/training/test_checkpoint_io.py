"""Checkpoints are written once, beside their target: a small system temp dir does not stop a run, and a full
disk is one line naming the file (exit 2), with no partial file left. Each run sees a 3 MB file system of its
own (a tmpfs in a private mount namespace, gone when the run ends)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from helpers import ROOT, TINY_RUN

SMALL_FS = "3m"  # smaller than one deepcnn checkpoint (25 MiB)
RUN = ["model=deepcnn", *TINY_RUN, "trainer.max_epochs=1", "logger=none"]


def with_small_fs(mount, script: str) -> subprocess.CompletedProcess:
    """``script`` (sh) with a 3 MB tmpfs mounted at ``mount``, in a mount namespace of its own."""
    mount.mkdir(exist_ok=True)
    command = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
               f"mount -t tmpfs -o size={SMALL_FS} none '{mount}' && {script}"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def small_fs_works(tmp_path_factory):
    probe = with_small_fs(tmp_path_factory.mktemp("probe") / "fs", "true") if shutil.which("unshare") else None
    if probe is None or probe.returncode:
        reason = "cannot mount a tmpfs in a private namespace: " + (probe.stderr.strip() if probe else "no unshare")
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


def train_command(run_dir, data_dir) -> str:
    args = " ".join(f"'{a}'" for a in [*RUN, f"paths.data_dir={data_dir}", f"hydra.run.dir={run_dir}"])
    return f"{sys.executable} -m cifar.train {args}"


def test_a_small_temp_dir_does_not_stop_training_and_holds_no_checkpoint_byte(tmp_path, tiny_data, small_fs_works):
    small = tmp_path / "tmp"
    run = with_small_fs(small, f"TMPDIR='{small}' {train_command(tmp_path / 'run', tiny_data)} && "
                               f"echo files in the temp dir: && find '{small}' -type f")
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split("files in the temp dir:")[-1].strip() == ""
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["status"] == "ok"
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").stat().st_size > 3 << 20


def test_a_full_disk_is_one_line_naming_the_file_and_leaves_no_partial_file(tmp_path, tiny_data, small_fs_works):
    small = tmp_path / "small"
    run = with_small_fs(small, f"{train_command(small / 'run', tiny_data)}; echo exit $?; "
                               f"echo partial files: && find '{small}' -name '*.tmp'; cat '{small}/run/metrics.json'")
    assert "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith(f"error: {small}/run/checkpoints/")
    assert errors[0].endswith("is free") and ".ckpt: cannot write it, no space left on its disk: it needs 2" in errors[0]
    assert "exit 2" in run.stdout
    partial, _, metrics = run.stdout.partition("partial files:")[2].partition("{")
    assert partial.strip() == ""
    record = json.loads("{" + metrics)
    assert record["status"] == "failed" and record["error"] == errors[0].removeprefix("error: ")
