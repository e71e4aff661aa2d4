"""``data``: images/s of each training data pipeline alone (no model), against the training rate of
the fastest model, so that the data is never what a run waits for (target: at least 3x).

Each pipeline is built the way the datamodule builds it for training: shuffled by (seed, epoch),
augmented with each of its recipes, and ending in normalized float batches on the training device
(for albumentations: its DataLoader, then the datamodule's ``on_after_batch_transfer``). The
images are random uint8 (the pipelines' speed does not depend on content). One untimed epoch, then
the median of ``--epochs`` timed ones. The tensor pipeline's one-off conversion (the split to the
device, normalized) is reported apart as ``setup_s``.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import torch

from cifar.bench.common import Stopwatch, header, model_names
from cifar.bench.throughput import fastest_training, throughput
from cifar.data.augment import RECIPES, build_augmentation
from cifar.data.datamodule import CIFAR10DataModule
from cifar.data.dataset import ImageArrayDataset
from cifar.data.tensor_pipeline import TENSOR_RECIPES, TensorBatches, tensor_augmentation

TARGET = 3.0


def tensor_epoch(batches: TensorBatches) -> int:
    seen = 0
    for _, labels in batches:
        seen += len(labels)
    return seen


def pipeline_rates(images: np.ndarray, labels: np.ndarray, batch_size: int, workers: list[int], epochs: int,
                   device: str) -> list[dict]:
    rows = []

    def timed(run_epoch, set_epoch) -> float:
        set_epoch(0)
        run_epoch()  # warm-up: worker start, allocator, first-call costs
        rates = []
        for epoch in range(1, epochs + 1):
            set_epoch(epoch)
            with Stopwatch(device) as watch:
                seen = run_epoch()
            rates.append(seen / watch.seconds)
        return statistics.median(rates)

    for recipe in RECIPES:
        for num_workers in workers:
            datamodule = CIFAR10DataModule(augment=recipe, batch_size=batch_size, num_workers=num_workers,
                                           persistent_workers=num_workers > 0)
            datamodule.train_set = ImageArrayDataset(images, labels, build_augmentation(recipe), seed=0)
            loader = datamodule.train_dataloader()
            sampler = loader.sampler

            def run(loader=loader, datamodule=datamodule) -> int:
                seen = 0
                for x, y in loader:
                    x, y = datamodule.on_after_batch_transfer((x.to(device), y.to(device)), 0)
                    seen += len(y)
                return seen

            rate = timed(run, sampler.set_epoch)
            rows.append({"pipeline": "albumentations", "augment": recipe, "workers": num_workers,
                         "images_per_s": round(rate, 1), "setup_s": 0.0})
            print(f"albumentations {recipe:20s} workers={num_workers} {rate:10.1f} images/s", flush=True)
    for recipe in TENSOR_RECIPES:
        with Stopwatch(device) as setup:
            batches = TensorBatches(images, labels, batch_size, device=device, shuffle=True,
                                    augment=tensor_augmentation(recipe), seed=0)
        rate = timed(lambda: tensor_epoch(batches), batches.set_epoch)
        rows.append({"pipeline": "tensor", "augment": recipe, "workers": 0,
                     "images_per_s": round(rate, 1), "setup_s": round(setup.seconds, 3)})
        print(f"tensor         {recipe:20s} workers=0 {rate:10.1f} images/s", flush=True)
    return rows


def reference_rate(path: Path | None, device: str, precision: str, batch_size: int) -> dict:
    """The fastest model's training images/s: from a ``bench throughput`` report made on this machine
    with this precision, or measured now (eager, every model, a few steps)."""
    here = header(device)["device"]
    if path is not None and path.is_file():
        report = json.loads(path.read_text())
        if report.get("device") == here and report.get("precision") == precision:
            best = fastest_training(report)
            return {**best, "source": str(path)}
    report = throughput(model_names(), ["eager"], batch_size, batch_size, steps=5, warmup=2, latency_runs=3,
                        device=device, precision=precision, threads=None)
    return {**fastest_training(report), "source": "measured now (eager, 5 steps)"}


def data_bench(images_count: int, batch_size: int, workers: list[int], epochs: int, device: str, precision: str,
               reference: Path | None, threads: int | None) -> dict:
    if threads:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (images_count, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, images_count)
    fastest = reference_rate(reference, device, precision, batch_size)
    rows = pipeline_rates(images, labels, batch_size, workers, epochs, device)
    for row in rows:
        row["x_fastest_model"] = round(row["images_per_s"] / fastest["train_images_per_s"], 2)
        row["meets_target"] = row["x_fastest_model"] >= TARGET
    return {
        "benchmark": "data",
        **header(device),
        "images": images_count, "batch_size": batch_size, "epochs": epochs, "precision": precision,
        "fastest_model": fastest, "target_x": TARGET,
        "results": rows,
    }


def markdown(report: dict) -> str:
    best = report["fastest_model"]
    lines = [
        f"data pipelines alone, {report['device']}, torch {report['torch']}, {report['images']:,} random images, "
        f"batch {report['batch_size']}, median of {report['epochs']} epochs, {report['date']}",
        f"fastest model: {best['model']} ({best['variant']}, {report['precision']}) trains at "
        f"{best['train_images_per_s']:,.0f} images/s ({best['source']}); target: >= {report['target_x']}x that",
        "",
        "| pipeline | augment | workers | images/s | x fastest model | >= target | setup (s) |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    lines += [
        f"| {r['pipeline']} | {r['augment']} | {r['workers']} | {r['images_per_s']:,.0f} | {r['x_fastest_model']:.1f} "
        f"| {'yes' if r['meets_target'] else 'no'} | {r['setup_s']:.2f} |"
        for r in report["results"]
    ]
    return "\n".join(lines)
