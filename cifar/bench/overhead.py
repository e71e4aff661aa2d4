"""``overhead``: the same model, data (the tensor pipeline over random images), batch size,
precision and number of steps trained through the project's Lightning path (its config,
callbacks, progress bar and TensorBoard logger) and through a plain PyTorch loop, interleaved in
one process, in ABBA order over the rounds. The steps after the first ``warmup`` ones (first steps
allocate the optimizer state and, in the Lightning path, open the loggers' files) are timed in both,
to the end of the last: what the Lightning path costs per step. What it costs once per epoch (the epoch's
end: curves CSV and figure, TensorBoard's per-epoch series) is timed apart, as ``epoch_end_seconds``.
The last line printed is ``ratio=<lightning/plain>``.

With ``logger``, the two paths are both the Lightning path, with ``logger=none`` and with that logger (a tracker:
``wandb``, ``mlflow``, ...; ``overrides`` set it up): what the tracker costs, as ``ratio=<with it/without>``."""

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
             accelerator: str = "cpu", precision: str = "32-true", warmup: int = 5, logger: str | None = None,
             overrides: list[str] | None = None) -> dict:
    import lightning as L
    from cifar.cli import compose_config
    from cifar.data.tensor_pipeline import TensorBatches
    from cifar.reporting.trackers import end_runs
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
            self.epoch_end = time.perf_counter() - self.last_batch_end

    def lightning(net: torch.nn.Module, out: str, loggers: str) -> float:
        given = [o for o in overrides or [] if loggers != "none" or not o.lstrip("+~").startswith("logger.")]
        # a tracker's runs stay in the benchmark's folder (offline, a local store) unless the overrides say otherwise
        local = {"wandb": "logger.wandb.mode=offline", "mlflow": f"logger.mlflow.local_store={out}/mlruns"}
        local = [o for name, o in local.items() if loggers in (name, "many")
                 and not any(g.lstrip("+~").startswith(o.split("=")[0]) for g in given)]
        cfg = compose_config([
            f"model={model}", "optimizer=adamw", f"optimizer.lr={lr}", "optimizer.weight_decay=0.01",
            "scheduler=none", "label_smoothing=0.0", f"accelerator={accelerator}", f"precision={precision}",
            "speed.channels_last=false", "speed.tf32=false", "trainer.benchmark=false", "trainer.max_epochs=1",
            "data.val_size=0", "optimized_metric=test/acc", "trainer.limit_val_batches=0", "trainer.num_sanity_val_steps=0", "trainer.enable_model_summary=false",
            "~callbacks.model_checkpoint", "~callbacks.early_stopping", f"paths.output_dir={out}", f"logger={loggers}",
            *local, *given,
        ])  # (a logger's own settings go to the path that has it)
        run = build_run(prepare(cfg))
        run.module.net = net  # the same initial weights as the plain loop's
        timer = StepTimer()
        run.trainer.callbacks.append(timer)  # last: its epoch-end hook runs after the others'
        run.trainer.fit(run.module, train_dataloaders=batches())
        epoch_end_seconds.setdefault(loggers, []).append(timer.epoch_end)
        end_runs(run.trainer.loggers, "success")  # (untimed) each round is a run of its own in a tracker
        return (steps - warmup) * batch_size / timer.seconds

    torch.manual_seed(0)
    initial = load_model(model)
    epoch_end_seconds: dict[str, list[float]] = {}  # by the Lightning path's loggers
    with tempfile.TemporaryDirectory() as out:
        if logger:  # the same Lightning path without any logger and with this one
            paths = {"logger=none": lambda net: lightning(net, f"{out}/none", "none"),
                     f"logger={logger}": lambda net: lightning(net, f"{out}/{logger}", logger)}
        else:
            paths = {"plain": plain, "lightning": lambda net: lightning(net, out, "tensorboard")}
        baseline, measured = paths
        results: dict[str, list[float]] = {name: [] for name in paths}
        for i in range(rounds):  # ABBA order, so a drift in machine speed favours neither path
            for name in (paths if i % 2 == 0 else reversed(paths)):
                results[name].append(paths[name](copy.deepcopy(initial)))
    medians = {name: statistics.median(values) for name, values in results.items()}
    return {
        "benchmark": "overhead",
        **header(device),
        "model": model, "steps": steps, "warmup": warmup, "batch_size": batch_size, "rounds": rounds,
        "precision": precision, "logger": logger, "overrides": overrides or [],
        "paths": [baseline, measured],
        "images_per_s": results,
        "medians": {name: round(value, 1) for name, value in medians.items()},
        "ratio": round(medians[measured] / medians[baseline], 4),
        "epoch_end_seconds": {f"logger={k}": round(statistics.median(v), 3) for k, v in epoch_end_seconds.items()},
    }


NAMES = {"plain": "plain PyTorch loop", "lightning": "cifar (Lightning)"}


def markdown(report: dict) -> str:
    what = (f"the Lightning path with logger={report['logger']} vs without a logger" if report.get("logger")
            else "Lightning path vs plain loop")
    rows = [f"| {NAMES.get(path, 'cifar (Lightning), ' + path)} | {report['medians'][path]:.0f} | "
            f"{', '.join(f'{v:.0f}' for v in report['images_per_s'][path])} |" for path in report["paths"]]
    return "\n".join([
        f"{what}: {report['model']}, {report['steps']} steps of {report['batch_size']} ({report['warmup']} untimed), "
        f"{report['precision']}, {report['rounds']} interleaved rounds, {report['device']}, torch {report['torch']}, "
        f"{report['date']}",
        "",
        "| path | images/s (median) | rounds |",
        "|---|---:|---|",
        *rows,
        "",
        "once per epoch, the Lightning path's epoch end (median): "
        + ", ".join(f"{k}: {v:.3f} s" for k, v in report["epoch_end_seconds"].items()),
        "",
        f"ratio={report['ratio']}",
    ])
