"""``bench record`` runs the speed record's own code (airbench) on the CPU and undoes its CPU shims."""

from __future__ import annotations

import json
import os
import sys

import pytest
import torch

from cifar.bench.__main__ import main as bench_main


def shimmed() -> dict:
    """What ``bench record`` replaces while airbench runs."""
    return {"Tensor.half": torch.Tensor.half, "Tensor.cuda": torch.Tensor.cuda, "Module.half": torch.nn.Module.half,
            "Module.cuda": torch.nn.Module.cuda, "cuda.Event": torch.cuda.Event,
            "cuda.synchronize": torch.cuda.synchronize, "load": torch.load, "cwd": os.getcwd(),
            "cudnn.benchmark": torch.backends.cudnn.benchmark}


def test_record_runs_airbench_on_tiny_data_and_undoes_its_shims(tmp_path, tiny_data, capsys):
    originals = shimmed()
    out = tmp_path / "record.json"
    # 200 training images in batches of 32, last partial batch dropped: 6 steps, 192 images
    bench_main(["record", "--batch-size", "32", "--epochs", "1", "--warmup-steps", "2", "--json", str(out),
                f"paths.data_dir={tiny_data}"])  # (overrides may follow options)
    lines = capsys.readouterr().out.strip().splitlines()
    report = json.loads(out.read_text())
    assert report["code"] == "airbench 0.1.8 train94" and report["benchmark"] == "record"
    assert report["precision"] in ("bf16-mixed", "32-true") and "bf16_flags" in report and "cpu" in report
    assert (report["train_size"], report["test_size"], report["steps"]) == (200, 40, 6)
    [run] = report["runs"]
    assert run["seed"] == 0 and 0 <= run["test_acc"] <= 1 and 0 <= run["test_acc_no_tta"] <= 1
    assert run["seconds"] > 0 and run["train_images"] == 192
    assert run["images_per_s"] == pytest.approx(192 / run["seconds"], rel=0.05)
    assert report["n"] == 1 and report["acc_mean"] == run["test_acc"] and report["time_median_s"] == run["seconds"]
    assert report["warmup_s"] > 0
    # the record's network does the project's speednet's FLOPs, step for step
    from cifar.models.flops import train_step_flops
    from cifar.models.speednet import SpeedNet

    assert report["flops_per_step"] == train_step_flops(SpeedNet(), 32) and report["train_flops"] == 6 * report["flops_per_step"]
    assert lines[-1] == f"acc={report['acc_mean']:.4f} time_s={report['time_median_s']:.1f}"
    assert any(line.startswith("| 0 | ") for line in lines)
    after = shimmed()
    assert all(after[k] is originals[k] or after[k] == originals[k] for k in originals), after
    assert "half" not in vars(torch.Tensor) and "cuda" not in vars(torch.Tensor)  # (inherited again, not copied)
    assert torch.ones(1).half().dtype == torch.float16


def test_record_without_airbench_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "airbench", None)  # `import airbench` raises ImportError
    with pytest.raises(SystemExit) as exited:
        bench_main(["record", "--json", str(tmp_path / "x.json")])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and 'pip install -e ".[bench]"' in err


def test_record_takes_data_overrides_only(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        bench_main(["record", "model.widths=[8,8,8]", "--json", str(tmp_path / "x.json")])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: model.widths=[8,8,8]: bench record takes data")
