"""The benchmark harness runs and reports in its documented shape (timings are not tested)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_overhead_prints_both_paths_and_ends_with_the_ratio(tmp_path):
    out = tmp_path / "overhead.json"
    result = subprocess.run(
        [sys.executable, "-m", "cifar.bench", "overhead", "--steps", "3", "--batch-size", "8", "--rounds", "1",
         "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("ratio=") and float(last.split("=")[1]) > 0
    assert "| plain PyTorch loop |" in result.stdout and "| cifar (Lightning) |" in result.stdout
    report = json.loads(out.read_text())
    assert report["ratio"] == float(last.split("=")[1])


def test_latency_covers_every_model(tmp_path):
    out = tmp_path / "latency.json"
    result = subprocess.run([sys.executable, "-m", "cifar.bench", "latency", "--models", "smallnet,netv2",
                             "--runs", "3", "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert [r["model"] for r in json.loads(out.read_text())["results"]] == ["smallnet", "netv2"]
