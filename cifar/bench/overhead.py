"""``overhead``: the same model, data (the tensor pipeline over random images), batch size,
precision and number of steps trained through the project's Lightning path (its config,
callbacks, progress bar and TensorBoard logger) and through a plain PyTorch loop, interleaved in
one process, in ABBA order over the rounds. The steps after the first ``warmup`` ones (first steps
allocate the optimizer state and, in the Lightning path, open the loggers' files) are timed in both,
to the end of the last: what the Lightning path costs per step. What it costs once per epoch (the epoch's
end: curves CSV and figure, TensorBoard's per-epoch series) is timed apart, as ``epoch_end_seconds``.
The last line printed is ``ratio=<lightning/plain>``."""

from __future__ import annotations

import copy
import statistics
import tempfile
import time

import numpy as np
import torch

from cifar.bench.common import header, load_model, synchronize, train_step
from cifar.training.devices import resolve_device


def overhead(model: str, steps: int, batch_size: int, rounds: int, threads: int | None,
             accelerator: str = "cpu", precision: str = "32-true", warmup: int = 5) -> dict:
    import lightning as L
    from cifar.cli import compose_config
    from cifar.data.tensor_pipeline import TensorBatches
    from cifar.training.factory import build_run, prepare

    if threads:
        torch.set_num_threads(threads)
    device = str(resolve_device(accelerator))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (steps * batch_size, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, steps * batch_size)
    lr = 1e-3

    def batches() -> TensorBatches:
        return TensorBatches(images, labels, batch_size, device=device, shuffle=True, seed=0)

    def plain(net: torch.nn.Module) -> float:
        net = net.to(device).train()
        optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.01)
        scaler = torch.amp.GradScaler(device, enabled=precision == "16-mixed")
        start = 0.0
        for i, (x, y) in enumerate(batches()):
            if i == warmup:
                synchronize(device)
                start = time.perf_counter()
            train_step(net, optimizer, scaler, x, y, device, precision)
        synchronize(device)
        return (steps - warmup) * batch_size / (time.perf_counter() - start)

    class StepTimer(L.Callback):
        """From the start of the first step after the warm-up to the last batch's end; then the epoch's end (the other callbacks'
        ``on_train_epoch_end`` and the loggers', which run before this one's)."""

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if batch_idx == warmup:
                synchronize(device)
                self.start = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if batch_idx == steps - 1:
                synchronize(device)
                self.seconds = time.perf_counter() - self.start
                self.last_batch_end = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module):
            epoch_end_seconds.append(time.perf_counter() - self.last_batch_end)

    def lightning(net: torch.nn.Module, out: str) -> float:
        cfg = compose_config([
            f"model={model}", "optimizer=adamw", f"optimizer.lr={lr}", "optimizer.weight_decay=0.01",
            "scheduler=none", "label_smoothing=0.0", f"accelerator={accelerator}", f"precision={precision}",
            "speed.channels_last=false", "speed.tf32=false", "trainer.benchmark=false", "trainer.max_epochs=1",
            "data.val_size=0", "optimized_metric=test/acc", "trainer.limit_val_batches=0", "trainer.num_sanity_val_steps=0", "trainer.enable_model_summary=false",
            "~callbacks.model_checkpoint", "~callbacks.early_stopping", f"paths.output_dir={out}",
        ])
        run = build_run(prepare(cfg))
        run.module.net = net  # the same initial weights as the plain loop's
        timer = StepTimer()
        run.trainer.callbacks.append(timer)  # last: its epoch-end hook runs after the others'
        run.trainer.fit(run.module, train_dataloaders=batches())
        return (steps - warmup) * batch_size / timer.seconds

    torch.manual_seed(0)
    initial = load_model(model)
    results: dict[str, list[float]] = {"lightning": [], "plain": []}
    epoch_end_seconds: list[float] = []
    with tempfile.TemporaryDirectory() as out:
        for i in range(rounds):  # ABBA order, so a drift in machine speed favours neither path
            if i % 2 == 0:
                results["plain"].append(plain(copy.deepcopy(initial)))
                results["lightning"].append(lightning(copy.deepcopy(initial), out))
            else:
                results["lightning"].append(lightning(copy.deepcopy(initial), out))
                results["plain"].append(plain(copy.deepcopy(initial)))
    plain_ips = statistics.median(results["plain"])
    lightning_ips = statistics.median(results["lightning"])
    return {
        "benchmark": "overhead",
        **header(device),
        "model": model, "steps": steps, "warmup": warmup, "batch_size": batch_size, "rounds": rounds,
        "precision": precision,
        "images_per_s": results,
        "plain_median": round(plain_ips, 1),
        "lightning_median": round(lightning_ips, 1),
        "ratio": round(lightning_ips / plain_ips, 4),
        "epoch_end_seconds": round(statistics.median(epoch_end_seconds), 3),
    }


def markdown(report: dict) -> str:
    return "\n".join([
        f"Lightning path vs plain loop: {report['model']}, {report['steps']} steps of {report['batch_size']} "
        f"({report['warmup']} untimed), "
        f"{report['precision']}, {report['rounds']} interleaved rounds, {report['device']}, torch {report['torch']}, "
        f"{report['date']}",
        "",
        "| path | images/s (median) | rounds |",
        "|---|---:|---|",
        f"| plain PyTorch loop | {report['plain_median']:.0f} | {', '.join(f'{v:.0f}' for v in report['images_per_s']['plain'])} |",
        f"| cifar (Lightning) | {report['lightning_median']:.0f} | {', '.join(f'{v:.0f}' for v in report['images_per_s']['lightning'])} |",
        "",
        f"once per epoch, the Lightning path's epoch end: {report['epoch_end_seconds']:.3f} s (median)",
        "",
        f"ratio={report['ratio']}",
    ])
