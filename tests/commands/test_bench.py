"""The benchmark harness runs and reports in its documented shape (timings are not tested)."""

from __future__ import annotations

import json
import subprocess

import pytest
import torch

from cifar.bench import speedrun as speedrun_bench
from cifar.bench.__main__ import main as bench_main
from helpers import TINY_SPEEDRUN, run_cli


def test_overhead_prints_both_paths_and_ends_with_the_ratio(tmp_path):
    out = tmp_path / "overhead.json"
    result = run_cli("bench", "overhead", "--steps", "3", "--warmup", "1", "--batch-size", "8", "--rounds", "1", "--json", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("ratio=") and float(last.split("=")[1]) > 0
    assert "| plain PyTorch loop |" in result.stdout and "| cifar (Lightning) |" in result.stdout
    report = json.loads(out.read_text())
    assert report["ratio"] == float(last.split("=")[1])


def test_overhead_of_a_logger_compares_the_lightning_path_without_and_with_it(tmp_path):
    out = tmp_path / "overhead.json"
    result = run_cli("bench", "overhead", "--logger", "csv", "--steps", "3", "--warmup", "1", "--batch-size", "8",
                     "--rounds", "2", "--json", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| cifar (Lightning), logger=none |" in result.stdout and "| cifar (Lightning), logger=csv |" in result.stdout
    report = json.loads(out.read_text())
    assert report["paths"] == ["logger=none", "logger=csv"] and [len(v) for v in report["images_per_s"].values()] == [2, 2]
    assert set(report["epoch_end_seconds"]) == {"logger=none", "logger=csv"}
    assert report["ratio"] == pytest.approx(report["medians"]["logger=csv"] / report["medians"]["logger=none"], abs=1e-3)


def test_latency_covers_every_model(tmp_path):
    out = tmp_path / "latency.json"
    result = run_cli("bench", "latency", "--models", "smallnet,netv2", "--runs", "3", "--json", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert [r["model"] for r in json.loads(out.read_text())["results"]] == ["smallnet", "netv2"]


def run_bench(*args: str) -> subprocess.CompletedProcess:
    result = run_cli("bench", *args)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def test_throughput_reports_every_model_and_variant_asked_for(tmp_path):
    out = tmp_path / "throughput.json"
    result = run_bench("throughput", "--models", "smallnet,basiccnn", "--variants", "eager,channels_last",
                       "--batch-size", "8", "--eval-batch-size", "8", "--steps", "1", "--warmup", "1",
                       "--latency-runs", "2", "--json", str(out))
    report = json.loads(out.read_text())
    assert [(r["model"], r["variant"]) for r in report["results"]] == [
        ("smallnet", "eager"), ("smallnet", "channels_last"), ("basiccnn", "eager"), ("basiccnn", "channels_last")]
    for row in report["results"]:
        assert row["train_images_per_s"] > 0 and row["infer_images_per_s"] > 0 and row["batch1_ms"] > 0
    assert "| smallnet | channels_last |" in result.stdout
    assert report["device"].startswith("cpu: ")


@pytest.mark.parametrize("args, message", [
    (["throughput", "--variants", "eager,turbo"], "error: --variants: unknown turbo: expected some of eager,"),
    (["throughput", "--models", "smallnet,nosuchnet"], "error: --models: unknown nosuchnet: expected some of basiccnn,"),
    (["speedrun", "experiment=nosuch"], "error: In 'train': Could not find 'experiment/nosuch' Available options in "
                                        "'experiment': basiccnn"),
    (["speedrun", "experiment=speedrun94", "seeds=0"], "error: seeds='0' is out of range: expected an integer >= 1"),
    (["overhead", "--warmup", "9", "--steps", "5"], "error: --warmup=9 is out of range: expected 0 <= warmup < --steps (5)"),
])


def test_bad_input_to_a_benchmark_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exited:  # (in this process: the wrapper is what is tested)
        bench_main([*args, "--json", str(tmp_path / "x.json")])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(message)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is there")


def test_a_benchmark_asked_for_an_absent_gpu_says_so_as_training_does(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        bench_main(["latency", "--device", "gpu", "--json", str(tmp_path / "x.json")])
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip() == "error: device 'gpu': no CUDA GPU is available here (use cpu or auto)"


def test_data_compares_every_pipeline_with_the_fastest_model(tmp_path):
    reference = tmp_path / "throughput.json"
    run_bench("throughput", "--models", "smallnet", "--variants", "eager", "--batch-size", "8", "--eval-batch-size",
              "8", "--steps", "1", "--warmup", "1", "--latency-runs", "2", "--json", str(reference))
    model_rate = json.loads(reference.read_text())["results"][0]["train_images_per_s"]
    out = tmp_path / "data.json"
    result = run_bench("data", "--images", "64", "--batch-size", "16", "--epochs", "1", "--reference", str(reference),
                       "--json", str(out))
    report = json.loads(out.read_text())
    assert report["fastest_model"]["model"] == "smallnet" and report["fastest_model"]["source"] == str(reference)
    pipelines = {(r["pipeline"], r["augment"]) for r in report["results"]}
    assert ("albumentations", "flip_affine_cutout") in pipelines and ("tensor", "crop_altflip") in pipelines
    for row in report["results"]:
        assert row["x_fastest_model"] == round(row["images_per_s"] / model_rate, 2)
        assert row["meets_target"] == (row["x_fastest_model"] >= 3.0)
    assert "| tensor | crop_flip |" in result.stdout


def test_bench_speedrun_reports_accuracy_time_and_ratio(tmp_path, tiny_data):
    out = tmp_path / "speedrun.json"
    result = run_cli("bench", "speedrun", "experiment=speedrun85", "seeds=2", *TINY_SPEEDRUN, "--warmup-steps", "1",
                     "--json", str(out), f"paths.data_dir={tiny_data}")  # overrides may follow options
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    report = json.loads(out.read_text())
    assert lines[-1] == f"acc={report['acc_mean']:.4f} time_s={report['time_median_s']:.1f}"
    assert any(line.startswith("ratio=") for line in lines) and report["ratio"] > 0
    assert [r["path"] for r in report["runs"]] == ["lightning", "lightning", "plain"]
    assert report["n"] == 2 and "amx_bf16" in report and report["precision"] == "32-true"
    # both paths train on the same number of images, and the harness reports the rate
    assert len({r["train_images"] for r in report["runs"]}) == 1 and report["runs"][0]["train_images"] % 32 == 0
    for r in report["runs"]:
        assert r["images_per_s"] == pytest.approx(r["train_images"] / r["seconds"], rel=0.02)
    assert "training images/s" in result.stdout
    # training FLOPs: each run's steps x one step's forward + backward at the recipe's batch (32 here)
    steps = report["runs"][0]["train_images"] // 32
    assert all(r["train_flops"] == steps * report["flops_per_step"] for r in report["runs"])
    assert "PFLOP (steps x" in result.stdout


def test_trained_images_counts_partial_last_batches():
    assert speedrun_bench.trained_images(336, 50_000, 1024, drop_last=True) == 336 * 1024
    # 100 images in batches of 32: 32, 32, 32, 4 per epoch when the last batch is kept
    assert speedrun_bench.trained_images(5, 100, 32, drop_last=False) == 100 + 32
    assert speedrun_bench.trained_images(8, 100, 32, drop_last=False) == 200
    assert speedrun_bench.trained_images(3, 100, 32, drop_last=True) == 96
